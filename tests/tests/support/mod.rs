//! Helpers shared by the end-to-end tests: a server on a free loopback port, a real HTTP
//! client, and raw sockets for what a client library will not send.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub use appserver::{RunningServer, Server};

/// A started server on 127.0.0.1 and a free port.
pub fn start(server: Server) -> RunningServer {
    server.bind(([127, 0, 0, 1], 0)).start().expect("server starts")
}

/// A response, read in full.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts the framework's error shape with `status`; returns the message.
    pub fn error_message(&self, status: u16) -> String {
        error_message(status, self.status, self.header("content-type"), &self.body)
    }
}

/// Asserts that a response of `got` with `content_type` and `body` is the framework's
/// error shape with `status`; returns the message.
pub fn error_message(status: u16, got: u16, content_type: Option<&str>, body: &str) -> String {
    assert_eq!(got, status, "body: {body}");
    assert_eq!(content_type, Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(json["error"]["status"], status, "{json}");
    assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
    json["error"]["message"].as_str().expect("message").to_owned()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Sends `method` to `path` of `server` with `headers` and `body`.
pub fn send(server: &RunningServer, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = ureq::http::Request::builder().method(method).uri(format!("http://{}{path}", server.addr()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.to_vec()).expect("request");
    let mut response = agent().run(request).expect("response");
    let body = response.body_mut().read_to_string().expect("body");
    Reply { status: response.status().as_u16(), headers: response.headers().clone(), body }
}

pub fn get(server: &RunningServer, path: &str) -> Reply {
    send(server, "GET", path, &[], b"")
}

pub fn post_json(server: &RunningServer, path: &str, json: &str) -> Reply {
    send(server, "POST", path, &[("content-type", "application/json")], json.as_bytes())
}

/// Writes `raw` to a new connection and reads until the server closes it.
pub fn raw(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(raw).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The `serve` binary running as a process, with its log collected.
pub struct Process {
    child: std::process::Child,
    addr: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Process {
    /// Starts `serve` with `env` and `args`, in `dir` (where it looks for `appserver.toml`),
    /// and waits until it logs where it listens.
    pub fn start_in(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Process {
        Self::try_start_in(dir, env, args).unwrap_or_else(|(log, status)| panic!("no server ({status}):\n{log}"))
    }

    /// Starts `serve` with `env`, in a fresh directory.
    pub fn start(env: &[(&str, &str)]) -> Process {
        Self::start_in(&scratch_dir(), env, &[])
    }

    /// Like [`Process::start_in`]; on failure, the log and how the process ended.
    pub fn try_start_in(
        dir: &std::path::Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Process, (String, std::process::ExitStatus)> {
        Self::try_start_program(std::path::Path::new(env!("CARGO_BIN_EXE_serve")), dir, env, args)
    }

    /// Starts `program` (an example's binary) with `env` in `dir`, like [`Process::start_in`].
    pub fn start_program(program: &std::path::Path, dir: &std::path::Path, env: &[(&str, &str)]) -> Process {
        Self::try_start_program(program, dir, env, &[])
            .unwrap_or_else(|(log, status)| panic!("no server ({status}):\n{log}"))
    }

    /// Like [`Process::start_program`]; on failure, the log and how the process ended.
    pub fn try_start_program(
        program: &std::path::Path,
        dir: &std::path::Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Process, (String, std::process::ExitStatus)> {
        use std::io::BufRead;
        let mut command = std::process::Command::new(program);
        command
            .current_dir(dir)
            .args(args)
            .env("RUST_LOG", "info")
            .env("APPSERVER_PORT", "0")
            .env_remove("APPSERVER_CONFIG");
        // An empty value removes the variable (`RUST_LOG` is `info` unless a test says).
        for (name, value) in env {
            match value.is_empty() {
                true => command.env_remove(name),
                false => command.env(name, value),
            };
        }
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (found, addr) = std::sync::mpsc::channel();
        for stream in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let (log, found) = (log.clone(), found.clone());
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("appserver listening addr=").nth(1) {
                        let _ = found.send(rest.split_whitespace().next().unwrap().parse::<SocketAddr>().unwrap());
                    }
                    log.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        drop(found);
        match addr.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => Ok(Process { child, addr, log }),
            Err(_) => {
                // Exited, or never said where it listens: then it is stopped here.
                if child.try_wait().ok().flatten().is_none() {
                    let _ = child.kill();
                }
                let status = child.wait().expect("wait");
                std::thread::sleep(Duration::from_millis(50));
                let log = log.lock().unwrap().clone();
                Err((log, status))
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends `signal` (a name like `TERM`) to `pid`.
    pub fn kill(pid: u32, signal: &str) {
        let status = std::process::Command::new("kill").args(["-s", signal, &pid.to_string()]).status().unwrap();
        assert!(status.success(), "kill -s {signal} {pid}");
    }

    /// The process's children (its workers in Forked mode).
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let children = self.children();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for child in children {
            let _ = std::process::Command::new("kill").args(["-s", "KILL", &child.to_string()]).status();
        }
    }
}

/// The pids whose parent is `parent`, from `/proc`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may hold spaces, so read after the last ')'.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().collect();
        if fields[0] != "Z" && fields[1].parse() == Ok(parent) {
            children.push(pid);
        }
    }
    children
}

/// Whether a process `pid` exists (and is no zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
}

/// The resident memory of process `pid`, in MiB.
pub fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    kib / 1024
}

/// A new empty directory for one test.
pub fn scratch_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("appserver-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until `done` holds, at most 10 s; returns how long it took.
pub fn wait_for(mut done: impl FnMut() -> bool, what: &str) -> Duration {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

/// Sends `GET path` on a new connection; returns the response and how long it took.
pub fn timed_get(addr: SocketAddr, path: &str) -> (String, Duration) {
    let started = std::time::Instant::now();
    let out = raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    (out, started.elapsed())
}

/// What this test process logs, in memory: the access lines, the server's warnings and
/// tower-http's trace events. The first call installs the subscriber: every test of a
/// binary that reads the log calls it before it starts a server, which would install its
/// own.
pub fn logged() -> String {
    static LOG: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = std::sync::Arc::clone(&log);
        tracing_subscriber::fmt()
            .with_env_filter("warn,appserver::access=info,tower_http=debug")
            .with_ansi(false)
            .with_writer(move || Writer(std::sync::Arc::clone(&writer)))
            .init();
        log
    });
    String::from_utf8_lossy(&log.lock().unwrap()).into_owned()
}

pub struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, and its key, in `dir`.
pub fn certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}-key.pem")));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={name}"), "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl makes the test certificate");
    assert!(status.success());
    (cert, key)
}

/// A certificate for localhost and 127.0.0.1 signed by a throwaway CA, its key, and the CA's
/// certificate, in `dir`: what a client that trusts only CAs (rustls) accepts.
pub fn signed_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (ca, ca_key) = certificate(dir, "test-ca");
    let (cert, key, csr, ext) =
        (dir.join("leaf.pem"), dir.join("leaf-key.pem"), dir.join("leaf.csr"), dir.join("leaf.ext"));
    std::fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n").unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl makes the test certificate");
        assert!(status.success(), "openssl {args:?}");
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    openssl(&[
        os("req"),
        os("-newkey"),
        os("ec"),
        os("-pkeyopt"),
        os("ec_paramgen_curve:prime256v1"),
        os("-nodes"),
        os("-subj"),
        os("/CN=localhost"),
        os("-keyout"),
        key.as_os_str(),
        os("-out"),
        csr.as_os_str(),
    ]);
    openssl(&[
        os("x509"),
        os("-req"),
        os("-in"),
        csr.as_os_str(),
        os("-CA"),
        ca.as_os_str(),
        os("-CAkey"),
        ca_key.as_os_str(),
        os("-CAcreateserial"),
        os("-days"),
        os("2"),
        os("-extfile"),
        ext.as_os_str(),
        os("-out"),
        cert.as_os_str(),
    ]);
    (cert, key, ca)
}
