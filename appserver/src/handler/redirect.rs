//! [`Redirect`]: a response that sends the client elsewhere.

use super::response::{IntoResponse, Response, failed};
use http::StatusCode;
use http::header::{HeaderValue, LOCATION};

/// A redirect with `Location`: [`to`](Redirect::to) (303 See Other, the answer to a form's
/// POST), [`temporary`](Redirect::temporary) (307) or [`permanent`](Redirect::permanent)
/// (308), which keep the method and body.
///
/// ```
/// use appserver::{route, Redirect};
///
/// #[route(POST, r"/logout/")]
/// fn logout() -> Redirect {
///     Redirect::to("/")
/// }
/// ```
///
/// A location that cannot be a header value (a newline, say) is answered as a logged 500,
/// never sent.
#[derive(Debug, Clone)]
pub struct Redirect {
    status: StatusCode,
    location: Result<HeaderValue, String>,
}

impl Redirect {
    /// 303 See Other: the client GETs `uri`.
    pub fn to(uri: &str) -> Self {
        Self::with(StatusCode::SEE_OTHER, uri)
    }

    /// 307 Temporary Redirect: the client repeats its request, method and body, at `uri`.
    pub fn temporary(uri: &str) -> Self {
        Self::with(StatusCode::TEMPORARY_REDIRECT, uri)
    }

    /// 308 Permanent Redirect: as 307, and the client may remember it.
    pub fn permanent(uri: &str) -> Self {
        Self::with(StatusCode::PERMANENT_REDIRECT, uri)
    }

    fn with(status: StatusCode, uri: &str) -> Self {
        Redirect { status, location: HeaderValue::from_str(uri).map_err(|_| uri.to_owned()) }
    }
}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response {
        match self.location {
            Ok(location) => {
                let mut response = Response::default();
                *response.status_mut() = self.status;
                response.headers_mut().insert(LOCATION, location);
                response
            }
            Err(uri) => failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error",
                format!("a redirect to {uri:?}, which is no header value"),
            ),
        }
    }
}
