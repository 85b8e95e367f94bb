//! Reading a query's parameters, shaping results (`keys`, `excludeKeys`, `include`), and what a
//! find or get returns to each caller: protected fields and other users' `authData` removed,
//! passwords never returned, a session token only on a get of one's own user.

use std::collections::HashMap;

use basalt_core::{ErrorCode, Limits};
use serde_json::{Map, Value, json};

use super::*;
use crate::{AuthConfig, Caller, Engine, EngineParts};

fn params(value: Value) -> Map<String, Value> {
    value.as_object().expect("object").clone()
}

fn find_params(value: Value) -> ParseResult<FindParams> {
    FindParams::from_params(&params(value), 100, 1000)
}

#[test]
fn a_find_without_limit_gets_the_default_and_a_negative_limit_means_the_default() {
    assert_eq!(find_params(json!({})).unwrap().limit, Some(100));
    assert_eq!(find_params(json!({"limit": -1})).unwrap().limit, Some(100));
    assert_eq!(find_params(json!({"limit": "25"})).unwrap().limit, Some(25));
    assert_eq!(find_params(json!({"limit": 0})).unwrap().limit, Some(0));
}

#[test]
fn a_limit_above_the_maximum_or_not_an_integer_is_refused_with_102() {
    let error = find_params(json!({"limit": 1001})).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidQuery);
    assert_eq!(error.message, "limit 1001 is above the maximum of 1000; page with skip or order by objectId");
    assert_eq!(find_params(json!({"limit": 1000})).unwrap().limit, Some(1000));
    for bad in [json!(2.5), json!("ten"), json!([1])] {
        assert_eq!(find_params(json!({"limit": bad})).unwrap_err().message, "limit must be an integer");
    }
}

#[test]
fn a_negative_skip_is_refused_and_a_missing_one_is_zero() {
    assert_eq!(find_params(json!({})).unwrap().skip, 0);
    assert_eq!(find_params(json!({"skip": "7"})).unwrap().skip, 7);
    let error = find_params(json!({"skip": -1})).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidQuery, "skip must be a non-negative integer"));
}

#[test]
fn unknown_find_parameters_are_refused_and_read_preferences_ignored() {
    let error = find_params(json!({"frob": 1})).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidQuery, "Invalid parameter for query: frob"));
    for ignored in ["readPreference", "includeReadPreference", "subqueryReadPreference", "hint", "comment", "explain"] {
        assert!(find_params(json!({ignored: "x"})).is_ok(), "{ignored}");
    }
}

#[test]
fn a_where_string_is_decoded_as_json_and_invalid_json_is_107() {
    assert_eq!(find_params(json!({"where": "{\"n\":1}"})).unwrap().where_json, json!({"n": 1}));
    assert_eq!(find_params(json!({"where": {"n": 2}})).unwrap().where_json, json!({"n": 2}));
    let error = find_params(json!({"where": "{n:1"})).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidJson, "where parameter is not valid JSON"));
}

#[test]
fn count_and_include_all_read_as_truthy_or_falsy_like_parse_server() {
    for truthy in [json!(1), json!(true), json!("1"), json!("true")] {
        assert!(find_params(json!({"count": truthy})).unwrap().count, "{truthy}");
    }
    for falsy in [json!(0), json!(false), json!("0"), json!("false"), json!(""), Value::Null] {
        assert!(!find_params(json!({"count": falsy})).unwrap().count, "{falsy}");
    }
    assert!(find_params(json!({"includeAll": "true"})).unwrap().include_all);
}

#[test]
fn keys_given_as_an_array_are_joined_and_other_non_strings_refused() {
    assert_eq!(find_params(json!({"keys": ["a", "b.c"]})).unwrap().keys.as_deref(), Some("a,b.c"));
    assert_eq!(find_params(json!({"include": 3})).unwrap_err().message, "include must be a string");
}

#[test]
fn a_get_accepts_only_keys_include_and_exclude_keys() {
    let get = GetParams::from_params(&params(json!({"keys": "a", "include": "b", "excludeKeys": "c"}))).unwrap();
    assert_eq!(
        (get.keys.as_deref(), get.include.as_deref(), get.exclude_keys.as_deref()),
        (Some("a"), Some("b"), Some("c"))
    );
    let error = GetParams::from_params(&params(json!({"where": {}}))).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidQuery, "Improper encode of parameter"));
}

#[test]
fn the_parameters_a_before_find_sees_are_the_ones_read() {
    let read =
        find_params(json!({"where": {"n": 1}, "limit": 5, "skip": 2, "keys": "n", "order": "-n", "count": 1})).unwrap();
    assert_eq!(
        Value::Object(read.to_params()),
        json!({"where": {"n": 1}, "order": "-n", "limit": 5, "skip": 2, "keys": "n", "count": 1})
    );
    assert_eq!(Value::Object(FindParams::default().to_params()), json!({"where": {}}));
}

#[test]
fn dotted_keys_and_exclude_keys_include_their_parent_paths() {
    let shape = shape_of(&Limits::default(), Some("title,author.name"), Some("box.secret"), None, false).unwrap();
    assert_eq!(shape.fields, Some(vec!["title".to_owned(), "author".to_owned()]));
    assert_eq!(shape.includes, vec![vec!["author".to_owned()], vec!["box".to_owned()]]);
    assert_eq!(shape.nested_keys.get("author"), Some(&vec!["name".to_owned()]));
    assert_eq!(shape.nested_exclude.get("box"), Some(&vec!["secret".to_owned()]));
}

#[test]
fn include_paths_bring_their_prefixes_shortest_first_and_a_star_includes_all() {
    let shape = shape_of(&Limits::default(), None, None, Some("a.b.c,d"), false).unwrap();
    let paths: Vec<String> = shape.includes.iter().map(|path| path.join(".")).collect();
    assert_eq!(paths, ["a", "d", "a.b", "a.b.c"]);
    assert!(!shape.include_all);
    assert!(shape_of(&Limits::default(), None, None, Some("*"), false).unwrap().include_all);
}

#[test]
fn an_include_deeper_than_the_limit_is_refused_with_102() {
    let limits = Limits { include_depth_max: 2, ..Limits::default() };
    assert!(shape_of(&limits, None, None, Some("a.b"), false).is_ok());
    let error = shape_of(&limits, None, None, Some("a.b.c"), false).map(|_| ()).unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (ErrorCode::InvalidQuery, "include paths may have at most 2 levels")
    );
    // Dotted keys count as includes too.
    assert!(shape_of(&limits, Some("a.b.c.d"), None, None, false).is_err());
}

#[test]
fn keys_keep_the_system_fields_and_relations_and_exclude_keys_cannot_remove_them() {
    let mut object = params(json!({
        "objectId": "o", "createdAt": "c", "updatedAt": "u", "ACL": {}, "title": "t", "body": "b",
        "fans": {"__type": "Relation", "className": "_User"}
    }));
    project(&mut object, Some(&["title".to_owned()]), &[]);
    assert_eq!(
        Value::Object(object.clone()),
        json!({"objectId": "o", "createdAt": "c", "updatedAt": "u", "ACL": {}, "title": "t",
            "fans": {"__type": "Relation", "className": "_User"}})
    );
    project(&mut object, None, &["objectId".to_owned(), "title".to_owned(), "createdAt".to_owned()]);
    assert!(object.contains_key("objectId") && object.contains_key("createdAt"));
    assert!(!object.contains_key("title"));
}

#[test]
fn pointers_to_unreadable_objects_are_dropped_from_fields_and_arrays() {
    let pointer = |id: &str| json!({"__type": "Pointer", "className": "Post", "objectId": id});
    let mut result = json!({"one": pointer("a"), "gone": pointer("x"), "many": [pointer("a"), pointer("x"), 7]});
    let mut found = Vec::new();
    for path in [["one"], ["gone"], ["many"]] {
        let path: Vec<String> = path.iter().map(|p| (*p).to_owned()).collect();
        collect_pointers(&result, &path, &mut found);
    }
    assert_eq!(found.len(), 4);
    let fetched = HashMap::from([(("Post".to_owned(), "a".to_owned()), json!({"__type": "Object", "objectId": "a"}))]);
    for path in ["one", "gone", "many"] {
        replace_pointers(&mut result, &[path.to_owned()], &fetched);
    }
    assert_eq!(
        result,
        json!({"one": {"__type": "Object", "objectId": "a"}, "many": [{"__type": "Object", "objectId": "a"}, 7]})
    );
}

// What a find or get returns to each caller, against an engine over a temporary SQLite store.

struct World {
    engine: Engine,
    alice: Caller,
    bob: Caller,
    alice_id: String,
    ghost_id: String,
    _dir: tempfile::TempDir,
}

async fn sign_up(engine: &Engine, body: Value) -> (String, Option<String>) {
    let signed = engine.sign_up(&Caller::anonymous(), &params(body)).await.expect("sign up");
    let token = signed.body.get("sessionToken").and_then(Value::as_str).map(str::to_owned);
    (signed.object_id, token)
}

/// Users alice and bob (with emails), an anonymous user "ghost" (with `authData`), all publicly
/// readable; `Post` with `secret` protected from the public and a pointer `author`.
async fn world() -> World {
    let test = crate::test_support::test_engine_with(
        |config| config.auth = AuthConfig { enforce_private_users: false, ..AuthConfig::default() },
        EngineParts::default(),
    )
    .await;
    let (engine, dir) = (test.engine, test.dir);
    let (alice_id, alice_token) =
        sign_up(&engine, json!({"username": "alice", "password": "pw-alice", "email": "alice@example.com"})).await;
    let (_, bob_token) =
        sign_up(&engine, json!({"username": "bob", "password": "pw-bob", "email": "bob@example.com"})).await;
    let (ghost_id, _) = sign_up(&engine, json!({"authData": {"anonymous": {"id": "ghost-device"}}})).await;
    let alice = engine.caller_for_session(&alice_token.expect("token"), None).await.expect("alice");
    let bob = engine.caller_for_session(&bob_token.expect("token"), None).await.expect("bob");
    let body = json!({
        "fields": {"title": {"type": "String"}, "secret": {"type": "String"},
            "author": {"type": "Pointer", "targetClass": "_User"}, "parent": {"type": "Pointer", "targetClass": "Post"}},
        "classLevelPermissions": {"find": {"*": true}, "get": {"*": true}, "count": {"*": true},
            "create": {"*": true}, "update": {"*": true}, "delete": {"*": true}, "addField": {"*": true},
            "protectedFields": {"*": ["secret"]}}
    });
    engine.create_schema(&Caller::master(), Some("Post"), &params(body)).await.expect("Post");
    World { engine, alice, bob, alice_id, ghost_id, _dir: dir }
}

impl World {
    async fn users(&self, caller: &Caller) -> HashMap<String, Map<String, Value>> {
        let found = self
            .engine
            .find_objects(caller, &crate::test_support::class("_User"), &FindParams::default())
            .await
            .expect("find users");
        found
            .results
            .into_iter()
            .map(|user| {
                let user = user.as_object().expect("object").clone();
                (user["username"].as_str().expect("username").to_owned(), user)
            })
            .collect()
    }

    async fn post(&self, body: Value) -> String {
        self.engine
            .create_object(&Caller::master(), &crate::test_support::class("Post"), &params(body))
            .await
            .expect("post")
            .object_id
    }
}

fn keys_of(object: &Map<String, Value>) -> Vec<&str> {
    object.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn a_user_list_never_returns_passwords_or_session_tokens_to_anyone() {
    let world = world().await;
    for caller in [Caller::master(), Caller::anonymous(), world.alice.clone()] {
        let users = world.users(&caller).await;
        assert_eq!(users.len(), 3);
        for user in users.values() {
            assert!(!user.contains_key("password"), "{user:?}");
            assert!(!user.contains_key("sessionToken"), "{user:?}");
            assert!(!keys_of(user).iter().any(|key| key.starts_with('_')), "{user:?}");
        }
    }
}

#[tokio::test]
async fn other_users_emails_and_auth_data_are_hidden_but_ones_own_are_shown() {
    let world = world().await;
    let anonymous = world.users(&Caller::anonymous()).await;
    for user in anonymous.values() {
        assert!(!user.contains_key("email") && !user.contains_key("authData"), "{user:?}");
    }
    let seen_by_alice = world.users(&world.alice).await;
    assert_eq!(seen_by_alice["alice"]["email"], json!("alice@example.com"));
    assert!(!seen_by_alice["bob"].contains_key("email"));
    let ghost = seen_by_alice.values().find(|user| user["objectId"] == json!(world.ghost_id)).expect("ghost");
    assert!(!ghost.contains_key("authData"));
    assert_eq!(world.users(&world.bob).await["bob"]["email"], json!("bob@example.com"));
}

#[tokio::test]
async fn the_master_key_sees_emails_and_auth_data() {
    let world = world().await;
    let users = world.users(&Caller::master()).await;
    assert_eq!(users["bob"]["email"], json!("bob@example.com"));
    let ghost = users.values().find(|user| user["objectId"] == json!(world.ghost_id)).expect("ghost");
    assert_eq!(ghost["authData"], json!({"anonymous": {"id": "ghost-device"}}));
}

#[tokio::test]
async fn a_get_of_ones_own_user_returns_the_session_token_and_of_another_user_does_not() {
    let world = world().await;
    let own = world
        .engine
        .get_object(&world.alice, &crate::test_support::class("_User"), &world.alice_id, &GetParams::default())
        .await
        .unwrap();
    assert_eq!(own["sessionToken"], json!(world.alice.session_token.clone().expect("token")));
    assert_eq!(own["email"], json!("alice@example.com"));
    assert!(own.get("password").is_none());
    let other = world
        .engine
        .get_object(&world.bob, &crate::test_support::class("_User"), &world.alice_id, &GetParams::default())
        .await
        .unwrap();
    assert!(other.get("sessionToken").is_none());
    assert!(other.get("email").is_none());
    let master = world
        .engine
        .get_object(&Caller::master(), &crate::test_support::class("_User"), &world.alice_id, &GetParams::default())
        .await;
    assert!(master.unwrap().get("sessionToken").is_none(), "the master key holds no session");
}

#[tokio::test]
async fn a_protected_field_is_left_out_of_finds_gets_and_keys_without_an_error() {
    let world = world().await;
    let id = world.post(json!({"title": "t", "secret": "s"})).await;
    let keyed = FindParams { keys: Some("secret,title".into()), ..FindParams::default() };
    let found = world
        .engine
        .find_objects(&world.bob, &crate::test_support::class("Post"), &keyed)
        .await
        .expect("keys naming it are no error");
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.results[0]["title"], json!("t"));
    assert!(found.results[0].get("secret").is_none());
    let got = world
        .engine
        .get_object(&Caller::anonymous(), &crate::test_support::class("Post"), &id, &GetParams::default())
        .await
        .unwrap();
    assert!(got.get("secret").is_none() && got["title"] == json!("t"));
    let master = world
        .engine
        .get_object(&Caller::master(), &crate::test_support::class("Post"), &id, &GetParams::default())
        .await
        .unwrap();
    assert_eq!(master["secret"], json!("s"));
}

#[tokio::test]
async fn an_included_object_is_shaped_for_the_caller_too() {
    let world = world().await;
    let parent = world.post(json!({"title": "parent", "secret": "hidden"})).await;
    let author = json!({"__type": "Pointer", "className": "_User", "objectId": world.alice_id});
    let child = world
        .post(json!({"title": "child", "parent": {"__type": "Pointer", "className": "Post", "objectId": parent},
            "author": author}))
        .await;
    let include = GetParams { include: Some("parent,author".into()), ..GetParams::default() };
    let got = world.engine.get_object(&world.bob, &crate::test_support::class("Post"), &child, &include).await.unwrap();
    assert_eq!(got["parent"]["__type"], json!("Object"));
    assert_eq!(got["parent"]["className"], json!("Post"));
    assert_eq!(got["parent"]["title"], json!("parent"));
    assert!(got["parent"].get("secret").is_none());
    assert_eq!(got["author"]["username"], json!("alice"));
    assert!(got["author"].get("email").is_none(), "alice's email is hidden from bob");
    let own =
        world.engine.get_object(&world.alice, &crate::test_support::class("Post"), &child, &include).await.unwrap();
    assert_eq!(own["author"]["email"], json!("alice@example.com"));
}

#[tokio::test]
async fn an_included_pointer_to_a_deleted_object_is_dropped() {
    let world = world().await;
    let parent = world.post(json!({"title": "parent"})).await;
    let child = world
        .post(json!({"title": "child", "parent": {"__type": "Pointer", "className": "Post", "objectId": parent}}))
        .await;
    world.engine.delete_object(&Caller::master(), &crate::test_support::class("Post"), &parent).await.expect("delete");
    let include = GetParams { include: Some("parent".into()), ..GetParams::default() };
    let got = world
        .engine
        .get_object(&Caller::anonymous(), &crate::test_support::class("Post"), &child, &include)
        .await
        .unwrap();
    assert!(got.get("parent").is_none(), "{got}");
    let plain = world
        .engine
        .get_object(&Caller::anonymous(), &crate::test_support::class("Post"), &child, &GetParams::default())
        .await
        .unwrap();
    assert_eq!(plain["parent"], json!({"__type": "Pointer", "className": "Post", "objectId": parent}));
}

#[tokio::test]
async fn a_missing_class_is_119_for_clients_and_empty_for_the_master_key() {
    let world = world().await;
    let error = world
        .engine
        .find_objects(&world.alice, &crate::test_support::class("Nowhere"), &FindParams::default())
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::OperationForbidden);
    assert_eq!(error.message, "This user is not allowed to access non-existent class: Nowhere");
    let counted = FindParams { count: true, ..FindParams::default() };
    let found =
        world.engine.find_objects(&Caller::master(), &crate::test_support::class("Nowhere"), &counted).await.unwrap();
    assert_eq!((found.results.len(), found.count), (0, Some(0)));
}
