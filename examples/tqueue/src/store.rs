//! What every store of the queues does ([`Store`]) and answers with: the tasks handed out
//! ([`Leased`], [`DeadTask`]), the counts ([`Stats`]), the lease token ([`Token`]), and why
//! an operation was not done ([`Refused`], [`StoreError`]).

use crate::settings::Settings;
use serde_json::value::RawValue;
use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A store of the queues: the embedded one ([`crate::embedded`]) or PostgreSQL
/// ([`crate::postgres`]). Each operation is answered once it is as safe as it must be.
#[async_trait::async_trait]
pub(crate) trait Store: Send + Sync + fmt::Debug {
    /// The settings the queues run with.
    fn settings(&self) -> &Settings;

    /// Adds `tasks` (none past `max_task_bytes`: checked before) to `queue` in one commit:
    /// all of them or none; their ids, in order. Answered once they are on disk. A single
    /// put is a batch of one.
    ///
    /// With a `key`: if a put with the same key on this queue was answered within
    /// `idempotency_window`, its ids, and nothing is put (refused if it asked for other
    /// tasks); otherwise the key is kept with the ids, in the same commit.
    async fn put_many(&self, queue: &str, tasks: Vec<Put>, key: Option<Key>) -> Result<Receipt, Refused>;

    /// Finishes the tasks leased under `tokens` in one commit: for each, whether it was
    /// (`false`: its lease is over, or no such task). Answered once it is on disk.
    async fn done_many(&self, queue: &str, tokens: &[Token]) -> Result<Vec<bool>, Refused>;

    /// Leases up to `max` ready tasks of `queue` for `lease` (the queue's default if
    /// `None`), waiting up to `wait` for one to be ready.
    async fn lease(
        &self,
        queue: &str,
        max: usize,
        lease: Option<Duration>,
        wait: Duration,
    ) -> Result<Vec<Leased>, Refused>;

    /// Finishes the task leased under `token`: it is gone for good once this returns.
    async fn done(&self, queue: &str, token: Token) -> Result<Arc<RawValue>, Refused>;

    /// Gives the task leased under `token` back: ready again after `delay`, or after the
    /// queue's backoff if `None` (dead if that was its last attempt); `error` is kept as
    /// its last error.
    async fn release(
        &self,
        queue: &str,
        token: Token,
        delay: Option<Duration>,
        error: Option<&str>,
    ) -> Result<(), Refused>;

    /// Extends the lease under `token` to `lease` from now; answers when it runs out.
    async fn extend(&self, queue: &str, token: Token, lease: Option<Duration>) -> Result<u64, Refused>;

    /// The counts of `queue` (zeros for a queue never used).
    async fn stats(&self, queue: &str) -> Result<Stats, Refused>;

    /// The counts of up to `limit` queues whose names sort after `after`, by name.
    async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Stats>, Refused>;

    /// Up to `limit` dead tasks of `queue`, oldest first.
    async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadTask>, Refused>;

    /// Makes the dead task `id` (every dead task if `None`) ready again, with its attempts
    /// counted from 0; answers how many.
    async fn requeue(&self, queue: &str, id: Option<u64>) -> Result<usize, Refused>;

    /// Pauses `queue` (it takes puts and leases nothing; long-polls wait) or resumes it.
    async fn pause(&self, queue: &str, paused: bool) -> Result<(), Refused>;

    /// Copies the whole store, as its last commit left it, to a new file in
    /// `data_dir/backups/`; answers its path. The embedded store only.
    async fn backup(&self) -> Result<std::path::PathBuf, Refused>;
}

/// A task to put.
#[derive(Debug)]
pub struct Put {
    /// The task: any JSON value.
    pub data: Box<RawValue>,
    /// How long before it is ready.
    pub delay: Duration,
    /// Higher first; first in, first out within a priority.
    pub priority: i32,
}

impl Put {
    /// A task ready now, at priority 0.
    pub fn now(data: Box<RawValue>) -> Put {
        Put { data, delay: Duration::ZERO, priority: 0 }
    }
}

/// A put's `Idempotency-Key`, with a hash of what the put asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The key, as the client sent it.
    pub key: String,
    /// A hash of the tasks (data, delay, priority), to tell the same put from another.
    pub fingerprint: i64,
}

impl Key {
    /// The key of a put of `tasks`.
    pub fn new(key: String, tasks: &[Put]) -> Key {
        // FNV-1a, 64 bits: stable across builds, as the hash is stored.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut add = |bytes: &[u8]| {
            for &byte in bytes {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        for task in tasks {
            add(task.data.get().as_bytes());
            add(&ms(task.delay).to_le_bytes());
            add(&task.priority.to_le_bytes());
        }
        Key { key, fingerprint: hash as i64 }
    }
}

/// What a put answers: the tasks' ids, and whether they are those of an earlier put with
/// the same `Idempotency-Key` (nothing put now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The ids, in order.
    pub ids: Vec<u64>,
    /// Whether this is the answer of an earlier put.
    pub replayed: bool,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `duration` in milliseconds.
pub(crate) fn ms(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Why an operation was not done.
#[derive(Debug, Clone)]
pub enum Refused {
    /// No such task in this queue.
    UnknownTask,
    /// The task is not leased under this token: its lease ran out, or it was done.
    StaleLease,
    /// The queue holds `max_tasks` tasks.
    QueueFull {
        /// The queue's limit.
        max_tasks: usize,
    },
    /// There are `max_queues` queues.
    TooManyQueues {
        /// The limit.
        max_queues: usize,
    },
    /// The task is larger than `max_task_bytes`.
    TooLarge {
        /// The limit.
        max_task_bytes: usize,
    },
    /// The `Idempotency-Key` was used on this queue for a put of other tasks.
    KeyReused,
    /// This store does not do that (a backup of PostgreSQL is PostgreSQL's to make).
    Unsupported(&'static str),
    /// The store failed; nothing is answered as done.
    Store(StoreError),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::UnknownTask => f.write_str("no such task in this queue"),
            Refused::StaleLease => f.write_str("this lease is over: the task was leased again, released or done"),
            Refused::QueueFull { max_tasks } => write!(f, "the queue is full ({max_tasks} tasks); try again later"),
            Refused::TooManyQueues { max_queues } => write!(f, "there are {max_queues} queues already"),
            Refused::TooLarge { max_task_bytes } => write!(f, "the task is larger than {max_task_bytes} bytes"),
            Refused::Unsupported(what) => f.write_str(what),
            Refused::KeyReused => {
                f.write_str("this Idempotency-Key was used on this queue for a put of other tasks; use a new key")
            }
            Refused::Store(error) => write!(f, "the store failed: {error}"),
        }
    }
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Refused::Store(error)
    }
}

/// Why a store failed. Cloned to every request that waited for the write that failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreError {
    /// The embedded store's database (SQLite).
    Sqlite(Arc<rusqlite::Error>),
    /// A file or a thread of the embedded store.
    Io(Arc<std::io::Error>),
    /// The embedded store's writer thread stopped.
    Stopped,
    /// A task in the store cannot be read back.
    Damaged {
        /// The task.
        id: i64,
    },
    /// The store was written by a tqueue with another schema.
    Version {
        /// The store's schema version.
        found: i64,
        /// The version this tqueue reads.
        expected: i64,
    },
    /// PostgreSQL: a connection or a statement.
    Postgres(Arc<tokio_postgres::Error>),
    /// PostgreSQL: no connection could be had from the pool.
    Pool(Arc<deadpool_postgres::PoolError>),
    /// PostgreSQL: the pool could not be made (the `database_url`).
    Config(Arc<deadpool_postgres::CreatePoolError>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(error) => write!(f, "{error}"),
            StoreError::Io(error) => write!(f, "{error}"),
            StoreError::Stopped => f.write_str("the store's thread stopped"),
            StoreError::Damaged { id } => write!(f, "task {id} is damaged"),
            StoreError::Version { found, expected } => {
                write!(f, "the store has schema version {found}; this tqueue reads {expected}")
            }
            StoreError::Postgres(error) => write!(f, "PostgreSQL: {error}"),
            StoreError::Pool(error) => write!(f, "PostgreSQL: {error}"),
            StoreError::Config(error) => write!(f, "PostgreSQL: {error}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Sqlite(Arc::new(error))
    }
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        StoreError::Io(Arc::new(error))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Postgres(Arc::new(error))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        StoreError::Pool(Arc::new(error))
    }
}

impl From<deadpool_postgres::CreatePoolError> for StoreError {
    fn from(error: deadpool_postgres::CreatePoolError) -> Self {
        StoreError::Config(Arc::new(error))
    }
}

/// Opening the store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The settings cannot be used, one problem per entry.
    Settings(Vec<crate::settings::Problem>),
    /// The store at `place` (a directory, or a database URL without its password).
    Store {
        /// Where the store is.
        place: String,
        /// What failed.
        error: StoreError,
    },
}

impl OpenError {
    pub(crate) fn store(place: impl fmt::Display) -> impl FnOnce(StoreError) -> OpenError {
        let place = place.to_string();
        move |error| OpenError::Store { place, error }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Settings(problems) => {
                f.write_str("invalid [tqueue] settings:")?;
                problems.iter().try_for_each(|problem| write!(f, "\n{problem}"))
            }
            OpenError::Store { place, error } => write!(f, "cannot open the tqueue store in {place}: {error}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// A lease: `<id>.<attempt>`; the original protocol's `done` may give the id alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// The task.
    pub id: u64,
    /// The attempt, if given.
    pub attempt: Option<u32>,
}

/// Text that is no lease token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The task id is not a number.
    Id(ParseIntError),
    /// The attempt after the `.` is not a number.
    Attempt(ParseIntError),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Id(error) => write!(f, "the task id of a lease token: {error}"),
            TokenError::Attempt(error) => write!(f, "the attempt of a lease token: {error}"),
        }
    }
}

impl std::error::Error for TokenError {}

impl FromStr for Token {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Self, TokenError> {
        let (id, attempt) = match text.split_once('.') {
            Some((id, attempt)) => (id, Some(attempt.parse().map_err(TokenError::Attempt)?)),
            None => (text, None),
        };
        Ok(Token { id: id.parse().map_err(TokenError::Id)?, attempt })
    }
}

/// A task handed out.
#[derive(Debug, Clone)]
pub struct Leased {
    /// The task's id.
    pub id: u64,
    /// Which lease of the task this is, from 1.
    pub attempt: u32,
    /// When the lease runs out, in milliseconds since the Unix epoch.
    pub until: u64,
    /// The task.
    pub data: Arc<RawValue>,
}

impl Leased {
    /// The lease token: `<id>.<attempt>`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.id, self.attempt)
    }
}

/// A queue's counts.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct Stats {
    /// The queue's name.
    pub queue: String,
    /// Tasks waiting to be handed out.
    pub ready: usize,
    /// Tasks handed out whose lease runs.
    pub leased: usize,
    /// Tasks put with a delay or released with one, not yet ready.
    pub delayed: usize,
    /// Tasks whose leases all ran out.
    pub dead: usize,
    /// Tasks put since the server started.
    pub put: u64,
    /// Tasks done since the server started.
    pub done: u64,
    /// Leases that ran out since the server started.
    pub expired: u64,
    /// Whether the queue is paused: it takes puts and leases nothing.
    pub paused: bool,
    /// How long the oldest ready task has waited to be handed out, in seconds (0: none).
    pub oldest_ready_seconds: f64,
}

/// A dead task.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct DeadTask {
    /// The task's id.
    pub id: u64,
    /// How often it was leased.
    pub attempts: u32,
    /// The task.
    pub data: Arc<RawValue>,
    /// Its last error: what the release of its last lease said, or that the lease ran out.
    pub error: Option<String>,
}

/// The last error of a task whose lease ran out.
pub(crate) const LEASE_RAN_OUT: &str = "the lease ran out";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_the_attempt_or_only_the_task() {
        assert_eq!("12.3".parse(), Ok(Token { id: 12, attempt: Some(3) }));
        assert_eq!("12".parse(), Ok(Token { id: 12, attempt: None }));
        assert!(matches!("12.".parse::<Token>(), Err(TokenError::Attempt(_))));
        assert!(matches!("x.1".parse::<Token>(), Err(TokenError::Id(_))));
        assert!(matches!("".parse::<Token>(), Err(TokenError::Id(_))));
    }
}
