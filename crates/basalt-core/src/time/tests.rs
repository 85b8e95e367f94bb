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

#[test]
fn format_iso_writes_every_field_zero_padded() {
    assert_eq!(format_iso(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_iso(1), "1970-01-01T00:00:00.001Z");
    assert_eq!(format_iso(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(format_iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(format_iso(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    assert_eq!(format_iso(-62_135_596_800_000), "0001-01-01T00:00:00.000Z");
    // Years before 0 keep their sign (the general formatter).
    assert_eq!(format_iso(-62_167_219_200_001), "-001-12-31T23:59:59.999Z");
    // Every value reads back as itself.
    for millis in [0, 86_399_999, 1_764_504_000_123, 4_102_444_799_999] {
        assert_eq!(parse_iso(&format_iso(millis)), Ok(millis));
    }
}
