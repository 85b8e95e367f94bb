//! Class-level permissions applied to a caller: the extra condition pointer permissions add,
//! and the fields protected from the caller.

use std::collections::BTreeSet;

use basalt_core::acl::Access;
use basalt_core::clp::{self, ClpCaller, ClpDecision, ClpOperation};
use basalt_core::query::Condition;
use basalt_core::value::pointer_value;
use basalt_core::{ClassName, ClassSchema, ParseError, ParseResult};
use serde_json::Value;

use crate::conditions::field_equals;
use crate::{Caller, Engine};

/// The message of a refused master-only class, and of listing or deleting installations.
pub(crate) const PERMISSION_DENIED: &str = "Permission denied";

/// Refuses classes the caller may not reach through the generic object routes (master-only
/// classes; listing or deleting installations).
pub(crate) fn check_class_access(caller: &Caller, class_name: &ClassName, verb: &str) -> ParseResult<()> {
    // Parse compat: installations may be created, read by id and updated by clients, but only
    // the master key lists or deletes them.
    let installation_guarded = class_name.as_str() == "_Installation" && matches!(verb, "find" | "delete");
    if (class_name.is_master_only() || installation_guarded) && !caller.is_master {
        // Parse compat: Parse Server 9 answers this without saying which class or operation.
        tracing::debug!("clients aren't allowed to perform the {verb} operation on the {class_name} collection");
        return Err(ParseError::forbidden(PERMISSION_DENIED));
    }
    Ok(())
}

fn caller_keys(caller: &Caller) -> Vec<String> {
    match caller.access() {
        Access::Master => Vec::new(),
        Access::Keys(keys) => keys,
    }
}

impl Engine {
    /// Checks an operation on a class for the caller; returns the condition the objects must
    /// also meet (pointer permissions), or `Condition::all()`.
    ///
    /// # Errors
    /// 119 when the class's permissions refuse the caller; 101 when they require a user.
    pub(crate) fn class_permission(
        &self,
        caller: &Caller,
        schema: &ClassSchema,
        operation: ClpOperation,
    ) -> ParseResult<Condition> {
        if caller.is_master {
            return Ok(Condition::all());
        }
        let keys = caller_keys(caller);
        let clp_caller = ClpCaller { keys: &keys, user_id: caller.user_id.as_deref() };
        match clp::check(&schema.class_level_permissions, &schema.class_name, operation, &clp_caller)? {
            ClpDecision::Allowed => Ok(Condition::all()),
            ClpDecision::PointerFields(fields) => {
                let Some(user_id) = caller.user_id.clone() else { return Ok(Condition::Or(Vec::new())) };
                let branches = fields
                    .iter()
                    .filter(|field| schema.field(field).is_some())
                    .map(|field| field_equals(field, pointer_value("_User", &user_id)))
                    .collect::<Vec<_>>();
                if branches.is_empty() {
                    return Err(ParseError::forbidden(format!(
                        "Permission denied for action {} on class {}.",
                        operation.key(),
                        schema.class_name
                    )));
                }
                Ok(Condition::Or(branches))
            }
        }
    }

    /// The condition an update or delete runs with: the class's permissions and, for `_Session`,
    /// the caller's own sessions only.
    pub(crate) fn write_condition(
        &self,
        caller: &Caller,
        schema: &ClassSchema,
        operation: ClpOperation,
    ) -> ParseResult<Condition> {
        let permitted = self.class_permission(caller, schema, operation)?;
        if schema.class_name.as_str() != "_Session" || caller.is_master {
            return Ok(permitted);
        }
        let Some(user_id) = &caller.user_id else {
            return Err(ParseError::new(basalt_core::ErrorCode::InvalidSessionToken, "Session token required."));
        };
        Ok(Condition::And(vec![permitted, field_equals("user", pointer_value("_User", user_id))]))
    }

    /// Fields of the class hidden from this caller (none for the master key).
    pub(crate) fn protected_fields(&self, caller: &Caller, schema: &ClassSchema) -> BTreeSet<String> {
        // Parse Server's default `protectedFields` option hides users' emails from others.
        let default_public: &[&str] = if schema.class_name.as_str() == "_User" { &["email"] } else { &[] };
        // Checked on every read; most classes protect no field from anyone: no need to gather
        // the caller's keys.
        let configured = schema
            .class_level_permissions
            .get("protectedFields")
            .and_then(Value::as_object)
            .is_some_and(|lists| lists.values().any(|list| list.as_array().is_some_and(|list| !list.is_empty())));
        if caller.is_master || (!configured && default_public.is_empty()) {
            return BTreeSet::new();
        }
        let keys = caller_keys(caller);
        let clp_caller = ClpCaller { keys: &keys, user_id: caller.user_id.as_deref() };
        clp::protected_fields(&schema.class_level_permissions, &clp_caller, default_public)
    }
}

#[cfg(test)]
mod tests;
