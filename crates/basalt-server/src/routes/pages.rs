//! The pages behind email links: verifying an email and choosing a new
//! password. They need no keys — the token in the link is the credential — and answer with
//! redirects to small HTML pages, as Parse Server's pages do.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::collections::HashMap;

use crate::AppState;

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new()
        .route(&super::at(mount, "/apps/choose_password"), get(choose_password))
        .route(&super::at(mount, "/apps/{page}"), get(static_page))
        .route(&super::at(mount, "/apps/{app_id}/verify_email"), get(verify_email))
        .route(&super::at(mount, "/apps/{app_id}/request_password_reset"), get(open_reset_link).post(reset_password))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(byte).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn redirect(state: &AppState, target: &str) -> Response {
    let location = format!("{}/apps/{target}", state.config.public_server_url.trim_end_matches('/'));
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
    ))
}

async fn static_page(Path(name): Path<String>) -> Response {
    let (title, text) = match name.as_str() {
        "verify_email_success.html" => ("Email verified", "Your email address has been verified."),
        "invalid_verification_link.html" => ("Invalid link", "This verification link is invalid, used or expired."),
        "password_reset_success.html" => ("Password changed", "Your password has been changed."),
        "invalid_link.html" => ("Invalid link", "This link is invalid, used or expired."),
        _ => return (StatusCode::NOT_FOUND, page("Not found", "")).into_response(),
    };
    page(title, &format!("<p>{text}</p>")).into_response()
}

/// The token of an emailed link, when the link is for this app and carries one.
fn link_token<'a>(state: &AppState, app_id: &str, query: &'a HashMap<String, String>) -> Option<&'a str> {
    let token = query.get("token").map(String::as_str).filter(|token| !token.is_empty())?;
    (app_id == state.config.keys.app_id).then_some(token)
}

async fn verify_email(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(token) = link_token(&state, &app_id, &query) else {
        return redirect(&state, "invalid_verification_link.html");
    };
    match state.engine.verify_email(token).await {
        Ok(true) => redirect(&state, "verify_email_success.html"),
        Ok(false) => redirect(&state, "invalid_verification_link.html"),
        Err(error) => crate::error::ApiError::Parse(error).into_response(),
    }
}

async fn open_reset_link(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(token) = link_token(&state, &app_id, &query) else {
        return redirect(&state, "invalid_link.html");
    };
    match state.engine.reset_token_is_valid(token).await {
        Ok(true) => redirect(&state, &format!("choose_password?token={}&id={}", encode(token), encode(&app_id))),
        Ok(false) => redirect(&state, "invalid_link.html"),
        Err(error) => crate::error::ApiError::Parse(error).into_response(),
    }
}

async fn choose_password(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Response {
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    let app_id = query.get("id").map(String::as_str).unwrap_or(&state.config.keys.app_id);
    let error = query.get("error").map(|error| format!("<p role=\"alert\">{}</p>", escape(error))).unwrap_or_default();
    let action = format!("{}/apps/{}/request_password_reset", state.config.mount_path, encode(app_id));
    let form = format!(
        "{error}<form method=\"POST\" action=\"{}\"><input type=\"hidden\" name=\"token\" value=\"{}\"><label>New password <input type=\"password\" name=\"new_password\" autocomplete=\"new-password\" required></label><button type=\"submit\">Change password</button></form>",
        escape(&action),
        escape(token)
    );
    page("Choose a new password", &form).into_response()
}

async fn reset_password(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    let new_password = form.get("new_password").map(String::as_str).unwrap_or_default();
    if app_id != state.config.keys.app_id || token.is_empty() {
        return redirect(&state, "invalid_link.html");
    }
    match state.engine.reset_password(token, new_password).await {
        Ok(()) => redirect(&state, "password_reset_success.html"),
        Err(error) if error.code == basalt_core::ErrorCode::ObjectNotFound => redirect(&state, "invalid_link.html"),
        Err(error) if error.code == basalt_core::ErrorCode::InternalServerError => {
            crate::error::ApiError::Parse(error).into_response()
        }
        Err(error) => redirect(
            &state,
            &format!("choose_password?token={}&id={}&error={}", encode(token), encode(&app_id), encode(&error.message)),
        ),
    }
}
