//! Reloads and shutdowns lose no request: keep-alive clients hammer the server while it
//! gets SIGHUP again and again (a Forked server replaces its workers each time), and a
//! client that honours `Connection: close` never sees a request fail.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use support::{Process, wait_for};

/// One keep-alive client until `stop`: its requests answered 200, and those that failed.
fn client(addr: SocketAddr, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let (mut ok, mut failed) = (0, Vec::new());
    let mut connection: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        let reader = match &mut connection {
            Some(reader) => reader,
            None => {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                connection.insert(BufReader::new(stream))
            }
        };
        let outcome = (|| -> std::io::Result<(u16, bool)> {
            reader.get_mut().write_all(b"GET /library/reload HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                if line == "\r\n" {
                    break;
                }
                head += &line.to_ascii_lowercase();
            }
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            reader.read_exact(&mut vec![0; length])?;
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            Ok((status, head.contains("\r\nconnection: close\r\n")))
        })();
        match outcome {
            Ok((200, close)) => {
                ok += 1;
                if close {
                    connection = None;
                }
            }
            Ok((status, _)) => failed.push(format!("status {status}")),
            Err(err) => {
                failed.push(err.to_string());
                connection = None;
            }
        }
    }
    (ok, failed)
}

/// Eight keep-alive clients while the server gets SIGHUP five times, 400 ms apart.
fn hammer_through_reloads(server: &Process) -> (usize, Vec<String>) {
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (addr, stop) = (server.addr(), Arc::clone(&stop));
            thread::spawn(move || client(addr, stop))
        })
        .collect();
    for _ in 0..5 {
        thread::sleep(Duration::from_millis(400));
        Process::kill(server.pid(), "HUP");
    }
    thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    clients.into_iter().map(|c| c.join().unwrap()).fold((0, Vec::new()), |(ok, mut failed), (o, f)| {
        failed.extend(f);
        (ok + o, failed)
    })
}

#[test]
fn sighup_loses_no_request_on_keep_alive_connections_in_both_server_types() {
    for server_type in ["threaded", "forked"] {
        let server = Process::start(&[("APPSERVER_SERVER_TYPE", server_type), ("APPSERVER_WORKERS", "2")]);
        if server_type == "forked" {
            wait_for(|| server.children().len() == 2, "the workers start");
        }
        let started = Instant::now();
        let (ok, failed) = hammer_through_reloads(&server);
        println!(
            "{server_type}: 8 keep-alive clients, SIGHUP 5 times in {:?}: {ok} requests answered 200, {} failed: {:?}",
            started.elapsed(),
            failed.len(),
            &failed[..failed.len().min(5)]
        );
        assert!(ok > 500, "{server_type}: {ok}");
        assert_eq!(failed.len(), 0, "{server_type}: {failed:?}");
        if server_type == "forked" {
            // At least two of the reloads finished (a busy machine may still be at it: the
            // SIGHUPs that came during one are one more after it).
            wait_for(|| server.log().matches("the new workers are ready").count() >= 2, "two reloads finish");
        }
    }
}
