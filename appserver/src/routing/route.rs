//! A registered route, as the `#[route]` attribute submits it.

use super::answer::AnswerFn;
use super::schema::SchemaFn;
use crate::handler::{Error, HeaderDoc, Request, Response, Takes};
use appserver_pattern::Methods;
use std::future::Future;
use std::pin::Pin;

/// Names the state an extractor needs, if any: its type id and type name.
pub type RequiredState = fn() -> Option<(std::any::TypeId, &'static str)>;

/// One `#[route]` handler. Built by the macro; not a public API.
#[derive(Debug)]
pub struct Route {
    /// `module::path::function`.
    pub name: &'static str,
    /// The pattern as written.
    pub pattern: &'static str,
    /// The methods named in the attribute.
    pub methods: Methods,
    /// The names of the groups bound to parameters, in parameter order.
    pub params: &'static [&'static str],
    /// Where the route is defined.
    pub file: &'static str,
    /// Where the route is defined.
    pub line: u32,
    /// The state each extractor parameter needs (`FromRequest::__required_state`).
    pub extractors: &'static [RequiredState],
    /// Every parameter, in order.
    pub parameters: &'static [Parameter],
    /// The role of the bearer token an extractor or a guard takes (`FromRequest::BEARER`).
    pub bearer: fn() -> Option<&'static str>,
    /// The request headers the extractors and guards read (`FromRequest::HEADER`).
    pub headers: fn() -> Vec<HeaderDoc>,
    /// The JSON Schema of the answer's body, for the OpenAPI document.
    pub response: SchemaFn,
    /// The answer's status and media type, for the OpenAPI document.
    pub answer: AnswerFn,
    /// Whether a GET route answers HEAD too (`head = false` says no).
    pub head: bool,
    /// The route's own body limit (`max_body_bytes = N`), over the server's.
    pub max_body_bytes: Option<usize>,
    /// What the route's extractors take beyond the request, the most of them: the body as a
    /// stream (the server then does not read it first), or the connection.
    pub takes: fn() -> Takes,
    /// Runs the extractors that check a request before its body is read
    /// ([`FromRequest::BEFORE_BODY`](crate::FromRequest::BEFORE_BODY)).
    pub precheck: fn(&Request) -> Result<(), Error>,
    /// Extracts the parameters and calls the user's function.
    pub handler: fn(&Request) -> Result<Reply, Error>,
}

/// A handler parameter, as the route table shows it.
#[derive(Debug, Clone, Copy)]
pub struct Parameter {
    /// Its name.
    pub name: &'static str,
    /// Its type, as written.
    pub ty: &'static str,
    /// Whether a group of the pattern gives it (else an extractor does).
    pub group: bool,
    /// Its JSON Schema (a request body's), for the OpenAPI document.
    #[doc(hidden)]
    pub schema: SchemaFn,
}

inventory::collect!(Route);

/// The `#[fallback]` handler: a route for every method and the paths no route matches.
/// Built by the macro; not a public API.
#[derive(Debug)]
pub struct Fallback(pub Route);

inventory::collect!(Fallback);

impl Fallback {
    /// The program's fallback, if it has one; two are an error naming both.
    pub(crate) fn find() -> Result<Option<&'static Route>, Vec<RouteError>> {
        let mut all: Vec<&'static Route> = inventory::iter::<Fallback>.into_iter().map(|f| &f.0).collect();
        all.sort_by_key(|route| (route.file, route.line));
        match all[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            [first, second, ..] => Err(vec![RouteError::TwoFallbacks { first, second }]),
        }
    }
}

impl Route {
    /// Every route linked into this program.
    pub(crate) fn all() -> impl Iterator<Item = &'static Route> {
        inventory::iter::<Route>.into_iter()
    }

    /// The methods this route answers: HEAD too for a GET route, unless `head = false`.
    pub(crate) fn answers(&self) -> Methods {
        match self.head {
            true => self.methods.with_head(),
            false => self.methods,
        }
    }

    /// Where the route is defined, `file:line`.
    pub(crate) fn site(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// What a handler gives back: a response now, a future of one (async handlers), or a call
/// to make on the blocking pool (`blocking` handlers).
pub enum Reply {
    /// A sync handler's response.
    Ready(Response),
    /// An async handler's response, to be awaited.
    Pending(Pin<Box<dyn Future<Output = Response> + Send>>),
    /// A blocking handler's call, with its parameters already extracted.
    Blocking(Box<dyn FnOnce() -> Response + Send>),
}

/// Why the routes cannot be served; found at startup, every one reported.
#[derive(Debug)]
#[non_exhaustive]
pub enum RouteError {
    /// No `#[route]` is linked into the program.
    NoRoutes,
    /// A pattern does not parse (the macro checks it, so only a hand-made route has this).
    InvalidPattern {
        /// The route.
        route: &'static Route,
        /// The parser's error.
        error: Box<appserver_pattern::Error>,
    },
    /// A parameter names no group of the pattern.
    MissingGroup {
        /// The route.
        route: &'static Route,
        /// The parameter's group name.
        group: &'static str,
    },
    /// Two routes with the same pattern answer a common method.
    Duplicate {
        /// The route that sorts first.
        first: &'static Route,
        /// The other one.
        second: &'static Route,
    },
    /// The matcher for some routes could not be built.
    Compile {
        /// The method whose routes, or the route, that failed.
        what: String,
        /// The regex engine's error.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A route takes `Bearer` and the server has no tokens.
    NoTokens {
        /// The route.
        route: &'static Route,
    },
    /// A route takes `State<T>` and no state of type `T` was registered.
    MissingState {
        /// The route.
        route: &'static Route,
        /// The name of `T`.
        type_name: &'static str,
    },
    /// Two functions are `#[fallback]`; a program has one at most.
    TwoFallbacks {
        /// The one defined first (by file and line).
        first: &'static Route,
        /// Another one.
        second: &'static Route,
    },
    /// Two routes can match the same path, and only the tie-break (the pattern text)
    /// decides which answers it; an error with `strict_routes`, else a warning.
    Overlap {
        /// The route that answers the paths both match.
        winner: &'static Route,
        /// The route that never gets them.
        loser: &'static Route,
        /// A shortest path both match.
        witness: String,
    },
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::NoRoutes => f.write_str(
                "no routes are registered: put #[route] on a function. Routes that live in a library crate are \
                 only linked when the binary names that crate, e.g. `use my_routes as _;`",
            ),
            RouteError::InvalidPattern { route, error } => {
                write!(f, "{}: invalid pattern {:?}: {error}", route.site(), route.pattern)
            }
            RouteError::MissingGroup { route, group } => {
                write!(f, "{}: route {:?} has no group named `{group}`", route.site(), route.pattern)
            }
            RouteError::Duplicate { first, second } => write!(
                f,
                "duplicate route {:?}: {} ({}) and {} ({}) both answer it for the same method",
                first.pattern,
                first.name,
                first.site(),
                second.name,
                second.site()
            ),
            RouteError::Compile { what, error } => write!(f, "cannot compile {what}: {error}"),
            RouteError::TwoFallbacks { first, second } => write!(
                f,
                "two fallbacks: {} ({}) and {} ({}); a program has one `#[fallback]` at most",
                first.name,
                first.site(),
                second.name,
                second.site()
            ),
            RouteError::NoTokens { route } => write!(
                f,
                "{} ({}) takes `Bearer`, but the server has no tokens: set `auth_tokens` or `auth_tokens_file`",
                route.name,
                route.site()
            ),
            RouteError::Overlap { winner, loser, witness } => write!(
                f,
                "{} ({}) and {} ({}) both match {witness:?}, with as much literal text: {} wins by its pattern text; \
                 make one pattern exclude the other's paths, or give it more literal text",
                winner.name,
                winner.site(),
                loser.name,
                loser.site(),
                winner.name
            ),
            RouteError::MissingState { route, type_name } => write!(
                f,
                "{} ({}) takes `State<{type_name}>`, but no state of that type was registered: call `Server::state`",
                route.name,
                route.site()
            ),
        }
    }
}

impl std::error::Error for RouteError {}
