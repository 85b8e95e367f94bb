//! Objects over real HTTP: create, get, update, delete; every value type in Parse's encoding;
//! update operators and what their responses echo; schema checks on writes; class creation
//! rights; ACLs as clients and the master key see them; classes the generic routes refuse.

use std::collections::BTreeSet;
use std::sync::Arc;

use basalt_test_support::{APP_ID, Reply, TestOptions, TestServer};
use serde_json::{Value, json};

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the only timestamp form Parse puts on the wire.
fn is_parse_timestamp(text: &str) -> bool {
    let pattern = b"dddd-dd-ddTdd:dd:dd.dddZ";
    text.len() == pattern.len()
        && text.bytes().zip(pattern.iter()).all(|(byte, want)| match want {
            b'd' => byte.is_ascii_digit(),
            other => byte == *other,
        })
}

#[track_caller]
fn assert_error(reply: &Reply, status: u16, code: i64) {
    assert_eq!((reply.status, &reply.body["code"]), (status, &json!(code)), "{reply:?}");
    assert!(reply.body["error"].is_string(), "{reply:?}");
}

/// The body without `key`, after checking `key` holds a Parse timestamp.
#[track_caller]
fn without_timestamp(body: &Value, key: &str) -> Value {
    let mut body = body.clone();
    let stamp = body.as_object_mut().and_then(|object| object.remove(key));
    assert!(stamp.as_ref().and_then(Value::as_str).is_some_and(is_parse_timestamp), "{key} in {body}");
    body
}

fn pointer(class_name: &str, object_id: &str) -> Value {
    json!({"__type": "Pointer", "className": class_name, "objectId": object_id})
}

/// Creates an object with the master key; returns its objectId.
async fn create(server: &TestServer, class_name: &str, body: Value) -> String {
    let reply = server.master("POST", &format!("/classes/{class_name}"), Some(body)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.body["objectId"].as_str().expect("objectId").to_owned()
}

/// An update with the master key that must succeed; returns what it echoed, minus `updatedAt`.
async fn update(server: &TestServer, path: &str, body: Value) -> Value {
    let reply = server.master("PUT", path, Some(body)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    without_timestamp(&reply.body, "updatedAt")
}

async fn fetch(server: &TestServer, path: &str) -> Value {
    let reply = server.master("GET", path, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

/// The `name`s of the `Tgt` objects in the relation `key` of `owner`, sorted.
async fn relation_members(server: &TestServer, owner_class: &str, owner_id: &str, key: &str) -> Vec<String> {
    let where_json = json!({"$relatedTo": {"object": pointer(owner_class, owner_id), "key": key}});
    let url =
        reqwest::Url::parse_with_params("http://h/classes/Tgt", [("where", where_json.to_string())]).expect("url");
    let reply = server.client_call("GET", &format!("/classes/Tgt?{}", url.query().unwrap_or_default()), None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let mut names: Vec<String> = reply.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|object| object["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn create_answers_201_with_location_object_id_and_created_at() {
    let server = TestServer::start().await;
    let reply = server.client_call("POST", "/classes/Post", None).await;
    assert_error(&reply, 400, 119);
    let reply = server.master("POST", "/classes/Post", Some(json!({"title": "hello", "n": 5}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let body = reply.body.as_object().expect("object");
    assert_eq!(body.keys().collect::<BTreeSet<_>>(), BTreeSet::from([&"createdAt".to_owned(), &"objectId".to_owned()]));
    let object_id = body["objectId"].as_str().expect("objectId");
    assert!(object_id.len() == 10 && object_id.bytes().all(|b| b.is_ascii_alphanumeric()), "{object_id}");
    assert!(is_parse_timestamp(body["createdAt"].as_str().expect("createdAt")), "{reply:?}");
    let location = reply.headers.get("location").and_then(|value| value.to_str().ok());
    assert_eq!(location, Some(format!("{}/classes/Post/{object_id}", server.base_url).as_str()));
}

#[tokio::test]
async fn get_returns_the_fields_and_equal_timestamps_after_create() {
    let server = TestServer::start().await;
    let reply = server.master("POST", "/classes/Post", Some(json!({"title": "hello", "n": 5}))).await;
    let object_id = reply.body["objectId"].as_str().expect("objectId");
    let created_at = &reply.body["createdAt"];
    let fetched = server.client_call("GET", &format!("/classes/Post/{object_id}"), None).await;
    assert_eq!(fetched.status, 200, "{fetched:?}");
    assert_eq!(
        fetched.body,
        json!({"objectId": object_id, "createdAt": created_at, "updatedAt": created_at, "title": "hello", "n": 5})
    );
}

#[tokio::test]
async fn update_answers_updated_at_only_and_stores_the_change() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Post", json!({"title": "a", "n": 1})).await;
    let path = format!("/classes/Post/{object_id}");
    let created_at = fetch(&server, &path).await["createdAt"].clone();
    let reply = server.client_call("PUT", &path, Some(json!({"title": "b"}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(without_timestamp(&reply.body, "updatedAt"), json!({}));
    let updated_at = reply.body["updatedAt"].as_str().expect("updatedAt");
    assert!(updated_at >= created_at.as_str().expect("createdAt"));
    assert_eq!(
        fetch(&server, &path).await,
        json!({"objectId": object_id, "createdAt": created_at, "updatedAt": updated_at, "title": "b", "n": 1})
    );
}

#[tokio::test]
async fn delete_answers_an_empty_object_and_the_object_is_gone() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Post", json!({"title": "a"})).await;
    let path = format!("/classes/Post/{object_id}");
    let reply = server.client_call("DELETE", &path, None).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({})));
    assert_error(&server.client_call("GET", &path, None).await, 404, 101);
    assert_error(&server.client_call("DELETE", &path, None).await, 404, 101);
}

#[tokio::test]
async fn every_type_round_trips_in_parse_encoding() {
    let server = TestServer::start().await;
    let t1 = create(&server, "Tgt", json!({"name": "t1"})).await;
    let t2 = create(&server, "Tgt", json!({"name": "t2"})).await;
    let nested_date = json!({"__type": "Date", "iso": "2025-01-02T03:04:05.678Z"});
    let object_id = create(
        &server,
        "AllTypes",
        json!({
            "str": "text",
            "int": 42,
            "flt": 1.5,
            "whole": 3.0,
            "negz": -7,
            "bool": true,
            "date": nested_date,
            "dateNoMs": {"__type": "Date", "iso": "2025-01-02T03:04:05Z"},
            "obj": {"x": 1, "nested": {"d": nested_date}, "arr": [1, "a"]},
            "arr": [1, "two", pointer("Tgt", &t1), {"k": "v"}],
            "ptr": pointer("Tgt", &t1),
            "rel": {"__op": "AddRelation", "objects": [pointer("Tgt", &t1), pointer("Tgt", &t2)]},
            "file": {"__type": "File", "name": "x.txt"},
            "spaced": {"__type": "File", "name": "a b.txt", "url": "http://evil.example/x"},
            "geo": {"__type": "GeoPoint", "latitude": 40.0, "longitude": -30.5},
            "poly": {"__type": "Polygon", "coordinates": [[0, 0], [0, 1], [1, 1]]},
            "bytes": {"__type": "Bytes", "base64": "aGVsbG8="},
            "nul": null
        }),
    )
    .await;
    let fetched = fetch(&server, &format!("/classes/AllTypes/{object_id}")).await;
    let files = format!("{}/files/{APP_ID}", server.base_url);
    let expected = json!({
        "objectId": object_id,
        "createdAt": fetched["createdAt"],
        "updatedAt": fetched["createdAt"],
        "str": "text",
        "int": 42,
        "flt": 1.5,
        "whole": 3,
        "negz": -7,
        "bool": true,
        "date": nested_date,
        "dateNoMs": {"__type": "Date", "iso": "2025-01-02T03:04:05.000Z"},
        "obj": {"x": 1, "nested": {"d": nested_date}, "arr": [1, "a"]},
        "arr": [1, "two", pointer("Tgt", &t1), {"k": "v"}],
        "ptr": pointer("Tgt", &t1),
        "rel": {"__type": "Relation", "className": "Tgt"},
        "file": {"__type": "File", "name": "x.txt", "url": format!("{files}/x.txt")},
        "spaced": {"__type": "File", "name": "a b.txt", "url": format!("{files}/a%20b.txt")},
        "geo": {"__type": "GeoPoint", "latitude": 40, "longitude": -30.5},
        "poly": {"__type": "Polygon", "coordinates": [[0, 0], [0, 1], [1, 1], [0, 0]]},
        "bytes": {"__type": "Bytes", "base64": "aGVsbG8="}
    });
    assert_eq!(fetched, expected);
    let query = reqwest::Url::parse_with_params("http://h/", [("where", json!({"objectId": object_id}).to_string())])
        .expect("url");
    let found = fetch(&server, &format!("/classes/AllTypes?{}", query.query().unwrap_or_default())).await;
    assert_eq!(found, json!({"results": [expected]}));
    assert_eq!(relation_members(&server, "AllTypes", &object_id, "rel").await, ["t1", "t2"]);
    // A null on a new field adds nothing to the schema.
    let schema = fetch(&server, "/schemas/AllTypes").await;
    assert_eq!(schema["fields"].get("nul"), None, "{schema}");
    assert_eq!(schema["fields"]["rel"], json!({"type": "Relation", "targetClass": "Tgt"}));
}

#[tokio::test]
async fn relation_field_is_listed_on_every_object_of_the_class() {
    let server = TestServer::start().await;
    let t1 = create(&server, "Tgt", json!({"name": "t1"})).await;
    create(&server, "Owner", json!({"rel": {"__op": "AddRelation", "objects": [pointer("Tgt", &t1)]}})).await;
    let lonely = create(&server, "Owner", json!({"title": "no members"})).await;
    let fetched = fetch(&server, &format!("/classes/Owner/{lonely}")).await;
    assert_eq!(fetched["rel"], json!({"__type": "Relation", "className": "Tgt"}));
}

#[tokio::test]
async fn update_operators_echo_their_results() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Ops", json!({"n": 1, "arr": ["a", "b"], "s": "x"})).await;
    let path = format!("/classes/Ops/{object_id}");
    let steps = [
        (json!({"s": "y"}), json!({})),
        (json!({"n": {"__op": "Increment", "amount": 2}}), json!({"n": 3})),
        (json!({"n": {"__op": "Increment", "amount": -0.5}}), json!({"n": 2.5})),
        (json!({"n2": {"__op": "Increment", "amount": 3}}), json!({"n2": 3})),
        (json!({"arr": {"__op": "Add", "objects": ["c", "a"]}}), json!({"arr": ["a", "b", "c", "a"]})),
        (json!({"arr": {"__op": "Remove", "objects": ["a"]}}), json!({"arr": ["b", "c"]})),
        (json!({"arr": {"__op": "AddUnique", "objects": ["c", "d", "d"]}}), json!({"arr": ["b", "c", "d"]})),
        (json!({"s": {"__op": "Delete"}}), json!({})),
        (
            json!({"n": {"__op": "Increment", "amount": 1}, "arr": {"__op": "Add", "objects": ["z"]}, "m": "plain"}),
            json!({"n": 3.5, "arr": ["b", "c", "d", "z"]}),
        ),
    ];
    for (body, echo) in steps {
        assert_eq!(update(&server, &path, body.clone()).await, echo, "{body}");
    }
    let fetched = without_timestamp(&without_timestamp(&fetch(&server, &path).await, "createdAt"), "updatedAt");
    assert_eq!(fetched, json!({"objectId": object_id, "n": 3.5, "n2": 3, "arr": ["b", "c", "d", "z"], "m": "plain"}));
}

#[tokio::test]
async fn create_echoes_operator_results_too() {
    let server = TestServer::start().await;
    let reply = server
        .master(
            "POST",
            "/classes/Ops",
            Some(json!({
                "n": {"__op": "Increment", "amount": 2},
                "tags": {"__op": "Add", "objects": ["a"]},
                "u": {"__op": "AddUnique", "objects": ["a", "b"]},
                "r": {"__op": "Remove", "objects": ["a"]},
                "gone": {"__op": "Delete"},
                "plain": "p"
            })),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let object_id = reply.body["objectId"].as_str().expect("objectId").to_owned();
    let echo = without_timestamp(&reply.body, "createdAt");
    assert_eq!(echo, json!({"n": 2, "tags": ["a"], "u": ["a", "b"], "r": [], "objectId": object_id}));
    let fetched = without_timestamp(
        &without_timestamp(&fetch(&server, &format!("/classes/Ops/{object_id}")).await, "createdAt"),
        "updatedAt",
    );
    assert_eq!(fetched, json!({"objectId": object_id, "n": 2, "tags": ["a"], "u": ["a", "b"], "r": [], "plain": "p"}));
}

#[tokio::test]
async fn relation_operators_add_remove_and_batch_members() {
    let server = TestServer::start().await;
    let t1 = create(&server, "Tgt", json!({"name": "t1"})).await;
    let t2 = create(&server, "Tgt", json!({"name": "t2"})).await;
    let reply = server
        .master(
            "POST",
            "/classes/Owner",
            Some(json!({"rel": {"__op": "AddRelation", "objects": [pointer("Tgt", &t1)]}})),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body.as_object().map(|object| object.len()), Some(2), "only objectId and createdAt: {reply:?}");
    let owner = reply.body["objectId"].as_str().expect("objectId").to_owned();
    let path = format!("/classes/Owner/{owner}");
    assert_eq!(relation_members(&server, "Owner", &owner, "rel").await, ["t1"]);
    let add = json!({"rel": {"__op": "AddRelation", "objects": [pointer("Tgt", &t2)]}});
    assert_eq!(update(&server, &path, add).await, json!({}));
    assert_eq!(relation_members(&server, "Owner", &owner, "rel").await, ["t1", "t2"]);
    let remove = json!({"rel": {"__op": "RemoveRelation", "objects": [pointer("Tgt", &t1)]}});
    assert_eq!(update(&server, &path, remove).await, json!({}));
    assert_eq!(relation_members(&server, "Owner", &owner, "rel").await, ["t2"]);
    let batch = json!({"rel": {"__op": "Batch", "ops": [
        {"__op": "AddRelation", "objects": [pointer("Tgt", &t1)]},
        {"__op": "RemoveRelation", "objects": [pointer("Tgt", &t2)]}
    ]}});
    assert_eq!(update(&server, &path, batch).await, json!({}));
    assert_eq!(relation_members(&server, "Owner", &owner, "rel").await, ["t1"]);
    let other_class = json!({"rel": {"__op": "AddRelation", "objects": [pointer("Owner", &owner)]}});
    assert_error(&server.master("PUT", &path, Some(other_class)).await, 400, 111);
    assert_eq!(relation_members(&server, "Owner", &owner, "rel").await, ["t1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_increments_all_count() {
    let server = Arc::new(TestServer::start().await);
    let object_id = create(&server, "Counter", json!({"n": 0})).await;
    let path = format!("/classes/Counter/{object_id}");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let server = Arc::clone(&server);
            let path = path.clone();
            tokio::spawn(async move {
                let reply =
                    server.client_call("PUT", &path, Some(json!({"n": {"__op": "Increment", "amount": 1}}))).await;
                assert_eq!(reply.status, 200, "{reply:?}");
                reply.body["n"].as_i64().expect("echoed n")
            })
        })
        .collect();
    let mut echoed = BTreeSet::new();
    for task in tasks {
        echoed.insert(task.await.expect("task"));
    }
    // Atomic: every increment saw a distinct value, and none was lost.
    assert_eq!(echoed, (1..=50).collect::<BTreeSet<i64>>());
    assert_eq!(fetch(&server, &path).await["n"], json!(50));
}

#[tokio::test]
async fn dotted_keys_update_inside_object_fields() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Doc", json!({"o": {"a": 1, "b": {"c": 2}}, "x": 1})).await;
    let path = format!("/classes/Doc/{object_id}");
    assert_eq!(update(&server, &path, json!({"o.b.c": 5, "o.new": "v"})).await, json!({}));
    assert_eq!(fetch(&server, &path).await["o"], json!({"a": 1, "b": {"c": 5}, "new": "v"}));
    let echo = update(&server, &path, json!({"o.a": {"__op": "Increment", "amount": 10}})).await;
    assert_eq!(echo["o"]["a"], json!(11), "{echo}");
    assert_eq!(fetch(&server, &path).await["o"], json!({"a": 11, "b": {"c": 5}, "new": "v"}));
    assert_eq!(update(&server, &path, json!({"o.b": {"__op": "Delete"}})).await, json!({}));
    assert_eq!(fetch(&server, &path).await["o"], json!({"a": 11, "new": "v"}));
    let reply = server.master("PUT", &path, Some(json!({"x.y": 1}))).await;
    assert_eq!(
        (reply.status, &reply.body),
        (400, &json!({"code": 111, "error": "schema mismatch for Doc.x; expected Number but got Object"}))
    );
    assert_error(&server.master("PUT", &path, Some(json!({"o": {"$bad": 1}}))).await, 400, 121);
    assert_error(&server.master("PUT", &path, Some(json!({"o": {"a.b": 1}}))).await, 400, 121);
}

#[tokio::test]
async fn wrong_type_for_a_field_is_111() {
    let server = TestServer::start().await;
    let t1 = create(&server, "Tgt", json!({"name": "t1"})).await;
    let object_id = create(
        &server,
        "Typed",
        json!({"n": 1, "s": "x", "d": {"__type": "Date", "iso": "2025-01-01T00:00:00.000Z"},
               "ptr": pointer("Tgt", &t1)}),
    )
    .await;
    let cases = [
        (json!({"n": "notanumber"}), "schema mismatch for Typed.n; expected Number but got String"),
        (json!({"d": "2020-01-01"}), "schema mismatch for Typed.d; expected Date but got String"),
        (
            json!({"ptr": pointer("Typed", "abc")}),
            "schema mismatch for Typed.ptr; expected Pointer<Tgt> but got Pointer<Typed>",
        ),
        (
            json!({"s": {"__op": "Increment", "amount": 1}}),
            "schema mismatch for Typed.s; expected String but got Number",
        ),
    ];
    for (body, message) in cases {
        let expected = json!({"code": 111, "error": message});
        let reply = server.client_call("POST", "/classes/Typed", Some(body.clone())).await;
        assert_eq!((reply.status, &reply.body), (400, &expected), "create {body}");
        let reply = server.client_call("PUT", &format!("/classes/Typed/{object_id}"), Some(body.clone())).await;
        assert_eq!((reply.status, &reply.body), (400, &expected), "update {body}");
    }
    assert_eq!(fetch(&server, &format!("/classes/Typed/{object_id}")).await["n"], json!(1));
}

#[tokio::test]
async fn bad_field_names_are_105() {
    let server = TestServer::start().await;
    create(&server, "Obj", json!({"s": "a"})).await;
    let cases = [
        (json!({"a-b": 1}), "Invalid field name: a-b."),
        (json!({"1abc": 1}), "Invalid field name: 1abc."),
        (json!({"className": "x"}), "Invalid field name: className."),
        (json!({"_bad": 1}), "Invalid field name: _bad."),
        (json!({"objectId": "custom1", "s": "a"}), "objectId is an invalid field name."),
        (json!({"id": "custom1", "s": "a"}), "id is an invalid field name."),
    ];
    for (body, message) in cases {
        let expected = json!({"code": 105, "error": message});
        for reply in [
            server.client_call("POST", "/classes/Obj", Some(body.clone())).await,
            server.master("POST", "/classes/Obj", Some(body.clone())).await,
        ] {
            assert_eq!((reply.status, &reply.body), (400, &expected), "{body}");
        }
    }
    let count = fetch(&server, "/classes/Obj?count=1&limit=0").await;
    assert_eq!(count["count"], json!(1));
}

#[tokio::test]
async fn update_cannot_move_an_object_to_another_object_id() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Obj", json!({"s": "a"})).await;
    let path = format!("/classes/Obj/{object_id}");
    assert_error(&server.client_call("PUT", &path, Some(json!({"objectId": "other"}))).await, 400, 105);
    assert_eq!(update(&server, &path, json!({"objectId": object_id, "s": "b"})).await, json!({}));
    assert_eq!(fetch(&server, &path).await["s"], json!("b"));
    assert_error(&server.master("GET", "/classes/Obj/other", None).await, 404, 101);
}

#[tokio::test]
async fn client_cannot_create_a_class_but_the_master_key_can() {
    let server = TestServer::start().await;
    assert_error(&server.client_call("POST", "/classes/NewByClient", Some(json!({"a": 1}))).await, 400, 119);
    assert_error(&server.master("GET", "/schemas/NewByClient", None).await, 400, 103);
    create(&server, "NewByMaster", json!({"a": 1})).await;
    // Once the class exists, clients may create objects and add fields.
    let reply = server.client_call("POST", "/classes/NewByMaster", Some(json!({"a": 2, "brandNew": true}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(fetch(&server, "/schemas/NewByMaster").await["fields"]["brandNew"], json!({"type": "Boolean"}));
}

#[tokio::test]
async fn allow_client_class_creation_lets_clients_create_classes() {
    let server =
        TestServer::start_with(TestOptions { allow_client_class_creation: true, ..TestOptions::default() }).await;
    let reply = server.client_call("POST", "/classes/NewByClient", Some(json!({"a": 1}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(fetch(&server, "/schemas/NewByClient").await["fields"]["a"], json!({"type": "Number"}));
}

#[tokio::test]
async fn missing_object_ids_are_101_with_http_404() {
    let server = TestServer::start().await;
    create(&server, "Post", json!({"title": "a"})).await;
    let not_found = json!({"code": 101, "error": "Object not found."});
    for master in [false, true] {
        for (method, body) in [("GET", None), ("PUT", Some(json!({"title": "b"}))), ("DELETE", None)] {
            let reply = server.call(method, "/classes/Post/doesnotexist", body, master).await;
            assert_eq!((reply.status, &reply.body), (404, &not_found), "{method} master={master}");
        }
    }
    // The failed update created nothing.
    assert_eq!(fetch(&server, "/classes/Post?count=1&limit=0").await["count"], json!(1));
}

#[tokio::test]
async fn empty_acl_hides_the_object_from_clients_but_not_from_the_master_key() {
    let server = TestServer::start().await;
    let public = create(&server, "Note", json!({"s": "public"})).await;
    let private = create(&server, "Note", json!({"s": "private", "ACL": {}})).await;
    let path = format!("/classes/Note/{private}");
    assert_error(&server.client_call("GET", &path, None).await, 404, 101);
    let found = server.client_call("GET", "/classes/Note", None).await;
    let ids: Vec<&Value> = found.body["results"].as_array().expect("results").iter().map(|o| &o["objectId"]).collect();
    assert_eq!(ids, [&json!(public)]);
    let counted = server.client_call("GET", "/classes/Note?count=1&limit=0", None).await;
    assert_eq!(counted.body, json!({"results": [], "count": 1}));
    assert_error(&server.client_call("PUT", &path, Some(json!({"s": "hacked"}))).await, 404, 101);
    assert_error(&server.client_call("DELETE", &path, None).await, 404, 101);
    let seen = fetch(&server, &path).await;
    assert_eq!((&seen["s"], &seen["ACL"]), (&json!("private"), &json!({})));
    assert_eq!(fetch(&server, "/classes/Note?count=1&limit=0").await["count"], json!(2));
}

#[tokio::test]
async fn public_read_acl_is_readable_but_not_writable_by_clients() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Note", json!({"s": "acl", "ACL": {"*": {"read": true}}})).await;
    let path = format!("/classes/Note/{object_id}");
    let reply = server.client_call("GET", &path, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!((&reply.body["s"], &reply.body["ACL"]), (&json!("acl"), &json!({"*": {"read": true}})));
    assert_error(&server.client_call("PUT", &path, Some(json!({"s": "x"}))).await, 404, 101);
    assert_error(&server.client_call("DELETE", &path, None).await, 404, 101);
    assert_eq!(fetch(&server, &path).await["s"], json!("acl"));
    assert_eq!(update(&server, &path, json!({"s": "by master"})).await, json!({}));
    assert_eq!(fetch(&server, &path).await["s"], json!("by master"));
}

#[tokio::test]
async fn malformed_acl_is_123() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Note", json!({"s": "a"})).await;
    for acl in [json!({"*": {"read": "yes"}}), json!("x"), json!({"*": true}), json!({"*": {"frob": true}}), json!([])]
    {
        assert_error(&server.master("POST", "/classes/Note", Some(json!({"ACL": acl}))).await, 400, 123);
        let reply = server.master("PUT", &format!("/classes/Note/{object_id}"), Some(json!({"ACL": acl}))).await;
        assert_error(&reply, 400, 123);
    }
    // The object keeps its (absent, public) ACL.
    let reply = server.client_call("GET", &format!("/classes/Note/{object_id}"), None).await;
    assert_eq!((reply.status, reply.body.get("ACL")), (200, None));
}

/// A session token as Parse issues them: `r:` and 32 lowercase hex digits.
fn is_session_token(token: &str) -> bool {
    token.strip_prefix("r:").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn user_and_session_writes_through_classes_follow_the_user_and_session_rules() {
    let server = TestServer::start().await;
    // A client cannot forge a session through the generic route.
    let reply = server.client_call("POST", "/classes/_Session", Some(json!({"custom": 1}))).await;
    assert_error(&reply, 400, 209);
    let forged = json!({"sessionToken": "r:forged", "user": pointer("_User", "abc")});
    let reply = server.client_call("POST", "/classes/_Session", Some(forged)).await;
    assert!(reply.status == 400 && [105, 209].contains(&reply.body["code"].as_i64().unwrap_or(0)), "{reply:?}");
    let with_forged = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Session-Token", "r:forged")];
    assert_error(&server.raw("GET", "/classes/_Session", &with_forged, None).await, 400, 209);
    // A `_User` create is a sign-up: a real session token, never the password.
    let reply =
        server.client_call("POST", "/classes/_User", Some(json!({"username": "mallory", "password": "pw"}))).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert!(reply.body["sessionToken"].as_str().is_some_and(is_session_token), "{reply:?}");
    assert_eq!(reply.body.get("password"), None, "{reply:?}");
    let user_id = reply.body["objectId"].as_str().expect("objectId").to_owned();
    let stored = fetch(&server, &format!("/classes/_User/{user_id}")).await;
    assert_eq!(stored["username"], json!("mallory"));
    assert_eq!((stored.get("password"), stored.get("_hashed_password")), (None, None), "{stored}");
    // Without that user's session a client can neither change nor delete the user.
    let path = format!("/classes/_User/{user_id}");
    assert_error(&server.client_call("PUT", &path, Some(json!({"username": "eve"}))).await, 400, 206);
    assert_error(&server.client_call("DELETE", &path, None).await, 400, 206);
    assert_eq!(fetch(&server, &path).await["username"], json!("mallory"));
}

#[tokio::test]
async fn master_only_classes_are_119_for_clients() {
    let server = TestServer::start().await;
    for class_name in ["_JobStatus", "_Hooks", "_GlobalConfig", "_PushStatus", "_JobSchedule"] {
        let collection = format!("/classes/{class_name}");
        assert_error(&server.client_call("GET", &collection, None).await, 400, 119);
        assert_error(&server.client_call("POST", &collection, Some(json!({"a": 1}))).await, 400, 119);
        assert_error(&server.client_call("GET", &format!("{collection}/abc"), None).await, 400, 119);
        assert_error(&server.client_call("PUT", &format!("{collection}/abc"), Some(json!({"a": 1}))).await, 400, 119);
        assert_error(&server.client_call("DELETE", &format!("{collection}/abc"), None).await, 400, 119);
        let reply = server.master("GET", &collection, None).await;
        assert_eq!((reply.status, &reply.body), (200, &json!({"results": []})), "{class_name}");
    }
}

#[tokio::test]
async fn malformed_typed_values_are_111_or_107_never_500() {
    let server = TestServer::start().await;
    create(&server, "Typed", json!({"geo": {"__type": "GeoPoint", "latitude": 1, "longitude": 1}})).await;
    let cases = [
        (json!({"d": {"__type": "Date", "iso": "garbage"}}), 111),
        (json!({"d": {"__type": "Date"}}), 111),
        (json!({"geo": {"__type": "GeoPoint", "latitude": 100, "longitude": 0}}), 111),
        (json!({"geo": {"__type": "GeoPoint", "latitude": 0, "longitude": 181}}), 111),
        (json!({"geo": {"__type": "GeoPoint", "latitude": "a", "longitude": 0}}), 111),
        (json!({"geo2": {"__type": "GeoPoint", "latitude": 1, "longitude": 1}}), 111),
        (json!({"poly": {"__type": "Polygon", "coordinates": [[0, 0], [1, 1]]}}), 111),
        (json!({"file": {"__type": "File"}}), 111),
        (json!({"ptr": {"__type": "Pointer", "className": "Tgt"}}), 111),
        (json!({"bytes": {"__type": "Bytes", "base64": 5}}), 111),
        (json!({"frob": {"__type": "Frob"}}), 111),
        (json!({"rel": {"__type": "Relation", "className": "Tgt"}}), 111),
    ];
    let mut answers = Vec::new();
    for (body, _) in &cases {
        let reply = server.master("POST", "/classes/Typed", Some(body.clone())).await;
        answers.push((body.to_string(), reply.status, reply.body["code"].clone()));
    }
    let expected: Vec<_> = cases.iter().map(|(body, code)| (body.to_string(), 400, json!(code))).collect();
    // Failed writes add no fields to the schema.
    let schema = fetch(&server, "/schemas/Typed").await;
    let mut fields: Vec<String> = schema["fields"].as_object().expect("fields").keys().cloned().collect();
    fields.sort();
    let default_and_geo: Vec<String> =
        ["ACL", "createdAt", "geo", "objectId", "updatedAt"].into_iter().map(str::to_owned).collect();
    assert_eq!((answers, fields), (expected, default_and_geo));
}

#[tokio::test]
async fn malformed_update_operators_are_4xx_never_500() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Ops", json!({"n": 1, "arr": ["a"]})).await;
    let cases = [
        (json!({"s": {"__op": "Frob"}}), 108),
        (json!({"n": {"__op": "Increment", "amount": "x"}}), 111),
        (json!({"n": {"__op": "Increment"}}), 111),
        (json!({"arr": {"__op": "Add", "objects": "x"}}), 107),
        (json!({"arr": {"__op": "AddUnique", "objects": 5}}), 107),
        (json!({"arr": {"__op": "Remove"}}), 107),
        (json!({"s": {"__op": 5}}), 107),
        (json!({"rel": {"__op": "AddRelation", "objects": [{"__type": "Pointer", "className": "Tgt"}]}}), 111),
    ];
    let mut answers = Vec::new();
    for (body, _) in &cases {
        let created = server.master("POST", "/classes/Ops", Some(body.clone())).await;
        let updated = server.master("PUT", &format!("/classes/Ops/{object_id}"), Some(body.clone())).await;
        answers.push((
            body.to_string(),
            created.status,
            created.body["code"].clone(),
            updated.status,
            updated.body["code"].clone(),
        ));
    }
    let expected: Vec<_> =
        cases.iter().map(|(body, code)| (body.to_string(), 400, json!(code), 400, json!(code))).collect();
    assert_eq!(answers, expected);
    let fetched = fetch(&server, &format!("/classes/Ops/{object_id}")).await;
    assert_eq!((&fetched["n"], &fetched["arr"]), (&json!(1), &json!(["a"])));
}

#[tokio::test]
async fn required_field_cannot_be_unset() {
    let server = TestServer::start().await;
    let reply = server
        .master("POST", "/schemas/Req", Some(json!({"fields": {"title": {"type": "String", "required": true}}})))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let required = json!({"code": 142, "error": "title is required"});
    let reply = server.master("POST", "/classes/Req", Some(json!({"title": null}))).await;
    assert_eq!((reply.status, &reply.body), (400, &required));
    let object_id = create(&server, "Req", json!({"title": "a"})).await;
    for body in [json!({"title": null}), json!({"title": {"__op": "Delete"}})] {
        let reply = server.master("PUT", &format!("/classes/Req/{object_id}"), Some(body)).await;
        assert_eq!((reply.status, &reply.body), (400, &required));
    }
    assert_eq!(fetch(&server, &format!("/classes/Req/{object_id}")).await["title"], json!("a"));
}

#[tokio::test]
async fn dotted_key_on_create_makes_an_object_field() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Doc", json!({"a.b": 1, "plain": true})).await;
    let fetched = fetch(&server, &format!("/classes/Doc/{object_id}")).await;
    assert_eq!((&fetched["a"], &fetched["plain"]), (&json!({"b": 1}), &json!(true)), "{fetched}");
    assert_eq!(fetch(&server, "/schemas/Doc").await["fields"]["a"], json!({"type": "Object"}));
}

/// A get racing an update that adds a field reads the object either before or after the update,
/// never the update's other fields without the new one (a read compiled against the schema as it
/// was before the field existed, executed after the row was written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_racing_a_new_field_sees_the_whole_update() {
    let server = Arc::new(TestServer::start().await);
    let object_id = create(&server, "Growing", json!({"step": 0})).await;
    let path = format!("/classes/Growing/{object_id}");
    let steps = 150;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (server, path, done) = (Arc::clone(&server), path.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let object = fetch(&server, &path).await;
                    let step = object["step"].as_i64().expect("step");
                    if step > 0 {
                        assert_eq!(object[format!("field{step}")], json!(step), "{object}");
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for step in 1..=steps {
        update(&server, &path, json!({"step": step, format!("field{step}"): step})).await;
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for reader in readers {
        assert!(reader.await.expect("reader") > 0);
    }
}
