//! TQueue's settings: the `[tqueue]` table of `appserver.toml`, under `TQUEUE_<KEY>`
//! environment variables.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The `[tqueue]` settings, with their defaults:
///
/// ```toml
/// [tqueue]
/// store = "embedded"        # or "postgres": many nodes, one database
/// data_dir = "tqueue-data"   # the embedded store's directory
/// # database_url = "postgres://user:password@host:5432/db"   # the postgres store's
/// pool_size = 16             # connections to PostgreSQL per process
/// max_tasks = 100000         # tasks per queue (waiting, leased, delayed or dead)
/// max_task_bytes = 65536     # the largest task, as JSON
/// max_queues = 10000         # queues in all
/// lease = 60                 # seconds a task is leased for, unless the request says
/// max_attempts = 5           # leases before a task is dead
/// max_wait = 20              # the longest long-poll, in seconds
/// allow_anonymous = false    # serve without tokens beyond this host
///
/// [tqueue.queues.emails]     # settings of one queue
/// lease = 300
/// max_attempts = 3
/// max_tasks = 1000
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the tasks are kept.
    pub store: StoreKind,
    /// The embedded store's directory.
    pub data_dir: PathBuf,
    /// The PostgreSQL database of the `postgres` store.
    pub database_url: Option<String>,
    /// Connections to PostgreSQL per process.
    pub pool_size: usize,
    /// The most tasks a queue holds, whatever their stage; a put past it is refused.
    pub max_tasks: usize,
    /// The largest task, in bytes of JSON; a larger one is refused.
    pub max_task_bytes: usize,
    /// The most queues.
    pub max_queues: usize,
    /// The default lease, in seconds.
    pub lease: f64,
    /// How many leases a task gets; when the last one runs out, the task is dead.
    pub max_attempts: u32,
    /// The longest long-poll of a lease request, in seconds.
    pub max_wait: f64,
    /// With no tokens configured, serve beyond the loopback address anyway.
    pub allow_anonymous: bool,
    /// Settings of single queues, by name.
    pub queues: BTreeMap<String, QueueSettings>,
}

/// Where the tasks are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// SQLite in `data_dir`: one process on one host (Threaded mode).
    #[default]
    Embedded,
    /// PostgreSQL at `database_url`: any number of nodes and worker processes.
    Postgres,
}

/// The settings of one queue; those not given are the `[tqueue]` ones.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// The default lease, in seconds.
    pub lease: Option<f64>,
    /// How many leases a task gets.
    pub max_attempts: Option<u32>,
    /// The most tasks the queue holds.
    pub max_tasks: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            store: StoreKind::Embedded,
            data_dir: PathBuf::from("tqueue-data"),
            database_url: None,
            pool_size: 16,
            max_tasks: 100_000,
            max_task_bytes: 64 << 10,
            max_queues: 10_000,
            lease: 60.0,
            max_attempts: 5,
            max_wait: 20.0,
            allow_anonymous: false,
            queues: BTreeMap::new(),
        }
    }
}

/// The longest duration a setting or request may give: a day.
pub(crate) const MAX_SECONDS: f64 = 86_400.0;

/// `seconds` as a duration, if it is a number of seconds from 0 to a day.
pub(crate) fn seconds(seconds: f64) -> Option<Duration> {
    (0.0..=MAX_SECONDS).contains(&seconds).then(|| Duration::from_secs_f64(seconds))
}

/// What a queue runs with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) lease: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) max_tasks: usize,
}

impl Settings {
    /// Every problem with these settings, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut positive = |key: String, value: f64| {
            if seconds(value).is_none_or(|d| d.is_zero()) {
                problems.push(format!("`{key}` = {value}: expected seconds, more than 0 and at most {MAX_SECONDS}"));
            }
        };
        positive("lease".into(), self.lease);
        positive("max_wait".into(), self.max_wait);
        for (name, queue) in &self.queues {
            if let Some(lease) = queue.lease {
                positive(format!("queues.{name}.lease"), lease);
            }
        }
        let mut at_least_one = |key: String, value: u64| {
            if value == 0 {
                problems.push(format!("`{key}` = 0: expected at least 1"));
            }
        };
        at_least_one("max_tasks".into(), self.max_tasks as u64);
        at_least_one("max_task_bytes".into(), self.max_task_bytes as u64);
        at_least_one("max_queues".into(), self.max_queues as u64);
        at_least_one("max_attempts".into(), self.max_attempts.into());
        at_least_one("pool_size".into(), self.pool_size as u64);
        for (name, queue) in &self.queues {
            at_least_one(format!("queues.{name}.max_attempts"), queue.max_attempts.unwrap_or(1).into());
            at_least_one(format!("queues.{name}.max_tasks"), queue.max_tasks.unwrap_or(1) as u64);
        }
        if self.store == StoreKind::Postgres && self.database_url.is_none() {
            problems.push("`store` = \"postgres\" needs `database_url` = \"postgres://...\"".to_owned());
        }
        for name in self.queues.keys().filter(|name| !crate::valid_queue_name(name)) {
            problems.push(format!("`queues.{name}`: a queue name is 1 to 64 of A-Z a-z 0-9 _ . -"));
        }
        problems
    }

    pub(crate) fn limits(&self, queue: &str) -> Limits {
        let own = self.queues.get(queue);
        Limits {
            lease: seconds(own.and_then(|q| q.lease).unwrap_or(self.lease)).unwrap_or(Duration::from_secs(60)),
            max_attempts: own.and_then(|q| q.max_attempts).unwrap_or(self.max_attempts),
            max_tasks: own.and_then(|q| q.max_tasks).unwrap_or(self.max_tasks),
        }
    }
}
