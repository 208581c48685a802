//! The same handler twice, inline and `blocking`, for `load.sh` to compare the two paths.
//!
//! Run with: cargo run --release -p benchmarks --bin bench-appserver-paths

use appserver::route;
use serde_json::{Value, json};

#[route(GET, r"/inline/(?P<object_type>\w+)/(?P<object_id>\d+)/")]
fn inline(object_type: String, object_id: u64) -> Value {
    json!({ "object_type": object_type, "object_id": object_id })
}

#[route(GET, r"/blocking/(?P<object_type>\w+)/(?P<object_id>\d+)/", blocking)]
fn blocking(object_type: String, object_id: u64) -> Value {
    json!({ "object_type": object_type, "object_id": object_id })
}

fn main() -> Result<(), appserver::ServeError> {
    appserver::Server::new().serve()
}
