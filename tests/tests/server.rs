//! The server itself: body limits, graceful shutdown, many clients at once.

mod support;

use appserver::{Bytes, Server, route};
use std::thread;
use std::time::{Duration, Instant};
use support::{raw, send, start};

#[route(POST, r"/upload/")]
fn upload(body: Bytes) -> usize {
    body.len()
}

#[route(GET, r"/slow/(?P<millis>\d+)")]
fn slow(millis: u64) -> u64 {
    thread::sleep(Duration::from_millis(millis));
    millis
}

#[test]
fn bodies_up_to_the_limit_are_read() {
    let server = start(Server::new().max_body_bytes(1000));
    let reply = send(&server, "POST", "/upload/", &[], &[b'x'; 1000]);
    assert_eq!((reply.status, reply.body.as_str()), (200, "1000"));
}

#[test]
fn a_declared_body_over_the_limit_is_413_before_it_is_read() {
    let server = start(Server::new().max_body_bytes(1000));
    // Only the headers are sent: the answer must not wait for the 5000 bytes announced.
    let started = Instant::now();
    let out = raw(server.addr(), b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{out}");
    assert!(out.contains("\r\nconnection: close\r\n"), "{out}");
    assert!(
        out.ends_with(r#"{"error":{"status":413,"message":"request body is larger than the limit of 1000 bytes"}}"#),
        "{out}"
    );
}

#[test]
fn a_body_that_stops_arriving_is_408_after_body_timeout() {
    use std::io::{Read, Write};
    let server = start(Server::new().body_timeout(Duration::from_millis(300)));
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Half the body, then a pause longer than body_timeout: a 408, long before request_timeout.
    stream.write_all(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345").unwrap();
    let started = Instant::now();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    let took = started.elapsed();
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(out.ends_with(r#"{"error":{"status":408,"message":"the request body did not arrive in time"}}"#), "{out}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "{took:?}");
    // A body that keeps arriving, slower than body_timeout in all, is read.
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n").unwrap();
    for byte in [b"a", b"b", b"c", b"d"] {
        std::thread::sleep(Duration::from_millis(150));
        stream.write_all(byte).unwrap();
    }
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\n4"), "{out}");
}

#[test]
fn a_chunked_body_growing_past_the_limit_is_413() {
    let server = start(Server::new().max_body_bytes(1000));
    let chunk = format!("200\r\n{}\r\n", "y".repeat(0x200));
    let request = format!(
        "POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}{chunk}0\r\n\r\n"
    );
    let out = raw(server.addr(), request.as_bytes());
    assert!(out.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{out}");
    let request = format!(
        "POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}0\r\n\r\n"
    );
    let out = raw(server.addr(), request.as_bytes());
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("512"), "{out}");
}

#[test]
fn malformed_requests_get_an_answer_and_the_server_keeps_serving() {
    let server = start(Server::new());
    let out = raw(server.addr(), b"NOT HTTP AT ALL\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400 Bad Request"), "{out}");
    let reply = send(&server, "POST", "/upload/", &[], b"ok");
    assert_eq!(reply.body, "2");
}

#[test]
fn shutdown_lets_requests_in_flight_finish() {
    let server = start(Server::new());
    let addr = server.addr();
    let client = thread::spawn(move || raw(addr, b"GET /slow/400 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    thread::sleep(Duration::from_millis(150));
    let started = Instant::now();
    server.shutdown().expect("clean shutdown");
    assert!(started.elapsed() >= Duration::from_millis(150), "shutdown waited for the request");
    let out = client.join().unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("400"), "{out}");
    assert!(std::net::TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn many_clients_at_once() {
    let server = start(Server::new().workers(2));
    let addr = server.addr();
    let clients: Vec<_> = (0..32)
        .map(|i| {
            thread::spawn(move || {
                let request = format!("GET /slow/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                raw(addr, request.as_bytes())
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let out = client.join().unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with(&format!("\r\n\r\n{i}")), "{out}");
    }
}
