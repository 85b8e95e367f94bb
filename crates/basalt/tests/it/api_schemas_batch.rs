//! The schema API (`/schemas`, `/purge`) and `/batch` over real HTTP: schema shapes and
//! defaults, field and index changes and their errors, dropping and purging classes; batches
//! with mixed outcomes, routing errors, the size limit, and transactions.

use basalt_core::Limits;
use basalt_test_support::{APP_ID, Reply, TestOptions, TestServer};
use serde_json::{Value, json};

fn default_fields() -> Value {
    json!({
        "objectId": {"type": "String"},
        "createdAt": {"type": "Date"},
        "updatedAt": {"type": "Date"},
        "ACL": {"type": "ACL"}
    })
}

/// `default_fields()` plus `extra`.
fn fields_with(extra: Value) -> Value {
    let mut fields = default_fields();
    for (name, spec) in extra.as_object().expect("object") {
        fields[name] = spec.clone();
    }
    fields
}

/// Parse Server 9's class-level permissions for a new class.
fn default_class_level_permissions() -> Value {
    json!({
        "ACL": {"*": {"read": true, "write": true}},
        "find": {"*": true},
        "get": {"*": true},
        "count": {"*": true},
        "create": {"*": true},
        "update": {"*": true},
        "delete": {"*": true},
        "addField": {"*": true},
        "protectedFields": {"*": []}
    })
}

#[track_caller]
fn assert_reply(reply: &Reply, status: u16, body: Value) {
    assert_eq!((reply.status, &reply.body), (status, &body), "{reply:?}");
}

#[track_caller]
fn assert_code(reply: &Reply, code: i64) {
    assert_eq!((reply.status, &reply.body["code"]), (400, &json!(code)), "{reply:?}");
}

/// A master-key request that must answer 200; its body.
async fn ok(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> Value {
    let reply = server.master(method, path, body).await;
    assert_eq!(reply.status, 200, "{method} {path}: {reply:?}");
    reply.body
}

/// Creates an object with the master key; its objectId.
async fn create(server: &TestServer, class_name: &str, body: Value) -> String {
    let path = format!("/classes/{class_name}");
    match server.master("POST", &path, Some(body)).await {
        Reply { status: 201, body, .. } => body["objectId"].as_str().expect("objectId").to_owned(),
        other => panic!("creating in {class_name}: {other:?}"),
    }
}

async fn count(server: &TestServer, class_name: &str) -> Value {
    ok(server, "GET", &format!("/classes/{class_name}?count=1&limit=0"), None).await["count"].clone()
}

/// The `v` values of class `B`, sorted.
async fn values_of_b(server: &TestServer) -> Vec<Value> {
    let found = ok(server, "GET", "/classes/B?order=v&keys=v", None).await;
    found["results"].as_array().expect("results").iter().map(|object| object["v"].clone()).collect()
}

fn batch_item(method: &str, path: &str, body: Value) -> Value {
    json!({"method": method, "path": format!("/parse{path}"), "body": body})
}

/// `POST /batch` with `requests` (and `transaction` when given) as a client.
async fn client_batch(server: &TestServer, requests: Vec<Value>) -> Reply {
    server.client_call("POST", "/batch", Some(json!({ "requests": requests }))).await
}

#[tokio::test]
async fn class_created_by_a_write_has_default_and_written_fields() {
    let server = TestServer::start().await;
    let target = create(&server, "Tgt", json!({"name": "t"})).await;
    let pointer = json!({"__type": "Pointer", "className": "Tgt", "objectId": target});
    create(
        &server,
        "Post",
        json!({"title": "a", "n": 1, "ptr": pointer, "rel": {"__op": "AddRelation", "objects": [pointer]}}),
    )
    .await;
    let schema = ok(&server, "GET", "/schemas/Post", None).await;
    let expected_fields = fields_with(json!({
        "title": {"type": "String"},
        "n": {"type": "Number"},
        "ptr": {"type": "Pointer", "targetClass": "Tgt"},
        "rel": {"type": "Relation", "targetClass": "Tgt"}
    }));
    assert_eq!((&schema["className"], &schema["fields"]), (&json!("Post"), &expected_fields));
    assert_eq!(schema.get("indexes"), None, "{schema}");
}

#[tokio::test]
async fn new_classes_get_parse_server_default_class_level_permissions() {
    let server = TestServer::start().await;
    create(&server, "Written", json!({"a": 1})).await;
    ok(&server, "POST", "/schemas/Declared", Some(json!({}))).await;
    for class_name in ["Written", "Declared"] {
        let schema = ok(&server, "GET", &format!("/schemas/{class_name}"), None).await;
        assert_eq!(schema["classLevelPermissions"], default_class_level_permissions(), "{class_name}");
    }
}

#[tokio::test]
async fn get_schemas_lists_every_class() {
    let server = TestServer::start().await;
    create(&server, "Post", json!({"title": "a"})).await;
    create(&server, "Tgt", json!({"name": "t"})).await;
    let all = ok(&server, "GET", "/schemas", None).await;
    let results = all["results"].as_array().expect("results");
    let user_classes: Vec<&Value> =
        results.iter().filter(|schema| !schema["className"].as_str().unwrap_or("_").starts_with('_')).collect();
    assert_eq!(user_classes.len(), 2, "{all}");
    for class_name in ["Post", "Tgt"] {
        let one = ok(&server, "GET", &format!("/schemas/{class_name}"), None).await;
        assert!(user_classes.contains(&&one), "{class_name} in {all}");
    }
    assert_reply(
        &server.master("GET", "/schemas/NoSuch", None).await,
        400,
        json!({"code": 103, "error": "Class NoSuch does not exist."}),
    );
}

#[tokio::test]
async fn post_schema_creates_a_class_with_fields_indexes_and_defaults() {
    let server = TestServer::start().await;
    let fields = json!({
        "title": {"type": "String", "required": true, "defaultValue": "untitled"},
        "n": {"type": "Number"},
        "author": {"type": "Pointer", "targetClass": "_User"},
        "likes": {"type": "Relation", "targetClass": "_User"},
        "tags": {"type": "Array"},
        "loc": {"type": "GeoPoint"}
    });
    let body = json!({"className": "Sch", "fields": fields, "indexes": {"title_1": {"title": 1}}});
    let created = ok(&server, "POST", "/schemas/Sch", Some(body)).await;
    assert_eq!((&created["className"], &created["fields"]), (&json!("Sch"), &fields_with(fields)));
    assert_eq!(created["indexes"]["title_1"], json!({"title": 1}), "{created}");
    assert_eq!(ok(&server, "GET", "/schemas/Sch", None).await, created);
    // The default applies to a create without the field, and the response echoes it.
    let reply = server.client_call("POST", "/classes/Sch", Some(json!({"n": 1}))).await;
    assert_eq!((reply.status, &reply.body["title"]), (201, &json!("untitled")), "{reply:?}");
    // The class name may come from the body instead of the path.
    let created = ok(&server, "POST", "/schemas", Some(json!({"className": "Sch3"}))).await;
    assert_eq!((&created["className"], &created["fields"]), (&json!("Sch3"), &default_fields()));
    // A required field without a default must be given.
    ok(&server, "POST", "/schemas/WithReq", Some(json!({"fields": {"r": {"type": "String", "required": true}}}))).await;
    assert_reply(
        &server.master("POST", "/classes/WithReq", Some(json!({}))).await,
        400,
        json!({"code": 142, "error": "r is required"}),
    );
}

#[tokio::test]
async fn post_schema_errors() {
    let server = TestServer::start().await;
    ok(&server, "POST", "/schemas/Sch", Some(json!({}))).await;
    let exact = [
        ("/schemas/Sch", json!({"className": "Sch"}), json!({"code": 103, "error": "Class Sch already exists."})),
        (
            "/schemas/Sch2",
            json!({"className": "Other"}),
            json!({"code": 103, "error": "Class name mismatch between Other and Sch2."}),
        ),
        ("/schemas", json!({"fields": {}}), json!({"code": 135, "error": "POST /schemas needs a class name."})),
    ];
    for (path, body, expected) in exact {
        assert_reply(&server.master("POST", path, Some(body)).await, 400, expected);
    }
    let coded = [
        ("/schemas/BadType", json!({"fields": {"x": {"type": "Frob"}}}), 111),
        ("/schemas/BadName", json!({"fields": {"a-b": {"type": "String"}}}), 105),
        ("/schemas/TwoGeo", json!({"fields": {"g1": {"type": "GeoPoint"}, "g2": {"type": "GeoPoint"}}}), 111),
        ("/schemas/AclField", json!({"fields": {"ac": {"type": "ACL"}}}), 111),
        ("/schemas/BadDefault", json!({"fields": {"x": {"type": "Number", "defaultValue": "a"}}}), 111),
        ("/schemas/BadClp", json!({"classLevelPermissions": {"frob": {"*": true}}}), 107),
        ("/schemas/BadClpValue", json!({"classLevelPermissions": {"find": {"*": "yes"}}}), 107),
        ("/schemas/BadIndex", json!({"indexes": {"zz_1": {"zz": 1}}}), 102),
        ("/schemas/1bad", json!({}), 103),
        ("/schemas/_Foo", json!({}), 103),
    ];
    let mut answers = Vec::new();
    for (path, body, _) in &coded {
        let reply = server.master("POST", path, Some(body.clone())).await;
        answers.push((*path, reply.status, reply.body["code"].clone()));
    }
    let expected: Vec<_> = coded.iter().map(|(path, _, code)| (*path, 400, json!(code))).collect();
    assert_eq!(answers, expected);
    // Nothing was created by the failed requests.
    for class_name in ["Sch2", "Other", "BadType", "BadName", "TwoGeo", "AclField", "BadDefault", "BadClp", "BadIndex"]
    {
        assert_code(&server.master("GET", &format!("/schemas/{class_name}"), None).await, 103);
    }
}

#[tokio::test]
async fn partial_class_level_permissions_make_unlisted_operations_master_only() {
    let server = TestServer::start().await;
    let created =
        ok(&server, "POST", "/schemas/ClpPartial", Some(json!({"classLevelPermissions": {"find": {"*": true}}}))).await;
    let expected = json!({
        "find": {"*": true}, "get": {}, "count": {}, "create": {}, "update": {}, "delete": {}, "addField": {},
        "protectedFields": {}
    });
    assert_eq!(created["classLevelPermissions"], expected);
    let object_id = create(&server, "ClpPartial", json!({"a": 1})).await;
    let found = server.client_call("GET", "/classes/ClpPartial", None).await;
    assert_eq!((found.status, found.body["results"][0]["objectId"].as_str()), (200, Some(object_id.as_str())));
    assert_code(&server.client_call("POST", "/classes/ClpPartial", Some(json!({"a": 2}))).await, 119);
    assert_code(&server.client_call("GET", "/classes/ClpPartial?count=1&limit=0", None).await, 119);
    assert_code(
        &server.client_call("PUT", &format!("/classes/ClpPartial/{object_id}"), Some(json!({"a": 3}))).await,
        119,
    );
    assert_code(&server.client_call("DELETE", &format!("/classes/ClpPartial/{object_id}"), None).await, 119);
    assert_eq!(count(&server, "ClpPartial").await, json!(1));
    let updated = ok(
        &server,
        "PUT",
        "/schemas/ClpPartial",
        Some(json!({"classLevelPermissions": {"get": {"requiresAuthentication": true}, "count": {"*": true}}})),
    )
    .await;
    let expected = json!({
        "find": {}, "get": {"requiresAuthentication": true}, "count": {"*": true}, "create": {}, "update": {},
        "delete": {}, "addField": {}, "protectedFields": {}
    });
    assert_eq!(updated["classLevelPermissions"], expected);
    // `requiresAuthentication` answers an anonymous caller as if the object were missing.
    let reply = server.client_call("GET", &format!("/classes/ClpPartial/{object_id}"), None).await;
    assert_eq!((reply.status, &reply.body["code"]), (404, &json!(101)), "{reply:?}");
    assert_code(&server.client_call("GET", "/classes/ClpPartial", None).await, 119);
}

#[tokio::test]
async fn put_schema_adds_and_deletes_fields() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Sch", json!({"n": 1, "extra": "x"})).await;
    let updated = ok(&server, "PUT", "/schemas/Sch", Some(json!({"fields": {"added": {"type": "Date"}}}))).await;
    let expected =
        fields_with(json!({"n": {"type": "Number"}, "extra": {"type": "String"}, "added": {"type": "Date"}}));
    assert_eq!(updated["fields"], expected);
    // Re-adding a field with its own type changes nothing.
    let same = ok(&server, "PUT", "/schemas/Sch", Some(json!({"fields": {"n": {"type": "Number"}}}))).await;
    assert_eq!(same["fields"], expected);
    let errors = [
        (json!({"fields": {"n": {"type": "String"}}}), json!({"code": 255, "error": "Field n exists, cannot update."})),
        (
            json!({"fields": {"nope": {"__op": "Delete"}}}),
            json!({"code": 255, "error": "Field nope does not exist, cannot delete."}),
        ),
        (json!({"className": "Other"}), json!({"code": 103, "error": "Class name mismatch between Other and Sch."})),
    ];
    for (body, error) in errors {
        assert_reply(&server.master("PUT", "/schemas/Sch", Some(body)).await, 400, error);
    }
    assert_code(
        &server.master("PUT", "/schemas/Sch", Some(json!({"fields": {"createdAt": {"__op": "Delete"}}}))).await,
        136,
    );
    assert_reply(
        &server.master("PUT", "/schemas/NeverExisted", Some(json!({"fields": {"a": {"type": "String"}}}))).await,
        400,
        json!({"code": 103, "error": "Class NeverExisted does not exist."}),
    );
    // Deleting a field removes its data from every object.
    let deleted = ok(&server, "PUT", "/schemas/Sch", Some(json!({"fields": {"extra": {"__op": "Delete"}}}))).await;
    assert_eq!(deleted["fields"], fields_with(json!({"n": {"type": "Number"}, "added": {"type": "Date"}})));
    let fetched = ok(&server, "GET", &format!("/classes/Sch/{object_id}"), None).await;
    assert_eq!((fetched.get("extra"), &fetched["n"]), (None, &json!(1)), "{fetched}");
    // The name is free again, for any type.
    let retyped = ok(&server, "PUT", "/schemas/Sch", Some(json!({"fields": {"extra": {"type": "Number"}}}))).await;
    assert_eq!(retyped["fields"]["extra"], json!({"type": "Number"}));
    assert_eq!(ok(&server, "GET", &format!("/classes/Sch/{object_id}"), None).await.get("extra"), None);
}

#[tokio::test]
async fn put_schema_adds_and_deletes_indexes() {
    let server = TestServer::start().await;
    create(&server, "Sch", json!({"n": 1, "title": "a"})).await;
    let added = ok(
        &server,
        "PUT",
        "/schemas/Sch",
        Some(json!({"indexes": {"n_1": {"n": 1}, "title_text": {"title": "text"}}})),
    )
    .await;
    assert_eq!(added["indexes"], json!({"_id_": {"_id": 1}, "n_1": {"n": 1}, "title_text": {"title": "text"}}));
    let errors = [
        (json!({"indexes": {"n_1": {"n": 1}}}), "Index n_1 exists, cannot update."),
        (json!({"indexes": {"nope_1": {"__op": "Delete"}}}), "Index nope_1 does not exist, cannot delete."),
        (json!({"indexes": {"zz_1": {"zz": 1}}}), "Field zz does not exist, cannot add index."),
    ];
    for (body, message) in errors {
        assert_reply(
            &server.master("PUT", "/schemas/Sch", Some(body)).await,
            400,
            json!({"code": 102, "error": message}),
        );
    }
    let dropped = ok(&server, "PUT", "/schemas/Sch", Some(json!({"indexes": {"n_1": {"__op": "Delete"}}}))).await;
    assert_eq!(dropped["indexes"], json!({"_id_": {"_id": 1}, "title_text": {"title": "text"}}));
    assert_eq!(ok(&server, "GET", "/schemas/Sch", None).await["indexes"], dropped["indexes"]);
}

#[tokio::test]
async fn delete_schema_refuses_non_empty_classes_and_ignores_missing_ones() {
    let server = TestServer::start().await;
    let object_id = create(&server, "Sch", json!({"n": 1})).await;
    assert_reply(
        &server.master("DELETE", "/schemas/Sch", None).await,
        400,
        json!({"code": 255, "error": "Class Sch is not empty, contains 1 objects, cannot drop schema."}),
    );
    assert_eq!(count(&server, "Sch").await, json!(1));
    assert_reply(&server.master("DELETE", "/schemas/NeverExisted", None).await, 200, json!({}));
    assert_reply(&server.master("DELETE", &format!("/classes/Sch/{object_id}"), None).await, 200, json!({}));
    assert_reply(&server.master("DELETE", "/schemas/Sch", None).await, 200, json!({}));
    assert_code(&server.master("GET", "/schemas/Sch", None).await, 103);
    assert_reply(&server.master("GET", "/classes/Sch", None).await, 200, json!({"results": []}));
    // The name can be used again, with new types.
    create(&server, "Sch", json!({"n": "now a string"})).await;
    assert_eq!(ok(&server, "GET", "/schemas/Sch", None).await["fields"]["n"], json!({"type": "String"}));
}

#[tokio::test]
async fn purge_deletes_every_object_and_keeps_the_schema() {
    let server = TestServer::start().await;
    for n in 0..3 {
        create(&server, "Sch", json!({"n": n})).await;
    }
    let schema = ok(&server, "GET", "/schemas/Sch", None).await;
    assert_reply(&server.master("DELETE", "/purge/Sch", None).await, 200, json!({}));
    assert_eq!(count(&server, "Sch").await, json!(0));
    assert_eq!(ok(&server, "GET", "/schemas/Sch", None).await, schema);
    assert_reply(&server.master("DELETE", "/purge/NeverExisted", None).await, 200, json!({}));
    assert_reply(&server.master("DELETE", "/schemas/Sch", None).await, 200, json!({}));
}

#[tokio::test]
async fn batch_answers_each_item_in_order_with_success_or_error() {
    let server = TestServer::start().await;
    let first = create(&server, "B", json!({"v": 1})).await;
    let untouched = create(&server, "B", json!({"v": 50})).await;
    let reply = client_batch(
        &server,
        vec![
            batch_item("POST", "/classes/B", json!({"v": 2})),
            batch_item("PUT", &format!("/classes/B/{first}"), json!({"v": {"__op": "Increment", "amount": 5}})),
            batch_item("PUT", "/classes/B/nope", json!({"v": 3})),
            batch_item("POST", "/classes/B", json!({"v": "wrongtype"})),
            batch_item("GET", &format!("/classes/B/{untouched}"), json!({})),
            batch_item("GET", "/classes/B", json!({"where": {"v": 999}})),
            batch_item("DELETE", "/classes/B/nope", json!({})),
            batch_item("POST", "/classes/NewClassInBatch", json!({"a": 1})),
            batch_item("POST", "/classes/B", json!({"v": 4, "n": {"__op": "Increment", "amount": 1}})),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let items = reply.body.as_array().expect("array");
    assert_eq!(items.len(), 9, "{reply:?}");
    let created = &items[0]["success"];
    assert_eq!(created.as_object().map(|object| object.len()), Some(2), "{created}");
    assert!(created["objectId"].is_string() && created["createdAt"].is_string(), "{created}");
    assert_eq!(items[1]["success"]["v"], json!(6), "{}", items[1]);
    assert!(items[1]["success"]["updatedAt"].is_string(), "{}", items[1]);
    assert_eq!(items[2], json!({"error": {"code": 101, "error": "Object not found."}}));
    assert_eq!(
        items[3],
        json!({"error": {"code": 111, "error": "schema mismatch for B.v; expected Number but got String"}})
    );
    assert_eq!((&items[4]["success"]["objectId"], &items[4]["success"]["v"]), (&json!(untouched), &json!(50)));
    assert_eq!(items[5], json!({"success": {"results": []}}));
    assert_eq!(items[6], json!({"error": {"code": 101, "error": "Object not found."}}));
    assert_eq!(items[7]["error"]["code"], json!(119), "{}", items[7]);
    assert_eq!(items[8]["success"]["n"], json!(1), "{}", items[8]);
    assert_eq!(values_of_b(&server).await, [json!(2), json!(4), json!(6), json!(50)]);
    assert_code(&server.master("GET", "/schemas/NewClassInBatch", None).await, 103);
}

#[tokio::test]
async fn batch_accepts_the_js_sdk_tunnel_body() {
    let server = TestServer::start().await;
    create(&server, "B", json!({"v": 1})).await;
    let body = json!({"_ApplicationId": APP_ID, "requests": [batch_item("POST", "/classes/B", json!({"v": 11}))]});
    let reply = server.raw("POST", "/batch", &[("Content-Type", "text/plain")], Some(&body.to_string())).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body[0]["success"]["objectId"].is_string(), "{reply:?}");
    assert_eq!(values_of_b(&server).await, [json!(1), json!(11)]);
}

#[tokio::test]
async fn malformed_batches_are_107_and_run_nothing() {
    let server = TestServer::start().await;
    create(&server, "B", json!({"v": 1})).await;
    let valid = batch_item("POST", "/classes/B", json!({"v": 70}));
    let cases = [
        (json!({"requests": {"a": 1}}), "requests must be an array"),
        (json!({}), "requests must be an array"),
        (
            json!({"requests": [valid, {"method": "POST", "path": "/parse/batch", "body": {"requests": []}}]}),
            "nested batch requests are not allowed",
        ),
        (
            json!({"requests": [valid, {"method": "POST", "path": "/classes/B", "body": {"v": 7}}]}),
            "cannot route batch path /classes/B",
        ),
        (
            json!({"requests": [valid, {"method": "POST", "path": "/other/classes/B", "body": {"v": 7}}]}),
            "cannot route batch path /other/classes/B",
        ),
        (
            json!({"requests": [valid, {"method": "POST", "path": 5, "body": {}}]}),
            "batch request path must be a string",
        ),
    ];
    for (body, message) in cases {
        let reply = server.client_call("POST", "/batch", Some(body.clone())).await;
        assert_reply(&reply, 400, json!({"code": 107, "error": message}));
    }
    for request in [
        json!({"method": "POST", "path": "/parse/nonexistent", "body": {}}),
        json!({"method": "post", "path": "/parse/classes/B", "body": {"v": 8}}),
        json!({"path": "/parse/classes/B", "body": {"v": 9}}),
        json!({"method": "POST", "path": "/parse/schemas/B", "body": {}}),
    ] {
        let reply = client_batch(&server, vec![request.clone()]).await;
        assert_code(&reply, 107);
    }
    assert_eq!(values_of_b(&server).await, [json!(1)]);
    assert_reply(&client_batch(&server, Vec::new()).await, 200, json!([]));
}

#[tokio::test]
async fn batch_over_the_limit_is_107_for_clients_but_not_for_the_master_key() {
    let limits = Limits { batch_requests_max: 3, ..Limits::default() };
    let server = TestServer::start_with(TestOptions { limits: Some(limits), ..TestOptions::default() }).await;
    create(&server, "B", json!({"v": 0})).await;
    let requests = |first: i64, length: i64| -> Vec<Value> {
        (first..first + length).map(|v| batch_item("POST", "/classes/B", json!({ "v": v }))).collect()
    };
    let reply = client_batch(&server, requests(1, 3)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_reply(
        &client_batch(&server, requests(10, 4)).await,
        400,
        json!({"code": 107, "error": "Batch request contains 4 sub-requests, which exceeds the limit of 3."}),
    );
    let reply = server.master("POST", "/batch", Some(json!({"requests": requests(20, 4)}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let values: Vec<Value> = [0, 1, 2, 3, 20, 21, 22, 23].into_iter().map(Value::from).collect();
    assert_eq!(values_of_b(&server).await, values);
}

#[tokio::test]
async fn transaction_with_a_failing_item_answers_its_error_and_keeps_nothing() {
    let server = TestServer::start().await;
    let first = create(&server, "B", json!({"v": 1})).await;
    let type_failure = json!({"transaction": true, "requests": [
        batch_item("POST", "/classes/B", json!({"v": 100})),
        batch_item("POST", "/classes/B", json!({"v": "bad"})),
        batch_item("PUT", &format!("/classes/B/{first}"), json!({"v": 1000})),
    ]});
    assert_reply(
        &server.master("POST", "/batch", Some(type_failure)).await,
        400,
        json!({"code": 111, "error": "schema mismatch for B.v; expected Number but got String"}),
    );
    assert_eq!(values_of_b(&server).await, [json!(1)]);
    let missing_failure = json!({"transaction": true, "requests": [
        batch_item("POST", "/classes/B", json!({"v": 200})),
        batch_item("PUT", &format!("/classes/B/{first}"), json!({"v": 201})),
        batch_item("PUT", "/classes/B/nope", json!({"v": 202})),
    ]});
    assert_reply(
        &server.master("POST", "/batch", Some(missing_failure)).await,
        404,
        json!({"code": 101, "error": "Object not found."}),
    );
    assert_eq!(values_of_b(&server).await, [json!(1)]);
}

#[tokio::test]
async fn transaction_with_every_item_succeeding_keeps_them_all() {
    let server = TestServer::start().await;
    let first = create(&server, "B", json!({"v": 1})).await;
    let body = json!({"transaction": true, "requests": [
        batch_item("POST", "/classes/B", json!({"v": 300})),
        batch_item("PUT", &format!("/classes/B/{first}"), json!({"v": 301})),
    ]});
    let reply = server.client_call("POST", "/batch", Some(body)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body[0]["success"]["objectId"].is_string(), "{reply:?}");
    assert_eq!(reply.body[1]["success"].as_object().map(|object| object.len()), Some(1), "{reply:?}");
    assert_eq!(values_of_b(&server).await, [json!(300), json!(301)]);
    // Only the boolean asks for a transaction: the string "true" runs items independently.
    let body = json!({"transaction": "true", "requests": [
        batch_item("POST", "/classes/B", json!({"v": 400})),
        batch_item("POST", "/classes/B", json!({"v": "bad"})),
    ]});
    let reply = server.client_call("POST", "/batch", Some(body)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body[1]["error"]["code"], json!(111), "{reply:?}");
    assert_eq!(values_of_b(&server).await, [json!(300), json!(301), json!(400)]);
}

#[tokio::test]
async fn batch_items_carry_the_callers_rights() {
    let server = TestServer::start().await;
    let private = create(&server, "B", json!({"v": 1, "ACL": {}})).await;
    let reply = client_batch(
        &server,
        vec![
            batch_item("PUT", &format!("/classes/B/{private}"), json!({"v": 2})),
            batch_item("DELETE", &format!("/classes/B/{private}"), json!({})),
            batch_item("GET", &format!("/classes/B/{private}"), json!({})),
            batch_item("GET", "/classes/B", json!({"count": 1, "limit": 0})),
        ],
    )
    .await;
    let not_found = json!({"error": {"code": 101, "error": "Object not found."}});
    assert_reply(&reply, 200, json!([not_found, not_found, not_found, {"success": {"results": [], "count": 0}}]));
    assert_eq!(values_of_b(&server).await, [json!(1)]);
}
