//! The rules of `_Role` and `_Session` writes.

use basalt_core::{ErrorCode, ParseError};
use serde_json::json;

use super::{check_new_role, check_session_create, check_session_update, valid_role_name};
use crate::test_support::body;
use crate::{Caller, Engine};

#[test]
fn a_role_name_holds_letters_digits_underscores_hyphens_and_spaces() {
    for valid in ["Admins", "team_1", "night-shift", "Red Team", "9"] {
        assert!(valid_role_name(valid), "{valid}");
    }
    for invalid in ["", "a.b", "role:x", "ünï", "tab\there", "a/b"] {
        assert!(!valid_role_name(invalid), "{invalid}");
    }
}

#[test]
fn a_new_role_needs_a_string_name_and_an_acl() {
    assert_eq!(check_new_role(&body(json!({"name": "Admins", "ACL": {"*": {"read": true}}}))), Ok(()));
    assert_eq!(check_new_role(&body(json!({"ACL": {}}))), Err(ParseError::incorrect_type("name is required.")));
    assert_eq!(
        check_new_role(&body(json!({"name": null, "ACL": {}}))),
        Err(ParseError::incorrect_type("name is required."))
    );
    assert_eq!(
        check_new_role(&body(json!({"name": 7, "ACL": {}}))),
        Err(ParseError::incorrect_type("name must be a string."))
    );
    assert_eq!(check_new_role(&body(json!({"name": "Admins"}))), Err(ParseError::incorrect_type("ACL is required.")));
    assert_eq!(
        check_new_role(&body(json!({"name": "Admins", "ACL": "public"}))),
        Err(ParseError::incorrect_type("ACL is required."))
    );
    let error = check_new_role(&body(json!({"name": "a.b", "ACL": {}}))).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidRoleName);
    assert_eq!(error.message, "A role's name can be only contain alphanumeric characters, _, -, and spaces.");
}

#[test]
fn a_session_update_may_not_touch_the_fields_the_server_owns() {
    for key in ["user", "installationId", "sessionToken", "expiresAt", "createdWith"] {
        let error = check_session_update(&body(json!({key: "x"}))).unwrap_err();
        assert_eq!((error.code, error.message), (ErrorCode::InvalidKeyName, format!("Invalid key name: {key}")));
    }
    assert_eq!(check_session_update(&body(json!({"deviceName": "phone", "ACL": {}}))), Ok(()));
}

#[test]
fn a_session_a_client_creates_may_set_neither_server_fields_nor_its_acl() {
    assert!(check_session_create(&body(json!({"sessionToken": "r:mine"}))).is_err());
    let error = check_session_create(&body(json!({"ACL": {"*": {"read": true}}}))).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidKeyName, "Invalid key name: ACL"));
    assert_eq!(check_session_create(&body(json!({"deviceName": "phone"}))), Ok(()));
}

async fn engine() -> (Engine, tempfile::TempDir) {
    let test = crate::test_support::test_engine_with(|_| {}, crate::EngineParts::default()).await;
    (test.engine, test.dir)
}

#[tokio::test]
async fn a_roles_name_is_set_once_and_may_be_rewritten_unchanged() {
    let (engine, _dir) = engine().await;
    let role = engine
        .create_object(
            &Caller::master(),
            &crate::test_support::class("_Role"),
            &body(json!({"name": "Admins", "ACL": {"*": {"read": true}}})),
        )
        .await
        .expect("role");
    let error = engine.check_role_update(&role.object_id, &body(json!({"name": "Owners"}))).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::ChangedImmutableField);
    assert_eq!(error.message, "A role's name can only be set before it has been saved.");
    let renamed = engine
        .update_object(
            &Caller::master(),
            &crate::test_support::class("_Role"),
            &role.object_id,
            &body(json!({"name": "Owners"})),
        )
        .await;
    assert_eq!(renamed.unwrap_err().code, ErrorCode::ChangedImmutableField, "not even the master key");
    assert_eq!(engine.check_role_update(&role.object_id, &body(json!({"name": "Admins"}))).await, Ok(()));
    assert_eq!(engine.check_role_update(&role.object_id, &body(json!({"other": 1}))).await, Ok(()));
    assert_eq!(engine.check_role_update("missing", &body(json!({"name": "X"}))).await, Ok(()), "nothing to rename");
}

#[tokio::test]
async fn a_role_is_created_only_with_a_valid_name_and_an_acl() {
    let (engine, _dir) = engine().await;
    let without_acl = engine
        .create_object(&Caller::master(), &crate::test_support::class("_Role"), &body(json!({"name": "Admins"})))
        .await;
    assert_eq!(without_acl.unwrap_err(), ParseError::incorrect_type("ACL is required."));
    let bad_name = engine
        .create_object(
            &Caller::master(),
            &crate::test_support::class("_Role"),
            &body(json!({"name": "a.b", "ACL": {}})),
        )
        .await;
    assert_eq!(bad_name.unwrap_err().code, ErrorCode::InvalidRoleName);
}

#[tokio::test]
async fn a_users_roles_become_the_callers_role_keys() {
    let (engine, _dir) = engine().await;
    let signed = engine
        .sign_up(&Caller::anonymous(), &body(json!({"username": "nina", "password": "pw"})))
        .await
        .expect("sign up");
    let user = json!({"__type": "Pointer", "className": "_User", "objectId": signed.object_id});
    let role = engine
        .create_object(
            &Caller::master(),
            &crate::test_support::class("_Role"),
            &body(json!({"name": "Staff", "ACL": {"*": {"read": true}}})),
        )
        .await
        .expect("role");
    let add = json!({"users": {"__op": "AddRelation", "objects": [user]}});
    engine
        .update_object(&Caller::master(), &crate::test_support::class("_Role"), &role.object_id, &body(add))
        .await
        .expect("add member");
    let token = signed.body["sessionToken"].as_str().expect("token");
    let caller = engine.caller_for_session(token, None).await.expect("caller");
    assert_eq!(caller.roles, vec!["role:Staff".to_owned()]);
    assert_eq!(
        caller.access(),
        basalt_core::acl::Access::Keys(vec!["*".into(), signed.object_id.clone(), "role:Staff".into()])
    );
}
