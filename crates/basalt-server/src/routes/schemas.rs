//! `/schemas[/:className]` and `/purge/:className`, master key only.

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use basalt_core::ClassName;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new()
        .route(&super::at(mount, "/schemas"), get(all_schemas).post(create_schema_from_body))
        .route(
            &super::at(mount, "/schemas/{class_name}"),
            get(class_schema).post(create_schema).put(update_schema).delete(delete_schema),
        )
        .route(&super::at(mount, "/purge/{class_name}"), delete(purge_class))
}

async fn all_schemas(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.all_schemas(&request.caller).await?))
}

async fn class_schema(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.class_schema(&request.caller, &ClassName::parse(&class_name)?).await?))
}

async fn create_schema_from_body(
    State(state): State<AppState>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.create_schema(&request.caller, None, &request.body).await?))
}

async fn create_schema(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.create_schema(&request.caller, Some(&class_name), &request.body).await?))
}

async fn update_schema(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.update_schema(&request.caller, &ClassName::parse(&class_name)?, &request.body).await?))
}

async fn delete_schema(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.delete_schema(&request.caller, &ClassName::parse(&class_name)?).await?))
}

async fn purge_class(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.purge_class(&request.caller, &ClassName::parse(&class_name)?).await?))
}
