//! The access log of a real process: the same lines as `tracing` writes them, every one
//! written by the time the process exits, and a log output that does not keep up slows no
//! request: the lines it cannot take are dropped and counted.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{Process, scratch_dir, timed_get};

/// Sends `n` requests for `path` over one connection, 50 at a time (pipelined), and
/// returns how many were answered 200.
fn hammer(addr: SocketAddr, path: &str, n: usize) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let (mut ok, mut sent, mut buf) = (0, 0, Vec::new());
    while sent < n {
        let batch = (n - sent).min(50);
        stream.write_all(request.repeat(batch).as_bytes()).unwrap();
        sent += batch;
        for _ in 0..batch {
            let (head_end, length) = loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize =
                        head.split("content-length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
                    break (end + 4, length);
                }
                let mut chunk = [0; 65536];
                let read = stream.read(&mut chunk).expect("an answer in time");
                assert!(read > 0, "the server closed the connection");
                buf.extend_from_slice(&chunk[..read]);
            };
            while buf.len() < head_end + length {
                let mut chunk = [0; 65536];
                let read = stream.read(&mut chunk).expect("an answer in time");
                assert!(read > 0, "the server closed the connection");
                buf.extend_from_slice(&chunk[..read]);
            }
            ok += usize::from(buf.starts_with(b"HTTP/1.1 200 "));
            buf.drain(..head_end + length);
        }
    }
    ok
}

/// `requests` requests for `path` from 4 clients at once; all must be answered 200.
fn load(addr: SocketAddr, path: &str, requests: usize) {
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn({
                let path = path.to_owned();
                move || hammer(addr, &path, requests / 4)
            })
        })
        .collect();
    let ok: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(ok, requests / 4 * 4);
}

/// The access line of `log` for `path`, without its timestamp and duration.
fn shape(log: &str, path: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains(&format!("path=\"{path}\"")))
        .unwrap_or_else(|| panic!("no line for {path}:\n{log}"));
    let (stamp, rest) = line.split_at(27);
    assert!(stamp.len() == 27 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{line}");
    let (rest, micros) = rest.rsplit_once(" micros=").unwrap();
    assert!(micros.parse::<u64>().is_ok(), "{line}");
    rest.to_owned()
}

/// Seconds since the epoch of a line's `YYYY-MM-DDTHH:MM:SS` (days from the civil date as
/// in Howard Hinnant's `date`, the other way than the server goes).
fn stamp_seconds(line: &str) -> u64 {
    let field = |range: std::ops::Range<usize>| line[range].parse::<i64>().unwrap();
    let (year, month, day) = (field(0..4), field(5..7), field(8..10));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (days * 86_400 + field(11..13) * 3600 + field(14..16) * 60 + field(17..19)) as u64
}

#[test]
fn the_lines_look_as_tracing_writes_them() {
    // The program's own subscriber: every line is a `tracing` event.
    let server = Process::start(&[("SERVE_OWN_SUBSCRIBER", "1")]);
    assert!(timed_get(server.addr(), "/library/shape").0.starts_with("HTTP/1.1 200 "));
    assert!(timed_get(server.addr(), "/fail/a%22b%5Cc").0.starts_with("HTTP/1.1 500 "));
    std::thread::sleep(Duration::from_millis(100));
    let traced = server.log();
    drop(server);

    // appserver's subscriber: the lines go through the batch.
    let server = Process::start(&[]);
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(timed_get(server.addr(), "/library/shape").0.starts_with("HTTP/1.1 200 "));
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(timed_get(server.addr(), "/fail/a%22b%5Cc").0.starts_with("HTTP/1.1 500 "));
    assert!(timed_get(server.addr(), "/library/query?token=s3cret").0.starts_with("HTTP/1.1 200 "));
    std::thread::sleep(Duration::from_millis(100));
    let batched = server.log();
    assert_eq!(
        shape(&batched, "/library/shape"),
        "  INFO appserver::access: method=GET path=\"/library/shape\" status=200"
    );
    for path in ["/library/shape", "/fail/a%22b%5Cc"] {
        assert_eq!(shape(&batched, path), shape(&traced, path));
    }
    // The time of the response in UTC, from the clock cached per second.
    let line = batched.lines().find(|l| l.contains("path=\"/library/shape\"")).unwrap();
    assert!((before..=after).contains(&stamp_seconds(line)), "{line}: not within {before}..={after}");
    // The path only: a query string may carry secrets.
    assert_eq!(
        shape(&batched, "/library/query"),
        "  INFO appserver::access: method=GET path=\"/library/query\" status=200"
    );
    assert!(!batched.contains("s3cret"), "{batched}");
}

#[test]
fn every_line_is_written_by_the_time_the_process_exits() {
    for mode in ["threaded", "forked"] {
        let mut server = Process::start(&[("APPSERVER_SERVER_TYPE", mode), ("APPSERVER_WORKERS", "2")]);
        load(server.addr(), "/library/counted", 4000);
        Process::kill(server.pid(), "TERM");
        assert!(server.wait(Duration::from_secs(10)).is_some_and(|status| status.success()), "{mode}");
        std::thread::sleep(Duration::from_millis(200));
        let log = server.log();
        assert_eq!(log.matches("path=\"/library/counted\" status=200").count(), 4000, "{mode}");
        assert!(!log.contains("dropped"), "{mode}: {log}");
    }
}

#[test]
fn a_log_output_that_does_not_keep_up_slows_no_request_and_drops_are_counted() {
    // stdout is a pipe that is not read (as a stuck log collector): it fills at once.
    let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
        .current_dir(scratch_dir())
        .env("RUST_LOG", "info")
        .env("APPSERVER_PORT", "0")
        .env_remove("APPSERVER_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr: SocketAddr = loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no address");
        if let Some(rest) = line.split("appserver listening addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Far more lines than the buffer and the pipe hold; every request is answered.
    const REQUESTS: usize = 40_000;
    let started = Instant::now();
    load(addr, "/library/flood", REQUESTS);
    println!("{REQUESTS} requests in {:?} with the log output stuck", started.elapsed());

    // The output moves again: what was kept is written, with the count of what was not.
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        stdout.read_to_string(&mut log).unwrap();
        log
    });
    // Once the buffer is written out, lines are kept again.
    std::thread::sleep(Duration::from_millis(300));
    assert!(timed_get(addr, "/library/after").0.starts_with("HTTP/1.1 200 "));
    std::thread::sleep(Duration::from_millis(200));
    Process::kill(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
    let log = reader.join().unwrap();
    let written = log.matches("path=\"/library/flood\"").count();
    let dropped: usize = log
        .lines()
        .filter(|l| l.contains("access lines dropped"))
        .map(|l| l.split("dropped=").nth(1).unwrap().split_whitespace().next().unwrap().parse::<usize>().unwrap())
        .sum();
    println!("{written} lines written, {dropped} dropped");
    assert!(dropped > 0, "nothing dropped: {written} written");
    assert_eq!(written + dropped, REQUESTS, "every line is written or counted");
    assert!(log.contains("path=\"/library/after\" status=200"));
}

/// The line of a stream is written when it ends, with its duration and the bytes it sent:
/// an event stream the client leaves, and a WebSocket.
#[test]
fn the_line_of_a_stream_is_written_when_it_ends_with_the_bytes_it_sent() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    for own in [false, true] {
        let env: &[(&str, &str)] = if own { &[("SERVE_OWN_SUBSCRIBER", "1")] } else { &[] };
        let server = Process::start(env);
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(b"GET /ticks/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        let mut seen = String::new();
        while !seen.contains("data: 2\n\n") {
            let n = stream.read(&mut buf).unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(!server.log().contains("path=\"/ticks/\""), "a line before the stream ended");
        drop(stream);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
            let (mut client, _) =
                tokio_tungstenite::client_async(format!("ws://{}/ws/echo", server.addr()), tcp).await.unwrap();
            client.send(Message::text("twelve bytes")).await.unwrap();
            assert_eq!(client.next().await.unwrap().unwrap(), Message::text("twelve bytes"));
            tokio::time::sleep(Duration::from_millis(200)).await;
            client.close(None).await.unwrap();
            while client.next().await.is_some() {}
        });
        support::wait_for(|| server.log().contains("path=\"/ws/echo\""), "the WebSocket's line");
        support::wait_for(|| server.log().contains("path=\"/ticks/\""), "the event stream's line");
        let log = server.log();
        let line = |path: &str| log.lines().find(|l| l.contains(&format!("path=\"{path}\""))).unwrap().to_owned();
        let fields = |line: &str| -> (String, u64, u64) {
            let (head, bytes) = line.rsplit_once(" bytes=").unwrap_or_else(|| panic!("no bytes: {line}"));
            let (head, micros) = head.rsplit_once(" micros=").unwrap();
            (head[27..].to_owned(), micros.parse().unwrap(), bytes.parse().unwrap())
        };
        let (head, micros, bytes) = fields(&line("/ws/echo"));
        assert_eq!(head, "  INFO appserver::access: method=GET path=\"/ws/echo\" status=101", "own: {own}");
        assert_eq!(bytes, 12, "own: {own}");
        assert!(micros >= 200_000, "the socket's whole life: {micros} µs");
        let (head, micros, bytes) = fields(&line("/ticks/"));
        assert_eq!(head, "  INFO appserver::access: method=GET path=\"/ticks/\" status=200", "own: {own}");
        // Three events of `data: N\n\n` at least.
        assert!(bytes >= 27, "{bytes}");
        assert!(micros >= 300_000, "{micros} µs");
    }
}
