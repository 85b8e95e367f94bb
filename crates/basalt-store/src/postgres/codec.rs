//! Parse values (canonical JSON) to PostgreSQL values and back, per field type (see
//! `sql::postgres` for the column layout), and how a `PgParam` binds.

use std::error::Error;

use basalt_core::FieldType;
use basalt_core::value::{canonical_number, date_value, pointer_value};
use bytes::BytesMut;
use serde_json::{Map, Value};
use tokio_postgres::Row;
use tokio_postgres::types::{IsNull, ToSql, Type, WrongType};

pub(crate) use crate::sql::postgres::PgParam;

impl ToSql for PgParam {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            PgParam::Null => Ok(IsNull::Yes),
            PgParam::Bool(flag) => flag.to_sql(ty, out),
            PgParam::Int(number) => number.to_sql(ty, out),
            PgParam::Real(number) => number.to_sql(ty, out),
            PgParam::Text(text) => text.to_sql(ty, out),
            PgParam::Json(value) => value.to_sql(ty, out),
            PgParam::TextArray(items) => items.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql_checked`.
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let accepted = match self {
            PgParam::Null => true,
            PgParam::Bool(_) => <bool as ToSql>::accepts(ty),
            PgParam::Int(_) => <i64 as ToSql>::accepts(ty),
            PgParam::Real(_) => <f64 as ToSql>::accepts(ty),
            PgParam::Text(_) => <String as ToSql>::accepts(ty),
            PgParam::Json(_) => <Value as ToSql>::accepts(ty),
            PgParam::TextArray(_) => <Vec<String> as ToSql>::accepts(ty),
        };
        if !accepted {
            return Err(Box::new(WrongType::new::<PgParam>(ty.clone())));
        }
        self.to_sql(ty, out)
    }
}

/// Parameters as tokio-postgres takes them.
pub(crate) fn param_refs(params: &[PgParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|param| param as &(dyn ToSql + Sync)).collect()
}

/// The value stored for `value` in a column of `field_type`. The value was checked against the
/// type on the way in (`value::normalize_field_value`).
pub(crate) fn encode(field_type: &FieldType, value: &Value) -> PgParam {
    let text_of = |value: Option<&Value>| match value.and_then(Value::as_str) {
        Some(text) => PgParam::Text(text.to_owned()),
        None => PgParam::Null,
    };
    match (field_type, value) {
        (_, Value::Null) => PgParam::Null,
        (FieldType::String, Value::String(text)) => PgParam::Text(text.clone()),
        (FieldType::Number, Value::Number(number)) => number.as_f64().map_or(PgParam::Null, PgParam::Real),
        (FieldType::Boolean, Value::Bool(flag)) => PgParam::Bool(*flag),
        (FieldType::Date, Value::Object(object)) => text_of(object.get("iso")),
        (FieldType::Pointer(_), Value::Object(object)) => text_of(object.get("objectId")),
        (FieldType::File, Value::Object(object)) => text_of(object.get("name")),
        (FieldType::Bytes, Value::Object(object)) => text_of(object.get("base64")),
        (_, other) => PgParam::Json(other.clone()),
    }
}

/// The Parse value of column `index`, or `None` when it is NULL.
pub(crate) fn decode(field_type: &FieldType, row: &Row, index: usize) -> Option<Value> {
    let text = || row.try_get::<_, Option<String>>(index).ok().flatten();
    let tagged = |type_name: &str, key: &str, text: String| {
        let mut out = Map::new();
        out.insert("__type".into(), Value::String(type_name.into()));
        out.insert(key.into(), Value::String(text));
        Value::Object(out)
    };
    Some(match field_type {
        FieldType::String => Value::String(text()?),
        FieldType::Number => canonical_number(row.try_get::<_, Option<f64>>(index).ok().flatten()?),
        FieldType::Boolean => Value::Bool(row.try_get::<_, Option<bool>>(index).ok().flatten()?),
        FieldType::Date => date_value(&text()?),
        FieldType::Pointer(target) => pointer_value(target.as_str(), &text()?),
        FieldType::File => tagged("File", "name", text()?),
        FieldType::Bytes => tagged("Bytes", "base64", text()?),
        FieldType::Object | FieldType::Array | FieldType::GeoPoint | FieldType::Polygon => {
            row.try_get::<_, Option<Value>>(index).ok().flatten()?
        }
        FieldType::Relation(_) | FieldType::Acl => return None,
    })
}

/// The SQL type of a field's column.
pub(crate) fn column_sql_type(field_type: &FieldType) -> Option<&'static str> {
    match field_type {
        FieldType::Number => Some("double precision"),
        FieldType::Boolean => Some("boolean"),
        FieldType::Object | FieldType::Array | FieldType::GeoPoint | FieldType::Polygon => Some("jsonb"),
        FieldType::Relation(_) | FieldType::Acl => None,
        _ => Some("text COLLATE \"C\""),
    }
}
