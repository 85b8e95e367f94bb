//! Checked class and field names. Holding a `ClassName` or `FieldName` is the proof that the
//! name follows Parse's rules, so code that takes one never re-validates and the store may quote
//! it into SQL as an identifier.

use std::fmt;

use crate::Limits;
use crate::error::{ErrorCode, ParseError, ParseResult};

/// Parse's system classes.
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

/// A valid Parse class name: `^[A-Za-z][A-Za-z0-9_]*$` of at most `Limits::NAME_BYTES_MAX`
/// bytes, or a system class.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassName(String);

/// The longest name stores held before names were limited to `Limits::NAME_BYTES_MAX`: a
/// database written then still opens.
const STORED_NAME_BYTES_MAX: usize = 128;

impl ClassName {
    /// # Errors
    /// 103 when the name breaks Parse's rules or is longer than `Limits::NAME_BYTES_MAX`.
    pub fn parse(name: &str) -> ParseResult<ClassName> {
        ClassName::parse_within(name, Limits::NAME_BYTES_MAX)
    }

    /// One of Parse's system classes (`_User`, `_Session`, …), named in code.
    ///
    /// # Panics
    /// When `name` is not a system class: a bug in the caller, caught by its first test.
    pub fn system(name: &'static str) -> ClassName {
        assert!(SYSTEM_CLASSES.contains(&name), "{name} is not a system class");
        ClassName(name.to_owned())
    }

    /// A class name read back from a store, which may be longer than new names may be.
    ///
    /// # Errors
    /// 103 when the name breaks Parse's rules.
    pub fn parse_stored(name: &str) -> ParseResult<ClassName> {
        ClassName::parse_within(name, STORED_NAME_BYTES_MAX)
    }

    fn parse_within(name: &str, bytes_max: usize) -> ParseResult<ClassName> {
        if SYSTEM_CLASSES.contains(&name) {
            return Ok(ClassName(name.to_owned()));
        }
        if !is_identifier(name) {
            return Err(ParseError::new(
                ErrorCode::InvalidClassName,
                format!(
                    "Invalid classname: {name}, classnames can only have alphanumeric characters and _, and must start with an alpha character "
                ),
            ));
        }
        if name.len() > bytes_max {
            return Err(ParseError::new(
                ErrorCode::InvalidClassName,
                format!("Invalid classname: {name}, classnames can have at most {bytes_max} characters."),
            ));
        }
        Ok(ClassName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_system(&self) -> bool {
        self.0.starts_with('_')
    }

    /// Internal classes only the master key may touch.
    pub fn is_master_only(&self) -> bool {
        self.is_system() && !matches!(self.0.as_str(), "_User" | "_Installation" | "_Role" | "_Session")
    }
}

impl PartialEq<str> for ClassName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClassName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
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
    /// 105 "Invalid field name: X." when the name breaks Parse's rules or is longer than
    /// `Limits::NAME_BYTES_MAX`.
    pub fn parse(name: &str) -> ParseResult<FieldName> {
        FieldName::parse_within(name, Limits::NAME_BYTES_MAX)
    }

    /// A field name read back from a store, which may be longer than new names may be.
    ///
    /// # Errors
    /// 105 when the name breaks Parse's rules.
    pub fn parse_stored(name: &str) -> ParseResult<FieldName> {
        FieldName::parse_within(name, STORED_NAME_BYTES_MAX)
    }

    fn parse_within(name: &str, bytes_max: usize) -> ParseResult<FieldName> {
        if !is_identifier(name) || name == "className" {
            return Err(ParseError::invalid_key_name(format!("Invalid field name: {name}.")));
        }
        if name.len() > bytes_max {
            return Err(ParseError::invalid_key_name(format!(
                "Invalid field name: {name}. Field names can have at most {bytes_max} characters."
            )));
        }
        Ok(FieldName(name.to_owned()))
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
