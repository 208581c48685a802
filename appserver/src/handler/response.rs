//! Responses and what converts into one.

use super::body::Body;
use bytes::Bytes;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;

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

/// What a handler can return besides a plain `Serialize` value (answered as 200 JSON):
/// [`Json`](crate::Json), [`Html`](crate::Html), [`Text`](crate::Text),
/// [`Redirect`](crate::Redirect), [`Response`], [`Error`](crate::Error), a status and headers
/// around any of these (`(StatusCode, T)`, `(StatusCode, HeaderMap, T)`, `(HeaderMap, T)`,
/// `(StatusCode, [(HeaderName, &str); N], T)`, `([(HeaderName, &str); N], T)`), and
/// `Result<T, E>` of them.
///
/// Implement it for your own error type, and `Result<T, MyError>` answers its `Err` with
/// that response:
///
/// ```
/// use appserver::{route, Error, IntoResponse, Response};
///
/// #[derive(Debug)]
/// enum ShopError { Missing(u32), Storage(std::io::Error) }
///
/// impl IntoResponse for ShopError {
///     fn into_response(self) -> Response {
///         match self {
///             ShopError::Missing(id) => Error::not_found(format!("no item {id}")).into_response(),
///             // A logged 500: the client sees "internal server error" only.
///             ShopError::Storage(error) => Error::from(error).into_response(),
///         }
///     }
/// }
///
/// #[route(GET, r"/items/(?P<id>\d+)/")]
/// fn item(id: u32) -> Result<String, ShopError> {
///     Err(ShopError::Missing(id))
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be turned into a response",
    label = "not a response",
    note = "a handler returns a `serde::Serialize` type (sent as 200 JSON), `Json<T>`, `Created<T>`, `Html<T>`, `Text<T>`, `Redirect`, `Response`, a status and headers around one of these such as `(StatusCode, T)`, or `Result<T, E>` of one of these"
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

/// A handler that cannot fail, `Result<T, Infallible>`, never answers with its error.
impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

/// `value` as JSON with `status`; a value that fails to serialize is a 500 whose cause the
/// server logs ([`Failure`]).
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => typed_response(status, "application/json", body.into()),
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

/// The body of an error as RFC 9457 problem details (`application/problem+json`):
/// `{"type":"about:blank","title":"Not Found","status":404,"detail":"..."}`, the other shape
/// a server can answer its errors in (`error_format = "problem"`).
pub(crate) fn problem_body(status: StatusCode, detail: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Problem<'a> {
        r#type: &'a str,
        title: &'a str,
        status: u16,
        detail: &'a str,
    }
    let title = status.canonical_reason().unwrap_or("Error");
    // Numbers and strings always serialize.
    serde_json::to_vec(&Problem { r#type: "about:blank", title, status: status.as_u16(), detail }).unwrap_or_default()
}

/// An error of `status` and `detail` as RFC 9457 problem details: what
/// `error_format = "problem"` answers.
pub(crate) fn problem_response(status: StatusCode, detail: &str) -> Response {
    typed_response(status, "application/problem+json", problem_body(status, detail).into())
}

/// The error response of `status` and `message`, carrying the message so that the server
/// can render it in another shape ([`ErrorMessage`]).
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    let mut response = typed_response(status, "application/json", error_body(status, message).into());
    response.extensions_mut().insert(ErrorMessage(message.to_owned()));
    response
}

/// The error response of `status` and `message`, carrying `cause` for the server's log.
pub(crate) fn failed(status: StatusCode, message: &str, cause: String) -> Response {
    let mut response = error_response(status, message);
    response.extensions_mut().insert(Failure(cause));
    response
}

/// A response of `status` with `body` of `content_type`. Inlined: the handlers' crates
/// call it through the generic [`json_response`], on every request.
#[inline]
pub(crate) fn typed_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The message of an error response, for a server that renders its errors in another
/// shape than the JSON one (`error_format`, `Server::error_renderer`).
#[derive(Debug, Clone)]
pub(crate) struct ErrorMessage(pub(crate) String);

/// What went wrong behind an error response, kept from the client: the response carries it
/// as an extension, and the server, which called the handler, takes it out and logs it.
#[derive(Debug, Clone)]
pub(crate) struct Failure(pub(crate) String);
