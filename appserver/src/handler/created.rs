//! [`Created`]: a `201 Created` answer.

use super::response::{IntoResponse, Response, json_response};
use http::StatusCode;
use serde::Serialize;

/// A `201 Created` answer with `T` as JSON, documented as such in the OpenAPI document
/// (where `(StatusCode, T)` can only say "a 2xx"):
///
/// ```
/// use appserver::{route, Created, Json};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, Serialize)]
/// struct Note { text: String }
///
/// #[route(POST, r"/notes/")]
/// fn create(note: Json<Note>) -> Created<Note> {
///     Created(note.0)
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Created<T>(pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::CREATED, &self.0)
    }
}
