//! The JSON encoding of Parse values (as in Parse's REST API): checking a written value against its
//! field type, normalising it to one canonical form, and canonical JSON text.
//!
//! Canonical form: Dates carry `format_iso` strings, numbers that are whole and exact as `f64`
//! are written as integers, object keys are sorted (serde_json's map is ordered), pointers carry
//! exactly `__type`, `className`, `objectId`. Two equal values have equal canonical text, which the
//! store relies on to compare Object/Array values and array elements as text.

use serde_json::{Map, Number, Value};

use crate::error::{ErrorCode, ParseError, ParseResult};
use crate::names::{ClassName, is_valid_nested_key};
use crate::schema::FieldType;
use crate::time;

/// A mismatch between a value and the field's type, in Parse's words.
pub fn schema_mismatch(class_name: &ClassName, field: &str, expected: &FieldType, got: &FieldType) -> ParseError {
    ParseError::incorrect_type(format!(
        "schema mismatch for {class_name}.{field}; expected {} but got {}",
        expected.describe(),
        got.describe()
    ))
}

/// Normalises a number: a whole `f64` within ±2^53 becomes an integer.
pub fn canonical_number(number: f64) -> Value {
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        // Invariant: the check above makes the cast exact.
        Value::Number(Number::from(number as i64))
    } else {
        Number::from_f64(number).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// Canonical JSON text of a value that is already canonical (see the module doc).
pub fn canonical_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Checks and normalises a value nested inside an Object or Array field: keys may not start
/// with `$` nor contain `.`; Dates are canonicalised; `__op` is refused.
///
/// # Errors
/// 121 for a bad nested key; 111 for a malformed typed value.
pub fn normalize_nested(value: &Value) -> ParseResult<Value> {
    match value {
        Value::Number(number) => Ok(number.as_f64().map(canonical_number).unwrap_or(Value::Null)),
        Value::Array(items) => items.iter().map(normalize_nested).collect::<ParseResult<Vec<_>>>().map(Value::Array),
        Value::Object(object) => {
            if let Some(type_name) = object.get("__type").and_then(Value::as_str) {
                return normalize_typed(type_name, value);
            }
            let mut out = Map::new();
            for (key, inner) in object {
                if !is_valid_nested_key(key) {
                    return Err(ParseError::new(
                        ErrorCode::InvalidNestedKey,
                        "Nested keys should not contain the '$' or '.' characters",
                    ));
                }
                out.insert(key.clone(), normalize_nested(inner)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Normalises a value carrying `__type` (Date, Pointer, File, GeoPoint, Polygon, Bytes, Object).
fn normalize_typed(type_name: &str, value: &Value) -> ParseResult<Value> {
    match type_name {
        "Date" => normalize_date(value),
        "Pointer" => normalize_pointer(value),
        "File" => normalize_file(value),
        "GeoPoint" => normalize_geo_point(value),
        "Polygon" => normalize_polygon(value),
        "Bytes" => normalize_bytes(value),
        // An included object nested in an array: store it as the pointer it stands for.
        "Object" => normalize_pointer(value),
        "Relation" => Ok(value.clone()),
        other => Err(ParseError::incorrect_type(format!("This is not a valid {other}"))),
    }
}

/// `{"__type":"Date","iso":…}` with a canonical `iso`.
///
/// # Errors
/// 111 "This is not a valid Date".
pub fn normalize_date(value: &Value) -> ParseResult<Value> {
    let iso = value
        .get("iso")
        .and_then(Value::as_str)
        .ok_or_else(|| ParseError::incorrect_type("This is not a valid Date"))?;
    Ok(date_value(&time::canonical_iso(iso)?))
}

/// A Date value from a canonical ISO string.
pub fn date_value(iso: &str) -> Value {
    let mut out = Map::new();
    out.insert("__type".into(), Value::String("Date".into()));
    out.insert("iso".into(), Value::String(iso.to_owned()));
    Value::Object(out)
}

/// Keys no written object may hold at any depth. Parse Server's default
/// `requestKeywordDenylist` refuses `__proto__`, `constructor` and `_bsontype` (with the value
/// `Code`): in JavaScript they reach an object's prototype, and `_bsontype` makes the MongoDB
/// driver run code. Basalt keeps no JavaScript objects from them, but cloud code and clients
/// reading the data back do; `prototype` completes the set, and `_bsontype` is refused whatever
/// its value.
pub const PROHIBITED_KEYS: &[&str] = &["__proto__", "constructor", "prototype", "_bsontype"];

/// Checks JSON written into an object, at any depth: no key is one of `PROHIBITED_KEYS`, no
/// key or string holds the NUL character (see `check_nul_free`), and every File value's name is
/// a file name (see `check_file_value_name`).
///
/// # Errors
/// 105 for a prohibited key (Parse Server's code and message), 107 for NUL, 122 for a File
/// name that is a path.
pub fn check_written_json(value: &Value) -> ParseResult<()> {
    match value {
        Value::String(text) => check_nul_free_text(text),
        Value::Array(items) => items.iter().try_for_each(check_written_json),
        Value::Object(object) => {
            if object.get("__type").and_then(Value::as_str) == Some("File")
                && let Some(Value::String(name)) = object.get("name")
            {
                check_file_value_name(name)?;
            }
            for (key, value) in object {
                check_written_key(key)?;
                check_written_json(value)?;
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Checks the name of a File value written into an object: a name is one file, never a path.
/// Clients build the file's URL from it and the file stores read by it, so `../x` or `a/b`
/// would reach outside the app's files. (Not Parse Server's upload rule, which is stricter:
/// names files from other tools wrote stay writable.)
///
/// # Errors
/// 122 for an empty name, a name holding `/`, `\` or a control character, or starting with `.`.
pub fn check_file_value_name(name: &str) -> ParseResult<()> {
    if is_path_like_file_name(name) {
        return Err(ParseError::new(ErrorCode::InvalidFileName, format!("Invalid file name: {name:?}.")));
    }
    Ok(())
}

/// Could `name` leave a directory or name more than one file: empty, starting with `.`, or
/// holding `/`, `\` or a control character? The one rule for file names that reach a path
/// (the file stores refuse them too).
pub fn is_path_like_file_name(name: &str) -> bool {
    name.is_empty() || name.starts_with('.') || name.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Checks a key of written JSON, or a key path (`a.b.c`) of an update, part by part.
///
/// # Errors
/// 105 for a prohibited key, 107 for NUL.
pub fn check_written_key(key: &str) -> ParseResult<()> {
    check_nul_free_text(key)?;
    if let Some(prohibited) = key.split('.').find(|part| PROHIBITED_KEYS.contains(part)) {
        return Err(ParseError::invalid_key_name(format!(
            "Prohibited keyword in request data: {{\"key\":\"{prohibited}\"}}."
        )));
    }
    Ok(())
}

/// Checks JSON sent in a request, at any depth: no key and no string holds the NUL character.
/// PostgreSQL's `text` and `jsonb` cannot hold it, and both stores refuse it so an app moves
/// between them unchanged.
///
/// # Errors
/// 107 naming the character.
pub fn check_nul_free(value: &Value) -> ParseResult<()> {
    match value {
        Value::String(text) => check_nul_free_text(text),
        Value::Array(items) => items.iter().try_for_each(check_nul_free),
        Value::Object(object) => {
            for (key, value) in object {
                check_nul_free_text(key)?;
                check_nul_free(value)?;
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Checks one key or string (see `check_nul_free`).
///
/// # Errors
/// 107 when it holds the NUL character.
pub fn check_nul_free_text(text: &str) -> ParseResult<()> {
    if text.contains('\0') {
        return Err(ParseError::invalid_json("Strings and keys cannot contain the NUL character (\\u0000)."));
    }
    Ok(())
}

/// A pointer value.
pub fn pointer_value(class_name: &str, object_id: &str) -> Value {
    let mut out = Map::new();
    out.insert("__type".into(), Value::String("Pointer".into()));
    out.insert("className".into(), Value::String(class_name.to_owned()));
    out.insert("objectId".into(), Value::String(object_id.to_owned()));
    Value::Object(out)
}

/// Reads `(className, objectId)` from a pointer (or an included object).
pub fn pointer_parts(value: &Value) -> Option<(&str, &str)> {
    let class_name = value.get("className")?.as_str()?;
    let object_id = value.get("objectId")?.as_str()?;
    Some((class_name, object_id))
}

fn normalize_pointer(value: &Value) -> ParseResult<Value> {
    let (class_name, object_id) =
        pointer_parts(value).ok_or_else(|| ParseError::incorrect_type("This is not a valid Pointer"))?;
    let class_name = ClassName::parse(class_name)?;
    Ok(pointer_value(class_name.as_str(), object_id))
}

fn normalize_file(value: &Value) -> ParseResult<Value> {
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ParseError::incorrect_type("This is not a valid File"))?;
    let mut out = Map::new();
    out.insert("__type".into(), Value::String("File".into()));
    out.insert("name".into(), Value::String(name.to_owned()));
    Ok(Value::Object(out))
}

/// Reads and range-checks a GeoPoint; returns `(latitude, longitude)`.
///
/// # Errors
/// 111 for missing or out-of-range coordinates.
pub fn geo_point_parts(value: &Value) -> ParseResult<(f64, f64)> {
    let latitude = value.get("latitude").and_then(Value::as_f64);
    let longitude = value.get("longitude").and_then(Value::as_f64);
    match (latitude, longitude) {
        (Some(latitude), Some(longitude)) => check_coordinates(latitude, longitude),
        _ => Err(ParseError::incorrect_type("This is not a valid GeoPoint")),
    }
}

fn check_coordinates(latitude: f64, longitude: f64) -> ParseResult<(f64, f64)> {
    if !(-90.0..=90.0).contains(&latitude) {
        return Err(ParseError::incorrect_type(format!(
            "GeoPoint latitude out of bounds: {latitude} < -90.0 or > 90.0."
        )));
    }
    if !(-180.0..=180.0).contains(&longitude) {
        return Err(ParseError::incorrect_type(format!(
            "GeoPoint longitude out of bounds: {longitude} < -180.0 or > 180.0."
        )));
    }
    Ok((latitude, longitude))
}

/// A GeoPoint value.
pub fn geo_point_value(latitude: f64, longitude: f64) -> Value {
    let mut out = Map::new();
    out.insert("__type".into(), Value::String("GeoPoint".into()));
    out.insert("latitude".into(), canonical_number(latitude));
    out.insert("longitude".into(), canonical_number(longitude));
    Value::Object(out)
}

fn normalize_geo_point(value: &Value) -> ParseResult<Value> {
    let (latitude, longitude) = geo_point_parts(value)?;
    Ok(geo_point_value(latitude, longitude))
}

/// Reads a Polygon's `[lat, lng]` points (at least 3; closed by repeating the first point if
/// the client did not).
///
/// # Errors
/// 111 for a malformed polygon.
pub fn polygon_points(value: &Value) -> ParseResult<Vec<(f64, f64)>> {
    let invalid = || ParseError::incorrect_type("Polygon must have at least 3 values");
    let coordinates = value.get("coordinates").and_then(Value::as_array).ok_or_else(invalid)?;
    let mut points = Vec::with_capacity(coordinates.len() + 1);
    for pair in coordinates {
        let latitude = pair.get(0).and_then(Value::as_f64);
        let longitude = pair.get(1).and_then(Value::as_f64);
        let (Some(latitude), Some(longitude)) = (latitude, longitude) else {
            return Err(ParseError::incorrect_type("Polygon coordinates must be [latitude, longitude] pairs"));
        };
        points.push(check_coordinates(latitude, longitude)?);
    }
    if points.len() < 3 {
        return Err(invalid());
    }
    if points.first() != points.last() {
        points.push(points[0]);
    }
    Ok(points)
}

fn normalize_polygon(value: &Value) -> ParseResult<Value> {
    let points = polygon_points(value)?;
    let coordinates = points
        .into_iter()
        .map(|(latitude, longitude)| Value::Array(vec![canonical_number(latitude), canonical_number(longitude)]))
        .collect();
    let mut out = Map::new();
    out.insert("__type".into(), Value::String("Polygon".into()));
    out.insert("coordinates".into(), Value::Array(coordinates));
    Ok(Value::Object(out))
}

fn normalize_bytes(value: &Value) -> ParseResult<Value> {
    use base64::Engine;
    let text = value
        .get("base64")
        .and_then(Value::as_str)
        .ok_or_else(|| ParseError::incorrect_type("This is not a valid Bytes"))?;
    if base64::engine::general_purpose::STANDARD.decode(text).is_err() {
        return Err(ParseError::incorrect_type("This is not a valid Bytes"));
    }
    let mut out = Map::new();
    out.insert("__type".into(), Value::String("Bytes".into()));
    out.insert("base64".into(), Value::String(text.to_owned()));
    Ok(Value::Object(out))
}

/// Checks a top-level written value against the field's type and returns it in canonical form.
/// `Null` is accepted for every type (it clears the field).
///
/// # Errors
/// 111 on a type mismatch (including a pointer to another class) or a malformed typed value;
/// 121 for bad keys in Object values.
pub fn normalize_field_value(
    class_name: &ClassName,
    field: &str,
    field_type: &FieldType,
    value: &Value,
) -> ParseResult<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let got = crate::schema::infer_type(value)?;
    let Some(got) = got else { return Ok(Value::Null) };
    let same_kind = got.name() == field_type.name();
    let same_target = got.target_class() == field_type.target_class() || got.target_class().is_none();
    if !same_kind || !same_target {
        return Err(schema_mismatch(class_name, field, field_type, &got));
    }
    match value {
        Value::Number(number) => {
            let number = number.as_f64().ok_or_else(|| ParseError::incorrect_type("This is not a valid Number"))?;
            Ok(canonical_number(number))
        }
        Value::Object(object) if object.contains_key("__type") => {
            normalize_typed(object.get("__type").and_then(Value::as_str).unwrap_or_default(), value)
        }
        Value::Object(_) | Value::Array(_) => normalize_nested(value),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests;
