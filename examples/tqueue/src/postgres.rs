//! The PostgreSQL store: the tasks in one table that any number of tqueue nodes share.
//!
//! Every operation is one transaction on a pooled connection (deadpool-postgres over
//! tokio-postgres), with times from the database's clock so that nodes agree on them.
//! The puts, dones and leases of concurrent requests are gathered, per queue, into one
//! statement while the previous one is in flight ([`Gather`]): one commit, one flush and
//! one round trip for many requests.
//! Leasing takes ready rows with `FOR UPDATE SKIP LOCKED`, so concurrent nodes never hand
//! out one task twice; a lease is committed without waiting for the WAL flush (on
//! connections of their own, with `synchronous_commit = off`), a put or done waits for it.
//! A put is one statement unless a bound is near. A put or release notifies
//! (`pg_notify('tqueue', queue)`, in its transaction: once per gathered put); each process
//! listens on its own connection and wakes its long-polls, which also look again every
//! second in case a notification was missed.

use crate::gather::Gather;
use crate::metrics::{self, Event};
use crate::settings::Settings;
use crate::store::{
    DeadTask, Key, LEASE_RAN_OUT, Leased, OpenError, Put, Receipt, Refused, Stats, Store, StoreError, Token, ms,
};
use deadpool_postgres::{Pool, PoolConfig, Runtime, Timeouts};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};

/// The schema's version.
const VERSION: i32 = 5;
/// The advisory lock nodes take to create or migrate the schema one at a time.
const MIGRATION_LOCK: i64 = 0x7471_7565_7565; // "tqueue"
/// The database's clock, in milliseconds since the Unix epoch.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
/// How often a long-poll looks again without a notification.
const POLL: Duration = Duration::from_secs(1);

/// Stage numbers in the `stage` column: waiting (ready once `due` has passed), leased
/// (until `due`), dead.
const WAITING: i16 = 0;
const LEASED: i16 = 2;
const DEAD: i16 = 3;

/// The store: a handle on what its gathered statements share.
#[derive(Debug)]
pub(crate) struct Postgres(Arc<Inner>);

impl std::ops::Deref for Postgres {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A batch of puts (each request's tasks), for one queue.
type Puts = Gather<Inner, String, Vec<Put>, Result<Vec<u64>, Refused>>;
/// A batch of dones (each request's leases), for one queue: each task's data if done.
type Dones = Gather<Inner, String, Vec<Token>, Result<Vec<Option<String>>, Refused>>;
/// A batch of leases (each request's most), for one queue and lease time in milliseconds.
type Takes = Gather<Inner, (String, u64), usize, Result<Vec<Leased>, Refused>>;

pub(crate) struct Inner {
    pool: Pool,
    /// Connections whose commits do not wait for the WAL flush, for leases: a lease lost
    /// to a database crash only hands its task out again.
    leases: Pool,
    url: String,
    settings: Settings,
    /// The long-polls of this process, by queue.
    wakers: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    /// The process whose listener runs (a forked worker starts its own).
    listening: Mutex<Option<u32>>,
    /// Counts since this process started, by queue.
    totals: Mutex<HashMap<String, Stats>>,
    /// When this process last ended the run-out leases of each queue.
    expired: Mutex<HashMap<String, tokio::time::Instant>>,
    /// The puts, dones and leases of many requests, each kind a statement per queue.
    puts: Puts,
    dones: Dones,
    takes: Takes,
}

/// How often a process ends the run-out leases of a queue before it leases from it, at
/// most: a lease that ran out waits at most this much longer to be handed out again.
const EXPIRE_EVERY: Duration = Duration::from_millis(100);

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

/// `sql` prepared once per connection (deadpool's statement cache).
async fn prepared<C: deadpool_postgres::GenericClient>(
    client: &C,
    sql: &str,
) -> Result<tokio_postgres::Statement, Refused> {
    client.prepare_cached(sql).await.map_err(store_error)
}

fn store_error(error: impl Into<StoreError>) -> Refused {
    Refused::Store(error.into())
}

impl Postgres {
    /// Creates or migrates the schema (on a runtime of its own, so that nothing runs when
    /// the server forks), and makes the pool, which connects when first used.
    pub(crate) fn open(settings: Settings) -> Result<Postgres, OpenError> {
        let url = settings.database_url.clone().unwrap_or_default();
        let place = redacted(&url);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OpenError::store(&place)(e.into()))?;
        runtime.block_on(migrate(&url)).map_err(|e| OpenError::store(&place)(e.into()))?;
        drop(runtime);
        let mut config = deadpool_postgres::Config::new();
        config.url = Some(url.clone());
        let second = Some(Duration::from_secs(3));
        config.pool = Some(PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts { wait: Some(Duration::from_secs(5)), create: second, recycle: second },
            ..PoolConfig::default()
        });
        // Every statement here reads a queue's rows in the order of an index (ready tasks by
        // priority and id, a queue's tasks for its bound). A hot queue table's statistics lag
        // behind it (analyzed while small, it looks small), and the planner then picks a
        // bitmap scan and a sort of every ready row: 47 ms a lease at 100,000 tasks, against
        // 0.4 ms in index order (BENCHMARKS.md). The leases' connections do without both;
        // the others without bitmap scans only, as a put sorts its tasks into id order.
        config.options = Some("-c enable_bitmapscan=off".into());
        let pool = config.create_pool(Some(Runtime::Tokio1), NoTls).map_err(|e| OpenError::store(&place)(e.into()))?;
        config.options = Some("-c enable_bitmapscan=off -c enable_sort=off -c synchronous_commit=off".into());
        let leases =
            config.create_pool(Some(Runtime::Tokio1), NoTls).map_err(|e| OpenError::store(&place)(e.into()))?;
        tracing::info!(database = %place, "the PostgreSQL store is ready");
        Ok(Postgres(Arc::new(Inner {
            pool,
            leases,
            url,
            settings,
            wakers: Arc::default(),
            listening: Mutex::new(None),
            totals: Mutex::default(),
            expired: Mutex::default(),
            puts: Gather::new(|inner, queue, puts| Box::pin(async move { inner.put_batch(&queue, puts).await })),
            dones: Gather::new(|inner, queue, dones| Box::pin(async move { inner.done_batch(&queue, dones).await })),
            takes: Gather::new(|inner, (queue, lease), mosts| {
                Box::pin(async move { inner.lease_batch(&queue, lease, mosts).await })
            }),
        })))
    }
}

impl Inner {
    async fn client(&self) -> Result<deadpool_postgres::Object, Refused> {
        self.pool.get().await.map_err(store_error)
    }

    fn count(&self, queue: &str, add: impl FnOnce(&mut Stats)) {
        let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        add(totals.entry(queue.to_owned()).or_insert_with(|| Stats { queue: queue.to_owned(), ..Stats::default() }));
    }

    /// Ends the leases of `queue` that ran out: waiting again, or dead.
    async fn expire(&self, client: &deadpool_postgres::Client, queue: &str) -> Result<(), Refused> {
        let limits = self.settings.limits(queue);
        let max_attempts = limits.max_attempts as i32;
        let (base, most) = (ms(limits.backoff_base) as f64, ms(limits.backoff_max) as f64);
        let row = client
            .query_one(
                &prepared(client, &format!(
                    "WITH ended AS (UPDATE tqueue_tasks SET stage = CASE WHEN attempts >= $2 THEN {DEAD} ELSE {WAITING} END, \
                     due = {NOW} + {BACKOFF}, error = $5 WHERE queue = $1 AND stage = {LEASED} AND due <= {NOW} RETURNING stage) \
                     SELECT count(*), count(*) FILTER (WHERE stage = {DEAD}) FROM ended",
                    BACKOFF = backoff("$3", "$4"),
                )).await?,
                &[&queue, &max_attempts, &base, &most, &LEASE_RAN_OUT],
            )
            .await
            .map_err(store_error)?;
        let (expired, dead) = (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
        if expired > 0 {
            self.count(queue, |t| t.expired += expired);
            metrics::count(queue, Event::Expired, expired);
            metrics::count(queue, Event::Dead, dead);
        }
        // And the keys of idempotent puts past the window.
        let window = ms(self.settings.idempotency_span()) as i64;
        let forget = format!("DELETE FROM tqueue_keys WHERE queue = $1 AND created <= {NOW} - $2");
        client.execute(&prepared(client, &forget).await?, &[&queue, &window]).await.map_err(store_error)?;
        Ok(())
    }

    /// Leases for a batch of requests, each wanting up to its most: one statement for all,
    /// the tasks handed out in id order, request by request.
    async fn lease_batch(&self, queue: &str, lease: u64, mosts: Vec<usize>) -> Vec<Result<Vec<Leased>, Refused>> {
        match self.lease_rows(queue, lease, mosts.iter().sum()).await {
            Ok(leased) => {
                let mut leased = leased.into_iter();
                mosts.iter().map(|most| Ok(leased.by_ref().take(*most).collect())).collect()
            }
            Err(refused) => mosts.iter().map(|_| Err(refused.clone())).collect(),
        }
    }

    /// Leases up to `max` ready tasks of `queue` for `lease` milliseconds, in id order.
    async fn lease_rows(&self, queue: &str, lease: u64, max: usize) -> Result<Vec<Leased>, Refused> {
        let client = self.leases.get().await.map_err(store_error)?;
        let due = {
            let now = tokio::time::Instant::now();
            let mut expired = self.expired.lock().unwrap_or_else(PoisonError::into_inner);
            let due = expired.get(queue).is_none_or(|last| now.duration_since(*last) >= EXPIRE_EVERY);
            if due {
                expired.insert(queue.to_owned(), now);
            }
            due
        };
        if due {
            self.expire(&client, queue).await?;
        }
        // One statement, committed without waiting for the flush: a lease survives tqueue
        // being killed; a database crash may lose the last ones (the task is then ready
        // again), as the embedded store's power cut.
        let rows = client
            .query(
                &prepared(
                    &client,
                    &format!(
                        "UPDATE tqueue_tasks t SET stage = {LEASED}, due = {NOW} + $3, attempts = t.attempts + 1 \
                     FROM (SELECT id FROM tqueue_tasks WHERE queue = $1 AND stage = {WAITING} AND due <= {NOW} \
                           AND NOT EXISTS (SELECT 1 FROM tqueue_queues WHERE name = $1 AND paused) \
                           ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED) s \
                     WHERE t.id = s.id RETURNING t.id, t.attempts, t.due, t.data, t.priority"
                    ),
                )
                .await?,
                &[&queue, &(max as i64), &(lease as i64)],
            )
            .await
            .map_err(store_error)?;
        let mut leased: Vec<(i32, Leased)> = rows
            .iter()
            .filter_map(|row| {
                let data: String = row.get(3);
                let leased = Leased {
                    id: row.get::<_, i64>(0) as u64,
                    attempt: row.get::<_, i32>(1) as u32,
                    until: row.get::<_, i64>(2) as u64,
                    data: RawValue::from_string(data).ok()?.into(),
                };
                Some((row.get(4), leased))
            })
            .collect();
        // In the order they are handed out: priority, highest first, then id.
        leased.sort_by_key(|(priority, l)| (std::cmp::Reverse(*priority), l.id));
        Ok(leased.into_iter().map(|(_, l)| l).collect())
    }

    /// Puts a batch of requests' tasks into `queue`: in one statement for all when there is
    /// room for all, else request by request (each all or none). Notifies once.
    async fn put_batch(self: Arc<Self>, queue: &str, puts: Vec<Vec<Put>>) -> Vec<Result<Vec<u64>, Refused>> {
        let answers = match self.client().await {
            Err(refused) => puts.iter().map(|_| Err(refused.clone())).collect(),
            Ok(mut client) => {
                let all: Vec<&Put> = puts.iter().flatten().collect();
                let fast = match puts.len() {
                    1 => self.put_one(&mut client, queue, &all).await.map(Some),
                    _ => self.put_fast(&client, queue, &all).await,
                };
                match fast {
                    Ok(Some(ids)) => {
                        let mut ids = ids.into_iter();
                        puts.iter().map(|tasks| Ok(ids.by_ref().take(tasks.len()).collect())).collect()
                    }
                    Ok(None) => {
                        let mut answers = Vec::with_capacity(puts.len());
                        for tasks in &puts {
                            let tasks: Vec<_> = tasks.iter().collect();
                            answers.push(self.put_one(&mut client, queue, &tasks).await);
                        }
                        answers
                    }
                    Err(refused) => puts.iter().map(|_| Err(refused.clone())).collect(),
                }
            }
        };
        let put: usize = answers.iter().map(|ids| ids.as_ref().map_or(0, Vec::len)).sum();
        if put > 0 {
            self.count(queue, |t| t.put += put as u64);
        }
        answers
    }

    /// The usual put in one statement, its own transaction: room in the queue for all of
    /// `tasks`, and the queue known or under `max_queues`. Otherwise it puts nothing and
    /// answers `None`.
    async fn put_fast<C: deadpool_postgres::GenericClient + Sync>(
        &self,
        client: &C,
        queue: &str,
        tasks: &[&Put],
    ) -> Result<Option<Vec<u64>>, Refused> {
        let limits = self.settings.limits(queue);
        let (data, delays, priorities) = columns(tasks);
        let Some(room) = (limits.max_tasks as i64).checked_sub(tasks.len() as i64) else { return Ok(None) };
        let fast = client
            .query_one(
                &prepared(client, &format!(
                    "WITH new_queue AS (INSERT INTO tqueue_queues (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1), \
                     room AS (SELECT NOT EXISTS (SELECT 1 FROM tqueue_tasks WHERE queue = $1 ORDER BY queue, stage, due, id OFFSET $4 LIMIT 1) \
                              AND (NOT EXISTS (SELECT 1 FROM new_queue) OR (SELECT count(*) FROM tqueue_queues) < $5) AS ok), \
                     inserted AS (INSERT INTO tqueue_tasks (queue, data, stage, due, attempts, priority) \
                                  SELECT $1, t.data, {WAITING}, {NOW} + t.delay, 0, t.priority \
                                  FROM unnest($2::text[], $3::bigint[], $6::integer[]) WITH ORDINALITY AS t(data, delay, priority, n), room \
                                  WHERE room.ok ORDER BY t.n RETURNING id), \
                     notified AS (SELECT pg_notify('tqueue', $1) FROM room WHERE room.ok) \
                     SELECT (SELECT ok FROM room), array(SELECT id FROM inserted ORDER BY id), (SELECT count(*) FROM notified)"
                ))
                .await?,
                &[&queue, &data, &delays, &room, &(self.settings.max_queues as i64), &priorities],
            )
            .await
            .map_err(store_error)?;
        if !fast.get::<_, bool>(0) {
            return Ok(None);
        }
        let ids: Vec<i64> = fast.get(1);
        Ok(Some(ids.into_iter().map(|id| id as u64).collect()))
    }

    /// One request's put: [`Inner::put_fast`], else [`Inner::put_slow`].
    async fn put_one(
        &self,
        client: &mut deadpool_postgres::Client,
        queue: &str,
        tasks: &[&Put],
    ) -> Result<Vec<u64>, Refused> {
        match self.put_fast(client, queue, tasks).await? {
            Some(ids) => Ok(ids),
            None => self.put_slow(client, queue, tasks).await,
        }
    }

    /// A put with an `Idempotency-Key`, in a transaction of its own: the key is claimed
    /// first (a unique index: a second node's put with the same key waits for this one's
    /// commit, then finds the key), then the tasks are put, and the key keeps their ids.
    async fn put_keyed(&self, queue: &str, tasks: &[&Put], key: &Key) -> Result<Receipt, Refused> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(store_error)?;
        let window = ms(self.settings.idempotency_span()) as i64;
        // A key past the window is free again.
        let expired = format!("DELETE FROM tqueue_keys WHERE queue = $1 AND key = $2 AND created <= {NOW} - $3");
        txn.execute(&prepared(&txn, &expired).await?, &[&queue, &key.key, &window]).await.map_err(store_error)?;
        let claim = format!(
            "INSERT INTO tqueue_keys (queue, key, fingerprint, ids, created) VALUES ($1, $2, $3, '{{}}', {NOW}) \
             ON CONFLICT DO NOTHING RETURNING 1"
        );
        let claim = prepared(&txn, &claim).await?;
        let claimed = txn.query_opt(&claim, &[&queue, &key.key, &key.fingerprint]).await.map_err(store_error)?;
        if claimed.is_none() {
            let kept = txn
                .query_opt(
                    &prepared(&txn, "SELECT fingerprint, ids FROM tqueue_keys WHERE queue = $1 AND key = $2").await?,
                    &[&queue, &key.key],
                )
                .await
                .map_err(store_error)?;
            return match kept {
                Some(row) if row.get::<_, i64>(0) == key.fingerprint => {
                    let ids: Vec<i64> = row.get(1);
                    Ok(Receipt { ids: ids.into_iter().map(|id| id as u64).collect(), replayed: true })
                }
                Some(_) => Err(Refused::KeyReused),
                // Past the window and forgotten meanwhile: as a put after the window would.
                None => {
                    drop(txn);
                    return Box::pin(self.put_keyed(queue, tasks, key)).await;
                }
            };
        }
        let ids = match self.put_fast(&txn, queue, tasks).await? {
            Some(ids) => ids,
            None => self.put_checks(&txn, queue, tasks).await?,
        };
        let stored: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        txn.execute(
            &prepared(&txn, "UPDATE tqueue_keys SET ids = $3 WHERE queue = $1 AND key = $2").await?,
            &[&queue, &key.key, &stored],
        )
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        self.count(queue, |t| t.put += ids.len() as u64);
        Ok(Receipt { ids, replayed: false })
    }

    /// A put near a bound: the checks one at a time in a transaction, which decide.
    async fn put_slow(
        &self,
        client: &mut deadpool_postgres::Client,
        queue: &str,
        tasks: &[&Put],
    ) -> Result<Vec<u64>, Refused> {
        let txn = client.transaction().await.map_err(store_error)?;
        match self.put_checks(&txn, queue, tasks).await {
            // Refused for `max_queues`, the empty queues it forgot stay forgotten.
            outcome @ (Ok(_) | Err(Refused::TooManyQueues { .. })) => {
                txn.commit().await.map_err(store_error)?;
                outcome
            }
            refused => refused,
        }
    }

    /// The checks of a put near a bound, then the put, in `txn`, which the caller commits.
    async fn put_checks(
        &self,
        txn: &deadpool_postgres::Transaction<'_>,
        queue: &str,
        tasks: &[&Put],
    ) -> Result<Vec<u64>, Refused> {
        let limits = self.settings.limits(queue);
        let Some(room) = (limits.max_tasks as i64).checked_sub(tasks.len() as i64) else {
            return Err(Refused::QueueFull { max_tasks: limits.max_tasks });
        };
        let (data, delays, priorities) = columns(tasks);
        // The statement above may have added the queue: count it whether new or not.
        txn.execute(
            &prepared(txn, "INSERT INTO tqueue_queues (name) VALUES ($1) ON CONFLICT DO NOTHING").await?,
            &[&queue],
        )
        .await
        .map_err(store_error)?;
        if queue_count(txn).await? > self.settings.max_queues as i64 {
            // A queue with no tasks does not count: forget the empty ones, then count again.
            let forget = "DELETE FROM tqueue_queues q WHERE name <> $1 AND NOT paused \
                          AND NOT EXISTS (SELECT 1 FROM tqueue_tasks t WHERE t.queue = q.name)";
            txn.execute(&prepared(txn, forget).await?, &[&queue]).await.map_err(store_error)?;
            if queue_count(txn).await? > self.settings.max_queues as i64 {
                // Nor does this one stay, as no task was put in it.
                let unmake = "DELETE FROM tqueue_queues q WHERE name = $1 \
                              AND NOT EXISTS (SELECT 1 FROM tqueue_tasks t WHERE t.queue = q.name)";
                txn.execute(&prepared(txn, unmake).await?, &[&queue]).await.map_err(store_error)?;
                return Err(Refused::TooManyQueues { max_queues: self.settings.max_queues });
            }
        }
        // Room for all of them: a short scan unless the queue is about full.
        let full = txn
            .query_opt(
                &prepared(
                    txn,
                    "SELECT 1 FROM tqueue_tasks WHERE queue = $1 ORDER BY queue, stage, due, id OFFSET $2 LIMIT 1",
                )
                .await?,
                &[&queue, &room],
            )
            .await
            .map_err(store_error)?;
        if full.is_some() {
            return Err(Refused::QueueFull { max_tasks: limits.max_tasks });
        }
        let rows = txn
            .query(
                &prepared(
                    txn,
                    &format!(
                        "INSERT INTO tqueue_tasks (queue, data, stage, due, attempts, priority) \
                     SELECT $1, t.data, {WAITING}, {NOW} + t.delay, 0, t.priority \
                     FROM unnest($2::text[], $3::bigint[], $4::integer[]) WITH ORDINALITY AS t(data, delay, priority, n) \
                     ORDER BY t.n RETURNING id"
                    ),
                )
                .await?,
                &[&queue, &data, &delays, &priorities],
            )
            .await
            .map_err(store_error)?;
        txn.execute(&prepared(txn, "SELECT pg_notify('tqueue', $1)").await?, &[&queue]).await.map_err(store_error)?;
        // Ids come from the sequence in the rows' order.
        let mut ids: Vec<u64> = rows.iter().map(|row| row.get::<_, i64>(0) as u64).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Finishes a batch of requests' leases of `queue` in one statement: for each lease,
    /// its task's data if it was running (a lease named twice is done once).
    async fn done_batch(&self, queue: &str, dones: Vec<Vec<Token>>) -> Vec<Result<Vec<Option<String>>, Refused>> {
        match self.delete_leased(queue, dones.iter().flatten()).await {
            Ok(mut finished) => {
                let mut take = |token: &Token| {
                    let matches = finished
                        .get(&token.id)
                        .is_some_and(|(attempts, _)| token.attempt.is_none_or(|a| a == *attempts));
                    matches.then(|| finished.remove(&token.id).map(|(_, data)| data)).flatten()
                };
                dones.iter().map(|tokens| Ok(tokens.iter().map(&mut take).collect())).collect()
            }
            Err(refused) => dones.iter().map(|_| Err(refused.clone())).collect(),
        }
    }

    /// Deletes the tasks whose leases `tokens` name and run: by id, their attempt and data.
    async fn delete_leased(
        &self,
        queue: &str,
        tokens: impl Iterator<Item = &Token>,
    ) -> Result<HashMap<u64, (u32, String)>, Refused> {
        let client = self.client().await?;
        let (ids, attempts): (Vec<i64>, Vec<Option<i32>>) =
            tokens.map(|t| (t.id as i64, t.attempt.map(|a| a as i32))).unzip();
        let rows = client
            .query(
                &prepared(
                    &client,
                    &format!(
                        "DELETE FROM tqueue_tasks t USING unnest($1::bigint[], $3::integer[]) AS l(id, attempt) \
                     WHERE t.id = l.id AND t.queue = $2 AND t.stage = {LEASED} AND t.due > {NOW} \
                     AND (l.attempt IS NULL OR t.attempts = l.attempt) RETURNING t.id, t.attempts, t.data"
                    ),
                )
                .await?,
                &[&ids, &queue, &attempts],
            )
            .await
            .map_err(store_error)?;
        self.count(queue, |t| t.done += rows.len() as u64);
        Ok(rows.iter().map(|row| (row.get::<_, i64>(0) as u64, (row.get::<_, i32>(1) as u32, row.get(2)))).collect())
    }

    /// Milliseconds until the next task of `queue` is due (a delay or a lease ending).
    async fn next_due(&self, queue: &str) -> Result<Option<u64>, Refused> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &prepared(
                    &client,
                    &format!(
                        "SELECT min(due) - {NOW} FROM tqueue_tasks WHERE queue = $1 AND stage IN ({WAITING}, {LEASED})"
                    ),
                )
                .await?,
                &[&queue],
            )
            .await
            .map_err(store_error)?;
        Ok(row.get::<_, Option<i64>>(0).map(|ms| ms.max(0) as u64))
    }

    fn waker(&self, queue: &str) -> Arc<Notify> {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(wakers.entry(queue.to_owned()).or_default())
    }

    /// Starts this process's listener, once per process (a forked worker starts its own).
    fn listen(&self) {
        let mut listening = self.listening.lock().unwrap_or_else(PoisonError::into_inner);
        if *listening == Some(std::process::id()) {
            return;
        }
        *listening = Some(std::process::id());
        tokio::spawn(listen(self.url.clone(), Arc::clone(&self.wakers)));
    }

    /// The condition that `token` names the running lease of a task of queue `$2` (`$1` the
    /// id, `$3` the attempt or NULL).
    fn leased_by() -> String {
        format!(
            "id = $1 AND queue = $2 AND stage = {LEASED} AND due > {NOW} AND ($3::integer IS NULL OR attempts = $3)"
        )
    }

    /// Why nothing matched `token`: no such task, or not this lease.
    async fn refusal(&self, client: &deadpool_postgres::Client, queue: &str, token: Token) -> Refused {
        let statement = match prepared(client, "SELECT 1 FROM tqueue_tasks WHERE id = $1 AND queue = $2").await {
            Ok(statement) => statement,
            Err(refused) => return refused,
        };
        match client.query_opt(&statement, &[&(token.id as i64), &queue]).await {
            Ok(Some(_)) => Refused::StaleLease,
            Ok(None) => Refused::UnknownTask,
            Err(error) => store_error(error),
        }
    }

    /// The counts of `queue`, or of up to `limit` queues after `after`, by name.
    async fn counts(&self, queue: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<Stats>, Refused> {
        let client = self.client().await?;
        if let Some(queue) = queue {
            self.expire(&client, queue).await?;
        }
        let rows = client
            .query(
                &prepared(
                    &client,
                    &format!(
                        // The clock read once, not for every row (twice as fast at 100,000 tasks).
                        "SELECT q.name, \
                       count(t.id) FILTER (WHERE t.stage = {WAITING} AND t.due <= n.ms), \
                       count(t.id) FILTER (WHERE t.stage = {LEASED}), \
                       count(t.id) FILTER (WHERE t.stage = {WAITING} AND t.due > n.ms), \
                       count(t.id) FILTER (WHERE t.stage = {DEAD}), q.paused, \
                       n.ms - min(t.due) FILTER (WHERE t.stage = {WAITING} AND t.due <= n.ms) \
                     FROM (SELECT {NOW} AS ms) n CROSS JOIN tqueue_queues q LEFT JOIN tqueue_tasks t ON t.queue = q.name \
                     WHERE ($1::text IS NULL OR q.name = $1) AND ($2::text IS NULL OR q.name > $2) \
                     GROUP BY q.name, q.paused, n.ms ORDER BY q.name LIMIT $3"
                    ),
                )
                .await?,
                &[&queue, &after, &(limit.min(i64::MAX as usize) as i64)],
            )
            .await
            .map_err(store_error)?;
        let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(rows
            .iter()
            .map(|row| {
                let name: String = row.get(0);
                let since = totals.get(&name).cloned().unwrap_or_default();
                Stats {
                    ready: row.get::<_, i64>(1) as usize,
                    leased: row.get::<_, i64>(2) as usize,
                    delayed: row.get::<_, i64>(3) as usize,
                    dead: row.get::<_, i64>(4) as usize,
                    paused: row.get(5),
                    oldest_ready_seconds: row.get::<_, Option<i64>>(6).map_or(0.0, |ms| ms.max(0) as f64 / 1000.0),
                    queue: name,
                    ..since
                }
            })
            .collect())
    }
}

/// The operations, as every store has them; see [`Store`].
#[async_trait::async_trait]
impl Store for Postgres {
    fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn put_many(&self, queue: &str, tasks: Vec<Put>, key: Option<Key>) -> Result<Receipt, Refused> {
        match key {
            Some(key) => self.put_keyed(queue, &tasks.iter().collect::<Vec<_>>(), &key).await,
            None => Ok(Receipt { ids: self.puts.submit(&self.0, queue.to_owned(), tasks).await??, replayed: false }),
        }
    }

    async fn done_many(&self, queue: &str, tokens: &[Token]) -> Result<Vec<bool>, Refused> {
        let done = self.dones.submit(&self.0, queue.to_owned(), tokens.to_vec()).await??;
        Ok(done.iter().map(Option::is_some).collect())
    }

    async fn lease(
        &self,
        queue: &str,
        max: usize,
        lease: Option<Duration>,
        wait: Duration,
    ) -> Result<Vec<Leased>, Refused> {
        let lease = lease.unwrap_or(self.settings.limits(queue).lease);
        let deadline = tokio::time::Instant::now() + wait;
        let wake = self.waker(queue);
        if !wait.is_zero() {
            self.listen();
        }
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let leased = self.takes.submit(&self.0, (queue.to_owned(), ms(lease)), max).await??;
            let now = tokio::time::Instant::now();
            if !leased.is_empty() || now >= deadline {
                return Ok(leased);
            }
            let due = self.next_due(queue).await?.map(Duration::from_millis).unwrap_or(POLL);
            let until = deadline.min(now + due.min(POLL));
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }

    async fn done(&self, queue: &str, token: Token) -> Result<Arc<RawValue>, Refused> {
        let done = self.dones.submit(&self.0, queue.to_owned(), vec![token]).await??;
        let Some(Some(data)) = done.into_iter().next() else {
            return Err(self.refusal(&self.client().await?, queue, token).await);
        };
        RawValue::from_string(data)
            .map(Arc::from)
            .map_err(|_| Refused::Store(StoreError::Damaged { id: token.id as i64 }))
    }

    async fn release(
        &self,
        queue: &str,
        token: Token,
        delay: Option<Duration>,
        error: Option<&str>,
    ) -> Result<(), Refused> {
        let client = self.client().await?;
        let limits = self.settings.limits(queue);
        let max_attempts = limits.max_attempts as i32;
        let attempt = token.attempt.map(|a| a as i32);
        let delay = delay.map(|delay| ms(delay) as i64);
        let (base, most) = (ms(limits.backoff_base) as f64, ms(limits.backoff_max) as f64);
        let released = client
            .query(
                &prepared(&client, &format!(
                    "WITH released AS (UPDATE tqueue_tasks SET stage = CASE WHEN attempts >= $4 THEN {DEAD} ELSE {WAITING} END, \
                     due = {NOW} + coalesce($5, {BACKOFF}), error = $8 WHERE {} RETURNING stage) \
                     SELECT stage, pg_notify('tqueue', $2) FROM released",
                    Inner::leased_by(),
                    BACKOFF = backoff("$6", "$7"),
                )).await?,
                &[&(token.id as i64), &queue, &attempt, &max_attempts, &delay, &base, &most, &error],
            )
            .await
            .map_err(store_error)?;
        match released.first() {
            None => Err(self.refusal(&client, queue, token).await),
            Some(row) => {
                if row.get::<_, i16>(0) == DEAD {
                    metrics::count(queue, Event::Dead, 1);
                }
                Ok(())
            }
        }
    }

    async fn extend(&self, queue: &str, token: Token, lease: Option<Duration>) -> Result<u64, Refused> {
        let client = self.client().await?;
        let lease = lease.unwrap_or(self.settings.limits(queue).lease);
        let attempt = token.attempt.map(|a| a as i32);
        let row = client
            .query_opt(
                &prepared(
                    &client,
                    &format!("UPDATE tqueue_tasks SET due = {NOW} + $4 WHERE {} RETURNING due", Inner::leased_by()),
                )
                .await?,
                &[&(token.id as i64), &queue, &attempt, &(ms(lease) as i64)],
            )
            .await
            .map_err(store_error)?;
        match row {
            Some(row) => Ok(row.get::<_, i64>(0) as u64),
            None => Err(self.refusal(&client, queue, token).await),
        }
    }

    async fn stats(&self, queue: &str) -> Result<Stats, Refused> {
        let found = self.counts(Some(queue), None, 1).await?.into_iter().next();
        Ok(found.unwrap_or_else(|| Stats { queue: queue.to_owned(), ..Stats::default() }))
    }

    async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Stats>, Refused> {
        self.counts(None, after, limit).await
    }

    async fn dead(&self, queue: &str, limit: usize) -> Result<Vec<DeadTask>, Refused> {
        let client = self.client().await?;
        self.expire(&client, queue).await?;
        let rows = client
            .query(
                &prepared(&client, &format!("SELECT id, attempts, data, error FROM tqueue_tasks WHERE queue = $1 AND stage = {DEAD} ORDER BY id LIMIT $2")).await?,
                &[&queue, &(limit as i64)],
            )
            .await
            .map_err(store_error)?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(DeadTask {
                    id: row.get::<_, i64>(0) as u64,
                    attempts: row.get::<_, i32>(1) as u32,
                    data: RawValue::from_string(row.get(2)).ok()?.into(),
                    error: row.get(3),
                })
            })
            .collect())
    }

    async fn backup(&self) -> Result<std::path::PathBuf, Refused> {
        Err(Refused::Unsupported("the PostgreSQL store is backed up by PostgreSQL: pg_dump, or a base backup"))
    }

    async fn pause(&self, queue: &str, paused: bool) -> Result<(), Refused> {
        let client = self.client().await?;
        let sql = match paused {
            // Pausing makes the queue (it is then listed, and counts against `max_queues`).
            true => {
                "INSERT INTO tqueue_queues (name, paused) VALUES ($1, true) \
                     ON CONFLICT (name) DO UPDATE SET paused = true"
            }
            // Resuming wakes the long-polls of every node.
            false => {
                "WITH resumed AS (UPDATE tqueue_queues SET paused = false WHERE name = $1 AND paused RETURNING 1) \
                      SELECT pg_notify('tqueue', $1) FROM resumed"
            }
        };
        client.execute(&prepared(&client, sql).await?, &[&queue]).await.map_err(store_error)?;
        Ok(())
    }

    async fn requeue(&self, queue: &str, id: Option<u64>) -> Result<usize, Refused> {
        let client = self.client().await?;
        let id = id.map(|id| id as i64);
        let requeued = client
            .execute(
                &prepared(
                    &client,
                    &format!(
                        "WITH requeued AS (UPDATE tqueue_tasks SET stage = {WAITING}, due = {NOW}, attempts = 0 \
                     WHERE queue = $1 AND stage = {DEAD} AND ($2::bigint IS NULL OR id = $2) RETURNING id) \
                     SELECT pg_notify('tqueue', $1) FROM requeued"
                    ),
                )
                .await?,
                &[&queue, &id],
            )
            .await
            .map_err(store_error)?;
        if requeued == 0 {
            if let Some(id) = id {
                let exists = client
                    .query_opt(
                        &prepared(&client, "SELECT 1 FROM tqueue_tasks WHERE id = $1 AND queue = $2").await?,
                        &[&id, &queue],
                    )
                    .await
                    .map_err(store_error)?;
                if exists.is_none() {
                    return Err(Refused::UnknownTask);
                }
            }
        }
        Ok(requeued as usize)
    }
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Creates the schema, or checks its version, under an advisory lock.
async fn migrate(url: &str) -> Result<(), tokio_postgres::Error> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    txn.batch_execute("CREATE TABLE IF NOT EXISTS tqueue_schema (version integer NOT NULL)").await?;
    let version: Option<i32> = txn.query_one("SELECT max(version) FROM tqueue_schema", &[]).await?.get(0);
    if version.unwrap_or(0) < 1 {
        txn.batch_execute(
            "CREATE TABLE tqueue_tasks (
                 id bigserial PRIMARY KEY,
                 queue text NOT NULL,
                 data text NOT NULL,
                 stage smallint NOT NULL,
                 due bigint NOT NULL,
                 attempts integer NOT NULL DEFAULT 0
             );
             CREATE INDEX tqueue_tasks_by_queue ON tqueue_tasks (queue, stage, due, id);
             CREATE TABLE tqueue_queues (name text PRIMARY KEY);
             INSERT INTO tqueue_schema VALUES (1);",
        )
        .await?;
    }
    if version.unwrap_or(0) < 2 {
        // Leasing takes waiting rows in id order from an index of them alone; a hot queue
        // table (every task inserted, updated and deleted) is vacuumed after 1,000 dead
        // rows rather than after a fifth of the table, without throttling.
        txn.batch_execute(&format!(
            "CREATE INDEX tqueue_tasks_waiting ON tqueue_tasks (queue, id) WHERE stage = {WAITING};
             ALTER TABLE tqueue_tasks SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                                           autovacuum_vacuum_cost_delay = 0);
             INSERT INTO tqueue_schema VALUES (2);"
        ))
        .await?;
    }
    if version.unwrap_or(0) < 3 {
        // Priorities: ready rows leased highest first, in id order within a priority, from
        // an index in that order. The keys of idempotent puts, unique per queue.
        txn.batch_execute(&format!(
            "ALTER TABLE tqueue_tasks ADD COLUMN priority integer NOT NULL DEFAULT 0;
             CREATE INDEX tqueue_tasks_ready ON tqueue_tasks (queue, priority DESC, id) WHERE stage = {WAITING};
             DROP INDEX tqueue_tasks_waiting;
             CREATE TABLE tqueue_keys (
                 queue text NOT NULL,
                 key text NOT NULL,
                 fingerprint bigint NOT NULL,
                 ids bigint[] NOT NULL,
                 created bigint NOT NULL,
                 PRIMARY KEY (queue, key)
             );
             CREATE INDEX tqueue_keys_by_age ON tqueue_keys (queue, created);
             INSERT INTO tqueue_schema VALUES (3);"
        ))
        .await?;
    }
    if version.unwrap_or(0) < 4 {
        // Paused queues take puts and lease nothing.
        txn.batch_execute(
            "ALTER TABLE tqueue_queues ADD COLUMN paused boolean NOT NULL DEFAULT false;
             INSERT INTO tqueue_schema VALUES (4);",
        )
        .await?;
    }
    if version.unwrap_or(0) < 5 {
        // A task's last error, shown with it when it is dead.
        txn.batch_execute(&format!(
            "ALTER TABLE tqueue_tasks ADD COLUMN error text;
             INSERT INTO tqueue_schema VALUES ({VERSION});"
        ))
        .await?;
    }
    txn.commit().await?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// The backoff of a row whose lease ended, in milliseconds, as SQL: `base × 2^(attempts−1)`,
/// at most `most` (the parameters named), times a random factor from 0.5 to 1, as
/// [`crate::settings::Limits::backoff`].
fn backoff(base: &str, most: &str) -> String {
    format!(
        "(least({base}::float8 * power(2, least(attempts, 32) - 1), {most}::float8) * (0.5 + random() / 2))::bigint"
    )
}

/// The columns of `tasks` for `unnest`: data, delays in milliseconds, priorities.
fn columns<'a>(tasks: &[&'a Put]) -> (Vec<&'a str>, Vec<i64>, Vec<i32>) {
    let data = tasks.iter().map(|t| t.data.get()).collect();
    let delays = tasks.iter().map(|t| ms(t.delay) as i64).collect();
    (data, delays, tasks.iter().map(|t| t.priority).collect())
}

/// Wakes the long-polls of this process on each notification, from a connection of its
/// own; reconnects after a second when it drops, and then wakes every long-poll, which
/// look again.
async fn listen(url: String, wakers: Arc<Mutex<HashMap<String, Arc<Notify>>>>) {
    let wake_all = |wakers: &Mutex<HashMap<String, Arc<Notify>>>| {
        for notify in wakers.lock().unwrap_or_else(PoisonError::into_inner).values() {
            notify.notify_waiters();
        }
    };
    loop {
        if let Ok((client, mut connection)) = tokio_postgres::connect(&url, NoTls).await {
            let (queues, mut notified) = tokio::sync::mpsc::unbounded_channel::<String>();
            let driver = tokio::spawn(async move {
                std::future::poll_fn(|cx| {
                    loop {
                        match connection.poll_message(cx) {
                            std::task::Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                                let _ = queues.send(n.payload().to_owned());
                            }
                            std::task::Poll::Ready(Some(Ok(_))) => {}
                            std::task::Poll::Ready(_) => return std::task::Poll::Ready(()),
                            std::task::Poll::Pending => return std::task::Poll::Pending,
                        }
                    }
                })
                .await;
            });
            if client.batch_execute("LISTEN tqueue").await.is_ok() {
                wake_all(&wakers);
                while let Some(queue) = notified.recv().await {
                    let notify = wakers.lock().unwrap_or_else(PoisonError::into_inner).get(&queue).cloned();
                    if let Some(notify) = notify {
                        notify.notify_waiters();
                    }
                }
            }
            drop(client);
            driver.abort();
        }
        wake_all(&wakers);
        tokio::time::sleep(POLL).await;
    }
}

/// How many queues there are.
async fn queue_count(txn: &deadpool_postgres::Transaction<'_>) -> Result<i64, Refused> {
    let count = prepared(txn, "SELECT count(*) FROM tqueue_queues").await?;
    Ok(txn.query_one(&count, &[]).await.map_err(store_error)?.get(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(super::redacted("postgres://app:secret@db:5432/q"), "postgres://app@db:5432/q");
        assert_eq!(super::redacted("postgres://db/q"), "postgres://db/q");
    }
}
