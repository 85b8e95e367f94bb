//! Rate limits that cloud code validators declare (`rateLimit: { requestTimeWindow,
//! requestCount, … }`): each rule covers a route (a function, a class's writes, log-in) and
//! counts requests per key (the client's IP by default) in fixed windows. Over the count, the
//! request is refused with 100 and HTTP 429, as on Parse Server. One node counts in memory; on a
//! cluster the counters are the database's (`Store::count_request`), so N nodes allow the
//! configured rate, not N times it — a round trip only for requests a rule covers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use basalt_core::{ErrorCode, ParseError, ParseResult};
use serde_json::Value;

use crate::{Caller, Engine};

/// Parse Server's default message.
const DEFAULT_MESSAGE: &str = "Too many requests.";
/// Whose requests share a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitZone {
    Ip,
    Global,
    Session,
    User,
}

/// One declared limit.
#[derive(Clone, Debug)]
pub struct RateLimitRule {
    /// The route under the mount path (`/functions/name`, `/classes/Name`, `/login`).
    pub path: String,
    /// Whether `path/<anything>` is covered too (an object's route under its class).
    pub sub_paths: bool,
    /// Upper-case methods covered; empty for all.
    pub methods: Vec<String>,
    pub request_count: u64,
    pub window_ms: u64,
    pub message: String,
    pub include_master_key: bool,
    pub include_internal_requests: bool,
    pub zone: RateLimitZone,
}

impl RateLimitRule {
    /// A rule from a validator's `rateLimit` object; `None` without a positive count and window.
    pub fn from_json(path: &str, sub_paths: bool, default_methods: &[&str], options: &Value) -> Option<RateLimitRule> {
        let count = options.get("requestCount").and_then(Value::as_u64).filter(|count| *count > 0)?;
        let window_ms = options.get("requestTimeWindow").and_then(Value::as_u64).filter(|ms| *ms > 0)?;
        let methods = match options.get("requestMethods") {
            Some(Value::String(method)) => vec![method.to_ascii_uppercase()],
            Some(Value::Array(methods)) => {
                methods.iter().filter_map(Value::as_str).map(str::to_ascii_uppercase).collect()
            }
            _ => default_methods.iter().map(|method| (*method).to_owned()).collect(),
        };
        let zone = match options.get("zone").and_then(Value::as_str) {
            Some("global") => RateLimitZone::Global,
            Some("session") => RateLimitZone::Session,
            Some("user") => RateLimitZone::User,
            _ => RateLimitZone::Ip,
        };
        let flag = |key: &str| options.get(key).and_then(Value::as_bool).unwrap_or(false);
        Some(RateLimitRule {
            path: path.to_owned(),
            sub_paths,
            methods,
            request_count: count,
            window_ms,
            message: options.get("errorResponseMessage").and_then(Value::as_str).unwrap_or(DEFAULT_MESSAGE).to_owned(),
            include_master_key: flag("includeMasterKey"),
            include_internal_requests: flag("includeInternalRequests"),
            zone,
        })
    }

    fn covers(&self, method: &str, path: &str) -> bool {
        let path_matches = path == self.path
            || (self.sub_paths && path.strip_prefix(self.path.as_str()).is_some_and(|rest| rest.starts_with('/')));
        path_matches && (self.methods.is_empty() || self.methods.iter().any(|covered| covered == method))
    }
}

/// The counters: (rule index, key) → (window start, requests in it).
#[derive(Default)]
pub(crate) struct RateCounters {
    counters: Mutex<HashMap<(usize, String), (i64, u64)>>,
}

impl Engine {
    /// Counts a request against the rate limits that cover it.
    ///
    /// # Errors
    /// 100 (HTTP 429) with the rule's message when a limit is exceeded.
    pub async fn check_rate_limit(
        &self,
        method: &str,
        path: &str,
        caller: &Caller,
        ip: Option<IpAddr>,
    ) -> ParseResult<()> {
        let Some(hooks) = self.inner.hooks.as_ref() else { return Ok(()) };
        let rules = hooks.rate_limits();
        if rules.is_empty() {
            return Ok(());
        }
        let shared = self.is_clustered();
        let now = self.now();
        let internal = ip.is_none_or(|ip| ip.to_canonical().is_loopback());
        for (index, rule) in rules.iter().enumerate() {
            if !rule.covers(method, path)
                || (internal && !rule.include_internal_requests)
                || (caller.is_master && !rule.include_master_key)
            {
                continue;
            }
            let ip_key = || ip.map(|ip| ip.to_canonical().to_string()).unwrap_or_default();
            let key = match rule.zone {
                RateLimitZone::Global => String::new(),
                RateLimitZone::Session => caller.session_token.clone().unwrap_or_else(ip_key),
                RateLimitZone::User => caller.user_id.clone().unwrap_or_else(ip_key),
                RateLimitZone::Ip => ip_key(),
            };
            let window = i64::try_from(rule.window_ms).unwrap_or(i64::MAX);
            if shared {
                let shared_key = format!("{index}:{}:{key}", rule.path);
                let counted = self.store().count_request(&shared_key, now, window).await.map_err(ParseError::from)?;
                if let Some(counted) = counted {
                    if counted > rule.request_count {
                        return Err(ParseError::new(ErrorCode::ConnectionFailed, rule.message.clone()));
                    }
                    continue;
                }
            }
            let mut counters =
                self.inner.rate_counters.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if counters.len() > self.limits().rate_limit_counters_max {
                counters.retain(|(index, _), (start, _)| {
                    let window = rules.get(*index).map_or(0, |rule| rule.window_ms);
                    now.saturating_sub(*start) < i64::try_from(window).unwrap_or(i64::MAX)
                });
            }
            let entry = counters.entry((index, key)).or_insert((now, 0));
            if now.saturating_sub(entry.0) >= window {
                *entry = (now, 0);
            }
            entry.1 += 1;
            if entry.1 > rule.request_count {
                return Err(ParseError::new(ErrorCode::ConnectionFailed, rule.message.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_cover_their_routes_and_methods() {
        let options = json!({"requestTimeWindow": 1000, "requestCount": 2});
        let function = RateLimitRule::from_json("/functions/hello", false, &[], &options).unwrap();
        assert!(function.covers("POST", "/functions/hello"));
        assert!(!function.covers("POST", "/functions/hello2"));
        assert!(!function.covers("POST", "/functions/hello/x"));
        let class = RateLimitRule::from_json("/classes/Post", true, &["POST", "PUT"], &options).unwrap();
        assert!(class.covers("POST", "/classes/Post"));
        assert!(class.covers("PUT", "/classes/Post/abc"));
        assert!(!class.covers("GET", "/classes/Post"));
        assert!(!class.covers("POST", "/classes/Posts"));
        let message = RateLimitRule::from_json(
            "/login",
            false,
            &[],
            &json!({"requestTimeWindow": 1, "requestCount": 1, "errorResponseMessage": "slow down", "zone": "user"}),
        )
        .unwrap();
        assert_eq!(message.message, "slow down");
        assert_eq!(message.zone, RateLimitZone::User);
        assert!(RateLimitRule::from_json("/login", false, &[], &json!({"requestCount": 1})).is_none());
    }
}
