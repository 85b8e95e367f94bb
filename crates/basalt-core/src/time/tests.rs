use expect_test::{Expect, expect};

use super::*;

#[track_caller]
fn check_iso(text: &str, expected: Expect) {
    expected.assert_debug_eq(&canonical_iso(text));
}

#[track_caller]
fn check_relative(text: &str, expected: Expect) {
    let now = parse_iso("2025-01-10T12:00:00.000Z").unwrap();
    expected.assert_debug_eq(&relative_time(text, now).map(format_iso));
}

#[test]
fn iso_forms() {
    check_iso(
        "2025-01-02T03:04:05.678Z",
        expect![[r#"
        Ok(
            "2025-01-02T03:04:05.678Z",
        )
    "#]],
    );
    check_iso(
        "2025-01-02T03:04:05Z",
        expect![[r#"
        Ok(
            "2025-01-02T03:04:05.000Z",
        )
    "#]],
    );
    check_iso(
        "2025-01-02T05:04:05.1+02:00",
        expect![[r#"
        Ok(
            "2025-01-02T03:04:05.100Z",
        )
    "#]],
    );
    check_iso(
        "2025-01-02",
        expect![[r#"
        Ok(
            "2025-01-02T00:00:00.000Z",
        )
    "#]],
    );
    check_iso(
        "yesterday",
        expect![[r#"
        Err(
            ParseError {
                code: IncorrectType,
                message: "This is not a valid Date: yesterday",
            },
        )
    "#]],
    );
}

#[test]
fn relative_times() {
    check_relative(
        "now",
        expect![[r#"
        Ok(
            "2025-01-10T12:00:00.000Z",
        )
    "#]],
    );
    check_relative(
        "3 days ago",
        expect![[r#"
        Ok(
            "2025-01-07T12:00:00.000Z",
        )
    "#]],
    );
    check_relative(
        "in 1 day 2 hrs",
        expect![[r#"
        Ok(
            "2025-01-11T14:00:00.000Z",
        )
    "#]],
    );
    check_relative(
        "in 1 day ago",
        expect![[r#"
        Err(
            ParseError {
                code: InvalidJson,
                message: "bad $relativeTime (in 1 day ago) value. Time should either be in the future or in the past",
            },
        )
    "#]],
    );
    check_relative(
        "3 fortnights ago",
        expect![[r#"
        Err(
            ParseError {
                code: InvalidJson,
                message: "bad $relativeTime (3 fortnights ago) value. Invalid interval: 'fortnights'",
            },
        )
    "#]],
    );
}
