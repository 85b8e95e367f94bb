//! Parse values (canonical JSON) to SQLite values and back, per field type. See `sql::sqlite`
//! for the column layout.

use basalt_core::FieldType;
use basalt_core::value::{canonical_number, canonical_text, date_value, pointer_value};
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{Map, Value};

/// The SQLite value stored for `value` in a column of `field_type`. The value was checked
/// against the type on the way in (`value::normalize_field_value`).
pub(crate) fn encode(field_type: &FieldType, value: &Value) -> SqlValue {
    match (field_type, value) {
        (_, Value::Null) => SqlValue::Null,
        (FieldType::String, Value::String(text)) => SqlValue::Text(text.clone()),
        (FieldType::Number, Value::Number(number)) => number.as_f64().map(SqlValue::Real).unwrap_or(SqlValue::Null),
        (FieldType::Boolean, Value::Bool(flag)) => SqlValue::Integer(i64::from(*flag)),
        (FieldType::Date, Value::Object(object)) => text_of(object.get("iso")),
        (FieldType::Pointer(_), Value::Object(object)) => text_of(object.get("objectId")),
        (FieldType::File, Value::Object(object)) => text_of(object.get("name")),
        (FieldType::Bytes, Value::Object(object)) => text_of(object.get("base64")),
        (_, other) => SqlValue::Text(canonical_text(other)),
    }
}

fn text_of(value: Option<&Value>) -> SqlValue {
    match value.and_then(Value::as_str) {
        Some(text) => SqlValue::Text(text.to_owned()),
        None => SqlValue::Null,
    }
}

/// The Parse value of a stored column, or `None` when the column is NULL.
pub(crate) fn decode(field_type: &FieldType, stored: ValueRef<'_>) -> Option<Value> {
    let text = || match stored {
        ValueRef::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    };
    if stored == ValueRef::Null {
        return None;
    }
    Some(match field_type {
        FieldType::String => Value::String(text()?),
        FieldType::Number => match stored {
            ValueRef::Real(number) => canonical_number(number),
            ValueRef::Integer(number) => Value::from(number),
            _ => return None,
        },
        FieldType::Boolean => match stored {
            ValueRef::Integer(number) => Value::Bool(number != 0),
            _ => return None,
        },
        FieldType::Date => date_value(&text()?),
        FieldType::Pointer(target) => pointer_value(target.as_str(), &text()?),
        FieldType::File => {
            let mut out = Map::new();
            out.insert("__type".into(), Value::String("File".into()));
            out.insert("name".into(), Value::String(text()?));
            Value::Object(out)
        }
        FieldType::Bytes => {
            let mut out = Map::new();
            out.insert("__type".into(), Value::String("Bytes".into()));
            out.insert("base64".into(), Value::String(text()?));
            Value::Object(out)
        }
        FieldType::Object | FieldType::Array | FieldType::GeoPoint | FieldType::Polygon => {
            serde_json::from_str(&text()?).ok()?
        }
        FieldType::Relation(_) | FieldType::Acl => return None,
    })
}

/// The SQL type of a field's column.
pub(crate) fn column_sql_type(field_type: &FieldType) -> Option<&'static str> {
    match field_type {
        FieldType::Number => Some("REAL"),
        FieldType::Boolean => Some("INTEGER"),
        FieldType::Relation(_) | FieldType::Acl => None,
        _ => Some("TEXT"),
    }
}
