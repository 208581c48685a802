//! `Query<T>`: the query string, deserialized.

use super::error::Error;
use super::extract::FromRequest;
use super::request::Request;
use serde::de::DeserializeOwned;

/// The query string deserialized into `T`; a query that does not fit is a 400. A key given
/// several times (`?tag=a&tag=b`) fills a `Vec` field, as the OpenAPI document says.
///
/// ```
/// use appserver::{route, Query};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Page { offset: u32, limit: Option<u32> }
///
/// #[route(GET, r"/people/")]
/// fn people(page: Query<Page>) -> Vec<u32> {
///     (page.0.offset..page.0.offset + page.0.limit.unwrap_or(10)).collect()
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    fn from_request(request: &Request) -> Result<Self, Error> {
        serde_html_form::from_str(request.query().unwrap_or(""))
            .map(Query)
            .map_err(|err| Error::bad_request(format!("invalid query string: {err}")))
    }
}
