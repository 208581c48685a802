//! The embedded store's disk: the tasks in SQLite (write-ahead log, one connection on a thread of
//! its own), with group commit. A request's changes join the pending ones; the request
//! lets the other ready requests of its thread add theirs; then, if no commit is under
//! way, it hands all that is pending to the store's thread as one transaction and waits
//! for it, while requests go on arriving and pile up for the next one. When the commit is
//! done, it wakes the requests that wait for it. Concurrent clients share each fsync, and
//! the store's thread wakes one request per commit, not one per write.
//!
//! Each transaction is as safe as the safest write in it asks ([`Sync`]): a put or a done
//! waits for the fsync; a lease waits only until its commit is in the log (the operating
//! system's cache), which survives the process being killed, at a few microseconds.
//!
//! A commit that fails (the disk is full, say) is rolled back whole: its writes are refused
//! to those who wait for them, and the store goes on taking writes; the queues in memory
//! read the tasks again ([`Sqlite::reload`]), so that they hold what the file holds.

use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::value::RawValue;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use tokio::sync::{Notify, oneshot};

/// The schema's version, in SQLite's `user_version`.
const VERSION: i64 = 4;

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
    pub(crate) priority: i32,
    pub(crate) error: Option<String>,
}

/// An `Idempotency-Key` as stored: the put that used it.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) fingerprint: i64,
    pub(crate) ids: Vec<u64>,
    /// When the put was made, in milliseconds since the Unix epoch.
    pub(crate) created: u64,
}

/// What the file holds: every task, every key kept, and the next task id.
#[derive(Debug)]
pub(crate) struct Contents {
    pub(crate) tasks: Vec<Stored>,
    pub(crate) keys: Vec<StoredKey>,
    /// The queues paused.
    pub(crate) paused: Vec<String>,
    pub(crate) next_id: u64,
}

/// One write of the in-memory queues to the store.
#[derive(Debug)]
pub(crate) enum Change {
    Put {
        id: u64,
        queue: Arc<str>,
        data: Arc<RawValue>,
        stage: Stage,
        attempts: u32,
        priority: i32,
    },
    Stage {
        id: u64,
        stage: Stage,
        attempts: u32,
    },
    Delete {
        id: u64,
    },
    /// A put's key, kept with its ids.
    Key(StoredKey),
    /// A key forgotten.
    Unkey {
        queue: Arc<str>,
        key: String,
    },
    /// A task's last error.
    Error {
        id: u64,
        error: Option<Arc<str>>,
    },
    /// A queue paused or resumed.
    Pause {
        queue: Arc<str>,
        paused: bool,
    },
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

/// A write to wait for: [`Sqlite::wait`].
#[derive(Clone, Copy, Debug)]
#[must_use]
pub(crate) struct Ticket(u64);

/// The changes not committed yet.
#[derive(Default)]
struct Pending {
    changes: Vec<Change>,
    /// The number of the last write, counted from the start (never reset).
    last: u64,
    sync: Option<Sync>,
    next_id: u64,
}

/// Work for the store's thread.
enum Job {
    /// A transaction, and who waits for it.
    Commit(Pending, oneshot::Sender<Result<(), StoreError>>),
    /// A copy of the database to a new file, with SQLite's online backup.
    Backup(std::path::PathBuf, oneshot::Sender<Result<(), StoreError>>),
    /// Every task as stored, and the next id.
    Load(mpsc::Sender<Result<Contents, StoreError>>),
}

/// The writes of failed commits, recent ones first: `(first, last, error)`.
#[derive(Default)]
struct Failed {
    ranges: std::collections::VecDeque<(u64, u64, StoreError)>,
    /// Failed commits so far.
    count: u64,
}

/// How many failed commits are remembered for the requests that wait on them.
const FAILED_KEPT: usize = 64;

/// The SQLite file: its thread, the pending changes, and who waits for them.
pub(crate) struct Sqlite {
    writer: mpsc::Sender<Job>,
    pending: Mutex<Pending>,
    /// Whether a commit is under way.
    committing: AtomicBool,
    /// The number of the last write committed.
    committed: AtomicU64,
    /// The number of the last write handed to the store's thread (or refused unsent).
    sent: AtomicU64,
    /// The writes refused.
    failed: Mutex<Failed>,
    /// Woken after every commit.
    done: Notify,
}

/// What the store held when it was opened.
pub(crate) struct Loaded {
    pub(crate) store: Sqlite,
    pub(crate) contents: Contents,
}

impl Sqlite {
    /// Opens (or creates) the database in `dir`, to grow to `max_bytes` at most (0: as
    /// the disk allows), and starts the store's thread.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> Result<Loaded, StoreError> {
        std::fs::create_dir_all(dir)?;
        let mut connection = Connection::open(dir.join("tqueue.sqlite3"))?;
        let contents = load(&connection)?;
        if max_bytes > 0 {
            let page: u64 = connection.pragma_query_value(None, "page_size", |row| row.get(0))?;
            let pages = i64::try_from((max_bytes / page.max(1)).max(1)).unwrap_or(i64::MAX);
            connection.pragma_update(None, "max_page_count", pages)?;
        }
        let (writer, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("tqueue-store".into()).spawn(move || {
            let mut writer = Writer { synchronous: None, reserved: contents.next_id };
            for job in jobs {
                match job {
                    Job::Commit(pending, done) => drop(done.send(writer.commit(&mut connection, &pending))),
                    Job::Load(done) => drop(done.send(read(&connection))),
                    Job::Backup(to, done) => drop(done.send(backup(&connection, &to))),
                }
            }
        })?;
        let store = Sqlite {
            writer,
            pending: Mutex::default(),
            committing: AtomicBool::new(false),
            committed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: Mutex::default(),
            done: Notify::new(),
        };
        Ok(Loaded { store, contents })
    }

    /// Adds `changes` (and the next task id) to the pending ones; [`Sqlite::wait`] for the
    /// ticket tells when they are as safe as `sync` asks. Called in the order the changes
    /// were made.
    pub(crate) fn write(&self, changes: Vec<Change>, next_id: u64, sync: Sync) -> Ticket {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.changes.extend(changes);
        pending.next_id = pending.next_id.max(next_id);
        if sync > Sync::Later {
            pending.sync = pending.sync.max(Some(sync));
        }
        pending.last += 1;
        Ticket(pending.last)
    }

    /// Waits until the write of `ticket` is committed.
    pub(crate) async fn wait(&self, ticket: Ticket) -> Result<(), StoreError> {
        // The other requests ready on this thread add their writes first.
        tokio::task::yield_now().await;
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            // Committed is read first: a write refused before a later commit is seen refused.
            let committed = self.committed.load(Ordering::Acquire);
            if let Some(error) = self.refused(ticket) {
                return Err(error);
            }
            if committed >= ticket.0 {
                return Ok(());
            }
            if self.committing.swap(true, Ordering::AcqRel) {
                // A commit is under way: the next one takes this write.
                done.await;
                continue;
            }
            self.commit_pending().await;
            self.committing.store(false, Ordering::Release);
            self.done.notify_waiters();
        }
    }

    /// The error that refused the write of `ticket`, if one did.
    fn refused(&self, ticket: Ticket) -> Option<StoreError> {
        let failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.ranges.iter().find(|(first, last, _)| (*first..=*last).contains(&ticket.0)).map(|(.., e)| e.clone())
    }

    /// Notes that the writes `first..=last` are refused with `error`.
    fn fail(&self, first: u64, last: u64, error: StoreError) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.ranges.push_front((first, last, error));
        failed.ranges.truncate(FAILED_KEPT);
        failed.count += 1;
    }

    /// Failed commits so far: when it changes, the queues in memory read the tasks again.
    pub(crate) fn failures(&self) -> u64 {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).count
    }

    /// Commits every pending change on the store's thread.
    async fn commit_pending(&self) {
        let (pending, first) = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let first = self.sent.swap(pending.last, Ordering::AcqRel) + 1;
            // The write numbers go on: only the changes are taken.
            let taken = Pending {
                changes: std::mem::take(&mut pending.changes),
                last: pending.last,
                sync: pending.sync.take(),
                next_id: pending.next_id,
            };
            (taken, first)
        };
        let last = pending.last;
        let (done, answer) = oneshot::channel();
        let stopped = || StoreError::Stopped;
        let result = match self.writer.send(Job::Commit(pending, done)) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(stopped())),
            Err(_) => Err(stopped()),
        };
        match result {
            Ok(()) => {
                self.committed.fetch_max(last, Ordering::AcqRel);
            }
            Err(error) => {
                tracing::error!(%error, "the store could not write: the writes of this commit are refused");
                self.fail(first, last, error);
            }
        }
    }

    /// Copies the database, as its last commit left it, to the new file `to` (SQLite's
    /// online backup, on the store's thread: commits wait for it).
    pub(crate) async fn backup(&self, to: std::path::PathBuf) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer.send(Job::Backup(to, done)).map_err(|_| StoreError::Stopped)?;
        answer.await.unwrap_or(Err(StoreError::Stopped))
    }

    /// Every task as the file holds it, and the next id, for queues in memory that must be
    /// what the file holds again. The changes not yet sent to the file are refused: the
    /// caller holds the queues' lock, so that none is made meanwhile, and reads the tasks
    /// after every commit under way.
    pub(crate) fn reload(&self, cause: &StoreError) -> Result<Contents, StoreError> {
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let first = self.sent.swap(pending.last, Ordering::AcqRel) + 1;
            pending.changes.clear();
            pending.sync = None;
            if first <= pending.last {
                self.fail(first, pending.last, cause.clone());
            }
        }
        let (done, answer) = mpsc::channel();
        self.writer.send(Job::Load(done)).map_err(|_| StoreError::Stopped)?;
        answer.recv().map_err(|_| StoreError::Stopped)?
    }
}

/// Creates or checks the schema, and reads every task.
fn load(connection: &Connection) -> Result<Contents, StoreError> {
    // One connection, this process's: no file locks per transaction, and a second process
    // on the same directory is refused.
    connection.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > VERSION {
        return Err(StoreError::Version { found: version, expected: VERSION });
    }
    if version < 1 {
        connection.execute_batch(
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
        )?;
    }
    if version < 2 {
        // Priorities (0 for the tasks of version 1), and the keys of idempotent puts.
        connection.execute_batch(
            "BEGIN;
             ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
             CREATE TABLE keys (
                 queue TEXT NOT NULL,
                 key TEXT NOT NULL,
                 fingerprint INTEGER NOT NULL,
                 ids TEXT NOT NULL,
                 created INTEGER NOT NULL,
                 PRIMARY KEY (queue, key)
             );
             PRAGMA user_version = 2;
             COMMIT;",
        )?;
    }
    if version < 3 {
        // Paused queues.
        connection.execute_batch(
            "BEGIN;
             CREATE TABLE paused (queue TEXT PRIMARY KEY);
             PRAGMA user_version = 3;
             COMMIT;",
        )?;
    }
    if version < 4 {
        // A task's last error.
        connection.execute_batch(
            "BEGIN;
             ALTER TABLE tasks ADD COLUMN error TEXT;
             PRAGMA user_version = 4;
             COMMIT;",
        )?;
    }
    read(connection)
}

/// Reads every task and key, and the next id.
fn read(connection: &Connection) -> Result<Contents, StoreError> {
    let mut tasks = Vec::new();
    let mut statement =
        connection.prepare("SELECT id, queue, data, stage, until, attempts, priority, error FROM tasks ORDER BY id")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let bad = || StoreError::Damaged { id };
        let data: String = row.get(2)?;
        tasks.push(Stored {
            id: u64::try_from(id).map_err(|_| bad())?,
            queue: row.get(1)?,
            data: RawValue::from_string(data).map_err(|_| bad())?.into(),
            stage: Stage::decode(row.get(3)?, row.get(4)?).ok_or_else(bad)?,
            attempts: row.get(5)?,
            priority: row.get(6)?,
            error: row.get(7)?,
        });
    }
    let mut keys = Vec::new();
    let mut statement =
        connection.prepare("SELECT queue, key, fingerprint, ids, created FROM keys ORDER BY created")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let ids: String = row.get(3)?;
        let created: i64 = row.get(4)?;
        keys.push(StoredKey {
            queue: row.get(0)?,
            key: row.get(1)?,
            fingerprint: row.get(2)?,
            // Written by `Writer::commit` below: ids joined by commas.
            ids: ids.split(',').filter_map(|id| id.parse().ok()).collect(),
            created: u64::try_from(created).unwrap_or(0),
        });
    }
    let mut statement = connection.prepare("SELECT queue FROM paused")?;
    let paused = statement.query_map([], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?;
    let next_id: Option<i64> =
        connection.query_row("SELECT value FROM meta WHERE key = 'next_id'", [], |row| row.get(0)).optional()?;
    let next_id = next_id.and_then(|id| u64::try_from(id).ok()).unwrap_or(1);
    let next_id = next_id.max(tasks.last().map_or(1, |task| task.id + 1));
    Ok(Contents { tasks, keys, paused, next_id })
}

/// Copies `connection`'s database to the new file `to`, whole, in steps of 1,024 pages.
fn backup(connection: &Connection, to: &Path) -> Result<(), StoreError> {
    let mut copy = Connection::open_with_flags(
        to,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    let backup = rusqlite::backup::Backup::new(connection, &mut copy)?;
    backup.run_to_completion(1024, std::time::Duration::ZERO, None)?;
    Ok(())
}

/// Task ids are reserved in blocks of this many, so that a commit seldom writes `next_id`:
/// after a restart, ids go on after the last block (never one handed out before).
const ID_BLOCK: u64 = 4096;

/// The store's thread.
struct Writer {
    /// The `synchronous` setting of the connection: FULL (true) or NORMAL.
    synchronous: Option<bool>,
    /// The first id of the next block, as stored.
    reserved: u64,
}

impl Writer {
    fn commit(&mut self, connection: &mut Connection, pending: &Pending) -> Result<(), StoreError> {
        // FULL: the commit fsyncs the log; NORMAL: it only writes it.
        let full = pending.sync == Some(Sync::Disk);
        if self.synchronous != Some(full) {
            connection.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })?;
            self.synchronous = Some(full);
        }
        let txn = connection.transaction()?;
        {
            let mut put = txn.prepare_cached(
                "INSERT OR REPLACE INTO tasks (id, queue, data, stage, until, attempts, priority) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut stage =
                txn.prepare_cached("UPDATE tasks SET stage = ?2, until = ?3, attempts = ?4 WHERE id = ?1")?;
            let mut delete = txn.prepare_cached("DELETE FROM tasks WHERE id = ?1")?;
            let mut key = txn.prepare_cached(
                "INSERT OR REPLACE INTO keys (queue, key, fingerprint, ids, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut unkey = txn.prepare_cached("DELETE FROM keys WHERE queue = ?1 AND key = ?2")?;
            let mut pause = txn.prepare_cached("INSERT OR IGNORE INTO paused (queue) VALUES (?1)")?;
            let mut resume = txn.prepare_cached("DELETE FROM paused WHERE queue = ?1")?;
            let mut error = txn.prepare_cached("UPDATE tasks SET error = ?2 WHERE id = ?1")?;
            for change in &pending.changes {
                match change {
                    Change::Put { id, queue, data, stage, attempts, priority } => {
                        let (kind, until) = stage.encode();
                        put.execute(params![*id as i64, &**queue, data.get(), kind, until, attempts, priority])?;
                    }
                    Change::Stage { id, stage: to, attempts } => {
                        let (kind, until) = to.encode();
                        stage.execute(params![*id as i64, kind, until, attempts])?;
                    }
                    Change::Delete { id } => {
                        delete.execute(params![*id as i64])?;
                    }
                    Change::Key(kept) => {
                        let ids: Vec<String> = kept.ids.iter().map(u64::to_string).collect();
                        let created = i64::try_from(kept.created).unwrap_or(i64::MAX);
                        key.execute(params![kept.queue, kept.key, kept.fingerprint, ids.join(","), created])?;
                    }
                    Change::Unkey { queue, key } => {
                        unkey.execute(params![&**queue, key])?;
                    }
                    Change::Pause { queue, paused: true } => {
                        pause.execute(params![&**queue])?;
                    }
                    Change::Pause { queue, paused: false } => {
                        resume.execute(params![&**queue])?;
                    }
                    Change::Error { id, error: last } => {
                        error.execute(params![*id as i64, last.as_deref()])?;
                    }
                }
            }
        }
        let reserved = (pending.next_id > self.reserved).then(|| pending.next_id + ID_BLOCK);
        if let Some(reserved) = reserved {
            txn.execute(
                "INSERT INTO meta (key, value) VALUES ('next_id', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
                params![reserved as i64],
            )?;
        }
        txn.commit()?;
        if let Some(reserved) = reserved {
            self.reserved = reserved;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_of_version_1_opens_with_its_tasks_at_priority_0_and_no_queue_paused() {
        let dir = std::env::temp_dir().join(format!("tqueue-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let old = Connection::open(dir.join("tqueue.sqlite3")).unwrap();
            old.execute_batch(
                "CREATE TABLE tasks (id INTEGER PRIMARY KEY, queue TEXT NOT NULL, data TEXT NOT NULL,
                                     stage INTEGER NOT NULL, until INTEGER NOT NULL, attempts INTEGER NOT NULL);
                 CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                 INSERT INTO tasks VALUES (7, 'q', '\"old\"', 0, 0, 1);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let loaded = Sqlite::open(&dir, 0).unwrap();
        let task = &loaded.contents.tasks[0];
        assert_eq!((task.id, task.data.get(), task.attempts, task.priority), (7, "\"old\"", 1, 0));
        assert!(loaded.contents.keys.is_empty() && loaded.contents.paused.is_empty());
        assert_eq!(loaded.contents.next_id, 8);
        drop(loaded);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stages_survive_encoding() {
        for stage in [Stage::Ready, Stage::Delayed { until: 7 }, Stage::Leased { until: 1 << 50 }, Stage::Dead] {
            let (kind, until) = stage.encode();
            assert_eq!(Stage::decode(kind, until), Some(stage));
        }
        assert_eq!(Stage::decode(9, 0), None);
    }
}
