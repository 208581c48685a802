//! The shape of error bodies: the JSON one by default, RFC 9457 problem details with
//! `error_format = "problem"`, or any shape with `Server::error_renderer`.

mod support;

use appserver::http::HeaderValue;
use appserver::http::header::RETRY_AFTER;
use appserver::{Bytes, Error, ErrorFormat, IntoResponse, Json, Server, StatusCode, TestClient, Text, route};
use serde_json::{Value, json};
use support::{Process, get, post_json, raw, start};

#[route(GET, r"/busy/")]
fn busy() -> Result<u8, Error> {
    Err(Error::new(StatusCode::SERVICE_UNAVAILABLE, "busy; try again")
        .with_header(RETRY_AFTER, HeaderValue::from_static("2")))
}

#[route(GET, r"/broken/")]
fn broken() -> Result<u8, std::io::Error> {
    Err(std::io::Error::other("a cause the client never sees"))
}

#[route(POST, r"/echo/")]
fn echo(body: Json<Value>) -> Value {
    body.0
}

#[route(POST, r"/upload/")]
fn upload(body: Bytes) -> usize {
    body.len()
}

#[route(GET, r"/fine/")]
fn fine() -> Value {
    json!({ "fine": true })
}

/// Asserts a problem-details response of `status`; returns its `detail`.
fn problem(status: u16, got: u16, content_type: Option<&str>, body: &str) -> String {
    assert_eq!((got, content_type), (status, Some("application/problem+json")), "{body}");
    let json: Value = serde_json::from_str(body).unwrap();
    let title = StatusCode::from_u16(status).unwrap().canonical_reason().unwrap();
    assert_eq!(json["type"], "about:blank", "{json}");
    assert_eq!((json["title"].as_str(), json["status"].as_u64()), (Some(title), Some(u64::from(status))), "{json}");
    assert_eq!(json.as_object().unwrap().len(), 4, "{json}");
    json["detail"].as_str().unwrap().to_owned()
}

#[test]
fn problem_details_for_the_framework_and_the_handlers_errors() {
    let server = start(Server::new().error_format(ErrorFormat::Problem));
    let reply = get(&server, "/nowhere");
    assert_eq!(problem(404, reply.status, reply.header("content-type"), &reply.body), "no route for GET /nowhere");
    let reply = post_json(&server, "/fine/", "{}");
    assert_eq!(
        problem(405, reply.status, reply.header("content-type"), &reply.body),
        "POST is not allowed for /fine/; allowed: GET, HEAD"
    );
    assert_eq!(reply.header("allow"), Some("GET, HEAD"), "the error's headers stay");
    let reply = post_json(&server, "/echo/", "{");
    assert!(problem(400, reply.status, reply.header("content-type"), &reply.body).starts_with("invalid JSON body"));
    let reply = get(&server, "/busy/");
    assert_eq!(problem(503, reply.status, reply.header("content-type"), &reply.body), "busy; try again");
    assert_eq!(reply.header("retry-after"), Some("2"));
    let reply = get(&server, "/broken/");
    assert_eq!(problem(500, reply.status, reply.header("content-type"), &reply.body), "internal server error");
    // Successes are untouched.
    let reply = get(&server, "/fine/");
    assert_eq!((reply.header("content-type"), reply.json()), (Some("application/json"), json!({ "fine": true })));
    // A body over the limit: 413, and the connection is closed.
    let big = "x".repeat(2 << 20);
    let request = format!("POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{big}", big.len());
    let out = raw(server.addr(), request.as_bytes());
    assert!(out.starts_with("HTTP/1.1 413 "), "{}", &out[..out.len().min(300)]);
    assert!(out.contains("content-type: application/problem+json") && out.contains(r#""status":413"#), "{out}");
}

#[test]
fn the_setting_is_read_from_the_environment() {
    let server = Process::start(&[("APPSERVER_ERROR_FORMAT", "problem")]);
    let out = raw(server.addr(), b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
    assert!(out.contains("content-type: application/problem+json\r\n"), "{out}");
    assert!(
        out.ends_with(
            r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no route for GET /nowhere"}"#
        ),
        "{out}"
    );
    let refused = Process::try_start_in(&support::scratch_dir(), &[("APPSERVER_ERROR_FORMAT", "xml")], &[]);
    let (log, _) = refused.err().expect("an invalid format is refused");
    assert!(log.contains(r#"invalid value "xml" for `error_format`: expected "json" or "problem""#), "{log}");
}

#[test]
fn a_renderer_of_the_programs_own_wins_and_keeps_the_errors_headers() {
    let server = Server::new().error_format(ErrorFormat::Problem).error_renderer(|error: &Error| {
        (error.status(), Text(format!("{} {}", error.status().as_u16(), error.message()))).into_response()
    });
    let client = TestClient::new(server).unwrap();
    let reply = client.post("/fine/").send();
    assert_eq!(
        (reply.status(), reply.text()),
        (StatusCode::METHOD_NOT_ALLOWED, "405 POST is not allowed for /fine/; allowed: GET, HEAD".to_owned())
    );
    assert_eq!(
        (reply.header("content-type"), reply.header("allow")),
        (Some("text/plain; charset=utf-8"), Some("GET, HEAD"))
    );
    let reply = client.get("/busy/").send();
    assert_eq!((reply.text(), reply.header("retry-after")), ("503 busy; try again".to_owned(), Some("2")));
    assert_eq!(client.get("/fine/").send().json::<Value>(), json!({ "fine": true }));
}

#[test]
fn the_default_is_the_json_shape() {
    let client = TestClient::new(Server::new()).unwrap();
    let reply = client.get("/nowhere").send();
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.text(), r#"{"error":{"status":404,"message":"no route for GET /nowhere"}}"#);
}
