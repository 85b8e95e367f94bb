//! A real Basalt server for tests: temporary data directory, port 0, real HTTP. Every test owns
//! its server; they run in parallel.
//!
//! The store is SQLite in the data directory, or, when `BASALT_TEST_DATABASE_URI` names a
//! PostgreSQL server (`postgres://user@host:port`, no database), a fresh database on that server
//! that is dropped with the test server: the same tests run against either adapter.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use basalt_engine::EngineConfig;
use basalt_server::ServerConfig;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};

pub const APP_ID: &str = "test-app";
pub const MASTER_KEY: &str = "test-master";

/// Options a test may change.
#[derive(Clone, Debug, Default)]
pub struct TestOptions {
    pub allow_client_class_creation: bool,
    pub javascript_key: Option<String>,
    pub limits: Option<basalt_core::Limits>,
    pub auth: Option<basalt_engine::AuthConfig>,
    /// A clock the test moves; the system clock when absent.
    pub clock: Option<Arc<basalt_engine::ManualClock>>,
    pub email: Option<basalt_engine::EmailConfig>,
    /// Addresses the master key is accepted from (loopback when absent).
    pub master_key_ips: Option<Vec<std::net::IpAddr>>,
    /// `X-Parse-Webhook-Key` for webhook calls.
    pub webhook_key: Option<String>,
    /// Push providers (a fake that records, say).
    pub push: Option<Arc<dyn basalt_push::PushSender>>,
    /// The database to use (one the test keeps across servers, or shares between them) instead
    /// of a new one.
    pub database: Option<basalt::Database>,
}

/// A running server; stops when dropped.
pub struct TestServer {
    pub address: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
    /// Dropped after the server is told to stop (fields drop in order).
    _database: Option<TestDatabase>,
}

/// The PostgreSQL server tests that need one use: `BASALT_TEST_POSTGRES`, or the local one
/// (`run-tests` starts it when it is down).
pub fn postgres_server() -> String {
    std::env::var("BASALT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A PostgreSQL database for one test: a name no other test or run uses (Basalt creates the
/// database on first connect); dropped, with its connections, when this is — also when the test
/// fails.
pub struct TestDatabase {
    server_uri: String,
    name: String,
}

impl TestDatabase {
    /// A database named for `purpose` on the server at `server_uri` (`postgres://user@host:port`).
    pub fn new(server_uri: &str, purpose: &str) -> TestDatabase {
        static DATABASES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
        let sequence = DATABASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // `BASALT_TEST_DATABASE_PREFIX` (set by run-tests) names this run's databases, so a run
        // cleans up only its own.
        let prefix = std::env::var("BASALT_TEST_DATABASE_PREFIX").unwrap_or_else(|_| "basalt_test_".into());
        let name = format!("{prefix}{purpose}_{}_{nanos}_{sequence}", std::process::id());
        TestDatabase { server_uri: server_uri.trim_end_matches('/').to_owned(), name }
    }

    /// `postgres://…/<name>`.
    pub fn uri(&self) -> String {
        format!("{}/{}", self.server_uri, self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let uri = format!("{}/postgres", self.server_uri);
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // A thread of its own: the test's runtime may be the one dropping us.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&uri, tokio_postgres::NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&statement).await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// The database a test server uses (see the crate's documentation), and the PostgreSQL database
/// to drop with it.
pub fn test_database(data_dir: &std::path::Path) -> (basalt::Database, Option<TestDatabase>) {
    match std::env::var("BASALT_TEST_DATABASE_URI") {
        Ok(server_uri) if !server_uri.is_empty() => {
            let database = TestDatabase::new(&server_uri, "server");
            (basalt::Database::Postgres { uri: database.uri() }, Some(database))
        }
        _ => (
            basalt::Database::Sqlite {
                path: data_dir.join("basalt.sqlite3"),
                durability: basalt_store::sqlite::Durability::Process,
            },
            None,
        ),
    }
}

/// The store a test server uses (see `test_database`), and the database to drop with it.
///
/// # Panics
/// When the store cannot be opened (a test failure).
pub async fn open_test_store(data_dir: &std::path::Path) -> (Arc<dyn basalt_store::Store>, Option<TestDatabase>) {
    let (database, test_database) = test_database(data_dir);
    let store = database.open(basalt::Existing::Created).await.expect("open the store").store;
    (store, test_database)
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(TestOptions::default()).await
    }

    /// # Panics
    /// When the server cannot start (a test failure).
    pub async fn start_with(options: TestOptions) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let (database, test_database) = match options.database.clone() {
            Some(database) => (database, None),
            None => test_database(data_dir.path()),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let base_url = format!("http://{address}/parse");
        let engine = EngineConfig {
            allow_client_class_creation: options.allow_client_class_creation,
            files_url_prefix: format!("{base_url}/files/{APP_ID}/"),
            limits: options.limits.unwrap_or_default(),
            auth: options.auth.unwrap_or_default(),
            clock: match options.clock {
                Some(clock) => clock,
                None => Arc::new(basalt_engine::SystemClock),
            },
            email: options.email.unwrap_or_default(),
            files: Some(basalt_engine::FilesConfig {
                store: Arc::new(basalt_files::LocalFileStore::open(data_dir.path().join("files")).expect("files dir")),
                enable_for_public: false,
                enable_for_anonymous_user: false,
                enable_for_authenticated_user: true,
            }),
            webhook_key: options.webhook_key,
        };
        let server = ServerConfig {
            keys: basalt_engine::AppKeys {
                app_id: APP_ID.into(),
                master_key: MASTER_KEY.into(),
                javascript_key: options.javascript_key,
                master_key_ips: options
                    .master_key_ips
                    .unwrap_or_else(|| vec!["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")]),
                ..basalt_engine::AppKeys::default()
            },
            mount_path: "/parse".into(),
            public_server_url: base_url.clone(),
        };
        let settings = basalt::Settings {
            database,
            engine,
            server,
            cloud: None,
            live_query_classes: None,
            push: options.push.clone(),
        };
        let running = basalt::build(settings, listener).await.expect("start the server");
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let signal = async {
                let _ = shutdown_signal.await;
            };
            let _ = running.serve(signal).await;
        });
        TestServer {
            address,
            base_url,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            _data_dir: data_dir,
            _database: test_database,
        }
    }

    /// The server's data directory (its SQLite database is `basalt.sqlite3` there, unless the
    /// store is PostgreSQL's).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// The URI of the server's PostgreSQL database, when the store is PostgreSQL's.
    pub fn database_uri(&self) -> Option<String> {
        self._database.as_ref().map(TestDatabase::uri)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, headers }
    }

    /// A request with the app id (and the master key when `master`).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>, master: bool) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path)).header("X-Parse-Application-Id", APP_ID);
        if master {
            request = request.header("X-Parse-Master-Key", MASTER_KEY);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        self.send(request).await
    }

    /// A raw request: any headers and body.
    pub async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        self.send(request).await
    }

    pub async fn master(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, body, true).await
    }

    pub async fn client_call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, body, false).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A mailer that keeps what the server sends, so a test can read the mail and follow its link.
/// Messages queue in order; `next_message` waits for the next one (bounded by a timeout that
/// fails the test).
#[derive(Debug)]
pub struct RecordingMailer {
    sender: mpsc::UnboundedSender<basalt_engine::EmailMessage>,
    receiver: Mutex<mpsc::UnboundedReceiver<basalt_engine::EmailMessage>>,
}

impl RecordingMailer {
    pub fn new() -> Arc<RecordingMailer> {
        let (sender, receiver) = mpsc::unbounded_channel();
        Arc::new(RecordingMailer { sender, receiver: Mutex::new(receiver) })
    }

    /// The next message sent, in order.
    ///
    /// # Panics
    /// When no message arrives within ten seconds (a test failure).
    pub async fn next_message(&self) -> basalt_engine::EmailMessage {
        let mut receiver = self.receiver.lock().await;
        match tokio::time::timeout(Duration::from_secs(10), receiver.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => panic!("the mailer's channel closed"),
            Err(_) => panic!("no mail was sent within ten seconds"),
        }
    }

    /// A message already sent and not yet read, if any (without waiting).
    pub async fn try_next_message(&self) -> Option<basalt_engine::EmailMessage> {
        self.receiver.lock().await.try_recv().ok()
    }
}

impl basalt_engine::Mailer for RecordingMailer {
    fn send(
        &self,
        message: basalt_engine::EmailMessage,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        let sent = self.sender.send(message).map_err(|_| "the recording mailer is gone".to_owned());
        Box::pin(async move { sent })
    }
}
