//! Extractors and return types, through the in-process test client (the socket is not the
//! point here): bodies, query strings, forms, state, request parts, custom extractors,
//! async handlers, errors and panics.

mod support;

use appserver::{
    Body, Bytes, Error, Form, FromRequest, HeaderMap, Method, Query, Request, Response, Server, State, StatusCode,
    TestClient, TestResponse, route,
};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// A response, its status and body at hand.
struct Reply {
    status: u16,
    body: String,
    response: TestResponse,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.response.header(name)
    }

    fn json(&self) -> serde_json::Value {
        self.response.json()
    }

    /// Asserts the framework's error shape with `status`; returns the message.
    fn error_message(&self, status: u16) -> String {
        support::error_message(status, self.status, self.header("content-type"), &self.body)
    }
}

fn send(client: &TestClient, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = client.request(Method::from_bytes(method.as_bytes()).unwrap(), path);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(body.to_vec()).send();
    Reply { status: response.status().as_u16(), body: response.text(), response }
}

fn get(client: &TestClient, path: &str) -> Reply {
    send(client, "GET", path, &[], b"")
}

fn post_json(client: &TestClient, path: &str, json: &str) -> Reply {
    send(client, "POST", path, &[("content-type", "application/json")], json.as_bytes())
}

fn start(server: Server) -> TestClient {
    TestClient::new(server).expect("the routes and state are complete")
}

// The library crate's routes serve here too: `POST /person/` (a `Json<Person>` in, a
// `(StatusCode::CREATED, Person)` out) and `/panic/` (a sync handler that panics).
use appserver_tests as _;

#[derive(Deserialize)]
struct Page {
    offset: u32,
    limit: Option<u32>,
}

#[route(GET, r"/items/")]
fn items(page: Query<Page>) -> Vec<u32> {
    (page.0.offset..page.0.offset + page.0.limit.unwrap_or(3)).collect()
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

#[route(POST, r"/login/")]
fn login(form: Form<Login>) -> String {
    form.0.user
}

struct Hits {
    count: AtomicU64,
}

#[route(GET, r"/hits/")]
fn hits(hits: State<Hits>) -> u64 {
    hits.count.fetch_add(1, Ordering::SeqCst) + 1
}

#[route(POST, r"/echo/(?P<tag>\w+)")]
fn echo(tag: String, headers: HeaderMap, body: Bytes) -> serde_json::Value {
    let agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    json!({ "tag": tag, "agent": agent, "len": body.len() })
}

struct ApiKey(String);

impl FromRequest for ApiKey {
    fn from_request(request: &Request) -> Result<Self, Error> {
        match request.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(key) => Ok(ApiKey(key.to_owned())),
            None => Err(Error::new(StatusCode::UNAUTHORIZED, "missing x-api-key")),
        }
    }
}

#[route(GET, r"/secret/")]
fn secret(key: ApiKey) -> String {
    format!("key {}", key.0)
}

#[route(GET, r"/async/(?P<n>\d+)")]
async fn doubled(n: u64) -> u64 {
    std::future::ready(n * 2).await
}

#[route(GET, r"/result/(?P<n>\d+)")]
fn checked(n: u64) -> appserver::Result<u64> {
    match n {
        0 => Err(Error::not_found("no item 0")),
        _ => Ok(n),
    }
}

#[route(GET, r"/io/")]
fn io_error() -> std::io::Result<String> {
    std::fs::read_to_string("/definitely/not/here")
}

#[route(GET, r"/async-result/(?P<n>\d+)")]
async fn async_checked(n: u64) -> Result<Response, Error> {
    if n == 0 {
        return Err(Error::bad_request("zero"));
    }
    Ok(appserver::http::Response::builder().status(202).header("x-n", n).body(Body::from("raw")).unwrap())
}

#[route(GET, r"/async-panic/")]
async fn async_panics() -> u64 {
    std::future::ready(()).await;
    panic!("async boom")
}

#[route(GET, r"/unit/")]
fn unit() {}

#[test]
fn json_bodies_in_and_out() {
    let server = start(app());
    let reply = post_json(&server, "/person/", r#"{"name":"Ada","age":36}"#);
    assert_eq!((reply.status, reply.body.as_str()), (201, r#"{"name":"Ada","age":36}"#));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let reply = send(
        &server,
        "POST",
        "/person/",
        &[("content-type", "application/vnd.api+json; charset=utf-8")],
        br#"{"name":"B","age":1}"#,
    );
    assert_eq!(reply.status, 201);
}

#[test]
fn bad_json_bodies_are_400_422_and_415() {
    let server = start(app());
    let message = post_json(&server, "/person/", r#"{"name":"Ada""#).error_message(400);
    assert!(message.starts_with("invalid JSON body: EOF while parsing"), "{message}");
    let message = post_json(&server, "/person/", r#"{"name":"Ada"}"#).error_message(422);
    assert_eq!(message, "invalid JSON body: missing field `age` at line 1 column 14");
    let message = send(&server, "POST", "/person/", &[("content-type", "text/plain")], b"{}").error_message(415);
    assert_eq!(message, "expected a request body with `Content-Type: application/json`");
    let message = send(&server, "POST", "/person/", &[], b"").error_message(415);
    assert_eq!(message, "expected a request body with `Content-Type: application/json`");
}

#[test]
fn query_strings_deserialize() {
    let server = start(app());
    assert_eq!(get(&server, "/items/?offset=5&limit=2").body, "[5,6]");
    assert_eq!(get(&server, "/items/?offset=1").body, "[1,2,3]");
    let message = get(&server, "/items/?offset=x").error_message(400);
    assert!(message.starts_with("invalid query string"), "{message}");
    get(&server, "/items/").error_message(400);
}

#[test]
fn forms_deserialize() {
    let server = start(app());
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert_eq!(send(&server, "POST", "/login/", &form, b"user=ada+l%C3%B6").body, r#""ada lö""#);
    send(&server, "POST", "/login/", &form, b"name=ada").error_message(422);
    send(&server, "POST", "/login/", &[("content-type", "application/json")], b"{}").error_message(415);
}

#[test]
fn state_is_shared_by_requests() {
    let server = start(app().state(Hits { count: AtomicU64::new(10) }));
    assert_eq!(get(&server, "/hits/").body, "11");
    assert_eq!(get(&server, "/hits/").body, "12");
}

/// The server for these routes: `hits` needs its state.
fn app() -> Server {
    Server::new().state(Hits { count: AtomicU64::new(0) })
}

#[test]
fn state_a_route_needs_but_nobody_registered_is_a_startup_error() {
    let err = TestClient::new(Server::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let message = err.to_string();
    assert!(message.starts_with("handlers::hits (tests/tests/handlers.rs:"), "{message}");
    assert!(
        message
            .ends_with("takes `State<handlers::Hits>`, but no state of that type was registered: call `Server::state`"),
        "{message}"
    );
}

#[test]
fn request_parts_and_raw_bodies_are_extractors() {
    let server = start(app());
    let reply = send(&server, "POST", "/echo/t1", &[("user-agent", "tester")], b"12345");
    assert_eq!(reply.json(), json!({ "tag": "t1", "agent": "tester", "len": 5 }));
}

#[test]
fn custom_extractors_can_reject() {
    let server = start(app());
    assert_eq!(send(&server, "GET", "/secret/", &[("x-api-key", "k1")], b"").body, r#""key k1""#);
    assert_eq!(get(&server, "/secret/").error_message(401), "missing x-api-key");
}

#[test]
fn async_handlers_are_awaited() {
    let server = start(app());
    assert_eq!(get(&server, "/async/21").body, "42");
    let reply = get(&server, "/async-result/5");
    assert_eq!((reply.status, reply.body.as_str(), reply.header("x-n")), (202, "raw", Some("5")));
    assert_eq!(get(&server, "/async-result/0").error_message(400), "zero");
}

#[test]
fn errors_carry_their_status_and_std_errors_are_opaque_500s() {
    let server = start(app());
    assert_eq!(get(&server, "/result/4").body, "4");
    assert_eq!(get(&server, "/result/0").error_message(404), "no item 0");
    assert_eq!(get(&server, "/io/").error_message(500), "internal server error");
}

#[test]
fn a_handler_returning_nothing_answers_null() {
    let server = start(app());
    let reply = get(&server, "/unit/");
    assert_eq!((reply.status, reply.body.as_str()), (200, "null"));
}

#[test]
fn panics_are_500s_and_the_server_keeps_serving() {
    let server = start(app());
    for _ in 0..3 {
        assert_eq!(get(&server, "/panic/").error_message(500), "internal server error");
        assert_eq!(get(&server, "/async-panic/").error_message(500), "internal server error");
        assert_eq!(get(&server, "/async/1").body, "2");
    }
}
