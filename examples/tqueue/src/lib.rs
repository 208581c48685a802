//! TQueue: a network task queue like Python's `queue.Queue`, shared by workers on many
//! hosts: the original TQueueSrv's protocol (v1), and a JSON protocol with leases,
//! long-polls and dead letters (v2, see [`v2`]), on a durable store.
//!
//! Every hole of the original is closed:
//! - **Leases.** A task handed out comes back when its lease runs out without a done,
//!   and is dead after `max_attempts` leases. A done names the lease (`<id>.<attempt>`),
//!   so a lease that ran out cannot finish a task leased again.
//! - **Bounds.** `max_tasks` per queue, `max_task_bytes` per task, `max_queues`: a put past
//!   them is refused (v2: 429 with `Retry-After`, 422, 507), never dropped.
//! - **Durability.** A put or a done is answered once it is on disk (SQLite's log,
//!   fsynced), with group commit: concurrent requests share each fsync.
//! - **Auth.** Bearer tokens with the roles `produce`, `consume` and `admin`. Without
//!   tokens it serves the loopback address only, unless `allow_anonymous = true`.
//!
//! The modules, each importing only those listed before it: `settings`, `store` (what
//! every store does, the `Store` trait, and the types it answers with), `sqlite` (the embedded store's file), `embedded` and `postgres` (the two stores),
//! `queues` (the [`Queues`] facade the routes use), `access` (who may do what), `refusal`
//! (a refusal as an HTTP error through `IntoResponse`, and the routes' error type), then `v1`
//! and `v2` (the routes, each queue's under one `#[scope]`).
//!
//! Serve it with `cargo run --release -p tqueue`; in a program:
//!
//! ```no_run
//! let settings = tqueue::Settings { data_dir: "/var/lib/tqueue".into(), ..Default::default() };
//! tqueue::app(appserver::Server::new(), settings)?.serve()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod access;
mod dashboard;
mod embedded;
mod gather;
mod idempotency;
mod metrics;
mod postgres;
mod queues;
mod refusal;
mod settings;
mod sqlite;
mod store;
mod v1;
pub mod v2;

pub use access::{Admin, Anonymous, Caller, Consume, Produce};
pub use queues::Queues;
pub use settings::{Problem, QueueSettings, Settings, StoreKind};
pub use store::{DeadTask, Key, Leased, OpenError, Put, Receipt, Refused, Stats, StoreError, Token, TokenError};

use appserver::{ServeError, Server, ServerType};
use std::fmt;

/// Whether `name` is a queue name: 1 to 64 of `A-Z a-z 0-9 _ . -` (the routes' pattern).
pub fn valid_queue_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Why TQueue did not start.
pub enum StartError {
    /// The server's configuration.
    Server(ServeError),
    /// The `[tqueue]` settings, every problem.
    Settings(Vec<Problem>),
    /// Forked mode with the embedded store, which worker processes cannot share.
    Forked,
    /// No tokens and an address beyond this host, without `allow_anonymous`.
    Anonymous(std::net::IpAddr),
    /// The store.
    Store(OpenError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Server(error) => write!(f, "{error}"),
            StartError::Settings(problems) => {
                f.write_str("invalid [tqueue] settings:")?;
                problems.iter().try_for_each(|problem| write!(f, "\n{problem}"))
            }
            StartError::Forked => f.write_str(
                "with the embedded store tqueue runs in Threaded mode: the worker processes of Forked mode cannot \
                 share it (set server_type = \"threaded\", or store = \"postgres\")",
            ),
            StartError::Anonymous(host) => write!(
                f,
                "tqueue has no tokens and would listen on {host}, beyond this host: anyone who reaches it could use \
                 every queue. Set auth_tokens or auth_tokens_file (roles produce, consume, admin), or \
                 allow_anonymous = true under [tqueue]"
            ),
            StartError::Store(error) => write!(f, "{error}"),
        }
    }
}

/// The message, so that `main` returning it prints just that.
impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for StartError {}

impl From<ServeError> for StartError {
    fn from(error: ServeError) -> Self {
        StartError::Server(error)
    }
}

/// `server` serving TQueue with the `[tqueue]` settings of its config file and the
/// `TQUEUE_*` environment.
pub fn from_config(mut server: Server) -> Result<Server, StartError> {
    let settings: Settings = server.section("tqueue")?;
    app(server, settings)
}

/// `server` serving TQueue with `settings`: checks them and the server's mode and
/// address, and opens the store.
pub fn app(server: Server, settings: Settings) -> Result<Server, StartError> {
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(StartError::Settings(problems));
    }
    let config = server.config()?;
    if *config.server_type() == ServerType::Forked && settings.store == StoreKind::Embedded {
        return Err(StartError::Forked);
    }
    // A long-poll must end before the server cuts the request off.
    if settings::seconds(settings.max_wait).is_some_and(|wait| wait >= *config.request_timeout()) {
        let request_timeout = *config.request_timeout();
        return Err(StartError::Settings(vec![Problem::WaitTooLong { max_wait: settings.max_wait, request_timeout }]));
    }
    let anonymous = config.auth_tokens().is_empty();
    let host = *config.host();
    if anonymous && !host.is_loopback() {
        if !settings.allow_anonymous {
            return Err(StartError::Anonymous(host));
        }
        tracing::warn!(%host, "no tokens, and allow_anonymous = true: anyone who reaches {host} can use every queue");
    } else if anonymous {
        tracing::info!("no tokens: every program on this host can use every queue");
    }
    let queues = Queues::open(settings).map_err(StartError::Store)?;
    let server = match config.metrics_path() {
        Some(_) => queues.publish_metrics(server),
        None => server,
    };
    let store = queues.clone();
    let ready = move || {
        let store = store.clone();
        async move { store.ready().await }
    };
    let server = server.openapi_info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
    let server = server.state(queues).state(dashboard::Looks::default()).state(Anonymous(anonymous));
    Ok(server.readiness("store", ready))
}
