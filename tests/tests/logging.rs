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
    server.shutdown().unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let has = |needle: &str| assert!(log.contains(needle), "no {needle:?} in:\n{log}");
    has(r#"route methods="GET, HEAD" pattern="/fine/" handler="logging::fine""#);
    has(r#"appserver::access: method=GET path="/fine/" status=200 micros="#);
    has(r#"handler panicked handler="logging::broken" panic="broken on purpose""#);
    has(r#"appserver::access: method=GET path="/broken/" status=500"#);
    has(r#"appserver::access: method=GET path="/nowhere" status=404"#);
}
