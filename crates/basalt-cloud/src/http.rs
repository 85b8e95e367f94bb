//! `Parse.Cloud.httpRequest`: outbound HTTP from cloud code. The JavaScript side encodes the
//! body and query string as Parse Server does; this side sends the request on the server's tokio
//! runtime, blocking the worker thread (not an async thread) until the answer is in.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// One client per redirect policy, shared by every worker (connection pools included).
fn client(follow_redirects: bool) -> Result<&'static reqwest::Client, String> {
    static FOLLOWING: OnceLock<reqwest::Client> = OnceLock::new();
    static NOT_FOLLOWING: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if follow_redirects { &FOLLOWING } else { &NOT_FOLLOWING };
    if let Some(client) = cell.get() {
        return Ok(client);
    }
    let policy =
        if follow_redirects { reqwest::redirect::Policy::limited(10) } else { reqwest::redirect::Policy::none() };
    let built = reqwest::Client::builder()
        .redirect(policy)
        .timeout(Duration::from_millis(basalt_core::Limits::OUTBOUND_REQUEST_MS_MAX))
        .build()
        .map_err(|error| format!("starting the HTTP client: {error}"))?;
    Ok(cell.get_or_init(|| built))
}

/// Sends `{"method", "url", "headers": {name: value}, "body"?: text, "followRedirects"}` and
/// answers `{"ok": {"status", "headers", "text"}}` or `{"error": message}` as JSON text.
pub(crate) fn request(handle: &tokio::runtime::Handle, request: &str) -> String {
    let outcome = serde_json::from_str::<Map<String, Value>>(request)
        .map_err(|error| format!("Parse.Cloud.httpRequest: {error}"))
        .and_then(|request| handle.block_on(send(&request)));
    match outcome {
        Ok(response) => json!({ "ok": response }).to_string(),
        Err(message) => json!({ "error": message }).to_string(),
    }
}

async fn send(request: &Map<String, Value>) -> Result<Value, String> {
    let text = |key: &str| request.get(key).and_then(Value::as_str);
    let url = text("url").ok_or("Parse.Cloud.httpRequest needs a url")?;
    let method = reqwest::Method::from_bytes(text("method").unwrap_or("GET").to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("Parse.Cloud.httpRequest: invalid method {:?}", text("method")))?;
    let follow = request.get("followRedirects").and_then(Value::as_bool) == Some(true);
    let mut builder = client(follow)?.request(method, url);
    if let Some(Value::Object(headers)) = request.get("headers") {
        for (name, value) in headers {
            let value = match value {
                Value::String(value) => value.clone(),
                other => other.to_string(),
            };
            builder = builder.header(name.as_str(), value);
        }
    }
    if let Some(body) = text("body") {
        builder = builder.body(body.to_owned());
    }
    let response = builder.send().await.map_err(|error| describe(&error))?;
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        // Repeated headers (Set-Cookie) are joined as Node's http module joins them.
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let bytes = response.bytes().await.map_err(|error| describe(&error))?;
    Ok(json!({
        "status": status,
        "headers": headers,
        "text": String::from_utf8_lossy(&bytes),
    }))
}

fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}
