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

/// `value` as JSON with `status`; a value that fails to serialize is a 500 whose cause the
/// server logs ([`Failure`]).
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_json(status, Body::from(body)),
        Err(err) => failed(StatusCode::INTERNAL_SERVER_ERROR, "internal server error", err.to_string()),
    }
}

/// The JSON body of every error, `{"error":{"status":404,"message":"..."}}`: the one place
/// that writes it.
pub(crate) fn error_body(status: StatusCode, message: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        error: Inner<'a>,
    }
    #[derive(Serialize)]
    struct Inner<'a> {
        status: u16,
        message: &'a str,
    }
    // A number and a string always serialize.
    serde_json::to_vec(&Body { error: Inner { status: status.as_u16(), message } }).unwrap_or_default()
}

/// The error response of `status` and `message`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    with_json(status, Body::from(error_body(status, message)))
}

/// The error response of `status` and `message`, carrying `cause` for the server's log.
pub(crate) fn failed(status: StatusCode, message: &str, cause: String) -> Response {
    let mut response = error_response(status, message);
    response.extensions_mut().insert(Failure(cause));
    response
}

/// A response of `status` with a JSON `body`. Inlined: the handlers' crates call it through
/// the generic [`json_response`], on every request.
#[inline]
fn with_json(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// What went wrong behind an error response, kept from the client: the response carries it
/// as an extension, and the server, which called the handler, takes it out and logs it.
#[derive(Debug, Clone)]
pub(crate) struct Failure(pub(crate) String);
