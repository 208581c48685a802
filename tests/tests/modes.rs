//! The same end-to-end suite against both server types: the `serve` binary as a Threaded
//! server and as a Forked one (2 workers each), configured through the environment.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};
use support::{Process, raw, timed_get};

const WORKERS: usize = 2;

/// Runs `check` against a server of each type started with `env`.
fn each_mode(env: &[(&str, &str)], check: impl Fn(&mut Process)) {
    for mode in ["threaded", "forked"] {
        let workers = WORKERS.to_string();
        let mut all = vec![("APPSERVER_SERVER_TYPE", mode), ("APPSERVER_WORKERS", workers.as_str())];
        all.extend_from_slice(env);
        let mut server = Process::start(&all);
        println!("server type: {mode}");
        let expected = if mode == "forked" { WORKERS } else { 0 };
        let started = Instant::now();
        while server.children().len() != expected && started.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(server.children().len(), expected, "{mode}: worker processes");
        check(&mut server);
    }
}

fn request(addr: std::net::SocketAddr, head: &str, body: &str) -> String {
    raw(addr, format!("{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
}

#[test]
fn routes_answers_and_errors() {
    each_mode(&[], |server| {
        let addr = server.addr();
        for _ in 0..4 {
            let out = request(addr, "GET /person/get/123/ HTTP/1.1\r\nHost: x", "");
            assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
            assert!(out.contains("\r\ncontent-type: application/json\r\n"), "{out}");
            assert!(out.ends_with(r#"{"object_type":"person","object_id":123}"#), "{out}");
        }
        let out = request(addr, "GET /nowhere HTTP/1.1\r\nHost: x", "");
        assert!(out.ends_with(r#"{"error":{"status":404,"message":"no route for GET /nowhere"}}"#), "{out}");
        let out = request(addr, "DELETE /person/ HTTP/1.1\r\nHost: x", "");
        assert!(out.starts_with("HTTP/1.1 405 ") && out.contains("\r\nallow: POST\r\n"), "{out}");
        let out = request(addr, "GET /person/get/99999999999999999999/ HTTP/1.1\r\nHost: x", "");
        assert!(out.starts_with("HTTP/1.1 400 ") && out.contains("parameter `object_id`"), "{out}");
        let json = "POST /person/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json";
        let out = request(addr, json, r#"{"name":"Ada","age":36}"#);
        assert!(out.starts_with("HTTP/1.1 201 ") && out.ends_with(r#"{"name":"Ada","age":36}"#), "{out}");
        assert!(request(addr, json, r#"{"name":"Ada"}"#).starts_with("HTTP/1.1 422 "));
        assert!(request(addr, "POST /person/ HTTP/1.1\r\nHost: x", "{}").starts_with("HTTP/1.1 415 "));
        let out = request(addr, "HEAD /library/x HTTP/1.1\r\nHost: x", "");
        assert!(out.starts_with("HTTP/1.1 200 ") && out.ends_with("\r\n\r\n"), "{out}");
        for _ in 0..4 {
            let out = request(addr, "GET /panic/ HTTP/1.1\r\nHost: x", "");
            assert!(out.ends_with(r#"{"error":{"status":500,"message":"internal server error"}}"#), "{out}");
            assert!(request(addr, "GET /library/ok HTTP/1.1\r\nHost: x", "").starts_with("HTTP/1.1 200 "));
        }
        assert!(server.log().contains(r#"handler panicked handler="appserver_tests::panics""#));
    });
}

#[test]
fn blocking_handlers_do_not_stall_fast_requests() {
    each_mode(&[], |server| {
        let addr = server.addr();
        let slow: Vec<_> = (0..2 * WORKERS).map(|_| thread::spawn(move || timed_get(addr, "/blocking/1000"))).collect();
        thread::sleep(Duration::from_millis(200));
        for _ in 0..5 {
            let (out, took) = timed_get(addr, "/library/fast");
            println!("fast request while {} blocking ones sleep: {took:?}", 2 * WORKERS);
            assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
            assert!(took < Duration::from_millis(100), "a fast request took {took:?}");
        }
        for slow in slow {
            let (out, took) = slow.join().unwrap();
            assert!(out.ends_with("1000") && took >= Duration::from_millis(1000), "{out} {took:?}");
        }
    });
}

#[test]
fn bodies_over_the_limit_are_413_and_host_is_required() {
    each_mode(&[("APPSERVER_MAX_BODY_BYTES", "1000")], |server| {
        let addr = server.addr();
        let out = raw(addr, b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 413 ") && out.contains("limit of 1000 bytes"), "{out}");
        assert!(request(addr, "POST /upload/ HTTP/1.1\r\nHost: x", &"z".repeat(1000)).ends_with("1000"));
        let chunk = format!("200\r\n{}\r\n", "y".repeat(0x200));
        let chunked = format!(
            "POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}{chunk}0\r\n\r\n"
        );
        let out = raw(addr, chunked.as_bytes());
        assert!(out.starts_with("HTTP/1.1 413 ") && out.contains("\r\nconnection: close\r\n"), "{out}");
        for head in ["GET /pid HTTP/1.1", "GET /pid HTTP/1.1\r\nHost: a\r\nHost: b"] {
            let out = request(addr, head, "");
            assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
            assert!(
                out.ends_with(
                    r#"{"error":{"status":400,"message":"an HTTP/1.1 request needs exactly one Host header"}}"#
                ),
                "{out}"
            );
        }
        assert!(raw(addr, b"GET /pid HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200 "));
    });
}

#[test]
fn handlers_past_the_request_timeout_are_503() {
    each_mode(&[("APPSERVER_REQUEST_TIMEOUT", "300ms")], |server| {
        for path in ["/async-sleep/3000", "/blocking/3000"] {
            let (out, took) = timed_get(server.addr(), path);
            assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
            assert!(out.ends_with(r#""message":"the handler did not answer within 300 ms"}}"#), "{out}");
            assert!(took < Duration::from_millis(1500), "{took:?}");
        }
        assert!(timed_get(server.addr(), "/async-sleep/10").0.ends_with("10"));
    });
}

#[test]
fn slow_headers_are_cut_off_without_delaying_others() {
    each_mode(&[("APPSERVER_HEADER_TIMEOUT", "500ms")], |server| {
        let addr = server.addr();
        let mut slow: Vec<TcpStream> = (0..200)
            .map(|_| {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.write_all(b"GET /pid HTTP/1.1\r\nHost: x\r\n").unwrap();
                stream
            })
            .collect();
        let (out, took) = timed_get(addr, "/library/normal");
        println!("normal request beside 200 slow-header connections: {took:?}");
        assert!(out.starts_with("HTTP/1.1 200 ") && took < Duration::from_millis(300), "{took:?} {out}");
        thread::sleep(Duration::from_millis(900));
        for stream in &mut slow {
            stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0; 64];
            let read = stream.read(&mut buf);
            assert!(matches!(read, Ok(0) | Err(_)), "a slow connection is still open: {read:?}");
        }
    });
}

#[test]
fn past_max_connections_the_oldest_idle_connection_makes_room_and_busy_ones_make_newcomers_wait() {
    for mode in ["threaded", "forked"] {
        let server = Process::start(&[
            ("APPSERVER_SERVER_TYPE", mode),
            ("APPSERVER_WORKERS", "1"),
            ("APPSERVER_MAX_CONNECTIONS", "2"),
        ]);
        let request = b"GET /library/x HTTP/1.1\r\nHost: x\r\n\r\n";
        // Two idle keep-alive connections hold both slots; a third closes the oldest.
        let mut idle: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut stream = TcpStream::connect(server.addr()).unwrap();
                stream.write_all(request).unwrap();
                read_response(&mut stream);
                thread::sleep(Duration::from_millis(20));
                stream
            })
            .collect();
        let mut newcomer = TcpStream::connect(server.addr()).unwrap();
        newcomer.write_all(request).unwrap();
        newcomer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert!(read_response(&mut newcomer).starts_with("HTTP/1.1 200 "), "{mode}: the newcomer is served at once");
        idle[0].set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert!(matches!(idle[0].read(&mut [0; 16]), Ok(0)), "{mode}: the oldest idle connection was closed");
        idle[1].write_all(request).unwrap();
        assert!(read_response(&mut idle[1]).starts_with("HTTP/1.1 200 "), "{mode}: the other one still works");
        drop((idle, newcomer));
        thread::sleep(Duration::from_millis(100));

        // Two connections with requests in flight: nothing to close, so a newcomer waits.
        let busy: Vec<_> = (0..2)
            .map(|_| {
                let addr = server.addr();
                thread::spawn(move || timed_get(addr, "/async-sleep/800"))
            })
            .collect();
        thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let (out, took) = timed_get(server.addr(), "/library/waiting");
        assert!(out.starts_with("HTTP/1.1 200 "), "{mode}: {out}");
        assert!(took >= Duration::from_millis(400), "{mode}: served after {took:?}, while both slots were busy");
        println!("{mode}: a newcomer waited {:?} for a busy slot", started.elapsed());
        for busy in busy {
            assert!(busy.join().unwrap().0.starts_with("HTTP/1.1 200 "), "{mode}: a busy connection was cut");
        }
    }
}

/// Reads one response with a `content-length` body.
fn read_response(stream: &mut impl Read) -> String {
    let mut out = Vec::new();
    let mut byte = [0];
    while !out.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "connection closed");
        out.push(byte[0]);
    }
    let head = String::from_utf8(out).unwrap();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length: ")).map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits_0_leaving_no_worker() {
    stop_with("TERM");
}

#[test]
fn sigint_finishes_requests_in_flight_then_exits_0_leaving_no_worker() {
    stop_with("INT");
}

fn stop_with(signal: &str) {
    each_mode(&[], |server| {
        let addr = server.addr();
        let workers = server.children();
        let in_flight = thread::spawn(move || timed_get(addr, "/async-sleep/500"));
        thread::sleep(Duration::from_millis(150));
        Process::kill(server.pid(), signal);
        let (out, _) = in_flight.join().unwrap();
        assert!(out.starts_with("HTTP/1.1 200 ") && out.ends_with("500"), "{out}");
        let status = server.wait(Duration::from_secs(10)).expect("the server exits");
        assert!(status.success(), "{status}\n{}", server.log());
        thread::sleep(Duration::from_millis(50));
        assert!(workers.iter().all(|&pid| !support::alive(pid)), "a worker outlived the master");
        assert!(TcpStream::connect(addr).is_err());
        let log = server.log();
        assert!(log.contains(r#"appserver::access: method=GET path="/async-sleep/500" status=200"#), "{log}");
    });
}

#[test]
fn requests_still_running_after_graceful_timeout_are_cut_off() {
    each_mode(&[("APPSERVER_GRACEFUL_TIMEOUT", "300ms")], |server| {
        let addr = server.addr();
        let in_flight = thread::spawn(move || timed_get(addr, "/async-sleep/5000"));
        thread::sleep(Duration::from_millis(150));
        let started = Instant::now();
        Process::kill(server.pid(), "TERM");
        let status = server.wait(Duration::from_secs(10)).expect("the server exits");
        let took = started.elapsed();
        assert!(status.success(), "{status}");
        assert!(took < Duration::from_millis(2500), "exit took {took:?}");
        let (out, _) = in_flight.join().unwrap();
        assert!(!out.contains("200 OK"), "{out}");
    });
}

#[test]
fn idle_connections_close_after_keep_alive_timeout_and_busy_ones_stay() {
    each_mode(&[("APPSERVER_KEEP_ALIVE_TIMEOUT", "300ms")], |server| {
        let request = b"GET /library/x HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut busy = TcpStream::connect(server.addr()).unwrap();
        let mut idle = TcpStream::connect(server.addr()).unwrap();
        idle.write_all(request).unwrap();
        read_response(&mut idle);
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(900) {
            busy.write_all(request).unwrap();
            assert!(read_response(&mut busy).starts_with("HTTP/1.1 200 "));
            thread::sleep(Duration::from_millis(100));
        }
        idle.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert!(matches!(idle.read(&mut [0; 16]), Ok(0)), "the idle connection is still open");
    });
}
