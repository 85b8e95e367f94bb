//! Push notification providers spoken in-process: APNs (HTTP/2, token or certificate
//! authentication), FCM HTTP v1 (OAuth2 from a service account), Web Push (VAPID, RFC 8291
//! `aes128gcm`) and Expo. Knows nothing of Parse storage: the engine hands it a notification and
//! the devices to send it to, and gets back what happened to each device.
//!
//! Configuration is Parse Server's `push` option (the `@parse/push-adapter` shape), one key per
//! device type, plus `url` on each provider to point it elsewhere (tests use local fakes):
//!
//! ```json
//! {
//!   "ios":     {"token": {"key": "AuthKey.p8 path or PEM", "keyId": "…", "teamId": "…"},
//!               "topic": "com.example.app", "production": false, "url": "https://…"},
//!   "osx":     {"cert": "cert.pem", "key": "key.pem", "topic": "…"},
//!   "android": {"firebaseServiceAccount": "service-account.json path or the object", "url": "https://…"},
//!   "web":     {"vapidDetails": {"subject": "mailto:…", "publicKey": "…", "privateKey": "…"}},
//!   "expo":    {"accessToken": "…", "url": "https://…"}
//! }
//! ```
//!
//! `Providers` is built once from that option and shared; `Providers::send` routes each device to
//! its provider and answers one `Delivery` per device.

mod apns;
mod config;
mod delivery;
mod expo;
mod fcm;
mod providers;
mod web_push;

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

/// What `PushSender::send` returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Vec<Delivery>> + Send + 'a>>;

/// Sends notifications: the configured providers, or a fake in tests.
pub trait PushSender: Send + Sync + std::fmt::Debug {
    /// The device types it can send to (sorted).
    fn device_types(&self) -> Vec<String>;

    /// Sends `notification` to `devices` (any mix of types): one `Delivery` per device, in any
    /// order, after the provider's retries.
    fn send<'a>(&'a self, notification: &'a Notification, devices: &'a [Device]) -> SendFuture<'a>;
}
pub use delivery::Tuning;
pub use providers::Providers;

impl PushSender for Providers {
    fn device_types(&self) -> Vec<String> {
        Providers::device_types(self)
    }

    fn send<'a>(&'a self, notification: &'a Notification, devices: &'a [Device]) -> SendFuture<'a> {
        Box::pin(Providers::send(self, notification, devices))
    }
}

/// One device to send to, as its installation row has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    /// The installation's objectId (results are reported by it).
    pub installation: String,
    /// `ios`, `osx`, `tvos`, `android`, `web`, …
    pub device_type: String,
    /// The provider's token (for `web`, the subscription JSON).
    pub device_token: String,
    /// The installation's `pushType` (`expo` sends through Expo whatever the device type).
    pub push_type: Option<String>,
}

/// What to send: Parse's push `data` (`alert`, `badge` as a number, `sound`, `title`,
/// `content-available`, `category`, `uri`, custom keys), already localized and with the badge
/// resolved for the devices it goes to.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub data: Map<String, Value>,
    /// When the notification stops being worth delivering (Unix seconds).
    pub expires_at: Option<i64>,
}

impl Notification {
    /// What a notification shows: its title (`title`, or an `alert` object's `title`) and body
    /// (the `alert` string, or an `alert` object's `body`).
    pub(crate) fn title_and_body(data: &Map<String, Value>) -> (Option<&Value>, Option<&Value>) {
        let alert = data.get("alert").filter(|alert| !alert.is_null());
        let title = match (data.get("title"), alert) {
            (Some(title), _) if !title.is_null() => Some(title),
            (_, Some(Value::Object(alert))) => alert.get("title"),
            _ => None,
        };
        let body = match alert {
            Some(Value::Object(alert)) => alert.get("body"),
            other => other,
        };
        (title, body)
    }
}

/// What happened to one device.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub installation: String,
    pub device_type: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The provider accepted the notification.
    Sent,
    /// The provider refused it, or could not be reached after the retries.
    Failed {
        /// Why, as the provider said (`BadDeviceToken`, `UNREGISTERED`, `410 Gone`, …).
        reason: String,
        /// The provider says the token is gone for good: remove it from its installation.
        token_gone: bool,
    },
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("push configuration: {0}")]
pub struct ConfigError(pub String);
