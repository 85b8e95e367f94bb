//! The rules of writes: which classes clients may touch, what a body may hold, defaults and
//! required fields, and the class-level permissions of creates, updates and new fields.

use basalt_core::update::UpdateOp;
use basalt_core::{ClassSchema, ErrorCode, FieldName, FieldSpec, FieldType};
use serde_json::{Map, Value, json};

use super::{apply_defaults_and_required, check_body, check_class_access, merge_into};
use crate::test_support::{body, class, user};
use crate::{Caller, Engine};

/// `Game` with `score: Number`, `owner: Pointer<_User>`, `fans: Relation<_User>`, `meta: Object`.
fn game() -> ClassSchema {
    let mut schema = ClassSchema::new(class("Game"));
    for (name, field_type) in [
        ("score", FieldType::Number),
        ("owner", FieldType::Pointer(class("_User"))),
        ("fans", FieldType::Relation(class("_User"))),
        ("meta", FieldType::Object),
    ] {
        schema.fields.insert(FieldName::parse(name).expect("field name"), FieldSpec::of(field_type));
    }
    schema
}

#[test]
fn clients_may_not_touch_master_only_classes_through_the_object_routes() {
    for name in ["_Hooks", "_GlobalConfig", "_JobStatus", "_PushStatus", "_Audience", "_Idempotency", "_JobSchedule"] {
        for verb in ["create", "get", "find", "update", "delete"] {
            let error = check_class_access(&user("u1"), &class(name), verb).unwrap_err();
            assert_eq!(error.code, ErrorCode::OperationForbidden);
            assert_eq!(error.message, crate::permissions::PERMISSION_DENIED, "{verb} {name}");
            assert!(check_class_access(&Caller::master(), &class(name), verb).is_ok());
        }
    }
}

#[test]
fn clients_may_create_get_and_update_installations_but_not_list_or_delete_them() {
    let installations = class("_Installation");
    for verb in ["create", "get", "update"] {
        assert!(check_class_access(&Caller::anonymous(), &installations, verb).is_ok(), "{verb}");
    }
    for verb in ["find", "delete"] {
        assert!(check_class_access(&Caller::anonymous(), &installations, verb).is_err(), "{verb}");
    }
    for name in ["_User", "_Role", "_Session", "Game"] {
        assert!(check_class_access(&Caller::anonymous(), &class(name), "find").is_ok(), "{name}");
    }
}

fn check(
    schema: Option<&ClassSchema>,
    value: Value,
    object_id: Option<&str>,
) -> basalt_core::ParseResult<super::CheckedBody> {
    check_body(schema, &class("Game"), &body(value), object_id, 100)
}

#[test]
fn a_body_may_not_set_an_object_id_other_than_its_own() {
    let error = check(Some(&game()), json!({"objectId": "mine"}), None).map(|_| ()).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidKeyName, "objectId is an invalid field name."));
    assert!(check(Some(&game()), json!({"objectId": "o1"}), Some("o1")).is_ok());
    assert!(check(Some(&game()), json!({"objectId": "o2"}), Some("o1")).is_err());
    assert!(check(Some(&game()), json!({"id": "o2"}), Some("o1")).is_err());
}

#[test]
fn created_at_and_updated_at_in_a_body_are_ignored() {
    let checked = check(Some(&game()), json!({"createdAt": "2000-01-01", "updatedAt": 5, "score": 1}), None).unwrap();
    let fields: Vec<&str> = checked.updates.iter().map(|update| update.path.field.as_str()).collect();
    assert_eq!(fields, ["score"]);
}

#[test]
fn a_value_of_another_type_than_the_fields_is_refused_with_111() {
    let error = check(Some(&game()), json!({"score": "high"}), None).map(|_| ()).unwrap_err();
    assert_eq!(error.code, ErrorCode::IncorrectType);
    assert!(error.message.contains("score"), "{}", error.message);
    let pointer = json!({"owner": {"__type": "Pointer", "className": "Team", "objectId": "t1"}});
    assert_eq!(check(Some(&game()), pointer, None).map(|_| ()).unwrap_err().code, ErrorCode::IncorrectType);
    assert!(check(Some(&game()), json!({"score": {"__op": "Increment", "amount": 2}}), None).is_ok());
    assert!(check(Some(&game()), json!({"score": null}), None).is_ok(), "null clears any type");
}

#[test]
fn new_fields_are_collected_with_their_inferred_types() {
    let checked = check(
        Some(&game()),
        json!({"title": "t", "tags": {"__op": "AddUnique", "objects": ["a"]}, "gone": null}),
        None,
    )
    .unwrap();
    let new_fields: Vec<(String, FieldType)> =
        checked.new_fields.iter().map(|(name, field_type)| (name.to_string(), field_type.clone())).collect();
    assert_eq!(new_fields, vec![("tags".into(), FieldType::Array), ("title".into(), FieldType::String)]);
    assert_eq!(checked.echo, vec!["tags".to_owned()], "the result of an op is echoed");
}

#[test]
fn a_relation_is_changed_only_through_relation_ops() {
    let written = json!({"fans": {"__type": "Relation", "className": "_User"}});
    assert_eq!(check(Some(&game()), written, None).map(|_| ()).unwrap_err().code, ErrorCode::IncorrectType);
    let added = json!({"fans": {"__op": "AddRelation", "objects": [{"__type": "Pointer", "className": "_User", "objectId": "u1"}]}});
    let checked = check(Some(&game()), added, None).unwrap();
    assert!(matches!(checked.updates[0].op, UpdateOp::Relation { .. }));
}

#[test]
fn dotted_keys_write_inside_object_fields_only() {
    let checked = check(Some(&game()), json!({"meta.level": 3}), None).unwrap();
    assert_eq!(
        (checked.updates[0].path.field.as_str(), checked.updates[0].path.sub_keys.clone()),
        ("meta", vec!["level".to_owned()])
    );
    assert_eq!(
        check(Some(&game()), json!({"score.level": 3}), None).map(|_| ()).unwrap_err().code,
        ErrorCode::IncorrectType
    );
    for key in ["meta.", "meta..a", "ACL.x", "objectId.x"] {
        assert_eq!(
            check(Some(&game()), json!({key: 1}), None).map(|_| ()).unwrap_err().code,
            ErrorCode::InvalidKeyName,
            "{key}"
        );
    }
    let users = ClassSchema::new(class("_User"));
    let auth = check_body(Some(&users), &class("_User"), &body(json!({"authData.anonymous": {"id": "x"}})), None, 100);
    assert_eq!(auth.map(|_| ()).unwrap_err().code, ErrorCode::InvalidKeyName);
}

#[test]
fn a_body_naming_more_fields_than_a_class_may_have_is_refused_with_255() {
    let schema = game(); // 4 default fields + 4
    let error =
        check_body(Some(&schema), &class("Game"), &body(json!({"a": 1, "b": 2})), None, 9).map(|_| ()).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidSchemaOperation);
    assert_eq!(error.message, "A class can have at most 9 fields; this would give Game more.");
    assert!(check_body(Some(&schema), &class("Game"), &body(json!({"a": 1})), None, 9).is_ok());
    // A new class starts from its default fields.
    assert!(check_body(None, &class("Game"), &body(json!({"a": 1, "b": 2})), None, 5).is_err());
}

#[test]
fn defaults_fill_unset_fields_and_a_required_field_without_one_refuses_the_create() {
    let mut schema = game();
    schema.fields.insert(
        FieldName::parse("level").unwrap(),
        FieldSpec { field_type: FieldType::Number, required: true, default_value: Some(json!(1)) },
    );
    let mut updates = check(Some(&schema), json!({"score": 5}), None).unwrap().updates;
    assert_eq!(apply_defaults_and_required(&schema, &mut updates).unwrap(), vec!["level".to_owned()]);
    assert!(
        updates
            .iter()
            .any(|update| update.path.field == "level" && matches!(&update.op, UpdateOp::Set(v) if v == &json!(1)))
    );
    // A null written counts as unset.
    let mut nulled = check(Some(&schema), json!({"level": null}), None).unwrap().updates;
    assert_eq!(apply_defaults_and_required(&schema, &mut nulled).unwrap(), vec!["level".to_owned()]);
    assert_eq!(nulled.len(), 1);
    schema.fields.insert(
        FieldName::parse("name").unwrap(),
        FieldSpec { field_type: FieldType::String, required: true, default_value: None },
    );
    let mut missing = check(Some(&schema), json!({"score": 5}), None).unwrap().updates;
    let error = apply_defaults_and_required(&schema, &mut missing).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::ValidationError, "name is required"));
}

#[test]
fn echoed_values_of_one_object_field_are_merged() {
    let mut response = Map::new();
    merge_into(&mut response, "o", json!({"a": {"x": 1}}));
    merge_into(&mut response, "o", json!({"a": {"y": 2}, "b": 3}));
    merge_into(&mut response, "n", json!(4));
    assert_eq!(Value::Object(response), json!({"o": {"a": {"x": 1, "y": 2}, "b": 3}, "n": 4}));
}

// Against an engine over a temporary SQLite store.

async fn engine() -> (Engine, tempfile::TempDir) {
    let test = crate::test_support::test_engine_with(|_| {}, crate::EngineParts::default()).await;
    (test.engine, test.dir)
}

async fn game_class(engine: &Engine, permissions: Value) {
    let mut clp = json!({"find": {"*": true}, "get": {"*": true}, "count": {"*": true}, "create": {"*": true},
        "update": {"*": true}, "delete": {"*": true}, "addField": {"*": true}});
    for (key, value) in permissions.as_object().expect("object") {
        clp[key] = value.clone();
    }
    let schema = json!({"fields": {"score": {"type": "Number"}, "owner": {"type": "Pointer", "targetClass": "_User"}},
        "classLevelPermissions": clp});
    engine.create_schema(&Caller::master(), Some("Game"), &body(schema)).await.expect("Game");
}

#[tokio::test]
async fn clients_may_not_create_classes_and_the_master_key_may() {
    let (engine, _dir) = engine().await;
    let error = engine
        .create_object(&user("u1"), &crate::test_support::class("Fresh"), &body(json!({"n": 1})))
        .await
        .unwrap_err();
    assert_eq!(
        (error.code, error.message.as_str()),
        (ErrorCode::OperationForbidden, "This user is not allowed to access non-existent class: Fresh")
    );
    assert!(
        engine
            .create_object(&Caller::master(), &crate::test_support::class("Fresh"), &body(json!({"n": 1})))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn add_field_closed_refuses_new_fields_but_not_known_ones() {
    let (engine, _dir) = engine().await;
    game_class(&engine, json!({"addField": {}})).await;
    let error = engine
        .create_object(&user("u1"), &crate::test_support::class("Game"), &body(json!({"extra": 1})))
        .await
        .unwrap_err();
    assert_eq!(error.message, "Permission denied for action addField on class Game.");
    let created = engine
        .create_object(&user("u1"), &crate::test_support::class("Game"), &body(json!({"score": 1})))
        .await
        .expect("known field");
    let error = engine
        .update_object(&user("u1"), &crate::test_support::class("Game"), &created.object_id, &body(json!({"extra": 1})))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::OperationForbidden);
}

#[tokio::test]
async fn an_update_restricted_by_a_pointer_permission_finds_no_object_of_another_user() {
    let (engine, _dir) = engine().await;
    game_class(&engine, json!({"update": {"pointerFields": ["owner"]}})).await;
    let owned = json!({"score": 1, "owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"}});
    let created = engine
        .create_object(&Caller::master(), &crate::test_support::class("Game"), &body(owned))
        .await
        .expect("created");
    let error = engine
        .update_object(&user("u2"), &crate::test_support::class("Game"), &created.object_id, &body(json!({"score": 2})))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::ObjectNotFound);
    assert!(
        engine
            .update_object(
                &user("u1"),
                &crate::test_support::class("Game"),
                &created.object_id,
                &body(json!({"score": 2}))
            )
            .await
            .is_ok()
    );
}

/// Parse compat: `addField` limited to pointer fields refuses a create that adds a field, and
/// lets only the object's pointed-to user add one on update (once ignored: anyone added fields).
#[tokio::test]
async fn add_field_restricted_to_pointer_fields_refuses_new_fields_on_create_and_from_other_users() {
    let (engine, _dir) = engine().await;
    game_class(&engine, json!({"addField": {"pointerFields": ["owner"]}})).await;
    let created = engine
        .create_object(&Caller::anonymous(), &crate::test_support::class("Game"), &body(json!({"extra": 1})))
        .await;
    assert_eq!(created.map(|_| ()).unwrap_err().code, ErrorCode::OperationForbidden);
    let owned = json!({"score": 1, "owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"}});
    let game = engine
        .create_object(&Caller::master(), &crate::test_support::class("Game"), &body(owned))
        .await
        .expect("created");
    let updated = engine
        .update_object(&user("u2"), &crate::test_support::class("Game"), &game.object_id, &body(json!({"other": 1})))
        .await;
    assert!(updated.is_err(), "u2 is not the owner and may not add a field");
    let owner = engine
        .update_object(&user("u1"), &crate::test_support::class("Game"), &game.object_id, &body(json!({"mine": 1})))
        .await;
    assert!(owner.is_ok(), "the owner adds a field: {owner:?}");
    let schema = engine.schemas().get(&class("Game")).expect("Game");
    assert!(schema.field("extra").is_none() && schema.field("other").is_none(), "no field was added");
}

#[tokio::test]
async fn a_required_field_cannot_be_unset_by_an_update() {
    let (engine, _dir) = engine().await;
    let schema = json!({"fields": {"name": {"type": "String", "required": true}}});
    engine.create_schema(&Caller::master(), Some("Card"), &body(schema)).await.expect("Card");
    let error =
        engine.create_object(&Caller::master(), &crate::test_support::class("Card"), &Map::new()).await.unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::ValidationError, "name is required"));
    let card = engine
        .create_object(&Caller::master(), &crate::test_support::class("Card"), &body(json!({"name": "ace"})))
        .await
        .expect("card");
    for unset in [json!({"name": null}), json!({"name": {"__op": "Delete"}})] {
        let error = engine
            .update_object(&Caller::master(), &crate::test_support::class("Card"), &card.object_id, &body(unset))
            .await
            .unwrap_err();
        assert_eq!(error.message, "name is required");
    }
}

#[tokio::test]
async fn a_create_echoes_defaults_and_op_results_with_the_id_and_creation_time() {
    let (engine, _dir) = engine().await;
    let schema = json!({"fields": {"level": {"type": "Number", "defaultValue": 1}, "tags": {"type": "Array"}}});
    engine.create_schema(&Caller::master(), Some("Card"), &body(schema)).await.expect("Card");
    let created = engine
        .create_object(
            &Caller::master(),
            &crate::test_support::class("Card"),
            &body(json!({"tags": {"__op": "Add", "objects": ["x"]}, "n": 2})),
        )
        .await
        .expect("card");
    let mut keys: Vec<&str> = created.body.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["createdAt", "level", "objectId", "tags"]);
    assert_eq!(created.body["level"], json!(1));
    assert_eq!(created.body["tags"], json!(["x"]));
    assert_eq!(created.object_id.len(), 10);
}
