//! Reading the `push` option: a section's required and optional strings, its `url`, and keys or
//! certificates given either inline (PEM text) or as the path of a file read at start.

use serde_json::{Map, Value};

use crate::ConfigError;

/// A provider's section as an object. One-element arrays are taken as their element (Parse
/// Server allows an array of certificates per device type, chosen by app identifier, which
/// Basalt does not know).
pub(crate) fn section<'a>(value: &'a Value, name: &str) -> Result<&'a Map<String, Value>, ConfigError> {
    match value {
        Value::Object(section) => Ok(section),
        Value::Array(items) if items.len() == 1 => section(&items[0], name),
        Value::Array(_) => Err(ConfigError(format!("{name}: give one configuration, not an array of them"))),
        _ => Err(ConfigError(format!("{name}: expected an object"))),
    }
}

/// A required, non-empty string (`what` names it in errors: `ios.token.keyId`).
pub(crate) fn required<'a>(section: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, ConfigError> {
    match section.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        None | Some(Value::Null) => Err(ConfigError(format!("{what} is missing"))),
        Some(_) => Err(ConfigError(format!("{what} must be a non-empty string"))),
    }
}

/// An optional string; present but not a string is an error.
pub(crate) fn optional<'a>(
    section: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a str>, ConfigError> {
    match section.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ConfigError(format!("{what} must be a string"))),
    }
}

/// The section's `url` replacing the provider's base URL (without a trailing `/`), else `default`.
pub(crate) fn base_url(section: &Map<String, Value>, name: &str, default: &str) -> Result<String, ConfigError> {
    let Some(url) = optional(section, "url", &format!("{name}.url"))? else {
        return Ok(default.to_owned());
    };
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url.trim_end_matches('/').to_owned()),
        _ => Err(ConfigError(format!("{name}.url is not an http(s) URL: {url}"))),
    }
}

/// PEM text given inline or as a file's path (`what` names the setting in errors).
pub(crate) fn pem(value: &str, what: &str) -> Result<String, ConfigError> {
    if value.contains("-----BEGIN") {
        return Ok(value.to_owned());
    }
    let text = read(value, what)?;
    if !text.contains("-----BEGIN") {
        return Err(ConfigError(format!("{what}: {value} is not a PEM file")));
    }
    Ok(text)
}

/// A file's text (`what` names the setting in errors).
pub(crate) fn read(path: &str, what: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| {
        // A long value is more likely a key pasted without its PEM armour than a path: not
        // repeated, as errors end up in logs.
        if path.len() > MAX_SHOWN_PATH || path.contains(char::is_whitespace) {
            ConfigError(format!("{what} is neither PEM text nor the path of a readable file"))
        } else {
            ConfigError(format!("{what}: cannot read {path}: {error}"))
        }
    })
}

/// The longest path an error repeats.
const MAX_SHOWN_PATH: usize = 120;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn strings_are_checked() {
        let section = object(json!({"a": "x", "b": "", "c": 3}));
        assert_eq!(required(&section, "a", "s.a").unwrap(), "x");
        assert_eq!(
            required(&section, "b", "s.b").unwrap_err().to_string(),
            "push configuration: s.b must be a non-empty string"
        );
        assert_eq!(required(&section, "z", "s.z").unwrap_err().to_string(), "push configuration: s.z is missing");
        assert_eq!(optional(&section, "z", "s.z").unwrap(), None);
        assert!(optional(&section, "c", "s.c").is_err());
    }

    #[test]
    fn urls_replace_the_default() {
        assert_eq!(base_url(&object(json!({})), "expo", "https://exp.host").unwrap(), "https://exp.host");
        let section = object(json!({"url": "http://127.0.0.1:9/"}));
        assert_eq!(base_url(&section, "expo", "https://exp.host").unwrap(), "http://127.0.0.1:9");
        let section = object(json!({"url": "ftp://example.com"}));
        assert!(base_url(&section, "expo", "https://exp.host").is_err());
    }

    #[test]
    fn sections_are_objects_or_one_element_arrays() {
        assert!(section(&json!({"a": 1}), "ios").is_ok());
        assert!(section(&json!([{"a": 1}]), "ios").is_ok());
        assert!(section(&json!([{}, {}]), "ios").is_err());
        assert!(section(&json!("x"), "ios").is_err());
    }

    #[test]
    fn pem_is_inline_or_a_path() {
        assert!(pem("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----", "k").is_ok());
        let error = pem("/nonexistent/AuthKey.p8", "ios.token.key").unwrap_err().to_string();
        assert!(error.starts_with("push configuration: ios.token.key: cannot read /nonexistent/AuthKey.p8"), "{error}");
        let pasted = "MIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg".repeat(4);
        let error = pem(&pasted, "ios.token.key").unwrap_err().to_string();
        assert_eq!(error, "push configuration: ios.token.key is neither PEM text nor the path of a readable file");
    }
}
