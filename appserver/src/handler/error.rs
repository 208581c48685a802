//! The one error type handlers and the framework answer with.

use super::response::{IntoResponse, Response, error_response, failed};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use std::borrow::Cow;
use std::fmt;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An HTTP error: a status and a message, sent as
/// `{"error":{"status":404,"message":"..."}}`.
///
/// Every error the framework produces (404, 405, 400, 413, 415, 422, 500) has this shape,
/// and so do errors returned from handlers:
///
/// ```
/// use appserver::{Error, StatusCode};
///
/// fn find(id: u64) -> Result<String, Error> {
///     Err(Error::new(StatusCode::NOT_FOUND, format!("no item {id}")))
/// }
/// assert_eq!(find(7).unwrap_err().status(), StatusCode::NOT_FOUND);
/// ```
///
/// Any `std::error::Error` converts into a 500 with `?`: the client sees only
/// "internal server error", the log gets the error itself.
pub struct Error {
    status: StatusCode,
    message: Cow<'static, str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    headers: Option<Box<HeaderMap>>,
}

impl Error {
    /// An error with `status` and a message for the client.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error { status, message: message.into(), source: None, headers: None }
    }

    /// The error with a header added to its response, e.g. `Retry-After` on a 429 or a 503:
    ///
    /// ```
    /// use appserver::{Error, StatusCode, http::header::{HeaderValue, RETRY_AFTER}};
    ///
    /// let busy = Error::new(StatusCode::TOO_MANY_REQUESTS, "the queue is full")
    ///     .with_header(RETRY_AFTER, HeaderValue::from_static("2"));
    /// # assert_eq!(busy.status(), 429);
    /// ```
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.get_or_insert_with(Default::default).append(name, value);
        self
    }

    /// `400 Bad Request` with `message`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// `404 Not Found` with `message`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// `413 Payload Too Large`: a request body over `limit` bytes.
    pub(crate) fn body_too_large(limit: impl fmt::Display) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body is larger than the limit of {limit} bytes"))
    }

    /// `408 Request Timeout`: a request body that stopped arriving.
    pub(crate) fn body_too_slow() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time")
    }

    /// `405 Method Not Allowed` for `method` on `path`, with `Allow: allow`.
    pub(crate) fn method_not_allowed(method: &http::Method, path: &str, allow: &str) -> Self {
        let error =
            Self::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed for {path}; allowed: {allow}"));
        match HeaderValue::from_str(allow) {
            Ok(allow) => error.with_header(http::header::ALLOW, allow),
            Err(_) => error,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The response: the status and the JSON error body, carrying the source (if any) for
    /// the server's log.
    pub(crate) fn to_response(&self) -> Response {
        let mut response = match &self.source {
            Some(source) => failed(self.status, &self.message, source.to_string()),
            None => error_response(self.status, &self.message),
        };
        if let Some(headers) = &self.headers {
            for (name, value) in headers.iter() {
                response.headers_mut().append(name, value.clone());
            }
        }
        response
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(source: E) -> Self {
        Error {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: Cow::Borrowed("internal server error"),
            source: Some(Box::new(source)),
            headers: None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("status", &self.status)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)?;
        match &self.source {
            Some(source) => write!(f, ": {source}"),
            None => Ok(()),
        }
    }
}
