//! The rules special to `_Role` and `_Session` writes: roles need a valid,
//! unique, immutable name and an ACL; sessions keep their identity fields out of clients' hands.

use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use serde_json::{Map, Value};

use crate::Engine;
use crate::conditions::field_equals;

/// Fields of a session only the server sets.
const SESSION_SERVER_FIELDS: &[&str] = &["user", "installationId", "sessionToken", "expiresAt", "createdWith"];

fn valid_role_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' '))
}

/// A new role has a valid `name` and an `ACL`.
pub(crate) fn check_new_role(body: &Map<String, Value>) -> ParseResult<()> {
    let name = match body.get("name") {
        Some(Value::String(name)) => name,
        None | Some(Value::Null) => return Err(ParseError::incorrect_type("name is required.")),
        Some(_) => return Err(ParseError::incorrect_type("name must be a string.")),
    };
    if !valid_role_name(name) {
        return Err(ParseError::new(
            ErrorCode::InvalidRoleName,
            "A role's name can be only contain alphanumeric characters, _, -, and spaces.",
        ));
    }
    if !body.get("ACL").is_some_and(Value::is_object) {
        return Err(ParseError::incorrect_type("ACL is required."));
    }
    Ok(())
}

/// A session update may not touch the fields the server owns.
pub(crate) fn check_session_update(body: &Map<String, Value>) -> ParseResult<()> {
    for key in body.keys() {
        if SESSION_SERVER_FIELDS.contains(&key.as_str()) {
            return Err(ParseError::invalid_key_name(format!("Invalid key name: {key}")));
        }
    }
    Ok(())
}

/// A new session made through `POST /sessions` may not set them either (nor its ACL).
pub(crate) fn check_session_create(body: &Map<String, Value>) -> ParseResult<()> {
    check_session_update(body)?;
    if body.contains_key("ACL") {
        return Err(ParseError::invalid_key_name("Invalid key name: ACL"));
    }
    Ok(())
}

impl Engine {
    /// A role's name is set once, at creation.
    pub(crate) async fn check_role_update(&self, object_id: &str, body: &Map<String, Value>) -> ParseResult<()> {
        let Some(new_name) = body.get("name") else { return Ok(()) };
        let current = self
            .records_where(
                &ClassName::system("_Role"),
                field_equals("objectId", Value::String(object_id.to_owned())),
                Some(1),
            )
            .await?;
        let unchanged = current.first().and_then(|role| role.fields.get("name")) == Some(new_name);
        if !unchanged && !current.is_empty() {
            return Err(ParseError::new(
                ErrorCode::ChangedImmutableField,
                "A role's name can only be set before it has been saved.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
