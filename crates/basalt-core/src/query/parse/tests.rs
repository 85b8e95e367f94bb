use expect_test::{Expect, expect};

use super::*;
use crate::limits::Limits;

#[track_caller]
fn check(where_json: &str, expected: Expect) {
    let limits = Limits::default();
    let parser = QueryParser { limits: &limits, now: crate::time::parse_iso("2025-01-10T00:00:00Z").unwrap() };
    let where_json: Value = serde_json::from_str(where_json).unwrap();
    expected.assert_debug_eq(&parser.parse_where(&where_json));
}

#[test]
fn equality_and_comparisons() {
    check(
        r#"{"score":{"$gt":10,"$lte":20.0}}"#,
        expect![[r#"
        Ok(
            And(
                [
                    Field {
                        path: FieldPath {
                            field: "score",
                            sub_keys: [],
                        },
                        constraint: Compare(
                            Gt,
                            Number(10),
                        ),
                    },
                    Field {
                        path: FieldPath {
                            field: "score",
                            sub_keys: [],
                        },
                        constraint: Compare(
                            Lte,
                            Number(20),
                        ),
                    },
                ],
            ),
        )
    "#]],
    );
}

#[test]
fn relative_time_becomes_a_date() {
    check(
        r#"{"at":{"$lt":{"$relativeTime":"1 day ago"}}}"#,
        expect![[r#"
        Ok(
            Field {
                path: FieldPath {
                    field: "at",
                    sub_keys: [],
                },
                constraint: Compare(
                    Lt,
                    Object {
                        "__type": String("Date"),
                        "iso": String("2025-01-09T00:00:00.000Z"),
                    },
                ),
            },
        )
    "#]],
    );
}

#[test]
fn dotted_keys() {
    check(
        r#"{"address.city":"Paris"}"#,
        expect![[r#"
        Ok(
            Field {
                path: FieldPath {
                    field: "address",
                    sub_keys: [
                        "city",
                    ],
                },
                constraint: Equals(
                    String("Paris"),
                ),
            },
        )
    "#]],
    );
}

#[test]
fn errors() {
    check(
        r#"{"a":{"$foo":1}}"#,
        expect![[r#"
        Err(
            ParseError {
                code: InvalidJson,
                message: "bad constraint: $foo",
            },
        )
    "#]],
    );
    check(
        r#"{"a":{"$in":5}}"#,
        expect![[r#"
        Err(
            ParseError {
                code: InvalidJson,
                message: "bad $in value",
            },
        )
    "#]],
    );
    check(
        r#"{"$or":{"a":1}}"#,
        expect![[r#"
        Err(
            ParseError {
                code: InvalidQuery,
                message: "Bad $or format - use an array value.",
            },
        )
    "#]],
    );
    check(
        r#"{"ACL":1}"#,
        expect![[r#"
        Err(
            ParseError {
                code: InvalidQuery,
                message: "Cannot query on ACL.",
            },
        )
    "#]],
    );
    check(
        r#"{"a\"; DROP TABLE x":1}"#,
        expect![[r#"
        Err(
            ParseError {
                code: InvalidKeyName,
                message: "Invalid key name: a\"; DROP TABLE x",
            },
        )
    "#]],
    );
    check(
        r#"{"a":{"$regex":5}}"#,
        expect![[r#"
        Err(
            ParseError {
                code: InvalidQuery,
                message: "$regex value must be a string",
            },
        )
    "#]],
    );
}

#[test]
fn nesting_is_bounded() {
    let mut where_json = String::from(r#"{"a":1}"#);
    for _ in 0..20 {
        where_json = format!(r#"{{"$or":[{where_json}]}}"#);
    }
    check(
        &where_json,
        expect![[r#"
        Err(
            ParseError {
                code: InvalidQuery,
                message: "Query is nested too deeply: more than 8 levels of $or/$and/$nor or sub-queries.",
            },
        )
    "#]],
    );
}

#[test]
fn geo_constraints() {
    check(
        r#"{"location":{"$nearSphere":{"__type":"GeoPoint","latitude":10,"longitude":20},"$maxDistanceInKilometers":6371}}"#,
        expect![[r#"
            Ok(
                Field {
                    path: FieldPath {
                        field: "location",
                        sub_keys: [],
                    },
                    constraint: NearSphere {
                        latitude: 10.0,
                        longitude: 20.0,
                        max_radians: Some(
                            1.0,
                        ),
                    },
                },
            )
        "#]],
    );
}

#[test]
fn order_keys() {
    let keys = parse_order("-score,name,$score").unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].descending);
    assert_eq!(parse_order("a;b").unwrap_err().code, ErrorCode::InvalidKeyName);
}
