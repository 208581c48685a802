//! Extractors: handler parameters whose value comes from the request, not a route group.

use super::body_stream::BodyStream;
use super::error::Error;
use super::request::Request;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use std::any::TypeId;
use std::future::Future;

/// A handler parameter built from the request.
///
/// A parameter whose name is not a group of the route is an extractor. Built in:
/// [`Json<T>`](crate::Json), [`Query<T>`](crate::Query), [`Form<T>`](crate::Form),
/// [`State<T>`](crate::State), [`Bearer`](crate::Bearer), [`Cookies`](crate::Cookies), [`Method`], [`Uri`], [`HeaderMap`] and [`Bytes`] (the raw
/// body). Write your own by implementing this trait:
///
/// ```
/// use appserver::{Error, FromRequest, Request};
///
/// struct ApiKey(String);
///
/// impl FromRequest for ApiKey {
///     fn from_request(request: &Request) -> Result<Self, Error> {
///         match request.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
///             Some(key) => Ok(ApiKey(key.to_owned())),
///             None => Err(Error::new(appserver::StatusCode::UNAUTHORIZED, "missing x-api-key")),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a route group parameter nor an extractor",
    label = "not an extractor",
    note = "a handler parameter is named after a group of the route pattern, or has an extractor type: `Json<T>`, `Query<T>`, `Form<T>`, `State<T>`, `Bearer`, `Cookies`, `Method`, `Uri`, `HeaderMap`, `Bytes`, a type that implements `appserver::FromRequest`, or, in an `async fn`, `appserver::FromRequestAsync`"
)]
pub trait FromRequest: Sized {
    /// Builds the value, or fails the request with `Error` (sent as the JSON error).
    fn from_request(request: &Request) -> Result<Self, Error>;

    /// Whether this extractor also runs before the request's body is read, so that a
    /// request it refuses (a missing token, say) is refused without its body being read or
    /// parsed. Only for an extractor that reads no body and changes nothing, as it then runs
    /// twice on a request with a body. [`Bearer`](crate::Bearer) does.
    const BEFORE_BODY: bool = false;

    /// For the OpenAPI document: `Some(role)` if this extractor takes a bearer token with
    /// that role (`""`: any), so that the route needs the `bearerAuth` scheme and may answer
    /// 401 and 403. [`Bearer<R>`](crate::Bearer) says `Some(R::NAME)`, and so should an
    /// extractor that checks a token through it. A served document declares the token only
    /// when the server has tokens (an extractor may let anyone in without them).
    const BEARER: Option<&'static str> = None;

    /// For the OpenAPI document: the request header this extractor reads, if it reads one
    /// (listed as a header parameter of the routes that take it).
    const HEADER: Option<HeaderDoc> = None;

    /// The state this extractor needs, checked when the server starts.
    #[doc(hidden)]
    fn __required_state() -> Option<(TypeId, &'static str)> {
        None
    }

    /// What of the connection this extractor takes beyond the request: the body as a
    /// stream, so that the server must not read it first ([`BodyStream`](crate::BodyStream)),
    /// or the connection itself ([`WebSocketUpgrade`](crate::ws::WebSocketUpgrade)).
    #[doc(hidden)]
    const __TAKES: Takes = Takes::Request;

    /// The check before the body is read: the extraction, its value dropped, if
    /// [`BEFORE_BODY`](FromRequest::BEFORE_BODY).
    #[doc(hidden)]
    fn __precheck(request: &Request) -> Result<(), Error> {
        match Self::BEFORE_BODY {
            true => Self::from_request(request).map(drop),
            false => Ok(()),
        }
    }
}

/// A request header an extractor reads, as the OpenAPI document lists it: a header
/// parameter of each route that takes the extractor ([`FromRequest::HEADER`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderDoc {
    /// The header's name.
    pub name: &'static str,
    /// Whether a request without it is refused.
    pub required: bool,
    /// What it is for.
    pub description: &'static str,
    /// The values it takes: a regular expression (ECMA-262) the whole value matches, or
    /// `None` for any.
    pub pattern: Option<&'static str>,
}

/// What a route's extractors take beyond the request, the most of them: known at startup,
/// it decides how the server reads the body and serves the connection. Not a public API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Takes {
    /// The request, its body read in full.
    Request,
    /// The body as it arrives.
    Stream,
    /// The connection, upgraded (WebSocket).
    Upgrade,
}

/// A handler parameter built from the request by work that waits: a guard that looks its
/// caller up in a database, say. The handler must be an `async fn`.
///
/// `from_request` reads what it needs from the request at once and returns a future that
/// owns it (the request is gone by the time the future runs):
///
/// ```
/// use appserver::{route, Error, FromRequestAsync, Request, StatusCode};
/// use std::future::Future;
///
/// struct Member(String);
///
/// impl FromRequestAsync for Member {
///     fn from_request(request: &Request) -> impl Future<Output = Result<Self, Error>> + Send + 'static {
///         let key = request.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
///         async move {
///             // e.g. `sqlx::query!(...).fetch_optional(&pool).await`
///             match key.as_deref() {
///                 Some("sesame") => Ok(Member("ali".to_owned())),
///                 _ => Err(Error::new(StatusCode::FORBIDDEN, "members only")),
///             }
///         }
///     }
/// }
///
/// #[route(GET, r"/lounge/")]
/// async fn lounge(member: Member) -> String {
///     format!("welcome, {}", member.0)
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async extractor",
    label = "not an async extractor",
    note = "implement `appserver::FromRequestAsync` for it (or `appserver::FromRequest`, which needs no waiting)"
)]
pub trait FromRequestAsync: Sized + Send + 'static {
    /// Reads what it needs from `request` now; the future builds the value, or fails the
    /// request with `Error`.
    fn from_request(request: &Request) -> impl Future<Output = Result<Self, Error>> + Send + 'static;

    /// For the OpenAPI document: `Some(role)` if this extractor takes a bearer token with
    /// that role, as [`FromRequest::BEARER`].
    const BEARER: Option<&'static str> = None;

    /// For the OpenAPI document: the request header this extractor reads, as
    /// [`FromRequest::HEADER`].
    const HEADER: Option<HeaderDoc> = None;

    /// The state this extractor needs, checked when the server starts.
    #[doc(hidden)]
    fn __required_state() -> Option<(TypeId, &'static str)> {
        None
    }
}

impl FromRequest for Method {
    fn from_request(request: &Request) -> Result<Self, Error> {
        Ok(request.method.clone())
    }
}

impl FromRequest for Uri {
    fn from_request(request: &Request) -> Result<Self, Error> {
        Ok(request.uri.clone())
    }
}

impl FromRequest for HeaderMap {
    fn from_request(request: &Request) -> Result<Self, Error> {
        Ok(request.headers.clone())
    }
}

impl FromRequest for Bytes {
    fn from_request(request: &Request) -> Result<Self, Error> {
        Ok(request.body.clone())
    }
}

/// Whether the request's `Content-Type` is `type/subtype` (or `type/*+suffix`).
pub(crate) fn has_content_type(request: &Request, mime: &str, suffix: Option<&str>) -> bool {
    let Some(value) = request.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(mime)
        || suffix.is_some_and(|suffix| {
            let (ty, _) = mime.split_once('/').unwrap_or((mime, ""));
            essence.len() > ty.len() + suffix.len()
                && essence[..ty.len() + 1].eq_ignore_ascii_case(&format!("{ty}/"))
                && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        })
}

impl FromRequest for BodyStream {
    /// The body as it arrives; empty for a request without one (or taken already).
    fn from_request(request: &Request) -> Result<Self, Error> {
        Ok(request.take_stream().unwrap_or_else(BodyStream::empty))
    }

    const __TAKES: Takes = Takes::Stream;
}
