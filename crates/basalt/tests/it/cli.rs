//! The command-line contract, tested on the real `basalt` binary: flags, the
//! Parse Server environment variables, generated keys, database location, fail-fast errors and
//! clean restarts. The spawn helpers here are shared with `durability`.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use basalt_test_support::{TestDatabase, postgres_server};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Bound on anything the binary is waited for (startup, exit); reaching it fails the test.
const WAIT_BOUND: Duration = Duration::from_secs(60);

/// Environment variables the binary reads; removed from every child so the test's own
/// environment cannot leak into it.
const BASALT_ENV: &[&str] = &[
    "PARSE_SERVER_HOST",
    "PORT",
    "PARSE_SERVER_MOUNT_PATH",
    "PARSE_SERVER_APPLICATION_ID",
    "PARSE_SERVER_MASTER_KEY",
    "PARSE_SERVER_REST_API_KEY",
    "PARSE_SERVER_JAVASCRIPT_KEY",
    "PARSE_SERVER_CLIENT_KEY",
    "BASALT_DATA_DIR",
    "PARSE_SERVER_DATABASE_URI",
    "PARSE_SERVER_CLOUD",
    "PARSE_PUBLIC_SERVER_URL",
    "PARSE_SERVER_LIVE_QUERY_CLASSES",
    "PARSE_SERVER_ALLOW_CLIENT_CLASS_CREATION",
    "PARSE_SERVER_MASTER_KEY_IPS",
    "PARSE_SERVER_MAX_UPLOAD_SIZE",
    "BASALT_SYNC_FULL",
    "PARSE_SERVER_PUSH",
];

/// `basalt` with the given arguments and a clean environment; killed when dropped.
pub(crate) fn basalt(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_basalt"));
    command.args(args).kill_on_drop(true).stdin(Stdio::null());
    for name in BASALT_ENV {
        command.env_remove(name);
    }
    command
}

/// `basalt serve --port 0 --data-dir DATA_DIR` plus `extra` arguments.
pub(crate) fn serve(data_dir: &Path, extra: &[&str]) -> Command {
    let mut command = basalt(&["serve", "--port", "0", "--data-dir"]);
    command.arg(data_dir).args(extra);
    command
}

/// A running `basalt serve`, killed when dropped.
pub(crate) struct Running {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT/MOUNT`, from the listening line.
    pub(crate) base_url: String,
    /// What the binary printed on stdout before the listening line.
    pub(crate) banner: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

/// Starts `command` and waits for its `basalt listening on …` line.
///
/// # Panics
/// When the binary exits or stays silent before listening (the failure shows its stderr).
pub(crate) async fn start(mut command: Command) -> Running {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn basalt");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut stderr_pipe = child.stderr.take().expect("stderr pipe");
    let stderr_sink = Arc::clone(&stderr);
    let stderr_drained = tokio::spawn(async move {
        let mut chunk = [0u8; 4096];
        while let Ok(read) = stderr_pipe.read(&mut chunk).await {
            if read == 0 {
                break;
            }
            stderr_sink.lock().expect("stderr buffer").push_str(&String::from_utf8_lossy(&chunk[..read]));
        }
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout pipe")).lines();
    let mut banner = Vec::new();
    let listening = tokio::time::timeout(WAIT_BOUND, async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(url) = line.strip_prefix("basalt listening on ") {
                return Some(url.to_owned());
            }
            banner.push(line);
        }
        None
    })
    .await;
    let base_url = match listening {
        Ok(Some(url)) => url,
        Ok(None) => {
            let status = child.wait().await.expect("wait basalt");
            let _ = stderr_drained.await;
            let stderr = stderr.lock().expect("stderr buffer").clone();
            panic!("basalt exited ({status}) before listening\nstdout: {banner:?}\nstderr:\n{stderr}");
        }
        Err(_) => {
            let stderr = stderr.lock().expect("stderr buffer").clone();
            panic!(
                "basalt did not print its listening line within {WAIT_BOUND:?}\nstdout: {banner:?}\nstderr:\n{stderr}"
            );
        }
    };
    // Keep draining stdout so the binary never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running { child, base_url, banner, stderr }
}

impl Running {
    /// Everything the binary wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// SIGTERM, then waits for the exit status.
    pub(crate) async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().expect("basalt still running");
        let sent = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = tokio::time::timeout(WAIT_BOUND, self.child.wait()).await;
        let stderr = self.stderr();
        status
            .unwrap_or_else(|_| panic!("basalt did not stop within {WAIT_BOUND:?} of SIGTERM\nstderr:\n{stderr}"))
            .expect("wait basalt")
    }

    /// SIGKILL (`kill -9`): no shutdown code runs.
    pub(crate) async fn crash(mut self) {
        self.child.kill().await.expect("kill -9 basalt");
    }
}

/// The app id and master key a client sends.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) app_id: String,
    pub(crate) master_key: String,
}

impl Keys {
    pub(crate) fn new(app_id: &str, master_key: &str) -> Keys {
        Keys { app_id: app_id.to_owned(), master_key: master_key.to_owned() }
    }
}

/// A client with a bounded request time (the bound fails the test, it never paces it).
/// `text` percent-encoded for a query string (unreserved characters kept).
pub(crate) fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(WAIT_BOUND).build().expect("http client")
}

/// Sends a request with the app id and master key; answers status and JSON body
/// (`Value::Null` when the body is not JSON).
pub(crate) async fn call(
    client: &reqwest::Client,
    keys: &Keys,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = client
        .request(method, url)
        .header("X-Parse-Application-Id", &keys.app_id)
        .header("X-Parse-Master-Key", &keys.master_key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap_or_else(|error| panic!("{url}: {error}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Creates an object with the master key; answers its objectId.
pub(crate) async fn create(client: &reqwest::Client, keys: &Keys, base_url: &str, class: &str, body: &Value) -> String {
    let (status, reply) =
        call(client, keys, reqwest::Method::POST, &format!("{base_url}/classes/{class}"), Some(body)).await;
    assert_eq!(status, 201, "create {class}: {reply}");
    reply["objectId"].as_str().expect("objectId").to_owned()
}

/// Reads an object with the master key.
pub(crate) async fn get(client: &reqwest::Client, keys: &Keys, base_url: &str, class: &str, id: &str) -> (u16, Value) {
    call(client, keys, reqwest::Method::GET, &format!("{base_url}/classes/{class}/{id}"), None).await
}

/// The value after `prefix` on the banner line that has it.
fn banner_value(banner: &[String], prefix: &str) -> String {
    banner
        .iter()
        .find_map(|line| line.trim().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {banner:?}"))
        .trim()
        .to_owned()
}

/// Runs a command that must exit on its own; answers status, stdout, stderr.
pub(crate) async fn run_to_exit(mut command: Command) -> (ExitStatus, String, String) {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let output =
        tokio::time::timeout(WAIT_BOUND, command.output()).await.expect("basalt exits on its own").expect("run basalt");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const SERVE_FLAGS: &[&str] = &[
    "--host",
    "--port",
    "--mount-path",
    "--app-id",
    "--master-key",
    "--rest-api-key",
    "--javascript-key",
    "--client-key",
    "--data-dir",
    "--database-uri",
    "--cloud",
    "--public-server-url",
    "--live-query-classes",
];

#[tokio::test]
async fn top_level_help_exits_zero_and_names_the_serve_command() {
    let (status, stdout, stderr) = run_to_exit(basalt(&["--help"])).await;
    assert!(status.success(), "basalt --help: {status}\n{stderr}");
    assert!(stdout.contains("Usage: basalt"), "{stdout}");
    assert!(stdout.contains("serve"), "{stdout}");
}

#[tokio::test]
async fn serve_help_exits_zero_and_lists_every_flag_with_its_parse_server_variable() {
    let (status, stdout, stderr) = run_to_exit(basalt(&["serve", "--help"])).await;
    assert!(status.success(), "basalt serve --help: {status}\n{stderr}");
    let missing: Vec<&&str> = SERVE_FLAGS.iter().filter(|flag| !stdout.contains(*flag)).collect();
    assert!(missing.is_empty(), "serve --help lacks {missing:?}:\n{stdout}");
    for variable in [
        "PARSE_SERVER_APPLICATION_ID",
        "PARSE_SERVER_MASTER_KEY",
        "PARSE_SERVER_DATABASE_URI",
        "PARSE_SERVER_CLOUD",
        "PARSE_SERVER_MOUNT_PATH",
        "PARSE_PUBLIC_SERVER_URL",
        "PORT",
    ] {
        assert!(stdout.contains(variable), "serve --help does not name {variable}:\n{stdout}");
    }
}

#[tokio::test]
async fn first_start_generates_keys_prints_them_once_and_reuses_them_after_restart() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let client = http_client();

    let first = start(serve(&data_dir, &[])).await;
    let keys = Keys::new(&banner_value(&first.banner, "app id:"), &banner_value(&first.banner, "master key:"));
    assert!(!keys.app_id.is_empty() && !keys.master_key.is_empty(), "{:?}", first.banner);
    assert_ne!(keys.app_id, keys.master_key);
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("keys.json")).expect("keys.json in the data dir"))
            .expect("keys.json is JSON");
    assert_eq!(stored, json!({"appId": keys.app_id, "masterKey": keys.master_key}));

    // The printed keys work: the master key creates a class by saving to it.
    let id = create(&client, &keys, &first.base_url, "Note", &json!({"text": "hello"})).await;
    let (status, _) = call(
        &client,
        &Keys::new("not-the-app-id", &keys.master_key),
        reqwest::Method::GET,
        &format!("{}/classes/Note/{id}", first.base_url),
        None,
    )
    .await;
    assert_eq!(status, 403, "a wrong app id is refused");
    assert!(first.terminate().await.success());

    let second = start(serve(&data_dir, &[])).await;
    assert!(second.banner.is_empty(), "second start printed {:?}", second.banner);
    let (status, object) = get(&client, &keys, &second.base_url, "Note", &id).await;
    assert_eq!((status, &object["text"]), (200, &json!("hello")), "{object}");
    let stored_again: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("keys.json")).expect("keys.json")).expect("JSON");
    assert_eq!(stored_again, stored);
}

#[tokio::test]
async fn app_id_and_master_key_flags_are_the_keys_clients_must_send() {
    let temp = tempfile::tempdir().expect("temp dir");
    let running = start(serve(temp.path(), &["--app-id", "flag-app", "--master-key", "flag-master"])).await;
    assert!(running.banner.is_empty(), "given keys are not generated: {:?}", running.banner);
    let client = http_client();
    let keys = Keys::new("flag-app", "flag-master");
    let id = create(&client, &keys, &running.base_url, "Note", &json!({"n": 1})).await;
    let (status, object) = get(&client, &keys, &running.base_url, "Note", &id).await;
    assert_eq!((status, &object["n"]), (200, &json!(1)), "{object}");

    let schemas = format!("{}/schemas", running.base_url);
    let (status, _) = call(&client, &keys, reqwest::Method::GET, &schemas, None).await;
    assert_eq!(status, 200, "the flag's master key reads schemas");
    let (status, _) = call(&client, &Keys::new("flag-app", "other"), reqwest::Method::GET, &schemas, None).await;
    assert_eq!(status, 403, "another master key does not");
    let (status, _) = get(&client, &Keys::new("other-app", "flag-master"), &running.base_url, "Note", &id).await;
    assert_eq!(status, 403, "another app id is refused");
}

#[tokio::test]
async fn parse_server_environment_variables_set_keys_port_and_mount_path() {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut command = basalt(&["serve", "--data-dir"]);
    command
        .arg(temp.path())
        .env("PORT", "0")
        .env("PARSE_SERVER_APPLICATION_ID", "env-app")
        .env("PARSE_SERVER_MASTER_KEY", "env-master")
        .env("PARSE_SERVER_MOUNT_PATH", "/api");
    let running = start(command).await;
    assert!(running.banner.is_empty(), "given keys are not generated: {:?}", running.banner);
    let url = running.base_url.strip_prefix("http://127.0.0.1:").expect("listens on 127.0.0.1");
    let (port, mount) = url.split_once('/').expect("port then mount path");
    assert_ne!(port.parse::<u16>().expect("a port number"), 0, "PORT=0 binds a free port");
    assert_eq!(mount, "api");

    let client = http_client();
    let keys = Keys::new("env-app", "env-master");
    let id = create(&client, &keys, &running.base_url, "Note", &json!({"n": 2})).await;
    let (status, object) = get(&client, &keys, &running.base_url, "Note", &id).await;
    assert_eq!((status, &object["n"]), (200, &json!(2)), "{object}");
    let default_mount = running.base_url.replace("/api", "/parse");
    let (status, _) = get(&client, &keys, &default_mount, "Note", &id).await;
    assert_eq!(status, 404, "nothing is mounted at /parse");
}

#[tokio::test]
async fn sqlite_database_uri_puts_the_database_at_that_path() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let database_dir = tempfile::tempdir().expect("temp dir");
    let database = database_dir.path().join("x.db");
    let uri = format!("sqlite://{}", database.display());
    assert!(uri.starts_with("sqlite:///"), "an absolute path: {uri}");
    let keys = Keys::new("app", "master");
    let flags = ["--app-id", "app", "--master-key", "master", "--database-uri", uri.as_str()];
    let client = http_client();

    let first = start(serve(&data_dir, &flags)).await;
    let id = create(&client, &keys, &first.base_url, "Note", &json!({"where": "x.db"})).await;
    assert!(database.is_file(), "{} exists", database.display());
    assert!(!data_dir.join("basalt.sqlite3").exists(), "no database in the data dir");
    assert!(first.terminate().await.success());

    let second = start(serve(&data_dir, &flags)).await;
    let (status, object) = get(&client, &keys, &second.base_url, "Note", &id).await;
    assert_eq!((status, &object["where"]), (200, &json!("x.db")), "{object}");
    drop(second);

    // The same data dir without the URI is another, empty database.
    let third = start(serve(&data_dir, &flags[..4])).await;
    let (status, _) = get(&client, &keys, &third.base_url, "Note", &id).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn postgres_database_uri_creates_the_database_and_keeps_data_across_restarts() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let database = TestDatabase::new(&postgres_server(), "cli");
    let uri = database.uri();
    let keys = Keys::new("app", "master");
    let flags = ["--app-id", "app", "--master-key", "master", "--database-uri", uri.as_str()];
    let client = http_client();

    let first = start(serve(&data_dir, &flags)).await;
    let id = create(&client, &keys, &first.base_url, "Note", &json!({"where": "postgres"})).await;
    assert!(!data_dir.join("basalt.sqlite3").exists(), "no SQLite database in the data dir");
    assert!(first.terminate().await.success());

    let second = start(serve(&data_dir, &flags)).await;
    let (status, object) = get(&client, &keys, &second.base_url, "Note", &id).await;
    assert_eq!((status, &object["where"]), (200, &json!("postgres")), "{object}");
    // A start on an existing database is quiet: PostgreSQL's "already exists, skipping" notices
    // stay out of the log.
    let stderr = second.stderr();
    assert!(!stderr.contains("NOTICE"), "stderr:\n{stderr}");
    assert!(second.terminate().await.success());
}

#[tokio::test]
async fn an_unreachable_postgres_fails_fast_with_a_message() {
    let temp = tempfile::tempdir().expect("temp dir");
    let command = serve(temp.path(), &["--database-uri", "postgres://basalt@127.0.0.1:1/basalt"]);
    let (status, stdout, stderr) = run_to_exit(command).await;
    assert!(!status.success(), "exit status {status}");
    assert!(!stdout.contains("basalt listening on"), "{stdout}");
    assert!(stderr.contains("connecting to PostgreSQL"), "stderr:\n{stderr}");
}

#[tokio::test]
async fn cloud_code_with_a_syntax_error_stops_the_start_naming_file_and_line() {
    let temp = tempfile::tempdir().expect("temp dir");
    let main_js = temp.path().join("main.js");
    std::fs::write(&main_js, "Parse.Cloud.define('hello', () => 'hi');\nconst broken = ;\n").expect("write main.js");
    let mut command = serve(&temp.path().join("data"), &["--cloud"]);
    command.arg(&main_js);
    let (status, stdout, stderr) = run_to_exit(command).await;
    assert!(!status.success(), "exit status {status}");
    assert!(!stdout.contains("basalt listening on"), "{stdout}");
    assert!(
        stderr.contains("--cloud") && stderr.contains("main.js:2") && stderr.contains("SyntaxError"),
        "stderr:\n{stderr}"
    );
}

#[tokio::test]
async fn cloud_code_given_with_the_flag_serves_its_functions() {
    let temp = tempfile::tempdir().expect("temp dir");
    let main_js = temp.path().join("main.js");
    std::fs::write(&main_js, "Parse.Cloud.define('hello', (request) => `hi ${request.params.name}`);\n")
        .expect("write main.js");
    let mut command = serve(&temp.path().join("data"), &["--app-id", "app", "--master-key", "master", "--cloud"]);
    command.arg(&main_js);
    let server = start(command).await;
    let reply = http_client()
        .post(format!("{}/functions/hello", server.base_url))
        .header("X-Parse-Application-Id", "app")
        .json(&json!({"name": "Ann"}))
        .send()
        .await
        .expect("request");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.json::<serde_json::Value>().await.expect("json"), json!({"result": "hi Ann"}));
}

/// The signal handlers are in place before the server says it is listening: SIGTERM sent the
/// moment that line appears is a clean stop, not a kill (it once raced the handler's setup).
#[tokio::test]
async fn sigterm_sent_as_soon_as_the_server_is_listening_is_a_clean_exit() {
    let temp = tempfile::tempdir().expect("temp dir");
    for _ in 0..50 {
        let running = start(serve(temp.path(), &["--app-id", "app", "--master-key", "master"])).await;
        let status = running.terminate().await;
        assert!(status.success(), "SIGTERM right after start: {status}");
    }
}

#[tokio::test]
async fn data_survives_sigterm_and_restart_on_the_same_data_dir() {
    let temp = tempfile::tempdir().expect("temp dir");
    let flags = ["--app-id", "app", "--master-key", "master"];
    let keys = Keys::new("app", "master");
    let client = http_client();

    let first = start(serve(temp.path(), &flags)).await;
    let id = create(&client, &keys, &first.base_url, "Note", &json!({"text": "kept", "tags": ["a", "b"]})).await;
    let status = first.terminate().await;
    assert!(status.success(), "SIGTERM is a clean exit: {status}");

    let second = start(serve(temp.path(), &flags)).await;
    let (status, object) = get(&client, &keys, &second.base_url, "Note", &id).await;
    assert_eq!(status, 200, "{object}");
    assert_eq!((&object["text"], &object["tags"]), (&json!("kept"), &json!(["a", "b"])), "{object}");
}

/// Cloud code gets the engine with each call; top-level code, which runs before there is a
/// server, gets a clear refusal (141) instead of a request racing the start.
#[tokio::test]
async fn top_level_cloud_code_cannot_call_the_server_while_it_loads() {
    let temp = tempfile::tempdir().expect("temp dir");
    let main_js = temp.path().join("main.js");
    std::fs::write(
        &main_js,
        "let outcome = 'pending';\n\
         new Parse.Query('Thing').find().then(() => { outcome = 'answered'; }, (error) => { outcome = `${error.code}: ${error.message}`; });\n\
         Parse.Cloud.define('loadOutcome', async () => { await null; await null; return outcome; });\n\
         Parse.Cloud.define('count', async () => (await new Parse.Query('Thing').find({ useMasterKey: true })).length);\n",
    )
    .expect("write main.js");
    let mut command = serve(&temp.path().join("data"), &["--app-id", "app", "--master-key", "master", "--cloud"]);
    command.arg(&main_js);
    let running = start(command).await;
    let client = http_client();
    let keys = Keys::new("app", "master");
    let url = |name: &str| format!("{}/functions/{name}", running.base_url);
    let (status, reply) = call(&client, &keys, reqwest::Method::POST, &url("loadOutcome"), Some(&json!({}))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["result"], json!("141: Cloud code cannot call the server while it loads."), "{reply}");
    let (status, reply) = call(&client, &keys, reqwest::Method::POST, &url("count"), Some(&json!({}))).await;
    assert_eq!((status, &reply["result"]), (200, &json!(0)), "a function calls the server: {reply}");
    assert!(running.terminate().await.success());
}
