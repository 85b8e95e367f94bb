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
    use crate::test_support::class;

    #[test]
    fn file_names_are_percent_encoded() {
        assert_eq!(encode_file_name("a b/ü.txt"), "a%20b%2F%C3%BC.txt");
    }

    use basalt_core::acl::Acl;
    use basalt_core::{ClassName, FieldName, FieldSpec};
    use serde_json::json;

    const PREFIX: &str = "https://example.com/parse/files/app/";

    fn schema(fields: &[(&str, FieldType)]) -> ClassSchema {
        let mut schema = ClassSchema::new(ClassName::parse("Post").expect("class name"));
        for (name, field_type) in fields {
            schema.fields.insert(FieldName::parse(name).expect("field name"), FieldSpec::of(field_type.clone()));
        }
        schema
    }

    fn record(fields: serde_json::Value, acl: Option<Acl>) -> ObjectRecord {
        ObjectRecord {
            object_id: "abc123".into(),
            created_at: "2024-01-02T03:04:05.678Z".into(),
            updated_at: "2024-01-03T03:04:05.678Z".into(),
            acl,
            fields: fields.as_object().expect("object").clone(),
        }
    }

    #[test]
    fn an_object_carries_its_id_dates_fields_and_acl_in_rest_form() {
        let acl = Acl::from_json(&json!({"*": {"read": true}, "u1": {"read": true, "write": true}})).expect("acl");
        let object = object_json(&schema(&[]), record(json!({"n": 1, "tags": ["a"]}), Some(acl)), PREFIX);
        assert_eq!(
            Value::Object(object),
            json!({
                "objectId": "abc123",
                "createdAt": "2024-01-02T03:04:05.678Z",
                "updatedAt": "2024-01-03T03:04:05.678Z",
                "n": 1,
                "tags": ["a"],
                "ACL": {"*": {"read": true}, "u1": {"read": true, "write": true}}
            })
        );
    }

    #[test]
    fn an_object_without_an_acl_has_no_acl_key() {
        let object = object_json(&schema(&[]), record(json!({}), None), PREFIX);
        assert!(!object.contains_key("ACL"));
    }

    #[test]
    fn pointers_and_dates_are_returned_in_their_parse_encoding_unchanged() {
        let pointer = json!({"__type": "Pointer", "className": "_User", "objectId": "u1"});
        let date = json!({"__type": "Date", "iso": "2024-01-01T00:00:00.000Z"});
        let object = object_json(
            &schema(&[("owner", FieldType::Pointer(class("_User"))), ("due", FieldType::Date)]),
            record(json!({"owner": pointer.clone(), "due": date.clone()}), None),
            PREFIX,
        );
        assert_eq!(object.get("owner"), Some(&pointer));
        assert_eq!(object.get("due"), Some(&date));
    }

    #[test]
    fn every_relation_field_of_the_class_is_listed_on_every_object_even_unwritten() {
        let object = object_json(
            &schema(&[("fans", FieldType::Relation(class("_User"))), ("title", FieldType::String)]),
            record(json!({}), None),
            PREFIX,
        );
        assert_eq!(object.get("fans"), Some(&json!({"__type": "Relation", "className": "_User"})));
        assert!(!object.contains_key("title"), "only relations are listed when absent");
    }

    #[test]
    fn a_file_gets_its_url_under_the_files_prefix_at_any_depth() {
        let file = json!({"__type": "File", "name": "photo 1.png"});
        let object = object_json(
            &schema(&[]),
            record(json!({"photo": file.clone(), "album": [file.clone()], "meta": {"cover": file}}), None),
            PREFIX,
        );
        let expected = json!({"__type": "File", "name": "photo 1.png", "url": "https://example.com/parse/files/app/photo%201.png"});
        assert_eq!(object.get("photo"), Some(&expected));
        assert_eq!(object.get("album"), Some(&json!([expected.clone()])));
        assert_eq!(object.get("meta"), Some(&json!({"cover": expected})));
    }

    #[test]
    fn a_stored_url_is_replaced_by_the_servers_and_a_file_without_a_name_gets_none() {
        let stale = json!({"__type": "File", "name": "a.txt", "url": "http://old-host/a.txt"});
        assert_eq!(field_json(stale, PREFIX)["url"], json!("https://example.com/parse/files/app/a.txt"));
        let nameless = json!({"__type": "File"});
        assert_eq!(field_json(nameless.clone(), PREFIX), nameless);
    }

    #[test]
    fn unreserved_characters_pass_in_file_urls_and_everything_else_is_escaped() {
        assert_eq!(file_url(PREFIX, "AZaz09-_.~"), format!("{PREFIX}AZaz09-_.~"));
        assert_eq!(file_url("", "a?b#c&d=e%f+g"), "a%3Fb%23c%26d%3De%25f%2Bg");
        assert_eq!(file_url("", "../etc/passwd"), "..%2Fetc%2Fpasswd");
    }
}
