//! The push worker: every node runs one. It claims a due push task (one node holds it at a
//! time, under a lease), reads the installations the push targets in `objectId` order, a batch at
//! a time, and for each batch updates badges, localizes, sends through the `PushSender`, removes
//! the tokens providers reported gone, and saves its progress (the counts in `_PushStatus`, the
//! cursor in the task). A restart or another node, once the lease runs out, goes on after the
//! last saved batch: only the batch in flight when a node died can be sent twice.
//!
//! A local-time push makes passes: each pass sends to the installations whose zone has reached
//! the push time (and was not served by an earlier pass), then the task sleeps until the next
//! zone's time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};

use basalt_core::query::Condition;
use basalt_core::update::UpdateOp;
use basalt_core::{ClassName, ParseError, ParseResult, time};
use basalt_push::{Delivery, Device, Notification, Outcome};
use basalt_store::{FieldUpdate, Task, WriteOp, WriteOutcome};
use serde_json::{Map, Value, json};

use super::{Badge, PushRequest, PushTime, badge_of};
use crate::conditions::field_equals;
use crate::engine::Inner;
use crate::{Caller, Engine};

/// Pushes one node sends at once: a long push (a million devices, a provider retrying) does not
/// hold back one that falls due meanwhile.
pub(crate) const PUSHES_AT_ONCE: usize = 4;
/// Installations read and sent per step (and progress saved after each).
const BATCH_DEVICES: usize = 1000;
/// How long a claim holds a task without saving progress; a node that died loses it after this.
const LEASE_MS: i64 = 60_000;
/// How often an idle worker looks for tasks it was not told of (queued by another node, or
/// left by a node that died).
const LOOK_EVERY_MS: i64 = 2_000;
/// A task that failed (the database was unreachable, say) runs again after this.
const RETRY_MS: i64 = 10_000;
/// The zone furthest ahead of UTC (UTC+14): where a local-time push is due first.
const EARLIEST_OFFSET_SECONDS: i64 = 14 * 3600;
/// A zone an installation names that the time zone database does not know: treated as UTC.
const FALLBACK_ZONE: &str = "UTC";

/// Runs pushes as they fall due until the engine is dropped.
pub(crate) async fn push_worker(engine: Weak<Inner>) {
    loop {
        let Some(inner) = engine.upgrade() else { return };
        let engine = Engine { inner };
        let Some(wake) = engine.push_part().map(|push| push.wake.clone()) else { return };
        let next = match engine.run_due_pushes().await {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "the push worker could not read its tasks");
                None
            }
        };
        let now = engine.now();
        let pause = next.map_or(LOOK_EVERY_MS, |due| (due - now).clamp(0, LOOK_EVERY_MS));
        drop(engine);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(pause).unwrap_or(0))) => {}
        }
    }
}

/// The instant a local time is reached first anywhere (at UTC+14).
pub(crate) fn earliest_instant(local: jiff::civil::DateTime) -> i64 {
    zone_instant(local, "UTC").map_or(0, |utc| utc - EARLIEST_OFFSET_SECONDS * 1000)
}

/// The instant `local` is reached in `zone` (Unix milliseconds).
fn zone_instant(local: jiff::civil::DateTime, zone: &str) -> Option<i64> {
    let zone = jiff::tz::TimeZone::get(zone).ok()?;
    let zoned = local.to_zoned(zone).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// The zone a local-time push uses for an installation.
fn zone_of(installation: &Map<String, Value>) -> String {
    match installation.get("timeZone").and_then(Value::as_str) {
        Some(zone) if jiff::tz::TimeZone::get(zone).is_ok() => zone.to_owned(),
        _ => FALLBACK_ZONE.to_owned(),
    }
}

/// The offset from UTC of `zone` at `instant`, in hours, as `_PushStatus.sentPerUTCOffset`
/// keys it.
fn utc_offset_key(zone: &str, instant: i64) -> String {
    let offset = jiff::tz::TimeZone::get(zone)
        .ok()
        .and_then(|zone| jiff::Timestamp::from_millisecond(instant).ok().map(|at| zone.to_offset(at).seconds()))
        .unwrap_or(0);
    let hours = f64::from(offset) / 3600.0;
    if hours.fract() == 0.0 { format!("{}", hours as i64) } else { format!("{hours}") }
}

/// The task state of a new push: the request, and no progress.
pub(crate) fn initial_state(request: &PushRequest) -> Value {
    let (push_at, local) = match &request.time {
        PushTime::Now => (Value::Null, Value::Null),
        PushTime::At(millis) => (json!(millis), Value::Null),
        PushTime::Local(local) => (Value::Null, Value::String(local.to_string())),
    };
    json!({
        "where": request.where_json,
        "data": request.data,
        "pushAt": push_at,
        "local": local,
        "expirationTime": request.expiration_time,
        "expirationInterval": request.expiration_interval,
        "started": false,
        "cursor": null,
        "passAt": null,
        "zonesDone": [],
        "numSent": 0,
        "numFailed": 0,
        "sentPerType": {},
        "failedPerType": {},
        "sentPerUTCOffset": {},
        "failedPerUTCOffset": {},
    })
}

/// A push task's state, as the worker reads and writes it.
struct State {
    value: Map<String, Value>,
}

impl State {
    fn text(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }

    fn number(&self, key: &str) -> Option<i64> {
        self.value.get(key).and_then(Value::as_i64)
    }

    fn local(&self) -> Option<jiff::civil::DateTime> {
        self.text("local").and_then(|local| local.parse().ok())
    }

    fn zones_done(&self) -> BTreeSet<String> {
        let done = self.value.get("zonesDone").and_then(Value::as_array);
        done.into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }

    fn count(&mut self, key: &str, by: &str) {
        let counts = self.value.entry(key).or_insert_with(|| json!({}));
        if let Value::Object(counts) = counts {
            let count = counts.get(by).and_then(Value::as_i64).unwrap_or(0);
            counts.insert(by.to_owned(), json!(count + 1));
        }
    }

    fn add(&mut self, key: &str, amount: i64) {
        let count = self.number(key).unwrap_or(0);
        self.value.insert(key.to_owned(), json!(count + amount));
    }

    /// The `_PushStatus` fields that report progress. Parse compat: a count of failures or a
    /// tally that is still zero or empty is left out.
    fn progress(&self) -> Map<String, Value> {
        let mut progress = Map::new();
        progress.insert("numSent".into(), json!(self.number("numSent").unwrap_or(0)));
        if let Some(failed) = self.number("numFailed").filter(|failed| *failed > 0) {
            progress.insert("numFailed".into(), json!(failed));
        }
        let mut tallies = vec!["sentPerType", "failedPerType"];
        if self.local().is_some() {
            tallies.extend(["sentPerUTCOffset", "failedPerUTCOffset"]);
        }
        for key in tallies {
            if let Some(Value::Object(tally)) =
                self.value.get(key).filter(|tally| tally.as_object().is_some_and(|tally| !tally.is_empty()))
            {
                progress.insert(key.to_owned(), Value::Object(tally.clone()));
            }
        }
        progress
    }
}

/// A number as JSON: an integer when it is whole.
fn number_json(number: f64) -> Value {
    if number.fract() == 0.0 && number.abs() < 9e15 { json!(number as i64) } else { json!(number) }
}

/// `data` as one installation receives it: the alert and title of its language
/// (`alert-fr`, `title-fr-CA`…), without the other languages' keys, and its badge.
fn localized(data: &Map<String, Value>, locale: Option<&str>, badge: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in data {
        if !(key.starts_with("alert-") || key.starts_with("title-")) {
            out.insert(key.clone(), value.clone());
        }
    }
    if let Some(locale) = locale.filter(|locale| !locale.is_empty()) {
        let language = locale.split(['-', '_']).next().unwrap_or(locale);
        for field in ["alert", "title"] {
            let full = data.get(&format!("{field}-{locale}"));
            if let Some(value) = full.or_else(|| data.get(&format!("{field}-{language}"))) {
                out.insert(field.to_owned(), value.clone());
            }
        }
    }
    if let Some(badge) = badge {
        out.insert("badge".into(), badge.clone());
    }
    out
}

impl Engine {
    /// Claims the push tasks due now, as many as this node may send at once, and starts each;
    /// returns when the next one falls due. A finished push wakes the worker to look again.
    pub(crate) async fn run_due_pushes(&self) -> ParseResult<Option<i64>> {
        let Some(push) = self.push_part() else { return Ok(None) };
        let owner = push.owner.clone();
        while let Ok(permit) = Arc::clone(&push.running).try_acquire_owned() {
            let now = self.now();
            let claimed = self.store().claim_task(now, &owner, now + LEASE_MS).await.map_err(ParseError::from)?;
            let Some(task) = claimed else { break };
            let engine = self.clone();
            let owner = owner.clone();
            let wake = Arc::clone(&push.wake);
            tokio::spawn(async move {
                if let Err(error) = engine.run_push_task(task.clone(), &owner).await {
                    tracing::error!(%error, push = %task.id, "a push step failed; it runs again later");
                    let retry = Task { due_at: engine.now() + RETRY_MS, ..task };
                    let _ = engine.store().save_task(&retry, &owner, 0).await;
                }
                drop(permit);
                wake.notify_one();
            });
        }
        self.store().next_task_due().await.map_err(ParseError::from)
    }

    /// Waits until none of the pushes this node started is still being sent (for tests, which
    /// look at what a push did).
    #[cfg(test)]
    pub(crate) async fn pushes_settled(&self) {
        if let Some(push) = self.push_part() {
            let all = u32::try_from(PUSHES_AT_ONCE).unwrap_or(u32::MAX);
            let _all = push.running.acquire_many(all).await;
        }
    }

    async fn set_push_status(&self, id: &str, fields: Map<String, Value>) -> ParseResult<()> {
        self.update_object(&Caller::master(), &ClassName::system("_PushStatus"), id, &fields).await.map(|_| ())
    }

    /// Runs one claimed push task until it is done, due later, or its claim is lost.
    async fn run_push_task(&self, task: Task, owner: &str) -> ParseResult<()> {
        let Value::Object(value) = task.state.clone() else {
            tracing::error!(push = %task.id, "a push task without state is dropped");
            self.store().finish_task(&task.id, owner).await.map_err(ParseError::from)?;
            return Ok(());
        };
        let mut state = State { value };
        let status_class = ClassName::system("_PushStatus");
        let status = self.records_where(&status_class, field_equals("objectId", json!(task.id)), Some(1)).await?.pop();
        if status.is_none() {
            // The push status was deleted: the push is called off.
            self.store().finish_task(&task.id, owner).await.map_err(ParseError::from)?;
            return Ok(());
        }
        let now = self.now();
        let local = state.local();
        let push_at = state.number("pushAt").unwrap_or(now);
        if local.is_none()
            && let Some(expired) = self.expiry_for(&state, push_at).filter(|expires| *expires <= now)
        {
            let message = format!("The push expired at {} before it was sent.", time::format_iso(expired));
            let failed = json!({"status": "failed", "errorMessage": {"message": message}});
            self.set_push_status(&task.id, failed.as_object().cloned().unwrap_or_default()).await?;
            self.store().finish_task(&task.id, owner).await.map_err(ParseError::from)?;
            return Ok(());
        }
        let where_json = state.value.get("where").cloned().unwrap_or_else(|| json!({}));
        if state.value.get("started") != Some(&Value::Bool(true)) {
            let count = self.count_targets(&where_json).await?;
            let running = json!({"status": "running", "count": count});
            self.set_push_status(&task.id, running.as_object().cloned().unwrap_or_default()).await?;
            state.value.insert("started".into(), Value::Bool(true));
        }
        // A pass serves the zones whose time had come when it began.
        let pass_at = state.number("passAt").unwrap_or(now);
        state.value.insert("passAt".into(), json!(pass_at));
        let done = state.zones_done();
        let mut waiting: BTreeMap<String, i64> = BTreeMap::new();
        let mut served: BTreeSet<String> = BTreeSet::new();
        let mut batch = self.target_batch(&where_json, state.text("cursor")).await?;
        while let Some(last) = batch.last().and_then(|row| row.get("objectId")).and_then(Value::as_str) {
            let last = last.to_owned();
            let mut due = Vec::new();
            for installation in batch {
                let Some(local) = local else {
                    due.push((installation, push_at, None));
                    continue;
                };
                let zone = zone_of(&installation);
                if done.contains(&zone) {
                    continue;
                }
                let at = zone_instant(local, &zone).unwrap_or(pass_at);
                if at <= pass_at {
                    served.insert(zone.clone());
                    due.push((installation, at, Some(zone)));
                } else {
                    waiting.insert(zone, at);
                }
            }
            // The next batch is read while this one is sent.
            let (sent, next) =
                tokio::join!(self.send_batch(&mut state, due), self.target_batch(&where_json, Some(&last)));
            sent?;
            batch = next?;
            state.value.insert("cursor".into(), Value::String(last));
            self.set_push_status(&task.id, state.progress()).await?;
            let progress = Task { state: Value::Object(state.value.clone()), ..task.clone() };
            if !self.store().save_task(&progress, owner, self.now() + LEASE_MS).await.map_err(ParseError::from)? {
                tracing::warn!(push = %task.id, "another node took this push over");
                return Ok(());
            }
        }
        // The pass is over.
        let mut zones_done = done;
        zones_done.extend(served);
        waiting.retain(|zone, _| !zones_done.contains(zone));
        if let Some(next) = waiting.values().min().copied() {
            state.value.insert("zonesDone".into(), json!(zones_done));
            state.value.insert("cursor".into(), Value::Null);
            state.value.insert("passAt".into(), Value::Null);
            let later = Task { due_at: next, state: Value::Object(state.value.clone()), ..task };
            self.store().save_task(&later, owner, 0).await.map_err(ParseError::from)?;
            return Ok(());
        }
        let mut finished = state.progress();
        finished.insert("status".into(), json!("succeeded"));
        // Parse compat: `count` (the devices still to send to, as Parse Server keeps it) goes.
        finished.insert("count".into(), json!({"__op": "Delete"}));
        self.set_push_status(&task.id, finished).await?;
        self.store().finish_task(&task.id, owner).await.map_err(ParseError::from)?;
        Ok(())
    }

    /// When a notification sent at `push_at` stops being worth delivering.
    fn expiry_for(&self, state: &State, push_at: i64) -> Option<i64> {
        if let Some(at) = state.number("expirationTime") {
            return Some(at);
        }
        let interval = state.value.get("expirationInterval").and_then(Value::as_f64)?;
        Some(push_at + (interval * 1000.0) as i64)
    }

    /// The `where` of the installations a push goes to: the request's, on devices the providers
    /// serve that have a token.
    fn target_where(&self, where_json: &Value, after: Option<&str>) -> Value {
        let mut parts = vec![
            where_json.clone(),
            json!({"deviceType": {"$in": self.push_device_types()}}),
            json!({"deviceToken": {"$exists": true}}),
        ];
        if let Some(after) = after {
            parts.push(json!({"objectId": {"$gt": after}}));
        }
        json!({"$and": parts})
    }

    /// A find (as the master key) of the installations a push targets, after `after`, with the
    /// other find parameters in `params`; `None` before the class exists.
    async fn find_targets(
        &self,
        where_json: &Value,
        after: Option<&str>,
        mut params: Map<String, Value>,
    ) -> ParseResult<Option<crate::FindResult>> {
        let installations = ClassName::system("_Installation");
        if self.schemas().get(&installations).is_none() {
            return Ok(None);
        }
        params.insert("where".into(), self.target_where(where_json, after));
        let params = self.find_params(&params)?;
        Ok(Some(self.find_objects(&Caller::master(), &installations, &params).await?))
    }

    async fn count_targets(&self, where_json: &Value) -> ParseResult<u64> {
        let params = json!({"count": 1, "limit": 0});
        let found = self.find_targets(where_json, None, params.as_object().cloned().unwrap_or_default()).await?;
        Ok(found.and_then(|found| found.count).unwrap_or(0))
    }

    /// The next installations after `after`, in `objectId` order.
    async fn target_batch(&self, where_json: &Value, after: Option<&str>) -> ParseResult<Vec<Map<String, Value>>> {
        let params = json!({
            "order": "objectId",
            "limit": BATCH_DEVICES.min(self.limits().find_limit_max),
            "keys": "deviceType,deviceToken,badge,localeIdentifier,timeZone,pushType",
        });
        let found = self.find_targets(where_json, after, params.as_object().cloned().unwrap_or_default()).await?;
        Ok(found
            .map(|found| found.results)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|row| if let Value::Object(row) = row { Some(row) } else { None })
            .collect())
    }

    /// Writes `op` to `field` of each installation (as the master key, no triggers), and
    /// answers what the store did.
    async fn update_installations(&self, ids: &[String], field: &str, op: UpdateOp) -> ParseResult<Vec<WriteOutcome>> {
        let now = time::format_iso(self.now());
        let ops: Vec<WriteOp> = ids
            .iter()
            .map(|id| WriteOp::Update {
                class_name: ClassName::system("_Installation"),
                object_id: id.clone(),
                updated_at: now.clone(),
                access: Caller::master().access(),
                acl: None,
                updates: vec![FieldUpdate {
                    path: basalt_core::query::FieldPath { field: field.to_owned(), sub_keys: Vec::new() },
                    op: op.clone(),
                }],
                condition: Condition::all(),
            })
            .collect();
        let outcomes = self.write_ops(self.schemas().snapshot(), ops, false).await.map_err(ParseError::from)?;
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Sets or increments the badge of each installation; returns each one's new badge.
    async fn update_badges(&self, badge: Badge, ids: &[String]) -> ParseResult<BTreeMap<String, Value>> {
        let op = match badge {
            Badge::Set(value) => UpdateOp::Set(number_json(value)),
            Badge::Increment(amount) => UpdateOp::Increment(amount),
        };
        let mut badges = BTreeMap::new();
        for outcome in self.update_installations(ids, "badge", op).await? {
            if let WriteOutcome::Updated { after, .. } = outcome
                && let Some(badge) = after.fields.get("badge")
            {
                badges.insert(after.object_id.clone(), badge.clone());
            }
        }
        Ok(badges)
    }

    /// Sends to installations that are due: `(installation, when it is due, its zone for a
    /// local-time push)`. Counts what happened into `state`.
    async fn send_batch(
        &self,
        state: &mut State,
        due: Vec<(Map<String, Value>, i64, Option<String>)>,
    ) -> ParseResult<()> {
        if due.is_empty() {
            return Ok(());
        }
        let Some(push) = self.push_part() else { return Ok(()) };
        let data = match state.value.get("data") {
            Some(Value::Object(data)) => data.clone(),
            _ => Map::new(),
        };
        let badges = match badge_of(&data)? {
            Some(badge) => {
                let ids: Vec<String> = due
                    .iter()
                    .filter_map(|(row, _, _)| row.get("objectId").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                Some(self.update_badges(badge, &ids).await?)
            }
            None => None,
        };
        let now = self.now();
        // One notification per distinct payload and expiry.
        let mut groups: BTreeMap<(String, Option<i64>), (Notification, Vec<Device>)> = BTreeMap::new();
        let mut zones: BTreeMap<String, (String, i64)> = BTreeMap::new();
        let mut expired = Vec::new();
        for (row, at, zone) in due {
            let text = |field: &str| row.get(field).and_then(Value::as_str).map(str::to_owned);
            let (Some(id), Some(device_type), Some(token)) =
                (text("objectId"), text("deviceType"), text("deviceToken"))
            else {
                continue;
            };
            if let Some(zone) = zone {
                zones.insert(id.clone(), (zone, at));
            }
            let expires_at = self.expiry_for(state, at);
            if expires_at.is_some_and(|expires| expires <= now) {
                expired.push((id, device_type));
                continue;
            }
            let badge = badges.as_ref().and_then(|badges| badges.get(&id));
            let payload = localized(&data, row.get("localeIdentifier").and_then(Value::as_str), badge);
            let key = (Value::Object(payload.clone()).to_string(), expires_at);
            let device = Device { installation: id, device_type, device_token: token, push_type: text("pushType") };
            groups
                .entry(key)
                .or_insert_with(|| {
                    (Notification { data: payload, expires_at: expires_at.map(|at| at / 1000) }, Vec::new())
                })
                .1
                .push(device);
        }
        // The groups go out at once (each provider caps its own requests in flight).
        let sends = groups.values().map(|(notification, devices)| push.sender.send(notification, devices));
        let mut deliveries: Vec<Delivery> = futures_util::future::join_all(sends).await.into_iter().flatten().collect();
        let mut gone = Vec::new();
        for (id, device_type) in expired {
            deliveries.push(Delivery {
                installation: id,
                device_type,
                outcome: Outcome::Failed { reason: "expired".into(), token_gone: false },
            });
        }
        for delivery in &deliveries {
            let offset = zones.get(&delivery.installation).map(|(zone, at)| utc_offset_key(zone, *at));
            match &delivery.outcome {
                Outcome::Sent => {
                    state.add("numSent", 1);
                    state.count("sentPerType", &delivery.device_type);
                    if let Some(offset) = &offset {
                        state.count("sentPerUTCOffset", offset);
                    }
                }
                Outcome::Failed { reason, token_gone } => {
                    tracing::debug!(installation = %delivery.installation, %reason, "a push was not delivered");
                    state.add("numFailed", 1);
                    state.count("failedPerType", &delivery.device_type);
                    if let Some(offset) = &offset {
                        state.count("failedPerUTCOffset", offset);
                    }
                    if *token_gone {
                        gone.push(delivery.installation.clone());
                    }
                }
            }
        }
        self.forget_tokens(&gone).await
    }

    /// Removes the device tokens providers reported gone from their installations.
    async fn forget_tokens(&self, installations: &[String]) -> ParseResult<()> {
        if !installations.is_empty() {
            self.update_installations(installations, "deviceToken", UpdateOp::Delete).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod unit {
    use serde_json::json;

    use super::{localized, utc_offset_key, zone_instant};

    #[test]
    fn alerts_are_chosen_by_locale_and_other_languages_dropped() {
        let data = json!({"alert": "Hi", "alert-fr": "Salut", "title-fr": "Titre", "alert-pt-BR": "Oi", "sound": "x"});
        let data = data.as_object().expect("object");
        let french = localized(data, Some("fr-FR"), None);
        assert_eq!(serde_json::Value::Object(french), json!({"alert": "Salut", "title": "Titre", "sound": "x"}));
        let brazilian = localized(data, Some("pt-BR"), Some(&json!(3)));
        assert_eq!(serde_json::Value::Object(brazilian), json!({"alert": "Oi", "sound": "x", "badge": 3}));
        let english = localized(data, Some("en"), None);
        assert_eq!(serde_json::Value::Object(english), json!({"alert": "Hi", "sound": "x"}));
    }

    #[test]
    fn local_times_become_instants_per_zone() {
        let local: jiff::civil::DateTime = "2026-01-01T10:00:00".parse().expect("local time");
        let utc = zone_instant(local, "UTC").expect("UTC");
        assert_eq!(zone_instant(local, "Europe/Paris"), Some(utc - 3_600_000));
        assert_eq!(zone_instant(local, "America/New_York"), Some(utc + 5 * 3_600_000));
        assert_eq!(super::earliest_instant(local), utc - 14 * 3_600_000);
        assert_eq!(utc_offset_key("America/New_York", utc), "-5");
        assert_eq!(utc_offset_key("Asia/Kolkata", utc), "5.5");
    }
}
