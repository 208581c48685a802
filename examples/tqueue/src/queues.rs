//! The queues: every task in memory, each change written to the [`Store`] in the order it
//! was made, and answered once it is as safe as it must be.
//!
//! A task is ready, delayed, leased or dead. Ready tasks are handed out in the order they
//! were put (lowest id first). A lease names its attempt (`<id>.<attempt>`); when it runs
//! out, the task is ready again, or dead after `max_attempts` leases. Times that run out
//! are found when the queue is next used, and a long-poll sleeps until the next one.

use crate::settings::{Limits, Settings};
use crate::store::{Change, Stage, Store, StoreError, Sync, Ticket};
use serde_json::value::RawValue;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn ms(duration: Duration) -> u64 {
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

/// Hashes task ids, which the server counts from 1 (no client chooses them), with one
/// multiplication instead of SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Tasks = HashMap<u64, Task, BuildHasherDefault<IdHasher>>;

struct Task {
    data: Arc<RawValue>,
    stage: Stage,
    attempts: u32,
}

struct Queue {
    name: Arc<str>,
    limits: Limits,
    tasks: Tasks,
    ready: BTreeSet<u64>,
    /// Delayed and leased tasks, by the time they are due.
    timed: BTreeSet<(u64, u64)>,
    dead: BTreeSet<u64>,
    wake: Arc<Notify>,
    totals: Stats,
}

impl Queue {
    fn new(name: &str, limits: Limits) -> Queue {
        Queue {
            name: name.into(),
            limits,
            tasks: Tasks::default(),
            ready: BTreeSet::new(),
            timed: BTreeSet::new(),
            dead: BTreeSet::new(),
            wake: Arc::default(),
            totals: Stats::default(),
        }
    }

    /// Puts task `id` in `stage`, out of the one it was in.
    fn move_to(&mut self, id: u64, stage: Stage) {
        let Some(task) = self.tasks.get_mut(&id) else { return };
        match task.stage {
            Stage::Ready => self.ready.remove(&id),
            Stage::Delayed { until } | Stage::Leased { until } => self.timed.remove(&(until, id)),
            Stage::Dead => self.dead.remove(&id),
        };
        task.stage = stage;
        match stage {
            Stage::Ready => self.ready.insert(id),
            Stage::Delayed { until } | Stage::Leased { until } => self.timed.insert((until, id)),
            Stage::Dead => self.dead.insert(id),
        };
    }

    /// Takes task `id` out of the queue.
    fn remove(&mut self, id: u64) -> Option<Task> {
        self.move_to(id, Stage::Ready);
        self.ready.remove(&id);
        self.tasks.remove(&id)
    }

    /// Moves the tasks whose time is up at `now`: delayed ones are ready, leased ones ready
    /// again or dead.
    fn promote(&mut self, now: u64, changes: &mut Vec<Change>) {
        while let Some(&(until, id)) = self.timed.first() {
            if until > now {
                break;
            }
            let Some(task) = self.tasks.get(&id) else {
                self.timed.pop_first();
                continue;
            };
            let stage = match task.stage {
                Stage::Leased { .. } => {
                    self.totals.expired += 1;
                    self.after_lease(task.attempts)
                }
                _ => Stage::Ready,
            };
            self.move_to(id, stage);
            changes.push(Change::Stage { id, stage, attempts: task_attempts(&self.tasks, id) });
        }
    }

    /// Where a task goes when its lease ends without a done.
    fn after_lease(&self, attempts: u32) -> Stage {
        if attempts >= self.limits.max_attempts { Stage::Dead } else { Stage::Ready }
    }

    /// The task leased under `token`.
    fn leased(&self, token: Token) -> Result<&Task, Refused> {
        let task = self.tasks.get(&token.id).ok_or(Refused::UnknownTask)?;
        match task.stage {
            Stage::Leased { .. } if token.attempt.is_none_or(|a| a == task.attempts) => Ok(task),
            _ => Err(Refused::StaleLease),
        }
    }

    fn next_due(&self) -> Option<u64> {
        self.timed.first().map(|&(until, _)| until)
    }

    fn stats(&self) -> Stats {
        let leased = self.timed.iter().filter(|(_, id)| matches!(self.tasks[id].stage, Stage::Leased { .. })).count();
        Stats {
            queue: self.name.to_string(),
            ready: self.ready.len(),
            leased,
            delayed: self.timed.len() - leased,
            dead: self.dead.len(),
            ..self.totals.clone()
        }
    }
}

fn task_attempts(tasks: &Tasks, id: u64) -> u32 {
    tasks.get(&id).map_or(0, |task| task.attempts)
}

struct Inner {
    queues: HashMap<Arc<str>, Queue>,
    next_id: u64,
}

/// Every queue, and the store behind them. Register it as the server's state.
pub struct Queues {
    inner: Mutex<Inner>,
    store: Store,
    settings: Settings,
}

impl fmt::Debug for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queues").field("data_dir", &self.settings.data_dir).finish_non_exhaustive()
    }
}

/// Opening the store failed.
#[derive(Debug)]
pub struct OpenError(StoreError, std::path::PathBuf);

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open the tqueue store in {}: {}", self.1.display(), self.0)
    }
}

impl std::error::Error for OpenError {}

impl Queues {
    /// Opens the store in `settings.data_dir` and loads its tasks: leases that ran out
    /// while the server was down end now.
    pub fn open(settings: Settings) -> Result<Queues, OpenError> {
        let dir: &Path = &settings.data_dir;
        let loaded = crate::store::Store::open(dir).map_err(|e| OpenError(e, dir.to_owned()))?;
        let mut inner = Inner { queues: HashMap::new(), next_id: loaded.next_id };
        let mut changes = Vec::new();
        for stored in loaded.tasks {
            let limits = settings.limits(&stored.queue);
            let queue =
                inner.queues.entry(stored.queue.as_str().into()).or_insert_with(|| Queue::new(&stored.queue, limits));
            queue.tasks.insert(stored.id, Task { data: stored.data, stage: Stage::Ready, attempts: stored.attempts });
            queue.ready.insert(stored.id);
            queue.move_to(stored.id, stored.stage);
        }
        let now = now_ms();
        for queue in inner.queues.values_mut() {
            queue.promote(now, &mut changes);
        }
        let tasks: usize = inner.queues.values().map(|q| q.tasks.len()).sum();
        tracing::info!(dir = %dir.display(), tasks, queues = inner.queues.len(), "the store is open");
        let store = loaded.store;
        let _ = store.write(changes, inner.next_id, Sync::Later);
        Ok(Queues { inner: Mutex::new(inner), store, settings })
    }

    /// The settings the queues run with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the queue `name` (made if missing, unless there are too many), with its
    /// times brought up to now; then writes the changes it made, in order.
    fn with_queue<T>(
        &self,
        name: &str,
        sync: Sync,
        f: impl FnOnce(&mut Queue, &mut u64, &mut Vec<Change>) -> Result<T, Refused>,
    ) -> Result<(T, Option<Ticket>), Refused> {
        let mut inner = self.lock();
        let Inner { queues, next_id } = &mut *inner;
        if !queues.contains_key(name) {
            if queues.len() >= self.settings.max_queues {
                return Err(Refused::TooManyQueues { max_queues: self.settings.max_queues });
            }
            queues.insert(name.into(), Queue::new(name, self.settings.limits(name)));
        }
        let queue = queues.get_mut(name).expect("inserted above");
        let mut changes = Vec::new();
        queue.promote(now_ms(), &mut changes);
        let result = f(queue, next_id, &mut changes);
        let sync = if result.is_ok() { sync } else { Sync::Later };
        let ticket = match (changes.is_empty(), sync) {
            (true, _) => None,
            (false, Sync::Later) => {
                let _ = self.store.write(changes, *next_id, sync);
                None
            }
            (false, _) => Some(self.store.write(changes, *next_id, sync)),
        };
        result.map(|value| (value, ticket))
    }

    /// Waits until the writes of `ticket` are as safe as they asked.
    async fn safe(&self, ticket: Option<Ticket>) -> Result<(), Refused> {
        match ticket {
            None => Ok(()),
            Some(ticket) => self.store.wait(ticket).await.map_err(Refused::from),
        }
    }

    /// Adds a task to `queue`, ready now or after `delay`; answered once it is on disk.
    pub async fn put(&self, queue: &str, data: Box<RawValue>, delay: Duration) -> Result<u64, Refused> {
        if data.get().len() > self.settings.max_task_bytes {
            return Err(Refused::TooLarge { max_task_bytes: self.settings.max_task_bytes });
        }
        let data: Arc<RawValue> = data.into();
        let (id, ack) = self.with_queue(queue, Sync::Disk, |q, next_id, changes| {
            if q.tasks.len() >= q.limits.max_tasks {
                return Err(Refused::QueueFull { max_tasks: q.limits.max_tasks });
            }
            let id = *next_id;
            *next_id += 1;
            let stage = match delay.is_zero() {
                true => Stage::Ready,
                false => Stage::Delayed { until: now_ms().saturating_add(ms(delay)) },
            };
            q.tasks.insert(id, Task { data: Arc::clone(&data), stage: Stage::Ready, attempts: 0 });
            q.ready.insert(id);
            q.move_to(id, stage);
            q.totals.put += 1;
            changes.push(Change::Put { id, queue: Arc::clone(&q.name), data, stage, attempts: 0 });
            q.wake.notify_waiters();
            Ok(id)
        })?;
        self.safe(ack).await?;
        Ok(id)
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
        let wait = wait.min(crate::settings::seconds(self.settings.max_wait).unwrap_or_default());
        let deadline = tokio::time::Instant::now() + wait;
        let wake = self.with_queue(queue, Sync::Later, |q, _, _| Ok(Arc::clone(&q.wake)))?.0;
        loop {
            // Listening before looking: a put after the look wakes this wait.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let ((leased, next_due), ack) = self.with_queue(queue, Sync::Written, |q, _, changes| {
                let now = now_ms();
                let until = now.saturating_add(ms(lease.unwrap_or(q.limits.lease)));
                let mut leased = Vec::new();
                while leased.len() < max {
                    let Some(id) = q.ready.first().copied() else { break };
                    q.move_to(id, Stage::Leased { until });
                    let task = q.tasks.get_mut(&id).expect("a ready task exists");
                    task.attempts += 1;
                    changes.push(Change::Stage { id, stage: task.stage, attempts: task.attempts });
                    leased.push(Leased { id, attempt: task.attempts, until, data: Arc::clone(&task.data) });
                }
                Ok((leased, q.next_due()))
            })?;
            if !leased.is_empty() || tokio::time::Instant::now() >= deadline {
                self.safe(ack).await?;
                return Ok(leased);
            }
            let until = match next_due {
                Some(due) => {
                    deadline.min(tokio::time::Instant::now() + Duration::from_millis(due.saturating_sub(now_ms())))
                }
                None => deadline,
            };
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }

    /// Finishes the task leased under `token`: it is gone for good once this returns.
    pub async fn done(&self, queue: &str, token: Token) -> Result<Arc<RawValue>, Refused> {
        let (data, ack) = self.with_queue(queue, Sync::Disk, |q, _, changes| {
            q.leased(token)?;
            let task = q.remove(token.id).expect("leased above");
            q.totals.done += 1;
            changes.push(Change::Delete { id: token.id });
            Ok(task.data)
        })?;
        self.safe(ack).await?;
        Ok(data)
    }

    /// Gives the task leased under `token` back: ready again now or after `delay` (dead if
    /// that was its last attempt).
    pub async fn release(&self, queue: &str, token: Token, delay: Duration) -> Result<(), Refused> {
        let ((), ack) = self.with_queue(queue, Sync::Written, |q, _, changes| {
            let attempts = q.leased(token)?.attempts;
            let stage = match (q.after_lease(attempts), delay.is_zero()) {
                (Stage::Dead, _) => Stage::Dead,
                (_, true) => Stage::Ready,
                (_, false) => Stage::Delayed { until: now_ms().saturating_add(ms(delay)) },
            };
            q.move_to(token.id, stage);
            changes.push(Change::Stage { id: token.id, stage, attempts });
            q.wake.notify_waiters();
            Ok(())
        })?;
        self.safe(ack).await
    }

    /// Extends the lease under `token` to `lease` from now; answers when it runs out.
    pub async fn extend(&self, queue: &str, token: Token, lease: Option<Duration>) -> Result<u64, Refused> {
        let (until, ack) = self.with_queue(queue, Sync::Written, |q, _, changes| {
            let attempts = q.leased(token)?.attempts;
            let until = now_ms().saturating_add(ms(lease.unwrap_or(q.limits.lease)));
            q.move_to(token.id, Stage::Leased { until });
            changes.push(Change::Stage { id: token.id, stage: Stage::Leased { until }, attempts });
            Ok(until)
        })?;
        self.safe(ack).await?;
        Ok(until)
    }

    /// Tasks of `queue` waiting to be handed out.
    pub fn qsize(&self, queue: &str) -> usize {
        self.stats(queue).ready
    }

    /// The counts of `queue` (zeros for a queue never used).
    pub fn stats(&self, queue: &str) -> Stats {
        self.with_queue(queue, Sync::Later, |q, _, _| Ok(q.stats()))
            .map(|(stats, _)| stats)
            .unwrap_or_else(|_| Stats { queue: queue.to_owned(), ..Stats::default() })
    }

    /// The counts of every queue, by name.
    pub fn list(&self) -> Vec<Stats> {
        let mut inner = self.lock();
        let mut changes = Vec::new();
        let now = now_ms();
        let mut all: Vec<Stats> = inner
            .queues
            .values_mut()
            .map(|q| {
                q.promote(now, &mut changes);
                q.stats()
            })
            .collect();
        if !changes.is_empty() {
            let _ = self.store.write(changes, inner.next_id, Sync::Later);
        }
        all.sort_by(|a, b| a.queue.cmp(&b.queue));
        all
    }

    /// Up to `limit` dead tasks of `queue`, oldest first.
    pub fn dead(&self, queue: &str, limit: usize) -> Vec<DeadTask> {
        self.with_queue(queue, Sync::Later, |q, _, _| {
            Ok(q.dead
                .iter()
                .take(limit)
                .map(|id| DeadTask { id: *id, attempts: q.tasks[id].attempts, data: Arc::clone(&q.tasks[id].data) })
                .collect())
        })
        .map(|(dead, _)| dead)
        .unwrap_or_default()
    }

    /// Makes the dead task `id` (every dead task if `None`) ready again, with its attempts
    /// counted from 0; answers how many.
    pub async fn requeue(&self, queue: &str, id: Option<u64>) -> Result<usize, Refused> {
        let (count, ack) = self.with_queue(queue, Sync::Disk, |q, _, changes| {
            let ids: Vec<u64> = match id {
                Some(id) if q.dead.contains(&id) => vec![id],
                Some(id) if q.tasks.contains_key(&id) => return Ok(0),
                Some(_) => return Err(Refused::UnknownTask),
                None => q.dead.iter().copied().collect(),
            };
            for &id in &ids {
                q.move_to(id, Stage::Ready);
                if let Some(task) = q.tasks.get_mut(&id) {
                    task.attempts = 0;
                }
                changes.push(Change::Stage { id, stage: Stage::Ready, attempts: 0 });
            }
            q.wake.notify_waiters();
            Ok(ids.len())
        })?;
        self.safe(ack).await?;
        Ok(count)
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
