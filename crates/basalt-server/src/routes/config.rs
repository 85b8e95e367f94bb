//! `/config`: `Parse.Config` parameters; writes need the master key.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/config"), get(get_config).put(update_config))
}

async fn get_config(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.get_config(&request.caller).await?))
}

async fn update_config(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.update_config(&request.caller, &request.body).await?))
}
