//! `basalt export` and `basalt import`: a database written through the API moves SQLite →
//! dump → PostgreSQL → SQLite and reads back the same at every step (objects of every type,
//! ACLs, relations, users who still log in with their passwords); a damaged dump or a
//! non-empty destination is refused.

use std::path::Path;

use basalt_test_support::{TestDatabase, postgres_server};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{Keys, Running, basalt, call, http_client, run_to_exit, serve, start, urlencode};

const APP: &str = "transfer-app";
const MASTER: &str = "transfer-master";

fn flags(database_uri: Option<&str>) -> Vec<String> {
    let mut flags: Vec<String> = ["--app-id", APP, "--master-key", MASTER].map(str::to_owned).to_vec();
    if let Some(uri) = database_uri {
        flags.extend(["--database-uri".to_owned(), uri.to_owned()]);
    }
    flags
}

async fn start_node(data_dir: &Path, database_uri: Option<&str>) -> Running {
    let flags = flags(database_uri);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    start(serve(data_dir, &flags)).await
}

async fn master(client: &reqwest::Client, base_url: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let keys = Keys::new(APP, MASTER);
    let (status, reply) = call(client, &keys, method, &format!("{base_url}{path}"), body.as_ref()).await;
    assert!((200..300).contains(&status), "{path}: {status} {reply}");
    reply
}

/// Writes one of everything through the API.
async fn populate(client: &reqwest::Client, base_url: &str) {
    let user = client
        .post(format!("{base_url}/users"))
        .header("X-Parse-Application-Id", APP)
        .json(&json!({"username": "ada", "password": "analytical engine", "email": "ada@example.com"}))
        .send()
        .await
        .expect("sign up");
    assert_eq!(user.status().as_u16(), 201);
    let user: Value = user.json().await.expect("json");
    let user_id = user["objectId"].as_str().expect("objectId").to_owned();
    let role = master(
        client,
        base_url,
        Method::POST,
        "/roles",
        Some(json!({"name": "Editors", "ACL": {"*": {"read": true}},
            "users": {"__op": "AddRelation", "objects": [{"__type": "Pointer", "className": "_User", "objectId": user_id}]}})),
    )
    .await;
    assert!(role["objectId"].is_string());
    for n in 0..30 {
        master(
            client,
            base_url,
            Method::POST,
            "/classes/Item",
            Some(json!({
                "n": n, "half": n as f64 / 2.0, "title": format!("item {n}"), "done": n % 2 == 0,
                "tags": ["a", n, {"deep": [n]}], "meta": {"x": {"y": n}},
                "due": {"__type": "Date", "iso": format!("2026-01-{:02}T10:00:00.000Z", n % 28 + 1)},
                "owner": {"__type": "Pointer", "className": "_User", "objectId": user_id},
                "where": {"__type": "GeoPoint", "latitude": 10.5, "longitude": n},
                "area": {"__type": "Polygon", "coordinates": [[0, 0], [0, 1], [1, 1], [1, 0]]},
                "blob": {"__type": "Bytes", "base64": "aGVsbG8="},
                "ACL": {user_id.clone(): {"read": true, "write": true}, "role:Editors": {"read": true}},
            })),
        )
        .await;
    }
}

/// Everything a master-key reader sees, for comparing two servers.
async fn snapshot(client: &reqwest::Client, base_url: &str) -> Value {
    let mut out = serde_json::Map::new();
    for class in ["Item", "_User", "_Role", "_Session"] {
        let reply =
            master(client, base_url, Method::GET, &format!("/classes/{class}?order=objectId&limit=1000"), None).await;
        out.insert(class.to_owned(), reply["results"].clone());
    }
    let schemas = master(client, base_url, Method::GET, "/schemas", None).await;
    out.insert("schemas".to_owned(), schemas);
    // Relation members: the users of each role.
    let roles = out["_Role"].as_array().cloned().unwrap_or_default();
    for role in roles {
        let role_id = role["objectId"].as_str().expect("role id");
        let related = json!({"$relatedTo": {"object": {"__type": "Pointer", "className": "_Role", "objectId": role_id}, "key": "users"}});
        let query = format!("/classes/_User?where={}", urlencode(&related.to_string()));
        let users = master(client, base_url, Method::GET, &query, None).await;
        out.insert(format!("users of {role_id}"), users["results"].clone());
    }
    Value::Object(out)
}

/// Log-in as ada, then her view of Item (through the role and her own ACL entry).
async fn ada_sees(client: &reqwest::Client, base_url: &str) -> usize {
    let login = client
        .get(format!("{base_url}/login?username=ada&password=analytical%20engine"))
        .header("X-Parse-Application-Id", APP)
        .send()
        .await
        .expect("log in");
    assert_eq!(login.status().as_u16(), 200, "ada logs in with her password after the move");
    let token = login.json::<Value>().await.expect("json")["sessionToken"].as_str().expect("token").to_owned();
    let items = client
        .get(format!("{base_url}/classes/Item?limit=1000"))
        .header("X-Parse-Application-Id", APP)
        .header("X-Parse-Session-Token", token)
        .send()
        .await
        .expect("find");
    let items: Value = items.json().await.expect("json");
    let public = client
        .get(format!("{base_url}/classes/Item"))
        .header("X-Parse-Application-Id", APP)
        .send()
        .await
        .expect("public find");
    let public: Value = public.json().await.expect("json");
    assert_eq!(public["results"].as_array().map(Vec::len), Some(0), "the ACLs still hide the items from the public");
    items["results"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_database_moves_sqlite_to_postgres_and_back_unchanged() {
    let temp = tempfile::tempdir().expect("temp dir");
    let client = http_client();
    let first_dir = temp.path().join("first");
    let node = start_node(&first_dir, None).await;
    populate(&client, &node.base_url).await;
    assert_eq!(ada_sees(&client, &node.base_url).await, 30);
    let original = snapshot(&client, &node.base_url).await;
    assert_eq!(
        original["users of ".to_owned() + original["_Role"][0]["objectId"].as_str().expect("role")]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(node.terminate().await.success());

    // SQLite -> dump file.
    let dump = temp.path().join("dump.jsonl");
    let mut export = basalt(&["export", "--data-dir"]);
    export.arg(&first_dir).arg("--to").arg(&dump);
    let (status, _, stderr) = run_to_exit(export).await;
    assert!(status.success(), "export: {stderr}");
    assert!(stderr.contains("Item: 30 objects"), "{stderr}");

    // dump file -> PostgreSQL.
    let database = TestDatabase::new(&postgres_server(), "transfer");
    let uri = database.uri();
    let mut import = basalt(&["import", "--database-uri", &uri, "--from"]);
    import.arg(&dump);
    let (status, _, stderr) = run_to_exit(import).await;
    assert!(status.success(), "import: {stderr}");
    assert!(stderr.contains("imported and checked"), "{stderr}");

    let on_postgres = start_node(&temp.path().join("pg-node"), Some(&uri)).await;
    assert_eq!(snapshot(&client, &on_postgres.base_url).await, original, "PostgreSQL holds what SQLite held");
    assert!(on_postgres.terminate().await.success());

    // PostgreSQL -> SQLite, database to database; ada logs in there too.
    let second_dir = temp.path().join("second");
    let mut copy = basalt(&["import", "--data-dir"]);
    copy.arg(&second_dir).args(["--from", &uri]);
    let (status, _, stderr) = run_to_exit(copy).await;
    assert!(status.success(), "copy: {stderr}");
    let back = start_node(&second_dir, None).await;
    assert_eq!(snapshot(&client, &back.base_url).await, original, "SQLite again holds the same");
    assert_eq!(ada_sees(&client, &back.base_url).await, 30);
    // Her log-in there made a session: what the next copies must hold.
    let after_login = snapshot(&client, &back.base_url).await;
    assert!(back.terminate().await.success());

    // Through a pipe: export to stdout, import from stdin.
    let piped_dir = temp.path().join("piped");
    let mut export = basalt(&["export", "--data-dir"]);
    export.arg(&second_dir).args(["--to", "-"]).stdout(std::process::Stdio::piped());
    let mut exporting = export.spawn().expect("spawn export");
    let stdout: std::process::Stdio =
        exporting.stdout.take().expect("export stdout").try_into().expect("a pipe to hand on");
    let mut import = basalt(&["import", "--data-dir"]);
    import.arg(&piped_dir).args(["--from", "-"]).stdin(stdout);
    let (status, _, stderr) = run_to_exit(import).await;
    assert!(status.success(), "import from a pipe: {stderr}");
    assert!(exporting.wait().await.expect("export exits").success());
    let piped = start_node(&piped_dir, None).await;
    assert_eq!(snapshot(&client, &piped.base_url).await, after_login, "what went through the pipe");
    assert!(piped.terminate().await.success());

    // Importing into a database that has classes is refused.
    let mut again = basalt(&["import", "--database-uri", &uri, "--from"]);
    again.arg(&dump);
    let (status, _, stderr) = run_to_exit(again).await;
    assert!(!status.success() && stderr.contains("already has classes"), "{stderr}");
    drop(database);

    // A dump that lost its end (or a line) is refused.
    let text = std::fs::read_to_string(&dump).expect("read dump");
    let lines: Vec<&str> = text.lines().collect();
    let truncated = temp.path().join("truncated.jsonl");
    std::fs::write(&truncated, lines[..lines.len() - 1].join("\n")).expect("write");
    let mut import = basalt(&["import", "--data-dir"]);
    import.arg(temp.path().join("third")).arg("--from").arg(&truncated);
    let (status, _, stderr) = run_to_exit(import).await;
    assert!(!status.success() && stderr.contains("truncated"), "{stderr}");
    let leftovers: Vec<_> = std::fs::read_dir(temp.path().join("third"))
        .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "a refused import leaves no database behind: {leftovers:?}");
    // Nor does one whose source cannot be opened.
    let mut import = basalt(&["import", "--data-dir"]);
    import.arg(temp.path().join("fifth")).args(["--from", "/nonexistent/dump.jsonl"]);
    let (status, _, stderr) = run_to_exit(import).await;
    assert!(!status.success() && stderr.contains("/nonexistent/dump.jsonl"), "{stderr}");
    assert!(!temp.path().join("fifth").join("basalt.sqlite3").exists(), "no empty database left behind");
    // On PostgreSQL too: the database the import created is dropped again.
    let unused = TestDatabase::new(&postgres_server(), "refused");
    let mut import = basalt(&["import", "--database-uri", &unused.uri(), "--from", "/nonexistent/dump.jsonl"]);
    import.arg("--data-dir").arg(temp.path().join("sixth"));
    let (status, _, stderr) = run_to_exit(import).await;
    assert!(!status.success() && stderr.contains("/nonexistent/dump.jsonl"), "{stderr}");
    let exists = basalt_store::postgres::PgStore::database_exists(&unused.uri()).await.expect("ask PostgreSQL");
    assert!(!exists, "the refused import dropped the database it created");
    let edited = temp.path().join("edited.jsonl");
    let without_one: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(index, line)| !(line.contains("\"item 7\"") && *index > 0))
        .map(|(_, line)| *line)
        .collect();
    assert_eq!(without_one.len(), lines.len() - 1);
    std::fs::write(&edited, without_one.join("\n")).expect("write");
    let mut import = basalt(&["import", "--data-dir"]);
    import.arg(temp.path().join("fourth")).arg("--from").arg(&edited);
    let (status, _, stderr) = run_to_exit(import).await;
    assert!(!status.success() && stderr.contains("Item"), "a missing object is named by class: {stderr}");
}
