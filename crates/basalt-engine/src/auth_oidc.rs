//! A generic OpenID Connect provider for `authData`: the client sends the ID
//! token its identity provider issued, `{"id": "<sub>", "id_token": "<JWT>"}`, and the token's
//! signature is checked against the provider's keys (a JWKS given in the configuration, never
//! fetched), then its issuer, audience, expiry and subject.

use std::collections::HashSet;
use std::fmt;

use basalt_core::{ErrorCode, ParseError, ParseResult};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::auth_adapters::AuthAdapter;

/// Clock skew tolerated on `exp` and `nbf`.
const CLOCK_LEEWAY_MILLIS: f64 = 60_000.0;

/// The algorithms an RSA key without an `alg` may verify.
const RSA_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// Fields of a provider's configuration.
const CONFIG_FIELDS: &[&str] = &["type", "issuer", "audience", "jwks", "jwksPath"];

/// Verifies OpenID Connect ID tokens signed by one issuer's keys.
pub struct OidcAdapter {
    issuer: String,
    audiences: Vec<String>,
    keys: Vec<VerificationKey>,
}

/// One key of the JWKS and what it may verify.
struct VerificationKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    decoding_key: DecodingKey,
}

impl fmt::Debug for OidcAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_ids: Vec<Option<&str>> = self.keys.iter().map(|key| key.kid.as_deref()).collect();
        f.debug_struct("OidcAdapter")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("key_ids", &key_ids)
            .finish()
    }
}

impl OidcAdapter {
    /// Builds the adapter from `{"type": "oidc", "issuer", "audience", "jwks" | "jwksPath"}`;
    /// `audience` is a string or an array of strings, `jwksPath` a JSON file read now.
    ///
    /// # Errors
    /// A sentence naming the field that is missing or wrong.
    pub fn from_config(config: &Value) -> Result<OidcAdapter, String> {
        let config = config.as_object().ok_or("the configuration must be a JSON object")?;
        if let Some(unknown) = config.keys().find(|field| !CONFIG_FIELDS.contains(&field.as_str())) {
            return Err(format!("unknown field {unknown:?} (expected one of {CONFIG_FIELDS:?})"));
        }
        match config.get("type") {
            None => {}
            Some(Value::String(kind)) if kind == "oidc" => {}
            Some(other) => return Err(format!("\"type\" must be \"oidc\", not {other}")),
        }
        let issuer = match config.get("issuer") {
            Some(Value::String(issuer)) if !issuer.is_empty() => issuer.clone(),
            _ => return Err("\"issuer\" must be a non-empty string".to_owned()),
        };
        let audiences = parse_audiences(config.get("audience"))?;
        let jwks = match (config.get("jwks"), config.get("jwksPath")) {
            (Some(jwks), None) => jwks.clone(),
            (None, Some(Value::String(path))) => {
                let text =
                    std::fs::read_to_string(path).map_err(|error| format!("cannot read jwksPath {path}: {error}"))?;
                serde_json::from_str(&text).map_err(|error| format!("jwksPath {path} is not JSON: {error}"))?
            }
            (None, Some(_)) => return Err("\"jwksPath\" must be a string".to_owned()),
            (Some(_), Some(_)) => return Err("give \"jwks\" or \"jwksPath\", not both".to_owned()),
            (None, None) => return Err("\"jwks\" (a JWKS object) or \"jwksPath\" (a JWKS file) is required".to_owned()),
        };
        let keys = parse_jwks(&jwks)?;
        Ok(OidcAdapter { issuer, audiences, keys })
    }

    /// The key a token's header names: by `kid`, or the only key.
    fn key_for(&self, kid: Option<&str>) -> Result<&VerificationKey, String> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .or_else(|| match self.keys.as_slice() {
                    [only] if only.kid.is_none() => Some(only),
                    _ => None,
                })
                .ok_or_else(|| format!("unknown key id {kid:?}")),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                _ => Err("the token names no key id (kid)".to_owned()),
            },
        }
    }

    /// The reason `token` does not prove the identity `id`, if any.
    fn verify(&self, token: &str, id: &str, now_millis: i64) -> Result<(), String> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| token_error(&error))?;
        let key = self.key_for(header.kid.as_deref())?;
        if !key.algorithms.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not allowed for this key", header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false; // checked below against the engine's clock
        validation.validate_nbf = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding_key, &validation)
            .map_err(|error| token_error(&error))?
            .claims;

        let now_millis = now_millis as f64;
        let exp_secs = claims.get("exp").and_then(Value::as_f64).ok_or("exp is not a number")?;
        if now_millis > exp_secs * 1000.0 + CLOCK_LEEWAY_MILLIS {
            return Err("the token has expired".to_owned());
        }
        match claims.get("nbf") {
            None => {}
            Some(nbf) => {
                let nbf_secs = nbf.as_f64().ok_or("nbf is not a number")?;
                if now_millis + CLOCK_LEEWAY_MILLIS < nbf_secs * 1000.0 {
                    return Err("the token is not valid yet".to_owned());
                }
            }
        }
        if claims.get("sub").and_then(Value::as_str) != Some(id) {
            return Err("the token's subject is not the authData id".to_owned());
        }
        Ok(())
    }
}

impl AuthAdapter for OidcAdapter {
    fn validate(&self, data: &Map<String, Value>, now_millis: i64) -> ParseResult<()> {
        let invalid =
            |reason: &str| ParseError::new(ErrorCode::ObjectNotFound, format!("OIDC token is invalid: {reason}"));
        let token = match data.get("id_token").or_else(|| data.get("token")) {
            Some(Value::String(token)) => token,
            Some(_) => return Err(invalid("id_token must be a string")),
            None => return Err(invalid("authData has no id_token")),
        };
        let id = data.get("id").and_then(Value::as_str).ok_or_else(|| invalid("authData has no id"))?;
        self.verify(token, id, now_millis).map_err(|reason| invalid(&reason))
    }
}

/// `audience`: a string or a non-empty array of strings.
fn parse_audiences(audience: Option<&Value>) -> Result<Vec<String>, String> {
    let wrong = || "\"audience\" must be a non-empty string or an array of them".to_owned();
    match audience {
        Some(Value::String(audience)) if !audience.is_empty() => Ok(vec![audience.clone()]),
        Some(Value::Array(audiences)) if !audiences.is_empty() => audiences
            .iter()
            .map(|audience| match audience {
                Value::String(audience) if !audience.is_empty() => Ok(audience.clone()),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

/// The signing keys of a JWKS (`{"keys": [...]}`); encryption keys are left out.
fn parse_jwks(jwks: &Value) -> Result<Vec<VerificationKey>, String> {
    let entries =
        jwks.get("keys").and_then(Value::as_array).ok_or("the JWKS must be an object with a \"keys\" array")?;
    let mut keys = Vec::with_capacity(entries.len());
    let mut key_ids = HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|error| format!("jwks.keys[{index}]: {error}"))?;
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let key = verification_key(&jwk, entry).map_err(|error| format!("jwks.keys[{index}]: {error}"))?;
        if let Some(kid) = &key.kid
            && !key_ids.insert(kid.clone())
        {
            return Err(format!("jwks.keys[{index}]: the key id {kid:?} is used twice"));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("the JWKS has no signing keys".to_owned());
    }
    Ok(keys)
}

/// An RSA (RS256/384/512) or EC P-256 (ES256) / P-384 (ES384) public key.
fn verification_key(jwk: &Jwk, entry: &Value) -> Result<VerificationKey, String> {
    let algorithms = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match jwk.common.key_algorithm {
            None => RSA_ALGORITHMS.to_vec(),
            Some(KeyAlgorithm::RS256) => vec![Algorithm::RS256],
            Some(KeyAlgorithm::RS384) => vec![Algorithm::RS384],
            Some(KeyAlgorithm::RS512) => vec![Algorithm::RS512],
            Some(other) => return Err(format!("unsupported alg {other:?} for an RSA key (use RS256, RS384 or RS512)")),
        },
        AlgorithmParameters::EllipticCurve(parameters) => {
            let algorithm = match &parameters.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                other => return Err(format!("unsupported curve {other:?} (use P-256 or P-384)")),
            };
            match jwk.common.key_algorithm {
                None => {}
                Some(declared) if declared == KeyAlgorithm::from(algorithm) => {}
                Some(other) => return Err(format!("alg {other:?} does not match the key's curve")),
            }
            vec![algorithm]
        }
        _ => {
            let kty = entry.get("kty").map_or_else(|| "none".to_owned(), Value::to_string);
            return Err(format!("unsupported or incomplete key (kty {kty}); use RSA or EC P-256/P-384 keys"));
        }
    };
    let decoding_key = DecodingKey::from_jwk(jwk).map_err(|error| format!("unreadable key: {error}"))?;
    Ok(VerificationKey { kid: jwk.common.key_id.clone(), algorithms, decoding_key })
}

/// A reason for a client, from a token jsonwebtoken refused.
fn token_error(error: &jsonwebtoken::errors::Error) -> String {
    match error.kind() {
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            "the token is malformed".to_owned()
        }
        ErrorKind::InvalidSignature => "the signature does not verify".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the {claim} claim is missing"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the {claim} claim is malformed"),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "the algorithm is not allowed".to_owned(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use jsonwebtoken::{EncodingKey, Header};
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePrivateKey;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://issuer.example";
    const AUDIENCE: &str = "client-id";
    /// 2023-11-14T22:13:20Z, the engine's clock in these tests.
    const NOW_SECS: i64 = 1_700_000_000;

    /// An RSA signing key and its public JWK.
    struct TestKey {
        encoding_key: EncodingKey,
        jwk: Value,
    }

    fn rsa_key(kid: &str) -> TestKey {
        let private_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("generate an RSA key");
        let der = private_key.to_pkcs1_der().expect("PKCS#1 DER");
        let encoding_key = EncodingKey::from_rsa_der(der.as_bytes());
        let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&encoding_key, Algorithm::RS256).expect("JWK"))
            .expect("JWK as JSON");
        jwk["kid"] = json!(kid);
        // Without `alg` the key verifies RS256, RS384 and RS512.
        jwk.as_object_mut().expect("JWK object").remove("alg");
        TestKey { encoding_key, jwk }
    }

    /// The issuer's key (kid `main`) and a stranger's key with the same kid; generated once,
    /// RSA key generation being slow.
    fn rsa_keys() -> &'static (TestKey, TestKey) {
        static KEYS: OnceLock<(TestKey, TestKey)> = OnceLock::new();
        KEYS.get_or_init(|| (rsa_key("main"), rsa_key("main")))
    }

    fn adapter(jwks: Value) -> OidcAdapter {
        OidcAdapter::from_config(&json!({"type": "oidc", "issuer": ISSUER, "audience": AUDIENCE, "jwks": jwks}))
            .expect("adapter")
    }

    fn claims(sub: &str) -> Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": NOW_SECS - 10, "exp": NOW_SECS + 3600})
    }

    fn sign(key: &TestKey, algorithm: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(algorithm);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key.encoding_key).expect("sign")
    }

    fn check(adapter: &OidcAdapter, auth_data: Value) -> Result<(), String> {
        let auth_data = auth_data.as_object().expect("an object").clone();
        adapter.validate(&auth_data, NOW_SECS * 1000).map_err(|error| {
            assert_eq!(error.code, ErrorCode::ObjectNotFound, "{error}");
            error.message
        })
    }

    #[track_caller]
    fn assert_refused(result: Result<(), String>, reason: &str) {
        let message = result.expect_err("refused");
        assert_eq!(message, format!("OIDC token is invalid: {reason}"));
    }

    #[test]
    fn valid_tokens_are_accepted() {
        let (key, _) = rsa_keys();
        let adapter = adapter(json!({"keys": [key.jwk]}));
        for algorithm in RSA_ALGORITHMS {
            let token = sign(key, *algorithm, Some("main"), &claims("user-1"));
            check(&adapter, json!({"id": "user-1", "id_token": token})).expect("id_token accepted");
        }
        let token = sign(key, Algorithm::RS256, Some("main"), &claims("user-1"));
        check(&adapter, json!({"id": "user-1", "token": token})).expect("token accepted");
        // Within the leeway of exp, and with an audience among several.
        let late = json!({"iss": ISSUER, "aud": ["other", AUDIENCE], "sub": "user-1", "exp": NOW_SECS - 30});
        check(&adapter, json!({"id": "user-1", "id_token": sign(key, Algorithm::RS256, Some("main"), &late)}))
            .expect("30 s after exp");
    }

    #[test]
    fn the_only_key_verifies_tokens_without_a_kid() {
        let (key, _) = rsa_keys();
        let token = sign(key, Algorithm::RS256, None, &claims("user-1"));
        check(&adapter(json!({"keys": [key.jwk]})), json!({"id": "user-1", "id_token": token})).expect("accepted");
        let mut second = key.jwk.clone();
        second["kid"] = json!("second");
        let two_keys = adapter(json!({"keys": [key.jwk, second]}));
        assert_refused(check(&two_keys, json!({"id": "user-1", "id_token": token})), "the token names no key id (kid)");
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let (key, stranger) = rsa_keys();
        let adapter = adapter(json!({"keys": [key.jwk]}));
        let token = sign(stranger, Algorithm::RS256, Some("main"), &claims("user-1"));
        assert_refused(check(&adapter, json!({"id": "user-1", "id_token": token})), "the signature does not verify");
    }

    #[test]
    fn wrong_claims_are_refused() {
        let (key, _) = rsa_keys();
        let adapter = adapter(json!({"keys": [key.jwk]}));
        let refused = |claims: Value, reason: &str| {
            let token = sign(key, Algorithm::RS256, Some("main"), &claims);
            assert_refused(check(&adapter, json!({"id": "user-1", "id_token": token})), reason);
        };
        let mut wrong_issuer = claims("user-1");
        wrong_issuer["iss"] = json!("https://evil.example");
        refused(wrong_issuer, "wrong issuer");
        let mut wrong_audience = claims("user-1");
        wrong_audience["aud"] = json!(["other-client"]);
        refused(wrong_audience, "wrong audience");
        let mut expired = claims("user-1");
        expired["exp"] = json!(NOW_SECS - 61);
        refused(expired, "the token has expired");
        let mut not_yet = claims("user-1");
        not_yet["nbf"] = json!(NOW_SECS + 120);
        refused(not_yet, "the token is not valid yet");
        refused(claims("user-2"), "the token's subject is not the authData id");
        let mut no_exp = claims("user-1");
        no_exp.as_object_mut().expect("claims").remove("exp");
        refused(no_exp, "the exp claim is missing");
    }

    #[test]
    fn an_unknown_kid_is_refused() {
        let (key, _) = rsa_keys();
        let adapter = adapter(json!({"keys": [key.jwk]}));
        let token = sign(key, Algorithm::RS256, Some("rotated"), &claims("user-1"));
        assert_refused(check(&adapter, json!({"id": "user-1", "id_token": token})), "unknown key id \"rotated\"");
    }

    #[test]
    fn malformed_or_missing_tokens_are_refused() {
        let (key, _) = rsa_keys();
        let adapter = adapter(json!({"keys": [key.jwk]}));
        for token in ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEifQ."] {
            assert_refused(check(&adapter, json!({"id": "user-1", "id_token": token})), "the token is malformed");
        }
        assert_refused(check(&adapter, json!({"id": "user-1"})), "authData has no id_token");
        assert_refused(check(&adapter, json!({"id": "user-1", "id_token": 42})), "id_token must be a string");
    }

    #[test]
    fn an_hmac_token_is_refused_for_an_rsa_key() {
        let (key, _) = rsa_keys();
        let adapter = adapter(json!({"keys": [key.jwk]}));
        let secret = TestKey {
            encoding_key: EncodingKey::from_secret(b"public key bytes").expect("HMAC key"),
            jwk: Value::Null,
        };
        let token = sign(&secret, Algorithm::HS256, Some("main"), &claims("user-1"));
        assert_refused(
            check(&adapter, json!({"id": "user-1", "id_token": token})),
            "algorithm HS256 is not allowed for this key",
        );
    }

    #[test]
    fn es256_tokens_are_verified_with_p256_keys() {
        let secret_key = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).expect("generate a P-256 key");
        let der = secret_key.to_pkcs8_der().expect("PKCS#8 DER");
        let encoding_key = EncodingKey::from_ec_der(der.as_bytes());
        let jwk = serde_json::to_value(Jwk::from_encoding_key(&encoding_key, Algorithm::ES256).expect("JWK"))
            .expect("JWK as JSON");
        let key = TestKey { encoding_key, jwk };
        let adapter = adapter(json!({"keys": [key.jwk]}));
        let token = sign(&key, Algorithm::ES256, None, &claims("user-1"));
        check(&adapter, json!({"id": "user-1", "id_token": token})).expect("accepted");
        let (rsa_key, _) = rsa_keys();
        let token = sign(rsa_key, Algorithm::RS256, None, &claims("user-1"));
        assert_refused(
            check(&adapter, json!({"id": "user-1", "id_token": token})),
            "algorithm RS256 is not allowed for this key",
        );
    }

    #[test]
    fn the_jwks_can_be_read_from_a_file() {
        let (key, _) = rsa_keys();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, json!({"keys": [key.jwk]}).to_string()).expect("write jwks.json");
        let config = json!({"type": "oidc", "issuer": ISSUER, "audience": [AUDIENCE], "jwksPath": path});
        let adapter = OidcAdapter::from_config(&config).expect("adapter");
        let token = sign(key, Algorithm::RS256, Some("main"), &claims("user-1"));
        check(&adapter, json!({"id": "user-1", "id_token": token})).expect("accepted");
    }

    #[test]
    fn bad_configurations_are_explained() {
        let (key, _) = rsa_keys();
        let error = |config: Value| OidcAdapter::from_config(&config).expect_err("refused");
        let jwks = json!({"keys": [key.jwk]});
        assert_eq!(error(json!("oidc")), "the configuration must be a JSON object");
        assert_eq!(
            error(json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks": jwks, "audiance": "x"})),
            "unknown field \"audiance\" (expected one of [\"type\", \"issuer\", \"audience\", \"jwks\", \"jwksPath\"])"
        );
        assert_eq!(error(json!({"type": "saml", "issuer": ISSUER})), "\"type\" must be \"oidc\", not \"saml\"");
        assert_eq!(error(json!({"audience": AUDIENCE, "jwks": jwks})), "\"issuer\" must be a non-empty string");
        assert_eq!(
            error(json!({"issuer": ISSUER, "audience": [], "jwks": jwks})),
            "\"audience\" must be a non-empty string or an array of them"
        );
        assert_eq!(
            error(json!({"issuer": ISSUER, "audience": AUDIENCE})),
            "\"jwks\" (a JWKS object) or \"jwksPath\" (a JWKS file) is required"
        );
        assert_eq!(
            error(json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks": jwks, "jwksPath": "/x"})),
            "give \"jwks\" or \"jwksPath\", not both"
        );
        assert!(
            error(json!({"issuer": ISSUER, "audience": AUDIENCE, "jwksPath": "/nonexistent/jwks.json"}))
                .starts_with("cannot read jwksPath /nonexistent/jwks.json: ")
        );
        assert_eq!(
            error(json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": []}})),
            "the JWKS has no signing keys"
        );
        assert_eq!(
            error(json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})),
            "jwks.keys[0]: unsupported or incomplete key (kty \"oct\"); use RSA or EC P-256/P-384 keys"
        );
        assert_eq!(
            error(json!({"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [key.jwk, key.jwk]}})),
            "jwks.keys[1]: the key id \"main\" is used twice"
        );
    }
}
