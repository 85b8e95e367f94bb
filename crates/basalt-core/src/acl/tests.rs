use expect_test::{Expect, expect};
use serde_json::json;

use super::*;

#[track_caller]
fn check(value: serde_json::Value, expected: Expect) {
    expected.assert_debug_eq(&Acl::from_json(&value));
}

#[test]
fn parses_entities() {
    check(
        json!({"*":{"read":true},"u1":{"read":true,"write":true},"role:Mods":{"write":true}}),
        expect![[r#"
        Ok(
            Acl {
                read: {
                    "*",
                    "u1",
                },
                write: {
                    "role:Mods",
                    "u1",
                },
            },
        )
    "#]],
    );
}

#[test]
fn rejects_malformed() {
    check(
        json!({"*":{"read":"yes"}}),
        expect![[r#"
        Err(
            ParseError {
                code: InvalidAcl,
                message: "invalid ACL",
            },
        )
    "#]],
    );
    check(
        json!({"*":{"delete":true}}),
        expect![[r#"
        Err(
            ParseError {
                code: InvalidAcl,
                message: "invalid ACL",
            },
        )
    "#]],
    );
    check(
        json!([1]),
        expect![[r#"
        Err(
            ParseError {
                code: InvalidAcl,
                message: "invalid ACL",
            },
        )
    "#]],
    );
}

#[test]
fn round_trips() {
    let value = json!({"*":{"read":true},"u1":{"read":true,"write":true}});
    assert_eq!(Acl::from_json(&value).unwrap().to_json(), value);
}

#[test]
fn access_admits() {
    let acl = Acl::from_json(&json!({"u1":{"read":true}})).unwrap();
    assert!(!Access::public().admits(Some(&acl.read)));
    assert!(Access::Keys(vec!["*".into(), "u1".into()]).admits(Some(&acl.read)));
    assert!(Access::public().admits(None));
    assert!(Access::Master.admits(Some(&acl.write)));
}
