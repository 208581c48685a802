//! Request bodies beyond the server's limit: a route's own `max_body_bytes`, and a body read
//! as it arrives (`BodyStream`), over real sockets.

mod support;

use appserver::{BodyStream, Bytes, Error, Server, route};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::{Process, raw, rss_mib, send, start};

// The library's routes: `/upload/` takes `Bytes` within the server's limit.
use appserver_tests as _;

#[route(POST, r"/small-stream/", max_body_bytes = 1000)]
async fn small_stream(mut body: BodyStream) -> Result<String, Error> {
    let mut total = 0;
    while let Some(chunk) = body.chunk().await {
        total += chunk?.len();
    }
    Ok(format!("{total} bytes"))
}

#[route(POST, r"/first-chunk/")]
async fn first_chunk(mut body: BodyStream) -> String {
    match body.chunk().await {
        Some(Ok(chunk)) => format!("{} bytes first", chunk.len()),
        _ => "nothing".to_owned(),
    }
}

#[route(POST, r"/large/", max_body_bytes = 4_000_000)]
fn large(body: Bytes) -> usize {
    body.len()
}

#[test]
fn a_route_raises_its_own_body_limit() {
    let server = start(Server::new());
    let body = vec![b'x'; 2_000_000];
    let reply = send(&server, "POST", "/large/", &[], &body);
    assert_eq!((reply.status, reply.body.as_str()), (200, "2000000"));
    // The server's limit (1 MiB) still holds elsewhere.
    let out = raw(server.addr(), b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    let out = raw(server.addr(), b"POST /large/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4000001\r\n\r\n");
    assert!(out.ends_with(r#""request body is larger than the limit of 4000000 bytes"}}"#), "{out}");
}

#[test]
fn a_streamed_body_is_read_within_its_limit_and_past_it_is_a_413_that_closes() {
    let server = start(Server::new());
    let reply = send(&server, "POST", "/small-stream/", &[], &[b'x'; 900]);
    assert_eq!((reply.status, reply.body.as_str()), (200, r#""900 bytes""#));
    // Declared too large: refused before it is read.
    let started = Instant::now();
    let out = raw(server.addr(), b"POST /small-stream/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Chunked past the limit: the handler's `?` answers 413, and the connection closes.
    let mut chunked = b"POST /small-stream/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(format!("3e8\r\n{}\r\n", "y".repeat(1000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let out = raw(server.addr(), &chunked);
    assert!(out.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{out}");
    assert!(out.contains("\r\nconnection: close\r\n"), "{out}");
    assert!(out.ends_with(r#""request body is larger than the limit of 1000 bytes"}}"#), "{out}");
    // A handler that stops reading early answers, and closes the connection, half-read.
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"POST /first-chunk/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n").unwrap();
    stream.write_all(&[b'z'; 1000]).unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nconnection: close\r\n") && out.ends_with(r#"bytes first""#), "{out}");
}

#[test]
fn a_one_gib_upload_read_as_a_stream_keeps_the_server_small() {
    let server = Process::start(&[("APPSERVER_WORKERS", "2"), ("RUST_LOG", "warn,appserver::serve::boot=info")]);
    let (addr, pid) = (server.addr(), server.pid());
    const SIZE: usize = 1 << 30;
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = std::sync::Arc::clone(&sampling);
        std::thread::spawn(move || {
            let mut most = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(rss_mib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            most
        })
    };
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(stream, "POST /stream-upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let chunk = vec![b'u'; 1 << 20];
    for _ in 0..SIZE / chunk.len() {
        stream.write_all(&chunk).unwrap();
    }
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().unwrap();
    println!("1 GiB streamed to a BodyStream route in {:?}; server RSS at most {most} MiB", started.elapsed());
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with(&format!("\r\n\r\n{SIZE}")), "{out}");
    assert!(most < 64, "RSS {most} MiB");
}
