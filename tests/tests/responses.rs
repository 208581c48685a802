//! All of HTTP in a handler's hands: HTML, text, redirects, a status and headers around any
//! response, cookies in and out, and the handler's own error types; over a real socket and
//! through `TestClient`.

mod support;

use appserver::cookie::{Cookie, SameSite};
use appserver::http::HeaderName;
use appserver::http::header::{CACHE_CONTROL, HeaderValue, SET_COOKIE};
use appserver::{Cookies, Error, HeaderMap, Html, IntoResponse, Json, Redirect, Response, Server, StatusCode};
use appserver::{TestClient, Text, route};
use serde_json::{Value, json};
use support::{get, raw, send, start};

#[route(GET, r"/page/")]
fn page() -> Html<String> {
    Html("<h1>Hello</h1>".to_owned())
}

#[route(GET, r"/robots.txt")]
fn robots() -> Text<&'static str> {
    Text("User-agent: *")
}

#[route(GET, r"/raw-text/")]
fn raw_text() -> Text<Vec<u8>> {
    Text(b"bytes".to_vec())
}

#[route(GET, r"/string/")]
fn string() -> String {
    "still JSON".to_owned()
}

#[route(POST, r"/logout/")]
fn logout() -> Redirect {
    Redirect::to("/")
}

#[route(GET, r"/moved/(?P<kind>temporary|permanent)")]
fn moved(kind: String) -> Redirect {
    match kind.as_str() {
        "temporary" => Redirect::temporary("/new"),
        _ => Redirect::permanent("/new"),
    }
}

#[route(GET, r"/bad-redirect/")]
fn bad_redirect() -> Redirect {
    Redirect::to("/a\nb")
}

#[route(POST, r"/created/")]
fn created() -> (StatusCode, Html<&'static str>) {
    (StatusCode::CREATED, Html("<p>made</p>"))
}

#[route(GET, r"/report/")]
fn report() -> (StatusCode, [(HeaderName, &'static str); 1], Value) {
    (StatusCode::ACCEPTED, [(CACHE_CONTROL, "no-store")], json!({ "queued": true }))
}

#[route(GET, r"/with-map/")]
fn with_map() -> (HeaderMap, Text<&'static str>) {
    let mut headers = HeaderMap::new();
    headers.insert("x-served-by", HeaderValue::from_static("appserver"));
    headers.insert("content-type", HeaderValue::from_static("text/csv"));
    (headers, Text("a,b"))
}

#[route(GET, r"/status-map/")]
fn status_map() -> (StatusCode, HeaderMap, Json<Value>) {
    let mut headers = HeaderMap::new();
    headers.insert("x-kind", HeaderValue::from_static("teapot"));
    (StatusCode::IM_A_TEAPOT, headers, Json(json!(["short", "stout"])))
}

#[route(GET, r"/pairs/")]
fn pairs() -> ([(HeaderName, String); 2], Value) {
    let theme = Cookie::build(("theme", "dark")).path("/").to_string();
    let session = Cookie::build(("session", "s1")).http_only(true).secure(true).same_site(SameSite::Lax).to_string();
    ([(SET_COOKIE, theme), (SET_COOKIE, session)], json!("set"))
}

#[route(GET, r"/bad-header/")]
fn bad_header() -> ([(HeaderName, &'static str); 1], Text<&'static str>) {
    ([(CACHE_CONTROL, "no\nstore")], Text("never sent"))
}

#[route(GET, r"/response/")]
fn response() -> (StatusCode, Response) {
    (StatusCode::ACCEPTED, Response::new("plain".into()))
}

#[route(GET, r"/me/")]
fn me(cookies: Cookies) -> Value {
    json!({ "theme": cookies.get("theme"), "count": cookies.iter().count() })
}

/// An error type of the application's own, as `thiserror` would make it.
#[derive(Debug)]
enum ShopError {
    Missing(u32),
    Storage(std::io::Error),
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::Missing(id) => write!(f, "no item {id}"),
            ShopError::Storage(error) => write!(f, "storage: {error}"),
        }
    }
}

impl std::error::Error for ShopError {}

impl IntoResponse for ShopError {
    fn into_response(self) -> Response {
        match self {
            ShopError::Missing(id) => Error::not_found(format!("no item {id}")).into_response(),
            ShopError::Storage(error) => Error::from(error).into_response(),
        }
    }
}

#[route(GET, r"/items/(?P<id>\d+)/")]
fn item(id: u32) -> Result<Value, ShopError> {
    match id {
        1 => Ok(json!({ "id": 1 })),
        2 => Err(ShopError::Storage(std::io::Error::other("the disk is on fire"))),
        _ => Err(ShopError::Missing(id)),
    }
}

#[route(GET, r"/io/")]
fn io() -> Result<Value, std::io::Error> {
    Err(std::io::Error::other("an io error the client never sees"))
}

#[route(GET, r"/question-mark/")]
fn question_mark() -> appserver::Result<Value> {
    let text = std::fs::read_to_string("/nonexistent/appserver-test")?;
    Ok(json!(text))
}

#[route(GET, r"/created-or-not/(?P<ok>yes|no)")]
fn created_or_not(ok: String) -> Result<(StatusCode, Value), ShopError> {
    match ok.as_str() {
        "yes" => Ok((StatusCode::CREATED, json!({ "made": true }))),
        _ => Err(ShopError::Missing(0)),
    }
}

/// Whether the server logged `needle` (the first call installs the in-memory log).
fn logged(needle: &str) -> bool {
    support::logged().contains(needle)
}

#[test]
fn html_and_text_over_a_socket() {
    support::logged();
    let server = start(Server::new());
    let reply = get(&server, "/page/");
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("text/html; charset=utf-8")));
    assert_eq!(reply.body, "<h1>Hello</h1>");
    let reply = get(&server, "/robots.txt");
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("text/plain; charset=utf-8")));
    assert_eq!(reply.body, "User-agent: *");
    assert_eq!(get(&server, "/raw-text/").body, "bytes");
    let reply = get(&server, "/string/");
    assert_eq!((reply.header("content-type"), reply.body.as_str()), (Some("application/json"), r#""still JSON""#));
    let reply = send(&server, "POST", "/created/", &[], b"");
    assert_eq!((reply.status, reply.header("content-type")), (201, Some("text/html; charset=utf-8")));
    assert_eq!(reply.body, "<p>made</p>");
}

#[test]
fn redirects_name_their_location() {
    support::logged();
    let server = start(Server::new());
    let out =
        raw(server.addr(), b"POST /logout/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 303 See Other\r\n"), "{out}");
    assert!(out.to_ascii_lowercase().contains("\r\nlocation: /\r\n"), "{out}");
    assert!(out.contains("\r\ncontent-length: 0\r\n"), "{out}");
    let client = TestClient::new(Server::new()).unwrap();
    let reply = client.get("/moved/temporary").send();
    assert_eq!((reply.status(), reply.header("location")), (StatusCode::TEMPORARY_REDIRECT, Some("/new")));
    let reply = client.get("/moved/permanent").send();
    assert_eq!((reply.status(), reply.header("location")), (StatusCode::PERMANENT_REDIRECT, Some("/new")));
    // A location that is no header value is a logged 500, never a panic or a broken head.
    let reply = client.get("/bad-redirect/").send();
    assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.header("location"), None);
    assert_eq!(reply.text(), r#"{"error":{"status":500,"message":"internal server error"}}"#);
    assert!(logged(r#"a redirect to \"/a\\nb\", which is no header value"#), "{}", support::logged());
}

#[test]
fn a_status_and_headers_go_around_any_response() {
    support::logged();
    let server = start(Server::new());
    let reply = get(&server, "/report/");
    assert_eq!((reply.status, reply.header("cache-control")), (202, Some("no-store")));
    assert_eq!((reply.header("content-type"), reply.json()), (Some("application/json"), json!({ "queued": true })));
    let reply = get(&server, "/with-map/");
    assert_eq!((reply.status, reply.header("x-served-by")), (200, Some("appserver")));
    assert_eq!((reply.header("content-type"), reply.body.as_str()), (Some("text/csv"), "a,b"), "the map's wins");
    let reply = get(&server, "/status-map/");
    assert_eq!((reply.status, reply.header("x-kind")), (418, Some("teapot")));
    assert_eq!(reply.json(), json!(["short", "stout"]));
    let reply = get(&server, "/response/");
    assert_eq!((reply.status, reply.body.as_str()), (202, "plain"));
    let client = TestClient::new(Server::new()).unwrap();
    let reply = client.get("/pairs/").send();
    let cookies: Vec<&str> = reply.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(cookies, ["theme=dark; Path=/", "session=s1; HttpOnly; SameSite=Lax; Secure"]);
    assert_eq!(reply.json::<Value>(), json!("set"));
    // A header value with a newline: a logged 500, not a panic, not the header.
    let reply = get(&server, "/bad-header/");
    assert_eq!((reply.status, reply.header("cache-control")), (500, None));
    assert_eq!(reply.error_message(500), "internal server error");
    assert!(logged("the value of the header cache-control is no header value"));
}

#[test]
fn cookies_are_read_from_every_cookie_header() {
    support::logged();
    let server = start(Server::new());
    let reply = send(&server, "GET", "/me/", &[("cookie", "a=1; theme=dark"), ("cookie", "b=2; broken")], b"");
    assert_eq!(reply.json(), json!({ "theme": "dark", "count": 3 }));
    assert_eq!(get(&server, "/me/").json(), json!({ "theme": null, "count": 0 }));
    let client = TestClient::new(Server::new()).unwrap();
    let reply = client.get("/me/").header("cookie", "theme=light").send();
    assert_eq!(reply.json::<Value>(), json!({ "theme": "light", "count": 1 }));
}

#[test]
fn a_handler_error_type_answers_with_its_own_response() {
    support::logged();
    let server = start(Server::new());
    assert_eq!(get(&server, "/items/1/").json(), json!({ "id": 1 }));
    assert_eq!(get(&server, "/items/7/").error_message(404), "no item 7");
    // Its own response may be a logged 500 that hides the cause.
    assert_eq!(get(&server, "/items/2/").error_message(500), "internal server error");
    assert!(logged(r#"handler failed status=500 error="the disk is on fire""#));
    // Any other std::error::Error stays a logged 500 whose text the client never sees.
    let reply = get(&server, "/io/");
    assert_eq!(reply.error_message(500), "internal server error");
    assert!(!reply.body.contains("never sees"));
    assert!(logged("an io error the client never sees"));
    // `?` on an io::Error in a handler that returns `appserver::Result`.
    assert_eq!(get(&server, "/question-mark/").error_message(500), "internal server error");
    let client = TestClient::new(Server::new()).unwrap();
    let reply = client.get("/created-or-not/yes").send();
    assert_eq!((reply.status(), reply.json::<Value>()), (StatusCode::CREATED, json!({ "made": true })));
    assert_eq!(client.get("/created-or-not/no").send().status(), StatusCode::NOT_FOUND);
}

#[test]
fn every_form_answers_the_same_over_a_socket_and_through_the_test_client() {
    support::logged();
    let server = start(Server::new());
    let client = TestClient::new(Server::new()).unwrap();
    let paths = [
        "/page/",
        "/robots.txt",
        "/raw-text/",
        "/string/",
        "/report/",
        "/with-map/",
        "/status-map/",
        "/pairs/",
        "/bad-header/",
        "/bad-redirect/",
        "/response/",
        "/me/",
        "/items/1/",
        "/items/7/",
        "/items/2/",
        "/io/",
        "/question-mark/",
        "/created-or-not/yes",
        "/created-or-not/no",
    ];
    for path in paths {
        let socket = get(&server, path);
        let test = client.get(path).send();
        assert_eq!(socket.status, test.status().as_u16(), "{path}");
        assert_eq!(socket.header("content-type"), test.header("content-type"), "{path}");
        for name in ["cache-control", "x-served-by", "x-kind", "location"] {
            assert_eq!(socket.header(name), test.header(name), "{path}: {name}");
        }
        let cookies = |headers: Vec<&str>| headers.join(" | ");
        assert_eq!(
            cookies(socket.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect()),
            cookies(test.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect()),
            "{path}"
        );
        assert_eq!(socket.body, test.text(), "{path}");
    }
}
