//! Apple Push Notification service over HTTP/2: one connection multiplexing every request,
//! authenticated by a provider token (an ES256 JWT made from the team's `.p8` key, re-made every
//! 50 minutes) or by a TLS client certificate. Also builds the `aps` payload FCM sends to Apple
//! devices.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::config;
use crate::delivery::{self, Answer, Attempt, Tuning};
use crate::{ConfigError, Device, Notification, Outcome};

const PRODUCTION_URL: &str = "https://api.push.apple.com";
const SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";
/// How long a provider token is used before a new one is made (Apple accepts one up to an hour
/// old and refuses new ones more often than every 20 minutes).
const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);
/// The provider's name in reasons.
const NAME: &str = "APNs";

/// The `data` keys that go into `aps` (or into headers) rather than beside it.
const MAPPED_KEYS: [&str; 13] = [
    "alert",
    "badge",
    "sound",
    "content-available",
    "mutable-content",
    "category",
    "title",
    "threadId",
    "thread-id",
    "push_type",
    "priority",
    "collapse_id",
    "aps",
];

/// APNs for one device type.
pub(crate) struct Apns {
    client: reqwest::Client,
    base: String,
    topic: String,
    /// The configuration's `pushType`, overriding the one worked out from the data.
    push_type: Option<String>,
    /// `None` when the client certificate authenticates.
    token: Option<ProviderToken>,
    limit: Semaphore,
    tuning: Tuning,
}

/// Token authentication: the signing key and the token in use.
struct ProviderToken {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    current: Mutex<Option<(String, Instant)>>,
}

impl ProviderToken {
    /// The token to send, made anew when the current one is too old.
    fn get(&self) -> Result<String, String> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, made)) = current.as_ref()
            && made.elapsed() < TOKEN_LIFETIME
        {
            return Ok(token.clone());
        }
        let token = provider_token(&self.key, &self.key_id, &self.team_id, delivery::unix_now())
            .map_err(|error| format!("{NAME}: cannot sign the provider token: {error}"))?;
        *current = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// Forgets the current token (Apple said it expired).
    fn forget(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The provider token: ES256, `kid` the key id, claims `iss` (the team) and `iat`.
pub(crate) fn provider_token(
    key: &EncodingKey,
    key_id: &str,
    team_id: &str,
    issued_at: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    jsonwebtoken::encode(&header, &json!({"iss": team_id, "iat": issued_at}), key)
}

/// An EC private key (PKCS#8 or SEC1 PEM) as the PKCS#8 DER key jsonwebtoken signs ES256 with.
pub(crate) fn ec_signing_key(pem: &str, what: &str) -> Result<EncodingKey, ConfigError> {
    let key = p256::SecretKey::from_pem(pem.trim())
        .map_err(|error| ConfigError(format!("{what} is not a P-256 private key: {error}")))?;
    let der = key.to_pkcs8_der().map_err(|error| ConfigError(format!("{what}: cannot encode the key: {error}")))?;
    Ok(EncodingKey::from_ec_der(der.as_bytes()))
}

impl Apns {
    /// APNs from the section of `device_type`.
    pub(crate) fn new(section: &Map<String, Value>, device_type: &str, tuning: &Tuning) -> Result<Apns, ConfigError> {
        let what = |key: &str| format!("{device_type}.{key}");
        let production = matches!(section.get("production"), Some(Value::Bool(true)));
        let base = config::base_url(section, device_type, if production { PRODUCTION_URL } else { SANDBOX_URL })?;
        let topic = match config::optional(section, "topic", &what("topic"))? {
            Some(topic) if !topic.is_empty() => topic.to_owned(),
            _ => config::optional(section, "bundleId", &what("bundleId"))?
                .filter(|bundle| !bundle.is_empty())
                .ok_or_else(|| ConfigError(format!("{device_type}: a topic (or bundleId) is needed")))?
                .to_owned(),
        };
        let push_type = config::optional(section, "pushType", &what("pushType"))?.map(str::to_owned);
        if section.contains_key("pfx") {
            return Err(ConfigError(format!(
                "{device_type}.pfx is not supported: convert it to PEM with `openssl pkcs12 -in x.p12 -nodes` \
                 and give its certificate as `cert` and its key as `key`"
            )));
        }
        if section.get("passphrase").is_some_and(|passphrase| !passphrase.is_null()) {
            return Err(ConfigError(format!(
                "{device_type}.passphrase is not supported: give the key unencrypted (`openssl pkey -in key.pem`)"
            )));
        }
        let mut client = tuning.client().http2_prior_knowledge();
        let token = match section.get("token") {
            Some(token) => {
                let token = config::section(token, &what("token"))?;
                let key = config::pem(config::required(token, "key", &what("token.key"))?, &what("token.key"))?;
                let key_id = config::required(token, "keyId", &what("token.keyId"))?.to_owned();
                let team_id = config::required(token, "teamId", &what("token.teamId"))?.to_owned();
                let key = ec_signing_key(&key, &what("token.key"))?;
                provider_token(&key, &key_id, &team_id, 0)
                    .map_err(|error| ConfigError(format!("{}: cannot sign with it: {error}", what("token.key"))))?;
                Some(ProviderToken { key, key_id, team_id, current: Mutex::new(None) })
            }
            None => {
                let cert = config::required(section, "cert", &what("cert")).map_err(|_| {
                    ConfigError(format!("{device_type}: give `token` ({{key, keyId, teamId}}) or `cert` and `key`"))
                })?;
                let cert = config::pem(cert, &what("cert"))?;
                let key = config::pem(config::required(section, "key", &what("key"))?, &what("key"))?;
                let identity = reqwest::Identity::from_pem(format!("{}\n{}", cert.trim(), key.trim()).as_bytes())
                    .map_err(|error| {
                        ConfigError(format!(
                            "{device_type}: the certificate and key are not usable: {}",
                            delivery::describe(&error)
                        ))
                    })?;
                client = client.identity(identity);
                None
            }
        };
        let client = match token {
            Some(_) => delivery::build_client(client, device_type)?,
            // The certificate and key are only parsed in full when the client is built.
            None => client.build().map_err(|error| {
                ConfigError(format!(
                    "{device_type}: the certificate and key are not usable: {}",
                    delivery::describe(&error)
                ))
            })?,
        };
        Ok(Apns { client, base, topic, push_type, token, limit: tuning.semaphore(), tuning: tuning.clone() })
    }

    /// Sends `notification` to each of `devices`.
    pub(crate) async fn send(&self, notification: &Notification, devices: Vec<&Device>) -> Vec<crate::Delivery> {
        let request = Request::new(notification, self.push_type.as_deref(), &self.topic);
        delivery::each_device(devices, self.tuning.concurrency, |device| self.send_one(&request, device)).await
    }

    async fn send_one(&self, request: &Request, device: &Device) -> Outcome {
        let token = device.device_token.trim();
        if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Outcome::Failed { reason: "BadDeviceToken".into(), token_gone: true };
        }
        let url = format!("{}/3/device/{token}", self.base);
        let result = delivery::with_retries(&self.tuning, || self.attempt(request, &url)).await;
        result.unwrap_or_else(|reason| Outcome::Failed { reason, token_gone: false })
    }

    async fn attempt(&self, request: &Request, url: &str) -> Attempt<Outcome> {
        let _permit = self.limit.acquire().await.ok();
        let mut builder = self.client.post(url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(token) = &self.token {
            match token.get() {
                Ok(jwt) => builder = builder.header("authorization", format!("bearer {jwt}")),
                Err(reason) => return Attempt::Done(Outcome::Failed { reason, token_gone: false }),
            }
        }
        let answer = Answer::of(builder.body(request.body.clone()).send().await).await;
        match answer {
            Ok(answer) => {
                let attempt = classify(&answer);
                if let (Some(token), Attempt::Retry { .. }) = (&self.token, &attempt)
                    && answer.status == 403
                {
                    token.forget();
                }
                attempt
            }
            Err(error) => delivery::unreachable(NAME, &error),
        }
    }
}

/// What goes to every device of one notification: the headers and the body.
#[derive(Debug, PartialEq)]
pub(crate) struct Request {
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn new(notification: &Notification, configured_push_type: Option<&str>, topic: &str) -> Request {
        let data = &notification.data;
        let push_type = text(data.get("push_type"))
            .or_else(|| configured_push_type.map(str::to_owned))
            .unwrap_or_else(|| if is_background(data) { "background".into() } else { "alert".into() });
        let priority = data
            .get("priority")
            .and_then(|priority| match priority {
                Value::Number(number) => number.as_u64(),
                Value::String(text) => text.trim().parse().ok(),
                _ => None,
            })
            .unwrap_or(if push_type == "background" { 5 } else { 10 });
        let mut headers = vec![
            ("apns-topic", topic.to_owned()),
            ("apns-push-type", push_type),
            ("apns-priority", priority.to_string()),
            ("apns-expiration", notification.expires_at.unwrap_or(0).max(0).to_string()),
        ];
        if let Some(collapse_id) = text(data.get("collapse_id")) {
            headers.push(("apns-collapse-id", collapse_id));
        }
        headers.push(("content-type", "application/json".into()));
        Request { headers, body: payload(data).to_string().into_bytes() }
    }
}

/// A string value, or a number's text.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Whether a flag such as `content-available` is set (1, true or "1").
pub(crate) fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(set)) => *set,
        Some(Value::Number(number)) => number.as_f64() == Some(1.0),
        Some(Value::String(text)) => text == "1" || text == "true",
        _ => false,
    }
}

fn present(data: &Map<String, Value>, key: &str) -> bool {
    data.get(key).is_some_and(|value| !value.is_null())
}

/// A silent notification: content-available with nothing to show, play or count.
pub(crate) fn is_background(data: &Map<String, Value>) -> bool {
    flag(data.get("content-available")) && !["alert", "title", "sound", "badge"].iter().any(|key| present(data, key))
}

/// The APNs payload: `aps` from the keys Apple defines, every other key of `data` beside it.
pub(crate) fn payload(data: &Map<String, Value>) -> Value {
    let mut aps = Map::new();
    let title = data.get("title").filter(|title| !title.is_null());
    match (data.get("alert").filter(|alert| !alert.is_null()), title) {
        (Some(Value::Object(alert)), title) => {
            let mut alert = alert.clone();
            if let Some(title) = title {
                alert.entry("title").or_insert_with(|| title.clone());
            }
            aps.insert("alert".into(), Value::Object(alert));
        }
        (Some(alert), Some(title)) => {
            aps.insert("alert".into(), json!({"title": title, "body": alert}));
        }
        (Some(alert), None) => {
            aps.insert("alert".into(), alert.clone());
        }
        (None, Some(title)) => {
            aps.insert("alert".into(), json!({"title": title}));
        }
        (None, None) => {}
    }
    match data.get("badge") {
        Some(Value::String(badge)) => match badge.trim().parse::<i64>() {
            Ok(badge) => {
                aps.insert("badge".into(), badge.into());
            }
            Err(_) => {
                aps.insert("badge".into(), badge.as_str().into());
            }
        },
        Some(badge) if !badge.is_null() => {
            aps.insert("badge".into(), badge.clone());
        }
        _ => {}
    }
    for (key, name) in
        [("sound", "sound"), ("category", "category"), ("thread-id", "thread-id"), ("threadId", "thread-id")]
    {
        if let Some(value) = data.get(key).filter(|value| !value.is_null()) {
            aps.insert(name.into(), value.clone());
        }
    }
    for key in ["content-available", "mutable-content"] {
        if flag(data.get(key)) {
            aps.insert(key.into(), 1.into());
        }
    }
    if let Some(Value::Object(given)) = data.get("aps") {
        aps.extend(given.clone());
    }
    let mut body = Map::new();
    for (key, value) in data {
        if !MAPPED_KEYS.contains(&key.as_str()) {
            body.insert(key.clone(), value.clone());
        }
    }
    body.insert("aps".into(), Value::Object(aps));
    Value::Object(body)
}

/// What an APNs answer means.
pub(crate) fn classify(answer: &Answer) -> Attempt<Outcome> {
    let reason = answer.json().get("reason").and_then(Value::as_str).map(str::to_owned);
    match answer.status {
        200 => Attempt::Done(Outcome::Sent),
        410 => {
            Attempt::Done(Outcome::Failed { reason: reason.unwrap_or_else(|| "Unregistered".into()), token_gone: true })
        }
        400 if matches!(reason.as_deref(), Some("BadDeviceToken" | "DeviceTokenNotForTopic")) => {
            Attempt::Done(Outcome::Failed { reason: reason.unwrap_or_default(), token_gone: true })
        }
        403 if reason.as_deref() == Some("ExpiredProviderToken") => {
            Attempt::Retry { reason: format!("{NAME} answered 403 ExpiredProviderToken"), after: None }
        }
        status if delivery::is_retryable(status) => Attempt::Retry {
            reason: format!(
                "{NAME} answered {}{}",
                delivery::status_text(status),
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            ),
            after: answer.retry_after,
        },
        status => Attempt::Done(Outcome::Failed {
            reason: reason.unwrap_or_else(|| format!("{NAME} answered {}", delivery::status_text(status))),
            token_gone: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::LineEnding;

    use super::*;

    fn notification(data: Value) -> Notification {
        Notification { data: data.as_object().unwrap().clone(), expires_at: None }
    }

    fn headers(request: &Request) -> Map<String, Value> {
        request.headers.iter().map(|(name, value)| ((*name).to_owned(), Value::from(value.as_str()))).collect()
    }

    fn body(request: &Request) -> Value {
        serde_json::from_slice(&request.body).unwrap()
    }

    #[test]
    fn an_alert_with_custom_keys() {
        let request = Request::new(
            &notification(json!({"alert": "Hi", "badge": 3, "sound": "default", "uri": "app://x", "score": 7})),
            None,
            "com.example.app",
        );
        assert_eq!(
            body(&request),
            json!({"aps": {"alert": "Hi", "badge": 3, "sound": "default"}, "uri": "app://x", "score": 7})
        );
        assert_eq!(
            Value::Object(headers(&request)),
            json!({"apns-topic": "com.example.app", "apns-push-type": "alert", "apns-priority": "10",
                   "apns-expiration": "0", "content-type": "application/json"})
        );
    }

    #[test]
    fn a_title_makes_the_alert_an_object() {
        let request = Request::new(
            &notification(json!({"alert": "Body", "title": "Title", "category": "c", "threadId": "t",
                                 "mutable-content": 1, "badge": "5"})),
            None,
            "t",
        );
        assert_eq!(
            body(&request),
            json!({"aps": {"alert": {"title": "Title", "body": "Body"}, "category": "c", "thread-id": "t",
                           "mutable-content": 1, "badge": 5}})
        );
        let request = Request::new(&notification(json!({"title": "Only"})), None, "t");
        assert_eq!(body(&request), json!({"aps": {"alert": {"title": "Only"}}}));
        let request =
            Request::new(&notification(json!({"alert": {"body": "B", "loc-key": "K"}, "title": "T"})), None, "t");
        assert_eq!(body(&request), json!({"aps": {"alert": {"body": "B", "loc-key": "K", "title": "T"}}}));
    }

    #[test]
    fn silent_notifications_are_background_at_priority_5() {
        let mut silent = notification(json!({"content-available": 1, "sync": true}));
        silent.expires_at = Some(1_700_000_000);
        let request = Request::new(&silent, None, "t");
        assert_eq!(body(&request), json!({"aps": {"content-available": 1}, "sync": true}));
        let headers = headers(&request);
        assert_eq!(headers["apns-push-type"], "background");
        assert_eq!(headers["apns-priority"], "5");
        assert_eq!(headers["apns-expiration"], "1700000000");

        let visible = Request::new(&notification(json!({"content-available": 1, "alert": "x"})), None, "t");
        assert_eq!(headers_of(&visible, "apns-push-type"), "alert");
    }

    fn headers_of(request: &Request, name: &str) -> String {
        headers(request)[name].as_str().unwrap().to_owned()
    }

    #[test]
    fn data_and_configuration_override_the_headers() {
        let request = Request::new(
            &notification(json!({"alert": "x", "push_type": "voip", "priority": 5, "collapse_id": "score"})),
            Some("location"),
            "t",
        );
        assert_eq!(headers_of(&request, "apns-push-type"), "voip");
        assert_eq!(headers_of(&request, "apns-priority"), "5");
        assert_eq!(headers_of(&request, "apns-collapse-id"), "score");
        assert_eq!(body(&request), json!({"aps": {"alert": "x"}}));
        let request = Request::new(&notification(json!({"alert": "x"})), Some("location"), "t");
        assert_eq!(headers_of(&request, "apns-push-type"), "location");
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec(), retry_after: None }
    }

    fn failed(reason: &str, token_gone: bool) -> Attempt<Outcome> {
        Attempt::Done(Outcome::Failed { reason: reason.into(), token_gone })
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(&answer(200, "")), Attempt::Done(Outcome::Sent));
        assert_eq!(classify(&answer(410, r#"{"reason":"Unregistered","timestamp":1}"#)), failed("Unregistered", true));
        assert_eq!(classify(&answer(400, r#"{"reason":"BadDeviceToken"}"#)), failed("BadDeviceToken", true));
        assert_eq!(
            classify(&answer(400, r#"{"reason":"DeviceTokenNotForTopic"}"#)),
            failed("DeviceTokenNotForTopic", true)
        );
        assert_eq!(classify(&answer(400, r#"{"reason":"PayloadTooLarge"}"#)), failed("PayloadTooLarge", false));
        assert_eq!(
            classify(&answer(403, r#"{"reason":"InvalidProviderToken"}"#)),
            failed("InvalidProviderToken", false)
        );
        assert_eq!(classify(&answer(404, "")), failed("APNs answered 404 Not Found", false));
        assert!(matches!(classify(&answer(403, r#"{"reason":"ExpiredProviderToken"}"#)), Attempt::Retry { .. }));
        let mut throttled = answer(429, r#"{"reason":"TooManyRequests"}"#);
        throttled.retry_after = Some(Duration::from_secs(2));
        assert_eq!(
            classify(&throttled),
            Attempt::Retry {
                reason: "APNs answered 429 Too Many Requests: TooManyRequests".into(),
                after: Some(Duration::from_secs(2))
            }
        );
        assert!(matches!(classify(&answer(503, "")), Attempt::Retry { .. }));
    }

    #[test]
    fn the_provider_token_verifies_with_the_public_key() {
        let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let key = ec_signing_key(&pem, "ios.token.key").unwrap();
        let jwt = provider_token(&key, "KEY123", "TEAM456", 1_700_000_000).unwrap();

        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("KEY123"));
        let public = secret.public_key().to_sec1_bytes();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims =
            jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_ec_der(&public), &validation).unwrap().claims;
        assert_eq!(claims, json!({"iss": "TEAM456", "iat": 1_700_000_000}));

        // A SEC1 key (`BEGIN EC PRIVATE KEY`) is taken too.
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        assert!(ec_signing_key(&sec1, "k").is_ok());
        assert!(ec_signing_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "k").is_err());
    }

    fn section(extra: Value) -> Map<String, Value> {
        let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let mut section = json!({"token": {"key": pem, "keyId": "K", "teamId": "T"}, "bundleId": "com.example"});
        section.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        section.as_object().unwrap().clone()
    }

    #[test]
    fn production_url_and_topic_come_from_the_section() {
        let apns = Apns::new(&section(json!({})), "ios", &Tuning::default()).unwrap();
        assert_eq!((apns.base.as_str(), apns.topic.as_str()), (SANDBOX_URL, "com.example"));
        let apns =
            Apns::new(&section(json!({"production": true, "topic": "com.other"})), "ios", &Tuning::default()).unwrap();
        assert_eq!((apns.base.as_str(), apns.topic.as_str()), (PRODUCTION_URL, "com.other"));
        let apns = Apns::new(
            &section(json!({"production": true, "url": "https://127.0.0.1:8443/"})),
            "ios",
            &Tuning::default(),
        )
        .unwrap();
        assert_eq!(apns.base, "https://127.0.0.1:8443");
    }

    #[test]
    fn the_provider_token_is_kept_until_it_is_forgotten() {
        let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let key = ec_signing_key(&secret.to_pkcs8_pem(LineEnding::LF).unwrap(), "k").unwrap();
        let token = ProviderToken { key, key_id: "K".into(), team_id: "T".into(), current: Mutex::new(None) };
        let first = token.get().unwrap();
        assert_eq!(token.get().unwrap(), first);
        token.forget();
        assert!(token.current.lock().unwrap().is_none());
        assert!(token.get().is_ok());
    }
}
