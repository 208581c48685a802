//! Protocol v2: JSON in and out, proper statuses, leases with tokens, long-polls, dead
//! letters. Errors have the framework's shape, `{"error": {"status", "message"}}`.
//!
//! | | |
//! |---|---|
//! | `POST /v2/queues/{queue}/tasks` `{"task": ..., "delay": s, "priority": n}` | put: 201 `{"queue", "id"}`; `Idempotency-Key` |
//! | `POST /v2/queues/{queue}/tasks/batch` `{"tasks": [...]}` | put many: 201 `{"queue", "ids"}` |
//! | `POST /v2/queues/{queue}/lease?max=&lease=&wait=` | lease: `{"queue", "tasks": [{"id", "lease", "attempt", "lease_until", "task"}]}` |
//! | `POST /v2/queues/{queue}/leases/{lease}/done` | done (ack) |
//! | `POST /v2/queues/{queue}/leases/{lease}/release?delay=&error=` | release (nack), with the error kept |
//! | `POST /v2/queues/{queue}/leases/{lease}/extend?lease=` | extend (heartbeat): `{"lease_until"}` |
//! | `GET /v2/queues/{queue}` | stats |
//! | `GET /v2/queues` | every queue's stats |
//! | `GET /v2/queues/{queue}/dead?limit=` | dead tasks, with their last error |
//! | `POST /v2/queues/{queue}/dead/requeue`, `.../dead/{id}/requeue` | dead tasks ready again |
//! | `POST /v2/queues/{queue}/pause`, `.../resume` | a paused queue takes puts and leases nothing |
//! | `POST /v2/backup` | the embedded store copied to `data_dir/backups/` |

use crate::access::Caller;
use crate::queues::Queues;
use crate::refusal::Failure;
use crate::settings::seconds;
use crate::store::Token;
use appserver::{Error, Query, State, StatusCode, route};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `value` seconds as a duration, or a 422 naming `what`.
fn duration(what: &str, value: Option<f64>) -> Result<Option<Duration>, Error> {
    value
        .map(|value| {
            seconds(value).ok_or_else(|| {
                Error::new(StatusCode::UNPROCESSABLE_ENTITY, format!("`{what}` must be seconds from 0 to 86400"))
            })
        })
        .transpose()
}

/// `value` (or `default`) if it is from 1 to `max`, or a 422 naming `what`.
fn count(what: &str, value: Option<usize>, default: usize, max: usize) -> Result<usize, Error> {
    let value = value.unwrap_or(default);
    match (1..=max).contains(&value) {
        true => Ok(value),
        false => Err(Error::new(StatusCode::UNPROCESSABLE_ENTITY, format!("`{what}` must be from 1 to {max}"))),
    }
}

fn lease_token(text: &str) -> Result<Token, Error> {
    text.parse::<Token>()
        .ok()
        .filter(|token| token.attempt.is_some())
        .ok_or_else(|| Error::not_found(format!("`{text}` is not a lease token (<id>.<attempt>)")))
}

/// The most tasks a batch puts, and the most leases it finishes.
const MAX_BATCH: usize = 1000;

/// A task to put.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewTask {
    /// Any JSON value.
    task: Box<RawValue>,
    /// Seconds before it is ready.
    #[schemars(range(min = 0, max = 86400))]
    delay: Option<f64>,
    /// Higher first, first in, first out within a priority; 0 by default.
    priority: Option<i32>,
}

impl NewTask {
    /// The task to put, its delay checked.
    fn put(self) -> Result<crate::store::Put, Error> {
        let delay = duration("delay", self.delay)?.unwrap_or_default();
        Ok(crate::store::Put { data: self.task, delay, priority: self.priority.unwrap_or(0) })
    }
}

/// A page of the list of queues.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Page {
    /// Queues per page: 1 to 1000, 100 by default.
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
    /// The page starts after this queue name: the `next` of the page before.
    after: Option<String>,
}

/// Every queue's stats, a page at a time (`?limit=&after=`): `{"queues": [...], "next"}`,
/// `next` naming where the next page starts, `null` on the last.
#[route(GET, r"/v2/queues")]
async fn list(page: Query<Page>, queues: State<Queues>, _caller: Caller) -> Result<Value, Failure> {
    let limit = count("limit", page.0.limit, 100, 1000)?;
    let listed = queues.list(page.0.after.as_deref(), limit).await?;
    let next = (listed.len() == limit).then(|| listed.last().map(|q| q.queue.clone())).flatten();
    Ok(json!({"queues": listed, "next": next}))
}

/// Where a backup was written, and its size.
#[derive(Serialize, JsonSchema)]
struct Backup {
    path: String,
    bytes: u64,
}

/// Copies the embedded store, as its last commit left it, to a new file in
/// `data_dir/backups/` (SQLite's online backup, while the server serves); 501 on PostgreSQL.
#[route(POST, r"/v2/backup")]
async fn backup(queues: State<Queues>, _caller: Caller<crate::access::Admin>) -> Result<Backup, Failure> {
    let path = queues.backup().await?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(Backup { path: path.display().to_string(), bytes })
}

/// The routes of one queue, under its name: `/v2/queues/{queue}/...`.
#[appserver::scope(r"/v2/queues/(?P<queue>[A-Za-z0-9_.-]{1,64})")]
mod queue {
    use super::*;
    use crate::access::{Admin, Consume, Produce};
    use crate::idempotency::IdempotencyKey;
    use crate::store::{DeadTask, Stats};
    use appserver::Json;

    /// Puts a task; with an `Idempotency-Key`, the first put's id if the key was used.
    #[route(POST, r"/tasks")]
    async fn put(
        queue: String,
        body: Json<NewTask>,
        key: IdempotencyKey,
        queues: State<Queues>,
        _caller: Caller<Produce>,
    ) -> Result<appserver::Created<Put>, Failure> {
        let receipt = queues.put_many(&queue, vec![body.0.put()?], key.0).await?;
        Ok(appserver::Created(Put { queue, id: receipt.ids[0].to_string() }))
    }

    /// Tasks to put at once.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct NewTasks {
        /// 1 to 1000 tasks: all are put, or none.
        #[schemars(length(min = 1, max = 1000))]
        tasks: Vec<NewTask>,
    }

    /// The answer of a batch put: the tasks' ids, in order.
    #[derive(Serialize, JsonSchema)]
    struct PutMany {
        queue: String,
        ids: Vec<String>,
    }

    /// Puts many tasks in one commit: all of them or none (a bound, a task too large).
    #[route(POST, r"/tasks/batch")]
    async fn put_many(
        queue: String,
        body: Json<NewTasks>,
        key: IdempotencyKey,
        queues: State<Queues>,
        _caller: Caller<Produce>,
    ) -> Result<appserver::Created<PutMany>, Failure> {
        if !(1..=MAX_BATCH).contains(&body.0.tasks.len()) {
            return Err(Error::new(StatusCode::UNPROCESSABLE_ENTITY, "`tasks` must hold 1 to 1000 tasks").into());
        }
        let tasks = body.0.tasks.into_iter().map(NewTask::put).collect::<Result<Vec<_>, Error>>()?;
        let receipt = queues.put_many(&queue, tasks, key.0).await?;
        Ok(appserver::Created(PutMany { queue, ids: receipt.ids.iter().map(u64::to_string).collect() }))
    }

    /// Leases to finish at once.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Leases {
        /// 1 to 1000 lease tokens (`<id>.<attempt>`).
        #[schemars(length(min = 1, max = 1000))]
        leases: Vec<String>,
    }

    /// The answer of a batch done: the leases done, and those over (or unknown).
    #[derive(Serialize, JsonSchema)]
    struct DoneMany {
        queue: String,
        done: Vec<String>,
        stale: Vec<String>,
    }

    /// Finishes many leases in one commit; each is reported done or stale.
    #[route(POST, r"/leases/done")]
    async fn done_many(
        queue: String,
        body: Json<Leases>,
        queues: State<Queues>,
        _caller: Caller<Consume>,
    ) -> Result<DoneMany, Failure> {
        if !(1..=MAX_BATCH).contains(&body.0.leases.len()) {
            return Err(
                Error::new(StatusCode::UNPROCESSABLE_ENTITY, "`leases` must hold 1 to 1000 lease tokens").into()
            );
        }
        let tokens = body.0.leases.iter().map(|lease| lease_token(lease)).collect::<Result<Vec<_>, Error>>()?;
        let finished = queues.done_many(&queue, &tokens).await?;
        let (mut done, mut stale) = (Vec::new(), Vec::new());
        for (lease, finished) in body.0.leases.into_iter().zip(finished) {
            match finished {
                true => done.push(lease),
                false => stale.push(lease),
            }
        }
        Ok(DoneMany { queue, done, stale })
    }

    /// The answer of a put.
    #[derive(Serialize, JsonSchema)]
    struct Put {
        queue: String,
        id: String,
    }

    /// The answer of a lease.
    #[derive(Serialize, JsonSchema)]
    struct LeaseReply {
        queue: String,
        tasks: Vec<LeasedTask>,
    }

    #[derive(Serialize, JsonSchema)]
    struct LeasedTask {
        id: String,
        lease: String,
        attempt: u32,
        lease_until: u64,
        task: Arc<RawValue>,
    }

    /// The answer of a done or a release.
    #[derive(Serialize, JsonSchema)]
    struct Finished {
        queue: String,
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        done: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        released: Option<bool>,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct LeaseParams {
        /// The most tasks to lease, 1 to 100; default 1.
        #[schemars(range(min = 1, max = 100))]
        max: Option<usize>,
        /// Seconds the leases run; default: the queue's.
        #[schemars(range(min = 0, max = 86400))]
        lease: Option<f64>,
        /// Seconds to wait for a task when none is ready; default 0.
        #[schemars(range(min = 0, max = 86400))]
        wait: Option<f64>,
    }

    #[route(POST, r"/lease")]
    async fn lease(
        queue: String,
        params: Query<LeaseParams>,
        queues: State<Queues>,
        _caller: Caller<Consume>,
    ) -> Result<LeaseReply, Failure> {
        let max = count("max", params.0.max, 1, 100)?;
        let lease = duration("lease", params.0.lease)?.filter(|d| !d.is_zero());
        let wait = duration("wait", params.0.wait)?.unwrap_or_default();
        let leased = queues.lease(&queue, max, lease, wait).await?;
        let tasks = leased
            .into_iter()
            .map(|t| LeasedTask {
                id: t.id.to_string(),
                lease: t.token(),
                attempt: t.attempt,
                lease_until: t.until,
                task: t.data,
            })
            .collect();
        Ok(LeaseReply { queue, tasks })
    }

    #[route(POST, r"/leases/(?P<lease>[^/]+)/done")]
    async fn done(
        queue: String,
        lease: String,
        queues: State<Queues>,
        _caller: Caller<Consume>,
    ) -> Result<Finished, Failure> {
        let token = lease_token(&lease)?;
        queues.done(&queue, token).await?;
        Ok(Finished { queue, id: token.id.to_string(), done: Some(true), released: None })
    }

    /// The longest error a release may give, in characters.
    const MAX_ERROR: usize = 1000;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Release {
        /// Seconds before the task is ready again; by default the queue's backoff
        /// (`backoff_base` doubled at each attempt, at most `backoff_max`).
        #[schemars(range(min = 0, max = 86400))]
        delay: Option<f64>,
        /// Why the worker gave the task back: kept as its last error, listed with it if it
        /// is dead.
        #[schemars(length(max = 1000))]
        error: Option<String>,
    }

    #[route(POST, r"/leases/(?P<lease>[^/]+)/release")]
    async fn release(
        queue: String,
        lease: String,
        params: Query<Release>,
        queues: State<Queues>,
        _caller: Caller<Consume>,
    ) -> Result<Finished, Failure> {
        let token = lease_token(&lease)?;
        let delay = duration("delay", params.0.delay)?;
        let error = params.0.error.as_deref();
        if error.is_some_and(|error| error.chars().count() > MAX_ERROR) {
            let message = format!("`error` must be at most {MAX_ERROR} characters");
            return Err(Error::new(StatusCode::UNPROCESSABLE_ENTITY, message).into());
        }
        queues.release(&queue, token, delay, error).await?;
        Ok(Finished { queue, id: token.id.to_string(), done: None, released: Some(true) })
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Extend {
        /// Seconds from now the lease runs; default: the queue's lease.
        #[schemars(range(min = 0, max = 86400))]
        lease: Option<f64>,
    }

    #[route(POST, r"/leases/(?P<lease>[^/]+)/extend")]
    async fn extend(
        queue: String,
        lease: String,
        params: Query<Extend>,
        queues: State<Queues>,
        _caller: Caller<Consume>,
    ) -> Result<Value, Failure> {
        let token = lease_token(&lease)?;
        let duration = duration("lease", params.0.lease)?.filter(|d| !d.is_zero());
        let until = queues.extend(&queue, token, duration).await?;
        Ok(json!({"queue": queue, "id": token.id.to_string(), "lease_until": until}))
    }

    #[route(GET, r"")]
    async fn stats(queue: String, queues: State<Queues>, _caller: Caller) -> Result<Stats, Failure> {
        Ok(queues.stats(&queue).await?)
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Limit {
        /// The most dead tasks to list, 1 to 1000; default 100.
        #[schemars(range(min = 1, max = 1000))]
        limit: Option<usize>,
    }

    #[route(GET, r"/dead")]
    async fn dead(
        queue: String,
        params: Query<Limit>,
        queues: State<Queues>,
        _caller: Caller<Admin>,
    ) -> Result<Value, Failure> {
        let limit = count("limit", params.0.limit, 100, 1000)?;
        let tasks: Vec<DeadTask> = queues.dead(&queue, limit).await?;
        Ok(json!({"queue": queue, "tasks": tasks}))
    }

    /// Makes every dead task of the queue ready again.
    #[route(POST, r"/dead/requeue")]
    async fn requeue_all(queue: String, queues: State<Queues>, _caller: Caller<Admin>) -> Result<Value, Failure> {
        requeued(&queues, queue, None).await
    }

    /// Makes the dead task `id` ready again.
    #[route(POST, r"/dead/(?P<id>\d+)/requeue")]
    async fn requeue(queue: String, id: u64, queues: State<Queues>, _caller: Caller<Admin>) -> Result<Value, Failure> {
        requeued(&queues, queue, Some(id)).await
    }

    /// A queue paused or resumed.
    #[derive(Serialize, JsonSchema)]
    struct Paused {
        queue: String,
        paused: bool,
    }

    /// Pauses the queue: it takes puts and leases nothing; long-polls wait.
    #[route(POST, r"/pause")]
    async fn pause(queue: String, queues: State<Queues>, _caller: Caller<Admin>) -> Result<Paused, Failure> {
        queues.pause(&queue, true).await?;
        Ok(Paused { queue, paused: true })
    }

    /// Resumes the queue: it leases again, and its long-polls wake.
    #[route(POST, r"/resume")]
    async fn resume(queue: String, queues: State<Queues>, _caller: Caller<Admin>) -> Result<Paused, Failure> {
        queues.pause(&queue, false).await?;
        Ok(Paused { queue, paused: false })
    }

    async fn requeued(queues: &Queues, queue: String, id: Option<u64>) -> Result<Value, Failure> {
        let requeued = queues.requeue(&queue, id).await?;
        Ok(json!({"queue": queue, "requeued": requeued}))
    }
}
