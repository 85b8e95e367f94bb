//! Firebase Cloud Messaging, HTTP v1 API: an OAuth2 access token obtained from a service account
//! (an RS256 JWT assertion exchanged at the account's `token_uri`, kept until a minute before it
//! expires), then one `messages:send` request per device.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, Semaphore};

use crate::delivery::{self, Answer, Attempt, Tuning};
use crate::{ConfigError, Device, Notification, Outcome, apns, config};

const FCM_URL: &str = "https://fcm.googleapis.com";
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, form-encoded.
const GRANT_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
/// How long an assertion is valid.
const ASSERTION_LIFETIME: i64 = 3600;
/// An access token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The provider's name in reasons.
const NAME: &str = "FCM";

/// FCM for one device type.
pub(crate) struct Fcm {
    client: reqwest::Client,
    send_url: String,
    account: ServiceAccount,
    token: Mutex<Option<AccessToken>>,
    /// The device type is an Apple one: the message carries an `apns` block, not `android`.
    apple: bool,
    limit: Semaphore,
    tuning: Tuning,
}

/// What of the service account signs the assertion.
struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    key: EncodingKey,
    token_uri: String,
}

/// An access token and when to replace it.
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

/// An RSA private key (PKCS#8 or PKCS#1 PEM) as the PKCS#1 DER key jsonwebtoken signs RS256 with.
pub(crate) fn rsa_signing_key(pem: &str, what: &str) -> Result<EncodingKey, ConfigError> {
    let pem = if pem.contains('\n') { pem.trim().to_owned() } else { pem.trim().replace("\\n", "\n") };
    let key = rsa::PrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(&pem))
        .map_err(|error| ConfigError(format!("{what} is not an RSA private key: {error}")))?;
    let der = key.to_pkcs1_der().map_err(|error| ConfigError(format!("{what}: cannot encode the key: {error}")))?;
    Ok(EncodingKey::from_rsa_der(der.as_bytes()))
}

/// The OAuth2 assertion: RS256 claims `iss`, `scope`, `aud` (the token URI), `iat`, `exp`.
fn assertion(account: &ServiceAccount, issued_at: i64) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid.clone_from(&account.key_id);
    let claims = json!({
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": issued_at,
        "exp": issued_at + ASSERTION_LIFETIME,
    });
    jsonwebtoken::encode(&header, &claims, &account.key)
}

/// The service account: the path of its JSON file, the JSON text, or the object itself.
fn service_account(value: &Value, what: &str) -> Result<Map<String, Value>, ConfigError> {
    let parse = |text: &str| {
        serde_json::from_str::<Value>(text)
            .map_err(|error| ConfigError(format!("{what} is not a service account JSON: {error}")))
    };
    let value = match value {
        Value::String(text) if text.trim_start().starts_with('{') => parse(text)?,
        Value::String(path) => parse(&config::read(path, what)?)?,
        other => other.clone(),
    };
    match value {
        Value::Object(account) => Ok(account),
        _ => Err(ConfigError(format!("{what} must be a service account (a path or an object)"))),
    }
}

impl Fcm {
    /// FCM from the section of `device_type`.
    pub(crate) fn new(section: &Map<String, Value>, device_type: &str, tuning: &Tuning) -> Result<Fcm, ConfigError> {
        let what = format!("{device_type}.firebaseServiceAccount");
        let Some(account) = section.get("firebaseServiceAccount") else {
            return Err(ConfigError(if section.contains_key("apiKey") {
                format!(
                    "{device_type}.apiKey: the legacy FCM API is gone; give firebaseServiceAccount (a service account JSON)"
                )
            } else {
                format!("{what} is missing")
            }));
        };
        let account = service_account(account, &what)?;
        let field = |key: &str| config::required(&account, key, &format!("{what}.{key}"));
        let project_id = field("project_id")?;
        let client_email = field("client_email")?.to_owned();
        let key = rsa_signing_key(field("private_key")?, &format!("{what}.private_key"))?;
        let token_uri = config::optional(&account, "token_uri", &format!("{what}.token_uri"))?
            .filter(|uri| !uri.is_empty())
            .unwrap_or(TOKEN_URI)
            .to_owned();
        if !matches!(reqwest::Url::parse(&token_uri), Ok(url) if matches!(url.scheme(), "http" | "https")) {
            return Err(ConfigError(format!("{what}.token_uri is not an http(s) URL: {token_uri}")));
        }
        let key_id =
            config::optional(&account, "private_key_id", &format!("{what}.private_key_id"))?.map(str::to_owned);
        let account = ServiceAccount { client_email, key_id, key, token_uri };
        assertion(&account, 0)
            .map_err(|error| ConfigError(format!("{what}.private_key: cannot sign with it: {error}")))?;
        let base = config::base_url(section, device_type, FCM_URL)?;
        Ok(Fcm {
            client: delivery::build_client(tuning.client(), device_type)?,
            send_url: format!("{base}/v1/projects/{project_id}/messages:send"),
            account,
            token: Mutex::new(None),
            apple: matches!(device_type, "ios" | "osx" | "tvos"),
            limit: tuning.semaphore(),
            tuning: tuning.clone(),
        })
    }

    /// Sends `notification` to each of `devices`.
    pub(crate) async fn send(&self, notification: &Notification, devices: Vec<&Device>) -> Vec<crate::Delivery> {
        let message = &message(&notification.data, notification.expires_at, self.apple, delivery::unix_now());
        delivery::each_device(devices, self.tuning.concurrency, move |device| async move {
            let mut message = message.clone();
            message.insert("token".into(), Value::from(device.device_token.as_str()));
            let body = json!({"message": message}).to_string();
            let result = delivery::with_retries(&self.tuning, || self.attempt(&body)).await;
            result.unwrap_or_else(|reason| Outcome::Failed { reason, token_gone: false })
        })
        .await
    }

    async fn attempt(&self, body: &str) -> Attempt<Outcome> {
        let _permit = self.limit.acquire().await.ok();
        let access = match self.access_token().await {
            Ok(access) => access,
            Err(attempt) => return attempt,
        };
        let response = self
            .client
            .post(&self.send_url)
            .header("authorization", format!("Bearer {access}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await;
        let answer = Answer::of(response).await;
        match answer {
            Ok(answer) if answer.status == 401 => {
                self.forget(&access).await;
                Attempt::Retry { reason: format!("{NAME} answered 401 Unauthorized: {}", answer.text()), after: None }
            }
            Ok(answer) => classify(&answer),
            Err(error) => delivery::unreachable(NAME, &error),
        }
    }

    /// The access token, fetched when there is none or it is about to expire (one fetch at a
    /// time: the others wait for it). A failure is the attempt to answer.
    async fn access_token(&self) -> Result<String, Attempt<Outcome>> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let assertion = assertion(&self.account, delivery::unix_now()).map_err(|error| {
            Attempt::Done(Outcome::Failed {
                reason: format!("{NAME}: cannot sign the OAuth assertion: {error}"),
                token_gone: false,
            })
        })?;
        let response = self
            .client
            .post(&self.account.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type={GRANT_TYPE}&assertion={assertion}"))
            .send()
            .await;
        let answer = Answer::of(response).await;
        let answer = answer.map_err(|error| delivery::unreachable("FCM OAuth", &error))?;
        let (value, lifetime) = token_answer(&answer)?;
        tracing::debug!(lifetime_secs = lifetime.as_secs(), "FCM access token obtained");
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *cached = Some(AccessToken { value: value.clone(), refresh_at });
        Ok(value)
    }

    /// Drops the access token `used` (FCM refused it), unless another one replaced it meanwhile.
    async fn forget(&self, used: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|token| token.value == used) {
            *cached = None;
        }
    }
}

/// The token endpoint's answer: the access token and how long it lives, or the attempt to answer.
fn token_answer(answer: &Answer) -> Result<(String, Duration), Attempt<Outcome>> {
    let json = answer.json();
    if answer.status == 200
        && let Some(token) = json.get("access_token").and_then(Value::as_str)
    {
        let lifetime = json.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        return Ok((token.to_owned(), Duration::from_secs(lifetime)));
    }
    let error = match (json.get("error").and_then(Value::as_str), json.get("error_description").and_then(Value::as_str))
    {
        (Some(error), Some(description)) => format!("{error}: {description}"),
        (Some(error), None) => error.to_owned(),
        _ => answer.text(),
    };
    let reason = format!("FCM OAuth answered {}: {error}", delivery::status_text(answer.status));
    if delivery::is_retryable(answer.status) {
        Err(Attempt::Retry { reason, after: answer.retry_after })
    } else {
        Err(Attempt::Done(Outcome::Failed { reason, token_gone: false }))
    }
}

/// A data value as FCM takes it: strings as they are, anything else as JSON.
fn as_string(value: &Value) -> Value {
    match value {
        Value::String(_) => value.clone(),
        other => Value::String(other.to_string()),
    }
}

/// Keys Apple reads as integers, which FCM refuses inside Android data.
const APPLE_INTEGER_KEYS: [&str; 4] = ["badge", "content-available", "mutable-content", "priority"];

/// A push id for the Parse Android SDK (which drops a push id it has seen): unique per message.
fn push_id(now: i64) -> String {
    static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sent = SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}{:04x}", now, sent & 0xffff)
}

/// The message, less its `token`. Android devices get the shape the Parse Android SDK reads:
/// `android.data = {push_id, time, data: "<the push data as JSON>"}` (and `android.notification`
/// when the data names one); Apple devices the APNs payload in `apns`.
pub(crate) fn message(data: &Map<String, Value>, expires_at: Option<i64>, apple: bool, now: i64) -> Map<String, Value> {
    let mut message = Map::new();
    let ttl = expires_at.map(|expires_at| (expires_at - now).max(0));
    if apple {
        let mut shown = Map::new();
        let (title, body) = crate::Notification::title_and_body(data);
        if let Some(title) = title {
            shown.insert("title".into(), as_string(title));
        }
        if let Some(body) = body {
            shown.insert("body".into(), as_string(body));
        }
        if !shown.is_empty() {
            message.insert("notification".into(), Value::Object(shown));
        }
        let background = apns::is_background(data);
        let mut headers = Map::new();
        headers.insert("apns-priority".into(), Value::from(if background { "5" } else { "10" }));
        headers.insert("apns-push-type".into(), Value::from(if background { "background" } else { "alert" }));
        if let Some(expires_at) = expires_at {
            headers.insert("apns-expiration".into(), Value::from(expires_at.max(0).to_string()));
        }
        message.insert("apns".into(), json!({"headers": headers, "payload": apns::payload(data)}));
    } else {
        let high = match data.get("priority") {
            Some(Value::String(priority)) => priority != "normal",
            Some(Value::Number(priority)) => priority.as_f64().is_none_or(|priority| priority > 5.0),
            _ => true,
        };
        let mut android = Map::new();
        android.insert("priority".into(), Value::from(if high { "high" } else { "normal" }));
        if let Some(ttl) = ttl {
            android.insert("ttl".into(), Value::from(format!("{ttl}s")));
        }
        if let Some(Value::Object(notification)) = data.get("notification") {
            android.insert("notification".into(), Value::Object(notification.clone()));
        }
        let carried: Map<String, Value> = data
            .iter()
            .filter(|(key, _)| !APPLE_INTEGER_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let time = iso_time(now);
        android.insert(
            "data".into(),
            json!({"push_id": push_id(now), "time": time, "data": Value::Object(carried).to_string()}),
        );
        message.insert("android".into(), Value::Object(android));
    }
    message
}

/// `now` (Unix seconds) as ISO 8601 in UTC, as the Parse Android SDK reads a push's `time`.
fn iso_time(now: i64) -> String {
    jiff::Timestamp::from_second(now)
        .map_or_else(|_| String::new(), |at| at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// What an FCM answer means.
pub(crate) fn classify(answer: &Answer) -> Attempt<Outcome> {
    if answer.status == 200 {
        return Attempt::Done(Outcome::Sent);
    }
    let json = answer.json();
    let error = json.get("error");
    let status = error.and_then(|error| error.get("status")).and_then(Value::as_str).unwrap_or_default();
    let message = error.and_then(|error| error.get("message")).and_then(Value::as_str).unwrap_or_default();
    let unregistered_detail =
        error.and_then(|error| error.get("details")).and_then(Value::as_array).is_some_and(|details| {
            details.iter().any(|detail| detail.get("errorCode").and_then(Value::as_str) == Some("UNREGISTERED"))
        });
    let described = match (status, message) {
        ("", "") => format!("{NAME} answered {}", delivery::status_text(answer.status)),
        ("", message) => message.to_owned(),
        (status, "") => status.to_owned(),
        (status, message) => format!("{status}: {message}"),
    };
    if delivery::is_retryable(answer.status) {
        return Attempt::Retry {
            reason: format!("{NAME} answered {}: {described}", delivery::status_text(answer.status)),
            after: answer.retry_after,
        };
    }
    let bad_token = status == "INVALID_ARGUMENT" && message.to_lowercase().contains("registration token");
    if answer.status == 404 || status == "UNREGISTERED" || unregistered_detail {
        let reason =
            if unregistered_detail || status == "UNREGISTERED" { "UNREGISTERED".to_owned() } else { described };
        return Attempt::Done(Outcome::Failed { reason, token_gone: true });
    }
    Attempt::Done(Outcome::Failed { reason: described, token_gone: bad_token })
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use jsonwebtoken::{DecodingKey, Validation};
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    use super::*;

    /// A test RSA key (generated once: generation is slow).
    fn rsa_key() -> &'static rsa::PrivateKey {
        static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap())
    }

    fn pem() -> String {
        rsa_key().to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
    }

    fn section(account: Value) -> Map<String, Value> {
        json!({"firebaseServiceAccount": account}).as_object().unwrap().clone()
    }

    fn account() -> Value {
        json!({"type": "service_account", "project_id": "demo", "private_key_id": "kid1", "private_key": pem(),
               "client_email": "push@demo.iam.gserviceaccount.com", "token_uri": "https://oauth2.example/token"})
    }

    #[test]
    fn the_assertion_verifies_with_the_public_key() {
        let fcm = Fcm::new(&section(account()), "android", &Tuning::default()).unwrap();
        assert_eq!(fcm.send_url, "https://fcm.googleapis.com/v1/projects/demo/messages:send");
        assert!(!fcm.apple);
        let jwt = assertion(&fcm.account, 1_700_000_000).unwrap();

        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("kid1"));
        let public = rsa_key().to_public_key().to_pkcs1_der().unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://oauth2.example/token"]);
        let claims = jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_rsa_der(public.as_bytes()), &validation)
            .unwrap()
            .claims;
        assert_eq!(
            claims,
            json!({"iss": "push@demo.iam.gserviceaccount.com", "scope": SCOPE, "aud": "https://oauth2.example/token",
                   "iat": 1_700_000_000, "exp": 1_700_003_600})
        );
    }

    #[test]
    fn bad_service_accounts_are_configuration_errors() {
        let error =
            |account: Value| Fcm::new(&section(account), "android", &Tuning::default()).err().unwrap().to_string();
        let mut missing = account();
        missing.as_object_mut().unwrap().remove("client_email");
        assert_eq!(error(missing), "push configuration: android.firebaseServiceAccount.client_email is missing");
        let mut bad_key = account();
        bad_key["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assert!(
            error(bad_key).starts_with("push configuration: android.firebaseServiceAccount.private_key is not an RSA")
        );
        assert!(error(json!("/nonexistent/sa.json")).contains("cannot read /nonexistent/sa.json"));
        assert!(error(json!("{not json")).contains("is not a service account JSON"));
        let legacy = Fcm::new(json!({"apiKey": "x"}).as_object().unwrap(), "android", &Tuning::default());
        assert!(legacy.err().unwrap().to_string().contains("legacy FCM API"));
    }

    #[test]
    fn the_service_account_may_be_json_text_and_the_url_replaced() {
        let mut with_url = section(Value::String(account().to_string()));
        with_url.insert("url".into(), json!("http://127.0.0.1:9"));
        let fcm = Fcm::new(&with_url, "ios", &Tuning::default()).unwrap();
        assert_eq!(fcm.send_url, "http://127.0.0.1:9/v1/projects/demo/messages:send");
        assert!(fcm.apple);
    }

    #[test]
    fn android_messages_have_the_shape_the_parse_android_sdk_reads() {
        let data = json!({"alert": "Hello", "title": "Greeting", "badge": 2, "extra": {"a": [1]}, "flag": true});
        let mut message = message(data.as_object().unwrap(), Some(1_000_100), false, 1_000_000);
        let android = message.remove("android").unwrap();
        assert!(message.is_empty(), "{message:?}");
        assert_eq!((&android["priority"], &android["ttl"]), (&json!("high"), &json!("100s")));
        assert_eq!(android["data"]["time"], json!("1970-01-12T13:46:40.000Z"));
        assert!(android["data"]["push_id"].as_str().is_some_and(|id| !id.is_empty()));
        let carried: Value = serde_json::from_str(android["data"]["data"].as_str().unwrap()).unwrap();
        assert_eq!(carried, json!({"alert": "Hello", "title": "Greeting", "extra": {"a": [1]}, "flag": true}));
        assert!(android.get("notification").is_none());

        let data = json!({"content-available": 1, "priority": "normal", "notification": {"title": "Shown"}});
        let message = super::message(data.as_object().unwrap(), None, false, 0);
        assert_eq!(message["android"]["priority"], json!("normal"));
        assert_eq!(message["android"]["notification"], json!({"title": "Shown"}));
        assert_eq!(message["android"]["data"]["data"], json!(json!({"notification": {"title": "Shown"}}).to_string()));
    }

    #[test]
    fn apple_messages_carry_the_aps_payload() {
        let data = json!({"alert": "Hi", "sound": "default"});
        let message = message(data.as_object().unwrap(), Some(50), true, 0);
        assert_eq!(
            message["apns"],
            json!({"headers": {"apns-priority": "10", "apns-push-type": "alert", "apns-expiration": "50"},
                   "payload": {"aps": {"alert": "Hi", "sound": "default"}}})
        );
        assert!(!message.contains_key("android"));
        assert_eq!(message["notification"], json!({"body": "Hi"}));
    }

    fn answer(status: u16, body: Value) -> Answer {
        Answer { status, body: body.to_string().into_bytes(), retry_after: None }
    }

    fn failed(reason: &str, token_gone: bool) -> Attempt<Outcome> {
        Attempt::Done(Outcome::Failed { reason: reason.into(), token_gone })
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(&answer(200, json!({"name": "projects/demo/messages/1"}))), Attempt::Done(Outcome::Sent));
        assert_eq!(
            classify(&answer(
                404,
                json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found.",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}})
            )),
            failed("UNREGISTERED", true)
        );
        assert_eq!(classify(&answer(404, json!({}))), failed("FCM answered 404 Not Found", true));
        assert_eq!(
            classify(&answer(
                400,
                json!({"error": {"status": "INVALID_ARGUMENT",
                "message": "The registration token is not a valid FCM registration token"}})
            )),
            failed("INVALID_ARGUMENT: The registration token is not a valid FCM registration token", true)
        );
        assert_eq!(
            classify(&answer(400, json!({"error": {"status": "INVALID_ARGUMENT", "message": "Invalid JSON payload"}}))),
            failed("INVALID_ARGUMENT: Invalid JSON payload", false)
        );
        assert_eq!(
            classify(&answer(403, json!({"error": {"status": "PERMISSION_DENIED", "message": "SenderId mismatch"}}))),
            failed("PERMISSION_DENIED: SenderId mismatch", false)
        );
        let mut throttled = answer(429, json!({"error": {"status": "RESOURCE_EXHAUSTED", "message": "quota"}}));
        throttled.retry_after = Some(Duration::from_secs(4));
        assert_eq!(
            classify(&throttled),
            Attempt::Retry {
                reason: "FCM answered 429 Too Many Requests: RESOURCE_EXHAUSTED: quota".into(),
                after: Some(Duration::from_secs(4))
            }
        );
        assert!(matches!(classify(&answer(503, json!({}))), Attempt::Retry { .. }));
    }

    #[test]
    fn token_answers_are_read() {
        let (token, lifetime) =
            token_answer(&answer(200, json!({"access_token": "ya29.x", "expires_in": 3599}))).unwrap();
        assert_eq!((token.as_str(), lifetime), ("ya29.x", Duration::from_secs(3599)));
        assert_eq!(
            token_answer(&answer(
                400,
                json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            ))
            .unwrap_err(),
            failed("FCM OAuth answered 400 Bad Request: invalid_grant: Invalid JWT Signature.", false)
        );
        assert!(matches!(token_answer(&answer(500, json!({}))).unwrap_err(), Attempt::Retry { .. }));
    }
}
