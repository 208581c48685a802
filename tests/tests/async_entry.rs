//! Serving from a program's own tokio runtime: `serve_on` and `serve_async`, and `serve`
//! refusing (rather than blocking a runtime thread) when called inside one.

mod support;

use appserver::Server;
use std::time::{Duration, Instant};
use support::{Process, raw, wait_for};

// The routes of the library crate.
use appserver_tests as _;

#[tokio::test]
async fn serve_inside_a_runtime_is_a_clear_error_not_a_panic_or_a_hang() {
    let err = Server::new().bind(([127, 0, 0, 1], 0)).serve().unwrap_err().to_string();
    assert_eq!(
        err,
        "Server::serve blocks its thread, and this one runs a tokio runtime: call `Server::serve_async().await` \
         (or `serve_on`) instead"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_uses_the_callers_runtime_and_listener_until_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(Server::new().serve_on(listener, async move { drop(stopped.await) }));
    let get = |path: &'static str| {
        tokio::task::spawn_blocking(move || {
            raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        })
    };
    let out = get("/person/get/5/").await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with(r#"{"object_type":"person","object_id":5}"#), "{out}");
    // A request in flight when shutdown comes is answered, then serve_on returns.
    let in_flight = get("/async-sleep/300");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let began = Instant::now();
    stop.send(()).unwrap();
    let out = in_flight.await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("300"), "{out}");
    served.await.unwrap().unwrap();
    assert!(began.elapsed() < Duration::from_secs(2), "{:?}", began.elapsed());
    assert!(std::net::TcpStream::connect(addr).is_err(), "the listener is closed");
}

#[test]
fn serve_async_from_tokio_main_serves_until_sigterm() {
    let mut server = Process::start(&[("SERVE_ASYNC", "1")]);
    let out = raw(server.addr(), b"GET /library/tokio HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.ends_with(r#"{"from":"library","name":"tokio"}"#), "{out}");
    assert!(server.log().contains("serving with serve_async"), "{}", server.log());
    Process::kill(server.pid(), "TERM");
    let status = server.wait(Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    wait_for(|| server.log().contains("shutting down"), "the graceful shutdown is logged");
}
