//! HTTP/2 attacks on a running server, with its memory and a well-behaved probe measured:
//!
//! - `parked`: connections that each open as many streams as the server allows, every one
//!   a POST whose HEADERS frame does not end the stream, and never send a body;
//! - `zero-window`: connections that announce a flow-control window of 0 and GET `PATH` on
//!   every stream, and never open the window (slow readers).
//!
//! Meanwhile a client GETs `/person/get/1/` (or `$PROBE`) every 20 ms on a new HTTP/1.1 connection. The
//! server's RSS is read every second from `/proc/PID/status`, during the attack and for 10 s
//! after it.
//!
//! Run with: `cargo run --release -p benchmarks --bin h2-attack -- MODE ADDR PID CONNECTIONS
//! SECONDS [PATH]` against a server with `http2 = true` (`benchmarks/h2-attack.sh` does it all).

use bytes::Bytes;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The server's resident memory, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// One connection from `from` that opens streams until the server allows no more (each
/// counted in `streams`), and holds them until `stop`.
async fn attacker(
    mode: &str,
    from: IpAddr,
    addr: SocketAddr,
    path: &str,
    stop: Arc<AtomicBool>,
    streams: Arc<AtomicUsize>,
) {
    let socket = match from {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    };
    let Ok(socket) = socket else { return };
    if socket.bind(SocketAddr::new(from, 0)).is_err() {
        return;
    }
    let Ok(tcp) = socket.connect(addr).await else { return };
    let mut builder = h2::client::Builder::new();
    if mode == "zero-window" {
        builder.initial_window_size(0);
    }
    let Ok((mut client, connection)) = builder.handshake::<_, Bytes>(tcp).await else { return };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut held = Vec::new();
    // 128 streams, or as many as the server allows (h2 holds the others back).
    tokio::time::sleep(Duration::from_millis(200)).await;
    while !stop.load(Ordering::Relaxed) && held.len() < client.current_max_send_streams().min(128) {
        // Waits while the server's stream limit is reached.
        let ready = tokio::time::timeout(Duration::from_millis(500), client.clone().ready()).await;
        let Ok(Ok(mut ready)) = ready else { break };
        let (method, end) = match mode {
            "parked" => ("POST", false),
            _ => ("GET", true),
        };
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        match ready.send_request(request, end) {
            Ok(stream) => {
                held.push(stream);
                streams.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => break,
        }
        client = ready;
    }
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(held);
}

fn probe(addr: SocketAddr, stop: Arc<AtomicBool>) -> (Vec<Duration>, usize) {
    let path = std::env::var("PROBE").unwrap_or_else(|_| "/person/get/1/".to_owned());
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (mut times, mut failed) = (Vec::new(), 0);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let ok = (|| -> std::io::Result<bool> {
            let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            stream.write_all(request.as_bytes())?;
            let mut out = Vec::new();
            stream.read_to_end(&mut out)?;
            Ok(out.starts_with(b"HTTP/1.1 200 "))
        })();
        times.push(started.elapsed());
        if !ok.unwrap_or(false) {
            failed += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (times, failed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: h2-attack parked|zero-window ADDR PID CONNECTIONS SECONDS [PATH]";
    let [_, mode, addr, pid, connections, seconds, rest @ ..] = &args[..] else { panic!("{usage}") };
    let addr: SocketAddr = addr.parse().expect(usage);
    let pid: u32 = pid.parse().expect(usage);
    let connections: usize = connections.parse().expect(usage);
    let seconds: u64 = seconds.parse().expect(usage);
    let path = rest.first().cloned().unwrap_or_else(|| "/person/get/1/".to_owned());
    let idle = rss_mib(pid);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let probe_stop = Arc::new(AtomicBool::new(false));
    let probing = {
        let stop = Arc::clone(&probe_stop);
        std::thread::spawn(move || probe(addr, stop))
    };
    let streams = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    for i in 0..connections {
        // Four source addresses, as from four hosts.
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 20 + (i % 4) as u8));
        let (mode, path, stop, streams) = (mode.clone(), path.clone(), Arc::clone(&stop), Arc::clone(&streams));
        runtime.spawn(async move { attacker(&mode, from, addr, &path, stop, streams).await });
    }
    let mut peak: f64 = 0.0;
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let rss = rss_mib(pid);
        peak = peak.max(rss);
        let open = streams.load(Ordering::Relaxed);
        println!("{:>4.0} s  RSS {rss:.0} MiB, {open} streams opened", started.elapsed().as_secs_f64());
    }
    stop.store(true, Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_secs(2));
    let ended = Instant::now();
    let mut after = 0.0;
    while ended.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_secs(1));
        after = rss_mib(pid);
    }
    probe_stop.store(true, Ordering::Relaxed);
    let (mut times, failed) = probing.join().unwrap();
    times.sort();
    let p99 = times[(times.len() * 99).div_ceil(100).saturating_sub(1)];
    println!(
        "{mode}: {connections} connections from 4 addresses for {seconds} s; RSS idle {idle:.0} MiB, peak {peak:.0} MiB, \
         10 s after {after:.0} MiB; probe: {} requests, {failed} failed, p99 {p99:?}",
        times.len()
    );
}
