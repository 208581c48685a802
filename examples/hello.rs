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

use appserver::{Created, Json, Server, route};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `get_object` answers; a `json!` value would do too, at the cost of building a map
/// and of a schema in the OpenAPI document (`JsonSchema` gives it one).
#[derive(Serialize, JsonSchema)]
struct Object {
    object_type: String,
    object_id: u64,
}

#[route(r"/(?P<object_type>\w+)/get/(?P<object_id>\d+)/")]
fn get_object(object_type: String, object_id: u64) -> Object {
    Object { object_type, object_id }
}

#[derive(Deserialize, Serialize, JsonSchema)]
struct Person {
    name: String,
    age: u32,
}

#[route(POST, r"/person/")]
fn create_person(person: Json<Person>) -> Created<Person> {
    Created(person.0)
}

fn main() -> Result<(), appserver::ServeError> {
    // `appserver::run(8080, ServerType::Threaded)` would fix both in code; this leaves
    // them to the configuration (default: 127.0.0.1:8080, threaded).
    Server::new().serve()
}

#[cfg(test)]
mod tests {
    use super::*;
    use appserver::TestClient;
    use serde_json::{Value, json};

    #[test]
    fn the_routes_answer_and_their_openapi_document_is_valid() {
        let client = TestClient::new(Server::new()).unwrap();
        let response = client.get("/person/get/123/").send();
        assert_eq!(response.json::<Value>(), json!({"object_type": "person", "object_id": 123}));
        let response = client.post("/person/").json(&json!({"name": "Ada", "age": 36})).send();
        assert_eq!((response.status().as_u16(), response.text()), (201, r#"{"name":"Ada","age":36}"#.into()));

        let document = appserver::openapi("hello", "1.0.0").unwrap();
        let get = &document["paths"]["/{object_type}/get/{object_id}/"]["get"];
        assert_eq!(
            get["parameters"],
            json!([
                {"name": "object_type", "in": "path", "required": true,
                 "schema": {"type": "string", "pattern": "^(?:\\w+)$"}},
                {"name": "object_id", "in": "path", "required": true,
                 "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX, "pattern": "^(?:\\d+)$"}},
            ])
        );
        let post = &document["paths"]["/person/"]["post"];
        assert!(post["requestBody"]["content"]["application/json"].is_object(), "{post}");
        assert_eq!(post["responses"]["default"]["$ref"], "#/components/responses/Error");
        // A `Created<T>`: documented as the 201 it is.
        assert!(post["responses"]["201"]["content"]["application/json"].is_object(), "{post}");
        assert!(post["responses"]["200"].is_null(), "{post}");
        examples::validate_openapi(&document).unwrap();

        // Served at `openapi_path`, titled after the program.
        let client = TestClient::new(Server::new().openapi_path(Some("/openapi.json".into()))).unwrap();
        let served = client.get("/openapi.json").send().json::<Value>();
        assert_eq!(served["paths"], document["paths"]);
        assert_eq!(served["openapi"], "3.1.0");
    }
}
