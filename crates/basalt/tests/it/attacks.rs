//! The attack catalogue: each way a caller once read more than it may, tried as an attacker
//! would over real HTTP and WebSocket. Every test failed before the read gate
//! (`basalt_engine`'s `gate.rs`) and the LiveQuery session checks existed.
//!
//! "Never arrives" on a socket is shown as in `live_query.rs`: the hidden write first, a visible
//! marker after it; events reach a connection in commit order.

use std::sync::Arc;

use basalt_engine::{AuthConfig, ManualClock};
use basalt_test_support::{APP_ID, Reply, TestOptions, TestServer};
use serde_json::{Value, json};

use crate::cli::urlencode;
use crate::live_query::Socket;

/// A client request (app id, no master key) with an optional session token.
async fn user_call(server: &TestServer, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    let mut headers = vec![("X-Parse-Application-Id", APP_ID), ("Content-Type", "application/json")];
    if let Some(token) = token {
        headers.push(("X-Parse-Session-Token", token));
    }
    let body = body.map(|body| body.to_string());
    server.raw(method, path, &headers, body.as_deref()).await
}

/// A find as a client: `GET /classes/{class}?{params}` with `where` and the rest as JSON.
async fn find(server: &TestServer, class_name: &str, token: Option<&str>, params: Value) -> Reply {
    let mut query = Vec::new();
    for (key, value) in params.as_object().expect("params object") {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        query.push(format!("{key}={}", urlencode(&text)));
    }
    user_call(server, "GET", &format!("/classes/{class_name}?{}", query.join("&")), token, None).await
}

/// Signs up `username`; returns (objectId, sessionToken).
async fn signed_up(server: &TestServer, username: &str) -> (String, String) {
    let body = json!({"username": username, "password": "correct horse", "email": format!("{username}@example.com")});
    let reply = user_call(server, "POST", "/users", None, Some(body)).await;
    assert_eq!(reply.status, 201, "sign-up of {username}: {reply:?}");
    (text(&reply, "objectId"), text(&reply, "sessionToken"))
}

#[track_caller]
fn text(reply: &Reply, key: &str) -> String {
    reply.body[key].as_str().unwrap_or_else(|| panic!("{key} in {reply:?}")).to_owned()
}

async fn save(server: &TestServer, class_name: &str, body: Value) -> String {
    let reply = server.master("POST", &format!("/classes/{class_name}"), Some(body)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    text(&reply, "objectId")
}

fn pointer(class_name: &str, object_id: &str) -> Value {
    json!({"__type": "Pointer", "className": class_name, "objectId": object_id})
}

/// The objectId of `user`'s session (read with the master key).
async fn session_of(server: &TestServer, user_id: &str) -> String {
    let sessions = server.master("GET", "/classes/_Session", None).await;
    let session = sessions.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|session| session["user"]["objectId"] == json!(user_id))
        .unwrap_or_else(|| panic!("a session of {user_id} in {sessions:?}"));
    session["objectId"].as_str().expect("objectId").to_owned()
}

#[track_caller]
fn assert_refused(reply: &Reply, code: i64) {
    assert!(reply.status >= 400 && reply.status < 500, "{reply:?}");
    assert_eq!(reply.body["code"], json!(code), "{reply:?}");
}

#[track_caller]
fn count_of(reply: &Reply) -> i64 {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["count"].as_i64().unwrap_or_else(|| panic!("count in {reply:?}"))
}

#[tokio::test]
async fn another_users_session_token_cannot_be_guessed_through_sub_query_counts() {
    let server = TestServer::start().await;
    let (victim, victim_token) = signed_up(&server, "victim").await;
    let (_, attacker_token) = signed_up(&server, "attacker").await;
    let victim_session = session_of(&server, &victim).await;
    save(
        &server,
        "Probe",
        json!({"owner": pointer("_User", &victim), "session": pointer("_Session", &victim_session)}),
    )
    .await;
    // The victim's token is `r:` + hex; the attacker tries the right next character and a wrong
    // one through each sub-query form. Both must count the same: nothing.
    let right = &victim_token[..3];
    let wrong = if victim_token.as_bytes()[2] == b'0' { "r:1" } else { "r:0" };
    for prefix in [right, wrong] {
        let sessions = json!({"className": "_Session", "where": {"sessionToken": {"$regex": format!("^{prefix}")}}});
        let forms = [
            json!({"owner": {"$select": {"query": sessions, "key": "user"}}}),
            json!({"session": {"$inQuery": sessions}}),
        ];
        for (index, where_json) in forms.iter().enumerate() {
            let params = json!({"where": where_json.to_string(), "count": 1, "limit": 0});
            let reply = find(&server, "Probe", Some(&attacker_token), params).await;
            assert_eq!(count_of(&reply), 0, "form {index} with prefix {prefix} revealed the victim's session");
        }
    }
    // The owner still finds through their own sessions.
    let sessions = json!({"className": "_Session", "where": {"sessionToken": {"$regex": format!("^{right}")}}});
    let where_json = json!({"owner": {"$select": {"query": sessions, "key": "user"}}});
    let reply = find(&server, "Probe", Some(&victim_token), json!({"where": where_json.to_string(), "count": 1})).await;
    assert_eq!(count_of(&reply), 1);
}

#[tokio::test]
async fn an_included_session_pointer_reveals_no_token() {
    let server = TestServer::start().await;
    let (victim, victim_token) = signed_up(&server, "victim").await;
    let (_, attacker_token) = signed_up(&server, "attacker").await;
    let victim_session = session_of(&server, &victim).await;
    save(&server, "Holder", json!({"session": pointer("_Session", &victim_session)})).await;
    for token in [None, Some(attacker_token.as_str())] {
        let reply = find(&server, "Holder", token, json!({"include": "session"})).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(!reply.body.to_string().contains(&victim_token), "the token leaked to {token:?}: {reply:?}");
        assert!(reply.body["results"][0].get("session").is_none(), "{reply:?}");
    }
    // Its owner sees it included.
    let reply = find(&server, "Holder", Some(&victim_token), json!({"include": "session"})).await;
    assert_eq!(reply.body["results"][0]["session"]["sessionToken"], json!(victim_token), "{reply:?}");
}

#[tokio::test]
async fn protected_fields_cannot_be_probed_through_any_sub_query_operator() {
    let server = TestServer::start().await;
    let (_, token) = signed_up(&server, "prober").await;
    let (victim, _) = signed_up(&server, "victim").await;
    let secret = save(&server, "Vault", json!({"pin": "1234", "label": "v"})).await;
    let clp = json!({"classLevelPermissions": {
        "find": {"*": true}, "get": {"*": true}, "count": {"*": true}, "create": {}, "update": {}, "delete": {},
        "addField": {}, "protectedFields": {"*": ["pin"]}}});
    let updated = server.master("PUT", "/schemas/Vault", Some(clp)).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    save(
        &server,
        "Probe",
        json!({"vault": pointer("Vault", &secret), "pin": "1234", "owner": pointer("_User", &victim)}),
    )
    .await;

    // Directly: refused.
    let direct = find(&server, "Vault", Some(&token), json!({"where": json!({"pin": "1234"}).to_string()})).await;
    assert_refused(&direct, 119);
    // Through every sub-query operator, and as the key of $select: refused too.
    let vault = json!({"className": "Vault", "where": {"pin": "1234"}});
    let users = json!({"className": "_User", "where": {"email": "victim@example.com"}});
    let by_key = json!({"query": {"className": "Vault", "where": {}}, "key": "pin"});
    let probes = [
        json!({"vault": {"$inQuery": vault}}),
        json!({"vault": {"$notInQuery": vault}}),
        json!({"pin": {"$select": by_key}}),
        json!({"pin": {"$dontSelect": by_key}}),
        json!({"owner": {"$inQuery": users}}),
        json!({"$or": [{"vault": {"$inQuery": {"className": "Vault", "where": {"$or": [{"pin": "1"}, {"pin": "1234"}]}}}}]}),
    ];
    for where_json in probes {
        for token in [None, Some(token.as_str())] {
            let params = json!({"where": where_json.to_string(), "count": 1, "limit": 0});
            let reply = find(&server, "Probe", token, params).await;
            assert_refused(&reply, 119);
        }
    }
    // Ordering by a protected field is refused as well.
    let ordered = find(&server, "Vault", Some(&token), json!({"order": "pin"})).await;
    assert_refused(&ordered, 119);
}

#[tokio::test]
async fn related_to_lists_nothing_of_an_owner_the_caller_cannot_read() {
    let server = TestServer::start().await;
    let (owner, owner_token) = signed_up(&server, "owner").await;
    let (_, stranger_token) = signed_up(&server, "stranger").await;
    let first = save(&server, "Item", json!({"n": 1})).await;
    let second = save(&server, "Item", json!({"n": 2})).await;
    let acl = json!({owner.clone(): {"read": true, "write": true}});
    let shelf = save(
        &server,
        "Shelf",
        json!({"ACL": acl, "items": {"__op": "AddRelation", "objects": [pointer("Item", &first), pointer("Item", &second)]}}),
    )
    .await;
    let related = json!({"$relatedTo": {"object": pointer("Shelf", &shelf), "key": "items"}}).to_string();
    for token in [None, Some(stranger_token.as_str())] {
        let reply = find(&server, "Item", token, json!({"where": related, "count": 1})).await;
        assert_eq!(reply.body["results"], json!([]), "{reply:?}");
        assert_eq!(count_of(&reply), 0);
    }
    let reply = find(&server, "Item", Some(&owner_token), json!({"where": related, "count": 1})).await;
    assert_eq!(count_of(&reply), 2);
    // The same inside a sub-query: tags of the shelf's items.
    save(&server, "Tag", json!({"item": pointer("Item", &first)})).await;
    let inner =
        json!({"className": "Item", "where": {"$relatedTo": {"object": pointer("Shelf", &shelf), "key": "items"}}});
    let tagged = json!({"item": {"$inQuery": inner}}).to_string();
    let reply = find(&server, "Tag", Some(&stranger_token), json!({"where": tagged, "count": 1})).await;
    assert_eq!(count_of(&reply), 0);
    let reply = find(&server, "Tag", Some(&owner_token), json!({"where": tagged, "count": 1})).await;
    assert_eq!(count_of(&reply), 1);

    // A protected relation field lists nothing to those it is hidden from: refused.
    let open_shelf =
        save(&server, "Shelf", json!({"items": {"__op": "AddRelation", "objects": [pointer("Item", &first)]}})).await;
    let clp = json!({"classLevelPermissions": {
        "find": {"*": true}, "get": {"*": true}, "count": {"*": true}, "create": {}, "update": {}, "delete": {},
        "addField": {}, "protectedFields": {"*": ["items"]}}});
    let updated = server.master("PUT", "/schemas/Shelf", Some(clp)).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    let related = json!({"$relatedTo": {"object": pointer("Shelf", &open_shelf), "key": "items"}}).to_string();
    let reply = find(&server, "Item", Some(&stranger_token), json!({"where": related, "count": 1})).await;
    assert_refused(&reply, 119);
}

/// A private object of `user_id` and then a public marker; asserts the first frame is the marker.
async fn assert_private_events_stopped(server: &TestServer, socket: &mut Socket, user_id: &str, why: &str) {
    let private = save(server, "Diary", json!({"text": why, "ACL": {user_id: {"read": true}}})).await;
    let marker = save(server, "Diary", json!({"text": "marker", "ACL": {"*": {"read": true}}})).await;
    let frame = socket.next("the marker").await;
    assert_eq!(
        frame["object"]["objectId"],
        json!(marker),
        "after {why}, the private object {private} was still delivered: {frame}"
    );
}

/// A socket subscribed to `Diary` with `token`; checks a private event arrives first.
async fn subscribed_diary(server: &TestServer, user_id: &str, token: &str) -> Socket {
    let mut socket = Socket::open_url(&format!("ws://{}/parse", server.address)).await;
    socket.connect(json!({"sessionToken": token})).await;
    socket.subscribe(1, json!({"className": "Diary", "where": {}}), Some(token)).await;
    let private = save(server, "Diary", json!({"text": "mine", "ACL": {user_id: {"read": true}}})).await;
    let frame = socket.next("the private object").await;
    assert_eq!(frame["object"]["objectId"], json!(private), "{frame}");
    socket
}

#[tokio::test]
async fn live_query_stops_private_events_when_the_session_ends() {
    let clock = Arc::new(ManualClock::starting_now());
    let auth = AuthConfig { session_length_secs: 3600, ..AuthConfig::default() };
    let server = TestServer::start_with(TestOptions {
        auth: Some(auth),
        clock: Some(Arc::clone(&clock)),
        ..TestOptions::default()
    })
    .await;
    let created = server.master("POST", "/schemas/Diary", Some(json!({"className": "Diary"}))).await;
    assert_eq!(created.status, 200, "{created:?}");

    // Log-out.
    let (user, token) = signed_up(&server, "writer").await;
    let mut socket = subscribed_diary(&server, &user, &token).await;
    let reply = user_call(&server, "POST", "/logout", Some(&token), Some(json!({}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_private_events_stopped(&server, &mut socket, &user, "a log-out").await;

    // The session deleted (by the master key).
    let login = json!({"username": "writer", "password": "correct horse"});
    let token = text(&user_call(&server, "POST", "/login", None, Some(login.clone())).await, "sessionToken");
    let mut socket = subscribed_diary(&server, &user, &token).await;
    let session = session_of(&server, &user).await;
    let deleted = server.master("DELETE", &format!("/classes/_Session/{session}"), None).await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_private_events_stopped(&server, &mut socket, &user, "the session's deletion").await;

    // A password change that revokes the other sessions.
    let token = text(&user_call(&server, "POST", "/login", None, Some(login.clone())).await, "sessionToken");
    let other = text(&user_call(&server, "POST", "/login", None, Some(login)).await, "sessionToken");
    let mut socket = subscribed_diary(&server, &user, &token).await;
    let changed =
        user_call(&server, "PUT", &format!("/users/{user}"), Some(&other), Some(json!({"password": "new horse"})))
            .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_private_events_stopped(&server, &mut socket, &user, "a password change").await;

    // Expiry.
    let login = json!({"username": "writer", "password": "new horse"});
    let token = text(&user_call(&server, "POST", "/login", None, Some(login)).await, "sessionToken");
    let mut socket = subscribed_diary(&server, &user, &token).await;
    clock.advance_millis(3_601_000);
    assert_private_events_stopped(&server, &mut socket, &user, "the session's expiry").await;

    // The user deleted.
    let (doomed, doomed_token) = signed_up(&server, "doomed").await;
    let mut socket = subscribed_diary(&server, &doomed, &doomed_token).await;
    let deleted = server.master("DELETE", &format!("/users/{doomed}"), None).await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_private_events_stopped(&server, &mut socket, &doomed, "the user's deletion").await;
}

#[tokio::test]
async fn live_query_takes_the_master_key_only_from_its_addresses() {
    let server = TestServer::start_with(TestOptions {
        master_key_ips: Some(vec!["10.9.9.9".parse().expect("ip")]),
        ..TestOptions::default()
    })
    .await;
    let mut socket = Socket::open_url(&format!("ws://{}/parse", server.address)).await;
    socket.send(json!({"op": "connect", "applicationId": APP_ID, "masterKey": basalt_test_support::MASTER_KEY})).await;
    let frame = socket.next("the refusal").await;
    assert_eq!((&frame["op"], &frame["code"]), (&json!("error"), &json!(4)), "{frame}");
}

#[tokio::test]
async fn live_query_checks_client_keys_when_they_are_configured() {
    let server =
        TestServer::start_with(TestOptions { javascript_key: Some("js-key".into()), ..TestOptions::default() }).await;
    let url = format!("ws://{}/parse", server.address);
    for wrong in [json!({}), json!({"javascriptKey": "guess"})] {
        let mut socket = Socket::open_url(&url).await;
        let mut frame = json!({"op": "connect", "applicationId": APP_ID});
        frame.as_object_mut().expect("object").extend(wrong.as_object().expect("object").clone());
        socket.send(frame).await;
        let answer = socket.next("the refusal").await;
        assert_eq!((&answer["op"], &answer["code"]), (&json!("error"), &json!(4)), "{wrong}: {answer}");
    }
    let mut socket = Socket::open_url(&url).await;
    socket.connect(json!({"javascriptKey": "js-key"})).await;
}

#[tokio::test]
async fn live_query_caps_subscriptions_per_connection() {
    let server = TestServer::start().await;
    let cap = basalt_core::Limits::default().live_query_subscriptions_per_connection_max;
    let mut socket = Socket::open_url(&format!("ws://{}/parse", server.address)).await;
    socket.connect(json!({})).await;
    let query = json!({"className": "Diary", "where": {}});
    for request_id in 1..=i64::try_from(cap).expect("cap") {
        socket.subscribe(request_id, query.clone(), None).await;
    }
    // Replacing one is not a new one.
    socket.subscribe(1, query.clone(), None).await;
    let past = i64::try_from(cap).expect("cap") + 1;
    socket.send(json!({"op": "subscribe", "requestId": past, "query": query})).await;
    let frame = socket.next("the refusal").await;
    assert_eq!(
        (&frame["op"], &frame["code"], &frame["requestId"]),
        (&json!("error"), &json!(155), &json!(past)),
        "{frame}"
    );
}

#[tokio::test]
async fn live_query_refuses_a_subscription_on_a_protected_field() {
    let server = TestServer::start().await;
    let created = server
        .master(
            "POST",
            "/schemas/Vault",
            Some(json!({"className": "Vault", "fields": {"pin": {"type": "String"}},
                "classLevelPermissions": {"find": {"*": true}, "get": {"*": true}, "protectedFields": {"*": ["pin"]}}})),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let mut socket = Socket::open_url(&format!("ws://{}/parse", server.address)).await;
    socket.connect(json!({})).await;
    for (request_id, query) in [
        (1, json!({"className": "Vault", "where": {"pin": "1234"}})),
        (2, json!({"className": "Vault", "where": {}, "watch": ["pin"]})),
    ] {
        socket.send(json!({"op": "subscribe", "requestId": request_id, "query": query})).await;
        let frame = socket.next("the refusal").await;
        assert_eq!((&frame["op"], &frame["code"]), (&json!("error"), &json!(119)), "{frame}");
    }
}

#[tokio::test]
async fn master_only_operations_refuse_every_other_caller_in_the_engine() {
    let server = TestServer::start().await;
    let (_, token) = signed_up(&server, "someone").await;
    save(&server, "Thing", json!({"n": 1})).await;
    let routes: &[(&str, &str, Option<Value>)] = &[
        ("GET", "/schemas", None),
        ("GET", "/schemas/Thing", None),
        ("POST", "/schemas/Other", Some(json!({"className": "Other"}))),
        ("PUT", "/schemas/Thing", Some(json!({"fields": {"x": {"type": "String"}}}))),
        ("DELETE", "/schemas/Thing", None),
        ("DELETE", "/purge/Thing", None),
        ("PUT", "/config", Some(json!({"params": {"flag": true}}))),
        ("GET", "/aggregate/Thing", None),
        ("GET", "/hooks/functions", None),
        ("GET", "/hooks/triggers", None),
        ("POST", "/hooks/functions", Some(json!({"functionName": "f", "url": "http://127.0.0.1:9/f"}))),
        ("PUT", "/hooks/functions/f", Some(json!({"__op": "Delete"}))),
        ("POST", "/jobs/anything", Some(json!({}))),
        ("DELETE", "/files/some-file.txt", None),
        ("GET", "/serverInfo", None),
        ("POST", "/push", Some(json!({"where": {}, "data": {"alert": "x"}}))),
        ("GET", "/push_audiences", None),
        ("POST", "/push_audiences", Some(json!({"name": "all", "query": "{}"}))),
        ("GET", "/push_audiences/any", None),
        ("PUT", "/push_audiences/any", Some(json!({"name": "x"}))),
        ("DELETE", "/push_audiences/any", None),
    ];
    for (method, path, body) in routes {
        for token in [None, Some(token.as_str())] {
            let reply = user_call(&server, method, path, token, body.clone()).await;
            assert_eq!(
                (reply.status, &reply.body),
                (403, &json!({"error": "unauthorized: master key is required"})),
                "{method} {path} as {token:?}"
            );
        }
    }
    // Nothing changed.
    let schema = server.master("GET", "/schemas/Thing", None).await;
    assert_eq!(schema.status, 200, "{schema:?}");
    assert!(schema.body["fields"].get("x").is_none(), "{schema:?}");
    let config = server.master("GET", "/config", None).await;
    assert!(config.body["params"].get("flag").is_none(), "{config:?}");
}

#[tokio::test]
async fn live_query_on_sessions_delivers_only_the_subscribers_own() {
    let server = TestServer::start().await;
    let (watcher, watcher_token) = signed_up(&server, "watcher").await;
    let url = format!("ws://{}/parse", server.address);
    // Without a session: refused, as a find of sessions is.
    let mut anonymous = Socket::open_url(&url).await;
    anonymous.connect(json!({})).await;
    anonymous.send(json!({"op": "subscribe", "requestId": 1, "query": {"className": "_Session", "where": {}}})).await;
    let frame = anonymous.next("the refusal").await;
    assert_eq!((&frame["op"], &frame["code"]), (&json!("error"), &json!(209)), "{frame}");

    let mut socket = Socket::open_url(&url).await;
    socket.connect(json!({"sessionToken": watcher_token})).await;
    socket.subscribe(1, json!({"className": "_Session", "where": {}}), Some(&watcher_token)).await;
    // Another user's new session is never delivered; the watcher's own is.
    let (_, other_token) = signed_up(&server, "other").await;
    let others = user_call(&server, "POST", "/sessions", Some(&other_token), Some(json!({}))).await;
    assert_eq!(others.status, 201, "{others:?}");
    let reply = user_call(&server, "POST", "/sessions", Some(&watcher_token), Some(json!({}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let own_token = text(&reply, "sessionToken");
    let frame = socket.next("the watcher's own new session").await;
    assert_eq!(frame["object"]["user"]["objectId"], json!(watcher), "{frame}");
    assert_eq!(frame["object"]["sessionToken"], json!(own_token), "{frame}");
    assert!(!frame.to_string().contains(&text(&others, "sessionToken")), "{frame}");
}

#[tokio::test]
async fn live_query_follows_permissions_changed_after_subscribing() {
    let server = TestServer::start().await;
    let created = server
        .master("POST", "/schemas/Notice", Some(json!({"className": "Notice", "fields": {"pin": {"type": "String"}}})))
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let mut socket = Socket::open_url(&format!("ws://{}/parse", server.address)).await;
    socket.connect(json!({})).await;
    socket.subscribe(1, json!({"className": "Notice", "where": {}}), None).await;
    let first = save(&server, "Notice", json!({"pin": "1"})).await;
    let frame = socket.next("the first notice").await;
    assert_eq!((&frame["object"]["objectId"], &frame["object"]["pin"]), (&json!(first), &json!("1")), "{frame}");

    // `pin` becomes protected: the next event comes without it.
    let protect =
        json!({"classLevelPermissions": {"find": {"*": true}, "get": {"*": true}, "protectedFields": {"*": ["pin"]}}});
    let updated = server.master("PUT", "/schemas/Notice", Some(protect)).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    let second = save(&server, "Notice", json!({"pin": "2"})).await;
    let frame = socket.next("the second notice").await;
    assert_eq!(frame["object"]["objectId"], json!(second), "{frame}");
    assert!(frame["object"].get("pin").is_none(), "a protected field arrived: {frame}");

    // `find` becomes staff-only: nothing more arrives for the public subscriber. A staff-only
    // save, then the class opened again and a marker: the marker is the next frame.
    let close = json!({"classLevelPermissions": {"find": {"role:Staff": true}, "get": {"role:Staff": true}}});
    assert_eq!(server.master("PUT", "/schemas/Notice", Some(close)).await.status, 200);
    let hidden = save(&server, "Notice", json!({"pin": "3"})).await;
    let open = json!({"classLevelPermissions": {"find": {"*": true}, "get": {"*": true}}});
    assert_eq!(server.master("PUT", "/schemas/Notice", Some(open)).await.status, 200);
    let marker = save(&server, "Notice", json!({"pin": "4"})).await;
    let frame = socket.next("the marker").await;
    assert_eq!(frame["object"]["objectId"], json!(marker), "{hidden} arrived while find was closed: {frame}");
}

/// A field protected from logged-in users only (`protectedFields: {authenticated: [...]}`, no
/// `*` list) is hidden from them in finds and gets and cannot be probed by a condition; a role's
/// list likewise. (Found by the engine's unit tests: such lists once hid nothing.)
#[tokio::test]
async fn fields_protected_from_authenticated_users_or_a_role_without_a_public_list_stay_hidden() {
    let server = TestServer::start().await;
    let (_, token) = signed_up(&server, "reader").await;
    let schema = json!({"className": "Memo", "fields": {"secret": {"type": "String"}},
        "classLevelPermissions": {"find": {"*": true}, "get": {"*": true},
            "protectedFields": {"authenticated": ["secret"]}}});
    let created = server.master("POST", "/schemas/Memo", Some(schema)).await;
    assert_eq!(created.status, 200, "{created:?}");
    let id = save(&server, "Memo", json!({"secret": "s3cr3t", "title": "t"})).await;

    let found = find(&server, "Memo", Some(&token), json!({})).await;
    assert_eq!(found.status, 200, "{found:?}");
    assert!(found.body["results"][0].get("secret").is_none(), "{found:?}");
    let got = user_call(&server, "GET", &format!("/classes/Memo/{id}"), Some(&token), None).await;
    assert_eq!((got.status, got.body.get("secret")), (200, None), "{got:?}");
    let probe = find(&server, "Memo", Some(&token), json!({"where": {"secret": "s3cr3t"}})).await;
    assert!(probe.status >= 400, "a condition on a protected field is refused: {probe:?}");
    let counted = find(&server, "Memo", Some(&token), json!({"where": {"secret": {"$regex": "^s"}}, "count": 1})).await;
    assert!(counted.status >= 400, "{counted:?}");
    // Parse's rule: the list applies to logged-in users; the public has no list here.
    let public = find(&server, "Memo", None, json!({})).await;
    assert_eq!(public.body["results"][0]["secret"], json!("s3cr3t"), "{public:?}");

    let roles = json!({"classLevelPermissions": {"find": {"*": true}, "get": {"*": true},
        "protectedFields": {"role:Staff": ["secret"]}}});
    let changed = server.master("PUT", "/schemas/Memo", Some(roles)).await;
    assert_eq!(changed.status, 200, "{changed:?}");
    let (staff_id, staff_token) = signed_up(&server, "staffer").await;
    let role = json!({"name": "Staff", "ACL": {"*": {"read": true}},
        "users": {"__op": "AddRelation", "objects": [pointer("_User", &staff_id)]}});
    let made = server.master("POST", "/roles", Some(role)).await;
    assert_eq!(made.status, 201, "{made:?}");
    let staff = find(&server, "Memo", Some(&staff_token), json!({})).await;
    assert!(staff.body["results"][0].get("secret").is_none(), "{staff:?}");
    let reader = find(&server, "Memo", Some(&token), json!({})).await;
    assert_eq!(reader.body["results"][0]["secret"], json!("s3cr3t"), "not in the role: {reader:?}");
}
