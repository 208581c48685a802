//! Connection floods and memory: idle sockets cannot lock other clients out, one address
//! cannot take every slot, and unfinished large heads stay within a memory bound.

mod support;

use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::{Process, timed_get};

/// A connection to `addr` from the loopback address `from` (127.0.0.x).
fn connect_from(from: [u8; 4], addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

/// Open files this process may have, less a reserve.
fn fd_room() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let soft: usize = line.split_whitespace().nth(3).unwrap().parse().unwrap_or(1024);
    soft.saturating_sub(512)
}

/// The p50 and p99 of `times`.
fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[(times.len() * 99).div_ceil(100) - 1])
}

#[test]
fn ten_thousand_idle_sockets_from_one_address_do_not_lock_others_out() {
    let flood = fd_room().min(10_000);
    for (what, env) in [
        ("the per-client cap", vec![]),
        (
            "eviction at max_connections",
            vec![("APPSERVER_MAX_CONNECTIONS", "512"), ("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "1048576")],
        ),
    ] {
        let mut all = vec![("APPSERVER_WORKERS", "2"), ("RUST_LOG", "warn,appserver::boot=info")];
        all.extend(env);
        let server = Process::start(&all);
        let addr = server.addr();
        // The flood: idle sockets from 127.0.0.2 that send nothing, all held open.
        let done = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let flooder = {
            let (done, held) = (Arc::clone(&done), Arc::clone(&held));
            thread::spawn(move || {
                for _ in 0..flood {
                    match connect_from([127, 0, 0, 2], addr) {
                        Ok(stream) => held.lock().unwrap().push(stream),
                        Err(err) => panic!("flood connect: {err}"),
                    }
                }
                done.store(true, Ordering::Relaxed);
            })
        };
        // A normal client from 127.0.0.1, during the flood and once it is all held open.
        let mut during = Vec::new();
        while !done.load(Ordering::Relaxed) && during.len() < 2000 {
            let (out, took) = timed_get(addr, "/library/normal");
            assert!(out.starts_with("HTTP/1.1 200 "), "{what}: {out}");
            during.push(took);
        }
        flooder.join().unwrap();
        let mut after: Vec<Duration> = (0..200)
            .map(|_| {
                let (out, took) = timed_get(addr, "/library/normal");
                assert!(out.starts_with("HTTP/1.1 200 "), "{what}: {out}");
                took
            })
            .collect();
        let (p50, p99) = percentiles(&mut after);
        let held = held.lock().unwrap().len();
        println!(
            "{what}: {held} idle sockets from one address; a normal client's requests: {} during the flood, \
             then 200 with it held: p50 {p50:?}, p99 {p99:?}",
            during.len()
        );
        assert!(!during.is_empty());
        assert!(p99 <= Duration::from_millis(100), "{what}: p99 {p99:?}");
        let (_, p99_during) = percentiles(&mut during);
        println!("{what}: p99 during the flood {p99_during:?}");
        assert!(p99_during <= Duration::from_millis(100), "{what}: p99 during the flood {p99_during:?}");
    }
}

#[test]
fn past_the_per_client_cap_a_busy_address_gets_a_json_503_and_others_are_served() {
    let server = Process::start(&[("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "2")]);
    let addr = server.addr();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                let mut stream = connect_from([127, 0, 0, 3], addr).unwrap();
                stream.write_all(b"GET /async-sleep/800 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                let mut out = String::new();
                stream.read_to_string(&mut out).unwrap();
                out
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    let mut third = connect_from([127, 0, 0, 3], addr).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let _ = third.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{out}");
    assert!(out.contains("\r\nretry-after: 1\r\n"), "{out}");
    assert!(
        out.ends_with(r#"{"error":{"status":503,"message":"too many connections from this address; retry later"}}"#),
        "{out}"
    );
    assert!(timed_get(addr, "/library/other").0.starts_with("HTTP/1.1 200 "), "another address is served");
    for busy in busy {
        assert!(busy.join().unwrap().ends_with("800"), "the busy connections finish");
    }
}

#[test]
fn request_heads_are_limited_and_unfinished_large_heads_stay_within_the_memory_bound() {
    let server = Process::start(&[
        ("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "1048576"),
        ("RUST_LOG", "warn,appserver::boot=info"),
    ]);
    let addr = server.addr();
    let head = |pad: usize| format!("GET /library/x HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n", "a".repeat(pad));
    let out = support::raw(addr, format!("{}Connection: close\r\n\r\n", head(60_000)).as_bytes());
    assert!(out.starts_with("HTTP/1.1 200 "), "a 60 KB head is within max_header_bytes: {out}");
    let out = support::raw(addr, format!("{}\r\n", head(70_000)).as_bytes());
    assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{out}");

    // The connection cap (4096) of connections, each with 60 KB of a head never finished.
    let connections = fd_room().min(4096);
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_owned();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    };
    let before = rss();
    let started = Instant::now();
    let mut held = Vec::with_capacity(connections);
    let partial = head(60_000);
    for _ in 0..connections {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_nonblocking(true).unwrap();
        let _ = stream.write(partial.as_bytes());
        held.push(stream);
    }
    thread::sleep(Duration::from_millis(1500));
    let during = rss();
    println!(
        "{connections} connections with 60 KB unfinished heads (sent in {:?}): server RSS {before} MB -> {during} MB",
        started.elapsed()
    );
    assert!(during < 256, "RSS {during} MB");
    // The server still serves.
    assert!(timed_get(addr, "/library/after").0.starts_with("HTTP/1.1 200 "));
}
