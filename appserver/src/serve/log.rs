//! Logging: the default `tracing` subscriber, handler panics and errors logged once each
//! with client text escaped, and a limit on repeated identical errors, which every warning
//! and error goes through, those of the dependencies (hyper, h2, rustls) included.
//!
//! Client-influenced text (paths, panic messages, error messages) is always logged as a
//! `Debug` string field: quoted, with newlines and control characters escaped, so a client
//! can neither forge a log line nor send escape sequences to a terminal.

use crate::config::{ConfigError, Source};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::reload::Handle;
use tracing_subscriber::util::SubscriberInitExt as _;

type Reload = Handle<EnvFilter, tracing_subscriber::fmt::Formatter>;

/// The filter handle of the subscriber this crate installed, if it did.
static RELOAD: OnceLock<Reload> = OnceLock::new();

/// Installs a formatting subscriber unless the program installed its own. Its filter:
/// `RUST_LOG`, else `configured` (the `log` setting, already checked). An invalid
/// `RUST_LOG` is an error only when this subscriber would read it.
pub(crate) fn init_default(configured: &str) -> Result<(), ConfigError> {
    if tracing::dispatcher::has_been_set() {
        return Ok(());
    }
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::builder().parse(&directives).map_err(|_| ConfigError::Invalid {
            source: Source::Env("RUST_LOG".into()),
            key: "log",
            value: format!("{directives:?}"),
            expected: crate::config::expected("log"),
        })?,
        Err(_) => EnvFilter::new(configured),
    };
    let ansi = std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_filter_reloading();
    let handle = builder.reload_handle();
    if builder.finish().with(RateLimit).try_init().is_ok() {
        let _ = RELOAD.set(handle);
        if !ansi {
            super::access::plain_subscriber();
        }
    }
    Ok(())
}

/// Whether a new `log` setting can take effect: this crate installed the subscriber, and
/// `RUST_LOG`, which would win, is not set.
pub(crate) fn reloadable() -> bool {
    RELOAD.get().is_some() && std::env::var_os("RUST_LOG").is_none()
}

/// Applies a new `log` setting, if [`reloadable`].
pub(crate) fn reload(configured: &str) {
    if let (true, Some(handle)) = (reloadable(), RELOAD.get()) {
        let _ = handle.reload(EnvFilter::new(configured));
        super::access::filter_changed();
    }
}

thread_local! {
    /// Whether this thread runs a handler under [`catching`].
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    /// Where the last handler panic on this thread happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A handler's panic, caught.
pub(crate) struct Panic {
    message: String,
    location: Option<String>,
}

/// Runs `f`, catching a panic. The panic hook ([`install_panic_hook`]) leaves panics in
/// here to the caller, who logs them once, escaped, with the handler's name.
pub(crate) fn catching<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    let outer = IN_HANDLER.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_HANDLER.set(outer);
    result.map_err(|payload| Panic {
        message: payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned()),
        location: PANIC_AT.take(),
    })
}

/// Installs, once per process, a panic hook that keeps the panics of handlers (caught by
/// [`catching`]) out of the default hook's raw output, noting their location; other
/// panics go to the hook that was installed before.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match IN_HANDLER.get() {
            true => PANIC_AT.set(info.location().map(ToString::to_string)),
            false => previous(info),
        }));
    });
}

impl Panic {
    /// Logs the panic of `handler` (escaped, rate-limited).
    pub(crate) fn log(&self, handler: &str) {
        let location = self.location.as_deref().unwrap_or("unknown");
        match admit("panicked", handler, &self.message) {
            Some(0) => tracing::error!(handler, panic = ?self.message, location, "handler panicked"),
            Some(repeated) => tracing::error!(handler, panic = ?self.message, location, repeated, "handler panicked"),
            None => {}
        }
    }
}

/// Logs a handler's error that is answered with a 500 (escaped, rate-limited).
pub(crate) fn handler_failed(status: u16, error: &str) {
    match admit("failed", "", error) {
        Some(0) => tracing::error!(status, error = ?error, "handler failed"),
        Some(repeated) => tracing::error!(status, error = ?error, repeated, "handler failed"),
        None => {}
    }
}

/// Logs a handler that ran past `request_timeout` (rate-limited).
pub(crate) fn handler_timed_out(handler: &str, timeout: Duration) {
    let timeout_ms = timeout.as_millis() as u64;
    match admit("timed out", handler, "") {
        Some(0) => tracing::warn!(handler, timeout_ms, "handler timed out"),
        Some(repeated) => tracing::warn!(handler, timeout_ms, repeated, "handler timed out"),
        None => {}
    }
}

/// Puts every warning and error through the limit: each call site at most
/// [`LINES_PER_SITE`] lines a second, and all of them within [`LINES_PER_SECOND`]. The
/// errors of this module, limited already by [`admit`], pass.
struct RateLimit;

impl<S: Subscriber> Layer<S> for RateLimit {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() > Level::WARN || meta.target() == module_path!() {
            return true;
        }
        let mut guard = limiter();
        let limiter = guard.get_or_insert_with(Limiter::new);
        limiter.tick(Instant::now());
        let site = limiter.sites.entry(meta.callsite()).or_insert(0);
        let admitted = *site < LINES_PER_SITE && limiter.lines < LINES_PER_SECOND;
        if admitted {
            *site += 1;
            limiter.lines += 1;
        }
        admitted
    }
}

/// Lines a second of one call site of a warning or an error.
const LINES_PER_SITE: u32 = 5;
/// Error lines per second, in all.
const LINES_PER_SECOND: u32 = 50;
/// Distinct errors remembered; past it the counts start over.
const REMEMBERED: usize = 4096;

struct Limiter {
    window: Instant,
    lines: u32,
    /// Per error: when it was last logged, and how often it was left out since.
    seen: HashMap<(&'static str, String, String), (Option<Instant>, u64)>,
    /// Lines of each call site of a warning or an error, in this second.
    sites: HashMap<tracing::callsite::Identifier, u32>,
}

impl Limiter {
    fn new() -> Self {
        Limiter { window: Instant::now(), lines: 0, seen: HashMap::new(), sites: HashMap::new() }
    }

    /// Starts a new second's counts if one has passed by `now`.
    fn tick(&mut self, now: Instant) {
        if now - self.window >= Duration::from_secs(1) {
            self.window = now;
            self.lines = 0;
            self.sites.clear();
        }
    }
}

/// The limiter every error line goes through.
fn limiter() -> std::sync::MutexGuard<'static, Option<Limiter>> {
    static LIMITER: Mutex<Option<Limiter>> = Mutex::new(None);
    LIMITER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether to log this error now: each distinct error at most once a second, all errors at
/// most [`LINES_PER_SECOND`] lines a second. `Some(n)`: log it, saying it was left out
/// `n` times since it was last logged.
fn admit(kind: &'static str, handler: &str, message: &str) -> Option<u64> {
    let now = Instant::now();
    let mut guard = limiter();
    let limiter = guard.get_or_insert_with(Limiter::new);
    limiter.tick(now);
    if limiter.seen.len() >= REMEMBERED {
        limiter.seen.clear();
    }
    let key = (kind, handler.to_owned(), message.to_owned());
    let entry = limiter.seen.entry(key).or_insert((None, 0));
    if entry.0.is_none_or(|last| now - last >= Duration::from_secs(1)) && limiter.lines < LINES_PER_SECOND {
        limiter.lines += 1;
        let repeated = entry.1;
        *entry = (Some(now), 0);
        Some(repeated)
    } else {
        entry.1 += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::admit;

    #[test]
    fn repeated_errors_are_logged_once_a_second_with_a_count() {
        assert_eq!(admit("test", "h", "boom"), Some(0));
        for _ in 0..1000 {
            assert_eq!(admit("test", "h", "boom"), None);
        }
        assert_eq!(admit("test", "h", "other"), Some(0), "another error is logged");
        std::thread::sleep(std::time::Duration::from_millis(1010));
        assert_eq!(admit("test", "h", "boom"), Some(1000), "then with the count of those left out");
    }
}
