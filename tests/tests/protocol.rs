//! HTTP/1.1 at the edges: transfer codings and expectations the server does not
//! support, and a seeded fuzz test of mutated requests over raw sockets against both
//! server types.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::{Process, raw, timed_get};

fn json_error(out: &str, status: u16, message: &str) {
    assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
    assert!(out.contains("\r\ncontent-type: application/json\r\n"), "{out}");
    assert!(out.ends_with(&format!(r#"{{"error":{{"status":{status},"message":"{message}"}}}}"#)), "{out}");
}

#[test]
fn unsupported_transfer_codings_are_501_and_unknown_expectations_417() {
    let server = Process::start(&[]);
    let addr = server.addr();
    let chunked = "5\r\nhello\r\n0\r\n\r\n";
    let out = raw(
        addr,
        format!("POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{chunked}").as_bytes(),
    );
    json_error(
        &out,
        501,
        r#"transfer coding \"gzip, chunked\" is not supported: send the body with Content-Length or Transfer-Encoding: chunked alone"#,
    );
    assert!(out.contains("\r\nconnection: close\r\n"), "{out}");
    let out = raw(addr, b"POST /upload/ HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello");
    json_error(&out, 417, "the only expectation this server meets is `Expect: 100-continue`");
    // What is supported still works: chunked alone, and 100-continue.
    let out = raw(
        addr,
        format!(
            "POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunked}"
        )
        .as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 200 ") && out.ends_with("\r\n\r\n5"), "{out}");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut continued = [0; 25];
    stream.read_exact(&mut continued).unwrap();
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 ") && out.ends_with("\r\n\r\n5"), "{out}");
}

#[test]
fn what_hyper_answers_itself_has_no_body_and_closes() {
    // The cases README.md lists: an unparseable request (400), a URI over 65,534 bytes
    // (414; only reachable with max_header_bytes above 64 KiB), a head over
    // max_header_bytes (431).
    let server = Process::start(&[("APPSERVER_MAX_HEADER_BYTES", "131072")]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let big_head = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(140_000));
    for (request, status) in [
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), "400 Bad Request"),
        (long_uri.into_bytes(), "414 URI Too Long"),
        (big_head.into_bytes(), "431 Request Header Fields Too Large"),
    ] {
        let out = raw(server.addr(), &request);
        assert!(out.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{out}");
        assert!(out.ends_with("\r\n\r\n") && out.contains("content-length: 0\r\n"), "{out}");
    }
    assert!(timed_get(server.addr(), "/library/after").0.starts_with("HTTP/1.1 200 "));
}

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Valid requests to mutate: no route of these sleeps.
const SEEDS: &[&str] = &[
    "GET /person/get/123/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /person/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"name\":\"Ada\",\"age\":36}",
    "POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HEAD /library/abc HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    "GET /library/abc?x=1&y=%41 HTTP/1.0\r\n\r\n",
    "DELETE /person/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
    "GET /pid HTTP/1.1\r\nHost: x\r\n\r\nGET /library/two HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "GET /panic/ HTTP/1.1\r\nHost: x\r\n\r\n",
];

/// Bytes that make parsers think.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b" ",
    b":",
    b"%",
    b"%00",
    b"%0a",
    b"\xff",
    b"\xc3\xa9",
    b"chunked",
    b"gzip, ",
    b"\r\nTransfer-Encoding: chunked",
    b"\r\nContent-Length: 99999999999999999999",
    b"\r\nContent-Length: -1",
    b"\r\nHost: y",
    b"\r\nExpect: 200-ok",
    b"ffffffffffffffff\r\n",
    b"0\r\n\r\n",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"/../..",
    b"\t",
];

fn mutate(random: &mut Random) -> Vec<u8> {
    let mut request = random.pick(SEEDS).as_bytes().to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(request.len() + 1);
        match random.below(6) {
            0 if at < request.len() => request[at] = random.next() as u8,
            1 => request.splice(at..at, random.pick(TOKENS).iter().copied()).for_each(drop),
            2 => request.truncate(at),
            3 => {
                let end = (at + random.below(16)).min(request.len());
                request.drain(at..end);
            }
            4 => {
                let end = (at + random.below(32)).min(request.len());
                let copy = request[at..end].to_vec();
                request.splice(at..at, copy).for_each(drop);
            }
            _ => request.splice(at..at, random.pick(SEEDS).bytes()).for_each(drop),
        }
    }
    request
}

/// Sends `request`, closes the writing side, and reads all: the status codes answered.
fn exchange(addr: SocketAddr, request: &[u8]) -> Result<Vec<u16>, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return Err(format!("no answer and no close within 5 s; read {:?}", String::from_utf8_lossy(&out)));
        }
        _ => {}
    }
    let text = String::from_utf8_lossy(&out);
    Ok(text.match_indices("HTTP/1.").filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok()).collect())
}

#[test]
fn mutated_requests_never_crash_the_server_nor_get_a_5xx_but_from_a_panicking_route() {
    for (mode, seed, count) in [("threaded", 0x5eed_0001_u64, 2500), ("forked", 0x5eed_0002, 1500)] {
        let server = Process::start(&[
            ("APPSERVER_SERVER_TYPE", mode),
            ("APPSERVER_WORKERS", "2"),
            ("APPSERVER_REQUEST_TIMEOUT", "1"),
            ("APPSERVER_HEADER_TIMEOUT", "1"),
            ("RUST_LOG", "warn,appserver::serve::boot=info"),
        ]);
        let addr = server.addr();
        support::wait_for(|| mode == "threaded" || server.children().len() == 2, "the workers start");
        let workers = server.children();
        let mut random = Random(seed);
        let started = Instant::now();
        let mut statuses = std::collections::BTreeMap::new();
        for i in 0..count {
            let request = mutate(&mut random);
            let answered = exchange(addr, &request).unwrap_or_else(|e| {
                panic!("{mode}, seed {seed:#x}, request {i} {:?}: {e}", String::from_utf8_lossy(&request))
            });
            for status in answered {
                *statuses.entry(status).or_insert(0) += 1;
                // 500 only from the panicking route; 501 is the answer to an unsupported
                // transfer coding; nothing else of 5xx.
                let panicking = String::from_utf8_lossy(&request).contains("/panic/");
                assert!(
                    status < 500 || status == 501 || (status == 500 && panicking),
                    "{mode}, seed {seed:#x}, request {i}: {status} for {:?}",
                    String::from_utf8_lossy(&request)
                );
            }
        }
        println!("{mode}: {count} mutated requests in {:?}; statuses {statuses:?}", started.elapsed());
        assert!(timed_get(addr, "/library/after").0.starts_with("HTTP/1.1 200 "), "{mode}: still serving");
        assert_eq!(server.children(), workers, "{mode}: no worker died");
        assert!(!server.log().contains("worker died"), "{mode}: {}", server.log());
    }
}
