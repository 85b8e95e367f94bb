//! `Parse.Config` (`/config`): parameters kept in the one `_GlobalConfig`
//! object, written by the master key key by key, with `masterKeyOnly` parameters hidden from
//! clients.

use basalt_core::acl::Access;
use basalt_core::names::is_valid_nested_key;
use basalt_core::query::{Condition, FieldPath};
use basalt_core::update::UpdateOp;
use basalt_core::value::normalize_nested;
use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult, time};
use basalt_store::{FieldUpdate, WriteOp};
use serde_json::{Map, Value, json};

use crate::conditions::field_equals;
use crate::{Caller, Engine};

/// The objectId of the single config object (Parse Server uses "1" as well).
const CONFIG_OBJECT_ID: &str = "1";

fn path(field: &str, key: &str) -> FieldPath {
    FieldPath { field: field.to_owned(), sub_keys: vec![key.to_owned()] }
}

impl Engine {
    /// `GET /config`: `{"params": {...}, "masterKeyOnly": {...}}`; clients see neither the values
    /// nor the flags of master-only parameters.
    pub async fn get_config(&self, caller: &Caller) -> ParseResult<Value> {
        let stored = self
            .records_where(
                &ClassName::system("_GlobalConfig"),
                field_equals("objectId", json!(CONFIG_OBJECT_ID)),
                Some(1),
            )
            .await?;
        let record = stored.into_iter().next();
        let empty = Map::new();
        let params =
            record.as_ref().and_then(|record| record.fields.get("params")).and_then(Value::as_object).unwrap_or(&empty);
        let flags = record
            .as_ref()
            .and_then(|record| record.fields.get("masterKeyOnly"))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut visible = Map::new();
        let mut visible_flags = Map::new();
        for (key, value) in params {
            let master_only = flags.get(key).and_then(Value::as_bool).unwrap_or(false);
            if master_only && !caller.is_master {
                continue;
            }
            visible.insert(key.clone(), crate::output::field_json(value.clone(), &self.config().files_url_prefix));
            visible_flags.insert(key.clone(), Value::Bool(master_only));
        }
        Ok(json!({"params": visible, "masterKeyOnly": visible_flags}))
    }

    /// `GET /serverInfo` (master key): the API version Basalt speaks and the features Parse
    /// Dashboard may show.
    ///
    /// # Errors
    /// Without the master key.
    pub fn server_info(&self, caller: &Caller, parse_server_version: &str) -> ParseResult<Value> {
        caller.require_master()?;
        let push = !self.push_device_types().is_empty();
        Ok(json!({
            "parseServerVersion": parse_server_version,
            "features": {
                "globalConfig": {"create": false, "read": false, "update": false, "delete": false},
                "hooks": {"create": true, "read": true, "update": true, "delete": true},
                "cloudCode": {"jobs": false},
                "logs": {"level": false, "size": false, "order": false, "until": false, "from": false},
                "push": {
                    "immediatePush": push, "scheduledPush": push, "storedPushData": push,
                    "pushAudiences": true, "localization": true
                },
                "schemas": {
                    "addField": true, "removeField": true, "addClass": true, "removeClass": true,
                    "clearAllDataFromClass": true, "exportClass": false, "editClassLevelPermissions": true,
                    "editPointerPermissions": true
                },
                "settings": {"securityCheck": false}
            }
        }))
    }

    /// `PUT /config` (master key): sets or deletes each named parameter;
    /// a parameter written without a `masterKeyOnly` flag becomes public.
    ///
    /// # Errors
    /// Without the master key; 107 for a body without `params`; 121 for parameter names with `$` or `.`.
    pub async fn update_config(&self, caller: &Caller, body: &Map<String, Value>) -> ParseResult<Value> {
        caller.require_master()?;
        let params = body
            .get("params")
            .and_then(Value::as_object)
            .ok_or_else(|| ParseError::invalid_json("params must be an object"))?;
        let flags = body.get("masterKeyOnly").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut updates = Vec::new();
        for (key, value) in params {
            if !is_valid_nested_key(key) || key.is_empty() {
                return Err(ParseError::new(
                    ErrorCode::InvalidNestedKey,
                    "Nested keys should not contain the '$' or '.' characters",
                ));
            }
            if value.get("__op").and_then(Value::as_str) == Some("Delete") {
                updates.push(FieldUpdate { path: path("params", key), op: UpdateOp::Delete });
                updates.push(FieldUpdate { path: path("masterKeyOnly", key), op: UpdateOp::Delete });
                continue;
            }
            let master_only = flags.get(key).and_then(Value::as_bool).unwrap_or(false);
            updates.push(FieldUpdate { path: path("params", key), op: UpdateOp::Set(normalize_nested(value)?) });
            updates.push(FieldUpdate { path: path("masterKeyOnly", key), op: UpdateOp::Set(Value::Bool(master_only)) });
        }
        self.system_class("_GlobalConfig").await?;
        let schema = self
            .schemas()
            .get(&ClassName::system("_GlobalConfig"))
            .ok_or_else(|| ParseError::internal("no _GlobalConfig class"))?;
        if schema.field("params").is_none() || schema.field("masterKeyOnly").is_none() {
            let fields = vec![
                (basalt_core::FieldName::internal("params"), basalt_core::FieldType::Object),
                (basalt_core::FieldName::internal("masterKeyOnly"), basalt_core::FieldType::Object),
            ];
            let grown = self
                .store()
                .ensure_fields(&ClassName::system("_GlobalConfig"), fields, false)
                .await
                .map_err(ParseError::from)?;
            self.schemas().put(grown);
        }
        let now = time::format_iso(self.now());
        let update = WriteOp::Update {
            class_name: ClassName::system("_GlobalConfig"),
            object_id: CONFIG_OBJECT_ID.into(),
            updated_at: now.clone(),
            access: Access::Master,
            acl: None,
            updates: updates.clone(),
            condition: Condition::all(),
        };
        let outcome =
            self.write_ops(self.schemas().snapshot(), vec![update.clone()], false).await.map_err(ParseError::from)?;
        let missing = match outcome.into_iter().next() {
            Some(Ok(_)) => false,
            Some(Err(error)) if error.is_not_found() => true,
            Some(Err(error)) => return Err(error.into()),
            None => return Err(ParseError::internal("the store returned no outcome")),
        };
        if missing {
            let insert = WriteOp::Insert {
                class_name: ClassName::system("_GlobalConfig"),
                object_id: CONFIG_OBJECT_ID.into(),
                created_at: now,
                acl: Some(basalt_core::acl::Acl::default()),
                updates,
            };
            let inserted =
                self.write_ops(self.schemas().snapshot(), vec![insert], false).await.map_err(ParseError::from)?;
            if let Some(Err(error)) = inserted.into_iter().next() {
                let error = ParseError::from(error);
                if error.code != ErrorCode::DuplicateValue {
                    return Err(error);
                }
                // Another writer created the object first: apply this write on top of it.
                self.write_ops(self.schemas().snapshot(), vec![update], true).await.map_err(ParseError::from)?;
            }
        }
        Ok(json!({"result": true}))
    }
}
