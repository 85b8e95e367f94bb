//! `/files`: uploads (raw bodies streamed to the file store, or the JS SDK's base64 form),
//! downloads with ranges and caching headers, and deletes with the master key.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use basalt_core::{ErrorCode, ParseError};
use basalt_engine::{Caller, DownloadError};
use basalt_files::{ByteRange, ByteStream, FileError};
use base64::Engine as _;
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new()
        .route(&super::at(mount, "/files/{file_name}"), post(save_file).delete(delete_file))
        .route(&super::at(mount, "/files/{app_id}/{file_name}"), get(download_file))
}

async fn save_file(
    State(state): State<AppState>,
    Path(file_name): Path<String>,
    request: ParseRequest,
    raw: Request,
) -> Result<Response, ApiError> {
    let declared =
        raw.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let size;
    let body: ByteStream = match request.body.get("base64") {
        // The JS SDK's form: {"base64": "...", "_ContentType": "...", "fileData": {...}}.
        Some(Value::String(encoded)) => {
            let data = encoded.split_once("base64,").map_or(encoded.as_str(), |(_, data)| data);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|_| ParseError::new(ErrorCode::FileSaveError, "Invalid base64 file data."))?;
            size = u64::try_from(bytes.len()).ok();
            basalt_files::single_chunk(bytes)
        }
        Some(_) => return Err(ParseError::new(ErrorCode::FileSaveError, "Invalid base64 file data.").into()),
        None => {
            let limit = state.engine.upload_bytes_max();
            size = declared;
            if declared.is_some_and(|length| length > limit) {
                return Ok(too_large(limit));
            }
            Box::pin(raw.into_body().into_data_stream().map_err(std::io::Error::other))
        }
    };
    match state.engine.save_file(&request.caller, &file_name, request.content_type.as_deref(), size, body).await {
        Ok(saved) => {
            let mut response =
                (StatusCode::CREATED, Json(json!({"name": saved.name, "url": saved.url}))).into_response();
            if let Ok(location) = HeaderValue::from_str(&saved.url) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Err(error) if error.code == ErrorCode::FileSaveError && error.message.starts_with("File size exceeds") => {
            Ok(too_large(state.engine.upload_bytes_max()))
        }
        Err(error) => Err(error.into()),
    }
}

fn too_large(limit: u64) -> Response {
    let body = json!({"code": ErrorCode::FileSaveError.as_i32(), "error": format!("File size exceeds the limit of {limit} bytes.")});
    (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
}

async fn delete_file(
    State(state): State<AppState>,
    Path(file_name): Path<String>,
    request: ParseRequest,
) -> Result<Response, ApiError> {
    state.engine.delete_file(&request.caller, &file_name).await?;
    // Parse compat: a delete answers 200 with an empty body (the JS SDK expects none).
    Ok(StatusCode::OK.into_response())
}

/// Parses `Range: bytes=a-b` (one range; anything else is served whole, as RFC 9110 allows).
fn requested_range(headers: &HeaderMap) -> Option<ByteRange> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = value.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    match (start.trim(), end.trim()) {
        ("", suffix) => suffix.parse().ok().map(ByteRange::Suffix),
        (start, "") => start.parse().ok().map(ByteRange::From),
        (start, end) => Some(ByteRange::Bounded(start.parse().ok()?, end.parse().ok()?)),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "File not found.").into_response()
}

/// Who downloads, for the file triggers: the master key (from its addresses) or the session of
/// `X-Parse-Session-Token`; anyone else is the public. Only resolved when a trigger will see it.
async fn download_caller(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> Result<Caller, ApiError> {
    if !state.engine.has_file_find_triggers() {
        return Ok(Caller::anonymous());
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).filter(|value| !value.is_empty());
    let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    if header("x-parse-master-key") == Some(state.config.keys.master_key.as_str())
        && state.config.keys.accepts_master_key_from(peer)
    {
        return Ok(Caller::master());
    }
    match header("x-parse-session-token") {
        Some(token) => Ok(state.engine.caller_for_session(token, None).await?),
        None => Ok(Caller::anonymous()),
    }
}

async fn download_file(
    State(state): State<AppState>,
    Path((app_id, file_name)): Path<(String, String)>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
) -> Response {
    if app_id != state.config.keys.app_id {
        // Parse compat: a URL for another application is refused, not "not found".
        let body = json!({"code": ErrorCode::OperationForbidden.as_i32(), "error": "Invalid application ID."});
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    let caller = match download_caller(&state, &headers, &extensions).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let range = requested_range(&headers);
    let download = match state.engine.open_file(&caller, &file_name, range).await {
        Ok(download) => download,
        // Parse compat: a file trigger's refusal is a 403 with its error.
        Err(DownloadError::Refused(error)) => {
            return (StatusCode::FORBIDDEN, Json(crate::error::error_body(&error))).into_response();
        }
        Err(DownloadError::File(FileError::NotFound | FileError::InvalidName)) => return not_found(),
        Err(DownloadError::File(FileError::RangeNotSatisfiable { size })) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
        Err(DownloadError::File(error)) => {
            return ApiError::Parse(ParseError::internal(error.to_string())).into_response();
        }
    };
    let file_name = download.name;
    let read = download.read;
    let content_type = mime_guess::from_path(&file_name).first_or_octet_stream();
    let (status, length) = match read.range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        None => (StatusCode::OK, read.size),
    };
    let mut response = Response::new(Body::from_stream(read.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut put = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put(header::CONTENT_TYPE, content_type.to_string());
    put(header::CONTENT_LENGTH, length.to_string());
    put(header::ACCEPT_RANGES, "bytes".into());
    // A stored name never changes content (names are unique), so caches may keep it for good.
    put(header::CACHE_CONTROL, "public, max-age=31536000, immutable".into());
    put(header::ETAG, format!("\"{file_name}\""));
    put(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
    if let Some((start, end)) = read.range {
        put(header::CONTENT_RANGE, format!("bytes {start}-{end}/{}", read.size));
    }
    if download.force_download {
        put(header::CONTENT_DISPOSITION, format!("attachment;filename={file_name}"));
    }
    for (name, value) in download.response_headers {
        if let (Ok(name), Ok(value)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
        {
            headers.insert(name, value);
        }
    }
    response
}
