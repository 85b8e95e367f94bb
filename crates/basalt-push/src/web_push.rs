//! Web Push (RFC 8030) to the endpoint of a browser's push subscription: the payload encrypted
//! with RFC 8291 `aes128gcm` (by the `web-push-native` crate) and the sender identified by VAPID
//! (RFC 8292), an ES256 JWT per push service origin. The device token is the subscription's JSON
//! (`{"endpoint", "keys": {"p256dh", "auth"}}`). Endpoints name their push service; a `url` in
//! the section replaces every endpoint's scheme, host and port (the VAPID audience stays the
//! endpoint's own origin), to send to a fake.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::delivery::{self, Answer, Attempt, Tuning};
use crate::{ConfigError, Device, Notification, Outcome, config};

/// How long a VAPID JWT is valid (the most RFC 8292 allows is 24 hours).
const VAPID_LIFETIME: i64 = 12 * 60 * 60;
/// How long a VAPID JWT is reused for an origin before a new one is made.
const VAPID_REUSE: i64 = VAPID_LIFETIME / 2;
/// How many origins' JWTs are kept (push services are few; past this the cache starts over).
const VAPID_ORIGINS: usize = 64;
/// The TTL when the notification does not expire: four weeks, the usual push service maximum.
const DEFAULT_TTL: i64 = 2_419_200;
/// The provider's name in reasons.
const NAME: &str = "Web Push";

/// Web Push with the application server's VAPID keys.
pub(crate) struct WebPush {
    client: reqwest::Client,
    /// Replaces the endpoints' origin.
    url: Option<reqwest::Url>,
    vapid: Vapid,
    limit: Semaphore,
    tuning: Tuning,
}

/// The VAPID identity and the JWTs made for each push service origin.
pub(crate) struct Vapid {
    key: EncodingKey,
    /// The public key, base64url (what `k=` carries).
    public_key: String,
    subject: String,
    tokens: Mutex<HashMap<String, (String, i64)>>,
}

/// Base64url with or without padding (standard base64 is taken too).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD.decode(text).or_else(|_| STANDARD_NO_PAD.decode(text)).ok()
}

impl Vapid {
    /// From `vapidDetails` (`what` names it in errors).
    pub(crate) fn new(details: &Map<String, Value>, what: &str) -> Result<Vapid, ConfigError> {
        let subject = config::required(details, "subject", &format!("{what}.subject"))?.to_owned();
        let public = config::required(details, "publicKey", &format!("{what}.publicKey"))?;
        let private = config::required(details, "privateKey", &format!("{what}.privateKey"))?;
        let private = decode_base64(private)
            .filter(|bytes| bytes.len() == 32)
            .ok_or_else(|| ConfigError(format!("{what}.privateKey must be 32 bytes in base64url")))?;
        let secret = p256::SecretKey::from_slice(&private)
            .map_err(|_| ConfigError(format!("{what}.privateKey is not a P-256 private key")))?;
        let public = decode_base64(public).filter(|bytes| bytes.len() == 65 && bytes[0] == 4).ok_or_else(|| {
            ConfigError(format!("{what}.publicKey must be a 65-byte uncompressed P-256 point in base64url"))
        })?;
        if *secret.public_key().to_sec1_bytes() != *public {
            return Err(ConfigError(format!("{what}.publicKey is not the public key of {what}.privateKey")));
        }
        let der = secret.to_pkcs8_der().map_err(|error| ConfigError(format!("{what}.privateKey: {error}")))?;
        Ok(Vapid {
            key: EncodingKey::from_ec_der(der.as_bytes()),
            public_key: URL_SAFE_NO_PAD.encode(&public),
            subject,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The `authorization` header for a push service at `audience` (its origin), as of `now`.
    pub(crate) fn authorization(&self, audience: &str, now: i64) -> Result<String, String> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let jwt = match tokens.get(audience) {
            Some((jwt, made)) if now - made < VAPID_REUSE => jwt.clone(),
            _ => {
                let claims = json!({"aud": audience, "exp": now + VAPID_LIFETIME, "sub": self.subject});
                let jwt = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
                    .map_err(|error| format!("{NAME}: cannot sign the VAPID token: {error}"))?;
                if tokens.len() >= VAPID_ORIGINS {
                    tokens.clear();
                }
                tokens.insert(audience.to_owned(), (jwt.clone(), now));
                jwt
            }
        };
        Ok(format!("vapid t={jwt}, k={}", self.public_key))
    }
}

/// A browser's push subscription.
pub(crate) struct Subscription {
    pub(crate) endpoint: reqwest::Url,
    p256dh: web_push_native::p256::PublicKey,
    auth: web_push_native::Auth,
}

impl Subscription {
    /// Parses the subscription JSON a device token holds.
    pub(crate) fn parse(token: &str) -> Option<Subscription> {
        let json: Value = serde_json::from_str(token).ok()?;
        let endpoint = reqwest::Url::parse(json.get("endpoint")?.as_str()?).ok()?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host().is_none() {
            return None;
        }
        let keys = json.get("keys")?;
        let p256dh = decode_base64(keys.get("p256dh")?.as_str()?)?;
        let p256dh = web_push_native::p256::PublicKey::from_sec1_bytes(&p256dh).ok()?;
        let auth = decode_base64(keys.get("auth")?.as_str()?)?;
        let auth = web_push_native::Auth::from_exact_iter(auth)?;
        Some(Subscription { endpoint, p256dh, auth })
    }

    /// `payload` encrypted for this subscription (`aes128gcm`, one record).
    pub(crate) fn encrypt(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        web_push_native::encrypt(payload.to_vec(), &self.p256dh, &self.auth)
            .map_err(|error| format!("{NAME}: cannot encrypt the payload: {error}"))
    }

    /// The push service's origin, the VAPID audience.
    pub(crate) fn audience(&self) -> String {
        self.endpoint.origin().ascii_serialization()
    }
}

/// The TTL header: seconds until the notification expires, else four weeks.
pub(crate) fn ttl(expires_at: Option<i64>, now: i64) -> i64 {
    expires_at.map_or(DEFAULT_TTL, |expires_at| (expires_at - now).max(0))
}

impl WebPush {
    /// Web Push from the `web` section.
    pub(crate) fn new(
        section: &Map<String, Value>,
        device_type: &str,
        tuning: &Tuning,
    ) -> Result<WebPush, ConfigError> {
        let what = format!("{device_type}.vapidDetails");
        let details = section.get("vapidDetails").ok_or_else(|| ConfigError(format!("{what} is missing")))?;
        let vapid = Vapid::new(config::section(details, &what)?, &what)?;
        let url = match section.get("url").filter(|url| !url.is_null()) {
            Some(_) => {
                let url = config::base_url(section, device_type, "")?;
                Some(reqwest::Url::parse(&url).map_err(|_| ConfigError(format!("{device_type}.url is not a URL")))?)
            }
            None => None,
        };
        Ok(WebPush {
            client: delivery::build_client(tuning.client(), device_type)?,
            url,
            vapid,
            limit: tuning.semaphore(),
            tuning: tuning.clone(),
        })
    }

    /// Sends `notification` to each of `devices`.
    pub(crate) async fn send(&self, notification: &Notification, devices: Vec<&Device>) -> Vec<crate::Delivery> {
        let payload = &Value::Object(notification.data.clone()).to_string().into_bytes();
        let ttl = ttl(notification.expires_at, delivery::unix_now());
        delivery::each_device(devices, self.tuning.concurrency, move |device| async move {
            let Some(subscription) = Subscription::parse(&device.device_token) else {
                return Outcome::Failed { reason: "invalid subscription".into(), token_gone: true };
            };
            let body = match subscription.encrypt(payload) {
                Ok(body) => body,
                Err(reason) => return Outcome::Failed { reason, token_gone: false },
            };
            let result = delivery::with_retries(&self.tuning, || self.attempt(&subscription, &body, ttl)).await;
            result.unwrap_or_else(|reason| Outcome::Failed { reason, token_gone: false })
        })
        .await
    }

    /// Where a push to `endpoint` goes: the endpoint, or its path and query under `url`.
    fn target(&self, endpoint: &reqwest::Url) -> reqwest::Url {
        let Some(url) = &self.url else {
            return endpoint.clone();
        };
        let mut target = url.clone();
        let base_path = url.path().trim_end_matches('/');
        target.set_path(&format!("{base_path}{}", endpoint.path()));
        target.set_query(endpoint.query());
        target
    }

    async fn attempt(&self, subscription: &Subscription, body: &[u8], ttl: i64) -> Attempt<Outcome> {
        let _permit = self.limit.acquire().await.ok();
        let authorization = match self.vapid.authorization(&subscription.audience(), delivery::unix_now()) {
            Ok(authorization) => authorization,
            Err(reason) => return Attempt::Done(Outcome::Failed { reason, token_gone: false }),
        };
        let response = self
            .client
            .post(self.target(&subscription.endpoint))
            .header("authorization", authorization)
            .header("ttl", ttl.to_string())
            .header("content-encoding", "aes128gcm")
            .header("content-type", "application/octet-stream")
            .body(body.to_vec())
            .send()
            .await;
        let answer = Answer::of(response).await;
        match answer {
            Ok(answer) => classify(&answer),
            Err(error) => delivery::unreachable(NAME, &error),
        }
    }
}

/// What a push service's answer means.
pub(crate) fn classify(answer: &Answer) -> Attempt<Outcome> {
    let described = || {
        let text = answer.text();
        let status = delivery::status_text(answer.status);
        if text.is_empty() { format!("{NAME} answered {status}") } else { format!("{NAME} answered {status}: {text}") }
    };
    match answer.status {
        200..=202 => Attempt::Done(Outcome::Sent),
        404 | 410 => Attempt::Done(Outcome::Failed { reason: delivery::status_text(answer.status), token_gone: true }),
        status if delivery::is_retryable(status) => Attempt::Retry { reason: described(), after: answer.retry_after },
        _ => Attempt::Done(Outcome::Failed { reason: described(), token_gone: false }),
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};
    use p256::elliptic_curve::Generate;

    use super::*;

    fn keys() -> (p256::SecretKey, Map<String, Value>) {
        let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let details = json!({
            "subject": "mailto:push@example.com",
            "publicKey": URL_SAFE_NO_PAD.encode(secret.public_key().to_sec1_bytes()),
            "privateKey": URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        });
        (secret, details.as_object().unwrap().clone())
    }

    #[test]
    fn the_vapid_token_verifies_with_the_public_key() {
        let (secret, details) = keys();
        let vapid = Vapid::new(&details, "web.vapidDetails").unwrap();
        let header = vapid.authorization("https://fcm.googleapis.com", 1_700_000_000).unwrap();
        let (jwt, public) = header.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(public, details["publicKey"]);

        assert_eq!(jsonwebtoken::decode_header(jwt).unwrap().alg, Algorithm::ES256);
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.set_audience(&["https://fcm.googleapis.com"]);
        let key = DecodingKey::from_ec_der(&secret.public_key().to_sec1_bytes());
        let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation).unwrap().claims;
        assert_eq!(
            claims,
            json!({"aud": "https://fcm.googleapis.com", "exp": 1_700_043_200, "sub": "mailto:push@example.com"})
        );

        // Kept for the origin a while, then made anew.
        assert_eq!(vapid.authorization("https://fcm.googleapis.com", 1_700_000_100).unwrap(), header);
        assert_ne!(vapid.authorization("https://fcm.googleapis.com", 1_700_000_000 + VAPID_REUSE).unwrap(), header);
    }

    #[test]
    fn vapid_keys_are_checked() {
        let (_, details) = keys();
        let (_, other) = keys();
        let mut mismatched = details.clone();
        mismatched.insert("publicKey".into(), other["publicKey"].clone());
        let error = Vapid::new(&mismatched, "web.vapidDetails").err().unwrap().to_string();
        assert_eq!(
            error,
            "push configuration: web.vapidDetails.publicKey is not the public key of web.vapidDetails.privateKey"
        );
        let mut short = details.clone();
        short.insert("privateKey".into(), json!("AAAA"));
        assert!(Vapid::new(&short, "w").is_err());
        let mut padded = details.clone();
        padded.insert("publicKey".into(), json!(format!("{}=", details["publicKey"].as_str().unwrap())));
        assert!(Vapid::new(&padded, "w").is_ok());
        let missing = WebPush::new(&Map::new(), "web", &Tuning::default()).err().unwrap().to_string();
        assert_eq!(missing, "push configuration: web.vapidDetails is missing");
    }

    /// A browser's side: its key pair and auth secret, and the subscription JSON it would give.
    fn browser(endpoint: &str) -> (web_push_native::p256::SecretKey, web_push_native::Auth, String) {
        let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let secret = web_push_native::p256::SecretKey::from_slice(&secret.to_bytes()).unwrap();
        let public = secret.public_key().to_sec1_bytes();
        let auth = [7u8; 16];
        let subscription = json!({"endpoint": endpoint,
            "keys": {"p256dh": URL_SAFE_NO_PAD.encode(public), "auth": URL_SAFE_NO_PAD.encode(auth)}});
        (secret, web_push_native::Auth::from_exact_iter(auth).unwrap(), subscription.to_string())
    }

    #[test]
    fn the_payload_decrypts_on_the_browser_side() {
        let (secret, auth, token) = browser("https://push.example.net/send/abc?x=1");
        let subscription = Subscription::parse(&token).unwrap();
        assert_eq!(subscription.audience(), "https://push.example.net");
        let payload = br#"{"alert":"Hello","badge":1}"#;
        let encrypted = subscription.encrypt(payload).unwrap();
        assert_ne!(&encrypted[..], &payload[..]);
        let decrypted = web_push_native::decrypt(encrypted, &secret, &auth).unwrap();
        assert_eq!(decrypted, payload);
    }

    #[test]
    fn malformed_subscriptions_are_refused() {
        let (_, _, token) = browser("https://push.example.net:8443/x");
        assert_eq!(Subscription::parse(&token).unwrap().audience(), "https://push.example.net:8443");
        let mut json: Value = serde_json::from_str(&token).unwrap();
        json["keys"]["auth"] = json!("AAAA");
        assert!(Subscription::parse(&json.to_string()).is_none());
        let mut json: Value = serde_json::from_str(&token).unwrap();
        json["endpoint"] = json!("mailto:x@example.com");
        assert!(Subscription::parse(&json.to_string()).is_none());
        assert!(Subscription::parse("deadbeef").is_none());
        assert!(Subscription::parse(r#"{"endpoint": "https://x.example"}"#).is_none());
    }

    #[test]
    fn a_url_replaces_the_endpoints_origin() {
        let (_, details) = keys();
        let section = |url: Value| json!({"vapidDetails": details, "url": url}).as_object().unwrap().clone();
        let endpoint = reqwest::Url::parse("https://fcm.googleapis.com/fcm/send/abc?x=1").unwrap();
        let web_push = WebPush::new(&section(Value::Null), "web", &Tuning::default()).unwrap();
        assert_eq!(web_push.target(&endpoint), endpoint);
        let web_push = WebPush::new(&section(json!("http://127.0.0.1:9/")), "web", &Tuning::default()).unwrap();
        assert_eq!(web_push.target(&endpoint).as_str(), "http://127.0.0.1:9/fcm/send/abc?x=1");
        let web_push = WebPush::new(&section(json!("http://127.0.0.1:9/fake")), "web", &Tuning::default()).unwrap();
        assert_eq!(web_push.target(&endpoint).as_str(), "http://127.0.0.1:9/fake/fcm/send/abc?x=1");
        assert!(WebPush::new(&section(json!("nope")), "web", &Tuning::default()).is_err());
    }

    #[test]
    fn ttl_counts_down_to_the_expiry() {
        assert_eq!(ttl(None, 100), 2_419_200);
        assert_eq!(ttl(Some(160), 100), 60);
        assert_eq!(ttl(Some(50), 100), 0);
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec(), retry_after: None }
    }

    #[test]
    fn answers_are_classified() {
        for status in [200, 201, 202] {
            assert_eq!(classify(&answer(status, "")), Attempt::Done(Outcome::Sent));
        }
        assert_eq!(
            classify(&answer(410, "push subscription has unsubscribed or expired.")),
            Attempt::Done(Outcome::Failed { reason: "410 Gone".into(), token_gone: true })
        );
        assert_eq!(
            classify(&answer(404, "")),
            Attempt::Done(Outcome::Failed { reason: "404 Not Found".into(), token_gone: true })
        );
        assert_eq!(
            classify(&answer(413, "too big")),
            Attempt::Done(Outcome::Failed {
                reason: "Web Push answered 413 Payload Too Large: too big".into(),
                token_gone: false
            })
        );
        assert!(matches!(classify(&answer(429, "")), Attempt::Retry { .. }));
        assert!(matches!(classify(&answer(502, "")), Attempt::Retry { .. }));
    }
}
