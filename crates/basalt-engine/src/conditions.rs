//! Small builders of the conditions and writes the engine makes for itself (a session by its
//! token, a user by its email, a field set by a system write).

use basalt_core::query::{Condition, Constraint, FieldPath};
use basalt_core::update::UpdateOp;
use basalt_store::FieldUpdate;
use serde_json::Value;

/// `field = value` on a top-level field.
pub(crate) fn field_equals(field: &str, value: Value) -> Condition {
    Condition::Field {
        path: FieldPath { field: field.to_owned(), sub_keys: Vec::new() },
        constraint: Constraint::Equals(value),
    }
}

/// A write of `value` to a top-level field.
pub(crate) fn set_field(field: &str, value: Value) -> FieldUpdate {
    FieldUpdate { path: FieldPath { field: field.to_owned(), sub_keys: Vec::new() }, op: UpdateOp::Set(value) }
}
