//! Streamed response bodies: chunked on HTTP/1.1, sent as produced, and held back by a slow
//! client rather than buffered.

mod support;

use appserver::{Body, Bytes, Response, Server, State, TestClient, route};
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::start;
use tokio::sync::Notify;

/// Lets the test say when the second chunk may be produced.
#[derive(Default)]
struct Gate(Arc<Notify>);

#[route(GET, r"/two-chunks/")]
fn two_chunks(gate: State<Gate>) -> Response {
    let gate = Arc::clone(&gate.0.0);
    let chunks = futures_util::stream::unfold(0, move |step| {
        let gate = Arc::clone(&gate);
        async move {
            match step {
                0 => Some((Ok::<_, Infallible>(Bytes::from("first\n")), 1)),
                1 => {
                    gate.notified().await;
                    Some((Ok(Bytes::from("second\n")), 2))
                }
                _ => None,
            }
        }
    });
    Response::new(Body::from_stream(chunks))
}

/// Bytes the endless stream has produced.
#[derive(Default)]
struct Produced(Arc<AtomicUsize>);

#[route(GET, r"/endless/")]
fn endless(produced: State<Produced>) -> Response {
    let produced = Arc::clone(&produced.0.0);
    let chunks = futures_util::stream::repeat_with(move || {
        produced.fetch_add(64 << 10, Ordering::Relaxed);
        Ok::<_, Infallible>(Bytes::from(vec![b'x'; 64 << 10]))
    });
    Response::new(Body::from_stream(chunks))
}

fn server() -> (Server, Arc<Notify>, Arc<AtomicUsize>) {
    let (gate, produced) = (Gate::default(), Produced::default());
    let (notify, count) = (Arc::clone(&gate.0), Arc::clone(&produced.0));
    (Server::new().state(gate).state(produced), notify, count)
}

/// Reads from `stream` until `out` contains `needle`, at most 5 s.
fn read_until(stream: &mut TcpStream, out: &mut Vec<u8>, needle: &str) {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(out).contains(needle) {
        assert!(started.elapsed() < Duration::from_secs(5), "no {needle:?} in {:?}", String::from_utf8_lossy(out));
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before {needle:?}: {:?}", String::from_utf8_lossy(out));
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn the_first_chunk_is_sent_before_the_last_is_produced() {
    let (server, gate, _) = server();
    let server = start(server);
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"GET /two-chunks/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    read_until(&mut stream, &mut out, "first\n");
    let head = String::from_utf8_lossy(&out).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n") && head.contains("transfer-encoding: chunked\r\n"), "{head}");
    assert!(!head.contains("second"), "the second chunk is not produced yet");
    gate.notify_one();
    read_until(&mut stream, &mut out, "0\r\n\r\n");
    assert!(
        String::from_utf8_lossy(&out).ends_with("6\r\nfirst\n\r\n7\r\nsecond\n\r\n0\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_client_that_does_not_read_holds_the_stream_back() {
    let (server, _, produced) = server();
    let server = start(server);
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.write_all(b"GET /endless/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = Vec::new();
    read_until(&mut stream, &mut out, "\r\n\r\n");
    // Reading nothing more: the server stops producing once the socket's buffers are full.
    std::thread::sleep(Duration::from_millis(500));
    let first = produced.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(500));
    let second = produced.load(Ordering::Relaxed);
    assert_eq!(first, second, "the stream went on while the client read nothing");
    assert!(second < 64 << 20, "{second} bytes produced for a client that read nothing");
    // Reading again lets it go on.
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0;
    while read < 16 << 20 {
        read += stream.read(&mut buf).unwrap();
    }
    assert!(produced.load(Ordering::Relaxed) > second, "reading lets the stream go on");
    println!("held back at {second} bytes produced");
}

#[test]
fn the_test_client_reads_a_streamed_body_whole() {
    let (server, gate, _) = server();
    gate.notify_one();
    let client = TestClient::new(server).unwrap();
    assert_eq!(client.get("/two-chunks/").send().text(), "first\nsecond\n");
}

#[test]
fn a_streamed_body_goes_out_as_http2_data_frames() {
    let (server, gate, _) = server();
    gate.notify_one();
    let server = start(server.http2(true));
    let out = std::process::Command::new("curl")
        .args(["-s", "-N", "--http2-prior-knowledge", "-o", "-", "-w", "%{http_version} %{http_code}"])
        .arg(format!("http://{}/two-chunks/", server.addr()))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\nsecond\n2 200");
}
