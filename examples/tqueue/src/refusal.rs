//! How both protocols answer what they cannot do: a [`Refused`] of the store as an HTTP
//! error through `IntoResponse`, and [`Failure`], a route's error type (a refusal, or a
//! request that is not valid).

use crate::store::Refused;
use appserver::http::HeaderValue;
use appserver::http::header::RETRY_AFTER;
use appserver::{Error, IntoResponse, Response, StatusCode};

/// A refusal as an HTTP error: 404, 409, 429 or 503 (with `Retry-After`), 507, 422, 501.
impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let retry = |error: Error| error.with_header(RETRY_AFTER, HeaderValue::from_static("1"));
        let message = self.to_string();
        let error = match self {
            Refused::UnknownTask => Error::not_found(message),
            // The key holds another put: the request is valid, and conflicts with that.
            Refused::StaleLease | Refused::KeyReused => Error::new(StatusCode::CONFLICT, message),
            Refused::QueueFull { .. } => retry(Error::new(StatusCode::TOO_MANY_REQUESTS, message)),
            Refused::TooManyQueues { .. } => Error::new(StatusCode::INSUFFICIENT_STORAGE, message),
            Refused::TooLarge { .. } => Error::new(StatusCode::UNPROCESSABLE_ENTITY, message),
            Refused::Unsupported(_) => Error::new(StatusCode::NOT_IMPLEMENTED, message),
            Refused::Store(_) => retry(Error::new(StatusCode::SERVICE_UNAVAILABLE, message)),
        };
        error.into_response()
    }
}

/// What a route answers when it cannot do what was asked; `?` makes one of either.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The store refused.
    Refused(Refused),
    /// The request is not valid.
    Request(Error),
}

impl From<Refused> for Failure {
    fn from(refused: Refused) -> Self {
        Failure::Refused(refused)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Request(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Refused(refused) => refused.into_response(),
            Failure::Request(error) => error.into_response(),
        }
    }
}
