//! `--auth-providers` with an OpenID Connect provider, on the real binary: the test is the
//! identity provider (its own RSA keys, a JWKS file, signed ID tokens), clients sign up, log in
//! and link accounts with `authData`, and forged or mismatched tokens are refused.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::cli::{Keys, call, http_client, serve, start};

const ISSUER: &str = "https://login.example";
const AUDIENCE: &str = "basalt-app";
const KEY_ID: &str = "key-1";
const FLAGS: [&str; 4] = ["--app-id", "app", "--master-key", "master"];

/// An identity provider's signing key.
struct SigningKey {
    encoding_key: EncodingKey,
}

impl SigningKey {
    fn generate() -> SigningKey {
        let private_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("generate an RSA key");
        let der = private_key.to_pkcs1_der().expect("PKCS#1 DER");
        SigningKey { encoding_key: EncodingKey::from_rsa_der(der.as_bytes()) }
    }

    /// `{"keys": [<this public key, kid KEY_ID>]}`.
    fn jwks(&self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.encoding_key, Algorithm::RS256).expect("JWK");
        let mut jwk = serde_json::to_value(jwk).expect("JWK as JSON");
        jwk["kid"] = json!(KEY_ID);
        json!({"keys": [jwk]})
    }

    /// An ID token for `sub`, valid for an hour.
    fn id_token(&self, sub: &str) -> String {
        let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now_secs, "exp": now_secs + 3600});
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KEY_ID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding_key).expect("sign")
    }
}

/// `basalt serve` with the standard keys, `--auth-providers PROVIDERS` and nothing from the
/// test's environment.
fn serve_with_providers(data_dir: &Path, providers: &Value) -> Command {
    let providers = providers.to_string();
    let mut command = serve(data_dir, &[&FLAGS[..], &["--auth-providers", providers.as_str()]].concat());
    command.env_remove("PARSE_SERVER_AUTH_PROVIDERS");
    command
}

/// A client request: the app id and, when given, a session token; never the master key.
async fn client_call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    session_token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = client.request(method, url).header("X-Parse-Application-Id", "app").json(body);
    if let Some(session_token) = session_token {
        request = request.header("X-Parse-Session-Token", session_token);
    }
    let response = request.send().await.unwrap_or_else(|error| panic!("{url}: {error}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `{"authData": {"acme": {"id": ID, "id_token": TOKEN}}}`.
fn acme(id: &str, id_token: &str) -> Value {
    json!({"authData": {"acme": {"id": id, "id_token": id_token}}})
}

/// How many users there are (master key).
async fn user_count(client: &reqwest::Client, base_url: &str) -> u64 {
    let url = format!("{base_url}/users?count=1&limit=0");
    let (status, reply) = call(client, &Keys::new("app", "master"), Method::GET, &url, None).await;
    assert_eq!(status, 200, "count users: {reply}");
    reply["count"].as_u64().expect("count")
}

#[tokio::test]
async fn oidc_tokens_sign_up_log_in_and_link_users_and_forgeries_are_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let provider_key = SigningKey::generate();
    let forger_key = SigningKey::generate();
    let jwks_path = temp.path().join("jwks.json");
    std::fs::write(&jwks_path, provider_key.jwks().to_string()).expect("write jwks.json");
    let providers = json!({"acme": {"type": "oidc", "issuer": ISSUER, "audience": [AUDIENCE], "jwksPath": jwks_path}});
    let running = start(serve_with_providers(&temp.path().join("data"), &providers)).await;
    let client = http_client();
    let users_url = format!("{}/users", running.base_url);

    // Sign-up, then log-in of the same user with a new token for the same subject.
    let (status, signed_up) =
        client_call(&client, Method::POST, &users_url, None, &acme("sub-1", &provider_key.id_token("sub-1"))).await;
    assert_eq!(status, 201, "{signed_up}");
    assert!(signed_up["sessionToken"].as_str().is_some_and(|token| token.starts_with("r:")), "{signed_up}");
    let user_id = signed_up["objectId"].as_str().expect("objectId").to_owned();
    let (status, logged_in) =
        client_call(&client, Method::POST, &users_url, None, &acme("sub-1", &provider_key.id_token("sub-1"))).await;
    assert_eq!(status, 200, "{logged_in}");
    assert_eq!(logged_in["objectId"], json!(user_id), "{logged_in}");
    assert!(logged_in["sessionToken"].is_string(), "{logged_in}");
    assert_eq!(user_count(&client, &running.base_url).await, 1);

    // A token signed by another key, and a genuine token for another subject, are refused.
    let (status, forged) =
        client_call(&client, Method::POST, &users_url, None, &acme("sub-2", &forger_key.id_token("sub-2"))).await;
    assert_eq!((status, &forged["code"]), (404, &json!(101)), "{forged}");
    assert!(forged["error"].as_str().is_some_and(|error| error.starts_with("OIDC token is invalid: ")), "{forged}");
    let (status, mismatched) =
        client_call(&client, Method::POST, &users_url, None, &acme("sub-1", &provider_key.id_token("sub-3"))).await;
    assert_eq!((status, &mismatched["code"]), (404, &json!(101)), "{mismatched}");
    let (status, no_token) =
        client_call(&client, Method::POST, &users_url, None, &json!({"authData": {"acme": {"id": "sub-4"}}})).await;
    assert_eq!((status, &no_token["code"]), (404, &json!(101)), "{no_token}");
    assert_eq!(user_count(&client, &running.base_url).await, 1, "no user was created");

    // Linking to a password user with that user's session; the provider then logs them in.
    let (status, pat) =
        client_call(&client, Method::POST, &users_url, None, &json!({"username": "pat", "password": "pw-pat"})).await;
    assert_eq!(status, 201, "{pat}");
    let pat_id = pat["objectId"].as_str().expect("objectId");
    let pat_url = format!("{users_url}/{pat_id}");
    let pat_session = pat["sessionToken"].as_str();
    let link = acme("sub-5", &provider_key.id_token("sub-5"));
    let (status, linked) = client_call(&client, Method::PUT, &pat_url, pat_session, &link).await;
    assert_eq!(status, 200, "{linked}");
    let (status, logged_in) =
        client_call(&client, Method::POST, &users_url, None, &acme("sub-5", &provider_key.id_token("sub-5"))).await;
    assert_eq!((status, &logged_in["objectId"]), (200, &json!(pat_id)), "{logged_in}");
    let forged_link = acme("sub-6", &forger_key.id_token("sub-6"));
    let (status, refused) = client_call(&client, Method::PUT, &pat_url, pat_session, &forged_link).await;
    assert_eq!((status, &refused["code"]), (404, &json!(101)), "{refused}");

    // Another user cannot link the same identity.
    let (status, sam) =
        client_call(&client, Method::POST, &users_url, None, &json!({"username": "sam", "password": "pw-sam"})).await;
    assert_eq!(status, 201, "{sam}");
    let sam_url = format!("{users_url}/{}", sam["objectId"].as_str().expect("objectId"));
    let link = acme("sub-5", &provider_key.id_token("sub-5"));
    let (status, taken) = client_call(&client, Method::PUT, &sam_url, sam["sessionToken"].as_str(), &link).await;
    assert_eq!(taken["code"], json!(208), "status {status}: {taken}");

    // A provider nobody configured.
    let other = json!({"authData": {"other": {"id": "sub-1", "id_token": provider_key.id_token("sub-1")}}});
    let (status, unsupported) = client_call(&client, Method::POST, &users_url, None, &other).await;
    assert_eq!(unsupported["code"], json!(252), "status {status}: {unsupported}");
}

/// Runs `basalt serve` that must refuse to start; answers its stderr.
async fn refused_start(providers: &str) -> String {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut command = serve(temp.path(), &[&FLAGS[..], &["--auth-providers", providers]].concat());
    command.env_remove("PARSE_SERVER_AUTH_PROVIDERS").stdout(Stdio::piped()).stderr(Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("basalt exits on its own")
        .expect("run basalt");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{providers}: exit status {}", output.status);
    assert!(!stdout.contains("basalt listening on"), "{stdout}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn bad_auth_providers_fail_fast_with_a_message() {
    let stderr = refused_start("{not json").await;
    assert!(stderr.contains("--auth-providers must be a JSON object"), "{stderr}");
    let stderr = refused_start(r#"{"acme": {"type": "saml"}}"#).await;
    assert!(stderr.contains("acme: unknown type \"saml\""), "{stderr}");
    let stderr = refused_start(r#"{"anonymous": {"type": "oidc"}}"#).await;
    assert!(stderr.contains("\"anonymous\" cannot be configured"), "{stderr}");
    let stderr = refused_start(r#"{"acme": {"type": "oidc", "issuer": "https://login.example"}}"#).await;
    assert!(stderr.contains("acme: \"audience\" must be"), "{stderr}");
}
