//! A status and headers around any response: `(StatusCode, T)`, `(StatusCode, HeaderMap, T)`,
//! `(HeaderMap, T)`, `(StatusCode, [(HeaderName, V); N], T)` and `([(HeaderName, V); N], T)`
//! for `T: IntoResponse`. (`T` a plain `Serialize` value is answered as its JSON through
//! the same impls: the `#[route]` expansion wraps it in [`Json`](super::Json).)

use super::response::{Failure, IntoResponse, Response, failed};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

/// `response` with `status`, unless it is an error the server must log (a failed response
/// keeps its 500).
fn with_status(mut response: Response, status: StatusCode) -> Response {
    if response.extensions().get::<Failure>().is_none() {
        *response.status_mut() = status;
    }
    response
}

/// `response` with `headers`, each replacing the response's own of that name.
fn with_headers(mut response: Response, headers: HeaderMap) -> Response {
    response.headers_mut().extend(headers);
    response
}

/// `response` with `pairs` as headers, each name replacing the response's own (a name given
/// twice, such as `Set-Cookie`, is sent twice); a value that is no header value is a logged
/// 500.
fn with_pairs<V: AsRef<str>>(response: Response, pairs: impl IntoIterator<Item = (HeaderName, V)>) -> Response {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        match HeaderValue::from_str(value.as_ref()) {
            Ok(value) => headers.append(name, value),
            Err(_) => {
                let cause = format!("the value of the header {name} is no header value: {:?}", value.as_ref());
                return failed(StatusCode::INTERNAL_SERVER_ERROR, "internal server error", cause);
            }
        };
    }
    with_headers(response, headers)
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        with_status(self.1.into_response(), self.0)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response {
        with_status(with_headers(self.2.into_response(), self.1), self.0)
    }
}

impl<T: IntoResponse> IntoResponse for (HeaderMap, T) {
    fn into_response(self) -> Response {
        with_headers(self.1.into_response(), self.0)
    }
}

impl<T: IntoResponse, V: AsRef<str>, const N: usize> IntoResponse for (StatusCode, [(HeaderName, V); N], T) {
    fn into_response(self) -> Response {
        with_status(with_pairs(self.2.into_response(), self.1), self.0)
    }
}

impl<T: IntoResponse, V: AsRef<str>, const N: usize> IntoResponse for ([(HeaderName, V); N], T) {
    fn into_response(self) -> Response {
        with_pairs(self.1.into_response(), self.0)
    }
}
