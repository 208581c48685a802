//! `appserver::run` in a real process: it logs where it listens, serves, and on SIGTERM or
//! SIGINT lets the request in flight finish and exits 0.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::raw;

/// Starts the `serve` binary on a free port; returns it and its address, read from its log.
fn serve() -> (Child, SocketAddr, std::thread::JoinHandle<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server logs where it listens").unwrap();
        if let Some(rest) = line.split("appserver listening addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    (child, addr, log)
}

fn stop_during_a_request(signal: &str) {
    let (mut child, addr, log) = serve();
    assert!(addr.ip().is_loopback(), "run binds 127.0.0.1");
    let out = raw(addr, b"GET /library/signals HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with(r#"{"from":"library","name":"signals"}"#), "{out}");

    let in_flight =
        std::thread::spawn(move || raw(addr, b"GET /sleep/500 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::thread::sleep(Duration::from_millis(150));
    let status = Command::new("kill").args(["-s", signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());

    let out = in_flight.join().unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("500"), "{out}");
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit}");
    let log = log.join().unwrap();
    assert!(log.contains(r#"appserver::access: method=GET path="/sleep/500" status=200"#), "{log}");
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn sigterm_finishes_requests_in_flight_and_exits_0() {
    stop_during_a_request("TERM");
}

#[test]
fn sigint_finishes_requests_in_flight_and_exits_0() {
    stop_during_a_request("INT");
}
