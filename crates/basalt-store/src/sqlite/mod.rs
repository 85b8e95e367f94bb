//! The embedded SQLite adapter.
//!
//! Threads: one writer thread owns the only write connection and runs jobs from a channel. It
//! commits several queued jobs in one transaction (group commit), each job inside its own
//! savepoint so one failure never undoes another, and answers every job only after COMMIT
//! returned: an acknowledged write is in the WAL. A checkpoint thread copies the WAL into the
//! database file off the commit path (see `CHECKPOINT_BACKGROUND_FRAMES`). Reads run on the
//! calling thread's own read-only connection (finds within a budget, see `INLINE_BUDGET`), and on
//! a small pool of read-only connections through `spawn_blocking` for counts and finds that
//! outgrow the budget; WAL lets them proceed while the writer writes.
//!
//! Durability: WAL with `synchronous=NORMAL` survives a crash of the process (the WAL is written
//! before COMMIT returns); surviving power loss needs `synchronous=FULL` (`Durability::Full`).

mod codec;
mod error;
mod functions;
mod read;
mod schema;
mod tasks;
mod users;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use basalt_core::{ClassName, ClassSchema, FieldName, FieldType};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::{FindQuery, ObjectRecord, SchemaChange, Schemas, Store, UserSecrets, WriteOp, WriteOutcome};

/// What a power cut may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives a process crash; a power cut may lose the last commits.
    Process,
    /// `synchronous=FULL`: every commit is fsynced.
    Full,
}

/// Options of the SQLite adapter.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub durability: Durability,
    /// Read connections; reads beyond this wait for one.
    pub readers_max: usize,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> SqliteOptions {
        SqliteOptions { path: path.into(), durability: Durability::Process, readers_max: 4 }
    }
}

/// Most jobs committed in one transaction; bounds the latency one group adds.
const GROUP_COMMIT_JOBS_MAX: usize = 128;
/// How long a connection waits on a lock before failing with "busy" (see the limit's reason).
const BUSY_TIMEOUT: Duration = Duration::from_millis(basalt_core::Limits::LOCK_WAIT_MS_MAX);
/// Prepared statements kept per connection.
const STATEMENT_CACHE_CAPACITY: usize = 256;

type Reply = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// A write for the writer thread: it runs the work on the connection inside the group's
/// transaction, or, given no connection (the transaction could not begin), only hands back the
/// reply, so nothing is written outside a transaction.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Reply) + Send>;

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_permits: Semaphore,
    path: PathBuf,
    /// Alive as long as the store: lets a thread's inline reader know its store is gone.
    alive: Arc<()>,
}

/// A thread's own read connection to one store, for point lookups and finds within a budget,
/// with the gets compiled for it.
struct InlineReader {
    /// The store's liveness token (`SqliteStore::alive`).
    store: std::sync::Weak<()>,
    connection: Connection,
    gets: read::CompiledGets,
    /// Thousands of VM instructions the running find may still take (`UNBUDGETED`: no limit).
    budget: Arc<AtomicU32>,
}

/// SQLite VM instructions between two looks at an inline find's budget.
const PROGRESS_OPS: i32 = 1000;
/// What a find may take on the async worker's thread, in thousands of VM instructions: ~4 ms
/// (`score > X order by -score limit 50` over 10,000 rows without an index takes 82).
const INLINE_BUDGET: u32 = 250;
const UNBUDGETED: u32 = u32::MAX;

fn open_inline_reader(path: &Path, store: std::sync::Weak<()>) -> StoreResult<InlineReader> {
    let connection = open_reader(path)?;
    let budget = Arc::new(AtomicU32::new(UNBUDGETED));
    let left = Arc::clone(&budget);
    connection.progress_handler(
        PROGRESS_OPS,
        Some(move || match left.load(Ordering::Relaxed) {
            UNBUDGETED => false,
            0 => true,
            more => {
                left.store(more - 1, Ordering::Relaxed);
                false
            }
        }),
    );
    Ok(InlineReader { store, connection, gets: read::CompiledGets::default(), budget })
}

thread_local! {
    /// This thread's read connections, one per live store.
    static INLINE_READERS: std::cell::RefCell<Vec<InlineReader>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // Plans must not depend on bound values: the bundled SQLite has STAT4, under which a cached
    // statement comparing an indexed column (objectId!) to a parameter is re-prepared whenever
    // the value changes — a quarter of a get-by-id's CPU went to re-parsing its own SQL.
    connection.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    functions::register(connection)?;
    Ok(())
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&connection)?;
    Ok(connection)
}

impl SqliteStore {
    /// Opens (creating if needed) the database and starts the writer thread.
    ///
    /// # Errors
    /// When the file cannot be opened or is not a database.
    pub fn open(options: SqliteOptions) -> StoreResult<SqliteStore> {
        let connection = Connection::open(&options.path)?;
        configure(&connection)?;
        let synchronous = match options.durability {
            Durability::Process => "NORMAL",
            Durability::Full => "FULL",
        };
        // WAL: readers never wait for the writer. `synchronous` per `Durability`.
        connection.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA foreign_keys=OFF;"
        ))?;
        schema::create_schema_table(&connection)?;
        tasks::create_table(&connection)?;
        users::index_existing_installations(&connection)?;
        // Checkpoints mostly off the commit path (see `Checkpoints`); the hook replaces SQLite's
        // automatic checkpoint, which ran inside COMMIT.
        connection.wal_hook(Some(record_wal_frames));
        let checkpointer = Connection::open(&options.path)?;
        checkpointer.busy_timeout(BUSY_TIMEOUT)?;
        checkpointer.execute_batch(&format!("PRAGMA synchronous={synchronous};"))?;
        let (wake, wanted) = mpsc::sync_channel::<()>(1);
        let checkpoints = Checkpoints { wake, running: Arc::new(Mutex::new(())) };
        let running = Arc::clone(&checkpoints.running);
        std::thread::Builder::new()
            .name("basalt-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpointer, &wanted, &running))
            .map_err(|error| StoreError::driver(StoreErrorKind::Other, error.to_string()))?;
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("basalt-sqlite-writer".into())
            .spawn(move || writer_loop(&connection, &receiver, &checkpoints))
            .map_err(|error| StoreError::driver(StoreErrorKind::Other, error.to_string()))?;
        Ok(SqliteStore {
            writer: sender,
            readers: Arc::new(Mutex::new(Vec::new())),
            reader_permits: Semaphore::new(options.readers_max.max(1)),
            path: options.path,
            alive: Arc::new(()),
        })
    }

    /// Runs `work` on the writer thread inside the current group transaction.
    async fn on_writer<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (sender, receiver) = oneshot::channel::<StoreResult<R>>();
        let job: Job = Box::new(move |connection| {
            let result = match connection {
                Some(connection) => work(connection),
                // The reply carries the group's error; this one is never seen.
                None => Err(StoreError::driver(StoreErrorKind::Unavailable, "the write did not run")),
            };
            let succeeded = result.is_ok();
            let reply: Reply = Box::new(move |committed: StoreResult<()>| {
                let _ = sender.send(committed.and(result));
            });
            (succeeded, reply)
        });
        self.writer
            .send(job)
            .map_err(|_| StoreError::driver(StoreErrorKind::Unavailable, "the writer thread has stopped"))?;
        receiver
            .await
            .map_err(|_| StoreError::driver(StoreErrorKind::Other, "the write failed inside the writer thread"))?
    }

    /// Runs a short read (a point lookup) on this thread's own read connection, with no hand-off
    /// to another thread: for microseconds of work the hand-off (a wake-up on each side) cost
    /// more than the read.
    fn on_thread_reader<R>(&self, work: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        self.on_inline_reader(|reader| work(&reader.connection))
    }

    fn on_inline_reader<R>(&self, work: impl FnOnce(&mut InlineReader) -> StoreResult<R>) -> StoreResult<R> {
        INLINE_READERS.with_borrow_mut(|readers| {
            readers.retain(|reader| reader.store.strong_count() > 0);
            let mine = readers.iter().position(|reader| std::ptr::eq(reader.store.as_ptr(), Arc::as_ptr(&self.alive)));
            let index = match mine {
                Some(index) => index,
                None => {
                    readers.push(open_inline_reader(&self.path, Arc::downgrade(&self.alive))?);
                    readers.len() - 1
                }
            };
            work(&mut readers[index])
        })
    }

    /// Runs `work` on a read connection on a blocking thread.
    async fn on_reader<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let _permit = self
            .reader_permits
            .acquire()
            .await
            .map_err(|_| StoreError::driver(StoreErrorKind::Unavailable, "the reader pool is closed"))?;
        let idle =
            self.readers.lock().map_err(|_| StoreError::driver(StoreErrorKind::Other, "reader pool poisoned"))?.pop();
        let connection = match idle {
            Some(connection) => connection,
            None => open_reader(&self.path)?,
        };
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let result = work(&connection);
            if let Ok(mut idle) = readers.lock() {
                idle.push(connection);
            }
            result
        })
        .await
        .map_err(|error| StoreError::driver(StoreErrorKind::Other, format!("read task failed: {error}")))?
    }
}

// Checkpoints: a checkpoint copies the WAL's pages into the database file and syncs it, after
// which the next write transaction starts the WAL over. SQLite's automatic checkpoint does this
// inside COMMIT on the writer thread, so the writes queued behind it wait for the whole copy
// (creates' p99 was ~150 ms). Instead, past `CHECKPOINT_BACKGROUND_FRAMES` the writer wakes a
// checkpoint thread with a connection of its own, which copies while the writer goes on
// (PASSIVE: it never blocks the writer or readers). A WAL that is never copied completely never
// starts over, so past `CHECKPOINT_WRITER_FRAMES` the writer checkpoints too, between two
// groups (waiting for a background pass in progress, since SQLite runs one checkpoint at a time):
// by then the background thread has copied nearly everything, so this is short, and the WAL
// stays bounded under any write rate. Durability does not depend on checkpoints: a commit is
// in the WAL when it is acknowledged.

/// WAL size (pages) past which the checkpoint thread is woken.
const CHECKPOINT_BACKGROUND_FRAMES: i32 = 1000;
/// WAL size (pages, ~4 KiB each) past which the writer finishes the checkpoint itself.
const CHECKPOINT_WRITER_FRAMES: i32 = 8000;

thread_local! {
    /// The WAL's size in pages after the writer thread's last commit (set by `record_wal_frames`).
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// The writer connection's WAL hook: SQLite calls it on the committing (writer) thread.
fn record_wal_frames(_wal: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|size| size.set(frames));
    Ok(())
}

fn checkpoint(connection: &Connection) -> rusqlite::Result<()> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// The writer's side of the checkpoint thread.
struct Checkpoints {
    /// Wakes the checkpoint thread (a full channel means a wake-up is already pending).
    wake: mpsc::SyncSender<()>,
    /// Held while a checkpoint runs.
    running: Arc<Mutex<()>>,
}

fn checkpoint_locked(connection: &Connection, running: &Mutex<()>) -> rusqlite::Result<()> {
    let _running = running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    checkpoint(connection)
}

fn checkpoint_loop(connection: &Connection, wanted: &mpsc::Receiver<()>, running: &Mutex<()>) {
    // Ends when the writer thread (the only sender) has ended.
    while wanted.recv().is_ok() {
        if let Err(error) = checkpoint_locked(connection, running) {
            tracing::debug!(%error, "background checkpoint");
        }
    }
}

fn writer_loop(connection: &Connection, receiver: &mpsc::Receiver<Job>, checkpoints: &Checkpoints) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_COMMIT_JOBS_MAX {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        run_group(connection, jobs);
        let frames = WAL_FRAMES.with(std::cell::Cell::take);
        if frames >= CHECKPOINT_WRITER_FRAMES {
            if let Err(error) = checkpoint_locked(connection, &checkpoints.running) {
                tracing::debug!(%error, "writer checkpoint");
            }
        } else if frames >= CHECKPOINT_BACKGROUND_FRAMES {
            let _ = checkpoints.wake.try_send(());
        }
    }
}

/// Runs a transaction-control statement (`BEGIN`, `SAVEPOINT`, `COMMIT`…) prepared once per
/// connection: through `execute_batch` SQLite parsed each again on every write.
fn control(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_group(connection: &Connection, jobs: Vec<Job>) {
    if let Err(error) = control(connection, "BEGIN IMMEDIATE") {
        tracing::warn!(%error, "could not begin a write transaction");
        let (kind, message) = match StoreError::from(error) {
            StoreError::Driver { kind, message } => (kind, message),
            StoreError::Parse(error) => (StoreErrorKind::Other, error.message),
        };
        for job in jobs {
            let (_, reply) = job(None);
            reply(Err(StoreError::driver(kind, message.clone())));
        }
        return;
    }
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        if control(connection, "SAVEPOINT job").is_err() {
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Some(connection))));
        match outcome {
            Ok((true, reply)) => {
                let _ = control(connection, "RELEASE job");
                replies.push(reply);
            }
            Ok((false, reply)) => {
                let _ = control(connection, "ROLLBACK TO job").and_then(|()| control(connection, "RELEASE job"));
                replies.push(reply);
            }
            Err(_) => {
                tracing::error!("a write job panicked; its changes were rolled back");
                let _ = control(connection, "ROLLBACK TO job").and_then(|()| control(connection, "RELEASE job"));
            }
        }
    }
    match control(connection, "COMMIT") {
        Ok(()) => replies.into_iter().for_each(|reply| reply(Ok(()))),
        Err(error) => {
            tracing::error!(%error, "commit failed; the group was rolled back");
            let _ = control(connection, "ROLLBACK");
            for reply in replies {
                reply(Err(StoreError::driver(StoreErrorKind::Other, format!("commit failed: {error}"))));
            }
        }
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn load_schemas(&self) -> StoreResult<Vec<ClassSchema>> {
        self.on_writer(schema::load_all).await
    }

    async fn create_class(&self, mut new_schema: ClassSchema) -> StoreResult<ClassSchema> {
        self.on_writer(move |connection| {
            schema::create_class(connection, &mut new_schema)?;
            Ok(new_schema)
        })
        .await
    }

    async fn ensure_fields(
        &self,
        class_name: &ClassName,
        fields: Vec<(FieldName, FieldType)>,
        create_class: bool,
    ) -> StoreResult<ClassSchema> {
        let class_name = class_name.clone();
        self.on_writer(move |connection| schema::ensure_fields(connection, &class_name, &fields, create_class)).await
    }

    async fn update_class(&self, class_name: &ClassName, change: SchemaChange) -> StoreResult<ClassSchema> {
        let class_name = class_name.clone();
        self.on_writer(move |connection| schema::update_class(connection, &class_name, &change)).await
    }

    async fn delete_class(&self, class_name: &ClassName) -> StoreResult<()> {
        let class_name = class_name.clone();
        self.on_writer(move |connection| schema::delete_class(connection, &class_name)).await
    }

    async fn purge_class(&self, class_name: &ClassName) -> StoreResult<()> {
        let class_name = class_name.clone();
        self.on_writer(move |connection| schema::purge_class(connection, &class_name)).await
    }

    async fn write(
        &self,
        schemas: Arc<Schemas>,
        ops: Vec<WriteOp>,
        atomic: bool,
    ) -> StoreResult<Vec<StoreResult<WriteOutcome>>> {
        self.on_writer(move |connection| {
            let mut outcomes = Vec::with_capacity(ops.len());
            for op in &ops {
                if atomic {
                    outcomes.push(Ok(write::apply(connection, &schemas, op)?));
                    continue;
                }
                control(connection, "SAVEPOINT op")?;
                let outcome = write::apply(connection, &schemas, op);
                if outcome.is_ok() {
                    control(connection, "RELEASE op")?;
                } else {
                    control(connection, "ROLLBACK TO op")?;
                    control(connection, "RELEASE op")?;
                }
                outcomes.push(outcome);
            }
            Ok(outcomes)
        })
        .await
    }

    async fn find(&self, schemas: Arc<Schemas>, query: &FindQuery) -> StoreResult<Vec<ObjectRecord>> {
        if let Some(object_id) = read::whole_object_by_id(query) {
            return self.on_inline_reader(|reader| {
                read::get_by_id(&reader.connection, &mut reader.gets, &schemas, query, object_id)
            });
        }
        // Any other find starts on this thread too, within a budget of SQLite VM instructions
        // (a few milliseconds): most finds end within it and skip two thread hand-offs; one that
        // does not is interrupted and runs again on the reader pool, off the async worker.
        let within_budget = self.on_inline_reader(|reader| {
            reader.budget.store(INLINE_BUDGET, Ordering::Relaxed);
            let found = read::find(&reader.connection, &schemas, query);
            let exhausted = reader.budget.swap(UNBUDGETED, Ordering::Relaxed) == 0;
            Ok(if exhausted { None } else { Some(found) })
        })?;
        if let Some(found) = within_budget {
            return found;
        }
        let query = query.clone();
        self.on_reader(move |connection| read::find(connection, &schemas, &query)).await
    }

    async fn count(&self, schemas: Arc<Schemas>, query: FindQuery) -> StoreResult<u64> {
        self.on_reader(move |connection| read::count(connection, &schemas, &query)).await
    }

    async fn user_secrets(&self, user_id: &str) -> StoreResult<Option<UserSecrets>> {
        let user_id = user_id.to_owned();
        self.on_reader(move |connection| users::secrets(connection, &user_id)).await
    }

    async fn user_for_token(&self, kind: crate::TokenKind, token: &str, now: i64) -> StoreResult<Option<String>> {
        // An indexed lookup on every authenticated request.
        self.on_thread_reader(|connection| users::user_for_token(connection, kind, token, now))
    }

    async fn role_names(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let user_id = user_id.to_owned();
        self.on_reader(move |connection| users::role_names(connection, &user_id)).await
    }

    async fn dump_relation(
        &self,
        class_name: &ClassName,
        field: &FieldName,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>> {
        let table = crate::sql::quote(&crate::sql::join_table(field.as_str(), class_name.as_str()));
        let limit = crate::sql::compiler::to_i64(limit);
        self.on_reader(move |connection| {
            let (owning, related) = after.unwrap_or_default();
            let mut statement = connection.prepare_cached(&format!(
                "SELECT \"owningId\", \"relatedId\" FROM {table} WHERE (\"owningId\", \"relatedId\") > (?1, ?2) ORDER BY \"owningId\", \"relatedId\" LIMIT ?3"
            ))?;
            let rows = statement.query_map(rusqlite::params![owning, related, limit], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn add_task(&self, task: &crate::Task) -> StoreResult<()> {
        let task = task.clone();
        self.on_writer(move |connection| tasks::add(connection, &task)).await
    }

    async fn claim_task(&self, now: i64, owner: &str, lease_until: i64) -> StoreResult<Option<crate::Task>> {
        let owner = owner.to_owned();
        self.on_writer(move |connection| tasks::claim(connection, now, &owner, lease_until)).await
    }

    async fn save_task(&self, task: &crate::Task, owner: &str, lease_until: i64) -> StoreResult<bool> {
        let (task, owner) = (task.clone(), owner.to_owned());
        self.on_writer(move |connection| tasks::save(connection, &task, &owner, lease_until)).await
    }

    async fn finish_task(&self, id: &str, owner: &str) -> StoreResult<bool> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.on_writer(move |connection| tasks::finish(connection, &id, &owner)).await
    }

    async fn next_task_due(&self) -> StoreResult<Option<i64>> {
        self.on_reader(tasks::next_due).await
    }

    async fn schema_version(&self, class_name: &ClassName) -> StoreResult<Option<u64>> {
        self.on_thread_reader(|connection| Ok(schema::load_one(connection, class_name)?.map(|schema| schema.version)))
    }
}
