//! CORS headers as Parse Server sends them: on every response, and a bare
//! 200 for preflight requests without any key check.

use axum::http::{HeaderMap, HeaderValue, header};

// Constants: `HeaderValue::from_static` checks every byte when it runs, so it runs once here
// rather than on every response.
const ALLOW_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET,PUT,POST,DELETE,OPTIONS");
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static(
    "X-Parse-Master-Key, X-Parse-REST-API-Key, X-Parse-Javascript-Key, X-Parse-Application-Id, X-Parse-Client-Version, X-Parse-Session-Token, X-Requested-With, X-Parse-Revocable-Session, X-Parse-Request-Id, Content-Type, Pragma, Cache-Control",
);
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("X-Parse-Job-Status-Id, X-Parse-Push-Status-Id");

/// Adds the CORS headers to a response.
pub(crate) fn add_headers(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW_ORIGIN);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
}
