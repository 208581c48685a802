//! `#[fallback]`: the paths no route matches, for every method; a 405 stays a 405.

mod support;

use appserver::{Html, Method, Server, StatusCode, TestClient, Uri, fallback, route};
use serde_json::{Value, json};
use support::{get, send, start};

#[route(GET, r"/things/(?P<id>\d+)")]
fn thing(id: u32) -> Value {
    json!({ "id": id })
}

#[fallback]
fn not_found(method: Method, uri: Uri) -> (StatusCode, Html<String>) {
    (StatusCode::NOT_FOUND, Html(format!("<p>Nothing for {method} at {}</p>", uri.path())))
}

#[test]
fn paths_no_route_matches_get_the_fallback() {
    let server = start(Server::new());
    let reply = get(&server, "/nowhere/at/all");
    assert_eq!((reply.status, reply.header("content-type")), (404, Some("text/html; charset=utf-8")));
    assert_eq!(reply.body, "<p>Nothing for GET at /nowhere/at/all</p>");
    let reply = send(&server, "DELETE", "/gone", &[], b"");
    assert_eq!((reply.status, reply.body.as_str()), (404, "<p>Nothing for DELETE at /gone</p>"));
    assert_eq!(get(&server, "/things/7").json(), json!({ "id": 7 }));
}

#[test]
fn a_path_a_route_matches_under_another_method_is_still_a_405() {
    let client = TestClient::new(Server::new()).unwrap();
    let reply = client.get("/nowhere").send();
    assert_eq!(
        (reply.status(), reply.text()),
        (StatusCode::NOT_FOUND, "<p>Nothing for GET at /nowhere</p>".to_owned())
    );
    let reply = client.request(Method::PATCH, "/things/1").send();
    assert_eq!((reply.status(), reply.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD")));
    assert_eq!(reply.json::<Value>()["error"]["status"], 405);
}

#[test]
fn the_route_table_lists_the_fallback_last() {
    let table = appserver::routes().unwrap();
    let last = table.routes().last().unwrap();
    assert_eq!((last.methods.as_str(), last.handler), ("ANY", "fallback::not_found"));
    assert_eq!(last.pattern, "(fallback: any path no route matches)");
    assert!(table.to_string().lines().last().unwrap().contains("fallback::not_found"), "{table}");
}
