//! `POST /push` (master key): queues a push; the answer carries the `_PushStatus` objectId in
//! `X-Parse-Push-Status-Id`, where the JS SDK reads it. `/push_audiences` (master key): saved
//! audiences, as Parse Dashboard uses them.

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{ParseRequest, QueryPairs};
use crate::routes::classes::{created_response, find_response};

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new()
        .route(&super::at(mount, "/push"), post(send_push))
        .route(&super::at(mount, "/push_audiences"), get(find_audiences).post(create_audience))
        .route(
            &super::at(mount, "/push_audiences/{object_id}"),
            get(get_audience).put(update_audience).delete(delete_audience),
        )
}

async fn send_push(State(state): State<AppState>, request: ParseRequest) -> Result<Response, ApiError> {
    let push_status_id = state.engine.send_push(&request.caller, &request.body).await?;
    let mut response = Json(json!({"result": true})).into_response();
    if let Ok(value) = HeaderValue::from_str(&push_status_id) {
        response.headers_mut().insert("X-Parse-Push-Status-Id", value);
    }
    Ok(response)
}

async fn find_audiences(
    State(state): State<AppState>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let params = state.engine.find_params(&request.params(&query))?;
    Ok(Json(find_response(state.engine.find_audiences(&request.caller, &params).await?)))
}

async fn create_audience(State(state): State<AppState>, request: ParseRequest) -> Result<Response, ApiError> {
    let created = state.engine.create_audience(&request.caller, &request.body).await?;
    Ok(created_response(&state, &["push_audiences"], created))
}

async fn get_audience(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.get_audience(&request.caller, &object_id).await?))
}

async fn update_audience(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(state.engine.update_audience(&request.caller, &object_id, &request.body).await?)))
}

async fn delete_audience(
    State(state): State<AppState>,
    Path(object_id): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(Value::Object(state.engine.delete_audience(&request.caller, &object_id).await?)))
}
