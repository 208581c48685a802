//! Extractors: handler parameters whose value comes from the request, not a route group.

use super::error::Error;
use super::request::Request;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use std::any::TypeId;

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
    note = "a handler parameter is named after a group of the route pattern, or has an extractor type: `Json<T>`, `Query<T>`, `Form<T>`, `State<T>`, `Bearer`, `Cookies`, `Method`, `Uri`, `HeaderMap`, `Bytes`, or a type that implements `appserver::FromRequest`"
)]
pub trait FromRequest: Sized {
    /// Builds the value, or fails the request with `Error` (sent as the JSON error).
    fn from_request(request: &Request) -> Result<Self, Error>;

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
