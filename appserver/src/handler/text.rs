//! [`Html`] and [`Text`]: bodies that are not JSON.

use super::response::{IntoResponse, Response, typed_response};
use bytes::Bytes;
use http::StatusCode;

/// An HTML body, `text/html; charset=utf-8`, from a `String`, a `&'static str` or bytes:
///
/// ```
/// use appserver::{route, Html};
///
/// #[route(GET, r"/about/")]
/// fn about() -> Html<String> {
///     Html(format!("<h1>About</h1><p>{}</p>", env!("CARGO_PKG_NAME")))
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Html<T>(pub T);

/// A plain-text body, `text/plain; charset=utf-8`, from a `String`, a `&'static str` or
/// bytes. (A plain `String` returned alone stays JSON, as the original server answered.)
///
/// ```
/// use appserver::{route, Text};
///
/// #[route(GET, r"/robots.txt")]
/// fn robots() -> Text<&'static str> {
///     Text("User-agent: *\nDisallow:\n")
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Text<T>(pub T);

impl<T: Into<Bytes>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        typed_response(StatusCode::OK, "text/html; charset=utf-8", self.0.into())
    }
}

impl<T: Into<Bytes>> IntoResponse for Text<T> {
    fn into_response(self) -> Response {
        typed_response(StatusCode::OK, "text/plain; charset=utf-8", self.0.into())
    }
}
