//! Push notifications: `POST /push` and `Parse.Push.send` check the request, record a
//! `_PushStatus` and a durable task (`Store::add_task`); the worker (`push/worker.rs`) on every
//! node claims due tasks and sends them. A push is sent at its `push_time` — at that wall-clock
//! time in each installation's `timeZone` when the time names no zone.

mod worker;

use std::sync::Arc;

use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult, time};
use basalt_push::PushSender;
use md5::Digest;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::{Caller, Engine};

pub(crate) use worker::push_worker;

/// The push side of a running engine: the sender, and the worker's wake-up.
pub(crate) struct PushPart {
    pub(crate) sender: Arc<dyn PushSender>,
    /// Rung when a push is queued, so the worker need not wait for its next look.
    pub(crate) wake: Arc<Notify>,
    /// This engine's name in task claims (unique per process).
    pub(crate) owner: String,
    /// One permit per push this node may send at once (`worker::PUSHES_AT_ONCE`).
    pub(crate) running: Arc<tokio::sync::Semaphore>,
}

impl PushPart {
    pub(crate) fn new(sender: Arc<dyn PushSender>) -> PushPart {
        PushPart {
            sender,
            wake: Arc::new(Notify::new()),
            owner: format!("push-{}", crate::object_id::new_object_id()),
            running: Arc::new(tokio::sync::Semaphore::new(worker::PUSHES_AT_ONCE)),
        }
    }
}

/// When a push goes out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PushTime {
    /// Now.
    Now,
    /// At this instant (Unix milliseconds).
    At(i64),
    /// At this wall-clock time in each installation's time zone (`YYYY-MM-DDTHH:MM:SS`).
    Local(jiff::civil::DateTime),
}

/// A checked push request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PushRequest {
    /// The `where` on `_Installation` (from `channels` or `where`).
    pub(crate) where_json: Value,
    pub(crate) data: Map<String, Value>,
    pub(crate) time: PushTime,
    /// `expiration_time` (Unix milliseconds), when given.
    pub(crate) expiration_time: Option<i64>,
    /// `expiration_interval` (seconds after the push time), when given.
    pub(crate) expiration_interval: Option<f64>,
}

fn misconfigured(message: impl Into<String>) -> ParseError {
    ParseError::new(ErrorCode::PushMisconfigured, message)
}

/// Does an ISO 8601 date-time name its zone (`Z` or an offset after the time)?
fn names_zone(text: &str) -> bool {
    let time = text.split_once(['T', 't', ' ']).map_or("", |(_, time)| time);
    time.contains(['Z', 'z', '+', '-'])
}

/// A date given as Unix seconds or an ISO 8601 string; a string without a zone is local time.
fn push_date(name: &str, value: &Value, local_allowed: bool) -> ParseResult<PushTime> {
    let invalid = || misconfigured(format!("{name} is not a valid date: {value}"));
    match value {
        Value::Number(seconds) => {
            let seconds = seconds.as_f64().filter(|seconds| seconds.is_finite()).ok_or_else(invalid)?;
            Ok(PushTime::At((seconds * 1000.0) as i64))
        }
        Value::String(text) if local_allowed && !names_zone(text) => {
            text.parse::<jiff::civil::DateTime>().map(PushTime::Local).map_err(|_| invalid())
        }
        Value::String(text) => time::parse_iso(text).map(PushTime::At).map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

/// The badge a push sets on each installation it goes to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Badge {
    Set(f64),
    Increment(f64),
}

/// Reads `data.badge`: a number, `"Increment"`, or `{"__op": "Increment", "amount": n}`.
pub(crate) fn badge_of(data: &Map<String, Value>) -> ParseResult<Option<Badge>> {
    let invalid = || misconfigured("Invalid value for badge, expected number or 'Increment' or {increment: number}");
    match data.get("badge") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => Ok(Some(Badge::Set(number.as_f64().ok_or_else(invalid)?))),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("increment") => Ok(Some(Badge::Increment(1.0))),
        Some(Value::Object(op)) if op.get("__op").and_then(Value::as_str) == Some("Increment") => {
            let amount = op.get("amount").and_then(Value::as_f64).filter(|amount| amount.is_finite());
            Ok(Some(Badge::Increment(amount.ok_or_else(invalid)?)))
        }
        Some(_) => Err(invalid()),
    }
}

impl PushRequest {
    /// Checks a push body as Parse Server does.
    ///
    /// # Errors
    /// 115 for `channels` with `where`, neither, no `data`, both expirations, a bad date or
    /// interval, a bad badge.
    pub(crate) fn parse(body: &Map<String, Value>) -> ParseResult<PushRequest> {
        let where_json = match (body.get("channels"), body.get("where")) {
            (Some(_), Some(_)) => return Err(misconfigured("Channels and query can not be set at the same time.")),
            (Some(Value::Array(channels)), None) => json!({"channels": {"$in": channels}}),
            (Some(_), None) => return Err(misconfigured("channels must be an array of channel names.")),
            (None, Some(Value::Object(where_json))) => Value::Object(where_json.clone()),
            (None, Some(Value::String(text))) => serde_json::from_str(text)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| ParseError::invalid_json("where is not a valid JSON object"))?,
            (None, Some(_)) => return Err(ParseError::invalid_json("where must be an object")),
            (None, None) => {
                return Err(misconfigured("Sending a push requires either \"channels\" or a \"where\" query."));
            }
        };
        let Some(Value::Object(data)) = body.get("data") else {
            return Err(misconfigured("A push needs its data: an object with the alert, badge, sound…"));
        };
        badge_of(data)?;
        let time = match body.get("push_time") {
            None | Some(Value::Null) => PushTime::Now,
            Some(value) => push_date("push_time", value, true)?,
        };
        let expiration_time = match body.get("expiration_time") {
            None | Some(Value::Null) => None,
            Some(value) => match push_date("expiration_time", value, false)? {
                PushTime::At(millis) => Some(millis),
                _ => return Err(misconfigured("expiration_time is not a valid date")),
            },
        };
        let expiration_interval = match body.get("expiration_interval") {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_f64() {
                Some(seconds) if seconds.is_finite() && seconds > 0.0 => Some(seconds),
                _ => return Err(misconfigured("expiration_interval must be a number greater than 0")),
            },
        };
        if expiration_time.is_some() && expiration_interval.is_some() {
            return Err(misconfigured("expiration_time and expiration_interval cannot both be set."));
        }
        Ok(PushRequest { where_json, data: data.clone(), time, expiration_time, expiration_interval })
    }

    /// The `pushTime` a `_PushStatus` shows: ISO 8601, without a zone for local time.
    fn push_time_text(&self, now: i64) -> String {
        match &self.time {
            PushTime::Now => time::format_iso(now),
            PushTime::At(millis) => time::format_iso(*millis),
            PushTime::Local(local) => local.strftime("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        }
    }

    /// The first moment the push may go out anywhere (local time: in the earliest zone).
    fn first_due(&self, now: i64) -> i64 {
        match &self.time {
            PushTime::Now => now,
            PushTime::At(millis) => (*millis).max(now),
            PushTime::Local(local) => worker::earliest_instant(*local).max(now),
        }
    }
}

/// `md5` of the alert, as Parse Server keys pushes in `_PushStatus.pushHash`.
fn push_hash(data: &Map<String, Value>) -> String {
    let alert = match data.get("alert") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    md5::Md5::digest(alert.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Engine {
    fn push_part(&self) -> Option<&PushPart> {
        self.inner.push.as_ref()
    }

    /// Starts this node's push worker (with push configured), which sends pushes as they fall
    /// due until the engine is dropped.
    pub fn start_push_worker(&self) {
        if self.push_part().is_some() {
            tokio::spawn(push_worker(std::sync::Arc::downgrade(&self.inner)));
        }
    }

    /// The device types the configured providers send to (empty without push).
    pub fn push_device_types(&self) -> Vec<String> {
        self.push_part().map(|push| push.sender.device_types()).unwrap_or_default()
    }

    /// `POST /push` and `Parse.Push.send`: records the push and queues it; returns the
    /// `_PushStatus` objectId (the `X-Parse-Push-Status-Id` header).
    ///
    /// # Errors
    /// 119 without the master key; 115 without push configuration or for a malformed push (see
    /// `PushRequest::parse`); 102 for a bad `where`.
    pub async fn send_push(&self, caller: &Caller, body: &Map<String, Value>) -> ParseResult<String> {
        caller.require_master()?;
        let Some(push) = self.push_part() else {
            return Err(misconfigured("Missing push configuration"));
        };
        let request = PushRequest::parse(body)?;
        // The `where` must be a valid query (on installations).
        self.query_parser().parse_where(&request.where_json)?;
        let now = self.now();
        let scheduled = !matches!(request.time, PushTime::Now);
        let mut status = Map::new();
        status.insert("pushTime".into(), Value::String(request.push_time_text(now)));
        status.insert("source".into(), json!("rest"));
        status.insert("query".into(), Value::String(request.where_json.to_string()));
        status.insert("payload".into(), Value::String(Value::Object(request.data.clone()).to_string()));
        if let Some(expiry) = request.expiration_time {
            status.insert("expiry".into(), json!(expiry));
        }
        if let Some(interval) = request.expiration_interval {
            status.insert("expiration_interval".into(), json!(interval));
        }
        status.insert("status".into(), json!(if scheduled { "scheduled" } else { "pending" }));
        status.insert("numSent".into(), json!(0));
        status.insert("pushHash".into(), Value::String(push_hash(&request.data)));
        status.insert("ACL".into(), json!({}));
        let created = self.create_object(&Caller::master(), &ClassName::system("_PushStatus"), &status).await?;
        let task = basalt_store::Task {
            id: created.object_id.clone(),
            kind: "push".into(),
            due_at: request.first_due(now),
            state: worker::initial_state(&request),
        };
        self.store().add_task(&task).await.map_err(ParseError::from)?;
        push.wake.notify_one();
        if let Some(audience) = body.get("audience_id").and_then(Value::as_str) {
            self.audience_used(audience).await;
        }
        Ok(created.object_id)
    }
}

#[cfg(test)]
mod tests;
