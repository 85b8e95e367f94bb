//! `GET /serverInfo` (master key): the version and features Parse Dashboard reads.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::request::ParseRequest;

/// The Parse Server version whose API Basalt speaks.
const PARSE_SERVER_VERSION: &str = "9.10.0";

pub(crate) fn router(mount: &str) -> Router<AppState> {
    Router::new().route(&super::at(mount, "/serverInfo"), get(server_info))
}

async fn server_info(request: ParseRequest) -> Result<Json<Value>, ApiError> {
    request.require_master()?;
    Ok(Json(json!({
        "parseServerVersion": PARSE_SERVER_VERSION,
        "features": {
            "globalConfig": {"create": false, "read": false, "update": false, "delete": false},
            "hooks": {"create": true, "read": true, "update": true, "delete": true},
            "cloudCode": {"jobs": false},
            "logs": {"level": false, "size": false, "order": false, "until": false, "from": false},
            "push": {"immediatePush": false, "scheduledPush": false, "storedPushData": false, "pushAudiences": false, "localization": false},
            "schemas": {
                "addField": true, "removeField": true, "addClass": true, "removeClass": true,
                "clearAllDataFromClass": true, "exportClass": false, "editClassLevelPermissions": true,
                "editPointerPermissions": true
            },
            "settings": {"securityCheck": false}
        }
    })))
}
