//! Class-level permissions (`classLevelPermissions`): who may find, get, count, create, update,
//! delete and add fields on a class, pointer permissions, and protected fields.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::{ErrorCode, ParseError, ParseResult};
use crate::names::ClassName;

/// An operation guarded by class-level permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClpOperation {
    Find,
    Count,
    Get,
    Create,
    Update,
    Delete,
    AddField,
}

impl ClpOperation {
    pub fn key(self) -> &'static str {
        match self {
            ClpOperation::Find => "find",
            ClpOperation::Count => "count",
            ClpOperation::Get => "get",
            ClpOperation::Create => "create",
            ClpOperation::Update => "update",
            ClpOperation::Delete => "delete",
            ClpOperation::AddField => "addField",
        }
    }

    fn is_read(self) -> bool {
        matches!(self, ClpOperation::Find | ClpOperation::Count | ClpOperation::Get)
    }
}

/// Who asks, for class-level permissions: their permission keys (`*`, user id, `role:…`).
pub struct ClpCaller<'a> {
    pub keys: &'a [String],
    pub user_id: Option<&'a str>,
}

/// The answer: allowed, or allowed only on objects whose pointer fields name the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClpDecision {
    Allowed,
    /// Allowed on objects where one of these fields points to (or, for arrays, contains) the
    /// caller's user.
    PointerFields(Vec<String>),
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Checks an operation against a class's permissions.
///
/// # Errors
/// 119 "Permission denied for action X on class Y."; 101 when the class requires authentication
/// and the caller has no user.
pub fn check(
    permissions: &Value,
    class_name: &ClassName,
    operation: ClpOperation,
    caller: &ClpCaller<'_>,
) -> ParseResult<ClpDecision> {
    let denied = || {
        ParseError::new(
            ErrorCode::OperationForbidden,
            format!("Permission denied for action {} on class {class_name}.", operation.key()),
        )
    };
    let Some(rule) = permissions.get(operation.key()) else {
        return Ok(ClpDecision::Allowed);
    };
    let Some(rule) = rule.as_object() else { return Err(denied()) };
    let grants = |entity: &str| rule.get(entity).and_then(Value::as_bool) == Some(true);
    if grants("*") || caller.keys.iter().any(|key| grants(key)) {
        return Ok(ClpDecision::Allowed);
    }
    if grants("requiresAuthentication") {
        if caller.user_id.is_some() {
            return Ok(ClpDecision::Allowed);
        }
        return Err(ParseError::new(ErrorCode::ObjectNotFound, "Permission denied, user needs to be authenticated."));
    }
    let mut fields = string_list(rule.get("pointerFields"));
    let grouped = if operation.is_read() { "readUserFields" } else { "writeUserFields" };
    fields.extend(string_list(permissions.get(grouped)));
    // Pointer permissions restrict reads and writes to the caller's objects; a caller without a
    // user matches none (the engine turns that into an empty condition). They never grant create.
    if !fields.is_empty() && operation != ClpOperation::Create {
        return Ok(ClpDecision::PointerFields(fields));
    }
    Err(denied())
}

/// The `*` list of `protectedFields` plus `default_public`: the list every caller's applies, when
/// there is one (see `protected_fields`).
fn public_protected_fields(permissions: &Value, default_public: &[&str]) -> BTreeSet<String> {
    let listed = permissions.get("protectedFields").and_then(|configured| configured.get("*"));
    let mut public: BTreeSet<String> = string_list(listed).into_iter().collect();
    public.extend(default_public.iter().map(|field| (*field).to_owned()));
    public
}

/// The fields of a class hidden from this caller: the intersection of the `protectedFields`
/// lists of every entity that applies to the caller and has a list (`*`, their id, their roles,
/// and `authenticated` when logged in) — Parse Server's rule: a list for `authenticated` or a
/// role hides its fields even when there is no `*` list. `default_public` joins the class's `*`
/// list (the server's `protectedFields` option: for `_User`, `["email"]`).
pub fn protected_fields(permissions: &Value, caller: &ClpCaller<'_>, default_public: &[&str]) -> BTreeSet<String> {
    let configured = permissions.get("protectedFields").and_then(Value::as_object);
    let mut lists: Vec<BTreeSet<String>> = Vec::new();
    if configured.is_some_and(|configured| configured.contains_key("*")) || !default_public.is_empty() {
        lists.push(public_protected_fields(permissions, default_public));
    }
    if let Some(configured) = configured {
        let mut entities: Vec<&str> = caller.keys.iter().map(String::as_str).filter(|key| *key != "*").collect();
        if caller.user_id.is_some() {
            entities.push("authenticated");
        }
        for entity in entities {
            if let Some(list) = configured.get(entity) {
                lists.push(string_list(Some(list)).into_iter().collect());
            }
        }
    }
    let mut lists = lists.into_iter();
    let first = lists.next().unwrap_or_default();
    lists.fold(first, |acc, list| acc.intersection(&list).cloned().collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn post() -> ClassName {
        ClassName::parse("Post").unwrap()
    }

    #[test]
    fn absent_operations_are_open_and_empty_ones_master_only() {
        let caller = ClpCaller { keys: &["*".to_owned()], user_id: None };
        assert_eq!(check(&json!({}), &post(), ClpOperation::Find, &caller), Ok(ClpDecision::Allowed));
        let error = check(&json!({"find": {}}), &post(), ClpOperation::Find, &caller).unwrap_err();
        assert_eq!(error.code, ErrorCode::OperationForbidden);
        assert_eq!(error.message, "Permission denied for action find on class Post.");
    }

    #[test]
    fn requires_authentication() {
        let anonymous = ClpCaller { keys: &["*".to_owned()], user_id: None };
        let rule = json!({"get": {"requiresAuthentication": true}});
        assert_eq!(check(&rule, &post(), ClpOperation::Get, &anonymous).unwrap_err().code, ErrorCode::ObjectNotFound);
        let keys = ["*".to_owned(), "u1".to_owned()];
        let user = ClpCaller { keys: &keys, user_id: Some("u1") };
        assert_eq!(check(&rule, &post(), ClpOperation::Get, &user), Ok(ClpDecision::Allowed));
    }

    #[test]
    fn roles_and_pointer_fields() {
        let keys = ["*".to_owned(), "u1".to_owned(), "role:Admins".to_owned()];
        let user = ClpCaller { keys: &keys, user_id: Some("u1") };
        assert_eq!(
            check(&json!({"delete": {"role:Admins": true}}), &post(), ClpOperation::Delete, &user),
            Ok(ClpDecision::Allowed)
        );
        assert_eq!(
            check(&json!({"find": {}, "readUserFields": ["owner"]}), &post(), ClpOperation::Find, &user),
            Ok(ClpDecision::PointerFields(vec!["owner".into()]))
        );
        assert!(check(&json!({"create": {"pointerFields": ["owner"]}}), &post(), ClpOperation::Create, &user).is_err());
    }

    #[test]
    fn protected_fields_intersect() {
        let keys = ["*".to_owned(), "u1".to_owned(), "role:Admins".to_owned()];
        let admin = ClpCaller { keys: &keys, user_id: Some("u1") };
        let rule = json!({"protectedFields": {"*": ["secret", "email"], "role:Admins": ["email"]}});
        assert_eq!(protected_fields(&rule, &admin, &[]), BTreeSet::from(["email".to_owned()]));
        let anonymous = ClpCaller { keys: &["*".to_owned()], user_id: None };
        assert_eq!(protected_fields(&json!({}), &anonymous, &["email"]), BTreeSet::from(["email".to_owned()]));
    }
}
