//! Sessions (`_Session`): revocable tokens created at sign-up and log-in,
//! resolved on every request that carries one, ended by log-out and password changes.

use std::sync::Arc;

use basalt_core::acl::Access;
use basalt_core::query::{Condition, Constraint, FieldPath};
use basalt_core::value::{date_value, pointer_value};
use basalt_core::{ClassName, ClassSchema, ErrorCode, ParseError, ParseResult, time};
use basalt_store::{FindQuery, ObjectRecord, WriteOp};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::conditions::{field_equals, set_field};
use crate::{Caller, Engine, TriggerKind};

/// A session about to start: the writes that create it (and replace an older one), its token.
pub(crate) struct NewSession {
    pub(crate) ops: Vec<WriteOp>,
    pub(crate) token: String,
}

/// `r:` and 128 bits from the thread's CSPRNG, as 32 hex digits.
fn new_session_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let mut token = String::from("r:");
    for byte in bytes {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

/// How a session came to be (`createdWith`).
pub(crate) struct SessionOrigin<'a> {
    pub(crate) action: &'a str,
    pub(crate) auth_provider: &'a str,
}

impl Engine {
    /// The schema of a system class, creating the class with its default fields if needed.
    pub(crate) async fn system_class(&self, name: &'static str) -> ParseResult<Arc<ClassSchema>> {
        let class_name = ClassName::system(name);
        if let Some(schema) = self.schemas().get(&class_name) {
            return Ok(schema);
        }
        let created = self.store().ensure_fields(&class_name, Vec::new(), true).await.map_err(ParseError::from)?;
        Ok(self.schemas().put(created))
    }

    /// Records of a class matching a condition, read with the master key.
    pub(crate) async fn records_where(
        &self,
        class_name: &ClassName,
        condition: Condition,
        limit: Option<usize>,
    ) -> ParseResult<Vec<ObjectRecord>> {
        // Sessions, users, config: read with the class's schema as it is (another node may have
        // just created the class or added the field).
        self.refresh_if_stale(class_name).await?;
        self.cached_records_where(class_name, condition, limit).await
    }

    /// `records_where` with the schema as cached (for the reads `refresh_if_stale` itself makes).
    pub(crate) async fn cached_records_where(
        &self,
        class_name: &ClassName,
        condition: Condition,
        limit: Option<usize>,
    ) -> ParseResult<Vec<ObjectRecord>> {
        let query = crate::gate::Gated::system(FindQuery {
            class_name: class_name.clone(),
            condition,
            order: Vec::new(),
            limit,
            skip: 0,
            fields: None,
            access: Access::Master,
        });
        Ok(self.find_records(&query).await?.map(|(_, records)| records).unwrap_or_default())
    }

    /// The caller a session token stands for: its user and every role the user has.
    ///
    /// # Errors
    /// 209 "Invalid session token" for an unknown token, "Session token is expired." for an expired
    /// one (which is then deleted).
    pub async fn caller_for_session(&self, token: &str, installation_id: Option<String>) -> ParseResult<Caller> {
        let invalid = || ParseError::new(ErrorCode::InvalidSessionToken, "Invalid session token");
        let sessions = self
            .records_where(
                &ClassName::system("_Session"),
                field_equals("sessionToken", Value::String(token.to_owned())),
                Some(1),
            )
            .await?;
        let session = sessions.into_iter().next().ok_or_else(invalid)?;
        let expires_at = session
            .fields
            .get("expiresAt")
            .and_then(|value| value.get("iso"))
            .and_then(Value::as_str)
            .and_then(|iso| time::parse_iso(iso).ok());
        let expired = expires_at.is_some_and(|at| at <= self.now());
        if expired {
            let op = WriteOp::Delete {
                class_name: ClassName::system("_Session"),
                object_id: session.object_id,
                access: Access::Master,
                condition: Condition::all(),
            };
            let _ = self.write_ops(self.schemas().snapshot(), vec![op], true).await;
            return Err(ParseError::new(ErrorCode::InvalidSessionToken, "Session token is expired."));
        }
        let user_id = session
            .fields
            .get("user")
            .and_then(|user| user.get("objectId"))
            .and_then(Value::as_str)
            .ok_or_else(invalid)?
            .to_owned();
        let roles = self.store().role_names(&user_id).await.map_err(ParseError::from)?;
        Ok(Caller {
            is_master: false,
            roles: roles.into_iter().map(|name| format!("role:{name}")).collect(),
            user_id: Some(user_id),
            installation_id,
            session_token: Some(token.to_owned()),
            session_expires_at: expires_at,
            context: None,
        })
    }

    /// The writes that start a session for a user (replacing the user's older session on the
    /// same installation), and its token.
    pub(crate) async fn new_session(
        &self,
        user_id: &str,
        installation_id: Option<&str>,
        origin: SessionOrigin<'_>,
        extra_fields: Map<String, Value>,
    ) -> ParseResult<NewSession> {
        self.system_class("_Session").await?;
        let token = new_session_token();
        let now = self.now();
        let expires_at = now.saturating_add(self.config().auth.session_length_secs.saturating_mul(1000));
        let mut ops = Vec::new();
        if let Some(installation_id) = installation_id {
            ops.push(WriteOp::DeleteWhere {
                class_name: ClassName::system("_Session"),
                condition: Condition::And(vec![
                    field_equals("user", pointer_value("_User", user_id)),
                    field_equals("installationId", Value::String(installation_id.to_owned())),
                ]),
            });
        }
        let mut updates = vec![
            set_field("sessionToken", Value::String(token.clone())),
            set_field("user", pointer_value("_User", user_id)),
            set_field(
                "createdWith",
                match origin.action {
                    // Parse compat: a session made through POST /sessions records only the action.
                    "create" => json!({"action": "create"}),
                    action => json!({"action": action, "authProvider": origin.auth_provider}),
                },
            ),
            set_field("expiresAt", date_value(&time::format_iso(expires_at))),
        ];
        if let Some(installation_id) = installation_id {
            updates.push(set_field("installationId", Value::String(installation_id.to_owned())));
        }
        for (name, value) in extra_fields {
            updates.push(set_field(&name, value));
        }
        // Parse compat: sessions carry no ACL; clients reach only their own sessions because
        // every client read and write of `_Session` is restricted to `user = caller`.
        ops.push(WriteOp::Insert {
            class_name: ClassName::system("_Session"),
            object_id: crate::object_id::new_object_id(),
            created_at: time::format_iso(now),
            acl: None,
            updates,
        });
        Ok(NewSession { ops, token })
    }

    /// The writes that end every session of a user (except, when given, the one with `keep`).
    pub(crate) fn end_sessions(&self, user_id: &str, keep: Option<&str>) -> WriteOp {
        let mut parts = vec![field_equals("user", pointer_value("_User", user_id))];
        if let Some(keep) = keep {
            parts.push(Condition::Field {
                path: FieldPath { field: "sessionToken".into(), sub_keys: Vec::new() },
                constraint: Constraint::NotEquals(Value::String(keep.to_owned())),
            });
        }
        WriteOp::DeleteWhere { class_name: ClassName::system("_Session"), condition: Condition::And(parts) }
    }

    /// `POST /logout`: ends the caller's session. Without one, nothing happens.
    pub async fn log_out(&self, caller: &Caller) -> ParseResult<Value> {
        if let Some(token) = &caller.session_token {
            let ended = match self.has_trigger(TriggerKind::AfterLogout, "_Session") {
                true => self.current_session(caller).await.ok(),
                false => None,
            };
            let op = WriteOp::DeleteWhere {
                class_name: ClassName::system("_Session"),
                condition: field_equals("sessionToken", Value::String(token.clone())),
            };
            self.write_ops(self.schemas().snapshot(), vec![op], true).await.map_err(ParseError::from)?;
            if let Some(Value::Object(session)) = ended {
                // Parse compat: the log-out has happened; the trigger's failure is only logged.
                if let Err(error) = self.run_auth_trigger(TriggerKind::AfterLogout, caller, session, None).await {
                    tracing::warn!(code = error.code.as_i32(), %error, "an afterLogout trigger failed");
                }
            }
        }
        Ok(Value::Object(Map::new()))
    }

    /// `GET /sessions/me`.
    ///
    /// # Errors
    /// 209 without a session.
    pub async fn current_session(&self, caller: &Caller) -> ParseResult<Value> {
        let Some(token) = &caller.session_token else {
            return Err(ParseError::new(ErrorCode::InvalidSessionToken, "Session token required."));
        };
        let params = crate::FindParams {
            where_json: json!({"sessionToken": token}),
            limit: Some(1),
            ..crate::FindParams::default()
        };
        let found = self.find_objects(&Caller::master(), &ClassName::system("_Session"), &params).await?;
        found
            .results
            .into_iter()
            .next()
            .ok_or_else(|| ParseError::new(ErrorCode::InvalidSessionToken, "Invalid session token"))
    }
}

#[cfg(test)]
mod tests;
