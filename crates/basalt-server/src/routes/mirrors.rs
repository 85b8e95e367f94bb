//! `/sessions`, `/roles` and `/installations`: the routes that mirror `/classes/_Session`,
//! `/classes/_Role` and `/classes/_Installation` (plus `/sessions/me`).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use basalt_core::ClassName;
use basalt_engine::GetParams;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::request::{ParseRequest, QueryPairs};
use crate::routes::classes::{created_response, find_response};

pub(crate) fn router(mount: &str) -> Router<AppState> {
    let router = Router::new().route(&super::at(mount, "/sessions/me"), get(current_session));
    let router = mirror(router, mount, "sessions", "_Session", &["sessions"]);
    let router = mirror(router, mount, "roles", "_Role", &["classes", "_Role"]);
    mirror(router, mount, "installations", "_Installation", &["classes", "_Installation"])
}

/// The five object routes of `class_name` at `/{path}`; a created object's `Location` is under
/// `location`.
fn mirror(
    router: Router<AppState>,
    mount: &str,
    path: &'static str,
    class_name: &'static str,
    location: &'static [&'static str],
) -> Router<AppState> {
    let class = move || ClassName::system(class_name);
    let find = move |State(state): State<AppState>, QueryPairs(query): QueryPairs, request: ParseRequest| async move {
        let params = state.engine.find_params(&request.params(&query))?;
        Ok::<_, ApiError>(Json(find_response(state.engine.find_objects(&request.caller, &class(), &params).await?)))
    };
    let create = move |State(state): State<AppState>, request: ParseRequest| async move {
        let created = state.engine.create_object(&request.caller, &class(), &request.body).await?;
        Ok::<Response, ApiError>(created_response(&state, location, created))
    };
    let get_one = move |State(state): State<AppState>,
                        Path(object_id): Path<String>,
                        QueryPairs(query): QueryPairs,
                        request: ParseRequest| async move {
        let params = GetParams::from_params(&request.params(&query))?;
        Ok::<_, ApiError>(Json(state.engine.get_object(&request.caller, &class(), &object_id, &params).await?))
    };
    let update = move |State(state): State<AppState>, Path(object_id): Path<String>, request: ParseRequest| async move {
        let updated = state.engine.update_object(&request.caller, &class(), &object_id, &request.body).await?;
        Ok::<_, ApiError>(Json(Value::Object(updated)))
    };
    let delete = move |State(state): State<AppState>, Path(object_id): Path<String>, request: ParseRequest| async move {
        let deleted = state.engine.delete_object(&request.caller, &class(), &object_id).await?;
        Ok::<_, ApiError>(Json(Value::Object(deleted)))
    };
    router
        .route(&super::at(mount, &format!("/{path}")), get(find).post(create))
        .route(&super::at(mount, &format!("/{path}/{{object_id}}")), get(get_one).put(update).delete(delete))
}

async fn current_session(State(state): State<AppState>, request: ParseRequest) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.engine.current_session(&request.caller).await?))
}
