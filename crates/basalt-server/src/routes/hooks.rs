//! `/hooks/functions` and `/hooks/triggers` (master key): Cloud Code webhooks. There is no
//! DELETE route: a `PUT` with `{"__op": "Delete"}` removes a hook, as on Parse Server.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use basalt_engine::HookTarget;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new()
        .route(&super::at(mount, "/hooks/functions"), get(list_functions).post(create))
        .route(&super::at(mount, "/hooks/triggers"), get(list_triggers).post(create))
        .route(&super::at(mount, "/hooks/functions/{name}"), get(get_function).put(put_function))
        .route(&super::at(mount, "/hooks/triggers/{class_name}/{trigger}"), get(get_trigger).put(put_trigger))
}

async fn list_functions(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Array(state.engine.list_hooks(&request.caller, true).await?)))
}

async fn list_triggers(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Array(state.engine.list_hooks(&request.caller, false).await?)))
}

async fn create(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.create_hook(&request.caller, &request.body).await?))
}

async fn get_function(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.get_hook(&request.caller, &HookTarget::Function(name)).await?))
}

async fn get_trigger(
    State(state): State<AppState>,
    Path((class_name, trigger)): Path<(String, String)>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.get_hook(&request.caller, &HookTarget::Trigger { class_name, trigger }).await?))
}

async fn put_function(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    put(&state, HookTarget::Function(name), &request).await
}

async fn put_trigger(
    State(state): State<AppState>,
    Path((class_name, trigger)): Path<(String, String)>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    put(&state, HookTarget::Trigger { class_name, trigger }, &request).await
}

/// Updates the hook's URL, or removes it for `{"__op": "Delete"}`.
async fn put(state: &AppState, target: HookTarget, request: &ParseRequest) -> Result<Json<Value>, ApiError> {
    if request.body.get("__op").and_then(Value::as_str) == Some("Delete") {
        state.engine.delete_hook(&request.caller, &target).await?;
        return Ok(Json(json!({})));
    }
    Ok(Json(state.engine.update_hook(&request.caller, &target, &request.body).await?))
}
