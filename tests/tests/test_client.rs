//! The in-process test client: the same service as the server (limits, layers, state,
//! blocking handlers), and no config file or environment.

use appserver::http::header::{HeaderName, HeaderValue};
use appserver::{Server, StatusCode, TestClient};
use serde_json::{Value, json};
use tower_http::set_header::SetResponseHeaderLayer;

// The library crate's routes.
use appserver_tests as _;

#[test]
fn the_environment_and_config_file_are_not_read() {
    // Both would stop a server from starting: run the check in a process of its own with them.
    let dir = std::env::temp_dir().join(format!("test-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.toml"), "port = \"not a port\"\n").unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["with_a_broken_environment", "--exact", "--ignored", "--nocapture"])
        .env("APPSERVER_CONFIG", dir.join("broken.toml"))
        .env("APPSERVER_MAX_BODY_BYTES", "lots")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && report.contains("1 passed"), "{report}{}", String::from_utf8_lossy(&out.stderr));
    let err = Server::new().bind(([127, 0, 0, 1], 0)).start();
    assert!(err.is_ok(), "this process has no broken environment");
}

/// Run by the test above, in a process with a broken config file and variable.
#[test]
#[ignore = "run by the_environment_and_config_file_are_not_read, in an environment of its own"]
fn with_a_broken_environment() {
    assert!(Server::new().start().is_err(), "a server reads them");
    let client = TestClient::new(Server::new().max_body_bytes(8)).unwrap();
    let response = client.post("/upload/").body("0123456789").send();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = client.get("/library/quiet").send();
    assert_eq!((response.status(), response.text()), (StatusCode::OK, r#"{"from":"library","name":"quiet"}"#.into()));
    // Invalid settings made in code are still errors.
    let err = TestClient::new(Server::new().workers(0)).unwrap_err().to_string();
    assert!(err.starts_with("set in code: invalid value 0 for `workers`"), "{err}");
}

#[test]
fn layers_blocking_handlers_panics_and_bodies_behave_as_on_a_socket() {
    let tag = SetResponseHeaderLayer::overriding(HeaderName::from_static("x-layer"), HeaderValue::from_static("on"));
    let client = TestClient::new(Server::new().layer(tag)).unwrap();
    let response = client.get("/person/get/7/").send();
    assert_eq!(response.header("x-layer"), Some("on"));
    assert_eq!(response.json::<Value>(), json!({"object_type": "person", "object_id": 7}));
    assert_eq!(client.get("/blocking/10").send().text(), "10");
    let response = client.get("/panic/").send();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text(), r#"{"error":{"status":500,"message":"internal server error"}}"#);
    let response = client.post("/person/").json(&json!({"name": "Ada", "age": 36})).send();
    assert_eq!((response.status(), response.json::<Value>()), (StatusCode::CREATED, json!({"name": "Ada", "age": 36})));
    let response = client.delete("/person/get/1/").send();
    assert_eq!(
        (response.status(), response.header("allow")),
        (StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD, POST"))
    );
}
