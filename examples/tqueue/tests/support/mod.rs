//! What the TQueue tests share: a server (in this process or as a process of its own), and
//! an HTTP/1.1 client on one keep-alive connection that shows statuses, headers and bodies
//! as they came.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use appserver::{RunningServer, Server, Tokens};
pub use serde_json::{Value, json};

/// A directory of its own for one test.
pub fn scratch_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tqueue-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// TQueue in this process on a free loopback port, with `settings` (its store in a
/// scratch directory) and `tokens`.
pub fn start(settings: tqueue::Settings, tokens: Tokens) -> RunningServer {
    Store::Embedded.start(settings, tokens)
}

/// Where a test's tasks are kept.
pub enum Store {
    /// SQLite in a scratch directory.
    Embedded,
    /// A throwaway PostgreSQL of the test's own.
    Postgres(Postgres),
}

impl Store {
    /// A throwaway PostgreSQL, or `None` (after saying how to run the suite) where the
    /// machine has no PostgreSQL server.
    pub fn postgres() -> Option<Store> {
        Postgres::start().map(Store::Postgres)
    }

    /// `settings` on this store.
    pub fn settings(&self, settings: tqueue::Settings) -> tqueue::Settings {
        match self {
            Store::Embedded => tqueue::Settings { data_dir: scratch_dir().join("data"), ..settings },
            Store::Postgres(postgres) => tqueue::Settings {
                store: tqueue::StoreKind::Postgres,
                database_url: Some(postgres.url.clone()),
                ..settings
            },
        }
    }

    /// TQueue in this process on a free loopback port, with `settings` on this store and
    /// `tokens`.
    pub fn start(&self, settings: tqueue::Settings, tokens: Tokens) -> RunningServer {
        let server =
            Server::new().bind(([127, 0, 0, 1], 0)).auth_tokens(tokens).workers(2).ready_path(Some("/readyz".into()));
        let server = server.openapi_path(Some("/openapi.json".into()));
        tqueue::app(server, self.settings(settings)).expect("tqueue starts").start().expect("the server starts")
    }
}

/// A throwaway PostgreSQL (`scripts/throwaway-postgres.sh`), stopped when dropped.
pub struct Postgres {
    pub url: String,
    data: String,
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/throwaway-postgres.sh");

impl Postgres {
    /// Starts one; `None`, saying so, where the machine has no PostgreSQL server.
    pub fn start() -> Option<Postgres> {
        let out = Command::new(SCRIPT).arg("start").output().expect("the script runs");
        if out.status.code() == Some(2) {
            eprintln!(
                "SKIPPED: the PostgreSQL suite needs a PostgreSQL server (Debian's postgresql package): \
                 `apt-get install postgresql`, or run `bash .ci/run`, which installs it"
            );
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        let value = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_default().to_owned();
        Some(Postgres { url: value("DATABASE_URL="), data: value("PGDATA=") })
    }
}

impl Postgres {
    /// Stops the server, keeping its data: an outage.
    pub fn halt(&self) {
        assert!(Command::new(SCRIPT).args(["halt", &self.data]).status().unwrap().success());
    }

    /// Starts it again after [`Postgres::halt`].
    pub fn resume(&self) {
        assert!(Command::new(SCRIPT).args(["resume", &self.data]).status().unwrap().success());
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).args(["stop", &self.data]).status();
    }
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts the framework's error shape with `status`; returns the message.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let json = self.json();
        assert_eq!(json["error"]["status"], status, "{json}");
        json["error"]["message"].as_str().expect("a message").to_owned()
    }
}

/// One keep-alive connection to a server.
pub struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    pub token: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: None, token: None }
    }

    pub fn with_token(addr: SocketAddr, token: &str) -> Client {
        Client { token: Some(token.to_owned()), ..Client::new(addr) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a request; an error if the connection fails (the server died, say).
    pub fn try_send(&mut self, method: &str, path: &str, content_type: &str, body: &str) -> std::io::Result<Reply> {
        self.try_send_with(method, path, &[], content_type, body)
    }

    /// A request with `headers` besides the usual ones.
    pub fn try_send_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &str,
    ) -> std::io::Result<Reply> {
        let result = self.exchange(method, path, headers, content_type, body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    pub fn send(&mut self, method: &str, path: &str, content_type: &str, body: &str) -> Reply {
        self.try_send(method, path, content_type, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, "", "")
    }

    pub fn post(&mut self, path: &str) -> Reply {
        self.send("POST", path, "", "")
    }

    pub fn post_json(&mut self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, "application/json", &body.to_string())
    }

    pub fn post_form(&mut self, path: &str, form: &str) -> Reply {
        self.send("POST", path, "application/x-www-form-urlencoded", form)
    }

    /// `POST path` with the JSON `body` and `headers`.
    pub fn post_json_with(&mut self, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        let body = body.to_string();
        self.try_send_with("POST", path, headers, "application/json", &body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &str,
    ) -> std::io::Result<Reply> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: tqueue\r\nContent-Length: {}\r\n", body.len());
        if !content_type.is_empty() {
            request += &format!("Content-Type: {content_type}\r\n");
        }
        if let Some(token) = &self.token {
            request += &format!("Authorization: Bearer {token}\r\n");
        }
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += "\r\n";
        request += body;
        reader.get_mut().write_all(request.as_bytes())?;
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
            }
            if line == "\r\n" {
                break;
            }
            head += &line;
        }
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        if head.to_ascii_lowercase().contains("\r\nconnection: close\r\n") {
            // The server closes it: the next request opens another.
            self.stream = None;
        }
        Ok(Reply { status, head, body: String::from_utf8(body).unwrap() })
    }
}

/// The tqueue binary running in `dir`, killed when dropped.
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts tqueue in `dir` with `env` and waits until it listens; the log if it fails.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Result<Process, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tqueue"));
        command.current_dir(dir).env("RUST_LOG", "info,appserver::access=warn").env("APPSERVER_PORT", "0");
        command.env_remove("APPSERVER_CONFIG").envs(env.iter().copied());
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("tqueue starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (found, addr) = std::sync::mpsc::channel();
        for stream in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let (log, found) = (log.clone(), found.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("appserver listening addr=").nth(1) {
                        let _ = found.send(rest.split_whitespace().next().unwrap().parse::<SocketAddr>().unwrap());
                    }
                    log.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        drop(found);
        match addr.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => Ok(Process { child, addr, log }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(50));
                Err(log.lock().unwrap().clone())
            }
        }
    }

    /// `kill -9` of the process and its worker processes (a Forked server's), workers first
    /// so that none hears of its master's death.
    pub fn kill_all(self) {
        for child in self.children() {
            let _ = Command::new("kill").args(["-9", &child.to_string()]).status();
        }
        self.kill();
    }

    /// The worker processes (a Forked server's).
    pub fn children(&self) -> Vec<u32> {
        let out = Command::new("pgrep").args(["-P", &self.pid().to_string()]).output();
        let out = out.map(|out| String::from_utf8_lossy(&out.stdout).into_owned()).unwrap_or_default();
        out.split_whitespace().filter_map(|pid| pid.parse().ok()).collect()
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CPU time the process has used.
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let fields: Vec<u64> =
            stat.rsplit(')').next().unwrap().split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        Duration::from_millis((fields[11] + fields[12]) * 1000 / 100)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
