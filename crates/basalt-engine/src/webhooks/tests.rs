use serde_json::{Map, Value, json};

use super::{HookTarget, changed_body, declared, saved_state, webhook_error};
use basalt_core::ErrorCode;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn a_declaration_needs_a_url_and_a_function_or_a_known_trigger_of_a_valid_class() {
    let function = declared(&object(json!({"functionName": "f", "url": "http://x/f"})), "className").unwrap();
    assert_eq!(function, (HookTarget::Function("f".into()), "http://x/f".into()));
    let trigger =
        declared(&object(json!({"className": "Game", "triggerName": "beforeSave", "url": "http://x"})), "className");
    assert!(trigger.is_ok());
    for invalid in [
        json!({"functionName": "f"}),
        json!({"url": "http://x"}),
        json!({"functionName": "f", "url": 3}),
        json!({"className": "Game", "triggerName": "beforeDance", "url": "http://x"}),
        json!({"className": "Ga me", "triggerName": "beforeSave", "url": "http://x"}),
        json!({"className": "Game", "url": "http://x"}),
    ] {
        let error = declared(&object(invalid.clone()), "className").unwrap_err();
        assert_eq!(
            (error.code, error.message.as_str()),
            (ErrorCode::WebhookError, "invalid hook declaration"),
            "{invalid}"
        );
    }
}

#[test]
fn the_state_shown_is_the_original_with_the_written_body_over_it() {
    let original = object(json!({"score": 3, "name": "x"}));
    let body = object(json!({"score": {"__op": "Increment", "amount": 2}, "title": "new"}));
    assert_eq!(
        Value::Object(saved_state(Some(&original), &body)),
        json!({"score": {"__op": "Increment", "amount": 2}, "name": "x", "title": "new"})
    );
}

#[test]
fn only_what_the_webhook_changed_replaces_the_written_body() {
    let body = object(json!({"score": {"__op": "Increment", "amount": 1}, "title": "t"}));
    let shown = object(json!({"score": 4, "title": "t", "name": "n", "objectId": "abc"}));
    // Unchanged score keeps its atomic increment; the title changed; updatedAt is ignored.
    let answered = object(json!({"score": 4, "title": "T", "name": "n", "objectId": "abc", "updatedAt": "x"}));
    assert_eq!(
        Value::Object(changed_body(&body, &shown, answered)),
        json!({"score": {"__op": "Increment", "amount": 1}, "title": "T"})
    );
    // A field the webhook left out of its answer is not written.
    let answered = object(json!({"title": "t", "extra": 1}));
    assert_eq!(Value::Object(changed_body(&body, &shown, answered)), json!({"title": "t", "extra": 1}));
}

#[test]
fn an_endpoint_error_is_a_141_with_its_message() {
    let plain = webhook_error(&json!("no way"));
    assert_eq!((plain.code, plain.message.as_str()), (ErrorCode::ScriptFailed, "no way"));
    let coded = webhook_error(&json!({"code": 4242, "message": "custom"}));
    assert_eq!((coded.code, coded.message.as_str()), (ErrorCode::ScriptFailed, "custom"));
    let worded = webhook_error(&json!({"error": "bad"}));
    assert_eq!((worded.code, worded.message.as_str()), (ErrorCode::ScriptFailed, "bad"));
}
