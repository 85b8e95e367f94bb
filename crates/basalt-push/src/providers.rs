//! The configured providers and the routing of each device to one of them: Expo tokens to Expo,
//! then by device type (`ios`/`osx`/`tvos` to APNs, or FCM when their section names a service
//! account; `android` to FCM; `web` to Web Push).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::Value;

use crate::apns::Apns;
use crate::delivery::Tuning;
use crate::expo::{self, Expo};
use crate::fcm::Fcm;
use crate::web_push::WebPush;
use crate::{ConfigError, Delivery, Device, Notification, Outcome, config};

/// The device types whose section may configure APNs (or FCM).
const APPLE_TYPES: [&str; 3] = ["ios", "osx", "tvos"];

/// Every provider a `push` configuration sets up. Cheap to clone (shared inside) and meant to be
/// built once: each provider keeps its connections and tokens for the next send.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<Inner>,
}

struct Inner {
    /// The provider of each device type.
    by_type: BTreeMap<String, Provider>,
    expo: Option<Expo>,
}

enum Provider {
    Apns(Apns),
    Fcm(Fcm),
    WebPush(WebPush),
}

impl Provider {
    async fn send(&self, notification: &Notification, devices: Vec<&Device>) -> Vec<Delivery> {
        match self {
            Provider::Apns(apns) => apns.send(notification, devices).await,
            Provider::Fcm(fcm) => fcm.send(notification, devices).await,
            Provider::WebPush(web_push) => web_push.send(notification, devices).await,
        }
    }
}

/// Where one device goes.
#[derive(Debug, PartialEq)]
enum Route<'a> {
    Expo,
    Type(&'a str),
    Nowhere,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Providers").field("device_types", &self.device_types()).finish()
    }
}

impl Providers {
    /// From Parse Server's `push` option JSON (see the crate's documentation). Paths are read
    /// now; a bad key, a missing file or a malformed service account is a `ConfigError` naming
    /// what is wrong.
    ///
    /// # Errors
    /// A configuration that cannot be used.
    pub fn from_config(config: &Value) -> Result<Providers, ConfigError> {
        Providers::from_config_with(config, Tuning::default())
    }

    /// `from_config` with other delivery numbers (tests shorten the backoff).
    ///
    /// # Errors
    /// A configuration that cannot be used.
    pub fn from_config_with(config: &Value, tuning: Tuning) -> Result<Providers, ConfigError> {
        let Value::Object(config) = config else {
            return Err(ConfigError("expected an object with a section per device type".into()));
        };
        let mut by_type = BTreeMap::new();
        for device_type in APPLE_TYPES {
            if let Some(section) = config.get(device_type).filter(|section| !section.is_null()) {
                let section = config::section(section, device_type)?;
                let provider = if section.contains_key("firebaseServiceAccount") {
                    Provider::Fcm(Fcm::new(section, device_type, &tuning)?)
                } else {
                    Provider::Apns(Apns::new(section, device_type, &tuning)?)
                };
                by_type.insert(device_type.to_owned(), provider);
            }
        }
        if let Some(section) = config.get("android").filter(|section| !section.is_null()) {
            let section = config::section(section, "android")?;
            by_type.insert("android".into(), Provider::Fcm(Fcm::new(section, "android", &tuning)?));
        }
        if let Some(section) = config.get("web").filter(|section| !section.is_null()) {
            let section = config::section(section, "web")?;
            by_type.insert("web".into(), Provider::WebPush(WebPush::new(section, "web", &tuning)?));
        }
        let expo = match config.get("expo").filter(|section| !section.is_null()) {
            Some(section) => Some(Expo::new(config::section(section, "expo")?, &tuning)?),
            None => None,
        };
        Ok(Providers { inner: Arc::new(Inner { by_type, expo }) })
    }

    /// The device types this configuration can send to (sorted), for `/serverInfo`; `expo`
    /// when Expo is configured.
    pub fn device_types(&self) -> Vec<String> {
        let mut types: std::collections::BTreeSet<String> = self.inner.by_type.keys().cloned().collect();
        if self.inner.expo.is_some() {
            // Expo apps register as the platform they run on (or as `expo`).
            types.extend(["android", "expo", "ios"].map(String::from));
        }
        types.into_iter().collect()
    }

    fn route<'a>(&self, device: &'a Device) -> Route<'a> {
        let expo_device =
            device.push_type.as_deref() == Some("expo") || expo::is_expo_token(device.device_token.trim());
        if expo_device && self.inner.expo.is_some() {
            Route::Expo
        } else if self.inner.by_type.contains_key(&device.device_type) {
            Route::Type(&device.device_type)
        } else {
            Route::Nowhere
        }
    }

    /// Sends `notification` to `devices` (any mix of types), one `Delivery` per device in no
    /// particular order. A device whose type has no provider fails with `no push provider for
    /// <type>`.
    pub async fn send(&self, notification: &Notification, devices: &[Device]) -> Vec<Delivery> {
        let mut expo_devices = Vec::new();
        let mut by_type: BTreeMap<&str, Vec<&Device>> = BTreeMap::new();
        let mut deliveries = Vec::with_capacity(devices.len());
        for device in devices {
            match self.route(device) {
                Route::Expo => expo_devices.push(device),
                Route::Type(device_type) => by_type.entry(device_type).or_default().push(device),
                Route::Nowhere => deliveries.push(Delivery {
                    installation: device.installation.clone(),
                    device_type: device.device_type.clone(),
                    outcome: Outcome::Failed {
                        reason: format!("no push provider for {}", device.device_type),
                        token_gone: false,
                    },
                }),
            }
        }
        let typed = join_all(
            by_type
                .into_iter()
                .filter_map(|(device_type, devices)| Some((self.inner.by_type.get(device_type)?, devices)))
                .map(|(provider, devices)| provider.send(notification, devices)),
        );
        let expo = async {
            match &self.inner.expo {
                Some(expo) if !expo_devices.is_empty() => expo.send(notification, expo_devices).await,
                _ => Vec::new(),
            }
        };
        let (typed, expo) = futures_util::future::join(typed, expo).await;
        deliveries.extend(typed.into_iter().flatten());
        deliveries.extend(expo);
        for delivery in &deliveries {
            if let Outcome::Failed { reason, token_gone } = &delivery.outcome {
                tracing::debug!(installation = %delivery.installation, device_type = %delivery.device_type, %reason, token_gone, "push not delivered");
            }
        }
        let sent = deliveries.iter().filter(|delivery| delivery.outcome == Outcome::Sent).count();
        tracing::info!(sent, failed = deliveries.len() - sent, "push sent");
        deliveries
    }
}

#[cfg(test)]
mod tests {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    use serde_json::json;

    use super::*;

    fn device(device_type: &str, token: &str, push_type: Option<&str>) -> Device {
        Device {
            installation: format!("{device_type}-{token}"),
            device_type: device_type.into(),
            device_token: token.into(),
            push_type: push_type.map(str::to_owned),
        }
    }

    fn apns_section() -> Value {
        let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        json!({"token": {"key": pem, "keyId": "K", "teamId": "T"}, "topic": "com.example"})
    }

    #[test]
    fn device_types_follow_the_configuration() {
        let providers = Providers::from_config(&json!({})).unwrap();
        assert!(providers.device_types().is_empty());
        let providers =
            Providers::from_config(&json!({"tvos": apns_section(), "ios": apns_section(), "expo": {}})).unwrap();
        assert_eq!(providers.device_types(), ["android", "expo", "ios", "tvos"]);
        assert!(format!("{providers:?}").contains("ios"));
    }

    #[test]
    fn expo_devices_go_to_expo_when_it_is_configured() {
        let providers = Providers::from_config(&json!({"ios": apns_section(), "expo": {}})).unwrap();
        assert_eq!(Route::Expo, providers.route(&device("ios", "ExponentPushToken[abc]", None)));
        assert_eq!(Route::Expo, providers.route(&device("android", "ExpoPushToken[abc]", None)));
        assert_eq!(Route::Expo, providers.route(&device("android", "fcm-token", Some("expo"))));
        assert_eq!(providers.route(&device("ios", "a1b2", None)), Route::Type("ios"));
        assert_eq!(providers.route(&device("android", "fcm-token", None)), Route::Nowhere);

        let without_expo = Providers::from_config(&json!({"ios": apns_section()})).unwrap();
        assert_eq!(without_expo.route(&device("ios", "ExponentPushToken[abc]", None)), Route::Type("ios"));
        assert_eq!(without_expo.route(&device("win", "x", None)), Route::Nowhere);
    }

    #[tokio::test]
    async fn devices_without_a_provider_fail() {
        let providers = Providers::from_config(&json!({})).unwrap();
        let notification = Notification { data: serde_json::Map::new(), expires_at: None };
        let deliveries = providers.send(&notification, &[device("winphone", "x", None)]).await;
        assert_eq!(
            deliveries,
            [Delivery {
                installation: "winphone-x".into(),
                device_type: "winphone".into(),
                outcome: Outcome::Failed { reason: "no push provider for winphone".into(), token_gone: false },
            }]
        );
    }

    #[test]
    fn configuration_errors_name_what_is_wrong() {
        let error = |config: Value| Providers::from_config(&config).err().unwrap().to_string();
        assert_eq!(error(json!([])), "push configuration: expected an object with a section per device type");
        assert_eq!(
            error(
                json!({"ios": {"token": {"key": "/nonexistent/AuthKey.p8", "keyId": "K", "teamId": "T"}, "topic": "t"}})
            ),
            "push configuration: ios.token.key: cannot read /nonexistent/AuthKey.p8: No such file or directory (os error 2)"
        );
        let mut missing_team = apns_section();
        missing_team["token"].as_object_mut().unwrap().remove("teamId");
        assert_eq!(error(json!({"osx": missing_team})), "push configuration: osx.token.teamId is missing");
        let mut no_topic = apns_section();
        no_topic.as_object_mut().unwrap().remove("topic");
        assert_eq!(error(json!({"ios": no_topic})), "push configuration: ios: a topic (or bundleId) is needed");
        assert!(error(json!({"ios": {"pfx": "cert.p12", "topic": "t"}})).contains("openssl pkcs12 -in x.p12 -nodes"));
        assert!(error(json!({"ios": {"topic": "t"}})).contains("give `token`"));
        assert!(
            error(json!({"android": {"firebaseServiceAccount": "/nonexistent/sa.json"}}))
                .contains("/nonexistent/sa.json")
        );
        assert!(error(json!({"web": {}})).contains("web.vapidDetails is missing"));
        assert!(error(json!({"expo": {"url": "nope"}})).contains("expo.url is not an http(s) URL"));
        assert!(
            error(json!({"ios": {"cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "topic": "t"}}))
                .contains("ios: the certificate and key are not usable")
        );
    }

    #[test]
    fn apple_types_use_fcm_with_a_service_account() {
        // A malformed service account shows that the section went to FCM, not APNs.
        let error = Providers::from_config(&json!({"ios": {"firebaseServiceAccount": {"project_id": "p"}}}))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(error, "push configuration: ios.firebaseServiceAccount.client_email is missing");
    }

    #[test]
    fn providers_are_shared() {
        fn shared<T: Send + Sync + Clone>() {}
        shared::<Providers>();
    }
}
