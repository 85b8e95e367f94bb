//! Request preparation, before routing: CORS preflight, the body (read once, JSON, size-limited),
//! the JS SDK's POST tunnel (`_method`, `_ApplicationId`, … inside a `text/plain` body), key
//! checks, and the caller's identity. Handlers receive the result through `ParseRequest`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use basalt_core::ParseError;
use basalt_engine::Caller;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::{AppState, cors};

/// What preparation learned about a request.
#[derive(Clone, Debug)]
struct Prepared {
    caller: Caller,
    body: Map<String, Value>,
    content_type: Option<String>,
}

/// The keys a request presented, from headers or (JS SDK) from the body.
#[derive(Debug, Default)]
struct PresentedKeys {
    app_id: Option<String>,
    master_key: Option<String>,
    client_keys: Vec<String>,
    session_token: Option<String>,
    installation_id: Option<String>,
    context: Option<Map<String, Value>>,
}

/// Parse compat: the cloud context is a JSON object, given as an object or as JSON text.
fn cloud_context(value: Value) -> Result<Map<String, Value>, ApiError> {
    let value = match value {
        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
        other => other,
    };
    match value {
        Value::Object(context) => Ok(context),
        _ => Err(ApiError::Parse(ParseError::invalid_json("Invalid object for context."))),
    }
}

/// The JS SDK's mark of a Buffer or stream file upload.
const UPLOAD_MODE: HeaderName = HeaderName::from_static("x-parse-upload-mode");

/// The keys in the request's `X-Parse-*` headers, read in one pass over the headers (a request
/// carries a handful; nine lookups by name, each hashing it, cost more). The first value of a
/// header counts, as `HeaderMap::get` would answer.
fn header_keys(headers: &HeaderMap) -> Result<PresentedKeys, ApiError> {
    let mut keys = PresentedKeys::default();
    let mut context = None;
    let mut client_keys: [Option<String>; 4] = Default::default();
    for (name, value) in headers {
        let Some(key) = name.as_str().strip_prefix("x-parse-") else { continue };
        let slot = match key {
            "application-id" => &mut keys.app_id,
            "master-key" => &mut keys.master_key,
            "session-token" => &mut keys.session_token,
            "installation-id" => &mut keys.installation_id,
            "cloud-context" => &mut context,
            "rest-api-key" => &mut client_keys[0],
            "javascript-key" => &mut client_keys[1],
            "client-key" => &mut client_keys[2],
            "windows-key" => &mut client_keys[3],
            _ => continue,
        };
        if slot.is_none() {
            *slot = value.to_str().ok().map(str::to_owned);
        }
    }
    keys.client_keys = client_keys.into_iter().flatten().collect();
    keys.context = context.map(|text| cloud_context(Value::String(text))).transpose()?;
    Ok(keys)
}

fn body_string(body: &mut Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        // Parse compat: non-string key fields in the body are refused like a wrong key.
        Some(_) => Err(ApiError::Unauthorized),
    }
}

fn presented_keys(headers: &HeaderMap, body: &mut Map<String, Value>) -> Result<PresentedKeys, ApiError> {
    let mut keys = header_keys(headers)?;
    // The JS SDK's body keys. Basalt reads them whether or not headers are present (a superset
    // of Parse Server, which reads them only without the app id header), and always strips them
    // so they never reach a query or an object.
    let body_app_id = body_string(body, "_ApplicationId")?;
    let body_master = body_string(body, "_MasterKey")?;
    let body_js_key = body_string(body, "_JavaScriptKey")?;
    let body_client_key = body_string(body, "_ClientKey")?;
    let body_session = body_string(body, "_SessionToken")?;
    let body_installation = body_string(body, "_InstallationId")?;
    if let Some(context) = body.remove("_context").filter(|value| !value.is_null()) {
        keys.context = Some(cloud_context(context)?);
    }
    for ignored in ["_ClientVersion", "_RevocableSession", "_MaintenanceKey", "_noBody"] {
        body.remove(ignored);
    }
    keys.app_id = keys.app_id.or(body_app_id);
    keys.master_key = keys.master_key.or(body_master);
    keys.client_keys.extend(body_js_key);
    keys.client_keys.extend(body_client_key);
    keys.session_token = keys.session_token.or(body_session);
    keys.installation_id = keys.installation_id.or(body_installation);
    Ok(keys)
}

async fn authenticate(
    state: &AppState,
    keys: PresentedKeys,
    peer: Option<SocketAddr>,
    ignores_session: bool,
) -> Result<Caller, ApiError> {
    let admission = state.config.keys.admit(
        keys.app_id.as_deref(),
        keys.master_key.as_deref(),
        keys.client_keys.iter().map(String::as_str),
        peer.map(|peer| peer.ip()),
    );
    let Some(admission) = admission else { return Err(ApiError::Unauthorized) };
    let mut caller = Caller {
        installation_id: keys.installation_id,
        context: keys.context.map(Arc::new),
        is_master: admission == basalt_engine::Admission::Master,
        ..Caller::default()
    };
    // Parse compat: the master key and log-in ignore a session token.
    let token = keys.session_token.filter(|token| !token.is_empty() && !caller.is_master && !ignores_session);
    if let Some(token) = token {
        // Parse compat: an unknown or expired token is an error (209), never a silent downgrade
        // to an anonymous caller. With the master key, the session still names the user.
        let session = state.engine.caller_for_session(&token, caller.installation_id.clone()).await?;
        caller.user_id = session.user_id;
        caller.roles = session.roles;
        caller.session_token = session.session_token;
    }
    Ok(caller)
}

fn with_cors(mut response: Response) -> Response {
    cors::add_headers(response.headers_mut());
    response
}

/// The preparation middleware; wraps the router so a tunnelled `_method` routes correctly.
pub(crate) async fn prepare(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return with_cors((StatusCode::OK, "OK").into_response());
    }
    let mount = state.config.mount_path.trim_end_matches('/');
    let path = request.uri().path();
    let under_mount = path.strip_prefix(mount).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    // The email link pages carry their credential (a one-time token) in the link, not in keys.
    let is_page = path.strip_prefix(mount).is_some_and(|rest| rest.starts_with("/apps/"));
    // File downloads need no keys either: the unique file name is the capability (Parse compat).
    let is_download = (request.method() == Method::GET || request.method() == Method::HEAD)
        && path
            .strip_prefix(mount)
            .and_then(|rest| rest.strip_prefix("/files/"))
            .is_some_and(|rest| rest.contains('/'));
    // LiveQuery WebSocket upgrades carry their keys in the `connect` frame.
    let is_websocket =
        request.headers().get("upgrade").is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !under_mount || path.ends_with("/health") || is_page || is_download || is_websocket {
        return with_cors(next.run(request).await);
    }
    match prepare_parse_request(&state, request).await {
        Ok(request) => with_cors(next.run(request).await),
        Err(error) => with_cors(error.into_response()),
    }
}

/// Parse compat: Parse Server (Express) routes `/parse//classes/X` and `/parse/classes/X/` like
/// `/parse/classes/X`; so does Basalt.
fn normalize_path(parts: &mut Parts) {
    let path = parts.uri.path();
    let needs_normalizing = path.contains("//") || (path.len() > 1 && path.ends_with('/'));
    if !needs_normalizing {
        return;
    }
    let mut normalized = String::with_capacity(path.len());
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if let Some(query) = parts.uri.query() {
        normalized.push('?');
        normalized.push_str(query);
    }
    if let Ok(uri) = normalized.parse() {
        parts.uri = uri;
    }
}

/// Is this file upload's body the file itself (anything but the JS SDK's `text/plain` JSON
/// form)? Its body is left for the handler to stream; keys come from headers.
fn is_raw_upload(parts: &Parts) -> bool {
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    // The JS SDK marks Buffer and stream uploads (any content type) with this header.
    let streamed = parts.headers.get(&UPLOAD_MODE).is_some_and(|mode| mode == "stream");
    parts.method == Method::POST && (streamed || !content_type.starts_with("text/plain"))
}

/// A streamed body that fails once `deadline` passes: the handler reading it stops, and the
/// connection, its body unread, closes. A client trickling an upload holds its connection no
/// longer than `Limits::body_read_ms_max`.
fn with_deadline(body: Body, deadline: tokio::time::Instant) -> Body {
    let chunks = body.into_data_stream();
    Body::from_stream(futures_util::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_) => Some((Err(axum::Error::new("the request body was not received in time")), None)),
        }
    }))
}

async fn prepare_parse_request(state: &AppState, request: Request) -> Result<Request, ApiError> {
    let (mut parts, body) = request.into_parts();
    normalize_path(&mut parts);
    let mount = state.config.mount_path.trim_end_matches('/');
    let is_upload = parts.uri.path().strip_prefix(mount).is_some_and(|rest| rest.starts_with("/files/"));
    if is_upload && is_raw_upload(&parts) {
        let mut no_body = Map::new();
        let keys = presented_keys(&parts.headers, &mut no_body)?;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
        let caller = authenticate(state, keys, peer, false).await?;
        let content_type =
            parts.headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(str::to_owned);
        parts.extensions.insert(Prepared { caller, body: Map::new(), content_type });
        let deadline = tokio::time::Instant::now() + Duration::from_millis(state.engine.limits().body_read_ms_max);
        return Ok(Request::from_parts(parts, with_deadline(body, deadline)));
    }
    // A base64 upload is a third larger than its file.
    let upload_limit = usize::try_from(state.engine.upload_bytes_max() / 3 * 4 + 64 * 1024).unwrap_or(usize::MAX);
    let limit = if is_upload {
        upload_limit.max(state.engine.limits().body_bytes_max)
    } else {
        state.engine.limits().body_bytes_max
    };
    if let Some(length) =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
        && length > limit
    {
        return Err(ApiError::BodyTooLarge(limit));
    }
    // Most reads have no body: nothing to wait for, so no timer.
    let bytes = if axum::body::HttpBody::is_end_stream(&body) {
        axum::body::Bytes::new()
    } else {
        let read_time = Duration::from_millis(state.engine.limits().body_read_ms_max);
        tokio::time::timeout(read_time, http_body_util::Limited::new(body, limit).collect())
            .await
            .map_err(|_| ApiError::BodyTimedOut(read_time))?
            .map_err(|_| ApiError::BodyTooLarge(limit))?
            .to_bytes()
    };
    // No body is an empty object; a body of only whitespace is not JSON (107), as in Parse Server.
    let mut body: Map<String, Value> = if bytes.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(ParseError::invalid_json("The request body must be a JSON object.").into()),
            Err(_) => return Err(ParseError::invalid_json("Invalid JSON").into()),
        }
    };
    // JSON text can only carry NUL escaped; a body without the escape needs no walk.
    if may_hold_nul(&bytes) {
        for (key, value) in &body {
            basalt_core::value::check_nul_free_text(key)?;
            basalt_core::value::check_nul_free(value)?;
        }
    }
    if parts.method == Method::POST
        && let Some(tunnelled) = body.remove("_method")
    {
        let method = tunnelled.as_str().map(str::to_ascii_uppercase).unwrap_or_default();
        parts.method = match method.as_str() {
            "GET" => Method::GET,
            "PUT" => Method::PUT,
            "DELETE" => Method::DELETE,
            "POST" => Method::POST,
            _ => return Err(ParseError::invalid_json(format!("Unsupported _method: {tunnelled}")).into()),
        };
    }
    let keys = presented_keys(&parts.headers, &mut body)?;
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let ignores_session = parts.uri.path().ends_with("/login");
    let caller = authenticate(state, keys, peer, ignores_session).await?;
    let route = parts.uri.path().strip_prefix(mount).unwrap_or_default();
    state.engine.check_rate_limit(parts.method.as_str(), route, &caller, peer.map(|peer| peer.ip())).await?;
    let content_type = match body.remove("_ContentType") {
        Some(Value::String(content_type)) => Some(content_type),
        _ => None,
    };
    parts.extensions.insert(Prepared { caller, body, content_type });
    Ok(Request::from_parts(parts, Body::empty()))
}

/// Could this JSON text (or query string value) hold the NUL character, which no store keeps?
fn may_hold_nul(text: &[u8]) -> bool {
    text.contains(&0) || text.windows(6).any(|window| window == b"\\u0000")
}

/// A prepared Parse request: the caller, the JSON body, and the parameters (query string values
/// JSON-decoded when they parse, over the body's for tunnelled GETs).
pub(crate) struct ParseRequest {
    pub(crate) caller: Caller,
    pub(crate) body: Map<String, Value>,
    /// The content type of an upload: the JS SDK's `_ContentType`, or the request's header.
    pub(crate) content_type: Option<String>,
}

impl ParseRequest {
    /// Parameters for a read: the body's keys, overridden by the query string's.
    pub(crate) fn params(&self, query: &[(String, String)]) -> Map<String, Value> {
        let mut params = self.body.clone();
        for (key, raw) in query {
            let value = serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.clone()));
            params.insert(key.clone(), value);
        }
        params
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ParseRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let prepared = parts
            .extensions
            .remove::<Prepared>()
            .ok_or_else(|| ApiError::Parse(ParseError::internal("request reached a route without preparation")))?;
        Ok(ParseRequest { caller: prepared.caller, body: prepared.body, content_type: prepared.content_type })
    }
}

/// The raw query string pairs of a request.
pub(crate) struct QueryPairs(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
            Ok(Query(pairs)) => {
                for (key, raw) in &pairs {
                    if may_hold_nul(key.as_bytes()) || may_hold_nul(raw.as_bytes()) {
                        basalt_core::value::check_nul_free_text(key)?;
                        match serde_json::from_str::<Value>(raw) {
                            Ok(value) => basalt_core::value::check_nul_free(&value)?,
                            Err(_) => basalt_core::value::check_nul_free_text(raw)?,
                        }
                    }
                }
                Ok(QueryPairs(pairs))
            }
            Err(_) => Err(ParseError::invalid_query("Improper encode of parameter").into()),
        }
    }
}
