//! `GET /aggregate/:className`, master key only.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use basalt_core::ClassName;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::request::{ParseRequest, QueryPairs};

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/aggregate/{class_name}"), get(aggregate))
}

async fn aggregate(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.aggregate(&request.caller, &ClassName::parse(&class_name)?, &request.params(&query)).await?))
}
