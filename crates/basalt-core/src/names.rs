//! Checked class and field names. Holding a `ClassName` or `FieldName` is the proof that the
//! name follows Parse's rules, so code that takes one never re-validates and the store may quote
//! it into SQL as an identifier.

use std::fmt;

use crate::error::{ErrorCode, ParseError, ParseResult};

/// Parse's system classes (PARSE_API.md §3.6).
pub const SYSTEM_CLASSES: &[&str] = &[
    "_User",
    "_Installation",
    "_Role",
    "_Session",
    "_Product",
    "_PushStatus",
    "_JobStatus",
    "_JobSchedule",
    "_Hooks",
    "_GlobalConfig",
    "_GraphQLConfig",
    "_Audience",
    "_Idempotency",
];

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A valid Parse class name: `^[A-Za-z][A-Za-z0-9_]*$` or a system class.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassName(String);

impl ClassName {
    /// # Errors
    /// 103 when the name breaks Parse's rules.
    pub fn parse(name: &str) -> ParseResult<ClassName> {
        if is_identifier(name) && name.len() <= 128 || SYSTEM_CLASSES.contains(&name) {
            return Ok(ClassName(name.to_owned()));
        }
        Err(ParseError::new(
            ErrorCode::InvalidClassName,
            format!(
                "Invalid classname: {name}, classnames can only have alphanumeric characters and _, and must start with an alpha character "
            ),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_system(&self) -> bool {
        self.0.starts_with('_')
    }

    /// Internal classes only the master key may touch (PARSE_API.md §3.6).
    pub fn is_master_only(&self) -> bool {
        self.is_system() && !matches!(self.0.as_str(), "_User" | "_Installation" | "_Role" | "_Session")
    }
}

impl fmt::Display for ClassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A valid Parse field name: `^[A-Za-z][A-Za-z0-9_]*$`, not `className` nor `length`... or one
/// of the fields every class has (`objectId`, `createdAt`, `updatedAt`, `ACL`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldName(String);

impl FieldName {
    /// # Errors
    /// 105 "Invalid field name: X." when the name breaks Parse's rules.
    pub fn parse(name: &str) -> ParseResult<FieldName> {
        if is_identifier(name) && name.len() <= 128 && name != "className" {
            return Ok(FieldName(name.to_owned()));
        }
        Err(ParseError::invalid_key_name(format!("Invalid field name: {name}.")))
    }

    /// A name the server itself defines (never from client input).
    pub fn internal(name: &'static str) -> FieldName {
        FieldName(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for FieldName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Is `key` allowed inside an Object value (no `$` first, no `.` anywhere)?
pub fn is_valid_nested_key(key: &str) -> bool {
    !key.starts_with('$') && !key.contains('.')
}

#[cfg(test)]
mod tests;
