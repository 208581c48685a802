//! `FromRequestAsync`: an extractor that waits (a guard that looks its caller up), in an
//! `async fn` handler, beside the sync extractors and the route's groups.

mod support;

use appserver::{Error, FromRequestAsync, Json, Request, Server, State, StatusCode, TestClient, route};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use support::{get, send, start};

/// The "database": members by key.
struct Members(HashMap<&'static str, &'static str>);

fn members() -> Members {
    Members(HashMap::from([("sesame", "ali")]))
}

/// A member, looked up by the `x-api-key` header after a wait, as a database would answer.
struct Member(&'static str);

impl FromRequestAsync for Member {
    fn from_request(request: &Request) -> impl Future<Output = Result<Self, Error>> + Send + 'static {
        let key = request.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let members: Option<Arc<Members>> = request.state::<Members>();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let name = members.zip(key).and_then(|(members, key)| members.0.get(key.as_str()).copied());
            name.map(Member).ok_or_else(|| Error::new(StatusCode::FORBIDDEN, "members only"))
        }
    }
}

#[route(GET, r"/lounge/(?P<seat>\d{1,3})")]
async fn lounge(seat: u8, member: Member, members: State<Members>) -> Value {
    json!({ "member": member.0, "seat": seat, "members": members.0.0.len() })
}

#[route(POST, r"/echo/")]
async fn echo(body: Json<Value>) -> Value {
    body.0
}

#[test]
fn an_async_extractor_waits_and_guards() {
    let server = start(Server::new().state(members()));
    let reply = send(&server, "GET", "/lounge/12", &[("x-api-key", "sesame")], b"");
    assert_eq!((reply.status, reply.json()), (200, json!({ "member": "ali", "seat": 12, "members": 1 })));
    assert_eq!(get(&server, "/lounge/12").error_message(403), "members only");
    // The parameters fail in their order: the group first.
    let message = get(&server, "/lounge/999").error_message(400);
    assert!(message.starts_with("invalid value for parameter `seat`"), "{message}");
    // Sync extractors in an async fn work as before.
    let client = TestClient::new(Server::new().state(members())).unwrap();
    let reply = client.post("/echo/").json(&json!([1, 2])).send();
    assert_eq!((reply.status(), reply.json::<Value>()), (StatusCode::OK, json!([1, 2])));
    assert_eq!(client.post("/echo/").body("[1]").send().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn the_state_an_async_handlers_extractors_need_is_checked_at_startup() {
    let error = TestClient::new(Server::new()).unwrap_err().to_string();
    assert!(
        error.contains("takes `State<async_extractors::Members>`, but no state of that type was registered"),
        "{error}"
    );
}
