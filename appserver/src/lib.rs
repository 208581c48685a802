//! Write a plain function, put `#[route]` on it, get a fast, safe JSON HTTP service.
//!
//! ```standalone_crate
//! use appserver::route;
//! use serde_json::{json, Value};
//! use std::io::{Read, Write};
//!
//! #[route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
//! fn get_object(object_type: String, object_id: u64) -> Value {
//!     json!({ "object_type": object_type, "object_id": object_id })
//! }
//!
//! // The business logic stays a plain function...
//! assert_eq!(get_object("person".into(), 123)["object_id"], 123);
//!
//! // ...and is served over HTTP. `appserver::run(8080, ServerType::Threaded)` serves until
//! // Ctrl-C; here a server on a free port answers one request.
//! let server = appserver::Server::new().bind(([127, 0, 0, 1], 0)).start()?;
//! let mut stream = std::net::TcpStream::connect(server.addr())?;
//! stream.write_all(b"GET /person/get/123/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response)?;
//! assert!(response.starts_with("HTTP/1.1 200 OK"));
//! assert!(response.ends_with(r#"{"object_type":"person","object_id":123}"#));
//! server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Routes
//! Each [`#[route]`](route) pattern is a regular expression matched against the whole
//! request path; its named groups become the function's typed parameters, checked at
//! compile time. Other parameters are extractors ([`Json`], [`Query`], [`Form`],
//! [`State`], request parts, or your own [`FromRequest`]). Handlers return any
//! `serde::Serialize` value (200 JSON), `Result<T, E>`, `(StatusCode, T)` or a
//! [`Response`].
//!
//! [`routes()`] lists them in match order with their parameters and types
//! ([`RouteTable`]); `APPSERVER_PRINT_ROUTES=true` prints that table and exits instead of
//! serving.
//!
//! [`openapi()`] gives their OpenAPI 3.1 document, which the `openapi_path` setting
//! serves.
//!
//! # TLS and HTTP/2
//! The settings `tls_cert` and `tls_key` serve HTTPS through rustls, offering HTTP/2 and
//! HTTP/1.1; `http2` adds HTTP/2 with prior knowledge on plain TCP.
//!
//! # Middleware
//! [`Server::layer`] wraps the routes in tower layers (tower-http's CORS, compression,
//! request ids, ...); [`Server::into_service`] gives them as a tower `Service` to mount
//! inside hyper or axum.
//!
//! # Bearer tokens
//! A route that takes [`Bearer`] (or [`Bearer<R>`](Bearer) for a [`Role`]) requires one of
//! the server's [`Tokens`]: 401 with `WWW-Authenticate` without one, 403 without the role.
//!
//! # Errors
//! Every error (a 404, a 405, a parameter that does not parse, a body over the limit, a
//! handler's [`Error`], a panic) is answered as JSON of one shape:
//! `{"error":{"status":404,"message":"no route for GET /x"}}`; with the setting
//! `error_format = "problem"`, as RFC 9457 problem details; with
//! [`Server::error_renderer`], in a shape of the program's own. A handler returns
//! [`Html`], [`Text`], a [`Redirect`], a status and headers around any response, and its own
//! error types through [`IntoResponse`]; it reads [`Cookies`].
//!
//! # Routes in a library crate
//! Handlers register themselves when their crate is linked. A library crate that the
//! binary never names is not linked, and its routes would vanish: name it from the binary
//! with `use my_routes as _;`. A server with no routes at all refuses to start and says so.
//!
//! # Logging
//! Through `tracing`: the route table at startup, then one line per request (method,
//! path, status, duration) under the target `appserver::access`. [`Server::serve`] and
//! [`run`] install a subscriber filtered by `RUST_LOG`, else the `log` setting, unless the
//! program installed one. Client text in log lines is escaped; a handler's panic is logged
//! once with its location; repeated errors are rate-limited with a count. With that
//! subscriber and no terminal, access lines are written in batches by a thread of their
//! own; requests never wait for the output, and lines it cannot take are counted.
//!
//! # Server types and configuration
//! [`ServerType::Threaded`] serves from one process with a pool of threads;
//! [`ServerType::Forked`] (Linux) forks supervised worker processes, replacing any that
//! dies. Settings come from `appserver.toml` (or the file named by `APPSERVER_CONFIG`),
//! overridden by `APPSERVER_<KEY>` variables, overridden by what the program sets on
//! [`Server`], one method per key: address, server type, workers, log filter, body and
//! head limits, timeouts, connection limits, backlog. Every value is checked the same way;
//! a server that cannot start says why in a [`ServeError`], one line per problem.
//! [`Server::config`] gives the resolved settings ([`Config`]); an application keeps its
//! own settings in a table of the same file, read with [`Server::section`].
//!
//! A program with its own tokio runtime serves on it with [`Server::serve_async`] or
//! [`Server::serve_on`] (a bound listener, a shutdown future).
//!
//! SIGTERM or SIGINT shut down gracefully, within `graceful_timeout` whatever handlers do;
//! SIGHUP reloads the configuration (Forked: a new generation of workers). Each process
//! closes idle connections for newcomers when connections run short, caps connections per
//! client address, and bounds the memory of unfinished request heads. See [`Server`].
//!
//! # Testing
//! [`TestClient`] sends requests through a server's routes without a socket, from a plain
//! `#[test]`, with no config file or environment involved. [`Server::start`] on port 0
//! serves in the background and tells its address; drop or
//! [`shut down`](RunningServer::shutdown) the handle to stop it. Each test binary serves
//! the routes linked into it. Doctests of edition 2024 are merged into one binary, so a
//! doctest that starts a server is best marked `standalone_crate`.

// The folders, by layer: `serve` → `routing` → `handler`, and `serve` → `config`; nothing
// points back up (tests/tests/layers.rs checks it). Each folder's `//!` says what it owns.
mod config;
mod handler;
mod routing;
mod serve;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// Server-Sent Events: a handler returns [`Sse::new(stream)`](sse::Sse) of
/// [`Event`](sse::Event)s.
pub mod sse {
    pub use crate::handler::{Event, Sse};
}

/// WebSocket: a handler takes a [`WebSocketUpgrade`](ws::WebSocketUpgrade) and answers with
/// [`on_upgrade`](ws::WebSocketUpgrade::on_upgrade), whose callback gets the
/// [`WebSocket`](ws::WebSocket).
pub mod ws {
    pub use crate::handler::ws::{CloseFrame, Error, Message, WebSocket, WebSocketUpgrade};
}

pub use bytes::Bytes;
pub use config::{Config, ErrorFormat, ServerType, Tokens};
/// The `cookie` crate, to build a `Set-Cookie` value (`HttpOnly`, `Secure`, `SameSite`):
/// see [`Cookies`].
pub use cookie;
pub use handler::{
    AnyRole, Bearer, Body, BodyStream, Cookies, Created, Error, Field, Form, FromRequest, FromRequestAsync, HeaderDoc,
    Html, IntoResponse, Json, Multipart, Query, Redirect, Request, Response, Result, Role, Shutdown, State, Text,
};
pub use http::{self, HeaderMap, Method, StatusCode, Uri};
/// The `metrics` facade, to record an application's own metrics where the setting
/// `metrics_path` serves the server's: `appserver::metrics::counter!("orders_total",
/// "kind" => "book").increment(1)`, and `gauge!`, `histogram!` (buckets: Prometheus's
/// defaults), from any thread, in any crate of the program. A Forked server adds up its
/// workers' counts; a gauge is one value for the server (`set` replaces it, `increment`
/// adds).
pub use metrics;
pub use routing::{Overlapping, Parameter, RouteInfo, RouteTable};
pub use serve::{
    AppService, LayerBody, Listener, RunningServer, ServeError, Server, TestClient, TestRequest, TestResponse, openapi,
    routes, run,
};

/// Serves a function as an HTTP handler for the paths that match a pattern.
///
/// ```
/// use appserver::{route, Json, StatusCode};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, Serialize)]
/// struct Person { name: String }
///
/// // GET or POST, like the original server.
/// #[route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
/// fn get_object(object_type: String, object_id: u64) -> serde_json::Value {
///     serde_json::json!({ "object_type": object_type, "object_id": object_id })
/// }
///
/// // Only POST; a JSON body; a 201.
/// #[route(POST, r"/person/")]
/// async fn create(person: Json<Person>) -> (StatusCode, Person) {
///     (StatusCode::CREATED, person.0)
/// }
///
/// // Errors: `Err` is answered with its status and message.
/// #[route(GET | PUT, r"/person/(?P<name>[a-z]+)(?:\.(?P<format>json|txt))?")]
/// fn person(name: String, format: Option<String>) -> appserver::Result<Person> {
///     match format.as_deref() {
///         Some("txt") => Err(appserver::Error::bad_request("only JSON here")),
///         _ => Ok(Person { name }),
///     }
/// }
/// ```
///
/// **Methods.** `#[route(r"...")]` answers GET and POST; `#[route(GET, r"...")]` or
/// `#[route(POST | PUT, r"...")]` names them (GET, HEAD, POST, PUT, DELETE, PATCH,
/// OPTIONS). HEAD is answered for every GET route. A path that matches but whose method
/// does not is a 405 with an `Allow` header; no match at all is a 404.
///
/// **Patterns** match the whole path as sent, without the query string: they are
/// anchored at both ends, and classes are ASCII (`\w` is `[0-9A-Za-z_]`), as the path on
/// the wire is percent-encoded ASCII. Group text is percent-decoded before it is parsed,
/// so `(?P<name>[^/]+)` receives `café` for `/caf%C3%A9`. When several patterns match, the
/// one with more literal text wins, then the one whose pattern sorts first.
///
/// **Parameters.** A parameter named after a group gets the group's text parsed with
/// `FromStr` (a failure is a 400 naming the parameter); `Option<T>` for a group that may
/// not take part in the match. Any other parameter is an extractor.
///
/// **Checked at compile time**, each error pointing at the offending token: an invalid
/// regex; a group without a parameter; a parameter that is neither a group nor an
/// extractor; a number parameter whose group can match non-digits (`\w+` for a `u64`); a
/// non-optional parameter for an optional group; a return or extractor type that does not
/// fit. All errors of a function are reported together.
///
/// **Sync, async or blocking.** A sync `fn` runs inline on the server's threads, so it
/// must be quick; an `async fn` can await; a sync `fn` that blocks (sleeps, file I/O, long
/// computations) is marked `#[route(r"...", blocking)]` and runs on a blocking pool, where
/// it cannot stall other requests.
pub use appserver_macros::route;

/// Serves a function for the requests whose path no route matches, whatever their method;
/// without one, they get the JSON 404.
///
/// ```standalone_crate
/// use appserver::{fallback, Html, StatusCode, Uri};
///
/// #[fallback]
/// fn not_found(uri: Uri) -> (StatusCode, Html<String>) {
///     (StatusCode::NOT_FOUND, Html(format!("<p>Nothing at {}</p>", uri.path())))
/// }
/// ```
///
/// Its parameters are extractors and it returns what a route may return; `blocking` and
/// `async fn` work as for a route. A path that a route matches under another method is
/// still a 405 with `Allow`. A program has one fallback at most: two are a startup error
/// naming both. The route table lists it last.
pub use appserver_macros::fallback;

/// Joins a pattern before the pattern of every `#[route]` in an inline module, at compile
/// time:
///
/// ```standalone_crate
/// #[appserver::scope(r"/shops/(?P<shop>[a-z0-9-]+)")]
/// mod shops {
///     use appserver::route;
///
///     #[route(GET, r"/orders/(?P<order>\d+)")] // serves /shops/<shop>/orders/<order>
///     pub fn order(shop: String, order: u64) -> serde_json::Value {
///         serde_json::json!({ "shop": shop, "order": order })
///     }
/// }
///
/// let table = appserver::routes().unwrap();
/// assert_eq!(table.routes()[0].pattern, r"/shops/(?P<shop>[a-z0-9-]+)/orders/(?P<order>\d+)");
/// ```
///
/// The joined pattern is checked as any route's. The scope's groups are parameters that
/// every handler inside takes, typed and checked like its own (a handler that lacks one, or
/// a route group of the same name, is a compile error). Scopes nest, outermost first, and a
/// plain inline module inside a scope is in it too. `guard = Type` names an extractor that
/// every route inside requires before its own parameters, such as
/// `guard = appserver::Bearer<crate::Admin>` (write a guard's path from the crate root: it
/// is resolved where each route is). The route table and the OpenAPI document show the
/// joined patterns. Routes are found by their attribute, written `route` or
/// `appserver::route`.
pub use appserver_macros::scope;

/// The README's examples, compiled as doctests so that they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
