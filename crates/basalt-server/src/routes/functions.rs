//! `POST /functions/:name`: cloud functions, answered as `{"result": …}`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/functions/{name}", post(run_function))
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
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let ip = peer.map(|axum::Extension(ConnectInfo(address))| address.ip().to_canonical().to_string());
    let result =
        state.engine.run_function(&request.caller, &name, request.body.clone(), header_map(&headers), ip).await?;
    Ok(Json(json!({ "result": result })))
}
