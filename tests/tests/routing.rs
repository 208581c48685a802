//! Routing over real sockets: patterns, methods, parameters, 404/405/400, library routes.

mod support;

use appserver::{Server, route};
use serde_json::{Value, json};
use support::{get, raw, send, start};

// Name the library crate so that its routes are linked (see the crate docs): the seed
// route `/person/get/123/` and `/library/...` live there.
use appserver_tests as _;

#[route(GET, r"/users/me")]
fn me() -> &'static str {
    "me"
}

#[route(GET, r"/users/(?P<name>[^/]+)")]
fn user(name: String) -> String {
    name
}

#[route(PUT | DELETE, r"/users/(?P<name>[^/]+)")]
fn change_user(name: String, method: appserver::Method) -> String {
    format!("{method} {name}")
}

#[route(GET, r"/page(?:/(?P<number>\d+))?")]
fn page(number: Option<u32>) -> Option<u32> {
    number
}

#[route(GET, r"/signed/(?P<n>-?\d+)/(?P<x>-?\d+(?:\.\d+)?)/(?P<flag>true|false)/(?P<c>[^/]+)")]
fn signed(n: i8, x: f64, flag: bool, c: char) -> Value {
    json!([n, x, flag, c])
}

#[test]
fn the_seed_route_answers_get_and_post_with_json() {
    let server = start(Server::new());
    for method in ["GET", "POST"] {
        let reply = send(&server, method, "/person/get/123/", &[], b"");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.body, r#"{"object_type":"person","object_id":123}"#);
    }
}

#[test]
fn the_pattern_matches_the_whole_path_without_the_query() {
    let server = start(Server::new());
    assert_eq!(get(&server, "/person/get/123/?verbose=1").status, 200);
    for path in ["/person/get/123", "/person/get/123/x", "/x/person/get/123/", "/person/get//"] {
        let message = get(&server, path).error_message(404);
        assert_eq!(message, format!("no route for GET {path}"));
    }
}

#[test]
fn unknown_paths_are_404_in_the_documented_shape() {
    let server = start(Server::new());
    let reply = get(&server, "/x");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, r#"{"error":{"status":404,"message":"no route for GET /x"}}"#);
}

#[test]
fn a_wrong_method_is_405_with_allow() {
    let server = start(Server::new());
    let reply = send(&server, "PATCH", "/users/ann", &[], b"");
    let message = reply.error_message(405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, PUT, DELETE"));
    assert_eq!(message, "PATCH is not allowed for /users/ann; allowed: GET, HEAD, PUT, DELETE");
    let reply = send(&server, "DELETE", "/users/ann", &[], b"");
    assert_eq!((reply.status, reply.body.as_str()), (200, r#""DELETE ann""#));
}

#[test]
fn head_is_answered_for_get_routes_without_a_body() {
    let server = start(Server::new());
    let reply = send(&server, "HEAD", "/users/ann", &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-length"), Some("5"));
    assert_eq!(reply.body, "");
}

static TAKEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A GET with an effect: HEAD must not run it.
#[route(GET | POST, r"/take/", head = false)]
fn take() -> u32 {
    TAKEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

#[test]
fn a_get_route_with_head_false_refuses_head_and_runs_nothing() {
    let server = start(Server::new());
    let reply = send(&server, "HEAD", "/take/", &[], b"");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    assert_eq!(TAKEN.load(std::sync::atomic::Ordering::SeqCst), 0, "HEAD ran the handler");
    assert_eq!((get(&server, "/take/").status, TAKEN.load(std::sync::atomic::Ordering::SeqCst)), (200, 1));
    let table = appserver::routes().unwrap();
    let row = table.routes().iter().find(|r| r.pattern == "/take/").unwrap();
    assert_eq!(row.methods, "GET, POST");
}

#[test]
fn more_literal_routes_win() {
    let server = start(Server::new());
    assert_eq!(get(&server, "/users/me").body, r#""me""#);
    assert_eq!(get(&server, "/users/mel").body, r#""mel""#);
}

#[test]
fn group_text_is_percent_decoded_before_parsing() {
    let server = start(Server::new());
    assert_eq!(get(&server, "/users/caf%C3%A9%20au%2Flait").body, r#""café au/lait""#);
    let message = get(&server, "/users/%FF").error_message(400);
    assert_eq!(message, "parameter `name` is not UTF-8 once percent-decoded");
}

#[test]
fn a_group_that_does_not_parse_is_400_naming_the_parameter() {
    let server = start(Server::new());
    let message = get(&server, "/person/get/99999999999999999999999/").error_message(400);
    assert_eq!(message, "invalid value for parameter `object_id`: number too large to fit in target type");
    let message = get(&server, "/signed/-129/1.5/true/x").error_message(400);
    assert!(message.starts_with("invalid value for parameter `n`"), "{message}");
}

#[test]
fn parameters_of_every_kind_parse() {
    let server = start(Server::new());
    assert_eq!(get(&server, "/signed/-12/-2.5/true/%C3%A9").json(), json!([-12, -2.5, true, "é"]));
    assert_eq!(get(&server, "/page/7").body, "7");
    assert_eq!(get(&server, "/page").body, "null");
}

#[test]
fn routes_from_a_library_crate_are_served() {
    let server = start(Server::new());
    let reply = get(&server, "/library/books");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({ "from": "library", "name": "books" }));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start(Server::new());
    let request = "GET /users/me HTTP/1.1\r\nHost: x\r\n\r\n";
    let last = "GET /users/you HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let out = raw(server.addr(), format!("{request}{request}{last}").as_bytes());
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
    assert!(out.ends_with(r#""you""#), "{out}");
}

#[test]
fn the_default_address_is_loopback() {
    let server = Server::new().port(0).start().unwrap();
    assert!(server.addr().ip().is_loopback());
}

#[route(GET, r"/kind/(?P<type>[a-z]+)")]
fn keyword_group(r#type: String) -> String {
    r#type
}

#[test]
fn a_group_named_like_a_keyword_binds_a_raw_identifier() {
    let server = start(Server::new());
    assert_eq!(get(&server, "/kind/book").body, r#""book""#);
}
