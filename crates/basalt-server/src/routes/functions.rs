//! `POST /functions/:name`: cloud functions, answered as `{"result": …}`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use basalt_core::ErrorCode;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{ParseRequest, QueryPairs};

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/functions/{name}"), post(run_function))
}

/// Request headers as cloud code sees them (`request.headers`): lower-case names, text values.
fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            value.to_str().ok().map(|value| (name.as_str().to_owned(), Value::String(value.to_owned())))
        })
        .collect()
}

async fn run_function(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Response, ApiError> {
    let ip = peer.map(|axum::Extension(ConnectInfo(address))| address.ip().to_canonical().to_string());
    // Parse compat: query-string values join the params and win over the body's.
    let params = request.params(&query);
    match state.engine.run_function(&request.caller, &name, params, header_map(&headers), ip).await {
        // Parse compat: a function that returns undefined answers `{}`.
        Ok(None) => Ok(Json(json!({})).into_response()),
        Ok(Some(result)) => Ok(Json(json!({ "result": result })).into_response()),
        // A code-1 error thrown by cloud code carries the developer's message (Parse keeps it).
        Err(error) if error.code == ErrorCode::InternalServerError => {
            Ok((StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"code": 1, "error": error.message}))).into_response())
        }
        Err(error) => Err(error.into()),
    }
}
