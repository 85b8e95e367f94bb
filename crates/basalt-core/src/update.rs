//! Update operators (`__op`): parsing them from a written value and applying
//! them to a field's current value. The store applies them inside the write transaction, so an
//! Increment or Add is atomic against every other writer.

use serde_json::{Map, Value};

use crate::Limits;
use crate::error::{ErrorCode, ParseError, ParseResult};
use crate::names::ClassName;
use crate::value::{self, canonical_number};

/// What one written key does to its field.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateOp {
    /// Set the value (already canonical); `Null` unsets the field.
    Set(Value),
    /// Unset the field.
    Delete,
    Increment(f64),
    Add(Vec<Value>),
    AddUnique(Vec<Value>),
    Remove(Vec<Value>),
    /// Add and remove members of a Relation field (by objectId of `target`; `None` when both
    /// lists are empty).
    Relation {
        target: Option<ClassName>,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// Set only when the write creates the object.
    SetOnInsert(Value),
}

impl UpdateOp {
    /// Does the response to an update echo the field's new value (Parse does for these ops)?
    pub fn echoes_result(&self) -> bool {
        matches!(self, UpdateOp::Increment(_) | UpdateOp::Add(_) | UpdateOp::AddUnique(_) | UpdateOp::Remove(_))
    }
}

fn objects_of(object: &Map<String, Value>) -> ParseResult<Vec<Value>> {
    let objects = object
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::invalid_json("objects to add must be an array"))?;
    objects.iter().map(value::normalize_nested).collect()
}

fn relation_members(object: &Map<String, Value>, target: &mut Option<ClassName>) -> ParseResult<Vec<String>> {
    let objects = object
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::invalid_json("objects to add must be an array"))?;
    let mut ids = Vec::with_capacity(objects.len());
    for member in objects {
        let (class_name, object_id) =
            value::pointer_parts(member).ok_or_else(|| ParseError::incorrect_type("This is not a valid Pointer"))?;
        let class_name = ClassName::parse(class_name)?;
        match target {
            Some(existing) if *existing != class_name => {
                return Err(ParseError::incorrect_type("All objects in a relation must have the same class."));
            }
            Some(_) => {}
            None => *target = Some(class_name),
        }
        ids.push(object_id.to_owned());
    }
    Ok(ids)
}

/// Parses a written value: an `__op` object becomes its operator; anything else is `Set` with
/// the raw value (the caller normalises it against the field's type).
///
/// # Errors
/// 107 for malformed operands, 108 for unknown operators, 111 for mixed relation targets or a
/// non-number Increment.
pub fn parse_op(written: &Value) -> ParseResult<UpdateOp> {
    let Some(object) = written.as_object() else { return Ok(UpdateOp::Set(written.clone())) };
    let Some(op) = object.get("__op") else { return Ok(UpdateOp::Set(written.clone())) };
    match op.as_str() {
        Some("Increment") => match object.get("amount").and_then(Value::as_f64) {
            Some(amount) => Ok(UpdateOp::Increment(amount)),
            None => Err(ParseError::incorrect_type("Increment amount must be a number")),
        },
        Some("Add") => Ok(UpdateOp::Add(objects_of(object)?)),
        Some("AddUnique") => Ok(UpdateOp::AddUnique(objects_of(object)?)),
        Some("Remove") => Ok(UpdateOp::Remove(objects_of(object)?)),
        Some("Delete") => Ok(UpdateOp::Delete),
        Some("SetOnInsert") => Ok(UpdateOp::SetOnInsert(object.get("value").cloned().unwrap_or(Value::Null))),
        Some("AddRelation" | "RemoveRelation" | "Batch") => {
            let mut target = None;
            let mut add = Vec::new();
            let mut remove = Vec::new();
            let single = [written.clone()];
            let ops: &[Value] = match op.as_str() {
                Some("Batch") => object
                    .get("ops")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .ok_or_else(|| ParseError::invalid_json("ops must be an array"))?,
                _ => &single,
            };
            for inner in ops {
                let inner = inner.as_object().ok_or_else(|| ParseError::invalid_json("ops must be objects"))?;
                match inner.get("__op").and_then(Value::as_str) {
                    Some("AddRelation") => add.extend(relation_members(inner, &mut target)?),
                    Some("RemoveRelation") => remove.extend(relation_members(inner, &mut target)?),
                    _ => {
                        return Err(ParseError::new(
                            ErrorCode::CommandUnavailable,
                            "Batch ops may only hold AddRelation and RemoveRelation.",
                        ));
                    }
                }
            }
            Ok(UpdateOp::Relation { target, add, remove })
        }
        Some(other) => {
            Err(ParseError::new(ErrorCode::CommandUnavailable, format!("The {other} operator is not supported yet.")))
        }
        None => Err(ParseError::invalid_json("__op must be a string")),
    }
}

/// Applies a non-relation op to the current value (`None` = unset) and returns the new value
/// (`None` = unset).
///
/// # Errors
/// 111 when the current value has the wrong type for the op, or an Increment's result would
/// pass `Limits::INCREMENT_RESULT_MAX`.
pub fn apply_op(current: Option<&Value>, op: &UpdateOp, is_insert: bool) -> ParseResult<Option<Value>> {
    let current = current.filter(|value| !value.is_null());
    match op {
        UpdateOp::Set(value) if value.is_null() => Ok(None),
        UpdateOp::Set(value) => Ok(Some(value.clone())),
        UpdateOp::Delete => Ok(None),
        UpdateOp::SetOnInsert(value) => Ok(if is_insert { Some(value.clone()) } else { current.cloned() }),
        UpdateOp::Increment(amount) => {
            let base = match current {
                None => 0.0,
                Some(Value::Number(number)) => number.as_f64().unwrap_or(0.0),
                Some(_) => return Err(ParseError::incorrect_type("Cannot increment a field that is not a number")),
            };
            let result = base + amount;
            if !result.is_finite() || result.abs() > Limits::INCREMENT_RESULT_MAX {
                return Err(ParseError::incorrect_type(format!(
                    "Cannot increment: the result would leave the safe integer range (±{}).",
                    Limits::INCREMENT_RESULT_MAX
                )));
            }
            Ok(Some(canonical_number(result)))
        }
        UpdateOp::Add(objects) | UpdateOp::AddUnique(objects) | UpdateOp::Remove(objects) => {
            let mut items = match current {
                None => Vec::new(),
                Some(Value::Array(items)) => items.clone(),
                Some(_) => {
                    return Err(ParseError::incorrect_type(
                        "Cannot apply an array operator to a field that is not an array",
                    ));
                }
            };
            match op {
                UpdateOp::Add(_) => items.extend(objects.iter().cloned()),
                UpdateOp::AddUnique(_) => {
                    for object in objects {
                        if !items.iter().any(|item| same_element(item, object)) {
                            items.push(object.clone());
                        }
                    }
                }
                _ => items.retain(|item| !objects.iter().any(|object| same_element(item, object))),
            }
            Ok(Some(Value::Array(items)))
        }
        UpdateOp::Relation { .. } => Ok(current.cloned()),
    }
}

/// Element equality for AddUnique/Remove: pointers by class and id, anything else by value.
fn same_element(left: &Value, right: &Value) -> bool {
    match (value::pointer_parts(left), value::pointer_parts(right)) {
        (Some(left), Some(right)) => left == right,
        _ => left == right,
    }
}

#[cfg(test)]
mod tests;
