//! Object ACLs (the `ACL` field of Parse objects): parsing the wire form into the read and write
//! permission lists the store keeps, and back.
//!
//! An absent ACL means public read and write and is stored as no lists at all; an empty ACL `{}`
//! means master key only and is stored as two empty lists.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::error::{ErrorCode, ParseError, ParseResult};

/// The read and write permission lists of an object (`_rperm`, `_wperm`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    pub read: BTreeSet<String>,
    pub write: BTreeSet<String>,
}

fn invalid_acl() -> ParseError {
    ParseError::new(ErrorCode::InvalidAcl, "invalid ACL")
}

impl Acl {
    /// Parses `{"*":{"read":true},"<userId>":{"write":true},"role:Name":{…}}`.
    ///
    /// # Errors
    /// 123 "invalid ACL" for anything but an object of objects of `read`/`write` booleans.
    pub fn from_json(value: &Value) -> ParseResult<Acl> {
        let entries = value.as_object().ok_or_else(invalid_acl)?;
        let mut acl = Acl::default();
        for (entity, permissions) in entries {
            if entity.is_empty() || entity.starts_with("role:") && entity.len() == 5 {
                return Err(invalid_acl());
            }
            let permissions = permissions.as_object().ok_or_else(invalid_acl)?;
            for (permission, granted) in permissions {
                let granted = granted.as_bool().ok_or_else(invalid_acl)?;
                let list = match permission.as_str() {
                    "read" => &mut acl.read,
                    "write" => &mut acl.write,
                    _ => return Err(invalid_acl()),
                };
                if granted {
                    list.insert(entity.clone());
                }
            }
        }
        Ok(acl)
    }

    /// The wire form: each entity with the permissions it has.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for entity in self.read.union(&self.write) {
            let mut permissions = Map::new();
            if self.read.contains(entity) {
                permissions.insert("read".into(), Value::Bool(true));
            }
            if self.write.contains(entity) {
                permissions.insert("write".into(), Value::Bool(true));
            }
            out.insert(entity.clone(), Value::Object(permissions));
        }
        Value::Object(out)
    }
}

/// Who is asking, as far as ACLs are concerned: master (sees everything) or the permission keys
/// `*`, the user's id and `role:<name>` for each of their roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Master,
    Keys(Vec<String>),
}

impl Access {
    /// A caller with no user: only public objects.
    pub fn public() -> Access {
        Access::Keys(vec!["*".to_owned()])
    }

    pub fn is_master(&self) -> bool {
        matches!(self, Access::Master)
    }

    /// Does an object with this read (or write) list admit the caller? `None` = no ACL = public.
    pub fn admits(&self, list: Option<&BTreeSet<String>>) -> bool {
        match (self, list) {
            (Access::Master, _) | (_, None) => true,
            (Access::Keys(keys), Some(list)) => keys.iter().any(|key| list.contains(key)),
        }
    }
}

#[cfg(test)]
mod tests;
