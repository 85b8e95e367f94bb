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

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    use serde_json::Map;

    use crate::hooks::{FunctionCall, HookFuture, Hooks, JobCall, TriggerCall, TriggerKind};
    use crate::{EngineParts, ManualClock};

    fn rule(options: Value) -> RateLimitRule {
        RateLimitRule::from_json("/functions/f", false, &[], &options).expect("a valid rule")
    }

    #[test]
    fn request_methods_are_read_upper_case_from_a_string_or_a_list_and_default_to_the_routes() {
        let window = json!({"requestTimeWindow": 1000, "requestCount": 1});
        let mut options = window.clone();
        options["requestMethods"] = json!("post");
        assert_eq!(rule(options.clone()).methods, vec!["POST".to_owned()]);
        options["requestMethods"] = json!(["get", "Put", 3]);
        assert_eq!(rule(options).methods, vec!["GET".to_owned(), "PUT".to_owned()]);
        let defaulted = RateLimitRule::from_json("/classes/A", true, &["POST", "PUT"], &window).expect("rule");
        assert_eq!(defaulted.methods, vec!["POST".to_owned(), "PUT".to_owned()]);
    }

    #[test]
    fn a_rule_counts_per_ip_unless_its_zone_says_global_session_or_user() {
        let zone = |name: Value| rule(json!({"requestTimeWindow": 1, "requestCount": 1, "zone": name})).zone;
        assert_eq!(zone(json!("global")), RateLimitZone::Global);
        assert_eq!(zone(json!("session")), RateLimitZone::Session);
        assert_eq!(zone(json!("user")), RateLimitZone::User);
        assert_eq!(zone(json!("ip")), RateLimitZone::Ip);
        assert_eq!(zone(json!("planet")), RateLimitZone::Ip);
        assert_eq!(zone(Value::Null), RateLimitZone::Ip);
    }

    #[test]
    fn a_rule_needs_a_positive_integer_count_and_window() {
        for invalid in [
            json!({"requestTimeWindow": 1000}),
            json!({"requestTimeWindow": 1000, "requestCount": 0}),
            json!({"requestTimeWindow": 0, "requestCount": 1}),
            json!({"requestTimeWindow": -5, "requestCount": 1}),
            json!({"requestTimeWindow": 1000, "requestCount": 1.5}),
            json!({"requestTimeWindow": "1000", "requestCount": 1}),
        ] {
            assert!(RateLimitRule::from_json("/login", false, &[], &invalid).is_none(), "{invalid}");
        }
    }

    #[test]
    fn a_rule_leaves_out_master_key_and_internal_requests_and_has_parse_servers_message_by_default() {
        let plain = rule(json!({"requestTimeWindow": 1, "requestCount": 1}));
        assert!(!plain.include_master_key && !plain.include_internal_requests);
        assert_eq!(plain.message, "Too many requests.");
        let flagged = rule(json!({"requestTimeWindow": 1, "requestCount": 1, "includeMasterKey": true,
            "includeInternalRequests": true}));
        assert!(flagged.include_master_key && flagged.include_internal_requests);
    }

    #[test]
    fn a_rule_without_methods_covers_every_method_of_its_path_only() {
        let any = rule(json!({"requestTimeWindow": 1, "requestCount": 1}));
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert!(any.covers(method, "/functions/f"), "{method}");
        }
        assert!(!any.covers("POST", "/functions/f/"));
        assert!(!any.covers("POST", "/functions"));
        let class =
            RateLimitRule::from_json("/classes/A", true, &[], &json!({"requestTimeWindow": 1, "requestCount": 1}))
                .expect("rule");
        assert!(class.covers("DELETE", "/classes/A/xyz"));
        assert!(!class.covers("DELETE", "/classes/AB/xyz"));
    }

    /// Cloud code that declares these rate limits and nothing else.
    struct Declared(Vec<RateLimitRule>);

    impl Hooks for Declared {
        fn has_trigger(&self, _: TriggerKind, _: &str) -> bool {
            false
        }

        fn run_trigger(&self, _: &Engine, _: TriggerCall) -> HookFuture<'_, Option<Map<String, Value>>> {
            Box::pin(async { Ok(None) })
        }

        fn run_function(&self, _: &Engine, _: FunctionCall) -> HookFuture<'_, Option<Value>> {
            Box::pin(async { Ok(None) })
        }

        fn has_job(&self, _: &str) -> bool {
            false
        }

        fn run_job(&self, _: &Engine, _: JobCall) -> HookFuture<'_, Option<Value>> {
            Box::pin(async { Ok(None) })
        }

        fn rate_limits(&self) -> &[RateLimitRule] {
            &self.0
        }
    }

    struct World {
        engine: Engine,
        clock: Arc<ManualClock>,
        _dir: tempfile::TempDir,
    }

    async fn world(rules: Vec<RateLimitRule>) -> World {
        world_with(rules, basalt_core::Limits::default()).await
    }

    async fn world_with(rules: Vec<RateLimitRule>, limits: basalt_core::Limits) -> World {
        let parts = EngineParts { hooks: Some(Arc::new(Declared(rules))), ..EngineParts::default() };
        let test = crate::test_support::test_engine_with(|config| config.limits = limits, parts).await;
        World { engine: test.engine, clock: test.clock, _dir: test.dir }
    }

    const ALICE_IP: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)));
    const BOB_IP: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)));

    fn two_per_second(extra: Value) -> RateLimitRule {
        let mut options = json!({"requestTimeWindow": 1000, "requestCount": 2, "errorResponseMessage": "slow down"});
        for (key, value) in extra.as_object().expect("object") {
            options[key] = value.clone();
        }
        rule(options)
    }

    impl World {
        async fn call(&self, caller: &Caller, ip: Option<IpAddr>) -> ParseResult<()> {
            self.engine.check_rate_limit("POST", "/functions/f", caller, ip).await
        }

        /// How many of `n` calls pass.
        async fn passed(&self, n: usize, caller: &Caller, ip: Option<IpAddr>) -> usize {
            let mut passed = 0;
            for _ in 0..n {
                passed += usize::from(self.call(caller, ip).await.is_ok());
            }
            passed
        }
    }

    fn user(id: &str, token: &str) -> Caller {
        Caller { user_id: Some(id.into()), session_token: Some(token.into()), ..Caller::default() }
    }

    /// Counters are kept up to `Limits::rate_limit_counters_max`; one more sweeps out those whose
    /// window has ended, so a flood of addresses does not grow memory — and live windows stay.
    #[tokio::test]
    async fn counters_past_the_cap_whose_window_ended_are_swept_and_live_ones_kept() {
        let limits = basalt_core::Limits { rate_limit_counters_max: 3, ..basalt_core::Limits::default() };
        let world = world_with(vec![two_per_second(json!({}))], limits).await;
        fn held(world: &World) -> Option<usize> {
            world.engine.inner.rate_counters.counters.lock().ok().map(|counters| counters.len())
        }
        let ip = |n: u8| Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)));
        for n in 1..=4 {
            world.call(&Caller::anonymous(), ip(n)).await.expect("first request of an address");
        }
        assert_eq!(held(&world), Some(4), "at the cap nothing is swept (the sweep runs past it)");
        world.clock.advance_millis(1_500);
        world.call(&Caller::anonymous(), ip(5)).await.expect("a new address");
        assert_eq!(held(&world), Some(1), "past the cap, ended windows are swept");
        // A live window survives a sweep: this address is still limited.
        world.call(&Caller::anonymous(), ip(5)).await.expect("second request");
        for n in 6..=9 {
            world.call(&Caller::anonymous(), ip(n)).await.expect("another address");
        }
        assert_eq!(
            world.call(&Caller::anonymous(), ip(5)).await.map_err(|error| error.code),
            Err(ErrorCode::ConnectionFailed)
        );
    }

    #[tokio::test]
    async fn requests_past_the_count_in_a_window_are_refused_with_100_and_the_rules_message() {
        let world = world(vec![two_per_second(json!({}))]).await;
        assert_eq!(world.passed(2, &Caller::anonymous(), ALICE_IP).await, 2);
        let error = world.call(&Caller::anonymous(), ALICE_IP).await.unwrap_err();
        assert_eq!((error.code, error.message.as_str()), (ErrorCode::ConnectionFailed, "slow down"));
        world.clock.advance_millis(999);
        assert!(world.call(&Caller::anonymous(), ALICE_IP).await.is_err(), "the window has not ended");
        world.clock.advance_millis(1);
        assert_eq!(world.passed(3, &Caller::anonymous(), ALICE_IP).await, 2, "a new window counts afresh");
    }

    #[tokio::test]
    async fn requests_a_rule_does_not_cover_are_not_counted() {
        let world = world(vec![two_per_second(json!({"requestMethods": "POST"}))]).await;
        let anonymous = Caller::anonymous();
        for _ in 0..5 {
            assert!(world.engine.check_rate_limit("POST", "/functions/g", &anonymous, ALICE_IP).await.is_ok());
            assert!(world.engine.check_rate_limit("GET", "/functions/f", &anonymous, ALICE_IP).await.is_ok());
        }
        assert_eq!(world.passed(3, &Caller::anonymous(), ALICE_IP).await, 2);
    }

    #[tokio::test]
    async fn each_ip_has_its_own_count_by_default() {
        let world = world(vec![two_per_second(json!({}))]).await;
        assert_eq!(world.passed(3, &user("u1", "t1"), ALICE_IP).await, 2);
        assert_eq!(world.passed(3, &user("u1", "t1"), BOB_IP).await, 2);
    }

    #[tokio::test]
    async fn the_user_zone_counts_a_users_requests_from_every_ip_together() {
        let world = world(vec![two_per_second(json!({"zone": "user"}))]).await;
        assert_eq!(world.passed(1, &user("u1", "t1"), ALICE_IP).await, 1);
        assert_eq!(world.passed(1, &user("u1", "t2"), BOB_IP).await, 1);
        assert!(world.call(&user("u1", "t3"), BOB_IP).await.is_err());
        assert_eq!(world.passed(2, &user("u2", "t4"), BOB_IP).await, 2, "another user counts apart");
        assert_eq!(world.passed(3, &Caller::anonymous(), ALICE_IP).await, 2, "no user: counted by ip");
    }

    #[tokio::test]
    async fn the_session_zone_counts_per_session_token() {
        let world = world(vec![two_per_second(json!({"zone": "session"}))]).await;
        assert_eq!(world.passed(3, &user("u1", "t1"), ALICE_IP).await, 2);
        assert_eq!(world.passed(3, &user("u1", "t2"), ALICE_IP).await, 2, "another session of the same user");
    }

    #[tokio::test]
    async fn the_global_zone_counts_everyones_requests_together() {
        let world = world(vec![two_per_second(json!({"zone": "global"}))]).await;
        assert!(world.call(&Caller::anonymous(), ALICE_IP).await.is_ok());
        assert!(world.call(&user("u1", "t1"), BOB_IP).await.is_ok());
        assert!(world.call(&user("u2", "t2"), Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)))).await.is_err());
    }

    #[tokio::test]
    async fn internal_requests_are_not_counted_unless_the_rule_includes_them() {
        let uncounted = world(vec![two_per_second(json!({}))]).await;
        let mapped_loopback = Some(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()));
        for ip in [None, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)), mapped_loopback]
        {
            assert_eq!(uncounted.passed(5, &Caller::anonymous(), ip).await, 5, "{ip:?}");
        }
        let counted = world(vec![two_per_second(json!({"includeInternalRequests": true}))]).await;
        assert_eq!(counted.passed(3, &Caller::anonymous(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST))).await, 2);
    }

    #[tokio::test]
    async fn master_key_requests_are_not_counted_unless_the_rule_includes_them() {
        let uncounted = world(vec![two_per_second(json!({}))]).await;
        assert_eq!(uncounted.passed(5, &Caller::master(), ALICE_IP).await, 5);
        let counted = world(vec![two_per_second(json!({"includeMasterKey": true}))]).await;
        assert_eq!(counted.passed(3, &Caller::master(), ALICE_IP).await, 2);
    }

    #[tokio::test]
    async fn without_cloud_code_nothing_is_limited() {
        let world = world(Vec::new()).await;
        assert_eq!(world.passed(10, &Caller::anonymous(), ALICE_IP).await, 10);
    }
}
