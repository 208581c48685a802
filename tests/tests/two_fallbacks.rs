//! Two `#[fallback]`s in one program are a startup error naming both.

use appserver::{Server, fallback, route};

#[route(GET, r"/")]
fn home() -> u8 {
    1
}

#[fallback]
fn first() -> u8 {
    1
}

#[fallback]
fn second() -> u8 {
    2
}

#[test]
fn two_fallbacks_do_not_start() {
    let error = Server::new().bind(([127, 0, 0, 1], 0)).start().unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "two fallbacks: two_fallbacks::first ({file}:10) and two_fallbacks::second ({file}:15); a program \
             has one `#[fallback]` at most",
            file = file!()
        )
    );
    assert_eq!(appserver::routes().unwrap_err().to_string(), error, "the route table says the same");
}
