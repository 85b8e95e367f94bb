//! `GET /serverInfo` (master key): the version and features Parse Dashboard reads.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

/// The Parse Server version whose API Basalt speaks.
const PARSE_SERVER_VERSION: &str = "9.10.0";

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/serverInfo"), get(server_info))
}

async fn server_info(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.server_info(&request.caller, PARSE_SERVER_VERSION)?))
}
