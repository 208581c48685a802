//! The queues as the routes use them, whatever store holds them: the embedded one
//! ([`crate::embedded`]) or PostgreSQL ([`crate::postgres`]), and what every store
//! answers with.

use crate::embedded::Embedded;
use crate::postgres::Postgres;
use crate::settings::{Settings, StoreKind};
use crate::store::StoreError;
use serde_json::value::RawValue;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn ms(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

/// Why an operation was not done.
#[derive(Debug)]
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
    /// The store failed; nothing is answered as done.
    Store(String),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::UnknownTask => f.write_str("no such task in this queue"),
            Refused::StaleLease => f.write_str("this lease is over: the task was leased again, released or done"),
            Refused::QueueFull { max_tasks } => write!(f, "the queue is full ({max_tasks} tasks); try again later"),
            Refused::TooManyQueues { max_queues } => write!(f, "there are {max_queues} queues already"),
            Refused::TooLarge { max_task_bytes } => write!(f, "the task is larger than {max_task_bytes} bytes"),
            Refused::Store(error) => write!(f, "the store failed: {error}"),
        }
    }
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Refused::Store(error.to_string())
    }
}

/// A lease: `<id>.<attempt>`; the original protocol's `done` may give the id alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// The task.
    pub id: u64,
    /// The attempt, if given.
    pub attempt: Option<u32>,
}

impl FromStr for Token {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (id, attempt) = match text.split_once('.') {
            Some((id, attempt)) => (id, Some(attempt.parse().map_err(drop)?)),
            None => (text, None),
        };
        Ok(Token { id: id.parse().map_err(drop)?, attempt })
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
#[derive(Debug, Clone, Default, serde::Serialize)]
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
}

/// A dead task.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadTask {
    /// The task's id.
    pub id: u64,
    /// How often it was leased.
    pub attempts: u32,
    /// The task.
    pub data: Arc<RawValue>,
}

/// Opening the store failed.
#[derive(Debug)]
pub struct OpenError(String, std::path::PathBuf);

impl OpenError {
    pub(crate) fn new(error: impl fmt::Display, place: impl Into<std::path::PathBuf>) -> Self {
        OpenError(error.to_string(), place.into())
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open the tqueue store in {}: {}", self.1.display(), self.0)
    }
}

impl std::error::Error for OpenError {}

/// Every queue, and the store behind them. Register it as the server's state.
#[derive(Debug)]
pub struct Queues(Backend);

#[derive(Debug)]
enum Backend {
    Embedded(Embedded),
    Postgres(Postgres),
}

/// Calls the same method of whichever store holds the queues.
macro_rules! each {
    ($queues:expr, $q:ident => $call:expr) => {
        match &$queues.0 {
            Backend::Embedded($q) => $call,
            Backend::Postgres($q) => $call,
        }
    };
}

impl Queues {
    /// Opens the store the settings name: the embedded one in `data_dir` (its tasks
    /// loaded; leases that ran out while the server was down end now), or PostgreSQL at
    /// `database_url` (its schema created or checked).
    pub fn open(settings: Settings) -> Result<Queues, OpenError> {
        match settings.store {
            StoreKind::Embedded => Embedded::open(settings).map(|queues| Queues(Backend::Embedded(queues))),
            StoreKind::Postgres => Postgres::open(settings).map(|queues| Queues(Backend::Postgres(queues))),
        }
    }

    /// The settings the queues run with.
    pub fn settings(&self) -> &Settings {
        each!(self, q => q.settings())
    }

    /// Adds a task to `queue`, ready now or after `delay`; answered once it is on disk.
    pub async fn put(&self, queue: &str, data: Box<RawValue>, delay: Duration) -> Result<u64, Refused> {
        each!(self, q => q.put(queue, data, delay).await)
    }

    /// Leases up to `max` ready tasks of `queue` for `lease` (the queue's default if
    /// `None`), waiting up to `wait` (at most `max_wait`) for one to be ready.
    pub async fn lease(
        &self,
        queue: &str,
        max: usize,
        lease: Option<Duration>,
        wait: Duration,
    ) -> Result<Vec<Leased>, Refused> {
        let wait = wait.min(crate::settings::seconds(self.settings().max_wait).unwrap_or_default());
        each!(self, q => q.lease(queue, max, lease, wait).await)
    }

    /// Finishes the task leased under `token`: it is gone for good once this returns.
    pub async fn done(&self, queue: &str, token: Token) -> Result<Arc<RawValue>, Refused> {
        each!(self, q => q.done(queue, token).await)
    }

    /// Gives the task leased under `token` back: ready again now or after `delay` (dead if
    /// that was its last attempt).
    pub async fn release(&self, queue: &str, token: Token, delay: Duration) -> Result<(), Refused> {
        each!(self, q => q.release(queue, token, delay).await)
    }

    /// Extends the lease under `token` to `lease` from now; answers when it runs out.
    pub async fn extend(&self, queue: &str, token: Token, lease: Option<Duration>) -> Result<u64, Refused> {
        each!(self, q => q.extend(queue, token, lease).await)
    }

    /// The counts of `queue` (zeros for a queue never used).
    pub async fn stats(&self, queue: &str) -> Result<Stats, Refused> {
        match &self.0 {
            Backend::Embedded(q) => Ok(q.stats(queue)),
            Backend::Postgres(q) => q.stats(queue).await,
        }
    }

    /// The counts of every queue, by name.
    pub async fn list(&self) -> Result<Vec<Stats>, Refused> {
        match &self.0 {
            Backend::Embedded(q) => Ok(q.list()),
            Backend::Postgres(q) => q.list().await,
        }
    }

    /// Up to `limit` dead tasks of `queue`, oldest first.
    pub async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadTask>, Refused> {
        match &self.0 {
            Backend::Embedded(q) => Ok(q.dead(queue, limit)),
            Backend::Postgres(q) => q.dead(queue, limit).await,
        }
    }

    /// Makes the dead task `id` (every dead task if `None`) ready again, with its attempts
    /// counted from 0; answers how many.
    pub async fn requeue(&self, queue: &str, id: Option<u64>) -> Result<usize, Refused> {
        each!(self, q => q.requeue(queue, id).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_the_attempt_or_only_the_task() {
        assert_eq!("12.3".parse(), Ok(Token { id: 12, attempt: Some(3) }));
        assert_eq!("12".parse(), Ok(Token { id: 12, attempt: None }));
        assert!("12.".parse::<Token>().is_err() && "x.1".parse::<Token>().is_err() && "".parse::<Token>().is_err());
    }
}
