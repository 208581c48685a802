//! The durable store: the tasks in SQLite (write-ahead log), written by one thread that
//! commits whatever has queued up since its last commit in one transaction (group
//! commit), so that concurrent clients share each fsync.
//!
//! Each transaction is as safe as the safest write in it asks ([`Sync`]): a put or a done
//! waits for the fsync; a lease waits only until its commit is in the log (the operating
//! system's cache), which survives the process being killed, at a few microseconds.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::value::RawValue;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The most changes one transaction takes.
const BATCH: usize = 8192;

/// The schema's version, in SQLite's `user_version`.
const VERSION: i64 = 1;

/// Where a task is; times are milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Ready,
    Delayed { until: u64 },
    Leased { until: u64 },
    Dead,
}

impl Stage {
    fn encode(self) -> (i64, i64) {
        let (kind, until) = match self {
            Stage::Ready => (0, 0),
            Stage::Delayed { until } => (1, until),
            Stage::Leased { until } => (2, until),
            Stage::Dead => (3, 0),
        };
        (kind, i64::try_from(until).unwrap_or(i64::MAX))
    }

    fn decode(kind: i64, until: i64) -> Option<Stage> {
        let until = u64::try_from(until).ok()?;
        Some(match kind {
            0 => Stage::Ready,
            1 => Stage::Delayed { until },
            2 => Stage::Leased { until },
            3 => Stage::Dead,
            _ => return None,
        })
    }
}

/// A task as stored.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) id: u64,
    pub(crate) queue: String,
    pub(crate) data: Arc<RawValue>,
    pub(crate) stage: Stage,
    pub(crate) attempts: u32,
}

/// One write of the in-memory queues to the store.
#[derive(Debug)]
pub(crate) enum Change {
    Put { id: u64, queue: Arc<str>, data: Arc<RawValue>, stage: Stage, attempts: u32 },
    Stage { id: u64, stage: Stage, attempts: u32 },
    Delete { id: u64 },
}

/// How safe a write must be before it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Sync {
    /// Written with the next commit; nobody waits.
    Later,
    /// Committed to the log in the operating system's cache: survives the process being
    /// killed, not a power cut.
    Written,
    /// Committed and fsynced: survives a power cut.
    Disk,
}

/// Why the store failed.
#[derive(Clone, Debug)]
pub(crate) struct StoreError(Arc<str>);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError(error.to_string().into())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        StoreError(error.to_string().into())
    }
}

/// What waits for a write.
pub(crate) type Ack = oneshot::Receiver<Result<(), StoreError>>;

struct Batch {
    changes: Vec<Change>,
    next_id: u64,
    sync: Sync,
    done: Option<oneshot::Sender<Result<(), StoreError>>>,
}

/// The sending half of the writer thread.
pub(crate) struct Store {
    writer: mpsc::Sender<Batch>,
}

/// What the store held when it was opened.
pub(crate) struct Loaded {
    pub(crate) store: Store,
    pub(crate) tasks: Vec<Stored>,
    pub(crate) next_id: u64,
}

impl Store {
    /// Opens (or creates) the database in `dir` and starts its writer thread.
    pub(crate) fn open(dir: &Path) -> Result<Loaded, StoreError> {
        std::fs::create_dir_all(dir)?;
        let connection = Connection::open(dir.join("tqueue.sqlite3"))?;
        let (tasks, next_id) = load(&connection)?;
        let (writer, batches) = mpsc::channel();
        std::thread::Builder::new().name("tqueue-store".into()).spawn(move || write_all(connection, &batches))?;
        Ok(Loaded { store: Store { writer }, tasks, next_id })
    }

    /// Queues `changes` (and the next task id) for the writer; unless `sync` is
    /// [`Sync::Later`], the answer tells when they are that safe. Called in the order the
    /// changes were made.
    pub(crate) fn write(&self, changes: Vec<Change>, next_id: u64, sync: Sync) -> Option<Ack> {
        let (done, ack) = match sync {
            Sync::Later => (None, None),
            Sync::Written | Sync::Disk => {
                let (sender, receiver) = oneshot::channel();
                (Some(sender), Some(receiver))
            }
        };
        // If the writer stopped, the dropped sender tells whoever waits.
        let _ = self.writer.send(Batch { changes, next_id, sync, done });
        ack
    }
}

/// Creates or checks the schema, and reads every task.
fn load(connection: &Connection) -> Result<(Vec<Stored>, u64), StoreError> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    match version {
        0 => connection.execute_batch(
            "BEGIN;
             CREATE TABLE tasks (
                 id INTEGER PRIMARY KEY,
                 queue TEXT NOT NULL,
                 data TEXT NOT NULL,
                 stage INTEGER NOT NULL,
                 until INTEGER NOT NULL,
                 attempts INTEGER NOT NULL
             );
             CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             PRAGMA user_version = 1;
             COMMIT;",
        )?,
        VERSION => {}
        other => {
            return Err(StoreError(
                format!("the store has schema version {other}; this tqueue reads {VERSION}").into(),
            ));
        }
    }
    let mut tasks = Vec::new();
    let mut statement = connection.prepare("SELECT id, queue, data, stage, until, attempts FROM tasks ORDER BY id")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let bad = || StoreError(format!("task {id} is damaged").into());
        let data: String = row.get(2)?;
        tasks.push(Stored {
            id: u64::try_from(id).map_err(|_| bad())?,
            queue: row.get(1)?,
            data: RawValue::from_string(data).map_err(|_| bad())?.into(),
            stage: Stage::decode(row.get(3)?, row.get(4)?).ok_or_else(bad)?,
            attempts: row.get(5)?,
        });
    }
    let next_id: Option<i64> =
        connection.query_row("SELECT value FROM meta WHERE key = 'next_id'", [], |row| row.get(0)).optional()?;
    let next_id = next_id.and_then(|id| u64::try_from(id).ok()).unwrap_or(1);
    let next_id = next_id.max(tasks.last().map_or(1, |task| task.id + 1));
    Ok((tasks, next_id))
}

/// The writer thread: takes every batch queued, commits them in one transaction as safely
/// as the safest asks, then answers them all.
fn write_all(mut connection: Connection, batches: &mpsc::Receiver<Batch>) {
    let mut synchronous = None;
    while let Ok(first) = batches.recv() {
        let mut group = vec![first];
        let mut changes = group[0].changes.len();
        while changes < BATCH {
            let Ok(batch) = batches.try_recv() else { break };
            changes += batch.changes.len();
            group.push(batch);
        }
        let result = commit(&mut connection, &group, &mut synchronous);
        if let Err(error) = &result {
            tracing::error!(%error, "the store could not write");
        }
        for batch in group {
            if let Some(done) = batch.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

fn commit(connection: &mut Connection, group: &[Batch], synchronous: &mut Option<Sync>) -> Result<(), StoreError> {
    // FULL: the commit fsyncs the log; NORMAL: it only writes it.
    let sync = group.iter().map(|batch| batch.sync).max().unwrap_or(Sync::Later).max(Sync::Written);
    if *synchronous != Some(sync) {
        connection.pragma_update(None, "synchronous", if sync == Sync::Disk { "FULL" } else { "NORMAL" })?;
        *synchronous = Some(sync);
    }
    let txn = connection.transaction()?;
    {
        let mut put = txn.prepare_cached(
            "INSERT OR REPLACE INTO tasks (id, queue, data, stage, until, attempts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut stage = txn.prepare_cached("UPDATE tasks SET stage = ?2, until = ?3, attempts = ?4 WHERE id = ?1")?;
        let mut delete = txn.prepare_cached("DELETE FROM tasks WHERE id = ?1")?;
        for change in group.iter().flat_map(|batch| &batch.changes) {
            match change {
                Change::Put { id, queue, data, stage, attempts } => {
                    let (kind, until) = stage.encode();
                    put.execute(params![*id as i64, &**queue, data.get(), kind, until, attempts])?;
                }
                Change::Stage { id, stage: to, attempts } => {
                    let (kind, until) = to.encode();
                    stage.execute(params![*id as i64, kind, until, attempts])?;
                }
                Change::Delete { id } => {
                    delete.execute(params![*id as i64])?;
                }
            }
        }
        if let Some(next_id) = group.iter().map(|batch| batch.next_id).max() {
            txn.execute(
                "INSERT INTO meta (key, value) VALUES ('next_id', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
                params![next_id as i64],
            )?;
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_survive_encoding() {
        for stage in [Stage::Ready, Stage::Delayed { until: 7 }, Stage::Leased { until: 1 << 50 }, Stage::Dead] {
            let (kind, until) = stage.encode();
            assert_eq!(Stage::decode(kind, until), Some(stage));
        }
        assert_eq!(Stage::decode(9, 0), None);
    }
}
