//! TQueue's settings: the `[tqueue]` table of `appserver.toml`, under `TQUEUE_<KEY>`
//! environment variables.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Declares [`Settings`] from one list: each key's doc, type, default (as TOML, which
/// `Default` reads) and a note; the doc table of the defaults is made from the same list,
/// so the table, `Default` and every fallback agree by construction.
macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $key:ident : $ty:ty = $default:literal, $note:literal; )*) => {
        /// The `[tqueue]` settings, with their defaults:
        ///
        /// ```toml
        /// [tqueue]
        $( #[doc = concat!(stringify!($key), " = ", $default, "    # ", $note)] )*
        /// # database_url = "postgres://user:password@host:5432/db"   # the postgres store's
        ///
        /// [tqueue.queues.emails]     # settings of one queue
        /// lease = 300
        /// max_attempts = 3
        /// max_tasks = 1000
        /// ```
        #[derive(Clone, Debug, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Settings {
            $( $(#[doc = $doc])* pub $key: $ty, )*
            /// The PostgreSQL database of the `postgres` store.
            pub database_url: Option<String>,
            /// Settings of single queues, by name.
            pub queues: BTreeMap<String, QueueSettings>,
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings {
                    $( $key: default_of(stringify!($key), $default), )*
                    database_url: None,
                    queues: BTreeMap::new(),
                }
            }
        }
    };
}

settings! {
    /// Where the tasks are kept.
    store: StoreKind = r#""embedded""#, "or \"postgres\": many nodes, one database";
    /// The embedded store's directory.
    data_dir: PathBuf = r#""tqueue-data""#, "the embedded store's directory";
    /// The most the embedded store's file may grow to, in MiB; 0: as the disk allows. Past
    /// it, writes are refused (503) as on a full disk, until tasks are done.
    max_store_mb: u64 = "0", "the embedded store's file, in MiB (0: as the disk allows)";
    /// Connections to PostgreSQL per process for puts, dones and the rest; as many again
    /// for leases.
    pool_size: usize = "16", "connections to PostgreSQL per process, for writes (as many again for leases)";
    /// The most tasks a queue holds, whatever their stage; a put past it is refused.
    max_tasks: usize = "100000", "tasks per queue (waiting, leased, delayed or dead)";
    /// The largest task, in bytes of JSON; a larger one is refused.
    max_task_bytes: usize = "65536", "the largest task, as JSON";
    /// The most queues.
    max_queues: usize = "10000", "queues in all";
    /// The default lease, in seconds.
    lease: f64 = "60", "seconds a task is leased for, unless the request says";
    /// How many leases a task gets; when the last one runs out, the task is dead.
    max_attempts: u32 = "5", "leases before a task is dead";
    /// The longest long-poll of a lease request, in seconds.
    max_wait: f64 = "20", "the longest long-poll, in seconds";
    /// Seconds before a task whose lease ran out, or was released without a delay, is
    /// ready again: `backoff_base × 2^(attempt−1)`, at most `backoff_max`, less a random
    /// part of up to a half (jitter). 0: ready again at once.
    backoff_base: f64 = "1", "seconds before a task whose lease ended is ready again, doubled each attempt";
    /// The longest such wait, in seconds.
    backoff_max: f64 = "600", "the longest wait before a task whose lease ended is ready again";
    /// How long a put's `Idempotency-Key` is remembered, in seconds: the same key on the
    /// same queue within it answers the first put's ids and puts nothing.
    idempotency_window: f64 = "86400", "seconds a put's Idempotency-Key is remembered";
    /// With no tokens configured, serve beyond the loopback address anyway.
    allow_anonymous: bool = "false", "serve without tokens beyond this host";
}

/// The default of `key`, read from its TOML text in the list above.
fn default_of<T: DeserializeOwned>(key: &str, toml: &str) -> T {
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {toml}"))
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| panic!("the default of `{key}` is TOML"));
    value.try_into().unwrap_or_else(|error| panic!("the default of `{key}`: {error}"))
}

/// Where the tasks are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// SQLite in `data_dir`: one process on one host (Threaded mode).
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
    /// Seconds before a task whose lease ended is ready again, doubled each attempt.
    pub backoff_base: Option<f64>,
    /// The longest such wait, in seconds.
    pub backoff_max: Option<f64>,
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
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
}

impl Limits {
    /// How long a task waits to be ready again after its lease `attempt` ended without a
    /// done: `backoff_base × 2^(attempt−1)`, at most `backoff_max`, times a factor from
    /// 0.5 to 1 that `seed` picks (so that tasks that failed together spread out).
    pub(crate) fn backoff(&self, attempt: u32, seed: u64) -> Duration {
        let doubled = self.backoff_base.saturating_mul(1 << attempt.saturating_sub(1).min(31));
        // splitmix64: an even spread from any seed.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let half = (z ^ (z >> 31)) as f64 / u64::MAX as f64 / 2.0;
        doubled.min(self.backoff_max).mul_f64(0.5 + half)
    }
}

/// A problem with the settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// A duration that is not more than 0 and at most a day.
    Seconds {
        /// The key, e.g. `queues.emails.lease`.
        key: String,
        /// Its value.
        value: f64,
    },
    /// A duration that may be 0 but is negative, or more than a day.
    SecondsOrZero {
        /// The key, e.g. `backoff_base`.
        key: String,
        /// Its value.
        value: f64,
    },
    /// A count that is 0.
    Zero {
        /// The key.
        key: String,
    },
    /// `store = "postgres"` without `database_url`.
    NoDatabaseUrl,
    /// A table of `queues` whose name is no queue name.
    QueueName(String),
    /// `max_wait` not shorter than the server's `request_timeout`.
    WaitTooLong {
        /// `max_wait`, in seconds.
        max_wait: f64,
        /// The server's `request_timeout`.
        request_timeout: Duration,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Seconds { key, value } => {
                write!(f, "`{key}` = {value}: expected seconds, more than 0 and at most {MAX_SECONDS}")
            }
            Problem::SecondsOrZero { key, value } => {
                write!(f, "`{key}` = {value}: expected seconds, from 0 to {MAX_SECONDS}")
            }
            Problem::Zero { key } => write!(f, "`{key}` = 0: expected at least 1"),
            Problem::NoDatabaseUrl => f.write_str("`store` = \"postgres\" needs `database_url` = \"postgres://...\""),
            Problem::QueueName(name) => write!(f, "`queues.{name}`: a queue name is 1 to 64 of A-Z a-z 0-9 _ . -"),
            Problem::WaitTooLong { max_wait, request_timeout } => write!(
                f,
                "`max_wait` = {max_wait} must be shorter than the server's `request_timeout` ({request_timeout:?})"
            ),
        }
    }
}

impl Settings {
    /// Every problem with these settings.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut positive = |key: String, value: f64| {
            if seconds(value).is_none_or(|d| d.is_zero()) {
                problems.push(Problem::Seconds { key, value });
            }
        };
        positive("lease".into(), self.lease);
        positive("max_wait".into(), self.max_wait);
        positive("idempotency_window".into(), self.idempotency_window);
        for (name, queue) in &self.queues {
            if let Some(lease) = queue.lease {
                positive(format!("queues.{name}.lease"), lease);
            }
        }
        let mut at_least_zero = |key: String, value: f64| {
            if seconds(value).is_none() {
                problems.push(Problem::SecondsOrZero { key, value });
            }
        };
        at_least_zero("backoff_base".into(), self.backoff_base);
        at_least_zero("backoff_max".into(), self.backoff_max);
        for (name, queue) in &self.queues {
            at_least_zero(format!("queues.{name}.backoff_base"), queue.backoff_base.unwrap_or(0.0));
            at_least_zero(format!("queues.{name}.backoff_max"), queue.backoff_max.unwrap_or(0.0));
        }
        let mut at_least_one = |key: String, value: u64| {
            if value == 0 {
                problems.push(Problem::Zero { key });
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
            problems.push(Problem::NoDatabaseUrl);
        }
        for name in self.queues.keys().filter(|name| !crate::valid_queue_name(name)) {
            problems.push(Problem::QueueName(name.clone()));
        }
        problems
    }

    /// [`Settings::idempotency_window`] as a duration.
    pub(crate) fn idempotency_span(&self) -> Duration {
        // Checked by `problems` before the queues open.
        seconds(self.idempotency_window).unwrap_or_default()
    }

    pub(crate) fn limits(&self, queue: &str) -> Limits {
        let own = self.queues.get(queue);
        Limits {
            // Checked by `problems` before the queues open.
            lease: seconds(own.and_then(|q| q.lease).unwrap_or(self.lease)).unwrap_or_default(),
            max_attempts: own.and_then(|q| q.max_attempts).unwrap_or(self.max_attempts),
            max_tasks: own.and_then(|q| q.max_tasks).unwrap_or(self.max_tasks),
            backoff_base: seconds(own.and_then(|q| q.backoff_base).unwrap_or(self.backoff_base)).unwrap_or_default(),
            backoff_max: seconds(own.and_then(|q| q.backoff_max).unwrap_or(self.backoff_max)).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_stops_at_the_most_and_keeps_half_to_all_of_it() {
        let limits = Settings::default().limits("q");
        let (base, most) = (limits.backoff_base, limits.backoff_max);
        assert_eq!((base, most), (Duration::from_secs(1), Duration::from_secs(600)));
        for (attempt, full) in [(1, base), (2, base * 2), (5, base * 16), (11, most), (60, most)] {
            let waits: Vec<Duration> = (0..200).map(|seed| limits.backoff(attempt, seed)).collect();
            assert!(waits.iter().all(|w| *w >= full / 2 && *w <= full), "attempt {attempt}: {waits:?}");
            let spread = waits.iter().max().unwrap().saturating_sub(*waits.iter().min().unwrap());
            assert!(spread > full / 3, "attempt {attempt}: jitter spreads them: {spread:?}");
        }
        let none = Settings { backoff_base: 0.0, ..Settings::default() }.limits("q");
        assert_eq!(none.backoff(3, 7), Duration::ZERO);
    }

    #[test]
    fn the_defaults_are_the_listed_ones_and_have_no_problem() {
        let settings = Settings::default();
        assert_eq!((settings.store, settings.data_dir.to_str()), (StoreKind::Embedded, Some("tqueue-data")));
        assert_eq!((settings.max_tasks, settings.max_task_bytes, settings.max_queues), (100_000, 65_536, 10_000));
        assert_eq!((settings.lease, settings.max_attempts, settings.max_wait), (60.0, 5, 20.0));
        assert_eq!((settings.pool_size, settings.allow_anonymous), (16, false));
        assert_eq!(settings.problems(), []);
        // A table that sets nothing gets the same defaults.
        let read: Settings = toml::from_str("").unwrap();
        assert_eq!(format!("{read:?}"), format!("{settings:?}"));
        let wrong: Settings = toml::from_str("lease = 0\nmax_tasks = 0\nstore = \"postgres\"").unwrap();
        assert_eq!(
            wrong.problems(),
            [
                Problem::Seconds { key: "lease".into(), value: 0.0 },
                Problem::Zero { key: "max_tasks".into() },
                Problem::NoDatabaseUrl
            ]
        );
    }
}
