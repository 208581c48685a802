//! A server as an application runs it: `appserver::run` until a signal. The tests start it
//! as a process, read its address from the log, and stop it with SIGTERM or SIGINT.
//!
//! Run with: cargo run -p appserver-tests --bin serve [PORT]

use appserver::{ServerType, route};

// The routes of the library crate (`/library/...`) are served too.
use appserver_tests as _;

/// A request that is still in flight when the signal arrives.
#[route(GET, r"/sleep/(?P<millis>\d+)")]
fn sleep(millis: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(millis));
    millis
}

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).map_or(Ok(0), |p| p.parse()).expect("PORT is a number");
    appserver::run(port, ServerType::Threaded)
}
