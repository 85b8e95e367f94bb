//! Stored objects to Parse's JSON output: system fields, ACL, field values,
//! File URLs, and the Relation marker for every Relation field of the class.

use basalt_core::{ClassSchema, FieldType};
use basalt_store::ObjectRecord;
use serde_json::{Map, Value};

/// Percent-encodes a file name for its URL (RFC 3986 unreserved characters pass).
fn encode_file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL of a stored file.
pub(crate) fn file_url(files_url_prefix: &str, name: &str) -> String {
    format!("{files_url_prefix}{}", encode_file_name(name))
}

fn with_file_urls(value: Value, files_url_prefix: &str) -> Value {
    match value {
        Value::Object(mut object) => {
            if object.get("__type").and_then(Value::as_str) == Some("File") {
                if let Some(name) = object.get("name").and_then(Value::as_str) {
                    let url = format!("{files_url_prefix}{}", encode_file_name(name));
                    object.insert("url".into(), Value::String(url));
                }
                return Value::Object(object);
            }
            Value::Object(
                object.into_iter().map(|(key, inner)| (key, with_file_urls(inner, files_url_prefix))).collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|item| with_file_urls(item, files_url_prefix)).collect())
        }
        other => other,
    }
}

/// The REST form of a stored object.
pub(crate) fn object_json(schema: &ClassSchema, record: ObjectRecord, files_url_prefix: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("objectId".into(), Value::String(record.object_id));
    out.insert("createdAt".into(), Value::String(record.created_at));
    out.insert("updatedAt".into(), Value::String(record.updated_at));
    for (name, value) in record.fields {
        out.insert(name, with_file_urls(value, files_url_prefix));
    }
    if let Some(acl) = record.acl {
        out.insert("ACL".into(), acl.to_json());
    }
    // Parse compat: every Relation field of the class is listed on every object, members or
    // not, even when `keys` left it out (observed on Parse Server 9.10).
    for (name, spec) in &schema.fields {
        if let FieldType::Relation(target) = &spec.field_type {
            let mut relation = Map::new();
            relation.insert("__type".into(), Value::String("Relation".into()));
            relation.insert("className".into(), Value::String(target.to_string()));
            out.insert(name.to_string(), Value::Object(relation));
        }
    }
    out
}

/// A field value as the client sees it (File URLs filled in).
pub(crate) fn field_json(value: Value, files_url_prefix: &str) -> Value {
    with_file_urls(value, files_url_prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_percent_encoded() {
        assert_eq!(encode_file_name("a b/ü.txt"), "a%20b%2F%C3%BC.txt");
    }
}
