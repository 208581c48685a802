//! Bearer-token auth over real sockets: 401 with a challenge, 403 for a missing role,
//! tokens from code and from a file, secrets never shown, a startup check.

mod support;

use appserver::{Bearer, Role, Server, Tokens, route};
use support::{Reply, send, start};

struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
}

#[route(GET, r"/whoami")]
fn whoami(token: Bearer) -> String {
    token.name().to_owned()
}

#[route(DELETE, r"/queues/(?P<name>\w+)")]
fn drop_queue(name: String, admin: Bearer<Admin>) -> String {
    format!("{name} dropped by {}", admin.name())
}

const WORKER: &str = "worker-secret-0123456789";
const OPS: &str = "ops-secret-9876543210ab";

fn tokens() -> Tokens {
    Tokens::new().token("worker-1", WORKER, ["worker"]).token("ops", OPS, ["worker", "admin"])
}

fn with_auth(server: &appserver::RunningServer, method: &str, path: &str, authorization: &str) -> Reply {
    send(server, method, path, &[("authorization", authorization)], b"")
}

#[test]
fn bearer_tokens_are_required_checked_and_scoped() {
    let server = start(Server::new().auth_tokens(tokens()));
    let reply = send(&server, "GET", "/whoami", &[], b"");
    let message = reply.error_message(401);
    assert_eq!(message, "this route needs a bearer token: send `Authorization: Bearer <token>`");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="appserver""#));
    for wrong in ["Basic d29ya2VyOnNlY3JldA==", "Bearer", "Bearer ", "Bearerworker-secret-0123456789"] {
        let reply = with_auth(&server, "GET", "/whoami", wrong);
        assert_eq!(reply.status, 401, "{wrong}: {}", reply.body);
        assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="appserver""#), "{wrong}");
    }
    for wrong in ["Bearer worker-secret-012345678", "Bearer worker-secret-0123456789x", "Bearer ops-secret"] {
        let reply = with_auth(&server, "GET", "/whoami", wrong);
        assert_eq!(reply.error_message(401), "the bearer token is not valid", "{wrong}");
        assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="appserver", error="invalid_token""#));
    }
    let reply = with_auth(&server, "GET", "/whoami", &format!("Bearer {WORKER}"));
    assert_eq!((reply.status, reply.body.as_str()), (200, r#""worker-1""#));
    let reply = with_auth(&server, "GET", "/whoami", &format!("bearer   {OPS} "));
    assert_eq!((reply.status, reply.body.as_str()), (200, r#""ops""#), "the scheme is case-insensitive");

    let reply = with_auth(&server, "DELETE", "/queues/jobs", &format!("Bearer {WORKER}"));
    assert_eq!(reply.error_message(403), "this route needs a token with the role `admin`");
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="appserver", error="insufficient_scope""#));
    let reply = with_auth(&server, "DELETE", "/queues/jobs", &format!("Bearer {OPS}"));
    assert_eq!((reply.status, reply.body.as_str()), (200, r#""jobs dropped by ops""#));
}

#[test]
fn a_route_that_takes_bearer_on_a_server_without_tokens_stops_the_start() {
    let err = Server::new().bind(([127, 0, 0, 1], 0)).start().unwrap_err().to_string();
    assert!(err.contains("auth::whoami (tests/tests/auth.rs:"), "{err}");
    assert!(
        err.contains("takes `Bearer`, but the server has no tokens: set `auth_tokens` or `auth_tokens_file`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 3, "every such route is named: {err}");
}

#[test]
fn tokens_from_a_file_join_those_set_and_secrets_are_never_shown() {
    let dir = support::scratch_dir();
    let file = dir.join("tokens.toml");
    std::fs::write(&file, format!("[[tokens]]\nname = \"ops\"\ntoken = \"{OPS}\"\nroles = [\"admin\"]\n")).unwrap();
    let settings = Server::new()
        .auth_tokens(Tokens::new().token("worker-1", WORKER, ["worker"]))
        .auth_tokens_file(Some(file.clone()));
    let shown = format!("{settings:?}");
    assert!(!shown.contains(WORKER) && shown.contains("worker-1"), "{shown}");
    let server = start(settings);
    let reply = with_auth(&server, "DELETE", "/queues/q", &format!("Bearer {OPS}"));
    assert_eq!((reply.status, reply.body.as_str()), (200, r#""q dropped by ops""#));
    assert_eq!(with_auth(&server, "GET", "/whoami", &format!("Bearer {WORKER}")).status, 200);

    // A token too short, or used twice: one line naming the file, and no secret.
    std::fs::write(&file, "[[tokens]]\nname = \"weak\"\ntoken = \"short-secret\"\n").unwrap();
    let err = Server::new().auth_tokens_file(Some(file.clone())).bind(([127, 0, 0, 1], 0)).start();
    let err = err.unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:1: invalid value (secret) for `", file.display())), "{err}");
    assert!(!err.contains("short-secret"), "{err}");
    let err = Server::new()
        .auth_tokens(Tokens::new().token("a", WORKER, ["x"]).token("b", WORKER, ["y"]))
        .bind(([127, 0, 0, 1], 0))
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("set in code: invalid value {\"a\": [\"x\"], \"b\": [\"y\"]} for `auth_tokens`"), "{err}");
    assert!(!err.contains(WORKER), "{err}");
}

#[route(POST, r"/notes")]
fn add_note(token: Bearer, note: appserver::Json<serde_json::Value>) -> String {
    format!("{} wrote {}", token.name(), note.0)
}

#[test]
fn the_token_is_checked_before_the_body_is_read() {
    use std::io::{Read, Write};
    let server = start(Server::new().auth_tokens(tokens()));
    // Bad JSON without a token: the 401, not the parser's 400.
    let reply = send(&server, "POST", "/notes", &[("content-type", "application/json")], b"{bad");
    assert_eq!(reply.error_message(401), "this route needs a bearer token: send `Authorization: Bearer <token>`");
    assert_eq!(reply.header("connection"), Some("close"), "the body is left unread");
    // A MiB announced and never sent: the 401 comes at once, without waiting for it.
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let head = "POST /notes HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1048576\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    // With the token, the body is read and parsed as before.
    let authorization = format!("Bearer {WORKER}");
    let headers = [("authorization", authorization.as_str()), ("content-type", "application/json")];
    let reply = send(&server, "POST", "/notes", &headers, br#"{"a":1}"#);
    assert_eq!((reply.status, reply.body.as_str()), (200, r#""worker-1 wrote {\"a\":1}""#));
    assert_eq!(send(&server, "POST", "/notes", &headers, b"{bad").status, 400);
}

#[test]
fn two_authorization_headers_are_a_400() {
    let server = start(Server::new().auth_tokens(tokens()));
    let request = format!(
        "GET /whoami HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {WORKER}\r\nauthorization: Bearer {OPS}\r\n\
         connection: close\r\n\r\n"
    );
    let answer = support::raw(server.addr(), request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(
        answer.contains(r#"{"error":{"status":400,"message":"send one `Authorization` header, not several"}}"#),
        "{answer}"
    );
    assert!(answer.contains(r#"www-authenticate: Bearer realm="appserver", error="invalid_request""#), "{answer}");
}
