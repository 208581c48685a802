//! How both protocols answer a refusal over HTTP.

use crate::store::Refused;
use appserver::http::HeaderValue;
use appserver::http::header::RETRY_AFTER;
use appserver::{Error, StatusCode};

/// The error a refusal is answered with: 404, 409, 429 or 503 (with `Retry-After`), 507,
/// 422.
pub(crate) fn error(refused: Refused) -> Error {
    let retry = |error: Error| error.with_header(RETRY_AFTER, HeaderValue::from_static("1"));
    let message = refused.to_string();
    match refused {
        Refused::UnknownTask => Error::not_found(message),
        Refused::StaleLease => Error::new(StatusCode::CONFLICT, message),
        Refused::QueueFull { .. } => retry(Error::new(StatusCode::TOO_MANY_REQUESTS, message)),
        Refused::TooManyQueues { .. } => Error::new(StatusCode::INSUFFICIENT_STORAGE, message),
        Refused::TooLarge { .. } => Error::new(StatusCode::UNPROCESSABLE_ENTITY, message),
        Refused::Store(_) => retry(Error::new(StatusCode::SERVICE_UNAVAILABLE, message)),
    }
}
