use super::*;

#[track_caller]
fn check_class(name: &str, ok: bool) {
    assert_eq!(ClassName::parse(name).is_ok(), ok, "{name}");
}

#[track_caller]
fn check_field(name: &str, ok: bool) {
    assert_eq!(FieldName::parse(name).is_ok(), ok, "{name}");
}

#[test]
fn class_names() {
    check_class("GameScore", true);
    check_class("a_1", true);
    check_class("_User", true);
    check_class("_Unknown", false);
    check_class("1abc", false);
    check_class("", false);
    check_class("Game Score", false);
    check_class("x\"; DROP TABLE y; --", false);
    check_class("Émile", false);
}

#[test]
fn field_names() {
    check_field("score", true);
    check_field("objectId", true);
    check_field("className", false);
    check_field("_rperm", false);
    check_field("a.b", false);
    check_field("a-b", false);
    check_field("x\"", false);
}

#[test]
fn master_only_classes() {
    assert!(ClassName::parse("_JobStatus").unwrap().is_master_only());
    assert!(!ClassName::parse("_User").unwrap().is_master_only());
    assert!(!ClassName::parse("Post").unwrap().is_master_only());
}

#[test]
fn names_at_the_length_limit_and_one_past() {
    let at_limit = format!("A{}", "b".repeat(crate::Limits::NAME_BYTES_MAX - 1));
    let past_limit = format!("{at_limit}c");
    check_class(&at_limit, true);
    check_class(&past_limit, false);
    check_field(&at_limit, true);
    check_field(&past_limit, false);
    assert_eq!(ClassName::parse(&past_limit).map_err(|error| error.code), Err(ErrorCode::InvalidClassName));
    assert_eq!(FieldName::parse(&past_limit).map_err(|error| error.code), Err(ErrorCode::InvalidKeyName));
    // A name a store already holds from before the limit still reads back.
    assert!(ClassName::parse_stored(&past_limit).is_ok());
    assert!(FieldName::parse_stored(&past_limit).is_ok());
}
