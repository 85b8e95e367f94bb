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
