//! `POST /batch`: routes each sub-request's path and hands the lot to the
//! engine, which commits them together.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use basalt_core::ParseError;
use basalt_engine::{BatchItem, BatchMethod};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, error_body, status_of};
use crate::request::ParseRequest;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/batch"), post(run_batch))
}

/// Strips the mount path (or the path of the public URL) and routes `/classes/…`.
fn route_item(state: &AppState, request: &Value) -> Result<BatchItem, ParseError> {
    let method = match request.get("method").and_then(Value::as_str) {
        Some("GET") => BatchMethod::Get,
        Some("POST") => BatchMethod::Post,
        Some("PUT") => BatchMethod::Put,
        Some("DELETE") => BatchMethod::Delete,
        _ => return Err(ParseError::invalid_json("batch request method must be GET, POST, PUT or DELETE")),
    };
    let path = request
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| ParseError::invalid_json("batch request path must be a string"))?;
    let body = match request.get("body") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(body)) => body.clone(),
        Some(_) => return Err(ParseError::invalid_json("batch request body must be an object")),
    };
    let public_path = state
        .config
        .public_server_url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|index| rest[index..].to_owned()))
        .unwrap_or_default();
    let mount = state.config.mount_path.as_str();
    let cannot_route = || ParseError::invalid_json(format!("cannot route batch path {path}"));
    let relative = [mount, public_path.as_str()]
        .into_iter()
        .filter(|prefix| !prefix.is_empty())
        .find_map(|prefix| path.strip_prefix(prefix).filter(|rest| rest.starts_with('/')))
        .or(if mount.is_empty() { Some(path) } else { None })
        .ok_or_else(cannot_route)?;
    let relative = relative.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = relative.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["batch"] => Err(ParseError::invalid_json("nested batch requests are not allowed")),
        ["classes", class_name] => {
            Ok(BatchItem { method, class_name: (*class_name).to_owned(), object_id: None, body })
        }
        ["classes", class_name, object_id] => Ok(BatchItem {
            method,
            class_name: (*class_name).to_owned(),
            object_id: Some((*object_id).to_owned()),
            body,
        }),
        // The routes that mirror a system class.
        [mirror @ ("installations" | "roles"), rest @ ..] if rest.len() <= 1 => Ok(BatchItem {
            method,
            class_name: if *mirror == "roles" { "_Role" } else { "_Installation" }.to_owned(),
            object_id: rest.first().map(|id| (*id).to_owned()),
            body,
        }),
        _ => Err(cannot_route()),
    }
}

async fn run_batch(State(state): State<AppState>, request: ParseRequest) -> Result<Response, ApiError> {
    let requests = request
        .body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::invalid_json("requests must be an array"))?;
    let limit = state.engine.limits().batch_requests_max;
    if requests.len() > limit && !request.caller.is_master {
        return Err(ParseError::invalid_json(format!(
            "Batch request contains {} sub-requests, which exceeds the limit of {limit}.",
            requests.len()
        ))
        .into());
    }
    let transaction = request.body.get("transaction").and_then(Value::as_bool).unwrap_or(false);
    let items = requests.iter().map(|item| route_item(&state, item)).collect::<Result<Vec<_>, _>>()?;
    match state.engine.run_batch(&request.caller, items, transaction).await {
        Ok(responses) => {
            let body: Vec<Value> = responses
                .into_iter()
                .map(|response| match response {
                    Ok(success) => json!({"success": success}),
                    Err(error) => json!({"error": error_body(&error)}),
                })
                .collect();
            Ok(Json(Value::Array(body)).into_response())
        }
        // A failed transaction: Parse Server answers a bare 500; Basalt answers with the failing
        // item's error (README, "Differences from Parse Server"). Nothing was kept either way.
        Err(error) if transaction => Ok((status_of(error.code), Json(error_body(&error))).into_response()),
        Err(error) => Err(error.into()),
    }
}
