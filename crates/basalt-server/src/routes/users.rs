//! `/users`, `/login`, `/logout`: sign-up, log-in, the current user, and user objects.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use basalt_core::ClassName;
use basalt_engine::GetParams;
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{ParseRequest, QueryPairs};
use crate::routes::classes::{created_response, find_response};

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new()
        .route(&super::at(mount, "/users"), get(find_users).post(sign_up))
        .route(&super::at(mount, "/users/me"), get(current_user))
        .route(&super::at(mount, "/users/{object_id}"), get(get_user).put(update_user).delete(delete_user))
        .route(&super::at(mount, "/login"), get(log_in).post(log_in))
        .route(&super::at(mount, "/logout"), post(log_out))
        .route(&super::at(mount, "/requestPasswordReset"), post(request_password_reset))
        .route(&super::at(mount, "/verificationEmailRequest"), post(request_verification_email))
}

async fn sign_up(State(state): State<AppState>, request: ParseRequest) -> Result<Response, ApiError> {
    let created = state.engine.sign_up(&request.caller, &request.body).await?;
    Ok(created_response(&state, &["users"], created))
}

async fn find_users(
    State(state): State<AppState>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let params = state.engine.find_params(&request.params(&query))?;
    Ok(Json(find_response(state.engine.find_objects(&request.caller, &ClassName::system("_User"), &params).await?)))
}

async fn current_user(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(state.engine.current_user(&request.caller).await?)))
}

async fn get_user(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let params = GetParams::from_params(&request.params(&query))?;
    Ok(Json(state.engine.get_object(&request.caller, &ClassName::system("_User"), &object_id, &params).await?))
}

async fn update_user(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(
        state.engine.update_object(&request.caller, &ClassName::system("_User"), &object_id, &request.body).await?,
    )))
}

async fn delete_user(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(state.engine.delete_object(&request.caller, &ClassName::system("_User"), &object_id).await?)))
}

async fn log_in(
    State(state): State<AppState>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let params: Map<String, Value> = request.params(&query);
    Ok(Json(Value::Object(state.engine.log_in(&request.caller, &params).await?)))
}

async fn log_out(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.log_out(&request.caller).await?))
}

async fn request_password_reset(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.request_password_reset(&request.caller, &request.body).await?))
}

async fn request_verification_email(
    State(state): State<AppState>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.request_verification_email(&request.body).await?))
}
