//! Sessions: their tokens, the writes that start and end them, and resolving a token to a caller.

use std::sync::Arc;

use basalt_core::query::{Condition, Constraint, FieldPath};
use basalt_core::update::UpdateOp;
use basalt_core::value::pointer_value;
use basalt_core::{ErrorCode, time};
use basalt_store::WriteOp;
use serde_json::{Map, Value, json};

use super::{SessionOrigin, field_equals, new_session_token};
use crate::test_support::body;
use crate::{AuthConfig, Caller, Engine, EngineParts, ManualClock};

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let test = crate::test_support::test_engine_with(
        |config| config.auth = AuthConfig { session_length_secs: 3600, ..AuthConfig::default() },
        EngineParts::default(),
    )
    .await;
    World { engine: test.engine, clock: test.clock, _dir: test.dir }
}

impl World {
    /// A new user; returns its id and session token.
    async fn sign_up(&self, username: &str, installation_id: Option<&str>) -> (String, String) {
        let caller = Caller { installation_id: installation_id.map(str::to_owned), ..Caller::default() };
        let signed = self
            .engine
            .sign_up(&caller, &body(json!({"username": username, "password": "pw"})))
            .await
            .expect("sign up");
        (signed.object_id, signed.body["sessionToken"].as_str().expect("token").to_owned())
    }

    async fn sessions_of(&self, user_id: &str) -> Vec<Map<String, Value>> {
        let params = crate::FindParams {
            where_json: json!({"user": {"__type": "Pointer", "className": "_User", "objectId": user_id}}),
            ..crate::FindParams::default()
        };
        let found = self
            .engine
            .find_objects(&Caller::master(), &crate::test_support::class("_Session"), &params)
            .await
            .expect("sessions");
        found.results.into_iter().map(|session| session.as_object().expect("object").clone()).collect()
    }
}

#[test]
fn a_session_token_is_r_colon_and_32_lower_case_hex_digits_and_never_repeats() {
    let tokens: std::collections::BTreeSet<String> = (0..200).map(|_| new_session_token()).collect();
    assert_eq!(tokens.len(), 200);
    for token in &tokens {
        let hex = token.strip_prefix("r:").expect("r: prefix");
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)), "{token}");
    }
}

#[test]
fn field_equals_constrains_a_top_level_field() {
    assert_eq!(
        field_equals("user", json!(1)),
        Condition::Field {
            path: FieldPath { field: "user".into(), sub_keys: Vec::new() },
            constraint: Constraint::Equals(json!(1))
        }
    );
}

fn set_value<'a>(op: &'a WriteOp, field: &str) -> Option<&'a Value> {
    let WriteOp::Insert { updates, .. } = op else { return None };
    updates.iter().find(|update| update.path.field == field).and_then(|update| match &update.op {
        UpdateOp::Set(value) => Some(value),
        _ => None,
    })
}

#[tokio::test]
async fn a_new_session_is_an_insert_without_acl_that_expires_after_the_session_length() {
    let world = world().await;
    let origin = SessionOrigin { action: "login", auth_provider: "password" };
    let super::NewSession { ops, token } =
        world.engine.new_session("u1", None, origin, Map::new()).await.expect("session");
    assert_eq!(ops.len(), 1, "without an installation no older session is replaced");
    let insert = &ops[0];
    let WriteOp::Insert { acl, class_name, .. } = insert else { panic!("an insert: {insert:?}") };
    assert_eq!((class_name.as_str(), acl), ("_Session", &None));
    assert_eq!(set_value(insert, "sessionToken"), Some(&json!(token)));
    assert_eq!(set_value(insert, "user"), Some(&pointer_value("_User", "u1")));
    assert_eq!(set_value(insert, "createdWith"), Some(&json!({"action": "login", "authProvider": "password"})));
    let expires = time::format_iso(world.engine.now() + 3_600_000);
    assert_eq!(set_value(insert, "expiresAt"), Some(&json!({"__type": "Date", "iso": expires})));
    assert_eq!(set_value(insert, "installationId"), None);
}

#[tokio::test]
async fn a_new_session_on_an_installation_replaces_the_users_older_session_there() {
    let world = world().await;
    let origin = SessionOrigin { action: "create", auth_provider: "password" };
    let extra = body(json!({"deviceName": "phone"}));
    let super::NewSession { ops, .. } =
        world.engine.new_session("u1", Some("device-1"), origin, extra).await.expect("session");
    let WriteOp::DeleteWhere { class_name, condition } = &ops[0] else { panic!("a delete first: {:?}", ops[0]) };
    assert_eq!(class_name.as_str(), "_Session");
    assert_eq!(
        condition,
        &Condition::And(vec![
            field_equals("user", pointer_value("_User", "u1")),
            field_equals("installationId", json!("device-1")),
        ])
    );
    assert_eq!(set_value(&ops[1], "installationId"), Some(&json!("device-1")));
    assert_eq!(set_value(&ops[1], "deviceName"), Some(&json!("phone")));
    assert_eq!(
        set_value(&ops[1], "createdWith"),
        Some(&json!({"action": "create"})),
        "POST /sessions records the action only"
    );
}

#[tokio::test]
async fn ending_a_users_sessions_may_keep_the_current_one() {
    let world = world().await;
    let user = field_equals("user", pointer_value("_User", "u1"));
    let condition_of = |op: WriteOp| match op {
        WriteOp::DeleteWhere { class_name, condition } if class_name.as_str() == "_Session" => condition,
        other => panic!("not a delete of sessions: {other:?}"),
    };
    assert_eq!(condition_of(world.engine.end_sessions("u1", None)), Condition::And(vec![user.clone()]));
    let keep = Condition::Field {
        path: FieldPath { field: "sessionToken".into(), sub_keys: Vec::new() },
        constraint: Constraint::NotEquals(json!("r:keep")),
    };
    assert_eq!(condition_of(world.engine.end_sessions("u1", Some("r:keep"))), Condition::And(vec![user, keep]));
}

#[tokio::test]
async fn a_token_resolves_to_its_user_until_it_expires_and_then_is_deleted() {
    let world = world().await;
    let (user_id, token) = world.sign_up("olga", Some("device-1")).await;
    let caller = world.engine.caller_for_session(&token, Some("device-1".into())).await.expect("valid");
    assert_eq!(caller.user_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(caller.session_token.as_deref(), Some(token.as_str()));
    assert_eq!(caller.installation_id.as_deref(), Some("device-1"));
    assert_eq!(caller.session_expires_at, Some(world.engine.now() + 3_600_000));
    assert!(!caller.is_master && caller.roles.is_empty());
    world.clock.advance_millis(3_600_000);
    let error = world.engine.caller_for_session(&token, None).await.unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidSessionToken, "Session token is expired."));
    assert!(world.sessions_of(&user_id).await.is_empty(), "the expired session was deleted");
    let error = world.engine.caller_for_session(&token, None).await.unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidSessionToken, "Invalid session token"));
}

#[tokio::test]
async fn an_unknown_token_is_209() {
    let world = world().await;
    let error = world.engine.caller_for_session("r:nope", None).await.unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidSessionToken, "Invalid session token"));
}

#[tokio::test]
async fn logging_in_again_on_the_same_installation_replaces_the_session_and_elsewhere_adds_one() {
    let world = world().await;
    let (user_id, first) = world.sign_up("pia", Some("device-1")).await;
    let on = |installation: &str| Caller { installation_id: Some(installation.into()), ..Caller::default() };
    let credentials = body(json!({"username": "pia", "password": "pw"}));
    let second = world.engine.log_in(&on("device-1"), &credentials).await.expect("log in");
    assert!(world.engine.caller_for_session(&first, None).await.is_err(), "replaced on the same device");
    assert_eq!(world.sessions_of(&user_id).await.len(), 1);
    world.engine.log_in(&on("device-2"), &credentials).await.expect("log in elsewhere");
    assert_eq!(world.sessions_of(&user_id).await.len(), 2);
    let second = second["sessionToken"].as_str().expect("token");
    assert!(world.engine.caller_for_session(second, None).await.is_ok());
}

#[tokio::test]
async fn logging_out_ends_only_the_callers_session() {
    let world = world().await;
    let (user_id, first) = world.sign_up("quinn", Some("device-1")).await;
    let elsewhere = Caller { installation_id: Some("device-2".into()), ..Caller::default() };
    let second = world.engine.log_in(&elsewhere, &body(json!({"username": "quinn", "password": "pw"}))).await.unwrap();
    let caller = world.engine.caller_for_session(&first, None).await.expect("caller");
    assert_eq!(world.engine.log_out(&caller).await, Ok(json!({})));
    assert!(world.engine.caller_for_session(&first, None).await.is_err());
    assert!(world.engine.caller_for_session(second["sessionToken"].as_str().unwrap(), None).await.is_ok());
    assert_eq!(world.sessions_of(&user_id).await.len(), 1);
    assert_eq!(world.engine.log_out(&Caller::anonymous()).await, Ok(json!({})), "no session: nothing to do");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_gives_the_changer_a_new_one() {
    let world = world().await;
    let (user_id, first) = world.sign_up("ruth", Some("device-1")).await;
    let elsewhere = Caller { installation_id: Some("device-2".into()), ..Caller::default() };
    let other = world.engine.log_in(&elsewhere, &body(json!({"username": "ruth", "password": "pw"}))).await.unwrap();
    let caller = world.engine.caller_for_session(&first, Some("device-1".into())).await.expect("caller");
    let changed = world
        .engine
        .update_object(&caller, &crate::test_support::class("_User"), &user_id, &body(json!({"password": "new"})))
        .await
        .unwrap();
    let new_token = changed["sessionToken"].as_str().expect("a new session token is returned");
    assert_ne!(new_token, first);
    assert!(world.engine.caller_for_session(&first, None).await.is_err());
    assert!(world.engine.caller_for_session(other["sessionToken"].as_str().unwrap(), None).await.is_err());
    assert!(world.engine.caller_for_session(new_token, None).await.is_ok());
}

#[tokio::test]
async fn the_current_session_needs_a_token() {
    let world = world().await;
    let error = world.engine.current_session(&Caller::anonymous()).await.unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidSessionToken, "Session token required."));
    let (user_id, token) = world.sign_up("sam", None).await;
    let caller = world.engine.caller_for_session(&token, None).await.expect("caller");
    let session = world.engine.current_session(&caller).await.expect("session");
    assert_eq!(session["sessionToken"], json!(token));
    assert_eq!(session["user"], pointer_value("_User", &user_id));
    assert_eq!(session["createdWith"], json!({"action": "signup", "authProvider": "password"}));
}

#[tokio::test]
async fn a_client_creates_a_session_only_for_itself_and_the_master_key_for_anyone() {
    let world = world().await;
    let error = world
        .engine
        .create_object(&Caller::anonymous(), &crate::test_support::class("_Session"), &Map::new())
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidSessionToken);
    let (user_id, token) = world.sign_up("tess", None).await;
    let caller = world.engine.caller_for_session(&token, None).await.expect("caller");
    let forged = body(json!({"user": {"__type": "Pointer", "className": "_User", "objectId": "someone"}}));
    let error =
        world.engine.create_object(&caller, &crate::test_support::class("_Session"), &forged).await.unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidKeyName, "Invalid key name: user"));
    let created = world
        .engine
        .create_object(&caller, &crate::test_support::class("_Session"), &Map::new())
        .await
        .expect("own session");
    assert_eq!(created.body["user"], pointer_value("_User", &user_id));
    let for_tess = body(json!({"user": {"__type": "Pointer", "className": "_User", "objectId": user_id}}));
    let by_master = world
        .engine
        .create_object(&Caller::master(), &crate::test_support::class("_Session"), &for_tess)
        .await
        .expect("master");
    assert_eq!(by_master.body["user"], pointer_value("_User", &user_id));
    assert_eq!(world.sessions_of(&user_id).await.len(), 3);
}
