//! Errors to HTTP responses, in one place: Parse errors get Parse's status for their code;
//! key failures get 403 `{"error":"unauthorized"}`; internal failures are
//! logged with their cause and answered with a generic body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use basalt_core::{ErrorCode, ParseError};
use serde_json::json;

/// An error a handler or the request preparation answers with.
#[derive(Debug)]
pub enum ApiError {
    Parse(ParseError),
    /// Missing or wrong application id or client key, or a master key from a foreign address.
    Unauthorized,
    /// A master-key route called without it.
    MasterKeyRequired,
    /// The request body is over the limit.
    BodyTooLarge(usize),
    /// The request body did not arrive within `Limits::body_read_ms_max`.
    BodyTimedOut(std::time::Duration),
    /// No such route.
    NotFound(String),
}

impl From<ParseError> for ApiError {
    fn from(error: ParseError) -> ApiError {
        if error.is_master_key_required() {
            return ApiError::MasterKeyRequired;
        }
        ApiError::Parse(error)
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// The HTTP status Parse Server uses for an error code.
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ObjectNotFound => StatusCode::NOT_FOUND,
        ErrorCode::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::ConnectionFailed => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The generic message of an internal error; its cause goes to the log only.
const INTERNAL_MESSAGE: &str = "Internal server error.";

/// The body of an internal error answered on its own: Parse Server's shape, whose key is
/// `message` (the SDKs read either key).
fn internal_response_body() -> serde_json::Value {
    json!({"code": 1, "message": INTERNAL_MESSAGE})
}

/// The JSON body of a Parse error (also each failed item of a batch, where every item's error
/// has the `error` key, internal ones included). Internal errors never show their cause.
pub(crate) fn error_body(error: &ParseError) -> serde_json::Value {
    if error.code == ErrorCode::InternalServerError && !error.is_busy() {
        tracing::error!(cause = %error.message, "internal error");
        return json!({"code": 1, "error": INTERNAL_MESSAGE});
    }
    json!({"code": error.code.as_i32(), "error": error.message})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            // The JS SDK retries a 5xx after a back-off; 503 says the server itself is fine.
            ApiError::Parse(error) if error.is_busy() => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"code": error.code.as_i32(), "error": error.message}),
            ),
            ApiError::Parse(error) if error.code == ErrorCode::InternalServerError => {
                tracing::error!(cause = %error.message, "internal error");
                json_response(StatusCode::INTERNAL_SERVER_ERROR, internal_response_body())
            }
            ApiError::Parse(error) => json_response(status_of(error.code), error_body(&error)),
            ApiError::Unauthorized => json_response(StatusCode::FORBIDDEN, json!({"error": "unauthorized"})),
            ApiError::MasterKeyRequired => {
                json_response(StatusCode::FORBIDDEN, json!({"error": "unauthorized: master key is required"}))
            }
            ApiError::BodyTooLarge(limit) => json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"code": ErrorCode::ObjectTooLarge.as_i32(), "error": format!("The request body is larger than the limit of {limit} bytes.")}),
            ),
            ApiError::BodyTimedOut(read_time) => json_response(
                StatusCode::REQUEST_TIMEOUT,
                json!({"code": ErrorCode::Timeout.as_i32(), "error": format!("The request body did not arrive within {} ms.", read_time.as_millis())}),
            ),
            ApiError::NotFound(path) => {
                json_response(StatusCode::NOT_FOUND, json!({"error": format!("Cannot route {path}")}))
            }
        }
    }
}

/// The answer to a request whose handler panicked: a bug, logged; the process keeps serving.
pub(crate) fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_default();
    tracing::error!(%message, "request handler panicked");
    json_response(StatusCode::INTERNAL_SERVER_ERROR, internal_response_body())
}
