//! Auth adapters: how `authData.<provider>` proves who a user is. The
//! `anonymous` provider needs no proof; other providers are configured adapters, such as the
//! generic OpenID Connect adapter in `auth_oidc`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use basalt_core::{ErrorCode, ParseError, ParseResult};
use serde_json::{Map, Value};

/// Checks the data a client sends for one provider.
pub trait AuthAdapter: Send + Sync + fmt::Debug {
    /// Succeeds when `data` proves the identity `data.id` (already checked to be a string).
    ///
    /// # Errors
    /// The provider's refusal, usually 101 (Parse Server's adapters answer this way).
    fn validate(&self, data: &Map<String, Value>, now_millis: i64) -> ParseResult<()>;
}

/// The configured adapters, by provider name.
#[derive(Clone, Default)]
pub struct AuthAdapters {
    adapters: HashMap<String, Arc<dyn AuthAdapter>>,
}

impl fmt::Debug for AuthAdapters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.adapters.keys()).finish()
    }
}

impl AuthAdapters {
    pub fn insert(&mut self, provider: impl Into<String>, adapter: Arc<dyn AuthAdapter>) {
        self.adapters.insert(provider.into(), adapter);
    }

    pub fn get(&self, provider: &str) -> Option<&Arc<dyn AuthAdapter>> {
        self.adapters.get(provider)
    }
}

/// Checks every provider in an `authData` object: the shape (an object with a string `id`;
/// an object such as `{"$ne": null}` in its place would match any user), that the provider is
/// enabled, and what its adapter requires. `null` entries (unlinking) pass.
///
/// # Errors
/// 162 for a non-string, empty or whitespace-only id, 252 for an unknown or disabled provider,
/// the adapter's error.
pub(crate) fn check_auth_data(
    auth_data: &Map<String, Value>,
    allow_anonymous: bool,
    adapters: &AuthAdapters,
    now_millis: i64,
) -> ParseResult<()> {
    for (provider, data) in auth_data {
        if data.is_null() {
            continue;
        }
        let Some(data) = data.as_object() else {
            return Err(ParseError::invalid_json(format!("authData.{provider} must be an object")));
        };
        match data.get("id") {
            // A blank id would make every client sending one the same user.
            Some(Value::String(id)) if !id.trim().is_empty() => {}
            _ => {
                return Err(ParseError::new(
                    ErrorCode::InvalidValue,
                    format!("Invalid authData id for provider '{provider}'."),
                ));
            }
        }
        let unsupported =
            || ParseError::new(ErrorCode::UnsupportedService, "This authentication method is unsupported.");
        match provider.as_str() {
            "anonymous" if allow_anonymous => {}
            "anonymous" => return Err(unsupported()),
            other => adapters.get(other).ok_or_else(unsupported)?.validate(data, now_millis)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
