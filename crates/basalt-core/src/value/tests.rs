use expect_test::{Expect, expect};
use serde_json::json;

use super::*;

#[track_caller]
fn check(field_type: FieldType, value: serde_json::Value, expected: Expect) {
    let class_name = ClassName::parse("Thing").unwrap();
    let result = normalize_field_value(&class_name, "f", &field_type, &value).map(|v| canonical_text(&v));
    expected.assert_debug_eq(&result);
}

#[test]
fn numbers_are_canonical() {
    check(
        FieldType::Number,
        json!(3.0),
        expect![[r#"
        Ok(
            "3",
        )
    "#]],
    );
    check(
        FieldType::Number,
        json!(3.25),
        expect![[r#"
        Ok(
            "3.25",
        )
    "#]],
    );
}

#[test]
fn dates_are_canonical() {
    check(
        FieldType::Date,
        json!({"__type":"Date","iso":"2025-01-02T03:04:05Z"}),
        expect![[r#"
        Ok(
            "{\"__type\":\"Date\",\"iso\":\"2025-01-02T03:04:05.000Z\"}",
        )
    "#]],
    );
}

#[test]
fn mismatches_are_111() {
    check(
        FieldType::Number,
        json!("three"),
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "schema mismatch for Thing.f; expected Number but got String",
            },
        )
    "#]],
    );
    let target = ClassName::parse("Post").unwrap();
    check(
        FieldType::Pointer(target),
        json!({"__type":"Pointer","className":"Comment","objectId":"x"}),
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "schema mismatch for Thing.f; expected Pointer<Post> but got Pointer<Comment>",
            },
        )
    "#]],
    );
}

#[test]
fn nested_keys_are_checked() {
    check(
        FieldType::Object,
        json!({"a":{"$b":1}}),
        expect![[r#"
        Err(
            ParseError {
                code: InvalidNestedKey,
                message: "Nested keys should not contain the '$' or '.' characters",
            },
        )
    "#]],
    );
}

#[test]
fn geo_points_are_range_checked() {
    check(
        FieldType::GeoPoint,
        json!({"__type":"GeoPoint","latitude":91,"longitude":0}),
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "GeoPoint latitude out of bounds: 91 < -90.0 or > 90.0.",
            },
        )
    "#]],
    );
}

#[test]
fn polygons_are_closed() {
    check(
        FieldType::Polygon,
        json!({"__type":"Polygon","coordinates":[[0,0],[0,1],[1,1]]}),
        expect![[r#"
        Ok(
            "{\"__type\":\"Polygon\",\"coordinates\":[[0,0],[0,1],[1,1],[0,0]]}",
        )
    "#]],
    );
}

#[test]
fn written_json_refuses_prohibited_keys_and_nul_at_any_depth() {
    let code = |value: Value| check_written_json(&value).map_err(|error| error.code);
    assert_eq!(code(json!({"a": [{"b": "fine"}], "constructorName": 1})), Ok(()));
    assert_eq!(code(json!({"a": [{"constructor": 1}]})), Err(ErrorCode::InvalidKeyName));
    assert_eq!(code(json!([{"_bsontype": "Code"}])), Err(ErrorCode::InvalidKeyName));
    assert_eq!(code(json!({"a": ["x\u{0}"]})), Err(ErrorCode::InvalidJson));
    assert_eq!(check_written_key("o.__proto__.x").map_err(|error| error.code), Err(ErrorCode::InvalidKeyName));
    assert_eq!(check_written_key("o.prototypes"), Ok(()));
    // A request's JSON is only checked for NUL: function parameters may use any key.
    assert_eq!(check_nul_free(&json!({"constructor": "x"})), Ok(()));
}

#[test]
fn file_names_that_are_paths_are_refused() {
    for name in ["../../x", "a/b", "a\\b", ".hidden", "", "a\nb"] {
        assert_eq!(
            check_file_value_name(name).map_err(|error| error.code),
            Err(ErrorCode::InvalidFileName),
            "{name:?}"
        );
    }
    for name in ["d41d8_photo.png", "my file (1).txt", "résumé.pdf", "a..b"] {
        assert_eq!(check_file_value_name(name), Ok(()), "{name:?}");
    }
    let nested = json!({"o": [{"__type": "File", "name": "../x", "url": "http://x/../x"}]});
    assert_eq!(check_written_json(&nested).map_err(|error| error.code), Err(ErrorCode::InvalidFileName));
}
