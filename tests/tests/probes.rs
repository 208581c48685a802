//! Health probes over real sockets: liveness at `health_path`, readiness at `ready_path`
//! with the application's checks (passing, failing, too slow), `stopping` once a graceful
//! shutdown begins, and probes left out of the access log with `log_probes = false`.

mod support;

use appserver::Server;
// The library's routes: a server needs one.
use appserver_tests as _;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Process, raw, start};

/// A GET of `path` on a connection of its own: the whole answer.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

#[test]
fn liveness_and_readiness_with_the_applications_checks() {
    let warm = Arc::new(AtomicBool::new(false));
    let server = start(
        Server::new()
            .health_path(Some("/healthz".into()))
            .ready_path(Some("/readyz".into()))
            .readiness("cache", {
                let warm = Arc::clone(&warm);
                move || {
                    let warm = warm.load(Ordering::Relaxed);
                    async move { if warm { Ok(()) } else { Err("the cache is still loading") } }
                }
            })
            .readiness("database", || async { Ok::<_, std::io::Error>(()) }),
    );
    let health = get(server.addr(), "/healthz");
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(
        health.contains("content-type: application/json\r\n") && health.ends_with(r#"{"status":"ok"}"#),
        "{health}"
    );

    let not_ready = get(server.addr(), "/readyz");
    assert!(not_ready.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{not_ready}");
    assert!(not_ready.contains("retry-after: 1\r\n"), "{not_ready}");
    assert!(
        not_ready
            .ends_with(r#"{"status":"not ready","checks":{"cache":"the cache is still loading","database":"ok"}}"#),
        "{not_ready}"
    );
    warm.store(true, Ordering::Relaxed);
    let ready = get(server.addr(), "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200 OK\r\n"), "{ready}");
    assert!(ready.ends_with(r#"{"status":"ready","checks":{"cache":"ok","database":"ok"}}"#), "{ready}");

    // HEAD too; another method is the router's business (no route: 404).
    let head = raw(server.addr(), b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");
    let post =
        raw(server.addr(), b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 404 Not Found\r\n"), "{post}");
}

#[test]
fn a_check_that_does_not_answer_fails_after_two_seconds() {
    let server = start(Server::new().ready_path(Some("/readyz".into())).readiness("slow", || async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, String>(())
    }));
    let asked = Instant::now();
    let answer = get(server.addr(), "/readyz");
    let took = asked.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.ends_with(r#"{"status":"not ready","checks":{"slow":"no answer within 2 s"}}"#), "{answer}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn probes_are_off_by_default() {
    let server = start(Server::new());
    assert!(get(server.addr(), "/healthz").starts_with("HTTP/1.1 404 "));
    assert!(get(server.addr(), "/readyz").starts_with("HTTP/1.1 404 "));
}

/// A keep-alive connection open when SIGTERM comes: its next readiness probe is a 503
/// `stopping` (and closes it), in both server types.
#[test]
fn readiness_is_stopping_once_a_graceful_shutdown_begins() {
    for server_type in ["threaded", "forked"] {
        let mut server = Process::start(&[
            ("APPSERVER_SERVER_TYPE", server_type),
            ("APPSERVER_WORKERS", "1"),
            ("APPSERVER_READY_PATH", "/readyz"),
            ("APPSERVER_HEALTH_PATH", "/healthz"),
        ]);
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let answer = |stream: &mut std::net::TcpStream| {
            stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let before = answer(&mut stream);
        assert!(
            before.starts_with("HTTP/1.1 200 OK\r\n") && before.ends_with(r#"{"status":"ready","checks":{}}"#),
            "{before}"
        );
        Process::kill(server.pid(), "TERM");
        std::thread::sleep(Duration::from_millis(300));
        let after = answer(&mut stream);
        assert!(after.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{server_type}: {after}");
        assert!(after.contains("connection: close\r\n") && after.ends_with(r#"{"status":"stopping"}"#), "{after}");
        assert_eq!(server.wait(Duration::from_secs(10)).and_then(|s| s.code()), Some(0));
    }
}

#[test]
fn log_probes_false_leaves_the_probes_out_of_the_access_log() {
    let server = Process::start(&[("APPSERVER_HEALTH_PATH", "/healthz"), ("APPSERVER_LOG_PROBES", "false")]);
    assert!(get(server.addr(), "/healthz").starts_with("HTTP/1.1 200 "));
    assert!(get(server.addr(), "/library/afterprobe").starts_with("HTTP/1.1 200 "));
    support::wait_for(|| server.log().contains("path=\"/library/afterprobe\""), "the route's line");
    assert!(!server.log().contains("path=\"/healthz\""), "{}", server.log());
}
