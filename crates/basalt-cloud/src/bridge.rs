//! Calls from cloud code into the engine: REST-shaped requests (`classes/:class[/:id]`,
//! `aggregate/:class`, `config`) run
//! in-process with the rights the options give (`useMasterKey`, `sessionToken`, or none: public,
//! as on Parse Server), blocking the worker thread until the engine answers.

use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use basalt_engine::{Caller, DownloadError, Engine, GetParams};
use basalt_files::FileError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

async fn caller_for(engine: &Engine, options: &Map<String, Value>) -> ParseResult<Caller> {
    let mut caller = if options.get("useMasterKey").and_then(Value::as_bool) == Some(true) {
        Caller::master()
    } else {
        match options.get("sessionToken").and_then(Value::as_str) {
            Some(token) => engine.caller_for_session(token, None).await?,
            None => Caller::anonymous(),
        }
    };
    // `save(null, { context })` from cloud code reaches the triggers as on Parse Server.
    if let Some(Value::Object(context)) = options.get("context") {
        caller.context = Some(std::sync::Arc::new(context.clone()));
    }
    Ok(caller)
}

/// `Parse.File.save` from cloud code: the bytes come as `base64` text or a `bytes` array.
async fn save_file(engine: &Engine, caller: &Caller, name: &str, body: &Map<String, Value>) -> ParseResult<Value> {
    let Some(bytes) = basalt_engine::file_data(body)? else {
        return Err(ParseError::new(ErrorCode::FileSaveError, "Cannot save a file without data."));
    };
    let content_type = body.get("contentType").and_then(Value::as_str);
    let size = u64::try_from(bytes.len()).ok();
    let saved = engine.save_file(caller, name, content_type, size, basalt_files::single_chunk(bytes)).await?;
    Ok(json!({ "name": saved.name, "url": saved.url }))
}

/// `Parse.File.getData` from cloud code: the whole file, as base64 text, through the file
/// triggers with the call's rights.
async fn read_file(engine: &Engine, caller: &Caller, name: &str) -> ParseResult<Value> {
    let read = match engine.open_file(caller, name, None).await {
        Ok(download) => download.read,
        Err(DownloadError::Refused(error)) => return Err(error),
        Err(DownloadError::File(FileError::NotFound | FileError::InvalidName)) => {
            return Err(ParseError::object_not_found());
        }
        Err(DownloadError::File(error)) => return Err(ParseError::new(ErrorCode::FileReadError, error.to_string())),
    };
    let mut data = Vec::with_capacity(usize::try_from(read.size).unwrap_or(0));
    let mut body = read.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| ParseError::new(ErrorCode::FileReadError, error.to_string()))?;
        data.extend_from_slice(&chunk);
    }
    Ok(json!({ "base64": BASE64.encode(&data) }))
}

/// Parse compat: aggregate and config writes need the master key, from cloud code as over REST.
async fn dispatch(
    engine: &Engine,
    method: &str,
    path: &str,
    body: Map<String, Value>,
    options: Map<String, Value>,
) -> ParseResult<Value> {
    let caller = caller_for(engine, &options).await?;
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["classes", class_name]) => {
            let params = engine.find_params(&body)?;
            let found = engine.find_objects(&caller, &ClassName::parse(class_name)?, &params).await?;
            let mut response = Map::new();
            response.insert("results".into(), Value::Array(found.results));
            if let Some(count) = found.count {
                response.insert("count".into(), Value::from(count));
            }
            Ok(Value::Object(response))
        }
        ("POST", ["classes", class_name]) => {
            Ok(Value::Object(engine.create_object(&caller, &ClassName::parse(class_name)?, &body).await?.body))
        }
        ("GET", ["classes", class_name, object_id]) => {
            let params = GetParams::from_params(&body)?;
            engine.get_object(&caller, &ClassName::parse(class_name)?, object_id, &params).await
        }
        ("PUT", ["classes", class_name, object_id]) => {
            Ok(Value::Object(engine.update_object(&caller, &ClassName::parse(class_name)?, object_id, &body).await?))
        }
        ("DELETE", ["classes", class_name, object_id]) => {
            Ok(Value::Object(engine.delete_object(&caller, &ClassName::parse(class_name)?, object_id).await?))
        }
        ("GET", ["aggregate", class_name]) => engine.aggregate(&caller, &ClassName::parse(class_name)?, &body).await,
        ("GET", ["config"]) => engine.get_config(&caller).await,
        // For validators' role requirements: the session's roles, inherited ones included.
        ("GET", ["roles", "mine"]) => Ok(json!({ "roles": caller.roles })),
        ("POST", ["files", name]) => save_file(engine, &caller, name, &body).await,
        ("GET", ["files", name]) => read_file(engine, &caller, name).await,
        ("DELETE", ["files", name]) => engine.delete_file(&caller, name).await.map(|()| json!({})),
        ("PUT", ["config"]) => engine.update_config(&caller, &body).await,
        ("POST", ["push"]) => Ok(json!({ "pushStatusId": engine.send_push(&caller, &body).await? })),
        _ => Err(ParseError::invalid_json(format!("cannot route {method} {path} from cloud code"))),
    }
}

/// Runs one request and answers `{"ok": …}` or `{"error": {"code", "message"}}` as JSON text.
/// `engine` is absent while the code loads: top-level code cannot call the server.
pub(crate) fn request(
    engine: Option<&Engine>,
    handle: &tokio::runtime::Handle,
    method: &str,
    path: &str,
    body: &str,
    options: &str,
) -> String {
    let parse = |text: &str| -> ParseResult<Map<String, Value>> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(ParseError::invalid_json("cloud code sent a request that is not a JSON object")),
        }
    };
    let outcome = engine
        .ok_or_else(|| ParseError::new(ErrorCode::ScriptFailed, "Cloud code cannot call the server while it loads."))
        .and_then(|engine| parse(body).map(|body| (engine, body)))
        .and_then(|(engine, body)| parse(options).map(|options| (engine, body, options)))
        .and_then(|(engine, body, options)| handle.block_on(dispatch(engine, method, path, body, options)));
    match outcome {
        Ok(value) => json!({ "ok": value }).to_string(),
        Err(error) => {
            let message = match error.code {
                ErrorCode::InternalServerError => "Internal server error.".to_owned(),
                _ => error.message,
            };
            json!({ "error": { "code": error.code.as_i32(), "message": message } }).to_string()
        }
    }
}
