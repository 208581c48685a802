//! `Json<T>`: a JSON request body in, a JSON response out.

use super::error::Error;
use super::extract::{FromRequest, has_content_type};
use super::request::Request;
use super::response::{IntoResponse, Response, json_response};
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON request body, deserialized into `T` (or a response body, serialized from `T`).
///
/// As an extractor it needs `Content-Type: application/json` (or `application/*+json`),
/// else 415; malformed JSON is a 400, JSON of the wrong shape a 422.
///
/// ```
/// use appserver::{route, Json};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct NewPerson { name: String }
///
/// #[route(POST, r"/person/")]
/// fn create(person: Json<NewPerson>) -> String {
///     person.0.name
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Json<T> {
    fn from_request(request: &Request) -> Result<Self, Error> {
        if !has_content_type(request, "application/json", Some("+json")) {
            return Err(Error::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request body with `Content-Type: application/json`",
            ));
        }
        serde_json::from_slice(&request.body).map(Json).map_err(|err| {
            let status = match err.classify() {
                serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            Error::new(status, format!("invalid JSON body: {err}"))
        })
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &self.0)
    }
}
