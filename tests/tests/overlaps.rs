//! Routes that can match the same path where only the pattern text decides: a warning
//! with a path both match, or with `strict_routes` an error; intended overlaps (more
//! literal text wins) are neither.

mod support;

use appserver::{Server, TestClient, route};

#[route(GET, r"/files/(?P<name>[a-z]+)")]
fn by_name(name: String) -> String {
    format!("name {name}")
}

#[route(GET, r"/files/(?P<id>[a-z0-9]+)")]
fn by_id(id: String) -> String {
    format!("id {id}")
}

#[route(GET, r"/users/me")]
fn me() -> &'static str {
    "me"
}

#[route(GET, r"/users/(?P<id>[^/]+)")]
fn user(id: String) -> String {
    id
}

#[test]
fn strict_routes_refuses_a_tie_naming_both_routes_and_a_path_both_match() {
    // Before any server installs its own subscriber: the other test reads the log.
    support::logged();
    let err = Server::new().strict_routes(true).bind(([127, 0, 0, 1], 0)).start().unwrap_err().to_string();
    assert_eq!(err.lines().count(), 1, "only the tie, not /users/me: {err}");
    assert!(
        err.starts_with("overlaps::by_id (tests/tests/overlaps.rs:14) and overlaps::by_name (tests/tests/overlaps.rs:9) both match \"/files/a\""),
        "{err}"
    );
    assert!(err.contains("overlaps::by_id wins by its pattern text"), "{err}");
}

#[test]
fn without_strict_routes_the_tie_is_served_as_the_table_orders_it() {
    support::logged();
    let client = TestClient::new(Server::new()).unwrap();
    // The tie is a warning, naming both routes, a path both match and the winner; the
    // intended overlap of /users/me is not.
    let log = support::logged();
    let warned: Vec<&str> = log.lines().filter(|l| l.contains("WARN") && l.contains("both match")).collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains("overlaps::by_id (tests/tests/overlaps.rs:14) and overlaps::by_name (tests/tests/overlaps.rs:9) both match \"/files/a\"")
            && warned[0].ends_with("(strict_routes = true makes this an error)"),
        "{log}"
    );
    assert_eq!(client.get("/files/a").send().text(), r#""id a""#);
    assert_eq!(client.get("/users/me").send().text(), r#""me""#);
    assert_eq!(client.get("/users/ann").send().text(), r#""ann""#);
    let table = appserver::routes().unwrap();
    let order: Vec<&str> = table.routes().iter().map(|r| r.handler).collect();
    assert_eq!(order, ["overlaps::me", "overlaps::by_id", "overlaps::by_name", "overlaps::user"]);
    // The table lists every overlap, the intended one too.
    let me = &table.routes()[0];
    let shown: Vec<(&str, &str, bool)> = me.overlaps.iter().map(|o| (o.handler, o.witness.as_str(), o.wins)).collect();
    assert_eq!(shown, [("overlaps::user", "/users/me", true)]);
    let user = &table.routes()[3];
    let shown: Vec<(&str, &str, bool)> =
        user.overlaps.iter().map(|o| (o.handler, o.witness.as_str(), o.wins)).collect();
    assert_eq!(shown, [("overlaps::me", "/users/me", false)]);
    let by_name = &table.routes()[2];
    assert_eq!(by_name.overlaps[0].handler, "overlaps::by_id");
    assert!(!by_name.overlaps[0].wins);
    let text = table.to_string();
    let line = text.lines().find(|l| l.contains("overlaps::me  ")).unwrap();
    assert!(line.ends_with("wins over overlaps::user at /users/me"), "{text}");
}
