//! A binary that defines no route and names no crate that does: the library crate of this
//! package holds routes, but as nothing here names it, it is not linked and its routes are
//! absent. The server must say so instead of serving 404s.

#[test]
fn no_routes_is_a_startup_error_that_explains_linking() {
    let err = appserver::Server::new().bind(([127, 0, 0, 1], 0)).start().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let message = err.to_string();
    assert!(message.starts_with("no routes are registered"), "{message}");
    assert!(message.contains("use my_routes as _;"), "{message}");
}
