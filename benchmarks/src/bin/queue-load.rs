//! The queue load generator of `benchmarks/queue.sh`: CLIENTS threads, each on one
//! connection, each doing the cycle put + lease + done of a ~100-byte task one after
//! another for SECONDS seconds, against TQueue (HTTP v2), beanstalkd (put, reserve,
//! delete) or Redis (LPUSH, LMOVE to a processing list, LREM); `tqueue-batch` does it 100
//! tasks at a time (a batch put, a lease of up to 100, a batch done). Prints one JSON line:
//! tasks through a cycle, per second, p50 and p99 of a cycle in microseconds.
//!
//! Run with: queue-load tqueue|tqueue-batch|beanstalkd|redis PORT[,PORT...] CLIENTS SECONDS
//! (the clients spread over the ports in turn: several TQueue nodes of one database).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One client's connection, speaking one peer's protocol.
trait Peer {
    /// One cycle: put `task`, lease one task, finish it; how many tasks went through.
    fn cycle(&mut self, task: &str) -> usize;
}

/// The tasks of a `tqueue-batch` cycle.
const BATCH: usize = 100;

fn connect(port: u16) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    BufReader::new(stream)
}

fn line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read");
    assert!(!line.is_empty(), "the server closed the connection");
    line
}

struct Tqueue(BufReader<TcpStream>);

impl Tqueue {
    /// POSTs `body` to `path`; the status and the response body.
    fn post(&mut self, path: &str, body: &str) -> (u16, String) {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.0.get_mut().write_all(request.as_bytes()).expect("write");
        let status = line(&mut self.0)[9..12].parse().expect("a status");
        let mut length = 0;
        loop {
            let header = line(&mut self.0);
            if header == "\r\n" {
                break;
            }
            if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().expect("a length");
            }
        }
        let mut body = vec![0; length];
        self.0.read_exact(&mut body).expect("body");
        (status, String::from_utf8(body).expect("UTF-8"))
    }
}

impl Peer for Tqueue {
    fn cycle(&mut self, task: &str) -> usize {
        let (status, _) = self.post("/v2/queues/bench/tasks", &format!(r#"{{"task":"{task}"}}"#));
        assert_eq!(status, 201);
        loop {
            let (status, body) = self.post("/v2/queues/bench/lease", "");
            assert_eq!(status, 200, "{body}");
            let Some(at) = body.find(r#""lease":""#) else { continue };
            let token = &body[at + 9..];
            let token = &token[..token.find('"').expect("a token")];
            let (status, body) = self.post(&format!("/v2/queues/bench/leases/{token}/done"), "");
            assert_eq!(status, 200, "{body}");
            return 1;
        }
    }
}

struct TqueueBatch(Tqueue);

impl Peer for TqueueBatch {
    fn cycle(&mut self, task: &str) -> usize {
        let tasks: Vec<String> = (0..BATCH).map(|i| format!(r#"{{"task":"{task}-{i:03}"}}"#)).collect();
        let (status, body) =
            self.0.post("/v2/queues/bench/tasks/batch", &format!(r#"{{"tasks":[{}]}}"#, tasks.join(",")));
        assert_eq!(status, 201, "{body}");
        let mut leases = Vec::new();
        while leases.len() < BATCH {
            let (status, body) = self.0.post(&format!("/v2/queues/bench/lease?max={}", BATCH - leases.len()), "");
            assert_eq!(status, 200, "{body}");
            leases.extend(
                body.split(r#""lease":""#)
                    .skip(1)
                    .map(|rest| format!(r#""{}""#, &rest[..rest.find('"').expect("a token")])),
            );
        }
        let (status, body) =
            self.0.post("/v2/queues/bench/leases/done", &format!(r#"{{"leases":[{}]}}"#, leases.join(",")));
        assert_eq!(status, 200, "{body}");
        leases.len()
    }
}

struct Beanstalkd(BufReader<TcpStream>);

impl Peer for Beanstalkd {
    fn cycle(&mut self, task: &str) -> usize {
        let put = format!("put 0 0 60 {}\r\n{task}\r\n", task.len());
        self.0.get_mut().write_all(put.as_bytes()).expect("write");
        assert!(line(&mut self.0).starts_with("INSERTED "));
        loop {
            self.0.get_mut().write_all(b"reserve-with-timeout 0\r\n").expect("write");
            let reply = line(&mut self.0);
            let Some(rest) = reply.strip_prefix("RESERVED ") else { continue };
            let mut parts = rest.split_whitespace();
            let id = parts.next().expect("an id").to_owned();
            let bytes: usize = parts.next().expect("a length").parse().expect("a number");
            let mut data = vec![0; bytes + 2];
            self.0.read_exact(&mut data).expect("data");
            self.0.get_mut().write_all(format!("delete {id}\r\n").as_bytes()).expect("write");
            assert_eq!(line(&mut self.0), "DELETED\r\n");
            return 1;
        }
    }
}

struct Redis(BufReader<TcpStream>);

impl Redis {
    fn command(&mut self, args: &[&str]) -> String {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request += &format!("${}\r\n{arg}\r\n", arg.len());
        }
        self.0.get_mut().write_all(request.as_bytes()).expect("write");
        let reply = line(&mut self.0);
        match reply.strip_prefix('$') {
            Some(length) => match length.trim().parse::<i64>().expect("a length") {
                -1 => String::new(),
                n => {
                    let mut data = vec![0; n as usize + 2];
                    self.0.read_exact(&mut data).expect("data");
                    String::from_utf8(data[..n as usize].to_vec()).expect("UTF-8")
                }
            },
            None => reply,
        }
    }
}

impl Peer for Redis {
    fn cycle(&mut self, task: &str) -> usize {
        assert!(self.command(&["LPUSH", "bench", task]).starts_with(':'));
        loop {
            let data = self.command(&["LMOVE", "bench", "processing", "RIGHT", "LEFT"]);
            if data.is_empty() {
                continue;
            }
            assert_eq!(self.command(&["LREM", "processing", "1", &data]), ":1\r\n");
            return 1;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, peer, port, clients, seconds] = &args[..] else {
        eprintln!("usage: queue-load tqueue|tqueue-batch|beanstalkd|redis PORT CLIENTS SECONDS");
        std::process::exit(2);
    };
    let ports: Vec<u16> = port.split(',').map(|p| p.parse().expect("a port")).collect();
    let clients: usize = clients.parse().expect("a number of clients");
    let duration = Duration::from_secs_f64(seconds.parse().expect("seconds"));
    let start = Instant::now() + Duration::from_millis(100);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let peer = peer.clone();
            let port = ports[client % ports.len()];
            std::thread::spawn(move || {
                let mut connection: Box<dyn Peer> = match peer.as_str() {
                    "tqueue" => Box::new(Tqueue(connect(port))),
                    "tqueue-batch" => Box::new(TqueueBatch(Tqueue(connect(port)))),
                    "beanstalkd" => Box::new(Beanstalkd(connect(port))),
                    "redis" => Box::new(Redis(connect(port))),
                    other => panic!("unknown peer {other}"),
                };
                std::thread::sleep(start.saturating_duration_since(Instant::now()));
                let (mut took, mut tasks) = (Vec::new(), 0);
                let mut n = 0u64;
                while start.elapsed() < duration {
                    // ~100 bytes, unique (Redis's LREM finds the task by its value).
                    let task = format!("client-{client:03}-task-{n:012}-{}", "x".repeat(64));
                    let began = Instant::now();
                    tasks += connection.cycle(&task);
                    took.push(began.elapsed().as_micros() as u64);
                    n += 1;
                }
                (took, tasks)
            })
        })
        .collect();
    let (mut all, mut tasks) = (Vec::new(), 0);
    for thread in threads {
        let (took, moved) = thread.join().expect("a client");
        all.extend(took);
        tasks += moved;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!(
        r#"{{"tasks": {}, "per_second": {:.1}, "p50_us": {}, "p99_us": {}}}"#,
        tasks,
        tasks as f64 / elapsed,
        at(0.50),
        at(0.99)
    );
}
