//! `/sessions` and `/roles`: the routes that mirror `/classes/_Session` and `/classes/_Role`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use basalt_core::ClassName;
use basalt_engine::{FindParams, GetParams};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::request::{ParseRequest, QueryPairs};
use crate::routes::classes::{created_response, find_response};

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new()
        .route(&super::at(mount, "/sessions/me"), get(current_session))
        .route(&super::at(mount, "/sessions"), get(find_sessions).post(create_session))
        .route(&super::at(mount, "/sessions/{object_id}"), get(get_session).put(update_session).delete(delete_session))
        .route(&super::at(mount, "/roles"), get(find_roles).post(create_role))
        .route(&super::at(mount, "/roles/{object_id}"), get(get_role).put(update_role).delete(delete_role))
}

async fn current_session(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.current_session(&request.caller).await?))
}

async fn find_in(
    state: &AppState,
    class_name: &ClassName,
    query: &[(String, String)],
    request: &ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let limits = state.engine.limits();
    let params = FindParams::from_params(&request.params(query), limits.find_limit_default, limits.find_limit_max)?;
    Ok(Json(find_response(state.engine.find_objects(&request.caller, class_name, &params).await?)))
}

async fn get_in(
    state: &AppState,
    class_name: &ClassName,
    object_id: &str,
    query: &[(String, String)],
    request: &ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let params = GetParams::from_params(&request.params(query))?;
    Ok(Json(state.engine.get_object(&request.caller, class_name, object_id, &params).await?))
}

async fn find_sessions(
    State(state): State<AppState>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    find_in(&state, &ClassName::system("_Session"), &query, &request).await
}

async fn create_session(State(state): State<AppState>, request: ParseRequest) -> Result<Response, ApiError> {
    let created = state.engine.create_object(&request.caller, &ClassName::system("_Session"), &request.body).await?;
    Ok(created_response(&state, &["sessions"], created))
}

async fn get_session(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    get_in(&state, &ClassName::system("_Session"), &object_id, &query, &request).await
}

async fn update_session(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(
        state.engine.update_object(&request.caller, &ClassName::system("_Session"), &object_id, &request.body).await?,
    )))
}

async fn delete_session(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(
        state.engine.delete_object(&request.caller, &ClassName::system("_Session"), &object_id).await?,
    )))
}

async fn find_roles(
    State(state): State<AppState>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    find_in(&state, &ClassName::system("_Role"), &query, &request).await
}

async fn create_role(State(state): State<AppState>, request: ParseRequest) -> Result<Response, ApiError> {
    let created = state.engine.create_object(&request.caller, &ClassName::system("_Role"), &request.body).await?;
    Ok(created_response(&state, &["classes", "_Role"], created))
}

async fn get_role(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    get_in(&state, &ClassName::system("_Role"), &object_id, &query, &request).await
}

async fn update_role(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(
        state.engine.update_object(&request.caller, &ClassName::system("_Role"), &object_id, &request.body).await?,
    )))
}

async fn delete_role(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(state.engine.delete_object(&request.caller, &ClassName::system("_Role"), &object_id).await?)))
}
