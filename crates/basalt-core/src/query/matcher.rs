//! Does one object match a `Condition`? The in-memory twin of basalt-store's SQL compiler, for
//! LiveQuery, which must decide for each saved object which subscriptions it satisfies without
//! asking the database.
//!
//! The SQL that `sql::sqlite` emits is the reference: this module reproduces its answers, quirk
//! for quirk, and a property test (`basalt-store/tests/matcher_agrees.rs`) runs random queries
//! through both. So the rules below are the store's:
//! - A field the class does not have (or a Relation) behaves as an unset field, and an unset
//!   field behaves as null: `$exists:false`, `$ne` and `$nin` hold; equality to null holds.
//! - `$ne` is the negation of equality and `$nin` of `$in`, everywhere.
//! - A value compares as its column holds it: Pointers by objectId (the class must be the
//!   field's target), Dates by canonical ISO text, Files by name, Bytes by base64, Objects,
//!   Arrays, GeoPoints and Polygons by canonical JSON text. An operand of another type matches
//!   nothing.
//! - On an Array field equality means "contains", `$in` "some element is in the list", and
//!   comparisons and `$regex` hold when some element satisfies them.
//! - A dotted key reads inside an Object field as SQLite's `json_extract` does.
//! - `$text` requires every whitespace-separated term as a substring, folding ASCII case only
//!   (SQLite's `lower`).
//!
//! `$relatedTo`, `$inQuery`, `$notInQuery`, `$select` and `$dontSelect` need other objects than
//! the one at hand; such conditions are refused with `Unsupported`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{AllItem, Comparison, Condition, Constraint, FieldPath, RegexPattern};
use crate::schema::{ClassSchema, FieldType};
use crate::value::{canonical_text, pointer_parts, polygon_points};
use crate::{geo, time};

/// A condition that needs objects other than the one being matched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operator} needs objects of other classes; it cannot be matched against one object")]
pub struct Unsupported {
    /// The operator as written in `where`: `$relatedTo`, `$inQuery`, `$notInQuery`, `$select`
    /// or `$dontSelect`.
    pub operator: &'static str,
}

/// Checks that `condition` can be matched in memory, so a caller (a LiveQuery subscription)
/// can refuse it before any object arrives.
///
/// # Errors
/// `Unsupported` naming the first operator that needs other objects.
pub fn check_supported(condition: &Condition) -> Result<(), Unsupported> {
    match condition {
        Condition::And(parts) | Condition::Or(parts) | Condition::Nor(parts) => {
            parts.iter().try_for_each(check_supported)
        }
        Condition::RelatedTo { .. } => Err(Unsupported { operator: "$relatedTo" }),
        Condition::Field { constraint: Constraint::InQuery { negated, .. }, .. } => {
            Err(Unsupported { operator: if *negated { "$notInQuery" } else { "$inQuery" } })
        }
        Condition::Field { constraint: Constraint::Select { negated, .. }, .. } => {
            Err(Unsupported { operator: if *negated { "$dontSelect" } else { "$select" } })
        }
        Condition::Field { .. } => Ok(()),
    }
}

/// Does `object` match `condition`? `object` is in Parse's REST encoding as the engine returns
/// it: `objectId`, `createdAt` and `updatedAt` as strings, typed values as `{"__type":…}`
/// (Files may carry their `url`), Relation fields as markers, unset fields absent (or null).
/// Field types come from `schema`, not from the values, as in the store.
///
/// # Errors
/// `Unsupported` when the condition uses `$relatedTo`, `$inQuery`, `$notInQuery`, `$select`
/// or `$dontSelect` anywhere, whatever the object.
pub fn matches(schema: &ClassSchema, object: &Map<String, Value>, condition: &Condition) -> Result<bool, Unsupported> {
    check_supported(condition)?;
    Ok(holds(schema, object, condition))
}

fn holds(schema: &ClassSchema, object: &Map<String, Value>, condition: &Condition) -> bool {
    match condition {
        Condition::And(parts) => parts.iter().all(|part| holds(schema, object, part)),
        Condition::Or(parts) => parts.iter().any(|part| holds(schema, object, part)),
        Condition::Nor(parts) => !parts.iter().any(|part| holds(schema, object, part)),
        Condition::Field { path, constraint } => field_holds(schema, object, path, constraint),
        // Refused by `check_supported` before evaluation starts.
        Condition::RelatedTo { .. } => false,
    }
}

fn field_holds(schema: &ClassSchema, object: &Map<String, Value>, path: &FieldPath, constraint: &Constraint) -> bool {
    let Some(field_type) = schema.queryable_type(&path.field) else {
        return missing_field_holds(constraint);
    };
    let value = object.get(&path.field).filter(|value| !value.is_null());
    if !path.is_top_level() {
        // A dotted key into anything but an Object field is a type mismatch: nothing matches,
        // not even `$exists:false`.
        if field_type != FieldType::Object {
            return false;
        }
        let stored = value.map(stored_json);
        let target = stored.as_ref().and_then(|root| value_at(root, &path.sub_keys));
        return path_holds(target, constraint);
    }
    match (&field_type, constraint) {
        (FieldType::Array, _) => array_holds(value.map(stored_json).as_ref(), constraint),
        (FieldType::GeoPoint, _) => geo_point_holds(value, constraint),
        (FieldType::Polygon, Constraint::PolygonContains { latitude, longitude }) => value
            .and_then(|polygon| polygon_points(polygon).ok())
            .is_some_and(|points| geo::polygon_contains(&points, *latitude, *longitude)),
        _ => scalar_holds(&field_type, value, constraint),
    }
}

/// A field the class does not have: as if its value were null.
fn missing_field_holds(constraint: &Constraint) -> bool {
    match constraint {
        Constraint::Exists(exists) => !exists,
        Constraint::Equals(operand) => operand.is_null(),
        Constraint::NotEquals(operand) => !operand.is_null(),
        Constraint::In(operands) => operands.iter().any(Value::is_null),
        Constraint::NotIn(operands) => !operands.iter().any(Value::is_null),
        _ => false,
    }
}

/// A value as SQLite holds it in a typed column (see basalt-store's `sqlite::codec`).
#[derive(Debug, PartialEq)]
enum Column {
    Integer(i64),
    Real(f64),
    Text(String),
}

impl Column {
    /// SQLite's order of two non-NULL values without collation: numbers by value, before text;
    /// text by bytes. `None` only for NaN, which no stored value is.
    fn compare(&self, other: &Column) -> Option<Ordering> {
        let number = |column: &Column| match column {
            Column::Integer(integer) => Some(*integer as f64),
            Column::Real(real) => Some(*real),
            Column::Text(_) => None,
        };
        match (self, other) {
            (Column::Integer(left), Column::Integer(right)) => Some(left.cmp(right)),
            (Column::Text(left), Column::Text(right)) => Some(left.as_bytes().cmp(right.as_bytes())),
            (Column::Text(_), _) => Some(Ordering::Greater),
            (_, Column::Text(_)) => Some(Ordering::Less),
            _ => number(self)?.partial_cmp(&number(other)?),
        }
    }

    fn equals(&self, other: &Column) -> bool {
        self.compare(other) == Some(Ordering::Equal)
    }
}

fn text_column(value: Option<&Value>) -> Option<Column> {
    value.and_then(Value::as_str).map(|text| Column::Text(text.to_owned()))
}

/// The column value of a field's REST value (the store's `codec::encode`), `None` for NULL.
fn column_of(field_type: &FieldType, value: &Value) -> Option<Column> {
    match (field_type, value) {
        (_, Value::Null) => None,
        (FieldType::String, Value::String(text)) => Some(Column::Text(text.clone())),
        (FieldType::Number, Value::Number(number)) => number.as_f64().map(Column::Real),
        (FieldType::Boolean, Value::Bool(flag)) => Some(Column::Integer(i64::from(*flag))),
        // `createdAt` and `updatedAt` are bare ISO strings in the REST encoding.
        (FieldType::Date, Value::String(iso)) => Some(Column::Text(iso.clone())),
        (FieldType::Date, Value::Object(object)) => text_column(object.get("iso")),
        (FieldType::Pointer(_), Value::Object(object)) => text_column(object.get("objectId")),
        (FieldType::File, Value::Object(object)) => text_column(object.get("name")),
        (FieldType::Bytes, Value::Object(object)) => text_column(object.get("base64")),
        (_, other) => Some(Column::Text(canonical_text(&stored_json(other)))),
    }
}

/// The column value an operand compares as in a field of `field_type`, or `None` when it cannot
/// equal anything stored there (the store's `column_operand`).
fn column_operand(field_type: &FieldType, operand: &Value) -> Option<Column> {
    match (field_type, operand) {
        (FieldType::String, Value::String(text)) => Some(Column::Text(text.clone())),
        (FieldType::Number, Value::Number(number)) => number.as_f64().map(Column::Real),
        (FieldType::Boolean, Value::Bool(flag)) => Some(Column::Integer(i64::from(*flag))),
        (FieldType::Date, Value::Object(object)) if object.get("__type").and_then(Value::as_str) == Some("Date") => {
            text_column(object.get("iso"))
        }
        (FieldType::Date, Value::String(text)) => time::canonical_iso(text).ok().map(Column::Text),
        (FieldType::Pointer(target), operand) => match pointer_parts(operand) {
            Some((class_name, object_id)) if class_name == target.as_str() => Some(Column::Text(object_id.to_owned())),
            _ => None,
        },
        (FieldType::File, Value::Object(object)) => text_column(object.get("name")),
        (FieldType::Bytes, Value::Object(object)) => text_column(object.get("base64")),
        (FieldType::Object | FieldType::GeoPoint | FieldType::Polygon, Value::Object(_)) => {
            Some(Column::Text(canonical_text(operand)))
        }
        _ => None,
    }
}

/// Constraints on a top-level field stored in a typed column (everything but Arrays, and
/// GeoPoints and Polygons outside their geo operators).
fn scalar_holds(field_type: &FieldType, value: Option<&Value>, constraint: &Constraint) -> bool {
    let stored = value.and_then(|value| column_of(field_type, value));
    let equals = |operand: &Value| match (&stored, column_operand(field_type, operand)) {
        (Some(stored), Some(operand)) => stored.equals(&operand),
        _ => false,
    };
    let is_in =
        |operands: &[Value]| (stored.is_none() && operands.iter().any(Value::is_null)) || operands.iter().any(&equals);
    match constraint {
        Constraint::Equals(Value::Null) => stored.is_none(),
        Constraint::Equals(operand) => equals(operand),
        Constraint::NotEquals(Value::Null) => stored.is_some(),
        Constraint::NotEquals(operand) => !equals(operand),
        Constraint::In(operands) => is_in(operands),
        Constraint::NotIn(operands) => !is_in(operands),
        Constraint::Exists(exists) => stored.is_some() == *exists,
        Constraint::Compare(comparison, operand) => {
            let is_comparable = matches!(field_type, FieldType::String | FieldType::Number | FieldType::Date);
            match (&stored, column_operand(field_type, operand)) {
                (Some(stored), Some(operand)) if is_comparable => {
                    stored.compare(&operand).is_some_and(|ordering| ordering_satisfies(ordering, *comparison))
                }
                _ => false,
            }
        }
        Constraint::Regex(pattern) => match &stored {
            Some(Column::Text(text)) if *field_type == FieldType::String => regex_matches(pattern, text),
            _ => false,
        },
        Constraint::Text { terms, case_sensitive } => match &stored {
            Some(Column::Text(text)) if *field_type == FieldType::String => text_contains(text, terms, *case_sensitive),
            _ => false,
        },
        Constraint::All(_)
        | Constraint::ContainedBy(_)
        | Constraint::NearSphere { .. }
        | Constraint::WithinBox { .. }
        | Constraint::WithinPolygon(_)
        | Constraint::WithinCircle { .. }
        | Constraint::PolygonContains { .. }
        | Constraint::Select { .. }
        | Constraint::InQuery { .. } => false,
    }
}

/// The elements SQLite's `json_each` yields for a stored value: an array's items, an object's
/// values, or a scalar itself.
fn json_each(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(object) => object.values().collect(),
        scalar => vec![scalar],
    }
}

/// Constraints on a top-level Array field; `stored` is its value, `None` when unset.
fn array_holds(stored: Option<&Value>, constraint: &Constraint) -> bool {
    let elements = stored.map(json_each).unwrap_or_default();
    let contains_any = |operands: &[Value]| {
        elements.iter().any(|element| operands.iter().any(|operand| json_element_equals(element, operand)))
    };
    let equals = |operand: &Value| match operand {
        // An array operand is compared with the whole array, any other with each element.
        Value::Array(_) => stored.is_some_and(|stored| canonical_text(stored) == canonical_text(operand)),
        operand => contains_any(std::slice::from_ref(operand)),
    };
    let is_in =
        |operands: &[Value]| (stored.is_none() && operands.iter().any(Value::is_null)) || contains_any(operands);
    match constraint {
        Constraint::Equals(Value::Null) => stored.is_none(),
        Constraint::Equals(operand) => equals(operand),
        Constraint::NotEquals(Value::Null) => stored.is_some(),
        Constraint::NotEquals(operand) => !equals(operand),
        Constraint::In(operands) => is_in(operands),
        Constraint::NotIn(operands) => !is_in(operands),
        Constraint::Exists(exists) => stored.is_some() == *exists,
        Constraint::All(items) => {
            stored.is_some()
                && items.iter().all(|item| match item {
                    AllItem::Value(operand) => contains_any(std::slice::from_ref(operand)),
                    AllItem::Regex(pattern) => {
                        elements.iter().any(|element| element.as_str().is_some_and(|text| regex_matches(pattern, text)))
                    }
                })
        }
        Constraint::ContainedBy(operands) => {
            elements.iter().all(|element| operands.iter().any(|operand| json_element_equals(element, operand)))
        }
        Constraint::Compare(comparison, operand) => {
            elements.iter().any(|element| json_compare(Some(element), operand, *comparison))
        }
        Constraint::Regex(pattern) => {
            elements.iter().any(|element| element.as_str().is_some_and(|text| regex_matches(pattern, text)))
        }
        Constraint::Text { .. }
        | Constraint::NearSphere { .. }
        | Constraint::WithinBox { .. }
        | Constraint::WithinPolygon(_)
        | Constraint::WithinCircle { .. }
        | Constraint::PolygonContains { .. }
        | Constraint::Select { .. }
        | Constraint::InQuery { .. } => false,
    }
}

/// Constraints on the value at a dotted path inside an Object field; `target` is that value,
/// `None` when the field is unset or the path leads nowhere (JSON null is `Some(Null)`).
fn path_holds(target: Option<&Value>, constraint: &Constraint) -> bool {
    let is_null = target.is_none_or(Value::is_null);
    let equals = |operand: &Value| match operand {
        Value::Null => is_null,
        // A Date operand compares with the `iso` of whatever object sits at the path.
        Value::Object(object) if object.get("__type").and_then(Value::as_str) == Some("Date") => {
            let iso = object.get("iso").and_then(Value::as_str).unwrap_or_default();
            target.and_then(|target| target.get("iso")).and_then(Value::as_str) == Some(iso)
        }
        operand => target.is_some_and(|target| json_element_equals(target, operand)),
    };
    match constraint {
        Constraint::Equals(operand) => equals(operand),
        Constraint::NotEquals(operand) => !equals(operand),
        Constraint::In(operands) => operands.iter().any(equals),
        Constraint::NotIn(operands) => !operands.iter().any(equals),
        Constraint::Exists(exists) => *exists != is_null,
        Constraint::Compare(comparison, operand) => match operand {
            Value::Object(object) if object.get("__type").and_then(Value::as_str) == Some("Date") => {
                let iso = object.get("iso").and_then(Value::as_str).unwrap_or_default();
                json_compare(target.and_then(|target| target.get("iso")), &Value::from(iso), *comparison)
            }
            operand => json_compare(target, operand, *comparison),
        },
        Constraint::Regex(pattern) => target.and_then(Value::as_str).is_some_and(|text| regex_matches(pattern, text)),
        Constraint::Text { terms, case_sensitive } => {
            target.and_then(Value::as_str).is_some_and(|text| text_contains(text, terms, *case_sensitive))
        }
        _ => false,
    }
}

/// Is a JSON value (an array element, or the value at a path) equal to an operand? Same JSON
/// type and value; objects and arrays by canonical text.
fn json_element_equals(element: &Value, operand: &Value) -> bool {
    match (element, operand) {
        (Value::String(element), Value::String(operand)) => element == operand,
        (Value::Number(element), Value::Number(operand)) => element.as_f64() == operand.as_f64(),
        (Value::Bool(element), Value::Bool(operand)) => element == operand,
        (Value::Null, Value::Null) => true,
        (Value::Object(_) | Value::Array(_), Value::Object(_) | Value::Array(_)) => {
            canonical_text(element) == canonical_text(operand)
        }
        _ => false,
    }
}

/// Orders a JSON value against a Number or String operand of the same JSON type; any other
/// pairing holds for no comparison.
fn json_compare(element: Option<&Value>, operand: &Value, comparison: Comparison) -> bool {
    let ordering = match (element, operand) {
        (Some(Value::Number(element)), Value::Number(operand)) => {
            element.as_f64().zip(operand.as_f64()).and_then(|(element, operand)| element.partial_cmp(&operand))
        }
        (Some(Value::String(element)), Value::String(operand)) => Some(element.as_bytes().cmp(operand.as_bytes())),
        _ => None,
    };
    ordering.is_some_and(|ordering| ordering_satisfies(ordering, comparison))
}

fn ordering_satisfies(ordering: Ordering, comparison: Comparison) -> bool {
    match comparison {
        Comparison::Lt => ordering == Ordering::Less,
        Comparison::Lte => ordering != Ordering::Greater,
        Comparison::Gt => ordering == Ordering::Greater,
        Comparison::Gte => ordering != Ordering::Less,
    }
}

/// Constraints on a top-level GeoPoint field.
fn geo_point_holds(value: Option<&Value>, constraint: &Constraint) -> bool {
    let coordinates = value.and_then(|point| {
        let latitude = point.get("latitude").and_then(Value::as_f64)?;
        let longitude = point.get("longitude").and_then(Value::as_f64)?;
        Some((latitude, longitude))
    });
    let distance_within = |center_latitude: f64, center_longitude: f64, radians_max: f64| {
        coordinates.is_some_and(|(latitude, longitude)| {
            geo::distance_radians(latitude, longitude, center_latitude, center_longitude) <= radians_max
        })
    };
    match constraint {
        Constraint::NearSphere { latitude, longitude, max_radians } => match max_radians {
            None => value.is_some(),
            Some(max_radians) => distance_within(*latitude, *longitude, *max_radians),
        },
        Constraint::WithinCircle { latitude, longitude, radius_radians } => {
            distance_within(*latitude, *longitude, *radius_radians)
        }
        Constraint::WithinBox { south, west, north, east } => coordinates.is_some_and(|(latitude, longitude)| {
            (*south..=*north).contains(&latitude) && (*west..=*east).contains(&longitude)
        }),
        Constraint::WithinPolygon(points) => {
            coordinates.is_some_and(|(latitude, longitude)| geo::polygon_contains(points, latitude, longitude))
        }
        other => scalar_holds(&FieldType::GeoPoint, value, other),
    }
}

/// The value at `sub_keys` inside `root`, as `json_extract` finds it: each step must be an
/// object holding the key.
fn value_at<'v>(root: &'v Value, sub_keys: &[String]) -> Option<&'v Value> {
    sub_keys.iter().try_fold(root, |current, key| current.as_object()?.get(key))
}

/// A REST value back in its stored form: Files inside Objects and Arrays lose the `url` the
/// engine adds on output, so canonical texts compare as the stored ones do.
fn stored_json(value: &Value) -> Value {
    match value {
        Value::Object(object) if object.get("__type").and_then(Value::as_str) == Some("File") => {
            Value::Object(object.iter().filter(|(key, _)| *key != "url").map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        Value::Object(object) => {
            Value::Object(object.iter().map(|(key, inner)| (key.clone(), stored_json(inner))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(stored_json).collect()),
        other => other.clone(),
    }
}

fn regex_matches(pattern: &RegexPattern, text: &str) -> bool {
    // The pattern compiled within the server's limit when the query was parsed; should it not
    // compile here, it matches nothing rather than failing the whole evaluation.
    regex::Regex::new(&pattern.pattern).is_ok_and(|regex| regex.is_match(text))
}

/// `$text`: every whitespace-separated term occurs in `text`. Without `case_sensitive` both
/// sides fold ASCII letters only, as SQLite's `lower` does.
fn text_contains(text: &str, terms: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        return terms.split_whitespace().all(|term| text.contains(term));
    }
    let text = text.to_ascii_lowercase();
    terms.split_whitespace().all(|term| text.contains(&term.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests;
