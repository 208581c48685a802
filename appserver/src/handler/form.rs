//! `Form<T>`: an urlencoded request body, deserialized.

use super::error::Error;
use super::extract::{FromRequest, has_content_type};
use super::request::Request;
use http::StatusCode;
use serde::de::DeserializeOwned;

/// An `application/x-www-form-urlencoded` body deserialized into `T`: another content type
/// is a 415, a body that does not fit a 422. A key given several times fills a `Vec` field.
///
/// ```
/// use appserver::{route, Form};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Login { user: String }
///
/// #[route(POST, r"/login/")]
/// fn login(form: Form<Login>) -> String {
///     form.0.user
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Form<T> {
    fn from_request(request: &Request) -> Result<Self, Error> {
        if !has_content_type(request, "application/x-www-form-urlencoded", None) {
            return Err(Error::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request body with `Content-Type: application/x-www-form-urlencoded`",
            ));
        }
        serde_html_form::from_bytes(&request.body)
            .map(Form)
            .map_err(|err| Error::new(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid form body: {err}")))
    }
}
