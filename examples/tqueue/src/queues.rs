//! The queues as the routes use them, whatever [`Store`] holds them: the embedded one
//! ([`crate::embedded`]) or PostgreSQL ([`crate::postgres`]).

use crate::embedded::Embedded;
use crate::metrics::{self, Event};
use crate::postgres::Postgres;
use crate::settings::{Settings, StoreKind, seconds};
use crate::store::{DeadTask, Key, Leased, OpenError, Put, Receipt, Refused, Stats, Store, Token};
use appserver::Server;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;

/// Every queue, and the store behind them. Register it as the server's state; a clone
/// shares the same store.
#[derive(Debug, Clone)]
pub struct Queues(Arc<dyn Store>);

/// How often the gauges are refreshed.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

impl Queues {
    /// Opens the store the settings name: the embedded one in `data_dir` (its tasks
    /// loaded; leases that ran out while the server was down end now), or PostgreSQL at
    /// `database_url` (its schema created or checked). Settings with problems are refused.
    pub fn open(settings: Settings) -> Result<Queues, OpenError> {
        let problems = settings.problems();
        if !problems.is_empty() {
            return Err(OpenError::Settings(problems));
        }
        let store: Arc<dyn Store> = match settings.store {
            StoreKind::Embedded => Arc::new(Embedded::open(settings)?),
            StoreKind::Postgres => Arc::new(Postgres::open(settings)?),
        };
        Ok(Queues(store))
    }

    /// Publishes the queues' metrics (`tqueue_tasks{queue,state}` and the rest) on the
    /// server's metrics page: the counters as things happen, the gauges refreshed every
    /// second by each process that serves requests.
    pub fn publish_metrics(&self, server: Server) -> Server {
        metrics::enable();
        let store = Arc::clone(&self.0);
        server.background(move || {
            let store = Arc::clone(&store);
            async move {
                // The server's recorder is in place once it serves.
                metrics::describe();
                loop {
                    let mut after: Option<String> = None;
                    while let Ok(page) = store.list(after.as_deref(), 1000).await {
                        page.iter().for_each(metrics::publish);
                        match page.last() {
                            Some(last) if page.len() == 1000 => after = Some(last.queue.clone()),
                            _ => break,
                        }
                    }
                    tokio::time::sleep(PUBLISH_EVERY).await;
                }
            }
        })
    }

    /// Whether the store answers (a page of one queue read from it): the readiness check.
    pub async fn ready(&self) -> Result<(), Refused> {
        self.0.list(None, 1).await.map(drop)
    }

    /// The settings the queues run with.
    pub fn settings(&self) -> &Settings {
        self.0.settings()
    }

    /// Adds a task to `queue`; answered once it is on disk.
    pub async fn put(&self, queue: &str, task: Put) -> Result<u64, Refused> {
        Ok(self.put_many(queue, vec![task], None).await?.ids[0])
    }

    /// Adds `tasks` to `queue` in one commit: all or none; their ids. With an
    /// `Idempotency-Key` (`key`): the ids of the put that used it within
    /// `idempotency_window`, if one did, and nothing is put.
    pub async fn put_many(&self, queue: &str, tasks: Vec<Put>, key: Option<String>) -> Result<Receipt, Refused> {
        let max_task_bytes = self.settings().max_task_bytes;
        if tasks.iter().any(|task| task.data.get().len() > max_task_bytes) {
            return Err(Refused::TooLarge { max_task_bytes });
        }
        let key = key.map(|key| Key::new(key, &tasks));
        let receipt = self.0.put_many(queue, tasks, key).await?;
        if !receipt.replayed {
            metrics::count(queue, Event::Put, receipt.ids.len() as u64);
        }
        Ok(receipt)
    }

    /// Finishes the tasks leased under `tokens` in one commit: for each, whether it was.
    pub async fn done_many(&self, queue: &str, tokens: &[Token]) -> Result<Vec<bool>, Refused> {
        let done = self.0.done_many(queue, tokens).await?;
        metrics::count(queue, Event::Done, done.iter().filter(|d| **d).count() as u64);
        Ok(done)
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
        let wait = wait.min(seconds(self.settings().max_wait).unwrap_or_default());
        let leased = self.0.lease(queue, max, lease, wait).await?;
        metrics::count(queue, Event::Leased, leased.len() as u64);
        Ok(leased)
    }

    /// Finishes the task leased under `token`: it is gone for good once this returns.
    pub async fn done(&self, queue: &str, token: Token) -> Result<Arc<RawValue>, Refused> {
        let data = self.0.done(queue, token).await?;
        metrics::count(queue, Event::Done, 1);
        Ok(data)
    }

    /// Gives the task leased under `token` back: ready again after `delay`, or after the
    /// queue's backoff if `None` (dead if that was its last attempt); `error`, if any, is
    /// kept as its last error, shown with it when it is dead.
    pub async fn release(
        &self,
        queue: &str,
        token: Token,
        delay: Option<Duration>,
        error: Option<&str>,
    ) -> Result<(), Refused> {
        self.0.release(queue, token, delay, error).await?;
        metrics::count(queue, Event::Released, 1);
        Ok(())
    }

    /// Extends the lease under `token` to `lease` from now; answers when it runs out.
    pub async fn extend(&self, queue: &str, token: Token, lease: Option<Duration>) -> Result<u64, Refused> {
        self.0.extend(queue, token, lease).await
    }

    /// The counts of `queue` (zeros for a queue never used).
    pub async fn stats(&self, queue: &str) -> Result<Stats, Refused> {
        self.0.stats(queue).await
    }

    /// The counts of up to `limit` queues whose names sort after `after` (from the first if
    /// `None`), by name: a page of the list.
    pub async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Stats>, Refused> {
        self.0.list(after, limit).await
    }

    /// Up to `limit` dead tasks of `queue`, oldest first.
    pub async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadTask>, Refused> {
        self.0.dead(queue, limit).await
    }

    /// Makes the dead task `id` (every dead task if `None`) ready again, with its attempts
    /// counted from 0; answers how many.
    pub async fn requeue(&self, queue: &str, id: Option<u64>) -> Result<usize, Refused> {
        self.0.requeue(queue, id).await
    }

    /// Copies the whole embedded store, as its last commit left it, to a new file in
    /// `data_dir/backups/` (SQLite's online backup); answers its path.
    pub async fn backup(&self) -> Result<std::path::PathBuf, Refused> {
        self.0.backup().await
    }

    /// Pauses `queue` (it takes puts and leases nothing; long-polls wait) or resumes it.
    pub async fn pause(&self, queue: &str, paused: bool) -> Result<(), Refused> {
        self.0.pause(queue, paused).await
    }
}
