//! Shutdown always ends and loses nothing; SIGHUP reloads instead of killing. Real
//! processes of both server types, real signals, real sockets.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use support::{Process, scratch_dir, timed_get, wait_for};

fn server(mode: &str, workers: &str, env: &[(&str, &str)]) -> Process {
    let mut all = vec![("APPSERVER_SERVER_TYPE", mode), ("APPSERVER_WORKERS", workers)];
    all.extend_from_slice(env);
    let server = Process::start(&all);
    if mode == "forked" {
        let workers: usize = workers.parse().unwrap();
        wait_for(|| server.children().len() == workers, "the workers start");
    }
    server
}

#[test]
fn the_process_exits_within_graceful_timeout_whatever_its_handlers_do() {
    // A handler sleeping a minute: blocking (on the blocking pool) and inline sync, on a
    // current-thread runtime (1 worker) and on a multi-thread one (2 workers).
    for (mode, workers, path) in [
        ("threaded", "1", "/blocking/60000"),
        ("threaded", "2", "/blocking/60000"),
        ("threaded", "1", "/sleep/60000"),
        ("threaded", "2", "/sleep/60000"),
        ("forked", "1", "/sleep/60000"),
    ] {
        let mut server =
            server(mode, workers, &[("APPSERVER_REQUEST_TIMEOUT", "1"), ("APPSERVER_GRACEFUL_TIMEOUT", "1")]);
        let addr = server.addr();
        let in_flight = thread::spawn(move || timed_get(addr, path));
        thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        Process::kill(server.pid(), "TERM");
        let status = server.wait(Duration::from_secs(10));
        let took = started.elapsed();
        println!("{mode} ({workers} workers), {path} in flight: exited {took:?} after SIGTERM");
        let status = status.unwrap_or_else(|| panic!("{mode} {workers} {path}: still running 10 s after SIGTERM"));
        assert!(status.success(), "{mode} {workers} {path}: {status}\n{}", server.log());
        assert!(took < Duration::from_millis(2500), "{mode} {workers} {path}: exit took {took:?}");
        let (out, _) = in_flight.join().unwrap();
        if path.starts_with("/blocking") {
            assert!(out.starts_with("HTTP/1.1 503 "), "the blocking handler's request got its 503: {out}");
        }
    }
}

#[test]
fn new_connections_are_refused_at_once_during_graceful_shutdown() {
    for mode in ["threaded", "forked"] {
        let mut server = server(mode, "2", &[]);
        let addr = server.addr();
        let in_flight = thread::spawn(move || timed_get(addr, "/async-sleep/1500"));
        thread::sleep(Duration::from_millis(200));
        Process::kill(server.pid(), "TERM");
        thread::sleep(Duration::from_millis(300));
        // The server is still finishing the request in flight...
        assert!(server.wait(Duration::ZERO).is_none(), "{mode}: exited before its request finished");
        // ...and refuses newcomers instead of letting them hang in the backlog.
        let started = Instant::now();
        let refused = match TcpStream::connect(addr) {
            Err(err) => err.kind() == std::io::ErrorKind::ConnectionRefused,
            Ok(mut stream) => {
                stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                let _ = stream.write_all(b"GET /library/x HTTP/1.1\r\nHost: x\r\n\r\n");
                let mut buf = [0; 64];
                panic!("{mode}: a new connection was accepted during shutdown: read {:?}", stream.read(&mut buf));
            }
        };
        assert!(refused, "{mode}: the connection failed, but not as refused");
        assert!(started.elapsed() < Duration::from_millis(100), "{mode}: refused only after {:?}", started.elapsed());
        let (out, _) = in_flight.join().unwrap();
        assert!(out.starts_with("HTTP/1.1 200 ") && out.ends_with("1500"), "{mode}: {out}");
        assert!(server.wait(Duration::from_secs(10)).is_some_and(|s| s.success()), "{mode}");
    }
}

#[test]
fn requests_the_kernel_accepted_before_the_signal_are_answered() {
    // One worker, busy in an inline sync handler: the next client's connection and request
    // wait in the kernel (or in the runtime's queue) when SIGTERM arrives. Several rounds,
    // since the failure this guards against was intermittent.
    for mode in ["forked", "threaded"] {
        for round in 0..4 {
            let mut server = server(mode, "1", &[]);
            let addr = server.addr();
            let busy = thread::spawn(move || timed_get(addr, "/sleep/700"));
            thread::sleep(Duration::from_millis(150));
            let waiting: Vec<_> = (0..3)
                .map(|i| {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    let name = ["one", "two", "three"][i];
                    let request = format!("GET /library/{name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    stream.write_all(request.as_bytes()).unwrap();
                    stream
                })
                .collect();
            thread::sleep(Duration::from_millis(100));
            Process::kill(server.pid(), "TERM");
            for (i, mut stream) in waiting.into_iter().enumerate() {
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut out = String::new();
                let _ = stream.read_to_string(&mut out);
                let expected = format!(r#"{{"from":"library","name":"{}"}}"#, ["one", "two", "three"][i]);
                assert!(
                    out.starts_with("HTTP/1.1 200 ") && out.ends_with(&expected),
                    "{mode}, round {round}: connection {i} got {out:?}\n{}",
                    server.log()
                );
            }
            assert!(busy.join().unwrap().0.ends_with("700"), "{mode}: the busy request");
            assert!(server.wait(Duration::from_secs(10)).is_some_and(|s| s.success()), "{mode}");
        }
    }
}

/// Requests on new connections in a loop from `threads` threads until `stop`; returns
/// (succeeded, failures with what they got).
fn load(
    addr: std::net::SocketAddr,
    threads: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<(usize, Vec<String>)>> {
    (0..threads)
        .map(|_| {
            let stop = Arc::clone(stop);
            thread::spawn(move || {
                let (mut ok, mut failed) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let (out, _) = timed_get(addr, "/pid");
                    match out.starts_with("HTTP/1.1 200 ") {
                        true => ok += 1,
                        false => failed.push(out),
                    }
                }
                (ok, failed)
            })
        })
        .collect()
}

#[test]
fn sighup_in_forked_mode_replaces_the_workers_with_the_new_config_without_a_failed_request() {
    let dir = scratch_dir();
    std::fs::write(dir.join("appserver.toml"), "server_type = \"forked\"\nworkers = 2\n").unwrap();
    let server = Process::start_in(&dir, &[], &[]);
    wait_for(|| server.children().len() == 2, "the workers start");
    let old = server.children();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(server.addr(), 4, &stop);
    thread::sleep(Duration::from_millis(300));

    // An invalid file: the error is logged, the old workers keep serving.
    std::fs::write(dir.join("appserver.toml"), "server_type = \"forked\"\nworkers = 0\n").unwrap();
    Process::kill(server.pid(), "HUP");
    wait_for(|| server.log().contains("SIGHUP: the configuration is invalid"), "the invalid config is logged");
    assert!(server.log().contains("appserver.toml:2: invalid value 0 for `workers`"), "{}", server.log());
    thread::sleep(Duration::from_millis(200));
    assert_eq!(server.children(), old, "the old workers keep serving");

    // A valid one: three new workers replace the two old ones.
    std::fs::write(dir.join("appserver.toml"), "server_type = \"forked\"\nworkers = 3\n").unwrap();
    Process::kill(server.pid(), "HUP");
    let took = wait_for(
        || {
            let now = server.children();
            now.len() == 3 && now.iter().all(|pid| !old.contains(pid))
        },
        "three new workers replace the old ones",
    );
    println!("workers replaced {took:?} after SIGHUP");
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for client in clients {
        let (n, f) = client.join().unwrap();
        ok += n;
        failed.extend(f);
    }
    println!("under load across two SIGHUPs: {ok} requests succeeded, {} failed", failed.len());
    assert!(ok > 200, "{ok} requests");
    assert!(failed.is_empty(), "failed requests: {:?}", &failed[..failed.len().min(3)]);
    // The new workers serve.
    let pids: std::collections::HashSet<String> =
        (0..60).map(|_| timed_get(server.addr(), "/pid").0.rsplit("\r\n").next().unwrap().to_owned()).collect();
    let now: Vec<String> = server.children().iter().map(ToString::to_string).collect();
    assert!(pids.iter().all(|pid| now.contains(pid)), "{pids:?} not all in {now:?}");
}

#[test]
fn sighup_in_threaded_mode_reloads_the_log_filter_and_drops_nothing() {
    let dir = scratch_dir();
    std::fs::write(dir.join("appserver.toml"), "log = \"info\"\n").unwrap();
    let mut server = Process::start_in(&dir, &[("RUST_LOG", "")], &[]);
    let addr = server.addr();
    let in_flight = thread::spawn(move || timed_get(addr, "/async-sleep/600"));
    thread::sleep(Duration::from_millis(100));
    std::fs::write(dir.join("appserver.toml"), "log = \"warn\"\nworkers = 3\n").unwrap();
    Process::kill(server.pid(), "HUP");
    wait_for(|| server.log().contains("SIGHUP: the configuration was read again"), "the reload is logged");
    let log = server.log();
    assert!(log.contains(r#"log_filter="warn" need_a_restart=["workers"]"#), "{log}");
    let (out, _) = in_flight.join().unwrap();
    assert!(out.starts_with("HTTP/1.1 200 ") && out.ends_with("600"), "the request in flight: {out}");
    assert!(server.wait(Duration::ZERO).is_none(), "SIGHUP must not stop the server");
    // `warn` now: no more access lines (once the line of the request in flight, which
    // started before the reload, is written).
    wait_for(|| server.log().contains(r#"path="/async-sleep/600" status=200"#), "the line of the request in flight");
    let before = server.log().matches("appserver::access").count();
    assert!(timed_get(addr, "/library/quiet").0.starts_with("HTTP/1.1 200 "));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(server.log().matches("appserver::access").count(), before, "{}", server.log());
}

/// The status and body of `GET /whoami` with `token`.
fn whoami(addr: std::net::SocketAddr, token: &str) -> (u16, String) {
    let out = support::raw(
        addr,
        format!("GET /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, out.rsplit("\r\n").next().unwrap_or_default().to_owned())
}

#[test]
fn sighup_replaces_the_tokens_in_both_modes() {
    const OLD: &str = "old-worker-token-0123456789";
    const NEW: &str = "new-worker-token-0123456789";
    for mode in ["threaded", "forked"] {
        let dir = scratch_dir();
        let tokens = |secret: &str| format!("[[tokens]]\nname = \"worker\"\ntoken = \"{secret}\"\n");
        std::fs::write(dir.join("tokens.toml"), tokens(OLD)).unwrap();
        let config = format!("server_type = \"{mode}\"\nworkers = 1\n");
        std::fs::write(dir.join("appserver.toml"), format!("{config}auth_tokens_file = \"tokens.toml\"\n")).unwrap();
        let server = Process::start_in(&dir, &[("SERVE_NO_CODE_TOKEN", "1")], &[]);
        let addr = server.addr();
        assert_eq!(whoami(addr, OLD), (200, r#""worker""#.to_owned()), "{mode}");
        assert_eq!(whoami(addr, NEW).0, 401, "{mode}");

        // No tokens at all: refused, the running ones stay.
        std::fs::write(dir.join("appserver.toml"), &config).unwrap();
        Process::kill(server.pid(), "HUP");
        wait_for(|| server.log().contains("configuration has no tokens; keeping the running one"), "the refusal");
        assert_eq!(whoami(addr, OLD).0, 200, "{mode}");

        std::fs::write(dir.join("appserver.toml"), format!("{config}auth_tokens_file = \"tokens.toml\"\n")).unwrap();
        std::fs::write(dir.join("tokens.toml"), tokens(NEW)).unwrap();
        let old = server.children();
        Process::kill(server.pid(), "HUP");
        wait_for(|| whoami(addr, NEW).0 == 200, "the new token is accepted");
        // Forked: the old workers finish what they have, then exit.
        wait_for(|| !server.children().iter().any(|pid| old.contains(pid)), "the old workers exit");
        assert_eq!(whoami(addr, OLD).0, 401, "{mode}: the old token is refused");
        assert!(!server.log().contains(NEW) && !server.log().contains(OLD), "{mode}: a secret was logged");
    }
}

#[test]
fn a_second_stop_signal_ends_the_wait_at_once() {
    for mode in ["threaded", "forked"] {
        let mut server = server(mode, "1", &[("APPSERVER_GRACEFUL_TIMEOUT", "60")]);
        let addr = server.addr();
        let _in_flight = thread::spawn(move || timed_get(addr, "/async-sleep/30000"));
        thread::sleep(Duration::from_millis(200));
        Process::kill(server.pid(), "TERM");
        thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        Process::kill(server.pid(), "INT");
        let status = server.wait(Duration::from_secs(5)).unwrap_or_else(|| panic!("{mode}: still running"));
        println!("{mode}: exited {:?} after the second signal", started.elapsed());
        assert!(status.success(), "{mode}: {status}");
    }
}

#[test]
fn the_longest_graceful_timeout_does_not_overflow_and_longer_is_refused() {
    let mut server = server("forked", "1", &[("APPSERVER_GRACEFUL_TIMEOUT", "86400")]);
    Process::kill(server.pid(), "TERM");
    let status = server.wait(Duration::from_secs(5)).expect("the master exits");
    assert!(status.success() && !server.log().contains("panicked"), "{status}\n{}", server.log());
    let (log, status) = Process::try_start_in(
        &scratch_dir(),
        &[("APPSERVER_SERVER_TYPE", "forked"), ("APPSERVER_GRACEFUL_TIMEOUT", "18446744073709551615")],
        &[],
    )
    .map(|_| ())
    .expect_err("refused");
    assert_eq!(status.code(), Some(1));
    assert!(
        log.contains(r#"environment variable APPSERVER_GRACEFUL_TIMEOUT: invalid value "18446744073709551615" for `graceful_timeout`: expected a duration up to 1 day"#),
        "{log}"
    );
}

mod live_streams {
    use super::support::Process;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    /// SIGTERM while a client reads an endless event stream: the stream ends cleanly (its
    /// last chunk sent) and the process exits with 0 long before `graceful_timeout` (5 s).
    #[test]
    fn an_open_event_stream_ends_at_sigterm_in_both_server_types() {
        for server_type in ["threaded", "forked"] {
            let mut server = Process::start(&[
                ("APPSERVER_SERVER_TYPE", server_type),
                ("APPSERVER_WORKERS", "2"),
                ("APPSERVER_GRACEFUL_TIMEOUT", "5"),
            ]);
            let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            stream.write_all(b"GET /ticks/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut first = [0u8; 512];
            let n = stream.read(&mut first).unwrap();
            assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200 OK\r\n"));
            std::thread::sleep(Duration::from_millis(250));
            let started = Instant::now();
            Process::kill(server.pid(), "TERM");
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).unwrap();
            let ended = started.elapsed();
            let status = server.wait(Duration::from_secs(10)).expect("the server exits");
            let exited = started.elapsed();
            let rest = String::from_utf8_lossy(&rest);
            println!("{server_type}: event stream ended {ended:?} after SIGTERM, process exited after {exited:?}");
            assert!(rest.ends_with("0\r\n\r\n"), "the stream ends with its last chunk: {rest:?}");
            assert_eq!(status.code(), Some(0));
            assert!(exited < Duration::from_millis(1500), "{server_type}: {exited:?}");
        }
    }

    /// The same with a stream that watches for the shutdown: its last event is sent before
    /// the stream ends.
    #[test]
    fn an_event_stream_that_awaits_the_shutdown_sends_its_last_event() {
        let mut server = Process::start(&[("APPSERVER_GRACEFUL_TIMEOUT", "5")]);
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /ticks-farewell/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut first = [0u8; 512];
        let n = stream.read(&mut first).unwrap();
        assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200 OK\r\n"));
        std::thread::sleep(Duration::from_millis(250));
        Process::kill(server.pid(), "TERM");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        let rest = String::from_utf8_lossy(&rest);
        assert!(rest.contains("event: bye\ndata: shutting down\n\n"), "{rest:?}");
        assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
        assert_eq!(server.wait(Duration::from_secs(10)).and_then(|s| s.code()), Some(0));
    }

    /// Over HTTP/2 (curl, prior knowledge): the stream ends cleanly at SIGTERM, curl exits 0.
    #[test]
    fn an_http2_event_stream_ends_at_sigterm() {
        let mut server = Process::start(&[("APPSERVER_HTTP2", "true"), ("APPSERVER_GRACEFUL_TIMEOUT", "5")]);
        let curl = std::process::Command::new("curl")
            .args(["-sN", "--http2-prior-knowledge", "--max-time", "10"])
            .arg(format!("http://{}/ticks-farewell/", server.addr()))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("curl runs");
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        Process::kill(server.pid(), "TERM");
        let out = curl.wait_with_output().unwrap();
        let ended = started.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        println!("HTTP/2 event stream ended {ended:?} after SIGTERM");
        assert!(out.status.success(), "curl: {:?}, {text:?}", out.status);
        assert!(text.starts_with("data: 0\n\n") && text.ends_with("event: bye\ndata: shutting down\n\n"), "{text:?}");
        assert!(ended < Duration::from_millis(1500), "{ended:?}");
        assert_eq!(server.wait(Duration::from_secs(10)).and_then(|s| s.code()), Some(0));
    }

    type Client = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

    async fn websocket(addr: std::net::SocketAddr, path: &str) -> Client {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio_tungstenite::client_async(format!("ws://{addr}{path}"), tcp).await.unwrap().0
    }

    /// The texts `client` receives, up to its close frame, whose code it returns.
    async fn until_closed(client: &mut Client) -> (Vec<String>, Option<u16>) {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let mut texts = Vec::new();
        while let Some(message) = client.next().await {
            match message.expect("a clean close") {
                Message::Text(text) => texts.push(text.as_str().to_owned()),
                Message::Close(frame) => return (texts, frame.map(|f| f.code.into())),
                _ => {}
            }
        }
        (texts, None)
    }

    /// SIGTERM with two WebSockets open: one whose handler reads (its `recv` gives `None`,
    /// it says goodbye) and one whose handler only sends and awaits the shutdown. Each
    /// client gets its last message, then a close frame 1001; the process exits with 0 long
    /// before `graceful_timeout` (5 s).
    #[test]
    fn open_websockets_get_their_last_message_and_close_1001_at_sigterm_in_both_server_types() {
        use futures_util::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        for server_type in ["threaded", "forked"] {
            let mut server = Process::start(&[
                ("APPSERVER_SERVER_TYPE", server_type),
                ("APPSERVER_WORKERS", "2"),
                ("APPSERVER_GRACEFUL_TIMEOUT", "5"),
            ]);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (echo, ticks, closed) = runtime.block_on(async {
                let mut echo = websocket(server.addr(), "/ws/echo").await;
                echo.send(Message::text("hello")).await.unwrap();
                assert_eq!(echo.next().await.unwrap().unwrap(), Message::text("hello"));
                let mut ticks = websocket(server.addr(), "/ws/ticks").await;
                assert_eq!(ticks.next().await.unwrap().unwrap(), Message::text("tick"));
                let started = Instant::now();
                Process::kill(server.pid(), "TERM");
                let (echo, ticks) = tokio::join!(until_closed(&mut echo), until_closed(&mut ticks));
                (echo, ticks, started.elapsed())
            });
            let started = Instant::now() - closed;
            let status = server.wait(Duration::from_secs(10)).expect("the server exits");
            let exited = started.elapsed();
            println!("{server_type}: WebSockets closed {closed:?} after SIGTERM, process exited after {exited:?}");
            assert_eq!(echo, (vec!["goodbye".to_owned()], Some(1001)), "{server_type}");
            let (texts, code) = ticks;
            assert_eq!(texts.last().map(String::as_str), Some("the server is shutting down"), "{server_type}");
            assert!(texts[..texts.len() - 1].iter().all(|t| t == "tick"), "{texts:?}");
            assert_eq!(code, Some(1001), "{server_type}");
            assert_eq!(status.code(), Some(0));
            assert!(exited < Duration::from_millis(1500), "{server_type}: {exited:?}");
        }
    }
}
