//! The benchmark floor: W1–W5 answered by axum + rusqlite with nothing else. Same URLs as
//! Basalt's (`/parse/...`) so the suite's wrk scripts run against it unchanged; the 10k rows are
//! seeded here at start. Usage: `basalt-bench-floor PORT DATA_DIR`.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

struct Db {
    writer: Mutex<Connection>,
    path: std::path::PathBuf,
}

thread_local! {
    /// Each async worker thread reads through its own connection: no lock, no hand-off.
    static READER: std::cell::RefCell<Option<Connection>> = const { std::cell::RefCell::new(None) };
}

impl Db {
    fn read<T>(&self, work: impl FnOnce(&Connection) -> T) -> T {
        READER.with_borrow_mut(|reader| work(reader.get_or_insert_with(|| open(&self.path))))
    }
}

fn open(path: &std::path::Path) -> Connection {
    let connection = Connection::open(path).expect("open");
    connection.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;").expect("pragmas");
    connection
}

fn id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:010}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn now() -> String {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

async fn create(State(db): State<Arc<Db>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let object_id = id();
    let created = now();
    let writer = db.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    writer
        .execute(
            "INSERT INTO Bench (objectId, createdAt, score, title) VALUES (?1, ?2, ?3, ?4)",
            params![object_id, created, body["score"].as_f64(), body["title"].as_str()],
        )
        .expect("insert");
    (StatusCode::CREATED, Json(json!({"objectId": object_id, "createdAt": created})))
}

async fn get_one(State(db): State<Arc<Db>>, Path(object_id): Path<String>) -> Result<Json<Value>, StatusCode> {
    db.read(|reader| get_row(reader, object_id)).map(Json).ok_or(StatusCode::NOT_FOUND)
}

fn row_json(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({"objectId": row.get::<_, String>(0)?, "createdAt": row.get::<_, String>(1)?,
              "score": row.get::<_, f64>(2)?, "title": row.get::<_, String>(3)?}))
}

fn get_row(reader: &Connection, object_id: String) -> Option<Value> {
    let mut statement =
        reader.prepare_cached("SELECT objectId, createdAt, score, title FROM Bench WHERE objectId = ?1").expect("prepare");
    statement.query_row([object_id], row_json).optional().expect("query")
}

async fn find(State(db): State<Arc<Db>>) -> Json<Value> {
    Json(json!({ "results": db.read(find_rows) }))
}

fn find_rows(reader: &Connection) -> Vec<Value> {
    let mut statement = reader
        .prepare_cached("SELECT objectId, createdAt, score, title FROM Bench WHERE score > 5000 ORDER BY score DESC LIMIT 50")
        .expect("prepare");
    statement.query_map([], row_json).expect("query").collect::<Result<_, _>>().expect("rows")
}

async fn constant() -> Json<Value> {
    Json(json!({"result": "ok"}))
}

async fn index(State(db): State<Arc<Db>>) -> Json<Value> {
    let writer = db.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    writer.execute_batch("CREATE INDEX IF NOT EXISTS bench_score ON Bench (score)").expect("index");
    Json(json!({}))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|port| port.parse().ok()).expect("usage: basalt-bench-floor PORT DATA_DIR");
    let dir = std::path::PathBuf::from(args.next().expect("usage: basalt-bench-floor PORT DATA_DIR"));
    std::fs::create_dir_all(&dir).expect("data dir");
    let path = dir.join("floor.sqlite3");
    let writer = open(&path);
    writer
        .execute_batch("CREATE TABLE IF NOT EXISTS Bench (objectId TEXT PRIMARY KEY NOT NULL, createdAt TEXT NOT NULL, score REAL, title TEXT)")
        .expect("table");
    let mut ids = Vec::new();
    {
        let transaction = writer.unchecked_transaction().expect("begin");
        for i in 0..10_000u64 {
            let object_id = id();
            transaction
                .execute("INSERT INTO Bench VALUES (?1, ?2, ?3, ?4)", params![object_id, now(), ((i * 7919) % 10_000) as f64, format!("item {i}")])
                .expect("seed");
            ids.push(object_id);
        }
        transaction.commit().expect("commit");
    }
    std::fs::write(dir.join("ids"), ids.join("\n")).expect("ids");
    let db = Arc::new(Db { writer: Mutex::new(writer), path });
    let app = Router::new()
        .route("/parse/classes/Bench", post(create).get(find))
        .route("/parse/classes/Bench/{id}", get(get_one))
        .route("/parse/functions/constant", post(constant))
        .route("/parse/index", post(index))
        .route("/health", get(|| async { "ok" }))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
