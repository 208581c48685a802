//! Routes that live in a library crate, as an application's would: the end-to-end tests
//! name this crate (`use appserver_tests as _;`) and check that these are served.

use appserver::route;
use serde_json::{Value, json};

/// A route defined in a library crate.
#[route(GET, r"/library/(?P<name>[a-z]+)")]
pub fn library_route(name: String) -> Value {
    json!({ "from": "library", "name": name })
}
