//! Server-Sent Events: `text/event-stream`, events as they come, multi-line data, comments
//! while idle, and `Last-Event-ID`.

mod support;

use appserver::sse::{Event, Sse};
use appserver::{HeaderMap, Server, TestClient, route};
use futures_util::Stream;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::start;

#[route(GET, r"/events/")]
async fn events(headers: HeaderMap) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
    let events = futures_util::stream::unfold(0, move |n| {
        let last = last.clone();
        async move {
            let event = match n {
                0 => Event::default().event("hello").data(format!("after {last}")).id("1"),
                1 => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Event::default().data("two\nlines").id("2\n3").retry(Duration::from_millis(1500))
                }
                _ => return None,
            };
            Some((Ok(event), n + 1))
        }
    });
    Sse::new(events)
}

#[route(GET, r"/quiet/")]
fn quiet() -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(futures_util::stream::pending()).keep_alive(Duration::from_millis(100))
}

/// Reads from `stream` until `out` contains `needle`; returns when it came.
fn read_until(stream: &mut TcpStream, out: &mut String, needle: &str) -> Instant {
    let mut buf = [0u8; 4096];
    while !out.contains(needle) {
        let n = stream.read(&mut buf).unwrap_or_else(|e| panic!("{e}: no {needle:?} in {out:?}"));
        assert!(n > 0, "closed before {needle:?}: {out:?}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Instant::now()
}

fn open(server: &appserver::RunningServer, path: &str, extra: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n").unwrap();
    stream
}

#[test]
fn events_arrive_as_they_are_made_in_the_event_stream_format() {
    let server = start(Server::new());
    let mut stream = open(&server, "/events/", "Last-Event-ID: 41\r\n");
    let mut out = String::new();
    let first = read_until(&mut stream, &mut out, "event: hello\ndata: after 41\nid: 1\n\n");
    let head = out.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{out}");
    assert!(
        head.contains("content-type: text/event-stream\r\n") && head.contains("cache-control: no-cache\r\n"),
        "{out}"
    );
    assert!(!out.contains("two"), "the second event is not made yet: {out}");
    let second = read_until(&mut stream, &mut out, "data: two\ndata: lines\nid: 23\nretry: 1500\n\n");
    assert!(second - first >= Duration::from_millis(250), "sent as made, not buffered: {:?}", second - first);
    read_until(&mut stream, &mut out, "0\r\n\r\n");
}

#[test]
fn an_idle_stream_gets_comments() {
    let server = start(Server::new());
    let mut stream = open(&server, "/quiet/", "");
    let mut out = String::new();
    let started = Instant::now();
    read_until(&mut stream, &mut out, ":\n\n");
    read_until(&mut stream, &mut out, "\r\n:\n\n\r\n3\r\n:\n\n");
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
}

#[test]
fn request_timeout_does_not_cut_a_stream() {
    let server = start(Server::new().request_timeout(Duration::from_millis(200)));
    let mut stream = open(&server, "/quiet/", "");
    let mut out = String::new();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while started.elapsed() < Duration::from_millis(700) {
        let n = stream.read(&mut buf).expect("the stream stays open");
        assert!(n > 0, "closed: {out:?}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.matches(":\n\n").count() >= 6, "comments every 100 ms for 700 ms: {out:?}");
    assert!(!out.contains("503"), "{out}");
}

#[test]
fn the_test_client_reads_the_events() {
    let client = TestClient::new(Server::new()).unwrap();
    let reply = client.get("/events/").send();
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        reply.text(),
        "event: hello\ndata: after none\nid: 1\n\ndata: two\ndata: lines\nid: 23\nretry: 1500\n\n"
    );
}
