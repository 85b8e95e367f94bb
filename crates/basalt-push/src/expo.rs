//! Expo's push service for apps built with Expo: messages sent in batches (one request carries up
//! to 100), each answered by a ticket in the order sent; `DeviceNotRegistered` marks a token
//! gone. A whole batch is retried when Expo is throttling or failing.

use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::delivery::{self, Answer, Attempt, Tuning};
use crate::{ConfigError, Delivery, Device, Notification, Outcome, config};

const EXPO_URL: &str = "https://exp.host";
const SEND_PATH: &str = "/--/api/v2/push/send";
/// The provider's name in reasons.
const NAME: &str = "Expo";
/// The `data` keys that are fields of the message rather than of its `data`.
const MESSAGE_KEYS: [&str; 4] = ["alert", "title", "badge", "sound"];

/// Whether a token is an Expo push token.
pub(crate) fn is_expo_token(token: &str) -> bool {
    token.starts_with("ExponentPushToken[") || token.starts_with("ExpoPushToken[")
}

/// Expo's push service.
pub(crate) struct Expo {
    client: reqwest::Client,
    url: String,
    access_token: Option<String>,
    limit: Semaphore,
    tuning: Tuning,
}

impl Expo {
    /// Expo from the `expo` section.
    pub(crate) fn new(section: &Map<String, Value>, tuning: &Tuning) -> Result<Expo, ConfigError> {
        let base = config::base_url(section, "expo", EXPO_URL)?;
        let access_token = config::optional(section, "accessToken", "expo.accessToken")?
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        Ok(Expo {
            client: delivery::build_client(tuning.client(), "expo")?,
            url: format!("{base}{SEND_PATH}"),
            access_token,
            limit: tuning.semaphore(),
            tuning: tuning.clone(),
        })
    }

    /// Sends `notification` to each of `devices`, in batches.
    pub(crate) async fn send(&self, notification: &Notification, devices: Vec<&Device>) -> Vec<Delivery> {
        let message = &message(&notification.data, notification.expires_at, delivery::unix_now());
        // The futures are made first, so the stream's type names no closure (see
        // `delivery::each_device`).
        let batches: Vec<_> =
            devices.chunks(self.tuning.expo_batch.max(1)).map(|batch| self.deliver_batch(message, batch)).collect();
        futures_util::stream::iter(batches)
            .buffer_unordered(self.tuning.concurrency.max(1))
            .flat_map(futures_util::stream::iter)
            .collect()
            .await
    }

    /// One batch, as a `Delivery` per device.
    async fn deliver_batch(&self, message: &Map<String, Value>, batch: &[&Device]) -> Vec<Delivery> {
        let outcomes = self.send_batch(message, batch).await;
        batch
            .iter()
            .zip(outcomes)
            .map(|(device, outcome)| Delivery {
                installation: device.installation.clone(),
                device_type: device.device_type.clone(),
                outcome,
            })
            .collect()
    }

    /// One request for `batch`: an outcome per device, in order.
    async fn send_batch(&self, message: &Map<String, Value>, batch: &[&Device]) -> Vec<Outcome> {
        let messages: Vec<Value> = batch
            .iter()
            .map(|device| {
                let mut message = message.clone();
                message.insert("to".into(), Value::from(device.device_token.as_str()));
                Value::Object(message)
            })
            .collect();
        let body = Value::Array(messages).to_string();
        match delivery::with_retries(&self.tuning, || self.attempt(&body, batch.len())).await {
            Ok(outcomes) => outcomes,
            Err(reason) => vec![Outcome::Failed { reason, token_gone: false }; batch.len()],
        }
    }

    async fn attempt(&self, body: &str, count: usize) -> Attempt<Vec<Outcome>> {
        let _permit = self.limit.acquire().await.ok();
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_owned());
        if let Some(token) = &self.access_token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let answer = Answer::of(request.send().await).await;
        match answer {
            Ok(answer) => classify(&answer, count),
            Err(error) => delivery::unreachable(NAME, &error),
        }
    }
}

/// The message, less its `to`.
pub(crate) fn message(data: &Map<String, Value>, expires_at: Option<i64>, now: i64) -> Map<String, Value> {
    let mut message = Map::new();
    let (title, body) = crate::Notification::title_and_body(data);
    if let Some(title) = title {
        message.insert("title".into(), title.clone());
    }
    if let Some(body) = body {
        message.insert("body".into(), body.clone());
    }
    let rest: Map<String, Value> = data
        .iter()
        .filter(|(key, _)| !MESSAGE_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if !rest.is_empty() {
        message.insert("data".into(), Value::Object(rest));
    }
    for key in ["sound", "badge"] {
        if let Some(value) = data.get(key).filter(|value| !value.is_null()) {
            message.insert(key.into(), value.clone());
        }
    }
    if let Some(expires_at) = expires_at {
        message.insert("ttl".into(), Value::from((expires_at - now).max(0)));
    }
    message.insert("priority".into(), Value::from("high"));
    message
}

/// What Expo's answer to a batch of `count` messages means.
pub(crate) fn classify(answer: &Answer, count: usize) -> Attempt<Vec<Outcome>> {
    let json = answer.json();
    let request_error = || {
        json.get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first())
            .and_then(|error| error.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let status = delivery::status_text(answer.status);
    if delivery::is_retryable(answer.status) {
        let reason = match request_error() {
            Some(error) => format!("{NAME} answered {status}: {error}"),
            None => format!("{NAME} answered {status}"),
        };
        return Attempt::Retry { reason, after: answer.retry_after };
    }
    let tickets = json.get("data").and_then(Value::as_array);
    let (200, Some(tickets)) = (answer.status, tickets) else {
        let reason = request_error().unwrap_or_else(|| format!("{NAME} answered {status}"));
        return Attempt::Done(vec![Outcome::Failed { reason, token_gone: false }; count]);
    };
    let outcomes = (0..count)
        .map(|index| match tickets.get(index) {
            Some(ticket) if ticket.get("status").and_then(Value::as_str) == Some("ok") => Outcome::Sent,
            Some(ticket) => {
                let error = ticket.get("details").and_then(|details| details.get("error")).and_then(Value::as_str);
                let message = ticket.get("message").and_then(Value::as_str);
                Outcome::Failed {
                    reason: error.or(message).unwrap_or("Expo refused the message").to_owned(),
                    token_gone: error == Some("DeviceNotRegistered"),
                }
            }
            None => Outcome::Failed { reason: format!("{NAME} answered no ticket for the message"), token_gone: false },
        })
        .collect();
    Attempt::Done(outcomes)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn expo_tokens_are_recognised() {
        assert!(is_expo_token("ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]"));
        assert!(is_expo_token("ExpoPushToken[xxxxxxxxxxxxxxxxxxxxxx]"));
        assert!(!is_expo_token("a1b2c3"));
    }

    #[test]
    fn messages() {
        let data = json!({"alert": "Hi", "title": "T", "badge": 1, "sound": "default", "uri": "app://x", "n": 2});
        assert_eq!(
            Value::Object(message(data.as_object().unwrap(), Some(130), 100)),
            json!({"title": "T", "body": "Hi", "data": {"uri": "app://x", "n": 2}, "sound": "default", "badge": 1,
                   "ttl": 30, "priority": "high"})
        );
        let data = json!({"content-available": 1});
        assert_eq!(
            Value::Object(message(data.as_object().unwrap(), None, 0)),
            json!({"data": {"content-available": 1}, "priority": "high"})
        );
    }

    fn answer(status: u16, body: Value) -> Answer {
        Answer { status, body: body.to_string().into_bytes(), retry_after: None }
    }

    #[test]
    fn tickets_are_matched_in_order() {
        let answer = answer(
            200,
            json!({"data": [
                {"status": "ok", "id": "a"},
                {"status": "error", "message": "\"ExponentPushToken[x]\" is not a registered push notification recipient",
                 "details": {"error": "DeviceNotRegistered"}},
                {"status": "error", "message": "Message too big", "details": {"error": "MessageTooBig"}},
            ]}),
        );
        assert_eq!(
            classify(&answer, 4),
            Attempt::Done(vec![
                Outcome::Sent,
                Outcome::Failed { reason: "DeviceNotRegistered".into(), token_gone: true },
                Outcome::Failed { reason: "MessageTooBig".into(), token_gone: false },
                Outcome::Failed { reason: "Expo answered no ticket for the message".into(), token_gone: false },
            ])
        );
    }

    #[test]
    fn whole_request_failures() {
        let refused = answer(400, json!({"errors": [{"code": "VALIDATION_ERROR", "message": "\"to\" is required"}]}));
        assert_eq!(
            classify(&refused, 2),
            Attempt::Done(vec![Outcome::Failed { reason: "\"to\" is required".into(), token_gone: false }; 2])
        );
        let mut throttled = answer(429, json!({}));
        throttled.retry_after = Some(Duration::from_secs(1));
        assert_eq!(
            classify(&throttled, 1),
            Attempt::Retry {
                reason: "Expo answered 429 Too Many Requests".into(),
                after: Some(Duration::from_secs(1))
            }
        );
    }
}
