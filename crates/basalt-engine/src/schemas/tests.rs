//! The schema API's rules: master key only, class names, field types that may not change,
//! default fields that may not be touched, indexes, and class-level permissions checked and
//! completed as Parse Server does.

use basalt_core::{ClassName, ClassSchema, ErrorCode, FieldName, FieldSpec, FieldType, ParseError, ParseResult};
use serde_json::{Map, Value, json};

use super::{check_class_level_permissions, index_fields, valid_clp_entity};
use crate::test_support::body;
use crate::{Caller, Engine};

/// `Game` with `owner: Pointer<_User>`, `team: Pointer<Team>`, `players: Array`, `score: Number`.
fn game() -> ClassSchema {
    let mut schema = ClassSchema::new(ClassName::parse("Game").expect("class name"));
    for (name, field_type) in [
        ("owner", FieldType::Pointer(ClassName::parse("_User").expect("class name"))),
        ("team", FieldType::Pointer(ClassName::parse("Team").expect("class name"))),
        ("players", FieldType::Array),
        ("score", FieldType::Number),
    ] {
        schema.fields.insert(FieldName::parse(name).expect("field name"), FieldSpec::of(field_type));
    }
    schema
}

fn invalid(message: &str) -> ParseError {
    ParseError::invalid_json(message)
}

#[test]
fn permissions_may_be_granted_to_the_public_users_roles_and_authenticated_callers() {
    for valid in ["*", "requiresAuthentication", "role:Admins", "role:with space", "abcDEF1234"] {
        assert!(valid_clp_entity(valid), "{valid}");
    }
    for invalid in ["", "role:", "bad key", "user-1", "authenticated!", "pointerFields "] {
        assert!(!valid_clp_entity(invalid), "{invalid}");
    }
}

#[test]
fn operations_not_given_become_master_only_and_protected_fields_empty() {
    let checked = check_class_level_permissions(&json!({"find": {"*": true}}), &game()).unwrap();
    assert_eq!(
        checked,
        json!({"find": {"*": true}, "count": {}, "get": {}, "create": {}, "update": {}, "delete": {}, "addField": {},
            "protectedFields": {}})
    );
}

#[test]
fn a_grant_must_be_true_to_a_valid_entity_of_a_known_operation() {
    let cases = [
        (json!({"frob": {}}), "frob is not a valid operation for class level permissions"),
        (json!({"find": {"bad key": true}}), "'bad key' is not a valid key for class level permissions"),
        (json!({"find": {"*": false}}), "'false' is not a valid value for class level permissions find:*:false"),
        (json!({"get": {"u1": "yes"}}), "'\"yes\"' is not a valid value for class level permissions get:u1:\"yes\""),
        (json!({"find": true}), "find must be an object"),
    ];
    for (permissions, message) in cases {
        assert_eq!(check_class_level_permissions(&permissions, &game()), Err(invalid(message)), "{permissions}");
    }
    assert_eq!(
        check_class_level_permissions(&json!([]), &game()),
        Err(invalid("classLevelPermissions must be an object"))
    );
}

#[test]
fn pointer_permissions_must_name_user_pointers_or_arrays_of_the_class() {
    for usable in [json!({"readUserFields": ["owner", "players"]}), json!({"update": {"pointerFields": ["owner"]}})] {
        assert!(check_class_level_permissions(&usable, &game()).is_ok(), "{usable}");
    }
    let cases = [
        (
            json!({"writeUserFields": ["team"]}),
            "'team' is not a valid column for class level pointer permissions writeUserFields",
        ),
        (
            json!({"readUserFields": ["score"]}),
            "'score' is not a valid column for class level pointer permissions readUserFields",
        ),
        (
            json!({"readUserFields": ["missing"]}),
            "'missing' is not a valid column for class level pointer permissions readUserFields",
        ),
        (
            json!({"find": {"pointerFields": ["team"]}}),
            "'team' is not a valid column for class level pointer permissions pointerFields",
        ),
        (json!({"readUserFields": "owner"}), "this perms[readUserFields] is not a valid array"),
        (json!({"readUserFields": [1]}), "this perms[readUserFields] is not a valid array"),
    ];
    for (permissions, message) in cases {
        assert_eq!(check_class_level_permissions(&permissions, &game()), Err(invalid(message)), "{permissions}");
    }
}

#[test]
fn protected_fields_map_entities_to_lists_of_field_names() {
    let valid = json!({"protectedFields": {"*": ["score"], "role:Admins": [], "authenticated": ["owner"]}});
    assert_eq!(check_class_level_permissions(&valid, &game()).unwrap()["protectedFields"], valid["protectedFields"]);
    for malformed in [
        json!({"protectedFields": []}),
        json!({"protectedFields": {"*": "score"}}),
        json!({"protectedFields": {"*": [1]}}),
    ] {
        assert_eq!(
            check_class_level_permissions(&malformed, &game()),
            Err(invalid("protectedFields must map entities to arrays of field names")),
            "{malformed}"
        );
    }
}

/// Parse compat (107): once accepted, after which every get by id on the class was refused.
#[test]
fn a_default_field_may_not_be_protected() {
    for field in ["objectId", "createdAt", "updatedAt", "ACL"] {
        let permissions = json!({"protectedFields": {"*": [field]}});
        assert_eq!(
            check_class_level_permissions(&permissions, &game()),
            Err(invalid(&format!("Default field '{field}' can not be protected"))),
            "{field}"
        );
    }
}

#[test]
fn index_names_are_identifiers_other_than_the_primary_key_and_fields_sort_one_way_or_are_text() {
    assert_eq!(
        index_fields("by_score", &json!({"score": -1, "name": "text"})).unwrap(),
        vec![(FieldName::parse("name").unwrap(), json!("text")), (FieldName::parse("score").unwrap(), json!(-1))]
    );
    for name in ["", "_id_", "bad-name", "bad name"] {
        assert_eq!(
            index_fields(name, &json!({"score": 1})),
            Err(ParseError::invalid_query(format!("Invalid index name: {name}"))),
            "{name}"
        );
    }
    let shape = ParseError::invalid_query("Index by_score must be an object of field: 1 | -1 | \"text\"");
    for spec in [json!({}), json!({"score": 2}), json!({"score": "1"}), json!(["score"])] {
        assert_eq!(index_fields("by_score", &spec), Err(shape.clone()), "{spec}");
    }
}

// Against an engine over a temporary SQLite store.

async fn engine() -> (Engine, tempfile::TempDir) {
    let test = crate::test_support::test_engine_with(
        |config| config.limits.class_fields_max = 8,
        crate::EngineParts::default(),
    )
    .await;
    (test.engine, test.dir)
}

async fn create(engine: &Engine, class_name: &str, value: Value) -> ParseResult<Value> {
    engine.create_schema(&Caller::master(), Some(class_name), &body(value)).await
}

async fn update(engine: &Engine, class_name: &str, value: Value) -> ParseResult<Value> {
    engine.update_schema(&Caller::master(), &crate::test_support::class(class_name), &body(value)).await
}

fn code(result: ParseResult<Value>) -> (ErrorCode, String) {
    let error = result.expect_err("refused");
    (error.code, error.message)
}

#[tokio::test]
async fn every_schema_operation_needs_the_master_key() {
    let (engine, _dir) = engine().await;
    let user = Caller { user_id: Some("u1".into()), ..Caller::default() };
    let required = ParseError::master_key_required();
    assert_eq!(engine.all_schemas(&user).await, Err(required.clone()));
    assert_eq!(engine.class_schema(&user, &crate::test_support::class("Game")).await, Err(required.clone()));
    assert_eq!(engine.create_schema(&user, Some("Game"), &Map::new()).await, Err(required.clone()));
    assert_eq!(
        engine.update_schema(&user, &crate::test_support::class("Game"), &Map::new()).await,
        Err(required.clone())
    );
    assert_eq!(engine.delete_schema(&user, &crate::test_support::class("Game")).await, Err(required.clone()));
    assert_eq!(engine.purge_class(&user, &crate::test_support::class("Game")).await, Err(required));
    assert_eq!(engine.all_schemas(&Caller::master()).await, Ok(json!({"results": []})));
}

#[tokio::test]
async fn a_new_class_needs_one_consistent_name_not_yet_taken() {
    let (engine, _dir) = engine().await;
    assert_eq!(
        code(engine.create_schema(&Caller::master(), None, &Map::new()).await),
        (ErrorCode::MissingRequiredField, "POST /schemas needs a class name.".into())
    );
    assert_eq!(
        code(create(&engine, "Game", json!({"className": "Match"})).await),
        (ErrorCode::InvalidClassName, "Class name mismatch between Match and Game.".into())
    );
    assert!(create(&engine, "Game", json!({"className": "Game"})).await.is_ok());
    assert_eq!(
        code(create(&engine, "Game", json!({})).await),
        (ErrorCode::InvalidClassName, "Class Game already exists.".into())
    );
    assert_eq!(code(create(&engine, "9lives", json!({})).await).0, ErrorCode::InvalidClassName);
    let by_body = engine.create_schema(&Caller::master(), None, &body(json!({"className": "Match"}))).await;
    assert_eq!(by_body.unwrap()["className"], json!("Match"));
}

#[tokio::test]
async fn a_new_class_gets_the_default_fields_and_open_permissions_and_ignores_redeclared_default_fields() {
    let (engine, _dir) = engine().await;
    let created =
        create(&engine, "Game", json!({"fields": {"score": {"type": "Number"}, "objectId": {"type": "Number"}}}))
            .await
            .unwrap();
    assert_eq!(
        created["fields"],
        json!({"objectId": {"type": "String"}, "createdAt": {"type": "Date"}, "updatedAt": {"type": "Date"},
            "ACL": {"type": "ACL"}, "score": {"type": "Number"}})
    );
    assert_eq!(created["classLevelPermissions"], basalt_core::schema::default_class_level_permissions());
}

#[tokio::test]
async fn a_new_class_refuses_acl_fields_a_second_geo_point_and_too_many_fields() {
    let (engine, _dir) = engine().await;
    assert_eq!(
        code(create(&engine, "A", json!({"fields": {"rights": {"type": "ACL"}}})).await),
        (ErrorCode::IncorrectType, "invalid field type: ACL".into())
    );
    assert_eq!(
        code(
            create(&engine, "B", json!({"fields": {"here": {"type": "GeoPoint"}, "there": {"type": "GeoPoint"}}}))
                .await
        ),
        (ErrorCode::IncorrectType, "currently, only one GeoPoint field may exist in an object.".into())
    );
    let five: Map<String, Value> = (0..5).map(|i| (format!("f{i}"), json!({"type": "String"}))).collect();
    assert_eq!(code(create(&engine, "C", json!({"fields": five})).await).0, ErrorCode::InvalidSchemaOperation);
    let four: Map<String, Value> = (0..4).map(|i| (format!("f{i}"), json!({"type": "String"}))).collect();
    assert!(create(&engine, "C", json!({"fields": four})).await.is_ok(), "4 defaults + 4 = the limit of 8");
    assert_eq!(engine.schemas().get(&ClassName::parse("A").unwrap()), None, "nothing was created");
}

#[tokio::test]
async fn a_new_class_indexes_only_its_own_fields() {
    let (engine, _dir) = engine().await;
    assert_eq!(
        code(create(&engine, "Game", json!({"indexes": {"by_score": {"score": 1}}})).await),
        (ErrorCode::InvalidQuery, "Field score does not exist, cannot add index.".into())
    );
    let created = create(
        &engine,
        "Game",
        json!({"fields": {"score": {"type": "Number"}}, "indexes": {"by_score": {"score": 1}}}),
    )
    .await
    .unwrap();
    assert_eq!(created["indexes"], json!({"_id_": {"_id": 1}, "by_score": {"score": 1}}));
}

#[tokio::test]
async fn a_fields_type_cannot_be_changed_but_redeclaring_the_same_type_is_a_no_op() {
    let (engine, _dir) = engine().await;
    create(&engine, "Game", json!({"fields": {"score": {"type": "Number"}}})).await.unwrap();
    assert_eq!(
        code(update(&engine, "Game", json!({"fields": {"score": {"type": "String"}}})).await),
        (ErrorCode::InvalidSchemaOperation, "Field score exists, cannot update.".into())
    );
    let same = update(&engine, "Game", json!({"fields": {"score": {"type": "Number"}}})).await.unwrap();
    assert_eq!(same["fields"]["score"], json!({"type": "Number"}));
    let pointer = json!({"fields": {"owner": {"type": "Pointer", "targetClass": "_User"}}});
    update(&engine, "Game", pointer).await.unwrap();
    let retargeted = json!({"fields": {"owner": {"type": "Pointer", "targetClass": "Team"}}});
    assert_eq!(code(update(&engine, "Game", retargeted).await).0, ErrorCode::InvalidSchemaOperation);
}

#[tokio::test]
async fn default_fields_cannot_be_deleted_nor_retyped() {
    let (engine, _dir) = engine().await;
    create(&engine, "Game", json!({})).await.unwrap();
    for field in ["objectId", "createdAt", "updatedAt", "ACL"] {
        assert_eq!(
            code(update(&engine, "Game", json!({"fields": {field: {"__op": "Delete"}}})).await),
            (ErrorCode::ChangedImmutableField, format!("field {field} cannot be changed")),
            "{field}"
        );
    }
    assert_eq!(
        code(update(&engine, "Game", json!({"fields": {"createdAt": {"type": "String"}}})).await),
        (ErrorCode::InvalidSchemaOperation, "Field createdAt exists, cannot update.".into())
    );
    engine.system_class("_User").await.unwrap();
    assert_eq!(
        code(update(&engine, "_User", json!({"fields": {"username": {"__op": "Delete"}}})).await),
        (ErrorCode::ChangedImmutableField, "field username cannot be changed".into())
    );
}

#[tokio::test]
async fn an_added_field_may_be_used_by_pointer_permissions_in_the_same_update() {
    let (engine, _dir) = engine().await;
    create(&engine, "Game", json!({})).await.unwrap();
    let alone = json!({"classLevelPermissions": {"readUserFields": ["owner"]}});
    assert_eq!(code(update(&engine, "Game", alone).await).0, ErrorCode::InvalidJson);
    let together = json!({"fields": {"owner": {"type": "Pointer", "targetClass": "_User"}},
        "classLevelPermissions": {"readUserFields": ["owner"]}});
    let updated = update(&engine, "Game", together).await.unwrap();
    assert_eq!(updated["classLevelPermissions"]["readUserFields"], json!(["owner"]));
    assert_eq!(updated["classLevelPermissions"]["find"], json!({}), "operations not given are master-only");
}

#[tokio::test]
async fn an_update_names_an_existing_class_consistently() {
    let (engine, _dir) = engine().await;
    assert_eq!(
        code(update(&engine, "Ghost", json!({})).await),
        (ErrorCode::InvalidClassName, "Class Ghost does not exist.".into())
    );
    create(&engine, "Game", json!({})).await.unwrap();
    assert_eq!(
        code(update(&engine, "Game", json!({"className": "Other"})).await),
        (ErrorCode::InvalidClassName, "Class name mismatch between Other and Game.".into())
    );
    assert_eq!(
        code(engine.class_schema(&Caller::master(), &crate::test_support::class("Ghost")).await).1,
        "Class Ghost does not exist."
    );
}

#[tokio::test]
async fn a_class_with_objects_cannot_be_deleted_until_purged_and_a_missing_one_deletes_quietly() {
    let (engine, _dir) = engine().await;
    assert_eq!(engine.delete_schema(&Caller::master(), &crate::test_support::class("Ghost")).await, Ok(json!({})));
    create(&engine, "Game", json!({})).await.unwrap();
    engine.create_object(&Caller::master(), &crate::test_support::class("Game"), &body(json!({"n": 1}))).await.unwrap();
    assert_eq!(
        code(engine.delete_schema(&Caller::master(), &crate::test_support::class("Game")).await).0,
        ErrorCode::InvalidSchemaOperation
    );
    assert_eq!(engine.purge_class(&Caller::master(), &crate::test_support::class("Game")).await, Ok(json!({})));
    assert_eq!(engine.delete_schema(&Caller::master(), &crate::test_support::class("Game")).await, Ok(json!({})));
    assert_eq!(engine.schemas().get(&ClassName::parse("Game").unwrap()), None);
}

#[tokio::test]
async fn the_schema_of_users_never_lists_auth_data() {
    let (engine, _dir) = engine().await;
    engine.system_class("_User").await.unwrap();
    let users = engine.class_schema(&Caller::master(), &crate::test_support::class("_User")).await.unwrap();
    assert!(users["fields"].get("authData").is_none());
    assert_eq!(users["fields"]["email"], json!({"type": "String"}));
}
