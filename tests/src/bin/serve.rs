//! A server as an application runs it: settings from `appserver.toml` and `APPSERVER_*`
//! variables, those given as arguments set in code, serving until a signal. The tests start
//! it as a process, read its address from the log, and stop it with signals.
//!
//! Run with: cargo run -p appserver-tests --bin serve -- [--port N] [--max-body-bytes N]
//!
//! `SERVE_ASYNC=1` serves with `serve_async` on a tokio runtime of the program's own;
//! `SERVE_FAIL_BOOT=1` makes every worker fail at start (`on_worker_start`);
//! `SERVE_OWN_SUBSCRIBER=1` installs the program's own `tracing` subscriber first.
//!
//! A background task ([`Server::background`]) counts beats every 10 ms in each serving
//! process; `GET /beats` answers this process's pid and count, `[pid, beats]`.
//!
//! `GET /whoami` takes a bearer token: the one set here ([`TOKEN`]) unless
//! `SERVE_NO_CODE_TOKEN=1`, or one of `auth_tokens_file`, which SIGHUP reads again.

use appserver::{Bearer, Server, Tokens, route};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// The routes of the library crate.
use appserver_tests as _;

/// The token set in code, held by `serve`.
const TOKEN: &str = "serve-token-set-in-code";

/// Who holds the token sent.
#[route(GET, r"/whoami")]
fn whoami(token: Bearer) -> String {
    token.name().to_owned()
}

/// The beats of this process's background task.
static BEATS: AtomicU64 = AtomicU64::new(0);

/// This process's pid and its background task's beats: `[pid, beats]`.
#[route(GET, r"/beats")]
fn beats() -> [u64; 2] {
    [u64::from(std::process::id()), BEATS.load(Ordering::Relaxed)]
}

fn main() -> Result<(), appserver::ServeError> {
    let mut server = Server::new().background(|| async {
        loop {
            BEATS.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    if std::env::var_os("SERVE_NO_CODE_TOKEN").is_none() {
        server = server.auth_tokens(Tokens::new().token("serve", TOKEN, ["any"]));
    }
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().expect("a value after the flag");
        server = match flag.as_str() {
            "--port" => server.port(value.parse().expect("a port")),
            "--max-body-bytes" => server.max_body_bytes(value.parse().expect("a number")),
            other => panic!("unknown flag {other}"),
        };
    }
    if std::env::var_os("SERVE_OWN_SUBSCRIBER").is_some() {
        tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_ansi(false).init();
    }
    if std::env::var_os("SERVE_FAIL_BOOT").is_some() {
        server = server.on_worker_start(|| Err(std::io::Error::other("SERVE_FAIL_BOOT is set")));
    }
    if std::env::var_os("SERVE_ASYNC").is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        return runtime.block_on(async {
            eprintln!("serving with serve_async");
            server.serve_async().await
        });
    }
    server.serve()
}
