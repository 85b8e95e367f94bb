//! `POST /jobs/:name` (master key): starts a background job; the answer carries the
//! `_JobStatus` objectId in `X-Parse-Job-Status-Id`, where the JS SDK reads it.

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/jobs/{name}"), post(start_job))
}

async fn start_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: ParseRequest,
) -> Result<Response, ApiError> {
    let job_status_id = state.engine.start_job(&request.caller, &name, request.body.clone()).await?;
    let mut response = Json(json!({})).into_response();
    if let Ok(value) = HeaderValue::from_str(&job_status_id) {
        response.headers_mut().insert("X-Parse-Job-Status-Id", value);
    }
    Ok(response)
}
