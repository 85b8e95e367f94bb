//! Class-level permissions as the engine applies them to a caller: grants, `requiresAuthentication`,
//! pointer permissions (which become a condition), the `_Session` write rule, and which fields are
//! protected from whom.

use std::collections::BTreeSet;

use basalt_core::clp::ClpOperation;
use basalt_core::query::Condition;
use basalt_core::value::pointer_value;
use basalt_core::{ClassName, ClassSchema, ErrorCode, FieldName, FieldSpec, FieldType};
use serde_json::{Value, json};

use crate::conditions::field_equals;
use crate::test_support::user;
use crate::{Caller, Engine};

/// An engine over an empty SQLite store (kept alive by the `TempDir`).
async fn engine() -> (Engine, tempfile::TempDir) {
    let test = crate::test_support::test_engine_with(|_| {}, crate::EngineParts::default()).await;
    (test.engine, test.dir)
}

/// `Post` with `owner: Pointer<_User>`, `editors: Array`, `secret`, `title`, and these permissions.
fn post(permissions: Value) -> ClassSchema {
    schema("Post", permissions)
}

fn schema(class_name: &str, permissions: Value) -> ClassSchema {
    let class_name = ClassName::parse(class_name).expect("class name");
    let mut schema = ClassSchema::new(class_name);
    let user = ClassName::parse("_User").expect("class name");
    for (name, field_type) in [
        ("owner", FieldType::Pointer(user)),
        ("editors", FieldType::Array),
        ("secret", FieldType::String),
        ("title", FieldType::String),
    ] {
        schema.fields.insert(FieldName::parse(name).expect("field name"), FieldSpec::of(field_type));
    }
    schema.class_level_permissions = permissions;
    schema
}

fn member(id: &str, roles: &[&str]) -> Caller {
    Caller { roles: roles.iter().map(|role| format!("role:{role}")).collect(), ..user(id) }
}

fn owned_by(field: &str, user_id: &str) -> Condition {
    field_equals(field, pointer_value("_User", user_id))
}

fn fields(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

#[tokio::test]
async fn the_master_key_passes_every_class_permission_without_a_condition() {
    let (engine, _dir) = engine().await;
    let closed = post(json!({"find": {}, "create": {}, "delete": {}, "readUserFields": ["owner"]}));
    for operation in [ClpOperation::Find, ClpOperation::Create, ClpOperation::Delete] {
        assert_eq!(engine.class_permission(&Caller::master(), &closed, operation), Ok(Condition::all()));
    }
}

#[tokio::test]
async fn an_empty_operation_rule_refuses_clients_with_119_naming_the_action_and_class() {
    let (engine, _dir) = engine().await;
    let closed = post(json!({"get": {}}));
    for caller in [Caller::anonymous(), member("u1", &["Admins"])] {
        let error = engine.class_permission(&caller, &closed, ClpOperation::Get).unwrap_err();
        assert_eq!(error.code, ErrorCode::OperationForbidden);
        assert_eq!(error.message, "Permission denied for action get on class Post.");
    }
    // Other operations of the class stay open (absent means public).
    assert_eq!(engine.class_permission(&Caller::anonymous(), &closed, ClpOperation::Find), Ok(Condition::all()));
}

#[tokio::test]
async fn a_grant_to_a_user_id_or_a_role_admits_only_that_user_or_the_role_members() {
    let (engine, _dir) = engine().await;
    let by_id = post(json!({"update": {"u1": true}}));
    assert_eq!(engine.class_permission(&user("u1"), &by_id, ClpOperation::Update), Ok(Condition::all()));
    assert!(engine.class_permission(&user("u2"), &by_id, ClpOperation::Update).is_err());
    assert!(engine.class_permission(&Caller::anonymous(), &by_id, ClpOperation::Update).is_err());
    let by_role = post(json!({"delete": {"role:Admins": true}}));
    assert_eq!(
        engine.class_permission(&member("u2", &["Admins"]), &by_role, ClpOperation::Delete),
        Ok(Condition::all())
    );
    let error = engine.class_permission(&member("u3", &["Staff"]), &by_role, ClpOperation::Delete).unwrap_err();
    assert_eq!(error.code, ErrorCode::OperationForbidden);
}

#[tokio::test]
async fn requires_authentication_refuses_an_anonymous_caller_with_101_and_admits_any_user() {
    let (engine, _dir) = engine().await;
    let logged_in_only = post(json!({"find": {"requiresAuthentication": true}}));
    let error = engine.class_permission(&Caller::anonymous(), &logged_in_only, ClpOperation::Find).unwrap_err();
    assert_eq!(error.code, ErrorCode::ObjectNotFound);
    assert_eq!(error.message, "Permission denied, user needs to be authenticated.");
    assert_eq!(engine.class_permission(&user("anyone"), &logged_in_only, ClpOperation::Find), Ok(Condition::all()));
    // An installation id alone is no user.
    let installation = Caller { installation_id: Some("device".into()), ..Caller::default() };
    assert!(engine.class_permission(&installation, &logged_in_only, ClpOperation::Find).is_err());
}

#[tokio::test]
async fn a_pointer_permission_admits_only_the_user_the_field_names() {
    let (engine, _dir) = engine().await;
    let own = post(json!({"get": {"pointerFields": ["owner"]}}));
    assert_eq!(
        engine.class_permission(&user("u1"), &own, ClpOperation::Get),
        Ok(Condition::Or(vec![owned_by("owner", "u1")]))
    );
    assert_eq!(
        engine.class_permission(&user("u2"), &own, ClpOperation::Get),
        Ok(Condition::Or(vec![owned_by("owner", "u2")]))
    );
}

#[tokio::test]
async fn a_pointer_permission_gives_a_caller_without_a_user_a_condition_no_object_meets() {
    let (engine, _dir) = engine().await;
    let own = post(json!({"find": {"pointerFields": ["owner"]}}));
    assert_eq!(engine.class_permission(&Caller::anonymous(), &own, ClpOperation::Find), Ok(Condition::Or(Vec::new())));
}

#[tokio::test]
async fn read_user_fields_restrict_find_get_and_count_but_not_writes() {
    let (engine, _dir) = engine().await;
    let permissions = post(json!({
        "find": {}, "get": {}, "count": {}, "update": {}, "delete": {},
        "readUserFields": ["owner", "editors"]
    }));
    let expected = Condition::Or(vec![owned_by("owner", "u1"), owned_by("editors", "u1")]);
    for operation in [ClpOperation::Find, ClpOperation::Get, ClpOperation::Count] {
        assert_eq!(engine.class_permission(&user("u1"), &permissions, operation), Ok(expected.clone()));
    }
    for operation in [ClpOperation::Update, ClpOperation::Delete] {
        let error = engine.class_permission(&user("u1"), &permissions, operation).unwrap_err();
        assert_eq!(error.code, ErrorCode::OperationForbidden, "{operation:?}");
    }
}

#[tokio::test]
async fn write_user_fields_restrict_update_and_delete_but_never_grant_create_or_reads() {
    let (engine, _dir) = engine().await;
    let permissions = post(json!({"find": {}, "create": {}, "update": {}, "delete": {}, "writeUserFields": ["owner"]}));
    for operation in [ClpOperation::Update, ClpOperation::Delete] {
        assert_eq!(
            engine.class_permission(&user("u1"), &permissions, operation),
            Ok(Condition::Or(vec![owned_by("owner", "u1")]))
        );
    }
    for operation in [ClpOperation::Create, ClpOperation::Find] {
        let error = engine.class_permission(&user("u1"), &permissions, operation).unwrap_err();
        assert_eq!(error.code, ErrorCode::OperationForbidden, "{operation:?}");
    }
}

#[tokio::test]
async fn an_explicit_grant_wins_over_pointer_permissions() {
    let (engine, _dir) = engine().await;
    let permissions = post(json!({"find": {"role:Admins": true, "pointerFields": ["owner"]}}));
    assert_eq!(
        engine.class_permission(&member("u1", &["Admins"]), &permissions, ClpOperation::Find),
        Ok(Condition::all())
    );
    assert_eq!(
        engine.class_permission(&user("u2"), &permissions, ClpOperation::Find),
        Ok(Condition::Or(vec![owned_by("owner", "u2")]))
    );
}

#[tokio::test]
async fn pointer_fields_the_class_lacks_are_skipped_and_none_left_refuses_with_119() {
    let (engine, _dir) = engine().await;
    let some_missing = post(json!({"find": {"pointerFields": ["gone", "owner"]}}));
    assert_eq!(
        engine.class_permission(&user("u1"), &some_missing, ClpOperation::Find),
        Ok(Condition::Or(vec![owned_by("owner", "u1")]))
    );
    let all_missing = post(json!({"find": {"pointerFields": ["gone"]}}));
    let error = engine.class_permission(&user("u1"), &all_missing, ClpOperation::Find).unwrap_err();
    assert_eq!(error.code, ErrorCode::OperationForbidden);
    assert_eq!(error.message, "Permission denied for action find on class Post.");
}

#[tokio::test]
async fn a_client_updates_or_deletes_only_its_own_sessions() {
    let (engine, _dir) = engine().await;
    let sessions = schema("_Session", basalt_core::schema::default_class_level_permissions());
    assert_eq!(
        engine.write_condition(&user("u1"), &sessions, ClpOperation::Update),
        Ok(Condition::And(vec![Condition::all(), field_equals("user", pointer_value("_User", "u1"))]))
    );
    let error = engine.write_condition(&Caller::anonymous(), &sessions, ClpOperation::Delete).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidSessionToken, "Session token required."));
    assert_eq!(engine.write_condition(&Caller::master(), &sessions, ClpOperation::Delete), Ok(Condition::all()));
}

#[tokio::test]
async fn the_write_condition_of_other_classes_is_their_class_permission_alone() {
    let (engine, _dir) = engine().await;
    let own = post(json!({"update": {"pointerFields": ["owner"]}}));
    assert_eq!(
        engine.write_condition(&user("u1"), &own, ClpOperation::Update),
        Ok(Condition::Or(vec![owned_by("owner", "u1")]))
    );
    assert_eq!(
        engine.write_condition(&Caller::anonymous(), &post(json!({})), ClpOperation::Delete),
        Ok(Condition::all())
    );
}

#[tokio::test]
async fn a_users_email_is_protected_from_everyone_but_the_master_key_by_default() {
    let (engine, _dir) = engine().await;
    let users = schema("_User", basalt_core::schema::default_class_level_permissions());
    assert_eq!(engine.protected_fields(&Caller::anonymous(), &users), fields(&["email"]));
    assert_eq!(engine.protected_fields(&member("u1", &["Admins"]), &users), fields(&["email"]));
    assert_eq!(engine.protected_fields(&Caller::master(), &users), fields(&[]));
}

#[tokio::test]
async fn other_classes_protect_nothing_by_default() {
    let (engine, _dir) = engine().await;
    let open = post(basalt_core::schema::default_class_level_permissions());
    assert_eq!(engine.protected_fields(&Caller::anonymous(), &open), fields(&[]));
    assert_eq!(engine.protected_fields(&user("u1"), &open), fields(&[]));
}

#[tokio::test]
async fn the_public_list_is_protected_from_every_client_without_a_list_of_its_own() {
    let (engine, _dir) = engine().await;
    let hidden = post(json!({"protectedFields": {"*": ["secret", "title"]}}));
    for caller in [Caller::anonymous(), user("u1"), member("u2", &["Staff"])] {
        assert_eq!(engine.protected_fields(&caller, &hidden), fields(&["secret", "title"]));
    }
    assert_eq!(engine.protected_fields(&Caller::master(), &hidden), fields(&[]));
}

#[tokio::test]
async fn the_lists_of_a_callers_role_id_and_authenticated_narrow_the_public_list_by_intersection() {
    let (engine, _dir) = engine().await;
    let hidden = post(json!({"protectedFields": {
        "*": ["secret", "title", "owner"],
        "role:Staff": ["secret", "title"],
        "u9": ["title"],
        "authenticated": ["secret", "title", "owner"]
    }}));
    assert_eq!(engine.protected_fields(&Caller::anonymous(), &hidden), fields(&["owner", "secret", "title"]));
    assert_eq!(engine.protected_fields(&user("u1"), &hidden), fields(&["owner", "secret", "title"]));
    assert_eq!(engine.protected_fields(&member("u1", &["Staff"]), &hidden), fields(&["secret", "title"]));
    assert_eq!(engine.protected_fields(&member("u9", &["Staff"]), &hidden), fields(&["title"]));
}

#[tokio::test]
async fn an_empty_list_for_a_role_reveals_every_field_to_its_members() {
    let (engine, _dir) = engine().await;
    let hidden = post(json!({"protectedFields": {"*": ["secret"], "role:Staff": []}}));
    assert_eq!(engine.protected_fields(&member("u1", &["Staff"]), &hidden), fields(&[]));
    assert_eq!(engine.protected_fields(&member("u1", &["Other"]), &hidden), fields(&["secret"]));
}

#[tokio::test]
async fn the_authenticated_list_applies_to_logged_in_users_only() {
    let (engine, _dir) = engine().await;
    // Parse's ProtectedFields spec: "should intersect public and auth for authenticated user".
    let hidden = post(json!({"protectedFields": {"*": ["owner", "editors"], "authenticated": ["editors"]}}));
    assert_eq!(engine.protected_fields(&Caller::anonymous(), &hidden), fields(&["editors", "owner"]));
    assert_eq!(engine.protected_fields(&user("u1"), &hidden), fields(&["editors"]));
}

#[tokio::test]
async fn an_empty_authenticated_list_shows_users_emails_to_logged_in_users() {
    let (engine, _dir) = engine().await;
    let users = schema("_User", json!({"protectedFields": {"authenticated": []}}));
    assert_eq!(engine.protected_fields(&Caller::anonymous(), &users), fields(&["email"]));
    assert_eq!(engine.protected_fields(&user("u1"), &users), fields(&[]));
}

#[tokio::test]
async fn a_public_list_on_users_adds_to_the_email_protected_by_default() {
    let (engine, _dir) = engine().await;
    let users = schema("_User", json!({"protectedFields": {"*": ["title"]}}));
    assert_eq!(engine.protected_fields(&user("u1"), &users), fields(&["email", "title"]));
}

/// Parse Server intersects only the lists that apply and exist: a list for `authenticated`, a
/// role or a user hides its fields even when the class has no `*` list (once a hole here: such
/// fields were shown to everyone).
#[tokio::test]
async fn a_list_for_authenticated_users_a_role_or_a_user_hides_its_fields_even_without_a_public_list() {
    let (engine, _dir) = engine().await;
    let for_users = post(json!({"protectedFields": {"authenticated": ["secret"]}}));
    assert_eq!(engine.protected_fields(&Caller::anonymous(), &for_users), fields(&[]));
    assert_eq!(engine.protected_fields(&user("u1"), &for_users), fields(&["secret"]));
    let for_staff = post(json!({"protectedFields": {"role:Staff": ["secret", "title"]}}));
    assert_eq!(engine.protected_fields(&member("u1", &["Staff"]), &for_staff), fields(&["secret", "title"]));
    assert_eq!(engine.protected_fields(&user("u2"), &for_staff), fields(&[]));
    let for_one = post(json!({"protectedFields": {"u1": ["title"]}}));
    assert_eq!(engine.protected_fields(&user("u1"), &for_one), fields(&["title"]));
}
