//! `GET /health`: readiness, no keys needed.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::AppState;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/health"), get(health))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
