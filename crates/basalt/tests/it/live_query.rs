//! LiveQuery over a real WebSocket at ws://ADDR/parse: role changes reach existing subscriptions;
//! a client that stops reading is dropped without slowing writers or other clients; malformed
//! frames; `keys`/`fields`; the master key on `connect`; `$inQuery` subscriptions.
//!
//! Nothing sleeps. "Never arrives" is shown by saving the hidden write first and a visible marker
//! after it: events reach a connection in commit order, so once the marker is there, the hidden
//! event would have been too. Timeouts only bound a wait that should end.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use basalt_test_support::{APP_ID, MASTER_KEY, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Failure bound for one awaited frame; never a wait in a passing run.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw LiveQuery connection.
pub(crate) struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Socket {
    async fn open(server: &TestServer) -> Socket {
        Socket::open_url(&format!("ws://{}/parse", server.address)).await
    }

    /// Opens a LiveQuery connection at `url` (`ws://HOST:PORT/parse`).
    pub(crate) async fn open_url(url: &str) -> Socket {
        let (ws, _) = tokio::time::timeout(FRAME_TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .expect("the WebSocket handshake within the bound")
            .expect("a WebSocket at /parse");
        Socket { ws }
    }

    async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send a frame");
    }

    pub(crate) async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// The next message, pings aside; `None` at the end of the stream.
    async fn next_message(&mut self, what: &str) -> Option<Result<Message, tungstenite::Error>> {
        loop {
            let message = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("timed out after {FRAME_TIMEOUT:?} waiting for {what}"));
            if !matches!(message, Some(Ok(Message::Ping(_) | Message::Pong(_)))) {
                return message;
            }
        }
    }

    /// Has the server closed the socket (a close frame or the end of the stream) before sending
    /// anything else?
    pub(crate) async fn closed(&mut self, what: &str) -> bool {
        matches!(self.next_message(what).await, None | Some(Ok(Message::Close(_)) | Err(_)))
    }

    /// The next frame, as JSON.
    pub(crate) async fn next(&mut self, what: &str) -> Value {
        match self.next_message(what).await {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).expect("a JSON frame"),
            other => panic!("expected {what}, got {other:?}"),
        }
    }

    /// Sends `connect` (plus `extra`'s keys) and returns the client id from `connected`.
    pub(crate) async fn connect(&mut self, extra: Value) -> String {
        let mut frame = json!({"op": "connect", "applicationId": APP_ID});
        if let (Some(frame), Value::Object(extra)) = (frame.as_object_mut(), extra) {
            frame.extend(extra);
        }
        self.send(frame).await;
        let connected = self.next("connected").await;
        assert_eq!(connected["op"], "connected", "{connected}");
        connected["clientId"].as_str().expect("clientId").to_owned()
    }

    /// Subscribes and waits for `subscribed`.
    pub(crate) async fn subscribe(&mut self, request_id: i64, query: Value, session_token: Option<&str>) {
        let mut frame = json!({"op": "subscribe", "requestId": request_id, "query": query});
        if let Some(token) = session_token {
            frame["sessionToken"] = json!(token);
        }
        self.send(frame).await;
        let subscribed = self.next("subscribed").await;
        assert_eq!(
            (&subscribed["op"], &subscribed["requestId"]),
            (&json!("subscribed"), &json!(request_id)),
            "{subscribed}"
        );
    }
}

/// Saves a new object with the master key; returns its objectId.
async fn save(server: &TestServer, class_name: &str, body: Value) -> String {
    let reply = server.master("POST", &format!("/classes/{class_name}"), Some(body)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.body["objectId"].as_str().expect("objectId").to_owned()
}

/// Creates an empty class through /schemas. Not by saving a first object: LiveQuery delivers
/// asynchronously (on a cluster, the event comes back through the database's notifications), so
/// that object's event could still reach a subscription made right after.
async fn create_class(server: &TestServer, class_name: &str) {
    let reply = server.master("POST", &format!("/schemas/{class_name}"), Some(json!({"className": class_name}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

async fn sign_up(server: &TestServer, username: &str) -> (String, String) {
    let reply =
        server.client_call("POST", "/users", Some(json!({"username": username, "password": "correct horse"}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.body["objectId"].as_str().expect("objectId").to_owned();
    let token = reply.body["sessionToken"].as_str().expect("sessionToken").to_owned();
    (id, token)
}

/// `(op, requestId, object.objectId)` of an event frame.
fn event(frame: &Value) -> (&str, i64, &str) {
    (
        frame["op"].as_str().unwrap_or_default(),
        frame["requestId"].as_i64().unwrap_or(-1),
        frame["object"]["objectId"].as_str().unwrap_or_default(),
    )
}

fn keys(object: &Value) -> BTreeSet<&str> {
    object.as_object().map(|object| object.keys().map(String::as_str).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_role_granted_after_subscribing_opens_objects_readable_by_that_role() {
    let server = TestServer::start().await;
    let (user_id, token) = sign_up(&server, "sam").await;
    let role = server.master("POST", "/roles", Some(json!({"name": "Staff", "ACL": {"*": {"read": true}}}))).await;
    assert_eq!(role.status, 201, "{role:?}");
    let role_id = role.body["objectId"].as_str().expect("objectId");
    create_class(&server, "Memo").await;
    let staff_only = json!({"role:Staff": {"read": true}});
    let public = json!({"*": {"read": true}});

    let mut ws = Socket::open(&server).await;
    ws.connect(json!({"sessionToken": token})).await;
    ws.subscribe(1, json!({"className": "Memo", "where": {}}), Some(&token)).await;

    let hidden = save(&server, "Memo", json!({"title": "before the role", "ACL": staff_only})).await;
    let marker = save(&server, "Memo", json!({"title": "marker", "ACL": public})).await;
    let frame = ws.next("the marker").await;
    assert_eq!(event(&frame), ("create", 1, marker.as_str()), "a Staff-only object reached a non-member: {frame}");

    let user = json!({"__type": "Pointer", "className": "_User", "objectId": user_id});
    let added = server
        .master("PUT", &format!("/roles/{role_id}"), Some(json!({"users": {"__op": "AddRelation", "objects": [user]}})))
        .await;
    assert_eq!(added.status, 200, "{added:?}");

    // The hub refreshes its subscribers' roles after a role changes, off the write path. Save a
    // Staff-only object, then a public marker, until a Staff-only object arrives before its marker
    // (each save is a fresh event); the bound fails the test if the refresh never lands.
    let mut arrived = None;
    for round in 0..200 {
        let staff = save(&server, "Memo", json!({"title": format!("staff {round}"), "ACL": staff_only})).await;
        let marker = save(&server, "Memo", json!({"title": format!("marker {round}"), "ACL": public})).await;
        let frame = ws.next("a Staff-only object or the marker").await;
        match event(&frame) {
            ("create", 1, id) if id == staff => {
                let next = ws.next("the marker after the Staff-only object").await;
                assert_eq!(event(&next), ("create", 1, marker.as_str()), "{next}");
                arrived = Some(round);
                break;
            }
            ("create", 1, id) if id == marker => {}
            _ => panic!("unexpected frame (the object saved before the role is {hidden}): {frame}"),
        }
    }
    let round = arrived.expect("no Staff-only object arrived within 200 saves after the user joined Staff");

    // From then on every Staff-only object arrives.
    let staff = save(&server, "Memo", json!({"title": "later", "ACL": staff_only})).await;
    let frame = ws.next("a Staff-only object").await;
    assert_eq!(event(&frame), ("create", 1, staff.as_str()), "after {round} rounds: {frame}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_without_slowing_writers_or_other_clients() {
    // Enough 20 KiB events to fill the socket's kernel buffers and then the hub's 1000-frame
    // queue for the client that never reads.
    const OBJECTS: usize = 2500;
    let server = TestServer::start().await;
    create_class(&server, "Blob").await;
    let query = json!({"className": "Blob", "where": {}});

    let mut stalled = Socket::open(&server).await;
    stalled.connect(json!({})).await;
    stalled.subscribe(1, query.clone(), None).await;
    let mut reader = Socket::open(&server).await;
    reader.connect(json!({})).await;
    reader.subscribe(1, query, None).await;
    let reading = tokio::spawn(async move {
        let mut ids = Vec::with_capacity(OBJECTS);
        while ids.len() < OBJECTS {
            let frame = reader.next("the next create").await;
            assert_eq!((&frame["op"], &frame["requestId"]), (&json!("create"), &json!(1)), "{frame}");
            ids.push(frame["object"]["objectId"].as_str().expect("objectId").to_owned());
        }
        ids
    });

    let payload = "x".repeat(20 * 1024);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut created = Vec::with_capacity(OBJECTS);
    let writing = async {
        for n in 0..OBJECTS {
            let start = Instant::now();
            created.push(save(&server, "Blob", json!({"n": n, "payload": payload})).await);
            slowest = slowest.max(start.elapsed());
        }
    };
    // A bound, not a speed test: a writer held up by the stalled client would never finish.
    tokio::time::timeout(Duration::from_secs(30), writing)
        .await
        .unwrap_or_else(|_| panic!("{OBJECTS} creates did not finish within 30 s (slowest so far {slowest:?})"));
    let elapsed = started.elapsed();

    let received = reading.await.expect("the reading client");
    let first_difference = received.iter().zip(&created).position(|(got, made)| got != made);
    assert!(
        received == created,
        "the reading client got every event, in order: {} received, {} created, first difference at {first_difference:?}",
        received.len(),
        created.len()
    );

    // The stalled client now reads: what was queued for it (the first events, in order), then the
    // server's word that it fell behind, then the end of the connection.
    let mut queued = Vec::new();
    let mut told = false;
    loop {
        match stalled.next_message("the stalled client's queued frames and then the close").await {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                assert!(!told, "a frame after the fell-behind error: {frame}");
                if frame["op"] == "error" {
                    assert_eq!((&frame["code"], &frame["reconnect"]), (&json!(1), &json!(true)), "{frame}");
                    assert!(frame["error"].as_str().is_some_and(|error| error.contains("fell behind")), "{frame}");
                    told = true;
                } else {
                    assert_eq!((&frame["op"], &frame["requestId"]), (&json!("create"), &json!(1)), "{frame}");
                    queued.push(frame["object"]["objectId"].as_str().expect("objectId").to_owned());
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
        }
    }
    assert!(
        !queued.is_empty() && queued.len() < OBJECTS,
        "the stalled client got {} of {OBJECTS} events; writes took {elapsed:?}, the slowest {slowest:?}",
        queued.len()
    );
    assert_eq!(queued, created[..queued.len()], "what reached the stalled client is a prefix, in order");
}

#[tokio::test]
async fn malformed_frames_are_ignored_or_answered_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    create_class(&server, "Note").await;
    let mut ws = Socket::open(&server).await;
    let client_id = ws.connect(json!({})).await;

    // Not JSON: ignored (Parse compat), so the next answer is the subscribe's.
    ws.send_text("this is not JSON").await;
    ws.send_text(r#"{"op": "subscribe", "requestId": 1,"#).await;
    ws.subscribe(1, json!({"className": "Note", "where": {}}), None).await;

    ws.send(json!({"op": "frobnicate", "requestId": 2})).await;
    assert_eq!(
        ws.next("the error for an unknown op").await,
        json!({"op": "error", "error": "No enum match for: \"frobnicate\"", "code": 1, "reconnect": true, "requestId": null})
    );

    let id = save(&server, "Note", json!({"title": "after the junk"})).await;
    let frame = ws.next("the create").await;
    assert_eq!(event(&frame), ("create", 1, id.as_str()), "{frame}");
    assert_eq!(frame["clientId"], json!(client_id), "{frame}");
}

#[tokio::test]
async fn keys_and_fields_limit_what_events_carry() {
    let server = TestServer::start().await;
    create_class(&server, "Card").await;
    let mut ws = Socket::open(&server).await;
    ws.connect(json!({})).await;
    ws.subscribe(1, json!({"className": "Card", "where": {}, "keys": ["name"]}), None).await;
    ws.subscribe(2, json!({"className": "Card", "where": {}, "fields": ["score"]}), None).await;

    let id = save(&server, "Card", json!({"name": "a", "score": 1, "secret": "s"})).await;
    let mut frames = [ws.next("a create").await, ws.next("another create").await];
    frames.sort_by_key(|frame| frame["requestId"].as_i64());
    let always = ["objectId", "createdAt", "updatedAt", "className"];
    let with = |field: &'static str| always.iter().copied().chain([field]).collect::<BTreeSet<&str>>();
    assert_eq!(event(&frames[0]), ("create", 1, id.as_str()), "{}", frames[0]);
    assert_eq!(keys(&frames[0]["object"]), with("name"), "{}", frames[0]);
    assert_eq!(frames[0]["object"]["name"], "a");
    assert_eq!(event(&frames[1]), ("create", 2, id.as_str()), "{}", frames[1]);
    assert_eq!(keys(&frames[1]["object"]), with("score"), "{}", frames[1]);
    assert_eq!(frames[1]["object"]["score"], 1);

    let reply = server.master("PUT", &format!("/classes/Card/{id}"), Some(json!({"score": 2, "secret": "t"}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let mut frames = [ws.next("an update").await, ws.next("another update").await];
    frames.sort_by_key(|frame| frame["requestId"].as_i64());
    assert_eq!(event(&frames[0]), ("update", 1, id.as_str()), "{}", frames[0]);
    assert_eq!((keys(&frames[0]["object"]), keys(&frames[0]["original"])), (with("name"), with("name")));
    assert_eq!(event(&frames[1]), ("update", 2, id.as_str()), "{}", frames[1]);
    assert_eq!((keys(&frames[1]["object"]), keys(&frames[1]["original"])), (with("score"), with("score")));
    assert_eq!((&frames[1]["object"]["score"], &frames[1]["original"]["score"]), (&json!(2), &json!(1)));
}

#[tokio::test]
async fn a_master_key_connection_sees_objects_nobody_else_can_read() {
    let server = TestServer::start().await;
    create_class(&server, "Vault").await;
    let query = json!({"className": "Vault", "where": {}});
    let mut master = Socket::open(&server).await;
    master.connect(json!({"masterKey": MASTER_KEY})).await;
    master.subscribe(1, query.clone(), None).await;
    let mut anonymous = Socket::open(&server).await;
    anonymous.connect(json!({})).await;
    anonymous.subscribe(1, query.clone(), None).await;
    let mut wrong_key = Socket::open(&server).await;
    wrong_key.connect(json!({"masterKey": "not-the-master-key"})).await;
    wrong_key.subscribe(1, query, None).await;

    let locked = save(&server, "Vault", json!({"title": "locked", "ACL": {}})).await;
    let public = save(&server, "Vault", json!({"title": "public"})).await;

    let frame = master.next("the locked object").await;
    assert_eq!(event(&frame), ("create", 1, locked.as_str()), "{frame}");
    assert_eq!(frame["object"]["ACL"], json!({}), "{frame}");
    let frame = master.next("the public object").await;
    assert_eq!(event(&frame), ("create", 1, public.as_str()), "{frame}");
    for (who, ws) in [("anonymous", &mut anonymous), ("wrong master key", &mut wrong_key)] {
        let frame = ws.next("the public object").await;
        assert_eq!(event(&frame), ("create", 1, public.as_str()), "{who} learnt of the locked object: {frame}");
    }
}

#[tokio::test]
async fn an_in_query_subscription_is_accepted_and_never_fires() {
    let server = TestServer::start().await;
    let author = save(&server, "Author", json!({"name": "Ann"})).await;
    let by_ann = json!({"__type": "Pointer", "className": "Author", "objectId": author});
    save(&server, "Book", json!({"title": "seed", "author": by_ann})).await;
    create_class(&server, "Flag").await;
    let mut ws = Socket::open(&server).await;
    ws.connect(json!({})).await;
    let where_json = json!({"author": {"$inQuery": {"className": "Author", "where": {"name": "Ann"}}}});
    ws.subscribe(1, json!({"className": "Book", "where": where_json}), None).await;
    ws.subscribe(2, json!({"className": "Flag", "where": {}}), None).await;

    // A book the $inQuery matches (a find with the same where returns it), created and changed.
    let book = save(&server, "Book", json!({"title": "by Ann", "author": by_ann})).await;
    let found = server
        .master(
            "GET",
            &format!("/classes/Book?where={}", json!({"objectId": book, "author": where_json["author"]})),
            None,
        )
        .await;
    assert_eq!(found.body["results"].as_array().map(Vec::len), Some(1), "{found:?}");
    let reply = server.master("PUT", &format!("/classes/Book/{book}"), Some(json!({"title": "by Ann, revised"}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    let flag = save(&server, "Flag", json!({"seed": false})).await;
    let frame = ws.next("the flag").await;
    assert_eq!(event(&frame), ("create", 2, flag.as_str()), "the $inQuery subscription fired: {frame}");
}

/// A write builds an event only for a class someone watches; the count of watchers must never
/// drop to zero while a subscription remains — after one of two unsubscribes, after a
/// subscription is replaced by one on another class, after a watching connection closes.
#[tokio::test]
async fn events_reach_the_remaining_watchers_of_a_class_as_others_leave() {
    let server = TestServer::start().await;
    create_class(&server, "Watch").await;
    create_class(&server, "Other").await;
    let watch = json!({"className": "Watch", "where": {}});
    let mut first = Socket::open(&server).await;
    first.connect(json!({})).await;
    first.subscribe(1, watch.clone(), None).await;
    let mut second = Socket::open(&server).await;
    second.connect(json!({})).await;
    second.subscribe(1, watch.clone(), None).await;

    first.send(json!({"op": "unsubscribe", "requestId": 1})).await;
    assert_eq!(first.next("unsubscribed").await["op"], "unsubscribed");
    let id = save(&server, "Watch", json!({"n": 1})).await;
    assert_eq!(event(&second.next("the create").await), ("create", 1, id.as_str()));

    // The first connection watches again under another request id; the second's request 1 is
    // replaced by a subscription to another class.
    first.subscribe(2, watch.clone(), None).await;
    second.subscribe(1, json!({"className": "Other", "where": {}}), None).await;
    let id = save(&server, "Watch", json!({"n": 2})).await;
    assert_eq!(event(&first.next("the create").await), ("create", 2, id.as_str()));
    let other = save(&server, "Other", json!({"n": 3})).await;
    assert_eq!(event(&second.next("the create on Other").await), ("create", 1, other.as_str()));

    // A third watcher; the first connection closes; the third still hears.
    let mut third = Socket::open(&server).await;
    third.connect(json!({})).await;
    third.subscribe(7, watch, None).await;
    drop(first);
    let id = save(&server, "Watch", json!({"n": 4})).await;
    assert_eq!(event(&third.next("the create").await), ("create", 7, id.as_str()));
}
