//! Hostile and careless clients: connections that trickle, too many connections, names and
//! values a store cannot hold, numbers past the safe range, writes against a locked database.
//! Each is answered with a clear Parse error, and nothing is stored or lost.

use std::time::Duration;

use basalt_core::Limits;
use basalt_test_support::{APP_ID, MASTER_KEY, Reply, TestOptions, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound of every wait below: far past the limits under test, so only a missing limit fails.
const WAIT: Duration = Duration::from_secs(10);

#[track_caller]
fn assert_parse_error(reply: &Reply, status: u16, code: i64) {
    assert_eq!(reply.status, status, "status of {reply:?}");
    assert_eq!(reply.body["code"], json!(code), "code of {reply:?}");
    assert!(reply.body["error"].as_str().is_some_and(|message| !message.is_empty()), "message of {reply:?}");
}

async fn server_with(limits: Limits) -> TestServer {
    TestServer::start_with(TestOptions { limits: Some(limits), ..TestOptions::default() }).await
}

/// The objects of `class_name`, read with the master key.
async fn objects(server: &TestServer, class_name: &str) -> Vec<Value> {
    let reply = server.master("GET", &format!("/classes/{class_name}"), None).await;
    match reply.body["results"].as_array() {
        Some(results) => results.clone(),
        None => panic!("no results: {reply:?}"),
    }
}

/// Reads one HTTP/1.1 response (with a `content-length`) from `stream`: status and JSON body.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> (u16, Value) {
    let mut received = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|length| length.trim().parse::<usize>().ok())
                .expect("a content-length");
            if body.len() >= length {
                let status = head.split(' ').nth(1).and_then(|status| status.parse().ok()).expect("a status");
                return (status, serde_json::from_str(&body[..length]).unwrap_or(Value::Null));
            }
        }
        let read = stream.read(&mut chunk).await.expect("read a response");
        assert!(read > 0, "the connection closed before a whole response: {text:?}");
        received.extend_from_slice(&chunk[..read]);
    }
}

/// Waits until the server closes `stream` (end of file or reset), reading what it sends.
async fn closed_by_server(stream: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0_u8; 4096];
    while let Ok(read) = stream.read(&mut sink).await
        && read > 0
    {}
}

/// Sends `bytes` one at a time, one every `pace`, until a write fails (the server closed).
/// The pace is the slow client being simulated, not a wait for the server.
async fn trickle(stream: &mut tokio::net::tcp::OwnedWriteHalf, bytes: impl Iterator<Item = u8>, pace: Duration) {
    let mut ticks = tokio::time::interval(pace);
    for byte in bytes {
        ticks.tick().await;
        if stream.write_all(&[byte]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn connections_trickling_headers_are_closed_at_the_header_timeout() {
    let server = server_with(Limits { header_read_ms_max: 500, ..Limits::default() }).await;
    let address = server.address;
    let connections = (0..300).map(|_| async move {
        let stream = TcpStream::connect(address).await.expect("connect");
        let (mut reading, mut writing) = stream.into_split();
        // A request line, then header lines without end, a byte every 100 ms.
        let endless = b"GET /parse/health HTTP/1.1\r\n".iter().copied().chain(b"X-Slow: 1\r\n".iter().copied().cycle());
        let writer = tokio::spawn(async move { trickle(&mut writing, endless, Duration::from_millis(100)).await });
        let mut sink = [0_u8; 1024];
        while let Ok(read) = reading.read(&mut sink).await
            && read > 0
        {}
        writer.abort();
    });
    let all_closed = tokio::time::timeout(WAIT, futures_util::future::join_all(connections)).await;
    assert!(all_closed.is_ok(), "connections trickling headers stayed open past the header timeout");
    // The server still serves.
    let reply = server.client_call("GET", "/health", None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_trickled_body_is_answered_408_and_nothing_is_stored() {
    let server = server_with(Limits { body_read_ms_max: 500, ..Limits::default() }).await;
    server.master("POST", "/classes/Slow", Some(json!({"n": 1}))).await;
    let stream = TcpStream::connect(server.address).await.expect("connect");
    let (mut reading, mut writing) = stream.into_split();
    let head = format!(
        "POST /parse/classes/Slow HTTP/1.1\r\nHost: basalt\r\nX-Parse-Application-Id: {APP_ID}\r\n\
         X-Parse-Master-Key: {MASTER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"n\": 2"
    );
    writing.write_all(head.as_bytes()).await.expect("send the head");
    let writer = tokio::spawn(async move {
        trickle(&mut writing, std::iter::repeat(b' '), Duration::from_millis(100)).await;
    });
    let answered = tokio::time::timeout(WAIT, async {
        let answer = read_response(&mut reading).await;
        closed_by_server(&mut reading).await;
        answer
    })
    .await;
    writer.abort();
    let Ok((status, body)) = answered else { panic!("a trickled body was still being read after {WAIT:?}") };
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["code"], json!(124), "{body}");
    assert_eq!(objects(&server, "Slow").await.len(), 1);
}

#[tokio::test]
async fn a_connection_over_the_limit_is_answered_503_and_a_freed_place_is_reused() {
    let server = server_with(Limits { connections_max: 3, ..Limits::default() }).await;
    let health = b"GET /parse/health HTTP/1.1\r\nHost: basalt\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.address).await.expect("connect");
        stream.write_all(health).await.expect("send");
        // Answered, so accepted and counted; kept alive.
        assert_eq!(read_response(&mut stream).await.0, 200);
        held.push(stream);
    }
    let mut refused = TcpStream::connect(server.address).await.expect("connect");
    refused.write_all(health).await.expect("send");
    let (status, body) = tokio::time::timeout(WAIT, read_response(&mut refused)).await.expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], json!(100), "{body}");
    tokio::time::timeout(WAIT, closed_by_server(&mut refused)).await.expect("the refused connection closes");
    // A held connection closes; its place goes to the next client once the server sees it go.
    drop(held.pop());
    let reused = tokio::time::timeout(WAIT, async {
        loop {
            let mut stream = TcpStream::connect(server.address).await.expect("connect");
            stream.write_all(health).await.expect("send");
            if read_response(&mut stream).await.0 == 200 {
                return;
            }
        }
    })
    .await;
    assert!(reused.is_ok(), "the place of a closed connection was not freed");
}

/// A name of `length` characters: `prefix` then `x`s.
fn name_of(prefix: &str, length: usize) -> String {
    format!("{prefix}{}", "x".repeat(length - prefix.len()))
}

#[tokio::test]
async fn field_names_past_63_characters_are_105_and_do_not_collide() {
    let server = TestServer::start().await;
    let at_limit = name_of("f", 63);
    let reply = server.master("POST", "/classes/Names", Some(json!({ at_limit.clone(): 1 }))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    // Two names PostgreSQL would cut to the same 63 bytes.
    for past_limit in [format!("{at_limit}a"), format!("{at_limit}b")] {
        let reply = server.master("POST", "/classes/Names", Some(json!({ past_limit: 2 }))).await;
        assert_parse_error(&reply, 400, 105);
    }
    let stored = objects(&server, "Names").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0][&at_limit], json!(1));
    let schema = server.master("GET", "/schemas/Names", None).await;
    let fields = schema.body["fields"].as_object().expect("fields");
    assert!(fields.keys().all(|field| field.len() <= 63), "{fields:?}");
}

#[tokio::test]
async fn class_names_past_63_characters_are_103() {
    let server = TestServer::start().await;
    let reply = server.master("POST", &format!("/classes/{}", name_of("C", 63)), Some(json!({"n": 1}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let past_limit = name_of("C", 64);
    let reply = server.master("POST", &format!("/classes/{past_limit}"), Some(json!({"n": 1}))).await;
    assert_parse_error(&reply, 400, 103);
    let reply = server.master("POST", &format!("/schemas/{past_limit}"), Some(json!({"className": past_limit}))).await;
    assert_parse_error(&reply, 400, 103);
    let schemas = server.master("GET", "/schemas", None).await;
    let names: Vec<&str> =
        schemas.body["results"].as_array().expect("results").iter().filter_map(|s| s["className"].as_str()).collect();
    assert!(!names.contains(&past_limit.as_str()), "{names:?}");
}

#[tokio::test]
async fn relation_and_index_names_past_the_identifier_limit_are_105() {
    let server = TestServer::start().await;
    let class_name = name_of("Owner", 30);
    let member = server.master("POST", "/classes/Member", Some(json!({"n": 1}))).await;
    let member = json!({"__type": "Pointer", "className": "Member", "objectId": member.body["objectId"]});
    // `_Join:<field>:<class>:related` is 15 characters around the two names: 48 left.
    let fits = name_of("r", 48 - class_name.len());
    let add = |field: &str| json!({ field: {"__op": "AddRelation", "objects": [member.clone()]} });
    let reply = server.master("POST", &format!("/classes/{class_name}"), Some(add(&fits))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let too_long = name_of("r", 49 - class_name.len());
    let reply = server.master("POST", &format!("/classes/{class_name}"), Some(add(&too_long))).await;
    assert_parse_error(&reply, 400, 105);
    assert_eq!(objects(&server, &class_name).await.len(), 1);
    // An index's name is `<class>:<index>`.
    let index = name_of("i", 63 - class_name.len());
    let reply = server
        .master("PUT", &format!("/schemas/{class_name}"), Some(json!({"indexes": { index.clone(): {"createdAt": 1} }})))
        .await;
    assert_parse_error(&reply, 400, 105);
    let schema = server.master("GET", &format!("/schemas/{class_name}"), None).await;
    assert!(schema.body["fields"].get(&too_long).is_none(), "{schema:?}");
    assert!(schema.body["indexes"].get(&index).is_none(), "{schema:?}");
}

#[tokio::test]
async fn nul_characters_in_strings_and_keys_are_107_at_any_depth() {
    let server = TestServer::start().await;
    server.master("POST", "/classes/Text", Some(json!({"s": "fine"}))).await;
    let bodies = [
        json!({"s": "a\u{0}b"}),
        json!({"o": {"deep": ["x", {"k": "\u{0}"}]}}),
        json!({"o": {"ke\u{0}y": 1}}),
        json!({"tags": {"__op": "AddUnique", "objects": ["\u{0}"]}}),
    ];
    for body in bodies {
        let reply = server.master("POST", "/classes/Text", Some(body.clone())).await;
        assert_parse_error(&reply, 400, 107);
    }
    let reply = server.master("GET", "/classes/Text?where=%7B%22s%22%3A%22a%5Cu0000b%22%7D", None).await;
    assert_parse_error(&reply, 400, 107);
    let stored = objects(&server, "Text").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
}

#[tokio::test]
async fn thousands_of_new_fields_in_one_write_are_255_at_once() {
    let server = TestServer::start().await;
    let body: serde_json::Map<String, Value> = (0..3000).map(|field| (format!("f{field}"), json!(field))).collect();
    let started = std::time::Instant::now();
    let reply = server.master("POST", "/classes/Wide", Some(Value::Object(body))).await;
    assert_parse_error(&reply, 400, 255);
    assert!(started.elapsed() < Duration::from_secs(2), "answered after {:?}", started.elapsed());
    let schema = server.master("GET", "/schemas/Wide", None).await;
    assert_eq!(schema.body["code"], json!(103), "{schema:?}");
}

#[tokio::test]
async fn fields_per_class_at_the_limit_and_one_past() {
    let server = server_with(Limits { class_fields_max: 10, ..Limits::default() }).await;
    // objectId, createdAt, updatedAt and ACL count: six more reach ten.
    let six: serde_json::Map<String, Value> = (0..6).map(|field| (format!("f{field}"), json!(field))).collect();
    let created = server.master("POST", "/classes/Wide", Some(Value::Object(six))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let object_id = created.body["objectId"].as_str().expect("objectId");
    let reply = server.master("PUT", &format!("/classes/Wide/{object_id}"), Some(json!({"f6": 6}))).await;
    assert_parse_error(&reply, 400, 255);
    let reply = server.master("POST", "/classes/Wide", Some(json!({"f0": 1, "g": 2}))).await;
    assert_parse_error(&reply, 400, 255);
    let reply = server.master("PUT", "/schemas/Wide", Some(json!({"fields": {"g": {"type": "Number"}}}))).await;
    assert_parse_error(&reply, 400, 255);
    let reply = server.master("POST", "/schemas/Other", Some(json!({"fields": (0..7).map(|field| (format!("f{field}"), json!({"type": "Number"}))).collect::<serde_json::Map<String, Value>>()}))).await;
    assert_parse_error(&reply, 400, 255);
    // Existing fields may still be written.
    let reply = server.master("PUT", &format!("/classes/Wide/{object_id}"), Some(json!({"f5": 50}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let schema = server.master("GET", "/schemas/Wide", None).await;
    assert_eq!(schema.body["fields"].as_object().map(serde_json::Map::len), Some(10), "{schema:?}");
    assert_eq!(objects(&server, "Wide").await.len(), 1);
}

#[tokio::test]
async fn prohibited_keywords_are_105_at_any_depth() {
    let server = TestServer::start().await;
    server.master("POST", "/classes/Keys", Some(json!({"obj": {}}))).await;
    let bodies = [
        (json!({"obj": {"constructor": {"prototype": {"dummy": 0}}}}), "constructor"),
        (json!({"obj.__proto__.dummy": 0}), "__proto__"),
        (json!({"obj": {"_bsontype": "Code", "code": "delete Object.prototype.evalFunctions"}}), "_bsontype"),
        (json!({"list": [{"a": {"prototype": 1}}]}), "prototype"),
        (json!({"list": {"__op": "Add", "objects": [{"__proto__": {"x": 1}}]}}), "__proto__"),
    ];
    for (body, keyword) in bodies {
        let reply = server.master("POST", "/classes/Keys", Some(body)).await;
        assert_parse_error(&reply, 400, 105);
        let expected = format!("Prohibited keyword in request data: {{\"key\":\"{keyword}\"}}.");
        assert_eq!(reply.body["error"], json!(expected), "{reply:?}");
    }
    let stored = objects(&server, "Keys").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
}

#[tokio::test]
async fn an_increment_past_the_safe_integer_range_is_111_and_keeps_the_value() {
    let server = TestServer::start().await;
    let created = server.master("POST", "/classes/Counter", Some(json!({"n": 9_007_199_254_740_990_i64}))).await;
    let path = format!("/classes/Counter/{}", created.body["objectId"].as_str().expect("objectId"));
    let increment = |amount: Value| json!({"n": {"__op": "Increment", "amount": amount}});
    let reply = server.master("PUT", &path, Some(increment(json!(1)))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["n"], json!(9_007_199_254_740_991_i64), "{reply:?}");
    for amount in [json!(1), json!(1e308), json!(-18_014_398_509_481_983_i64)] {
        let reply = server.master("PUT", &path, Some(increment(amount))).await;
        assert_parse_error(&reply, 400, 111);
    }
    let stored = server.master("GET", &path, None).await;
    assert_eq!(stored.body["n"], json!(9_007_199_254_740_991_i64), "{stored:?}");
    // On a create too: nothing is stored.
    let reply = server.master("POST", "/classes/Counter", Some(increment(json!(1e300)))).await;
    assert_parse_error(&reply, 400, 111);
    assert_eq!(objects(&server, "Counter").await.len(), 1);
}

#[tokio::test]
async fn anonymous_log_in_with_a_blank_id_is_162() {
    let server = TestServer::start().await;
    for id in ["", "   ", "\t\n"] {
        let body = json!({"authData": {"anonymous": {"id": id}}});
        let reply = server.client_call("POST", "/users", Some(body)).await;
        assert_parse_error(&reply, 400, 162);
    }
    // Linking a blank id to an existing user is refused too.
    let user = server.client_call("POST", "/users", Some(json!({"username": "u", "password": "p"}))).await;
    let token = user.body["sessionToken"].as_str().expect("token");
    let object_id = user.body["objectId"].as_str().expect("objectId");
    let headers = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Session-Token", token)];
    let body = json!({"authData": {"anonymous": {"id": "  "}}}).to_string();
    let reply = server.raw("PUT", &format!("/users/{object_id}"), &headers, Some(&body)).await;
    assert_parse_error(&reply, 400, 162);
    let users = objects(&server, "_User").await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert!(users[0].get("authData").is_none(), "{users:?}");
    // A real id still logs in.
    let reply = server.client_call("POST", "/users", Some(json!({"authData": {"anonymous": {"id": "a1b2"}}}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
}

#[tokio::test]
async fn with_sign_up_closed_a_taken_and_a_free_username_get_the_same_answer() {
    let server = TestServer::start().await;
    let taken = json!({"username": "taken", "password": "p", "email": "taken@example.com"});
    let reply = server.master("POST", "/users", Some(taken)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let closed = json!({"classLevelPermissions": {
        "find": {"*": true}, "count": {"*": true}, "get": {"*": true}, "create": {},
        "update": {"*": true}, "delete": {"*": true}, "addField": {"*": true}, "protectedFields": {"*": []}
    }});
    let reply = server.master("PUT", "/schemas/_User", Some(closed)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let attempts = [
        json!({"username": "taken", "password": "p"}),
        json!({"username": "free", "password": "p"}),
        json!({"username": "other", "password": "p", "email": "taken@example.com"}),
        json!({"username": "another", "password": "p", "email": "free@example.com"}),
    ];
    let mut answers = Vec::new();
    for attempt in attempts {
        let reply = server.client_call("POST", "/users", Some(attempt)).await;
        assert_parse_error(&reply, 400, 119);
        answers.push(reply.body);
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]), "{answers:?}");
    assert_eq!(objects(&server, "_User").await.len(), 1);
}

/// Another client of the server's database holding a lock on `Locked`'s rows until dropped.
enum LockHolder {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl LockHolder {
    /// SQLite: a transaction holding the database's write lock. PostgreSQL: a transaction
    /// holding every row of `Locked` with `SELECT … FOR UPDATE`.
    async fn take(server: &TestServer) -> LockHolder {
        match server.database_uri() {
            None => {
                let connection =
                    rusqlite::Connection::open(server.data_dir().join("basalt.sqlite3")).expect("open the database");
                connection.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
                LockHolder::Sqlite(connection)
            }
            Some(uri) => {
                let (client, connection) = tokio_postgres::connect(&uri, tokio_postgres::NoTls).await.expect("connect");
                tokio::spawn(connection);
                client.batch_execute("BEGIN; SELECT * FROM \"Locked\" FOR UPDATE").await.expect("lock the rows");
                LockHolder::Postgres(client)
            }
        }
    }

    async fn release(self) {
        match self {
            LockHolder::Sqlite(connection) => connection.execute_batch("ROLLBACK").expect("release"),
            LockHolder::Postgres(client) => client.batch_execute("ROLLBACK").await.expect("release"),
        }
    }
}

#[tokio::test]
async fn a_write_against_a_held_lock_fails_within_the_lock_wait_limit_with_503() {
    let server = TestServer::start().await;
    let created = server.master("POST", "/classes/Locked", Some(json!({"n": 1}))).await;
    let path = format!("/classes/Locked/{}", created.body["objectId"].as_str().expect("objectId"));
    let holder = LockHolder::take(&server).await;
    let started = std::time::Instant::now();
    let reply = tokio::time::timeout(WAIT, server.master("PUT", &path, Some(json!({"n": 2}))))
        .await
        .expect("a write against a held lock is answered within the lock wait limit");
    let waited = started.elapsed();
    assert_parse_error(&reply, 503, 1);
    assert!(reply.body["error"].as_str().is_some_and(|message| message.contains("busy")), "{reply:?}");
    let limit = Duration::from_millis(Limits::LOCK_WAIT_MS_MAX);
    assert!(waited >= limit / 2 && waited < limit * 2, "answered after {waited:?}");
    holder.release().await;
    let stored = server.master("GET", &path, None).await;
    assert_eq!(stored.body["n"], json!(1), "{stored:?}");
    let reply = server.master("PUT", &path, Some(json!({"n": 3}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn sigterm_sends_every_live_query_socket_a_close_frame() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let data_dir = tempfile::tempdir().expect("temp dir");
    let database = std::env::var("BASALT_TEST_DATABASE_URI")
        .ok()
        .filter(|uri| !uri.is_empty())
        .map(|server| basalt_test_support::TestDatabase::new(&server, "close"));
    let mut flags = vec!["--app-id".to_owned(), "close-app".to_owned(), "--master-key".to_owned(), "mk".to_owned()];
    if let Some(database) = &database {
        flags.extend(["--database-uri".to_owned(), database.uri()]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut running = crate::cli::start(crate::cli::serve(data_dir.path(), &flags)).await;
    let socket_url = running.base_url.replacen("http://", "ws://", 1);
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let (mut socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(socket_url.as_str()))
            .await
            .expect("a handshake within the bound")
            .expect("a WebSocket");
        socket
            .send(Message::text(json!({"op": "connect", "applicationId": "close-app"}).to_string()))
            .await
            .expect("send");
        let connected = tokio::time::timeout(WAIT, socket.next()).await.expect("connected in time");
        assert!(matches!(&connected, Some(Ok(Message::Text(text))) if text.contains("connected")), "{connected:?}");
        sockets.push(socket);
    }
    let pid = running.child.id().expect("basalt still running");
    let sent = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
    assert!(sent.success(), "kill -TERM {pid}");
    for mut socket in sockets {
        let frame = tokio::time::timeout(WAIT, async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => return other,
                }
            }
        })
        .await
        .expect("a frame within the bound");
        match frame {
            Some(Ok(Message::Close(Some(close)))) => assert_eq!(close.code, CloseCode::Away, "{close:?}"),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    let status = tokio::time::timeout(WAIT, running.child.wait()).await.expect("exit in time").expect("wait basalt");
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
}

#[tokio::test]
async fn a_whitespace_only_body_is_107_and_stores_nothing() {
    let server = TestServer::start().await;
    let headers =
        [("X-Parse-Application-Id", APP_ID), ("X-Parse-Master-Key", MASTER_KEY), ("Content-Type", "application/json")];
    for blank in [" ", "  \n\t\r\n "] {
        let reply = server.raw("POST", "/classes/Blank", &headers, Some(blank)).await;
        assert_parse_error(&reply, 400, 107);
    }
    assert!(objects(&server, "Blank").await.is_empty());
    // No body at all is still an empty object.
    let reply = server.raw("POST", "/classes/Blank", &headers, None).await;
    assert_eq!(reply.status, 201, "{reply:?}");
}

#[tokio::test]
async fn a_file_value_whose_name_is_a_path_is_122() {
    let server = TestServer::start().await;
    let file = |name: &str| json!({"__type": "File", "name": name});
    for name in ["../../x", "a/b", "a\\b", ".hidden"] {
        let reply = server.master("POST", "/classes/Doc", Some(json!({"f": file(name)}))).await;
        assert_parse_error(&reply, 400, 122);
        let reply = server.master("POST", "/classes/Doc", Some(json!({"o": {"list": [file(name)]}}))).await;
        assert_parse_error(&reply, 400, 122);
    }
    let reply = server.master("POST", "/classes/Doc", Some(json!({"f": file("d41d8_photo.png")}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let path = format!("/classes/Doc/{}", reply.body["objectId"].as_str().expect("objectId"));
    let reply = server.master("PUT", &path, Some(json!({"f": file("../../etc/passwd")}))).await;
    assert_parse_error(&reply, 400, 122);
    let stored = objects(&server, "Doc").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["f"]["name"], json!("d41d8_photo.png"), "{stored:?}");
}
