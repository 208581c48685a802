//! Run with: cargo run --example hello
//!
//! The original server's `get_object`, plus a POST route with a JSON body:
//!
//! ```text
//! curl -s localhost:8080/person/get/123/
//! curl -s -X POST localhost:8080/person/ -H 'content-type: application/json' -d '{"name":"Ada","age":36}'
//! ```
//!
//! Everything else comes from `appserver.toml` or the environment, e.g. forked with four
//! worker processes: `APPSERVER_SERVER_TYPE=forked APPSERVER_WORKERS=4 cargo run --example hello`.

use appserver::{Json, Server, StatusCode, route};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
fn get_object(object_type: String, object_id: u64) -> Value {
    json!({ "object_type": object_type, "object_id": object_id })
}

#[derive(Deserialize, Serialize)]
struct Person {
    name: String,
    age: u32,
}

#[route(POST, r"/person/")]
fn create_person(person: Json<Person>) -> (StatusCode, Person) {
    (StatusCode::CREATED, person.0)
}

fn main() -> Result<(), appserver::ServeError> {
    // `appserver::run(8080, ServerType::Threaded)` would fix both in code; this leaves
    // them to the configuration (default: 127.0.0.1:8080, threaded).
    Server::new().serve()
}
