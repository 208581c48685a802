//! What a server would serve, without serving: the route table and the OpenAPI document.

use super::error::ServeError;
use crate::routing::{Route, RouteTable, Router, openapi_document};
use serde_json::Value;

/// The OpenAPI 3.1 document of the routes linked into this program, titled `title` at
/// `version`; what the `openapi_path` setting serves on a server with bearer tokens (on one
/// without, no route asks for a token).
///
/// ```standalone_crate
/// #[appserver::route(GET, r"/users/(?P<id>\d+)")]
/// fn user(id: u32) -> u32 {
///     id
/// }
///
/// let document = appserver::openapi("users", "1.0")?;
/// let parameter = &document["paths"]["/users/{id}"]["get"]["parameters"][0];
/// assert_eq!(parameter["schema"], serde_json::json!({"type": "integer", "minimum": 0, "maximum": 4294967295u32, "pattern": "^(?:\\d+)$"}));
/// # Ok::<(), appserver::ServeError>(())
/// ```
pub fn openapi(title: &str, version: &str) -> Result<Value, ServeError> {
    let router = Router::new(Route::all())?;
    Ok(openapi_document(&router, title, version, true))
}

/// The routes linked into this program, checked as a server checks them at startup, each
/// with the routes it overlaps (intended ones too, like `/users/me` and
/// `/users/(?P<id>[^/]+)`).
pub fn routes() -> Result<RouteTable, ServeError> {
    Ok(RouteTable::build()?)
}
