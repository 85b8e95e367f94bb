//! The providers against local fakes of FCM (token endpoint and `messages:send`), Expo and a Web
//! Push service over plain HTTP on 127.0.0.1: delivery, unregistered tokens, throttling with
//! `Retry-After` and a provider that is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use basalt_push::{Delivery, Device, Notification, Outcome, Providers, Tuning};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::Generate;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Map, Value, json};

/// What the fakes saw.
#[derive(Default)]
struct Seen {
    /// Token requests to the OAuth endpoint.
    token_requests: usize,
    /// Each request's JSON body, or the decrypted payload for Web Push.
    bodies: Vec<Value>,
    /// When each request for a device token or subscription arrived.
    times: HashMap<String, Vec<Instant>>,
    /// Web Push: each subscription's browser key and auth secret, to decrypt with.
    browsers: HashMap<String, (web_push_native::p256::SecretKey, web_push_native::Auth)>,
    /// Expo: how many whole requests to refuse with 429 before answering.
    expo_throttles: usize,
}

type Shared = Arc<Mutex<Seen>>;

/// Starts `router` on a free local port and answers its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("the fake serves") });
    format!("http://{address}")
}

/// A local URL nothing listens on.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
    let address = listener.local_addr().expect("its address");
    drop(listener);
    format!("http://{address}")
}

fn quick() -> Tuning {
    Tuning { backoff_base: Duration::from_millis(1), backoff_max: Duration::from_secs(2), ..Tuning::default() }
}

fn device(device_type: &str, token: &str) -> Device {
    Device {
        installation: format!("inst-{token}"),
        device_type: device_type.into(),
        device_token: token.into(),
        push_type: None,
    }
}

fn notification(data: Value) -> Notification {
    Notification { data: data.as_object().expect("an object").clone(), expires_at: None }
}

fn outcomes(mut deliveries: Vec<Delivery>) -> Vec<(String, Outcome)> {
    deliveries.sort_by(|a, b| a.installation.cmp(&b.installation));
    deliveries.into_iter().map(|delivery| (delivery.installation, delivery.outcome)).collect()
}

fn gone(reason: &str) -> Outcome {
    Outcome::Failed { reason: reason.into(), token_gone: true }
}

/// Records a request for `key` and answers how many came before it.
fn arrival(seen: &Shared, key: &str) -> usize {
    let mut seen = seen.lock().expect("the fakes' record");
    let times = seen.times.entry(key.to_owned()).or_default();
    times.push(Instant::now());
    times.len() - 1
}

fn gap(seen: &Shared, key: &str) -> Duration {
    let seen = seen.lock().expect("the fakes' record");
    let times = &seen.times[key];
    times[1] - times[0]
}

// FCM

/// The test service account's private key (generated once: RSA generation is slow).
fn rsa_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("an RSA key");
        key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM").to_string()
    })
}

async fn fcm_token(State(seen): State<Shared>, body: String) -> Response {
    assert!(body.starts_with("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="), "{body}");
    seen.lock().expect("the fakes' record").token_requests += 1;
    axum::Json(json!({"access_token": "fake-access", "expires_in": 3600, "token_type": "Bearer"})).into_response()
}

async fn fcm_send(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    assert_eq!(headers["authorization"], "Bearer fake-access");
    let body: Value = serde_json::from_slice(&body).expect("a JSON body");
    let token = body["message"]["token"].as_str().expect("a string").to_owned();
    let before = arrival(&seen, &token);
    seen.lock().expect("the fakes' record").bodies.push(body);
    match token.as_str() {
        "gone" => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found.",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}})),
        )
            .into_response(),
        "throttled" if before == 0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}})),
        )
            .into_response(),
        _ => axum::Json(json!({"name": format!("projects/demo/messages/{token}")})).into_response(),
    }
}

fn fcm_config(base: &str, token_uri: &str) -> Value {
    json!({"android": {
        "firebaseServiceAccount": {"type": "service_account", "project_id": "demo", "private_key": rsa_pem(),
            "client_email": "push@demo.iam.gserviceaccount.com", "token_uri": token_uri},
        "url": base,
    }})
}

#[tokio::test]
async fn fcm_sends_forgets_unregistered_tokens_and_honours_retry_after() {
    let seen = Shared::default();
    let router = Router::new()
        .route("/token", post(fcm_token))
        .route("/v1/projects/demo/messages:send", post(fcm_send))
        .with_state(seen.clone());
    let base = serve(router).await;
    let providers =
        Providers::from_config_with(&fcm_config(&base, &format!("{base}/token")), quick()).expect("providers");
    assert_eq!(providers.device_types(), ["android"]);

    let devices = [device("android", "good"), device("android", "gone"), device("android", "throttled")];
    let deliveries = providers.send(&notification(json!({"alert": "Hello", "badge": 2})), &devices).await;
    assert_eq!(
        outcomes(deliveries),
        [
            ("inst-gone".to_owned(), gone("UNREGISTERED")),
            ("inst-good".to_owned(), Outcome::Sent),
            ("inst-throttled".to_owned(), Outcome::Sent),
        ]
    );
    // Retry-After: 1 was honoured although the backoff is a millisecond.
    assert!(gap(&seen, "throttled") >= Duration::from_millis(900), "{:?}", gap(&seen, "throttled"));

    {
        let seen = seen.lock().expect("the fakes' record");
        assert_eq!(seen.token_requests, 1, "one access token for every request");
        let good = seen.bodies.iter().find(|body| body["message"]["token"] == "good").expect("the request for good");
        assert_eq!(good["message"]["android"]["priority"], json!("high"));
        let carried = good["message"]["android"]["data"]["data"].as_str().expect("the push data, as JSON");
        assert_eq!(serde_json::from_str::<serde_json::Value>(carried).expect("JSON"), json!({"alert": "Hello"}));
    }

    // The token is kept for the next send.
    let again = providers.send(&notification(json!({"alert": "Again"})), &[device("android", "good")]).await;
    assert_eq!(again[0].outcome, Outcome::Sent);
    assert_eq!(seen.lock().expect("the fakes' record").token_requests, 1);
}

#[tokio::test]
async fn fcm_down_fails_after_the_retries() {
    let down = closed_port().await;
    let providers =
        Providers::from_config_with(&fcm_config(&down, &format!("{down}/token")), quick()).expect("providers");
    let deliveries = providers.send(&notification(json!({"alert": "x"})), &[device("android", "t")]).await;
    let Outcome::Failed { reason, token_gone } = &deliveries[0].outcome else { panic!("{deliveries:?}") };
    assert!(!token_gone);
    assert!(reason.starts_with("FCM OAuth could not be reached: "), "{reason}");
    assert!(!reason.contains(&down), "the URL is left out: {reason}");
}

// Expo

async fn expo_send(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    assert_eq!(headers["authorization"], "Bearer expo-secret");
    let body: Value = serde_json::from_slice(&body).expect("a JSON body");
    {
        let mut seen = seen.lock().expect("the fakes' record");
        seen.bodies.push(body.clone());
        if seen.expo_throttles > 0 {
            seen.expo_throttles -= 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                axum::Json(json!({"errors": [
                {"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}]})),
            )
                .into_response();
        }
    }
    let tickets: Vec<Value> = body
        .as_array()
        .expect("an array")
        .iter()
        .map(|message| {
            let to = message["to"].as_str().expect("a string");
            if to.contains("Gone") {
                json!({"status": "error", "message": format!("\"{to}\" is not a registered push notification recipient"),
                       "details": {"error": "DeviceNotRegistered"}})
            } else {
                json!({"status": "ok", "id": format!("ticket-{to}")})
            }
        })
        .collect();
    axum::Json(json!({"data": tickets})).into_response()
}

#[tokio::test]
async fn expo_batches_reports_unregistered_tokens_and_retries_throttled_requests() {
    let seen = Shared::default();
    seen.lock().expect("the fakes' record").expo_throttles = 1;
    let base = serve(Router::new().route("/--/api/v2/push/send", post(expo_send)).with_state(seen.clone())).await;
    let tuning = Tuning { expo_batch: 2, ..quick() };
    let config = json!({"expo": {"accessToken": "expo-secret", "url": base}});
    let providers = Providers::from_config_with(&config, tuning).expect("providers");
    assert_eq!(providers.device_types(), ["android", "expo", "ios"]);

    let mut pushed = device("android", "fcm-token-of-an-expo-app");
    pushed.push_type = Some("expo".into());
    let devices = [
        device("ios", "ExponentPushToken[a]"),
        device("android", "ExpoPushToken[Gone]"),
        device("ios", "ExponentPushToken[c]"),
        pushed,
        device("ios", "a1b2c3"),
    ];
    let deliveries =
        providers.send(&notification(json!({"alert": "Hi", "title": "T", "uri": "app://x"})), &devices).await;
    assert_eq!(
        outcomes(deliveries),
        [
            ("inst-ExpoPushToken[Gone]".to_owned(), gone("DeviceNotRegistered")),
            ("inst-ExponentPushToken[a]".to_owned(), Outcome::Sent),
            ("inst-ExponentPushToken[c]".to_owned(), Outcome::Sent),
            (
                "inst-a1b2c3".to_owned(),
                Outcome::Failed { reason: "no push provider for ios".into(), token_gone: false }
            ),
            ("inst-fcm-token-of-an-expo-app".to_owned(), Outcome::Sent),
        ]
    );
    let seen = seen.lock().expect("the fakes' record");
    // Two batches of two, one of them tried twice.
    assert_eq!(seen.bodies.len(), 3);
    assert!(seen.bodies.iter().all(|body| body.as_array().expect("an array").len() == 2));
    let first = seen
        .bodies
        .iter()
        .flat_map(|body| body.as_array().expect("an array"))
        .find(|message| message["to"] == "ExponentPushToken[a]");
    assert_eq!(
        first,
        Some(
            &json!({"to": "ExponentPushToken[a]", "title": "T", "body": "Hi", "data": {"uri": "app://x"}, "priority": "high"})
        )
    );
}

#[tokio::test]
async fn expo_down_fails_every_device_of_the_batch() {
    let config = json!({"expo": {"url": closed_port().await}});
    let providers = Providers::from_config_with(&config, quick()).expect("providers");
    let devices = [device("ios", "ExponentPushToken[a]"), device("android", "ExponentPushToken[b]")];
    let deliveries = providers.send(&notification(json!({"alert": "x"})), &devices).await;
    assert_eq!(deliveries.len(), 2);
    for delivery in deliveries {
        let Outcome::Failed { reason, token_gone: false } = &delivery.outcome else { panic!("{delivery:?}") };
        assert!(reason.starts_with("Expo could not be reached: "), "{reason}");
    }
}

// Web Push

async fn web_push(State(seen): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers["authorization"].to_str().expect("a text header");
    assert!(authorization.starts_with("vapid t="), "{authorization}");
    assert_eq!(headers["content-encoding"], "aes128gcm");
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["ttl"], "2419200");
    let before = arrival(&seen, &id);
    let mut seen = seen.lock().expect("the fakes' record");
    let (secret, auth) = seen.browsers[&id].clone();
    let payload = web_push_native::decrypt(body.to_vec(), &secret, &auth).expect("the payload decrypts");
    seen.bodies.push(serde_json::from_slice(&payload).expect("a JSON payload"));
    match id.as_str() {
        "gone" => (StatusCode::GONE, "push subscription has unsubscribed or expired.").into_response(),
        "throttled" if before == 0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "").into_response(),
        _ => StatusCode::CREATED.into_response(),
    }
}

/// A subscription to `base`/push/`id`, its browser keys registered with the fake.
fn subscribe(seen: &Shared, base: &str, id: &str) -> Device {
    let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).expect("a P-256 key");
    let secret = web_push_native::p256::SecretKey::from_slice(&secret.to_bytes()).expect("the same key");
    let auth_bytes = [id.len() as u8; 16];
    let subscription = json!({"endpoint": format!("{base}/push/{id}"), "keys": {
        "p256dh": URL_SAFE_NO_PAD.encode(secret.public_key().to_sec1_bytes()),
        "auth": URL_SAFE_NO_PAD.encode(auth_bytes)}});
    let auth = web_push_native::Auth::from_exact_iter(auth_bytes).expect("16 bytes");
    seen.lock().expect("the fakes' record").browsers.insert(id.to_owned(), (secret, auth));
    device("web", &subscription.to_string())
}

fn vapid_config() -> Value {
    let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).expect("a P-256 key");
    json!({"web": {"vapidDetails": {
        "subject": "mailto:push@example.com",
        "publicKey": URL_SAFE_NO_PAD.encode(secret.public_key().to_sec1_bytes()),
        "privateKey": URL_SAFE_NO_PAD.encode(secret.to_bytes()),
    }}})
}

fn by_endpoint(deliveries: Vec<Delivery>, devices: &[Device]) -> Map<String, Value> {
    deliveries
        .into_iter()
        .map(|delivery| {
            let device =
                devices.iter().find(|device| device.installation == delivery.installation).expect("the device");
            let endpoint: Value = serde_json::from_str(&device.device_token).unwrap_or(Value::Null);
            let id = endpoint["endpoint"].as_str().and_then(|url| url.rsplit('/').next()).unwrap_or("bad").to_owned();
            (id, Value::from(format!("{:?}", delivery.outcome)))
        })
        .collect()
}

#[tokio::test]
async fn web_push_encrypts_for_the_browser_and_reports_gone_subscriptions() {
    let seen = Shared::default();
    let base = serve(Router::new().route("/push/{id}", post(web_push)).with_state(seen.clone())).await;
    let providers = Providers::from_config_with(&vapid_config(), quick()).expect("providers");
    assert_eq!(providers.device_types(), ["web"]);

    let mut malformed = device("web", "{\"endpoint\": 3}");
    malformed.installation = "inst-malformed".into();
    let devices = [
        subscribe(&seen, &base, "good"),
        subscribe(&seen, &base, "gone"),
        subscribe(&seen, &base, "throttled"),
        malformed,
    ];
    let deliveries = providers.send(&notification(json!({"alert": "Hello", "badge": 1})), &devices).await;
    assert_eq!(
        Value::Object(by_endpoint(deliveries, &devices)),
        json!({
            "good": "Sent",
            "gone": format!("{:?}", gone("410 Gone")),
            "throttled": "Sent",
            "bad": format!("{:?}", gone("invalid subscription")),
        })
    );
    let seen = seen.lock().expect("the fakes' record");
    assert_eq!(seen.times["throttled"].len(), 2);
    assert!(seen.bodies.iter().all(|body| *body == json!({"alert": "Hello", "badge": 1})));
}

#[tokio::test]
async fn web_push_service_down_fails_after_the_retries() {
    let seen = Shared::default();
    let down = closed_port().await;
    let providers = Providers::from_config_with(&vapid_config(), quick()).expect("providers");
    let deliveries = providers.send(&notification(json!({"alert": "x"})), &[subscribe(&seen, &down, "any")]).await;
    let Outcome::Failed { reason, token_gone: false } = &deliveries[0].outcome else { panic!("{deliveries:?}") };
    assert!(reason.starts_with("Web Push could not be reached: "), "{reason}");
}

// Every provider at once

#[tokio::test]
async fn one_send_reaches_every_provider() {
    let seen = Shared::default();
    let router = Router::new()
        .route("/token", post(fcm_token))
        .route("/v1/projects/demo/messages:send", post(fcm_send))
        .route("/--/api/v2/push/send", post(expo_send))
        .route("/push/{id}", post(web_push))
        .with_state(seen.clone());
    let base = serve(router).await;
    let mut config = fcm_config(&base, &format!("{base}/token"));
    config["web"] = vapid_config()["web"].clone();
    config["expo"] = json!({"accessToken": "expo-secret", "url": base});
    let providers = Providers::from_config_with(&config, quick()).expect("providers");
    assert_eq!(providers.device_types(), ["android", "expo", "ios", "web"]);

    let devices: Vec<Device> = (0..150)
        .map(|index| match index % 3 {
            0 => device("android", &format!("good-{index}")),
            1 => device("ios", &format!("ExponentPushToken[{index}]")),
            _ => {
                let mut device = subscribe(&seen, &base, &format!("good-{index}"));
                device.installation = format!("web-{index}");
                device
            }
        })
        .collect();
    let deliveries = providers.send(&notification(json!({"alert": "All"})), &devices).await;
    assert_eq!(deliveries.len(), 150);
    assert!(deliveries.iter().all(|delivery| delivery.outcome == Outcome::Sent), "{deliveries:?}");
}
