//! Two handlers for the same pattern and method: the server refuses to start, naming both.

use appserver::{Server, route};

#[route(GET | POST, r"/items/")]
fn items() -> u8 {
    1
}

#[route(POST, r"/items/")]
fn more_items() -> u8 {
    2
}

#[route(PUT, r"/items/")]
fn replace_items() -> u8 {
    3
}

#[test]
fn duplicate_routes_are_a_startup_error_naming_both() {
    let err = Server::new().bind(([127, 0, 0, 1], 0)).start().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let message = err.to_string();
    assert!(message.contains(r#"duplicate route "/items/""#), "{message}");
    assert!(message.contains("duplicate_routes::items (tests/tests/duplicate_routes.rs:5)"), "{message}");
    assert!(message.contains("duplicate_routes::more_items (tests/tests/duplicate_routes.rs:10)"), "{message}");
    assert!(!message.contains("replace_items"), "PUT does not overlap: {message}");
    let _ = (items(), more_items(), replace_items());
}
