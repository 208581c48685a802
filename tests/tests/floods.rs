//! Connection floods and memory: idle sockets cannot lock other clients out, one address
//! cannot take every slot, and unfinished large heads stay within a memory bound.

mod support;

use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use support::{Process, rss_mib, timed_get};

/// Held by the tests of this binary, one at a time: for the file limit, and so that none
/// runs beside the flood while it measures.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

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

/// Holds `size` idle sockets to `addr` from 127.0.0.2 until `stop`, never closing one,
/// and opens a new one for each the server closes, as an attacker keeping the flood up.
/// Returns how many it opened; `ready` turns true once `size` are open.
fn flood(addr: SocketAddr, size: usize, ready: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut held: Vec<Socket> = Vec::with_capacity(size);
        let mut opened = 0;
        while !stop.load(Ordering::Relaxed) {
            if held.len() < size {
                let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
                socket.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into()).unwrap();
                if socket.connect_timeout(&addr.into(), Duration::from_millis(500)).is_ok() {
                    socket.set_nonblocking(true).unwrap();
                    held.push(socket);
                    opened += 1;
                }
                continue;
            }
            ready.store(true, Ordering::Relaxed);
            // Replace the sockets the server closed.
            let before = held.len();
            held.retain(|socket| {
                let mut buf = [std::mem::MaybeUninit::new(0u8); 1];
                matches!(socket.recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            if held.len() == before {
                thread::sleep(Duration::from_millis(5));
            }
        }
        opened
    })
}

/// `GET path` on a new connection, giving up after `limit`: the time it took, or `limit`.
fn get_within(addr: SocketAddr, path: &str, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, limit) else { return ("(no connection)".into(), limit) };
    stream.set_read_timeout(Some(limit.saturating_sub(started.elapsed()).max(Duration::from_millis(1)))).unwrap();
    let _ = stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    (out, started.elapsed().min(limit))
}

#[test]
fn a_sustained_flood_of_ten_thousand_idle_sockets_does_not_lock_others_out() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let size = fd_room().min(10_000);
    for (what, env) in [
        ("the per-client cap", vec![]),
        (
            "eviction at max_connections",
            vec![("APPSERVER_MAX_CONNECTIONS", "512"), ("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "1048576")],
        ),
    ] {
        let mut all = vec![("APPSERVER_WORKERS", "2"), ("RUST_LOG", "warn,appserver::serve::boot=info")];
        all.extend(env);
        let server = Process::start(&all);
        let addr = server.addr();
        // Four threads, each holding a quarter of the flood.
        let stop = Arc::new(AtomicBool::new(false));
        let flooders: Vec<_> = (0..4)
            .map(|_| {
                let ready = Arc::new(AtomicBool::new(false));
                (Arc::clone(&ready), flood(addr, size / 4, ready, Arc::clone(&stop)))
            })
            .collect();
        let started = Instant::now();
        while !flooders.iter().all(|(ready, _)| ready.load(Ordering::Relaxed)) {
            assert!(started.elapsed() < Duration::from_secs(60), "{what}: the flood never reached {size} sockets");
            thread::sleep(Duration::from_millis(10));
        }
        // A normal client from 127.0.0.1 while the flood goes on: 300 requests over ~3 s,
        // each given up on after 2 s (enough of them that the p99 is not the one or two
        // slowest, which a busy two-core machine sets now and then).
        let mut failed = 0;
        let mut times: Vec<Duration> = (0..300)
            .map(|_| {
                let (out, took) = get_within(addr, "/library/normal", Duration::from_secs(2));
                if !out.starts_with("HTTP/1.1 200 ") {
                    println!("{what}: not answered after {took:?}: {out:?}");
                    failed += 1;
                }
                thread::sleep(Duration::from_millis(10));
                took
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        let opened: usize = flooders.into_iter().map(|(_, flooder)| flooder.join().unwrap()).sum();
        let (p50, p99) = percentiles(&mut times);
        println!(
            "{what}: flood of {size} idle sockets from one address ({opened} opened in {:?}); \
             300 requests of another client over ~3 s meanwhile: {failed} not answered within 2 s, \
             p50 {p50:?}, p99 {p99:?}",
            started.elapsed()
        );
        assert_eq!(failed, 0, "{what}: requests not answered within 2 s");
        // The target is for the flood from one address at the defaults. Without the
        // per-client cap the flood's four threads and the server's accept loop share two
        // cores, and a SYN dropped at a full accept queue now and then costs its client a
        // 1 s retransmit: that case is held to answering every request.
        if what == "the per-client cap" {
            assert!(p99 <= Duration::from_millis(100), "{what}: p99 {p99:?}");
        }
    }
}

#[test]
fn past_the_per_client_cap_a_busy_address_gets_a_json_503_and_others_are_served() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
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
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let server = Process::start(&[
        ("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "1048576"),
        ("RUST_LOG", "warn,appserver::serve::boot=info"),
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

/// The server's open file descriptors.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

#[test]
fn in_an_eviction_storm_sockets_stay_capped_and_a_keep_alive_client_loses_nothing() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    const MAX: usize = 256;
    let server = Process::start(&[
        ("APPSERVER_WORKERS", "2"),
        ("APPSERVER_MAX_CONNECTIONS", "256"),
        ("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "1048576"),
        ("RUST_LOG", "warn,appserver::serve::boot=info"),
    ]);
    let (addr, pid) = (server.addr(), server.pid());
    // A keep-alive client, answered once before the storm.
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let ask = |client: &mut TcpStream| -> bool {
        let mut buf = [0u8; 4096];
        client.write_all(b"GET /library/normal HTTP/1.1\r\nHost: x\r\n\r\n").is_ok()
            && client.read(&mut buf).is_ok_and(|n| n > 0 && buf[..n].starts_with(b"HTTP/1.1 200 "))
    };
    assert!(ask(&mut client));
    let base = open_fds(pid);
    // Four addresses open connections that send half a head and never finish it, keeping
    // 400 each and opening new ones as the server closes them.
    let stop = Arc::new(AtomicBool::new(false));
    let storm: Vec<_> = (0..4u8)
        .map(|i| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut held = std::collections::VecDeque::new();
                let mut opened = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut stream) = connect_from([127, 0, 0, 10 + i], addr) {
                        let _ = stream.write_all(b"GET /library/normal HTTP/1.1\r\nHost: x\r\nX-Half: ");
                        held.push_back(stream);
                        opened += 1;
                    }
                    if held.len() > 400 {
                        held.pop_front();
                    }
                }
                opened
            })
        })
        .collect();
    let (mut lost, mut most, mut times) = (0, 0, Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let asked = Instant::now();
        if !ask(&mut client) {
            lost += 1;
            client = TcpStream::connect(addr).unwrap();
            client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        }
        times.push(asked.elapsed());
        most = most.max(open_fds(pid));
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let opened: usize = storm.into_iter().map(|t| t.join().unwrap()).sum();
    let (p50, p99) = percentiles(&mut times);
    println!(
        "eviction storm: {opened} half-head connections from 4 addresses in 4 s at max_connections {MAX}; \
         server fds at most {most} ({base} before); keep-alive client: {} requests, {lost} lost, p50 {p50:?}, p99 {p99:?}",
        times.len()
    );
    assert!(opened > 4 * MAX, "the storm opened only {opened}");
    assert_eq!(lost, 0, "the keep-alive client lost requests to evictions");
    assert!(most <= base + MAX + 4, "{most} fds open, more than {base} + {MAX} + 4");
}

#[test]
fn past_the_per_client_cap_each_client_is_refused_in_its_own_protocol() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let server = Process::start(&[("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "2"), ("APPSERVER_HTTP2", "true")]);
    let addr = server.addr();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                let mut stream = connect_from([127, 0, 0, 4], addr).unwrap();
                stream.write_all(b"GET /async-sleep/1500 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                let mut out = String::new();
                stream.read_to_string(&mut out).unwrap();
                out
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    let refused = |first: &[u8]| {
        let mut stream = connect_from([127, 0, 0, 4], addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(first).unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        out
    };
    // HTTP/2 with prior knowledge: the server's SETTINGS, then GOAWAY (ENHANCE_YOUR_CALM).
    let out = refused(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");
    let message = b"too many connections from this address; retry later";
    let mut goaway = vec![0, 0, 8 + message.len() as u8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb];
    goaway.extend_from_slice(message);
    assert_eq!(out, [&[0, 0, 0, 4, 0, 0, 0, 0, 0][..], &goaway].concat(), "{}", String::from_utf8_lossy(&out));
    // HTTP/1.1: the JSON 503.
    let out = String::from_utf8(refused(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")).unwrap();
    assert!(out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{out}");
    // Silent: closed, nothing written.
    assert_eq!(refused(b""), b"");
    for busy in busy {
        assert!(busy.join().unwrap().ends_with("1500"), "the busy connections finish");
    }
}

#[test]
fn slow_readers_that_keep_the_server_over_its_send_budget_are_cut() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let server = Process::start(&[("APPSERVER_KEEP_ALIVE_TIMEOUT", "1"), ("APPSERVER_WORKERS", "2")]);
    let (addr, pid) = (server.addr(), server.pid());
    // Eight clients ask for 24 MiB each and read nothing: 192 MiB waiting, over the 64 MiB
    // budget.
    let readers: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"GET /big/24 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            stream
        })
        .collect();
    let started = Instant::now();
    let mut most = 0;
    while started.elapsed() < Duration::from_secs(4) {
        most = most.max(rss_mib(pid));
        assert!(timed_get(addr, "/library/normal").0.starts_with("HTTP/1.1 200 "), "others are served");
        thread::sleep(Duration::from_millis(100));
    }
    // Now they read: the ones cut get less than their answer.
    let got: Vec<usize> = readers
        .into_iter()
        .map(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = vec![0; 1 << 20];
            let mut total = 0;
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
                if total > (24 << 20) {
                    break;
                }
            }
            total
        })
        .collect();
    let cut = got.iter().filter(|&&n| n < (24 << 20)).count();
    println!(
        "8 readers of 24 MiB that read nothing for 4 s: {cut} cut; bytes they got: {got:?}; RSS at most {most} MiB"
    );
    assert!(cut >= 3, "{got:?}");
    assert!(cut < 8, "those within the budget are served in full: {got:?}");
}

#[test]
fn connections_whose_requests_only_wait_for_bodies_that_never_come_are_evicted() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let server = Process::start(&[
        ("APPSERVER_MAX_CONNECTIONS", "32"),
        ("APPSERVER_MAX_CONNECTIONS_PER_CLIENT", "1048576"),
        ("APPSERVER_WORKERS", "2"),
    ]);
    let addr = server.addr();
    // A keep-alive client, answered once, then 31 connections whose POSTs never send the
    // body they announce: every slot is taken.
    let mut keep_alive = TcpStream::connect(addr).unwrap();
    keep_alive.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let ask = |stream: &mut TcpStream| {
        let mut buf = [0u8; 4096];
        stream.write_all(b"GET /library/kept HTTP/1.1\r\nHost: x\r\n\r\n").is_ok()
            && stream.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"HTTP/1.1 200 "))
    };
    assert!(ask(&mut keep_alive));
    let parked: Vec<TcpStream> = (0..31)
        .map(|_| {
            let mut stream = connect_from([127, 0, 0, 30], addr).unwrap();
            stream.write_all(b"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n").unwrap();
            stream
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    // Newcomers take the parked connections' slots at once, not after body_timeout (10 s).
    for _ in 0..5 {
        let (out, took) = get_within(addr, "/library/newcomer", Duration::from_secs(3));
        assert!(out.starts_with("HTTP/1.1 200 "), "after {took:?}: {out:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
    assert!(ask(&mut keep_alive), "the keep-alive client keeps its connection");
    drop(parked);
}
