use expect_test::{Expect, expect};
use serde_json::json;

use super::*;

#[track_caller]
fn check(current: Option<serde_json::Value>, op: serde_json::Value, expected: Expect) {
    let result = parse_op(&op).and_then(|op| apply_op(current.as_ref(), &op, false));
    expected.assert_debug_eq(&result);
}

#[test]
fn increment() {
    check(
        Some(json!(2)),
        json!({"__op":"Increment","amount":3}),
        expect![[r#"
        Ok(
            Some(
                Number(5),
            ),
        )
    "#]],
    );
    check(
        None,
        json!({"__op":"Increment","amount":-1.5}),
        expect![[r#"
        Ok(
            Some(
                Number(-1.5),
            ),
        )
    "#]],
    );
    check(
        Some(json!("x")),
        json!({"__op":"Increment","amount":1}),
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "Cannot increment a field that is not a number",
            },
        )
    "#]],
    );
}

#[test]
fn increment_at_the_safe_integer_limit_and_past_it() {
    check(
        Some(json!(9_007_199_254_740_990_i64)),
        json!({"__op":"Increment","amount":1}),
        expect![[r#"
            Ok(
                Some(
                    Number(9007199254740991),
                ),
            )
        "#]],
    );
    check(
        Some(json!(9_007_199_254_740_991_i64)),
        json!({"__op":"Increment","amount":1}),
        expect![[r#"
            Err(
                ParseError {
                    code: IncorrectType,
                    message: "Cannot increment: the result would leave the safe integer range (±9007199254740991).",
                },
            )
        "#]],
    );
    check(
        Some(json!(-5)),
        json!({"__op":"Increment","amount":-9_007_199_254_740_987_i64}),
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "Cannot increment: the result would leave the safe integer range (±9007199254740991).",
            },
        )
    "#]],
    );
    check(
        Some(json!(1e308)),
        json!({"__op":"Increment","amount":1e308}),
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "Cannot increment: the result would leave the safe integer range (±9007199254740991).",
            },
        )
    "#]],
    );
}

#[test]
fn array_ops() {
    check(
        Some(json!(["a"])),
        json!({"__op":"Add","objects":["a","b"]}),
        expect![[r#"
        Ok(
            Some(
                Array [
                    String("a"),
                    String("a"),
                    String("b"),
                ],
            ),
        )
    "#]],
    );
    check(
        Some(json!(["a"])),
        json!({"__op":"AddUnique","objects":["a","b"]}),
        expect![[r#"
        Ok(
            Some(
                Array [
                    String("a"),
                    String("b"),
                ],
            ),
        )
    "#]],
    );
    check(
        Some(json!(["a", "b", "a"])),
        json!({"__op":"Remove","objects":["a"]}),
        expect![[r#"
        Ok(
            Some(
                Array [
                    String("b"),
                ],
            ),
        )
    "#]],
    );
    check(
        None,
        json!({"__op":"Add","objects":"a"}),
        expect![[r#"
        Err(
            ParseError {
                code: InvalidJson,
                message: "objects to add must be an array",
            },
        )
    "#]],
    );
}

#[test]
fn relation_ops() {
    let op = parse_op(&json!({"__op":"Batch","ops":[
        {"__op":"AddRelation","objects":[{"__type":"Pointer","className":"Post","objectId":"a"}]},
        {"__op":"RemoveRelation","objects":[{"__type":"Pointer","className":"Post","objectId":"b"}]}
    ]}));
    expect![[r#"
        Ok(
            Relation {
                target: Some(
                    ClassName(
                        "Post",
                    ),
                ),
                add: [
                    "a",
                ],
                remove: [
                    "b",
                ],
            },
        )
    "#]]
    .assert_debug_eq(&op);
    let mixed = parse_op(&json!({"__op":"AddRelation","objects":[
        {"__type":"Pointer","className":"Post","objectId":"a"},
        {"__type":"Pointer","className":"User","objectId":"b"}
    ]}));
    assert_eq!(mixed.unwrap_err().code, ErrorCode::IncorrectType);
}

#[test]
fn unknown_op() {
    check(
        None,
        json!({"__op":"Multiply","amount":2}),
        expect![[r#"
        Err(
            ParseError {
                code: CommandUnavailable,
                message: "The Multiply operator is not supported yet.",
            },
        )
    "#]],
    );
}
