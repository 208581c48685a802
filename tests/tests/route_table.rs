//! The route table: every route in match order with its parameters, from code and from
//! `APPSERVER_PRINT_ROUTES`.

mod support;

use appserver::{Json, Query, route};
use serde_json::Value;
use support::{Process, scratch_dir};

// The library crate's routes.
use appserver_tests as _;

#[route(GET, r"/users/me")]
fn me() -> &'static str {
    "me"
}

#[route(GET | PUT, r"/users/(?P<id>[^/]+)")]
fn user(id: String, query: Query<Value>, _json: Json<Vec<(String, u32)>>) -> String {
    drop(query);
    id
}

#[test]
fn routes_are_listed_in_match_order_with_typed_parameters() {
    let table = appserver::routes().unwrap();
    let at = |pattern: &str| table.routes().iter().position(|r| r.pattern == pattern).unwrap();
    // More literal text first: /users/me before /users/(?P<id>...).
    assert!(at("/users/me") < at("/users/(?P<id>[^/]+)"));
    let user = &table.routes()[at("/users/(?P<id>[^/]+)")];
    assert_eq!((user.methods.as_str(), user.handler), ("GET, HEAD, PUT", "route_table::user"));
    assert_eq!((user.file, user.line), ("tests/tests/route_table.rs", 18));
    let shown: Vec<(&str, &str, bool)> = user.parameters.iter().map(|p| (p.name, p.ty, p.group)).collect();
    assert_eq!(
        shown,
        [("id", "String", true), ("query", "Query<Value>", false), ("_json", "Json<Vec<(String, u32)>>", false)]
    );
    let text = table.to_string();
    let line = text.lines().find(|l| l.contains("  route_table::user  ")).unwrap();
    assert!(
        line.contains("tests/tests/route_table.rs:18")
            && line
                .contains("id: String, query: Query<Value> (extractor), _json: Json<Vec<(String, u32)>> (extractor)")
            && line.ends_with("loses to route_table::me at /users/me"),
        "{text}"
    );
    assert!(text.starts_with("METHODS"), "{text}");
}

#[test]
fn print_routes_prints_the_table_and_exits_without_serving() {
    let Err((log, status)) = Process::try_start_in(&scratch_dir(), &[("APPSERVER_PRINT_ROUTES", "true")], &[]) else {
        panic!("it served")
    };
    assert!(status.success(), "{status:?}: {log}");
    let line = log.lines().find(|l| l.contains("appserver_tests::get_object")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.starts_with("GET, HEAD, POST  /(?P<object_type>\\w+)/get/(?P<object_id>\\d+)/"), "{line}");
    // `/fail/(?P<text>.+)` takes such paths too, and has less literal text.
    assert!(line.contains("  object_type: String, object_id: u64  "), "{line}");
    assert!(line.ends_with("  wins over appserver_tests::fail at /fail/get/0/"), "{line}");
    assert!(!log.contains("appserver listening"), "{log}");
}
