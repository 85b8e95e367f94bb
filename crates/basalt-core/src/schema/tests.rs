use expect_test::{Expect, expect};
use serde_json::json;

use super::*;

#[track_caller]
fn check_infer(value: serde_json::Value, expected: Expect) {
    expected.assert_debug_eq(&infer_type(&value).map(|t| t.map(|t| t.describe())));
}

#[test]
fn infers_types_of_written_values() {
    check_infer(
        json!("x"),
        expect![[r#"
        Ok(
            Some(
                "String",
            ),
        )
    "#]],
    );
    check_infer(
        json!(1.5),
        expect![[r#"
        Ok(
            Some(
                "Number",
            ),
        )
    "#]],
    );
    check_infer(
        json!({"__type":"Pointer","className":"_User","objectId":"a"}),
        expect![[r#"
        Ok(
            Some(
                "Pointer<_User>",
            ),
        )
    "#]],
    );
    check_infer(
        json!({"__op":"Increment","amount":1}),
        expect![[r#"
        Ok(
            Some(
                "Number",
            ),
        )
    "#]],
    );
    check_infer(
        json!({"__op":"Frobnicate"}),
        expect![[r#"
        Err(
            ParseError {
                code: CommandUnavailable,
                message: "The Frobnicate operator is not supported yet.",
            },
        )
    "#]],
    );
    check_infer(
        json!({"__type":"Weird"}),
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "This is not a valid Weird",
            },
        )
    "#]],
    );
}

#[test]
fn user_schema_hides_auth_data() {
    let schema = ClassSchema::new(ClassName::parse("_User").unwrap());
    let out = schema.to_json();
    assert!(out["fields"].get("authData").is_none());
    assert_eq!(out["fields"]["username"], json!({"type":"String"}));
}
