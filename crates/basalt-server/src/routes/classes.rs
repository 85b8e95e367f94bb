//! `/classes/:className[/:objectId]`: object CRUD and queries.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use basalt_core::ClassName;
use basalt_engine::GetParams;
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{ParseRequest, QueryPairs};

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/classes/{class_name}"), get(find_objects).post(create_object)).route(
        &super::at(mount, "/classes/{class_name}/{object_id}"),
        get(get_object).put(update_object).delete(delete_object),
    )
}

async fn find_objects(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let params = state.engine.find_params(&request.params(&query))?;
    Ok(Json(find_response(state.engine.find_objects(&request.caller, &ClassName::parse(&class_name)?, &params).await?)))
}

/// `{"results": [...]}` plus `"count"` when asked.
pub(crate) fn find_response(found: basalt_engine::FindResult) -> Value {
    let mut response = Map::new();
    response.insert("results".into(), Value::Array(found.results));
    if let Some(count) = found.count {
        response.insert("count".into(), Value::from(count));
    }
    Value::Object(response)
}

async fn create_object(
    State(state): State<AppState>,
    Path(class_name): Path<String>,
    request: ParseRequest,
) -> Result<Response, ApiError> {
    let created = state.engine.create_object(&request.caller, &ClassName::parse(&class_name)?, &request.body).await?;
    Ok(created_response(&state, &["classes", &class_name], created))
}

/// 201 with `Location` for a new object (the server URL, `route`'s segments, the objectId); 200
/// when a sign-up turned out to be a log-in.
pub(crate) fn created_response(state: &AppState, route: &[&str], created: basalt_engine::Created) -> Response {
    if !created.created {
        return Json(Value::Object(created.body)).into_response();
    }
    let base = state.config.public_server_url.trim_end_matches('/');
    let mut location = String::with_capacity(base.len() + 48);
    location.push_str(base);
    for segment in route.iter().chain([&created.object_id.as_str()]) {
        location.push('/');
        location.push_str(segment);
    }
    let mut response = (StatusCode::CREATED, Json(Value::Object(created.body))).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn get_object(
    State(state): State<AppState>,
    Path((class_name, object_id)): Path<(String, String)>,
    QueryPairs(query): QueryPairs,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let params = GetParams::from_params(&request.params(&query))?;
    let object = state.engine.get_object(&request.caller, &ClassName::parse(&class_name)?, &object_id, &params).await?;
    Ok(Json(object))
}

async fn update_object(
    State(state): State<AppState>,
    Path((class_name, object_id)): Path<(String, String)>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let body =
        state.engine.update_object(&request.caller, &ClassName::parse(&class_name)?, &object_id, &request.body).await?;
    Ok(Json(Value::Object(body)))
}

async fn delete_object(
    State(state): State<AppState>,
    Path((class_name, object_id)): Path<(String, String)>,
    request: ParseRequest,
) -> Result<Json<Value>, ApiError> {
    let body = state.engine.delete_object(&request.caller, &ClassName::parse(&class_name)?, &object_id).await?;
    Ok(Json(Value::Object(body)))
}
