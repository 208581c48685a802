//! The embedded store's queues: every task in memory, each change written to the SQLite
//! file ([`Sqlite`]) in the order it was made, and answered once it is as safe as it must be.
//!
//! A task is ready, delayed, leased or dead. Ready tasks are handed out by priority,
//! highest first, and in the order they were put within a priority (lowest id first). A lease names its attempt (`<id>.<attempt>`); when it runs
//! out, the task is ready again, or dead after `max_attempts` leases. Times that run out
//! are found when the queue is next used, and a long-poll sleeps until the next one.

use crate::metrics::{self, Event};
use crate::settings::{Limits, Settings};
use crate::sqlite::{Change, Contents, Sqlite, Stage, StoredKey, Sync, Ticket};
use crate::store::{
    DeadTask, Key, LEASE_RAN_OUT, Leased, OpenError, Put, Receipt, Refused, Stats, Store, StoreError, Token, ms, now_ms,
};
use serde_json::value::RawValue;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

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
    priority: i32,
    /// When it was put, or last became ready (for a task read from the file: when it was
    /// read), in milliseconds since the Unix epoch.
    since: u64,
    /// What the release of its last lease said, or that the lease ran out.
    error: Option<Arc<str>>,
}

struct Queue {
    name: Arc<str>,
    limits: Limits,
    tasks: Tasks,
    /// Ready tasks in the order they are handed out: priority, highest first, then id.
    ready: BTreeSet<(Reverse<i32>, u64)>,
    /// The same tasks by how long they have been ready, longest first.
    ready_since: BTreeSet<(u64, u64)>,
    /// Delayed and leased tasks, by the time they are due.
    timed: BTreeSet<(u64, u64)>,
    /// How many of them are leased.
    leased: usize,
    dead: BTreeSet<u64>,
    /// The keys of idempotent puts, and the order they were made in (oldest first).
    keys: HashMap<String, StoredKey>,
    key_order: VecDeque<(u64, String)>,
    /// Takes puts and leases nothing.
    paused: bool,
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
            ready_since: BTreeSet::new(),
            timed: BTreeSet::new(),
            leased: 0,
            dead: BTreeSet::new(),
            keys: HashMap::new(),
            key_order: VecDeque::new(),
            paused: false,
            wake: Arc::default(),
            totals: Stats::default(),
        }
    }

    /// Adds `task`, as `id`, in its stage.
    fn insert(&mut self, id: u64, task: Task) {
        self.tasks.insert(id, task);
        self.put_in(id);
    }

    /// Puts task `id` in `stage`, out of the one it was in, at the time `at`: a task made
    /// ready has waited to be handed out since then.
    fn move_to(&mut self, id: u64, stage: Stage, at: u64) {
        self.take_out(id);
        if let Some(task) = self.tasks.get_mut(&id) {
            if stage == Stage::Ready && task.stage != Stage::Ready {
                task.since = at;
            }
            task.stage = stage;
            self.put_in(id);
        }
    }

    /// Adds task `id` to the set of its stage.
    fn put_in(&mut self, id: u64) {
        let Some(task) = self.tasks.get(&id) else { return };
        match task.stage {
            Stage::Ready => {
                self.ready_since.insert((task.since, id));
                self.ready.insert((Reverse(task.priority), id))
            }
            Stage::Delayed { until } => self.timed.insert((until, id)),
            Stage::Leased { until } => {
                self.leased += 1;
                self.timed.insert((until, id))
            }
            Stage::Dead => self.dead.insert(id),
        };
    }

    /// Takes task `id` out of the set of its stage.
    fn take_out(&mut self, id: u64) {
        let Some(task) = self.tasks.get(&id) else { return };
        match task.stage {
            Stage::Ready => {
                self.ready_since.remove(&(task.since, id));
                self.ready.remove(&(Reverse(task.priority), id))
            }
            Stage::Delayed { until } => self.timed.remove(&(until, id)),
            Stage::Leased { until } => {
                self.leased -= 1;
                self.timed.remove(&(until, id))
            }
            Stage::Dead => self.dead.remove(&id),
        };
    }

    /// Takes task `id` out of the queue.
    fn remove(&mut self, id: u64) -> Option<Task> {
        self.take_out(id);
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
                    metrics::count(&self.name, Event::Expired, 1);
                    let stage = self.after_lease(id, task.attempts, now, None);
                    self.set_error(id, Some(LEASE_RAN_OUT.into()), changes);
                    stage
                }
                _ => Stage::Ready,
            };
            if stage == Stage::Dead {
                metrics::count(&self.name, Event::Dead, 1);
            }
            // A task ready again has waited since it was due.
            self.move_to(id, stage, until);
            changes.push(Change::Stage { id, stage, attempts: task_attempts(&self.tasks, id) });
        }
    }

    /// Makes `error` the last error of task `id`.
    fn set_error(&mut self, id: u64, error: Option<Arc<str>>, changes: &mut Vec<Change>) {
        if let Some(task) = self.tasks.get_mut(&id).filter(|task| task.error != error) {
            task.error.clone_from(&error);
            changes.push(Change::Error { id, error });
        }
    }

    /// Remembers `kept`, the key of a put just made.
    fn keep(&mut self, kept: StoredKey) {
        self.key_order.push_back((kept.created, kept.key.clone()));
        self.keys.insert(kept.key.clone(), kept);
    }

    /// Forgets the keys made before `since`, and the oldest past `most` kept.
    fn forget_keys(&mut self, since: u64, most: usize, changes: &mut Vec<Change>) {
        while let Some((created, _)) = self.key_order.front() {
            if *created >= since && self.key_order.len() <= most {
                break;
            }
            let Some((created, key)) = self.key_order.pop_front() else { break };
            // A key used again after it expired has a newer entry: keep that one.
            if self.keys.get(&key).is_some_and(|kept| kept.created == created) {
                self.keys.remove(&key);
                changes.push(Change::Unkey { queue: Arc::clone(&self.name), key });
            }
        }
    }

    /// Where task `id` goes when its lease ends without a done, at `now`: after `delay`, or
    /// the queue's backoff if `None`; dead after its last attempt.
    fn after_lease(&self, id: u64, attempts: u32, now: u64, delay: Option<Duration>) -> Stage {
        if attempts >= self.limits.max_attempts {
            return Stage::Dead;
        }
        let wait = delay.unwrap_or_else(|| self.limits.backoff(attempts, id ^ now.rotate_left(32)));
        match wait.is_zero() {
            true => Stage::Ready,
            false => Stage::Delayed { until: now.saturating_add(ms(wait)) },
        }
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
        let oldest = self.ready_since.first().map(|&(since, _)| since);
        let oldest_ready_seconds = oldest.map_or(0.0, |since| now_ms().saturating_sub(since) as f64 / 1000.0);
        Stats {
            queue: self.name.to_string(),
            ready: self.ready.len(),
            leased: self.leased,
            delayed: self.timed.len() - self.leased,
            dead: self.dead.len(),
            paused: self.paused,
            oldest_ready_seconds,
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
    /// The store's failed commits when the queues were last read from it.
    synced: u64,
}

/// Every queue, and the SQLite store behind them.
pub(crate) struct Embedded {
    inner: Mutex<Inner>,
    store: Sqlite,
    settings: Settings,
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded").field("data_dir", &self.settings.data_dir).finish_non_exhaustive()
    }
}

impl Inner {
    /// Puts the tasks and keys read from the file in their queues.
    fn fill(&mut self, contents: Contents, settings: &Settings) {
        for stored in contents.tasks {
            let queue = self
                .queues
                .entry(stored.queue.as_str().into())
                .or_insert_with(|| Queue::new(&stored.queue, settings.limits(&stored.queue)));
            let (stage, attempts, priority) = (stored.stage, stored.attempts, stored.priority);
            let error = stored.error.map(Arc::from);
            let task = Task { data: stored.data, stage, attempts, priority, since: now_ms(), error };
            queue.insert(stored.id, task);
        }
        for name in contents.paused {
            let queue =
                self.queues.entry(name.as_str().into()).or_insert_with(|| Queue::new(&name, settings.limits(&name)));
            queue.paused = true;
        }
        // Oldest first, as they were read.
        for kept in contents.keys {
            let queue = self
                .queues
                .entry(kept.queue.as_str().into())
                .or_insert_with(|| Queue::new(&kept.queue, settings.limits(&kept.queue)));
            queue.keep(kept);
        }
    }
}

impl Embedded {
    /// Opens the store in `settings.data_dir` and loads its tasks: leases that ran out
    /// while the server was down end now.
    pub(crate) fn open(settings: Settings) -> Result<Embedded, OpenError> {
        let dir: &Path = &settings.data_dir;
        let max_bytes = settings.max_store_mb.saturating_mul(1 << 20);
        let loaded = Sqlite::open(dir, max_bytes).map_err(OpenError::store(dir.display()))?;
        let mut inner = Inner { queues: HashMap::new(), next_id: loaded.contents.next_id, synced: 0 };
        let mut changes = Vec::new();
        inner.fill(loaded.contents, &settings);
        let now = now_ms();
        for queue in inner.queues.values_mut() {
            queue.promote(now, &mut changes);
        }
        let tasks: usize = inner.queues.values().map(|q| q.tasks.len()).sum();
        tracing::info!(dir = %dir.display(), tasks, queues = inner.queues.len(), "the store is open");
        let store = loaded.store;
        let _ = store.write(changes, inner.next_id, Sync::Later);
        Ok(Embedded { inner: Mutex::new(inner), store, settings })
    }

    /// Makes the queues in memory what the file holds again, after a commit failed with
    /// `cause` (once per failure, whoever waited on it): every count is then the store's.
    fn resync(&self, cause: &StoreError) {
        let mut inner = self.lock();
        if inner.synced == self.store.failures() {
            return;
        }
        match self.store.reload(cause) {
            Ok(contents) => {
                inner.synced = self.store.failures();
                inner.next_id = inner.next_id.max(contents.next_id);
                for queue in inner.queues.values_mut() {
                    queue.tasks.clear();
                    queue.ready.clear();
                    queue.ready_since.clear();
                    queue.timed.clear();
                    queue.leased = 0;
                    queue.dead.clear();
                    queue.keys.clear();
                    queue.key_order.clear();
                    queue.paused = false;
                }
                let count = contents.tasks.len();
                inner.fill(contents, &self.settings);
                tracing::warn!(tasks = count, "the queues were read from the store again after a failed write");
            }
            Err(error) => tracing::error!(%error, "the queues could not be read from the store again"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the queue `name`, with its times brought up to now; then writes the
    /// changes it made, in order. A missing queue is made only for a put (`make`), unless
    /// `max_queues` queues have tasks; otherwise `missing` answers.
    fn with_queue<T>(
        &self,
        name: &str,
        sync: Sync,
        make: bool,
        missing: impl FnOnce() -> Result<T, Refused>,
        f: impl FnOnce(&mut Queue, &mut u64, &mut Vec<Change>) -> Result<T, Refused>,
    ) -> Result<(T, Option<Ticket>), Refused> {
        let mut inner = self.lock();
        let Inner { queues, next_id, .. } = &mut *inner;
        if !queues.contains_key(name) {
            if !make {
                return missing().map(|value| (value, None));
            }
            let max_queues = self.settings.max_queues;
            if queues.len() >= max_queues {
                // A queue with no tasks does not count: forget those nobody waits on.
                queues.retain(|_, q| {
                    !q.tasks.is_empty() || !q.keys.is_empty() || q.paused || Arc::strong_count(&q.wake) > 1
                });
                if queues.values().filter(|q| !q.tasks.is_empty()).count() >= max_queues {
                    return Err(Refused::TooManyQueues { max_queues });
                }
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

    /// [`Embedded::with_queue`] for an operation on a task: a missing queue has no such task.
    fn with_task<T>(
        &self,
        name: &str,
        sync: Sync,
        f: impl FnOnce(&mut Queue, &mut u64, &mut Vec<Change>) -> Result<T, Refused>,
    ) -> Result<(T, Option<Ticket>), Refused> {
        self.with_queue(name, sync, false, || Err(Refused::UnknownTask), f)
    }

    /// Counts an operation on `queue` once the store has it: a refused write counts nothing.
    fn count(&self, queue: &str, count: impl FnOnce(&mut Stats)) {
        if let Some(q) = self.lock().queues.get_mut(queue) {
            count(&mut q.totals);
        }
    }

    /// What a long-poll on `name` waits on: its queue's, the queue made empty if missing.
    fn waker(&self, name: &str) -> Arc<Notify> {
        let mut inner = self.lock();
        let queue = inner.queues.entry(name.into()).or_insert_with(|| Queue::new(name, self.settings.limits(name)));
        Arc::clone(&queue.wake)
    }

    /// Waits until the writes of `ticket` are as safe as they asked.
    async fn safe(&self, ticket: Option<Ticket>) -> Result<(), Refused> {
        match ticket {
            None => Ok(()),
            Some(ticket) => self.store.wait(ticket).await.map_err(|error| {
                self.resync(&error);
                Refused::from(error)
            }),
        }
    }
}

/// The operations, as every store has them; see [`Store`].
#[async_trait::async_trait]
impl Store for Embedded {
    fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn put_many(&self, queue: &str, tasks: Vec<Put>, key: Option<Key>) -> Result<Receipt, Refused> {
        let count = tasks.len() as u64;
        let window = ms(self.settings.idempotency_span());
        let mut tasks = Some(tasks);
        loop {
            let (receipt, ack) = self.with_queue(
                queue,
                Sync::Disk,
                true,
                || unreachable!(),
                |q, next_id, changes| {
                    let now = now_ms();
                    if let Some(key) = &key {
                        q.forget_keys(now.saturating_sub(window), q.limits.max_tasks, changes);
                        if let Some(kept) = q.keys.get(&key.key) {
                            return match kept.fingerprint == key.fingerprint {
                                true => Ok(Receipt { ids: kept.ids.clone(), replayed: true }),
                                false => Err(Refused::KeyReused),
                            };
                        }
                    }
                    let tasks = tasks.take().unwrap_or_default();
                    if q.tasks.len() + tasks.len() > q.limits.max_tasks {
                        return Err(Refused::QueueFull { max_tasks: q.limits.max_tasks });
                    }
                    let ids: Vec<u64> = tasks
                        .into_iter()
                        .map(|Put { data, delay, priority }| {
                            let (id, data): (u64, Arc<RawValue>) = (*next_id, data.into());
                            *next_id += 1;
                            let stage = match delay.is_zero() {
                                true => Stage::Ready,
                                false => Stage::Delayed { until: now.saturating_add(ms(delay)) },
                            };
                            let since = now;
                            let task =
                                Task { data: Arc::clone(&data), stage, attempts: 0, priority, since, error: None };
                            q.insert(id, task);
                            let queue = Arc::clone(&q.name);
                            changes.push(Change::Put { id, queue, data, stage, attempts: 0, priority });
                            id
                        })
                        .collect();
                    if let Some(key) = &key {
                        let kept = StoredKey {
                            queue: q.name.to_string(),
                            key: key.key.clone(),
                            fingerprint: key.fingerprint,
                            ids: ids.clone(),
                            created: now,
                        };
                        changes.push(Change::Key(kept.clone()));
                        q.keep(kept);
                    }
                    q.wake.notify_waiters();
                    Ok(Receipt { ids, replayed: false })
                },
            )?;
            if !receipt.replayed {
                self.safe(ack).await?;
                self.count(queue, |totals| totals.put += count);
                return Ok(receipt);
            }
            // The put that used the key may still wait for its commit: answer once what
            // was pending then is on disk, and if that commit failed (the key is gone with
            // it), put now.
            let next_id = self.lock().next_id;
            self.safe(Some(self.store.write(Vec::new(), next_id, Sync::Disk))).await?;
            let key = key.as_ref().map(|key| key.key.as_str()).unwrap_or_default();
            let kept = self.lock().queues.get(queue).and_then(|q| q.keys.get(key)).map(|kept| kept.ids.clone());
            if kept.as_ref() == Some(&receipt.ids) || tasks.is_none() {
                return Ok(receipt);
            }
        }
    }

    async fn done_many(&self, queue: &str, tokens: &[Token]) -> Result<Vec<bool>, Refused> {
        let missing = || Ok(vec![false; tokens.len()]);
        let (done, ack) = self.with_queue(queue, Sync::Disk, false, missing, |q, _, changes| {
            let done = tokens
                .iter()
                .map(|&token| {
                    let leased = q.leased(token).is_ok();
                    if leased {
                        q.remove(token.id);
                        changes.push(Change::Delete { id: token.id });
                    }
                    leased
                })
                .collect();
            Ok(done)
        })?;
        self.safe(ack).await?;
        let finished = done.iter().filter(|&&d| d).count() as u64;
        self.count(queue, |totals| totals.done += finished);
        Ok(done)
    }

    async fn lease(
        &self,
        queue: &str,
        max: usize,
        lease: Option<Duration>,
        wait: Duration,
    ) -> Result<Vec<Leased>, Refused> {
        let deadline = tokio::time::Instant::now() + wait;
        if wait.is_zero() && !self.lock().queues.contains_key(queue) {
            return Ok(Vec::new());
        }
        // A long-poll waits on the queue, made empty if missing (it does not count against
        // `max_queues`, and is forgotten once nobody waits on it).
        let wake = self.waker(queue);
        loop {
            // Listening before looking: a put after the look wakes this wait.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let ((leased, next_due), ack) = self.with_queue(
                queue,
                Sync::Written,
                false,
                || Ok((Vec::new(), None)),
                |q, _, changes| {
                    let now = now_ms();
                    let until = now.saturating_add(ms(lease.unwrap_or(q.limits.lease)));
                    let mut leased = Vec::new();
                    while leased.len() < max && !q.paused {
                        let Some(&(_, id)) = q.ready.first() else { break };
                        q.move_to(id, Stage::Leased { until }, now);
                        let task = q.tasks.get_mut(&id).expect("a ready task exists");
                        task.attempts += 1;
                        changes.push(Change::Stage { id, stage: task.stage, attempts: task.attempts });
                        leased.push(Leased { id, attempt: task.attempts, until, data: Arc::clone(&task.data) });
                    }
                    Ok((leased, q.next_due()))
                },
            )?;
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

    async fn done(&self, queue: &str, token: Token) -> Result<Arc<RawValue>, Refused> {
        let (data, ack) = self.with_task(queue, Sync::Disk, |q, _, changes| {
            q.leased(token)?;
            let task = q.remove(token.id).expect("leased above");
            changes.push(Change::Delete { id: token.id });
            Ok(task.data)
        })?;
        self.safe(ack).await?;
        self.count(queue, |totals| totals.done += 1);
        Ok(data)
    }

    async fn release(
        &self,
        queue: &str,
        token: Token,
        delay: Option<Duration>,
        error: Option<&str>,
    ) -> Result<(), Refused> {
        let ((), ack) = self.with_task(queue, Sync::Written, |q, _, changes| {
            let attempts = q.leased(token)?.attempts;
            q.set_error(token.id, error.map(Arc::from), changes);
            let now = now_ms();
            let stage = q.after_lease(token.id, attempts, now, delay);
            if stage == Stage::Dead {
                metrics::count(&q.name, Event::Dead, 1);
            }
            q.move_to(token.id, stage, now);
            changes.push(Change::Stage { id: token.id, stage, attempts });
            q.wake.notify_waiters();
            Ok(())
        })?;
        self.safe(ack).await
    }

    async fn extend(&self, queue: &str, token: Token, lease: Option<Duration>) -> Result<u64, Refused> {
        let (until, ack) = self.with_task(queue, Sync::Written, |q, _, changes| {
            let attempts = q.leased(token)?.attempts;
            let now = now_ms();
            let until = now.saturating_add(ms(lease.unwrap_or(q.limits.lease)));
            q.move_to(token.id, Stage::Leased { until }, now);
            changes.push(Change::Stage { id: token.id, stage: Stage::Leased { until }, attempts });
            Ok(until)
        })?;
        self.safe(ack).await?;
        Ok(until)
    }

    async fn stats(&self, queue: &str) -> Result<Stats, Refused> {
        let missing = || Ok(Stats { queue: queue.to_owned(), ..Stats::default() });
        Ok(self.with_queue(queue, Sync::Later, false, missing, |q, _, _| Ok(q.stats()))?.0)
    }

    async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Stats>, Refused> {
        let mut inner = self.lock();
        // A queue a long-poll made, never used, is not listed.
        let mut names: Vec<Arc<str>> = inner
            .queues
            .iter()
            .filter(|(name, q)| {
                after.is_none_or(|after| &***name > after) && (!q.tasks.is_empty() || q.totals.put > 0 || q.paused)
            })
            .map(|(name, _)| Arc::clone(name))
            .collect();
        names.sort_unstable();
        names.truncate(limit);
        let mut changes = Vec::new();
        let now = now_ms();
        let mut page = Vec::with_capacity(names.len());
        for name in &names {
            if let Some(q) = inner.queues.get_mut(name) {
                q.promote(now, &mut changes);
                page.push(q.stats());
            }
        }
        if !changes.is_empty() {
            let _ = self.store.write(changes, inner.next_id, Sync::Later);
        }
        Ok(page)
    }

    async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadTask>, Refused> {
        Ok(self
            .with_queue(
                queue,
                Sync::Later,
                false,
                || Ok(Vec::new()),
                |q, _, _| {
                    Ok(q.dead
                        .iter()
                        .take(limit)
                        .map(|id| DeadTask {
                            id: *id,
                            attempts: q.tasks[id].attempts,
                            data: Arc::clone(&q.tasks[id].data),
                            error: q.tasks[id].error.as_deref().map(str::to_owned),
                        })
                        .collect())
                },
            )
            .map(|(dead, _)| dead)
            .unwrap_or_default())
    }

    async fn backup(&self) -> Result<std::path::PathBuf, Refused> {
        let dir = self.settings.data_dir.join("backups");
        std::fs::create_dir_all(&dir).map_err(StoreError::from)?;
        // Named by the time; never over an earlier backup (two in one millisecond).
        let now = now_ms();
        let to = (0..).map(|n| dir.join(format!("tqueue-{now}-{n}.sqlite3"))).find(|to| !to.exists());
        let to = to.expect("a free name");
        self.store.backup(to.clone()).await?;
        Ok(to)
    }

    async fn pause(&self, queue: &str, paused: bool) -> Result<(), Refused> {
        // Pausing makes the queue (it is then listed, and counts as one with tasks would).
        let missing = || Ok(());
        let ((), ack) = self.with_queue(queue, Sync::Disk, paused, missing, |q, _, changes| {
            if q.paused != paused {
                q.paused = paused;
                changes.push(Change::Pause { queue: Arc::clone(&q.name), paused });
                q.wake.notify_waiters();
            }
            Ok(())
        })?;
        self.safe(ack).await
    }

    async fn requeue(&self, queue: &str, id: Option<u64>) -> Result<usize, Refused> {
        let missing = || if id.is_some() { Err(Refused::UnknownTask) } else { Ok(0) };
        let (count, ack) = self.with_queue(queue, Sync::Disk, false, missing, |q, _, changes| {
            let ids: Vec<u64> = match id {
                Some(id) if q.dead.contains(&id) => vec![id],
                Some(id) if q.tasks.contains_key(&id) => return Ok(0),
                Some(_) => return Err(Refused::UnknownTask),
                None => q.dead.iter().copied().collect(),
            };
            let now = now_ms();
            for &id in &ids {
                q.move_to(id, Stage::Ready, now);
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

    /// The store in `dir`, once the previous one's thread has let the file go.
    fn reopen(dir: &Path) -> Embedded {
        let settings = Settings { data_dir: dir.to_owned(), ..Settings::default() };
        for _ in 0..100 {
            if let Ok(store) = Embedded::open(settings.clone()) {
                return store;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the store did not open again")
    }

    #[test]
    fn pauses_priorities_keys_and_errors_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("tqueue-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let task =
            |text: &str, priority| Put { priority, ..Put::now(RawValue::from_string(format!("\"{text}\"")).unwrap()) };
        let key = Key::new("k".into(), &[task("high", 9)]);
        runtime.block_on(async {
            let store = reopen(&dir);
            store.put_many("q", vec![task("low", 0)], None).await.unwrap();
            store.put_many("q", vec![task("high", 9)], Some(key.clone())).await.unwrap();
            store.pause("q", true).await.unwrap();
            // A task dead after its last lease was released with an error.
            store.put_many("d", vec![task("doomed", 0)], None).await.unwrap();
            for attempt in 1..=5 {
                let leased = store.lease("d", 1, None, Duration::ZERO).await.unwrap();
                let token = Token { id: leased[0].id, attempt: Some(attempt) };
                store.release("d", token, Some(Duration::ZERO), Some(&format!("failure {attempt}"))).await.unwrap();
            }
        });
        runtime.block_on(async {
            let store = reopen(&dir);
            assert!(store.stats("q").await.unwrap().paused);
            let replay = store.put_many("q", vec![task("high", 9)], Some(key.clone())).await.unwrap();
            assert_eq!(replay, Receipt { ids: vec![2], replayed: true });
            assert!(store.lease("q", 2, None, Duration::ZERO).await.unwrap().is_empty());
            store.pause("q", false).await.unwrap();
            let leased = store.lease("q", 2, None, Duration::ZERO).await.unwrap();
            let order: Vec<&str> = leased.iter().map(|l| l.data.get()).collect();
            assert_eq!(order, ["\"high\"", "\"low\""]);
            let dead = store.dead("d", 10).await.unwrap();
            assert_eq!((dead.len(), dead[0].error.as_deref()), (1, Some("failure 5")));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
