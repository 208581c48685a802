//! `#[scope]`: a pattern joined before every route of a module, checked at compile time,
//! nested, with guards.

mod support;

use appserver::{Role, Server, StatusCode, TestClient, Tokens};
use serde_json::{Value, json};
use support::{get, send, start};

/// The role of the shops' admins.
pub(crate) struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
}

#[appserver::scope(r"/shops/(?P<shop>[a-z0-9-]+)")]
mod shops {
    use appserver::route;
    use serde_json::{Value, json};

    #[route(GET, r"/orders/(?P<order>\d+)")]
    pub(crate) fn order(shop: String, order: u64) -> Value {
        json!({ "shop": shop, "order": order })
    }

    #[route(GET, r"")]
    pub(crate) async fn shop(shop: String) -> Value {
        json!({ "shop": shop })
    }

    #[appserver::scope(r"/admin", guard = appserver::Bearer<crate::Admin>)]
    mod admin {
        use appserver::route;
        use serde_json::{Value, json};

        #[route(DELETE, r"/orders/(?P<order>\d+)")]
        pub(crate) fn cancel(shop: String, order: u64) -> Value {
            json!({ "cancelled": order, "shop": shop })
        }

        #[route(GET, r"/report")]
        pub(crate) async fn report(shop: String) -> Value {
            json!({ "report": shop })
        }
    }
}

fn server() -> Server {
    Server::new().auth_tokens(Tokens::new().token("ops", "0123456789abcdef-admin", ["admin"]).token(
        "clerk",
        "0123456789abcdef-clerk",
        ["clerk"],
    ))
}

#[test]
fn the_scopes_pattern_and_groups_come_first() {
    let server = start(server());
    assert_eq!(get(&server, "/shops/acme/orders/7").json(), json!({ "shop": "acme", "order": 7 }));
    assert_eq!(get(&server, "/shops/acme").json(), json!({ "shop": "acme" }));
    get(&server, "/shops/ACME/orders/7").error_message(404);
    get(&server, "/orders/7").error_message(404);
}

#[test]
fn a_nested_scope_joins_both_and_its_guard_runs_first() {
    let client = TestClient::new(server()).unwrap();
    let reply = client.delete("/shops/acme/admin/orders/7").send();
    assert_eq!((reply.status(), reply.header("www-authenticate").is_some()), (StatusCode::UNAUTHORIZED, true));
    let reply =
        client.delete("/shops/acme/admin/orders/7").header("authorization", "Bearer 0123456789abcdef-clerk").send();
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);
    let reply =
        client.delete("/shops/acme/admin/orders/7").header("authorization", "Bearer 0123456789abcdef-admin").send();
    assert_eq!((reply.status(), reply.json::<Value>()), (StatusCode::OK, json!({ "cancelled": 7, "shop": "acme" })));
    // In an async fn too.
    assert_eq!(client.get("/shops/acme/admin/report").send().status(), StatusCode::UNAUTHORIZED);
    let server = start(server());
    let reply =
        send(&server, "GET", "/shops/acme/admin/report", &[("authorization", "Bearer 0123456789abcdef-admin")], b"");
    assert_eq!(reply.json(), json!({ "report": "acme" }));
}

#[test]
fn the_route_table_and_the_openapi_document_show_the_joined_patterns() {
    let table = appserver::routes().unwrap();
    let patterns: Vec<&str> = table.routes().iter().map(|r| r.pattern).collect();
    assert!(patterns.contains(&r"/shops/(?P<shop>[a-z0-9-]+)/admin/orders/(?P<order>\d+)"), "{patterns:?}");
    assert!(patterns.contains(&r"/shops/(?P<shop>[a-z0-9-]+)/orders/(?P<order>\d+)"), "{patterns:?}");
    let document = appserver::openapi("shops", "1").unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.contains_key("/shops/{shop}/orders/{order}"), "{:?}", paths.keys());
    assert!(paths.contains_key("/shops/{shop}/admin/orders/{order}"), "{:?}", paths.keys());
}

#[test]
fn a_guard_needs_its_state_at_startup() {
    let error = TestClient::new(Server::new()).unwrap_err().to_string();
    assert!(error.contains("takes `Bearer`, but the server has no tokens"), "{error}");
}
