//! Logging: the route table at startup, an access line per request, panics with the
//! handler's name, all through `tracing`.

mod support;

use appserver::{Server, route};
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::{get, start};
use tracing_subscriber::fmt::MakeWriter;

#[route(GET, r"/fine/")]
fn fine() -> u8 {
    1
}

#[route(GET, r"/broken/")]
fn broken() -> u8 {
    panic!("broken on purpose")
}

/// A value whose `Serialize` fails.
struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no JSON for this value"))
    }
}

#[route(GET, r"/unserializable/")]
fn unserializable() -> Unserializable {
    Unserializable
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn startup_requests_and_panics_are_logged() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_writer(captured.clone()).with_ansi(false).finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = start(Server::new());
    assert_eq!(get(&server, "/fine/").status, 200);
    assert_eq!(get(&server, "/broken/").status, 500);
    assert_eq!(get(&server, "/nowhere").status, 404);
    let failed = get(&server, "/unserializable/");
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body, r#"{"error":{"status":500,"message":"internal server error"}}"#);
    server.shutdown().unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let has = |needle: &str| assert!(log.contains(needle), "no {needle:?} in:\n{log}");
    has(r#"route methods="GET, HEAD" pattern="/fine/" handler="logging::fine""#);
    has(r#"appserver::access: method=GET path="/fine/" status=200 micros="#);
    has(r#"handler panicked handler="logging::broken" panic="broken on purpose""#);
    // The response hides the cause; the server that called the handler logs it.
    has(r#"handler failed status=500 error="no JSON for this value""#);
    has(r#"appserver::access: method=GET path="/broken/" status=500"#);
    has(r#"appserver::access: method=GET path="/nowhere" status=404"#);
}

/// A real process's log, stdout and stderr together, as an operator sees it.
mod process {
    use super::support::{Process, timed_get};
    use std::time::Duration;

    const FORGED: &str = "2026-01-01T00:00:00.000000Z  INFO appserver::access: method=GET path=\"/forged\" status=200";

    #[test]
    fn client_text_cannot_forge_log_lines_or_reach_the_terminal() {
        let server = Process::start(&[]);
        // A newline, a forged line, and an escape sequence, percent-encoded in the path:
        // the groups receive them decoded.
        let payload = format!("x%0A{}%1B%5B31mred", FORGED.replace(' ', "%20").replace('"', "%22"));
        for route in ["fail", "panic-with"] {
            let (out, _) = timed_get(server.addr(), &format!("/{route}/{payload}"));
            assert!(out.starts_with("HTTP/1.1 500 "), "{out}");
            assert!(out.ends_with(r#"{"error":{"status":500,"message":"internal server error"}}"#), "{out}");
        }
        std::thread::sleep(Duration::from_millis(100));
        let log = server.log();
        assert!(!log.contains('\x1b'), "an escape sequence reached the log:\n{log}");
        for line in log.lines() {
            assert!(!line.starts_with("2026-01-01"), "a forged line:\n{log}");
        }
        let escaped = r#"x\n2026-01-01T00:00:00.000000Z  INFO appserver::access: method=GET path=\"/forged\" status=200\u{1b}[31mred"#;
        assert!(log.contains(&format!("handler failed status=500 error=\"{escaped}\"")), "{log}");
        let panicked = format!(
            "handler panicked handler=\"appserver_tests::panic_with\" panic=\"{escaped}\" location=\"tests/src/lib.rs:"
        );
        assert!(log.contains(&panicked), "{log}");
        // The panic is logged once, by appserver, not printed raw by the default hook.
        assert!(!log.contains("panicked at"), "the default panic hook printed:\n{log}");
        assert_eq!(log.matches("handler panicked").count(), 1, "{log}");
    }

    #[test]
    fn a_dependency_s_warnings_go_through_the_rate_limit() {
        let server = Process::start(&[]);
        assert!(timed_get(server.addr(), "/warn/1000").0.ends_with("\r\n\r\n1000"));
        std::thread::sleep(Duration::from_millis(1100));
        assert!(timed_get(server.addr(), "/warn/1000").0.ends_with("\r\n\r\n1000"));
        std::thread::sleep(Duration::from_millis(100));
        let log = server.log();
        let lines = log.lines().filter(|l| l.contains("chatty_dependency")).count();
        assert_eq!(lines, 10, "2,000 warnings from one call site, 1.1 s apart, are 5 lines each time:\n{log}");
    }

    #[test]
    fn a_flood_of_identical_errors_is_logged_once_a_second_with_a_count() {
        let server = Process::start(&[]);
        let addr = server.addr();
        let started = std::time::Instant::now();
        let mut requests = 0;
        while started.elapsed() < Duration::from_millis(1500) {
            assert!(timed_get(addr, "/panic/").0.starts_with("HTTP/1.1 500 "));
            requests += 1;
        }
        std::thread::sleep(Duration::from_millis(1100));
        assert!(timed_get(addr, "/panic/").0.starts_with("HTTP/1.1 500 "));
        std::thread::sleep(Duration::from_millis(100));
        let log = server.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("handler panicked")).collect();
        println!("{} panicking requests in {:?}: {} log lines", requests + 1, started.elapsed(), lines.len());
        assert!(requests > 100, "{requests}");
        assert!((2..=4).contains(&lines.len()), "{lines:#?}");
        let counted: u64 = lines
            .iter()
            .filter_map(|l| l.split("repeated=").nth(1))
            .map(|n| n.split_whitespace().next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted + lines.len() as u64, requests + 1, "every panic is logged or counted: {lines:#?}");
    }
}
