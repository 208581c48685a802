//! Responses and what converts into one.

use bytes::Bytes;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use http_body_util::Full;
use serde::Serialize;

/// The body of a [`Response`]: bytes held in full.
pub type Body = Full<Bytes>;

/// A complete HTTP response, for handlers that need full control:
///
/// ```
/// use appserver::{Body, Response};
///
/// fn teapot() -> Response {
///     appserver::http::Response::builder()
///         .status(418)
///         .header("content-type", "text/plain")
///         .body(Body::from("short and stout"))
///         .unwrap()
/// }
/// assert_eq!(teapot().status(), 418);
/// ```
pub type Response = http::Response<Body>;

/// What a handler can return besides a plain `Serialize` value (answered as 200 JSON) and
/// `Result<T, E>` with `E: Into<Error>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be turned into a response",
    label = "not a response",
    note = "a handler returns a `serde::Serialize` type (sent as 200 JSON), `(StatusCode, T)` with `T: Serialize`, `Json<T>`, `Response`, or `Result<T, E>` of one of these with `E: Into<appserver::Error>`"
)]
pub trait IntoResponse {
    /// Converts `self` into the response sent to the client.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

/// Another success status than 200, e.g. `(StatusCode::CREATED, item)`.
impl<T: Serialize> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        json_response(self.0, &self.1)
    }
}

/// `value` as JSON with `status`; a value that fails to serialize is a logged 500.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    let (status, body) = match serde_json::to_vec(value) {
        Ok(body) => (status, Body::from(body)),
        Err(err) => {
            crate::log::handler_failed(500, &err.to_string());
            let body = r#"{"error":{"status":500,"message":"internal server error"}}"#;
            (StatusCode::INTERNAL_SERVER_ERROR, Body::from(body))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
