//! `authData` checks: the shape of each provider's data, which providers are enabled, and the
//! configured adapter's verdict.

use std::sync::{Arc, Mutex};

use basalt_core::{ErrorCode, ParseError, ParseResult};
use serde_json::{Map, Value, json};

use super::{AuthAdapter, AuthAdapters, check_auth_data};

/// An adapter that accepts one id and records what it was asked.
#[derive(Debug, Default)]
struct OnlyId {
    accepted: &'static str,
    asked: Mutex<Vec<(Map<String, Value>, i64)>>,
}

impl AuthAdapter for OnlyId {
    fn validate(&self, data: &Map<String, Value>, now_millis: i64) -> ParseResult<()> {
        self.asked.lock().expect("lock").push((data.clone(), now_millis));
        if data.get("id") == Some(&json!(self.accepted)) {
            return Ok(());
        }
        Err(ParseError::object_not_found_with("Invalid token."))
    }
}

fn auth_data(value: Value) -> Map<String, Value> {
    value.as_object().expect("object").clone()
}

fn none() -> AuthAdapters {
    AuthAdapters::default()
}

fn check(value: Value, allow_anonymous: bool, adapters: &AuthAdapters) -> ParseResult<()> {
    check_auth_data(&auth_data(value), allow_anonymous, adapters, 1_700_000_000_000)
}

fn invalid_id(provider: &str) -> ParseError {
    ParseError::new(ErrorCode::InvalidValue, format!("Invalid authData id for provider '{provider}'."))
}

fn unsupported() -> ParseError {
    ParseError::new(ErrorCode::UnsupportedService, "This authentication method is unsupported.")
}

#[test]
fn anonymous_auth_data_with_an_id_passes_when_anonymous_users_are_enabled() {
    assert_eq!(check(json!({"anonymous": {"id": "device-1"}}), true, &none()), Ok(()));
    assert_eq!(check(json!({"anonymous": {"id": "device-1"}}), false, &none()), Err(unsupported()));
}

#[test]
fn a_null_provider_entry_unlinks_and_is_not_checked() {
    assert_eq!(check(json!({"anonymous": null, "unknown": null}), false, &none()), Ok(()));
    assert_eq!(check(json!({}), false, &none()), Ok(()));
}

#[test]
fn a_provider_entry_must_be_an_object() {
    let error = check(json!({"anonymous": "device-1"}), true, &none()).unwrap_err();
    assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidJson, "authData.anonymous must be an object"));
}

#[test]
fn an_id_that_is_missing_blank_or_not_a_string_is_refused_with_162() {
    for data in [json!({}), json!({"id": ""}), json!({"id": "  \t"}), json!({"id": 42}), json!({"id": {"$ne": null}})] {
        assert_eq!(check(json!({"anonymous": data}), true, &none()), Err(invalid_id("anonymous")), "{data}");
    }
}

#[test]
fn the_id_is_checked_before_whether_the_provider_is_supported() {
    assert_eq!(check(json!({"frobnicate": {"id": ""}}), true, &none()), Err(invalid_id("frobnicate")));
    assert_eq!(check(json!({"frobnicate": {"id": "x"}}), true, &none()), Err(unsupported()));
}

#[test]
fn a_configured_adapter_decides_with_the_providers_data_and_the_time() {
    let adapter = Arc::new(OnlyId { accepted: "good", ..OnlyId::default() });
    let mut adapters = AuthAdapters::default();
    adapters.insert("oidc", adapter.clone());
    assert_eq!(check(json!({"oidc": {"id": "good", "token": "t"}}), false, &adapters), Ok(()));
    assert_eq!(
        check(json!({"oidc": {"id": "bad"}}), false, &adapters),
        Err(ParseError::object_not_found_with("Invalid token."))
    );
    let asked = adapter.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0], (auth_data(json!({"id": "good", "token": "t"})), 1_700_000_000_000));
    // Another provider is still unsupported.
    assert_eq!(check(json!({"github": {"id": "good"}}), false, &adapters), Err(unsupported()));
}

#[test]
fn every_provider_of_the_auth_data_is_checked() {
    let mut adapters = AuthAdapters::default();
    adapters.insert("oidc", Arc::new(OnlyId { accepted: "good", ..OnlyId::default() }));
    assert_eq!(check(json!({"anonymous": {"id": "a"}, "oidc": {"id": "good"}}), true, &adapters), Ok(()));
    assert!(check(json!({"anonymous": {"id": "a"}, "oidc": {"id": "bad"}}), true, &adapters).is_err());
    assert_eq!(check(json!({"anonymous": {"id": "a"}, "oidc": {"id": "good"}}), false, &adapters), Err(unsupported()));
}

#[test]
fn adapters_are_found_by_provider_name_and_listed_in_debug_output() {
    let mut adapters = AuthAdapters::default();
    assert!(adapters.get("oidc").is_none());
    adapters.insert("oidc", Arc::new(OnlyId::default()));
    assert!(adapters.get("oidc").is_some());
    assert!(adapters.get("OIDC").is_none(), "provider names are case-sensitive");
    assert_eq!(format!("{adapters:?}"), "[\"oidc\"]");
}
