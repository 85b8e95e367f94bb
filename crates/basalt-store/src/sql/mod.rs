//! Compiles typed queries (`basalt_core::query`) against class schemas into SQL text plus bound
//! parameters, one module per dialect. Every identifier in the SQL comes from a checked
//! `ClassName`/`FieldName` (or a constant); every value is a bound parameter. What both dialects
//! decide the same way (which columns a find reads, what an operand compares as, what holds on a
//! field the class lacks) lives here.

pub(crate) mod compiler;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use basalt_core::query::{Comparison, Condition, Constraint};
use basalt_core::value::pointer_parts;
use basalt_core::{ClassSchema, FieldType};
use serde_json::Value;

/// Quotes an identifier that is already known to be a valid Parse name or one of ours.
pub(crate) fn quote(identifier: &str) -> String {
    let mut quoted = String::with_capacity(identifier.len() + 2);
    push_quoted(&mut quoted, identifier);
    quoted
}

/// `quote`, appended to `out` (the compiler's hot path: no allocation of its own).
pub(crate) fn push_quoted(out: &mut String, identifier: &str) {
    out.push('"');
    if identifier.contains('"') {
        out.push_str(&identifier.replace('"', "\"\""));
    } else {
        out.push_str(identifier);
    }
    out.push('"');
}

/// `alias."name"` as a string of its own (passed down to the constraint writers).
pub(crate) fn column_ref(alias: &str, name: &str) -> String {
    let mut column = String::with_capacity(alias.len() + name.len() + 3);
    push_column(&mut column, alias, name);
    column
}

/// `alias."name"`, appended to `out`.
pub(crate) fn push_column(out: &mut String, alias: &str, name: &str) {
    out.push_str(alias);
    out.push('.');
    push_quoted(out, name);
}

/// Appends a key of a path inside an Object field. Keys were checked at parse time (letters,
/// digits, `_` only — see `query::parse`), so they can be inlined in a path literal; anything
/// else is dropped rather than trusted.
pub(crate) fn push_path_key(out: &mut String, key: &str) {
    debug_assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    out.extend(key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_'));
}

/// The name of the table that holds the members of `owner_class`'s Relation `field`.
pub(crate) fn join_table(field: &str, owner_class: &str) -> String {
    format!("_Join:{field}:{owner_class}")
}

/// The system columns every class table has, in this order.
/// A device's row is found by its installation id or its token on every installation write
/// (both dialects).
pub(crate) const INSTALLATION_INDEXES: &str =
    "CREATE INDEX IF NOT EXISTS \"_Installation:installationId\" ON \"_Installation\" (\"installationId\");
     CREATE INDEX IF NOT EXISTS \"_Installation:deviceToken\" ON \"_Installation\" (\"deviceToken\");";

pub(crate) const SYSTEM_COLUMNS: &[&str] = &["objectId", "createdAt", "updatedAt", "_rperm", "_wperm"];

/// The columns a find reads, with their types, in SELECT order (system columns first).
pub(crate) fn selected_columns<'a>(
    schema: &'a ClassSchema,
    fields: Option<&[String]>,
) -> Vec<(&'a str, Option<FieldType>)> {
    let mut columns: Vec<(&str, Option<FieldType>)> = Vec::with_capacity(SYSTEM_COLUMNS.len() + schema.fields.len());
    columns.extend(SYSTEM_COLUMNS.iter().map(|name| (*name, schema.queryable_type(name))));
    for (name, spec) in &schema.fields {
        let name = name.as_str();
        if SYSTEM_COLUMNS.contains(&name) || name == "ACL" || matches!(spec.field_type, FieldType::Relation(_)) {
            continue;
        }
        if let Some(wanted) = fields
            && !wanted.iter().any(|wanted| wanted == name)
        {
            continue;
        }
        columns.push((name, Some(spec.field_type.clone())));
    }
    columns
}

/// Parse compat: a constraint on a field the class does not have behaves as if the value were
/// null: `$exists:false`, `$ne` and `$nin` hold, everything else fails.
pub(crate) fn holds_on_missing_field(constraint: &Constraint) -> bool {
    match constraint {
        Constraint::Exists(exists) => !exists,
        Constraint::NotEquals(value) => !value.is_null(),
        Constraint::Equals(value) => value.is_null(),
        Constraint::In(values) => values.iter().any(Value::is_null),
        Constraint::NotIn(values) => !values.iter().any(Value::is_null),
        Constraint::Select { negated, .. } | Constraint::InQuery { negated, .. } => *negated,
        _ => false,
    }
}

/// The `$nearSphere` of a query's top level, which orders results by distance.
pub(crate) fn near_sphere(condition: &Condition) -> Option<(String, f64, f64)> {
    match condition {
        Condition::Field { path, constraint: Constraint::NearSphere { latitude, longitude, .. } }
            if path.is_top_level() =>
        {
            Some((path.field.clone(), *latitude, *longitude))
        }
        Condition::And(parts) => parts.iter().find_map(near_sphere),
        _ => None,
    }
}

pub(crate) fn comparison_sql(comparison: Comparison) -> &'static str {
    match comparison {
        Comparison::Lt => "<",
        Comparison::Lte => "<=",
        Comparison::Gt => ">",
        Comparison::Gte => ">=",
    }
}

/// What an operand compares as against a column, before a dialect binds it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Text(String),
    Real(f64),
    Bool(bool),
    /// Object, GeoPoint and Polygon columns hold JSON.
    Json(Value),
}

/// The value an operand compares as in a column of `field_type`; `None` when the operand cannot
/// equal anything stored there (a type mismatch matches nothing, as in Parse).
pub(crate) fn column_operand(field_type: &FieldType, operand: &Value) -> Option<Operand> {
    match (field_type, operand) {
        (FieldType::String, Value::String(text)) => Some(Operand::Text(text.clone())),
        (FieldType::Number, Value::Number(number)) => number.as_f64().map(Operand::Real),
        (FieldType::Boolean, Value::Bool(flag)) => Some(Operand::Bool(*flag)),
        (FieldType::Date, Value::Object(object)) if object.get("__type").and_then(Value::as_str) == Some("Date") => {
            object.get("iso").and_then(Value::as_str).map(|iso| Operand::Text(iso.to_owned()))
        }
        (FieldType::Date, Value::String(text)) => basalt_core::time::canonical_iso(text).ok().map(Operand::Text),
        (FieldType::Pointer(target), value) => match pointer_parts(value) {
            Some((class_name, object_id)) if class_name == target.as_str() => Some(Operand::Text(object_id.to_owned())),
            _ => None,
        },
        (FieldType::File, Value::Object(object)) => {
            object.get("name").and_then(Value::as_str).map(|name| Operand::Text(name.to_owned()))
        }
        (FieldType::Bytes, Value::Object(object)) => {
            object.get("base64").and_then(Value::as_str).map(|text| Operand::Text(text.to_owned()))
        }
        (FieldType::Object | FieldType::GeoPoint | FieldType::Polygon, Value::Object(_)) => {
            Some(Operand::Json(operand.clone()))
        }
        _ => None,
    }
}
