//! Several `basalt serve` processes on one PostgreSQL database (issue: scale-out): a write on
//! one node is read on another at once; a schema change made on one node governs requests on
//! the others; LiveQuery subscribers on every node receive every node's events exactly once,
//! including events larger than NOTIFY's 8000-byte payload; webhooks declared or removed on one
//! node route calls on the others; update operators sent to several nodes at once lose nothing;
//! sessions, roles and config changed on one node hold on the others at once.
//!
//! Nothing sleeps. A node applies the messages of another node in the order that node sent
//! them, so once a subscriber on node B has the event of a write made on node A after a schema
//! change on A, node B has applied the schema change too.

use std::collections::BTreeSet;

use basalt_test_support::{APP_ID, MASTER_KEY, TestDatabase, postgres_server};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{Keys, Running, call, create, get, http_client, serve, start};
use crate::live_query::Socket;

/// Nodes on a database of their own, dropped with the cluster (after the nodes: fields drop in
/// order).
struct Cluster {
    nodes: Vec<Running>,
    _data_dirs: Vec<tempfile::TempDir>,
    _database: TestDatabase,
}

impl Cluster {
    async fn start(size: usize) -> Cluster {
        let database = TestDatabase::new(&postgres_server(), "cluster");
        let uri = database.uri();
        // All at once, on a database that does not exist yet: they race to create it and to
        // set it up.
        let data_dirs: Vec<tempfile::TempDir> = (0..size).map(|_| tempfile::tempdir().expect("temp dir")).collect();
        let flags = ["--app-id", APP_ID, "--master-key", MASTER_KEY, "--database-uri", uri.as_str()];
        let nodes =
            futures_util::future::join_all(data_dirs.iter().map(|data_dir| start(serve(data_dir.path(), &flags))))
                .await;
        Cluster { nodes, _data_dirs: data_dirs, _database: database }
    }

    fn url(&self, node: usize) -> &str {
        &self.nodes[node].base_url
    }

    /// A LiveQuery connection to `node` with the master key, subscribed to every `class_name`
    /// object as request 1.
    async fn subscriber(&self, node: usize, class_name: &str) -> Socket {
        let url = self.url(node).replacen("http://", "ws://", 1);
        let mut socket = Socket::open_url(&url).await;
        socket.connect(json!({"masterKey": MASTER_KEY})).await;
        socket.subscribe(1, json!({"className": class_name, "where": {}}), None).await;
        socket
    }

    /// Stops every node, each expected to exit cleanly; the database goes with `self`.
    async fn stop(self) {
        for node in self.nodes {
            assert!(node.terminate().await.success(), "a node exits cleanly");
        }
    }
}

/// The next `create` event's object.
async fn next_created(socket: &mut Socket) -> Value {
    let frame = socket.next("a create event").await;
    assert_eq!(frame["op"], "create", "{frame}");
    frame["object"].clone()
}

#[tokio::test]
async fn nodes_on_one_database_share_writes_schema_changes_and_live_query_events() {
    let cluster = Cluster::start(3).await;
    let client = http_client();
    let keys = Keys::new(APP_ID, MASTER_KEY);
    let (status, reply) =
        call(&client, &keys, Method::POST, &format!("{}/schemas/Note", cluster.url(0)), Some(&json!({}))).await;
    assert_eq!(status, 200, "{reply}");
    let mut subscribers = Vec::new();
    for node in 0..3 {
        subscribers.push(cluster.subscriber(node, "Note").await);
    }

    // Writes spread over the nodes; each is readable on the next node at once.
    let mut written = BTreeSet::new();
    for n in 0..12 {
        let id = create(&client, &keys, cluster.url(n % 3), "Note", &json!({"n": n})).await;
        let (status, object) = get(&client, &keys, cluster.url((n + 1) % 3), "Note", &id).await;
        assert_eq!((status, &object["n"]), (200, &json!(n)), "{object}");
        written.insert(id);
    }
    // Every subscriber sees every write once. Then one marker per node: each node's events
    // arrive in its order, so after all three markers any duplicate would have arrived.
    for (node, socket) in subscribers.iter_mut().enumerate() {
        let mut seen = BTreeSet::new();
        while seen.len() < written.len() {
            let object = next_created(socket).await;
            let id = object["objectId"].as_str().expect("objectId").to_owned();
            assert!(written.contains(&id), "node {node}: an event for an object nobody wrote: {object}");
            assert!(seen.insert(id), "node {node}: an event arrived twice: {object}");
        }
    }
    for node in 0..3 {
        create(&client, &keys, cluster.url(node), "Note", &json!({"marker": node})).await;
    }
    for (node, socket) in subscribers.iter_mut().enumerate() {
        let mut markers = BTreeSet::new();
        while markers.len() < 3 {
            let object = next_created(socket).await;
            assert!(object["marker"].is_number(), "node {node}: an extra event: {object}");
            assert!(markers.insert(object["marker"].to_string()), "node {node}: a marker arrived twice");
        }
    }

    // A schema change on node 0 (no public find) governs node 1 and 2 once they have node 0's
    // next event.
    let public_find = |node: usize| {
        let client = client.clone();
        let url = format!("{}/classes/Note", cluster.url(node));
        async move {
            let response = client.get(url).header("X-Parse-Application-Id", APP_ID).send().await.expect("public find");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for node in 0..3 {
        assert_eq!(public_find(node).await.0, 200, "public find allowed before the change");
    }
    let permissions = json!({"classLevelPermissions": {
        "find": {}, "count": {}, "get": {"*": true}, "create": {"*": true},
        "update": {"*": true}, "delete": {"*": true}, "addField": {}, "protectedFields": {"*": []}
    }});
    let (status, reply) =
        call(&client, &keys, Method::PUT, &format!("{}/schemas/Note", cluster.url(0)), Some(&permissions)).await;
    assert_eq!(status, 200, "{reply}");
    create(&client, &keys, cluster.url(0), "Note", &json!({"after": "the change"})).await;
    for (node, socket) in subscribers.iter_mut().enumerate() {
        let object = next_created(socket).await;
        assert_eq!(object["after"], "the change", "node {node}: {object}");
        let (status, body) = public_find(node).await;
        assert_eq!((status, &body["code"]), (400, &json!(119)), "node {node} applies the new permissions: {body}");
    }

    // An event larger than NOTIFY's payload limit reaches the other nodes whole.
    let text = "x".repeat(20_000);
    create(&client, &keys, cluster.url(2), "Note", &json!({"text": text})).await;
    for (node, socket) in subscribers.iter_mut().enumerate() {
        let object = next_created(socket).await;
        assert_eq!(object["text"].as_str().map(str::len), Some(20_000), "node {node}");
    }

    // Webhooks declared on node 0 route calls on the others once they have node 0's next event
    // (nothing listens on port 1, so a routed call fails naming the webhook's URL), and so does
    // their removal.
    let function_call = |node: usize| {
        let client = client.clone();
        let keys = keys.clone();
        let url = format!("{}/functions/remote", cluster.url(node));
        async move { call(&client, &keys, Method::POST, &url, Some(&json!({}))).await.1 }
    };
    let declared = json!({"functionName": "remote", "url": "http://127.0.0.1:1/remote"});
    for node in 1..3 {
        assert_eq!(function_call(node).await["error"], "Invalid function: \"remote\"");
    }
    let (status, reply) =
        call(&client, &keys, Method::POST, &format!("{}/hooks/functions", cluster.url(0)), Some(&declared)).await;
    assert_eq!(status, 200, "{reply}");
    create(&client, &keys, cluster.url(0), "Note", &json!({"after": "the webhook"})).await;
    for (node, socket) in subscribers.iter_mut().enumerate() {
        assert_eq!(next_created(socket).await["after"], "the webhook");
        let reply = function_call(node).await;
        let routed = reply["error"].as_str().is_some_and(|error| error.contains("http://127.0.0.1:1/remote"));
        assert!(routed, "node {node} routes the call to the webhook: {reply}");
    }
    let removal = json!({"__op": "Delete"});
    let (status, reply) =
        call(&client, &keys, Method::PUT, &format!("{}/hooks/functions/remote", cluster.url(0)), Some(&removal)).await;
    assert_eq!(status, 200, "{reply}");
    create(&client, &keys, cluster.url(0), "Note", &json!({"after": "the removal"})).await;
    for (node, socket) in subscribers.iter_mut().enumerate() {
        assert_eq!(next_created(socket).await["after"], "the removal");
        assert_eq!(function_call(node).await["error"], "Invalid function: \"remote\"", "node {node}");
    }

    drop(subscribers);
    cluster.stop().await;
}

#[tokio::test]
async fn sessions_roles_config_and_atomic_operators_hold_across_nodes() {
    let cluster = Cluster::start(3).await;
    let client = http_client();
    let keys = Keys::new(APP_ID, MASTER_KEY);
    let as_user = |node: usize, method: Method, path: &str, token: &str, body: Option<Value>| {
        let request = client
            .request(method, format!("{}{path}", cluster.url(node)))
            .header("X-Parse-Application-Id", APP_ID)
            .header("X-Parse-Session-Token", token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // Increments and AddUnique sent to all three nodes at once: none is lost.
    let id = create(&client, &keys, cluster.url(0), "Counter", &json!({"n": 0, "seen": []})).await;
    let mut writes = Vec::new();
    for k in 0..30 {
        let client = client.clone();
        let keys = keys.clone();
        let url = format!("{}/classes/Counter/{id}", cluster.url(k % 3));
        let body = json!({"n": {"__op": "Increment", "amount": 1}, "seen": {"__op": "AddUnique", "objects": [k % 7]}});
        writes.push(tokio::spawn(async move { call(&client, &keys, Method::PUT, &url, Some(&body)).await.0 }));
    }
    for write in writes {
        assert_eq!(write.await.expect("a write task"), 200);
    }
    let (_, counter) = get(&client, &keys, cluster.url(1), "Counter", &id).await;
    assert_eq!(counter["n"], 30, "{counter}");
    let mut seen: Vec<i64> = counter["seen"].as_array().expect("seen").iter().filter_map(Value::as_i64).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..7).collect::<Vec<i64>>());

    // A user signed up on node 0 logs in on node 1; her session, ended on node 2, is refused on
    // node 0 at once.
    let (status, user) = call(
        &client,
        &keys,
        Method::POST,
        &format!("{}/users", cluster.url(0)),
        Some(&json!({"username": "ada", "password": "analytical engine"})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["objectId"].as_str().expect("objectId").to_owned();
    let login = client
        .get(format!("{}/login?username=ada&password=analytical%20engine", cluster.url(1)))
        .header("X-Parse-Application-Id", APP_ID)
        .send()
        .await
        .expect("log in");
    assert_eq!(login.status().as_u16(), 200);
    let token = login.json::<Value>().await.expect("json")["sessionToken"].as_str().expect("token").to_owned();
    assert_eq!(as_user(0, Method::GET, "/users/me", &token, None).await.0, 200);

    // A role granted on node 1 opens, on node 2, an object only that role may read.
    let secret =
        create(&client, &keys, cluster.url(0), "Secret", &json!({"ACL": {"role:Staff": {"read": true}}})).await;
    assert_eq!(as_user(2, Method::GET, &format!("/classes/Secret/{secret}"), &token, None).await.0, 404);
    let (status, reply) = call(
        &client,
        &keys,
        Method::POST,
        &format!("{}/roles", cluster.url(1)),
        Some(&json!({"name": "Staff", "ACL": {"*": {"read": true}},
            "users": {"__op": "AddRelation", "objects": [{"__type": "Pointer", "className": "_User", "objectId": user_id}]}})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(as_user(2, Method::GET, &format!("/classes/Secret/{secret}"), &token, None).await.0, 200);

    // Config saved on node 2 is what node 0 serves.
    let (status, reply) = call(
        &client,
        &keys,
        Method::PUT,
        &format!("{}/config", cluster.url(2)),
        Some(&json!({"params": {"motd": "hi"}})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (_, config) = call(&client, &keys, Method::GET, &format!("{}/config", cluster.url(0)), None).await;
    assert_eq!(config["params"]["motd"], "hi", "{config}");

    // Log-out on node 2; node 0 refuses the token.
    assert_eq!(as_user(2, Method::POST, "/logout", &token, Some(json!({}))).await.0, 200);
    let (status, reply) = as_user(0, Method::GET, "/users/me", &token, None).await;
    assert_eq!((status, &reply["code"]), (400, &json!(209)), "{reply}");

    cluster.stop().await;
}

/// A node on PostgreSQL with files on its local disk says, when it starts, that every node must
/// share that directory (or use S3); on SQLite (one node) it says nothing of the kind.
#[tokio::test]
async fn a_node_on_postgres_with_local_files_warns_that_they_must_be_shared() {
    let cluster = Cluster::start(1).await;
    let banner = cluster.nodes[0].banner.join("\n");
    assert!(banner.contains("every node serving this database must use that same directory"), "{banner}");
    cluster.stop().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let single = start(serve(data_dir.path(), &["--app-id", APP_ID, "--master-key", MASTER_KEY])).await;
    assert!(!single.banner.join("\n").contains("every node serving"), "{:?}", single.banner);
    assert!(single.terminate().await.success());
}

/// The schema API reads the schema as stored, not as this node last heard of it: a class made,
/// changed or deleted on node 0 is seen that way by the next request on node 1, before node 1
/// has the announcement.
#[tokio::test]
async fn the_schema_api_on_one_node_sees_changes_just_made_on_another() {
    let cluster = Cluster::start(2).await;
    let client = http_client();
    let keys = Keys::new(APP_ID, MASTER_KEY);
    let schemas = |node: usize, class: &str| format!("{}/schemas/{class}", cluster.url(node));
    for round in 0..5 {
        let class = format!("Fresh{round}");
        let (status, reply) = call(&client, &keys, Method::POST, &schemas(0, &class), Some(&json!({}))).await;
        assert_eq!(status, 200, "{reply}");
        let (status, reply) = call(&client, &keys, Method::GET, &schemas(1, &class), None).await;
        assert_eq!(status, 200, "a class created on node 0: {reply}");
        let (_, listed) = call(&client, &keys, Method::GET, &format!("{}/schemas", cluster.url(1)), None).await;
        let names: BTreeSet<&str> = listed["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|schema| schema["className"].as_str())
            .collect();
        assert!(names.contains(class.as_str()), "{listed}");
        let add = json!({"fields": {"size": {"type": "Number"}}});
        let (status, reply) = call(&client, &keys, Method::PUT, &schemas(1, &class), Some(&add)).await;
        assert_eq!(status, 200, "a field added on node 1: {reply}");
        // Deleted on node 0 and added again with another type on node 1.
        let drop = json!({"fields": {"size": {"__op": "Delete"}}});
        let (status, reply) = call(&client, &keys, Method::PUT, &schemas(0, &class), Some(&drop)).await;
        assert_eq!(status, 200, "{reply}");
        let retyped = json!({"fields": {"size": {"type": "String"}}});
        let (status, reply) = call(&client, &keys, Method::PUT, &schemas(1, &class), Some(&retyped)).await;
        assert_eq!((status, &reply["fields"]["size"]), (200, &json!({"type": "String"})), "{reply}");
        // Deleted on node 1; gone on node 0.
        let (status, reply) = call(&client, &keys, Method::DELETE, &schemas(1, &class), None).await;
        assert_eq!(status, 200, "{reply}");
        let (status, reply) = call(&client, &keys, Method::GET, &schemas(0, &class), None).await;
        assert_eq!((status, &reply["code"]), (400, &json!(103)), "a class deleted on node 1: {reply}");
    }
    cluster.stop().await;
}

/// A field protected on node 0 is hidden from node 2's subscribers in the event of a write made
/// on node 1 right after. PostgreSQL hands node 2 the notifications in commit order, and node 2
/// applies them in order; the event also carries the schema version it was written under, and
/// a node behind it loads at least that schema before delivering.
#[tokio::test]
async fn a_field_protected_on_one_node_is_hidden_in_events_written_on_another() {
    let cluster = Cluster::start(3).await;
    let client = http_client();
    let keys = Keys::new(APP_ID, MASTER_KEY);
    let schema = format!("{}/schemas/Notice", cluster.url(0));
    let (status, reply) = call(&client, &keys, Method::POST, &schema, Some(&json!({}))).await;
    assert_eq!(status, 200, "{reply}");
    let url = cluster.url(2).replacen("http://", "ws://", 1);
    let mut socket = Socket::open_url(&url).await;
    socket.connect(json!({})).await;
    socket.subscribe(1, json!({"className": "Notice", "where": {}}), None).await;
    let mut protected = Vec::new();
    for round in 0..10 {
        // Protections only grow, so whatever newer schema node 2 loads hides this round's field.
        let field = format!("p{round}");
        protected.push(field.clone());
        let clp = json!({"classLevelPermissions": {"find": {"*": true}, "get": {"*": true},
            "protectedFields": {"*": protected}}});
        let (status, reply) = call(&client, &keys, Method::PUT, &schema, Some(&clp)).await;
        assert_eq!(status, 200, "{reply}");
        let written = create(&client, &keys, cluster.url(1), "Notice", &json!({field.clone(): "secret"})).await;
        let object = next_created(&mut socket).await;
        assert_eq!(object["objectId"], json!(written));
        assert!(object.get(&field).is_none(), "round {round}: the protected {field} arrived: {object}");
    }
    cluster.stop().await;
}

/// Writes made one after another (each answered before the next starts) on different nodes reach
/// a subscriber in that order, also when the later one is made on the subscriber's own node: a
/// node delivers its own events when their announcement comes back, and a write is answered only
/// once its announcement is sent.
#[tokio::test]
async fn events_of_writes_on_different_nodes_arrive_in_the_order_they_were_answered() {
    let cluster = Cluster::start(2).await;
    let client = http_client();
    let keys = Keys::new(APP_ID, MASTER_KEY);
    let (status, reply) =
        call(&client, &keys, Method::POST, &format!("{}/schemas/Step", cluster.url(0)), Some(&json!({}))).await;
    assert_eq!(status, 200, "{reply}");
    let mut socket = cluster.subscriber(0, "Step").await;
    for round in 0..20 {
        let remote = create(&client, &keys, cluster.url(1), "Step", &json!({"round": round, "on": 1})).await;
        let local = create(&client, &keys, cluster.url(0), "Step", &json!({"round": round, "on": 0})).await;
        let first = next_created(&mut socket).await;
        let second = next_created(&mut socket).await;
        assert_eq!((&first["objectId"], &second["objectId"]), (&json!(remote), &json!(local)), "round {round}");
    }
    cluster.stop().await;
}

/// A LiveQuery subscriber on node 1 whose session is ended on node 0 hears no private event of
/// a later write: the log-out is announced before it is answered, and node 1 applies node 0's
/// messages in order.
#[tokio::test]
async fn a_session_ended_on_one_node_stops_private_live_query_events_on_another() {
    let cluster = Cluster::start(2).await;
    let client = http_client();
    let keys = Keys::new(APP_ID, MASTER_KEY);
    let (status, reply) =
        call(&client, &keys, Method::POST, &format!("{}/schemas/Diary", cluster.url(0)), Some(&json!({}))).await;
    assert_eq!(status, 200, "{reply}");
    let signed_up = client
        .post(format!("{}/users", cluster.url(0)))
        .header("X-Parse-Application-Id", APP_ID)
        .json(&json!({"username": "ada", "password": "analytical engine"}))
        .send()
        .await
        .expect("sign up");
    let user: Value = signed_up.json().await.expect("json");
    let (user_id, token) = (user["objectId"].as_str().expect("id"), user["sessionToken"].as_str().expect("token"));

    let url = cluster.url(1).replacen("http://", "ws://", 1);
    let mut socket = Socket::open_url(&url).await;
    socket.connect(json!({"sessionToken": token})).await;
    socket.subscribe(1, json!({"className": "Diary", "where": {}}), Some(token)).await;
    let private = json!({"ACL": {user_id: {"read": true}}});
    let first = create(&client, &keys, cluster.url(0), "Diary", &private).await;
    assert_eq!(next_created(&mut socket).await["objectId"], json!(first));

    let logged_out = client
        .post(format!("{}/logout", cluster.url(0)))
        .header("X-Parse-Application-Id", APP_ID)
        .header("X-Parse-Session-Token", token)
        .json(&json!({}))
        .send()
        .await
        .expect("log out");
    assert_eq!(logged_out.status().as_u16(), 200);
    let hidden = create(&client, &keys, cluster.url(0), "Diary", &private).await;
    let marker = create(&client, &keys, cluster.url(0), "Diary", &json!({"ACL": {"*": {"read": true}}})).await;
    let frame = next_created(&mut socket).await;
    assert_eq!(frame["objectId"], json!(marker), "the private {hidden} arrived after the log-out: {frame}");
    cluster.stop().await;
}

/// A node whose schemas are behind (another node added a field and wrote a row holding it after
/// this node checked the version) would read that row without the field. The PostgreSQL store
/// reads the stored schema version with the rows and refuses to answer from a stale schema;
/// the engine reloads and asks again.
#[tokio::test]
async fn a_read_compiled_against_a_schema_another_node_changed_is_refused_not_torn() {
    use std::sync::Arc;

    use basalt_core::acl::Access;
    use basalt_core::query::{Condition, FieldPath};
    use basalt_core::update::UpdateOp;
    use basalt_core::{ClassName, FieldName, FieldType};
    use basalt_store::{FieldUpdate, FindQuery, Schemas, Store, StoreError, StoreErrorKind, WriteOp};

    let database = TestDatabase::new(&postgres_server(), "stale_schema");
    let store = basalt_store::postgres::PgStore::connect(&database.uri()).await.expect("connect");
    let class_name = ClassName::parse("Item").expect("class name");
    let field = |name: &str| FieldName::parse(name).expect("field name");
    let schemas_of = |schema| Arc::new(Schemas::from([(class_name.clone(), Arc::new(schema))]));
    let behind =
        schemas_of(store.ensure_fields(&class_name, vec![(field("a"), FieldType::Number)], true).await.expect("a"));
    // Another node: a new field, and an object holding it.
    let current =
        schemas_of(store.ensure_fields(&class_name, vec![(field("b"), FieldType::String)], false).await.expect("b"));
    let insert = WriteOp::Insert {
        class_name: class_name.clone(),
        object_id: "o1".into(),
        created_at: "2026-11-30T00:00:00.000Z".into(),
        acl: None,
        updates: vec![FieldUpdate {
            path: FieldPath { field: "b".into(), sub_keys: Vec::new() },
            op: UpdateOp::Set(json!("new")),
        }],
    };
    for outcome in store.write(Arc::clone(&current), vec![insert], true).await.expect("write") {
        outcome.expect("insert");
    }
    let query = FindQuery {
        class_name: class_name.clone(),
        condition: Condition::all(),
        order: Vec::new(),
        limit: None,
        skip: 0,
        fields: None,
        access: Access::Master,
    };
    match store.find(behind, &query).await {
        Err(StoreError::Driver { kind: StoreErrorKind::SchemaChanged, .. }) => {}
        other => panic!("a read from a stale schema answered {other:?}"),
    }
    let found = store.find(current, &query).await.expect("find");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].fields.get("b"), Some(&json!("new")));
}
