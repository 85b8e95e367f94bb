//! Parse's rules for `_Installation` writes: a device is one row, found by its `installationId`
//! or its `deviceToken`, so a create may become an update of the row the device already has and
//! rows that claimed the same token are cleaned out; `installationId` and `deviceType` never
//! change once set.

use basalt_core::clp::ClpOperation;
use basalt_core::query::{Condition, Constraint, FieldPath};
use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use basalt_store::{ObjectRecord, WriteOp};
use serde_json::{Map, Value};

use crate::conditions::field_equals;
use crate::objects::PreparedWrite;
use crate::permissions::check_class_access;
use crate::{Caller, Engine};

/// Where an installation write goes.
#[derive(Debug, PartialEq)]
pub(crate) enum Resolved {
    /// Where it was aimed: a new row for a create, the named row for an update.
    AsAimed,
    /// To this row (the device's own, which a create or an update named by its ids).
    Row(String),
}

/// A string field of the body.
fn text<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    body.get(field).and_then(Value::as_str).filter(|value| !value.is_empty())
}

/// Lower-cases what Parse lower-cases: the `installationId`, and a 64-character `deviceToken`
/// (an APNs token in hex).
fn normalize(body: &mut Map<String, Value>) {
    if let Some(Value::String(id)) = body.get_mut("installationId") {
        *id = id.to_lowercase();
    }
    if let Some(Value::String(token)) = body.get_mut("deviceToken")
        && token.len() == 64
    {
        *token = token.to_lowercase();
    }
}

fn immutable(field: &str) -> ParseError {
    ParseError::new(ErrorCode::ChangedImmutableField, format!("{field} may not be changed in this operation"))
}

fn not_equal(field: &str, value: &str) -> Condition {
    Condition::Field {
        path: FieldPath { field: field.to_owned(), sub_keys: Vec::new() },
        constraint: Constraint::NotEquals(Value::String(value.to_owned())),
    }
}

/// The rows a write matched, by the id fields it names.
struct Matches {
    by_object_id: Option<ObjectRecord>,
    by_installation_id: Option<ObjectRecord>,
    by_device_token: Vec<ObjectRecord>,
}

fn field_of<'a>(record: &'a ObjectRecord, field: &str) -> Option<&'a str> {
    record.fields.get(field).and_then(Value::as_str)
}

impl Engine {
    /// Prepares a create of an installation: a new row, or an update of the device's row.
    pub(crate) async fn prepare_installation_create(
        &self,
        caller: &Caller,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let mut body = body.clone();
        let class_name = ClassName::system("_Installation");
        self.check_installation_write(caller, ClpOperation::Create)?;
        match self.resolve_installation(caller, None, &mut body).await? {
            Resolved::AsAimed => self.prepare_generic_create(caller, &class_name, &body).await,
            Resolved::Row(object_id) => {
                body.remove("objectId");
                body.remove("createdAt");
                let mut prepared = self.prepare_generic_update(caller, &class_name, &object_id, &body).await?;
                prepared.extra.insert("objectId".into(), Value::String(object_id));
                Ok(prepared)
            }
        }
    }

    /// Refuses a caller the class's permissions refuse the write, before the device lookup may
    /// remove other rows (which it does with the master key): a caller who may not write
    /// installations must not get rows deleted by trying.
    fn check_installation_write(&self, caller: &Caller, operation: ClpOperation) -> ParseResult<()> {
        let class_name = ClassName::system("_Installation");
        let verb = if operation == ClpOperation::Create { "create" } else { "update" };
        check_class_access(caller, &class_name, verb)?;
        if let Some(schema) = self.schemas().get(&class_name) {
            self.class_permission(caller, &schema, operation)?;
        }
        Ok(())
    }

    /// Prepares an update of an installation by objectId.
    pub(crate) async fn prepare_installation_update(
        &self,
        caller: &Caller,
        object_id: &str,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let mut body = body.clone();
        let class_name = ClassName::system("_Installation");
        self.check_installation_write(caller, ClpOperation::Update)?;
        let object_id = match self.resolve_installation(caller, Some(object_id), &mut body).await? {
            Resolved::Row(matched) => matched,
            Resolved::AsAimed => object_id.to_owned(),
        };
        self.prepare_generic_update(caller, &class_name, &object_id, &body).await
    }

    /// Applies Parse's installation rules to a write (`object_id`: an update of that row):
    /// normalizes the body, checks the immutable fields, cleans out rows that claimed the same
    /// device token, and says which row the write goes to.
    ///
    /// # Errors
    /// 135 a create without an id field or without `deviceType`; 101 an update of a missing row;
    /// 136 a changed `installationId`, `deviceToken` or `deviceType`; 132 a device token several
    /// rows hold, written without an `installationId`.
    pub(crate) async fn resolve_installation(
        &self,
        caller: &Caller,
        object_id: Option<&str>,
        body: &mut Map<String, Value>,
    ) -> ParseResult<Resolved> {
        let creating = object_id.is_none();
        // Parse compat: a client's installation id header finds the device's row when the body
        // names no installation id (it is not stored on a new row); the master key always
        // passes for an installation of its own.
        let header_id = caller.installation_id.as_deref().filter(|id| !id.is_empty() && !caller.is_master);
        let names_device = text(body, "deviceToken").is_some() || text(body, "installationId").is_some();
        if creating && !names_device && header_id.is_none() && !caller.is_master {
            return Err(ParseError::new(
                ErrorCode::MissingRequiredField,
                "at least one ID field (deviceToken, installationId) must be specified in this operation",
            ));
        }
        normalize(body);
        let written_id = text(body, "installationId").map(str::to_owned);
        let installation_id = written_id.clone().or_else(|| header_id.map(str::to_lowercase));
        let device_token = text(body, "deviceToken").map(str::to_owned);
        let device_type = body.get("deviceType").filter(|value| !value.is_null()).cloned();
        if !creating && device_token.is_none() && installation_id.is_none() && device_type.is_none() {
            return Ok(Resolved::AsAimed);
        }
        let matches = self.installation_matches(object_id, installation_id.as_deref(), device_token.as_deref()).await?;
        if !creating {
            let Some(current) = &matches.by_object_id else {
                return Err(ParseError::object_not_found_with("Object not found for update."));
            };
            let current_installation = field_of(current, "installationId");
            if let (Some(new), Some(old)) = (&written_id, current_installation)
                && new != old
            {
                return Err(immutable("installationId"));
            }
            if let (Some(new), Some(old)) = (&device_token, field_of(current, "deviceToken"))
                && new != old
                && written_id.is_none()
                && current_installation.is_none()
            {
                return Err(immutable("deviceToken"));
            }
            if let Some(new) = &device_type
                && Some(new) != current.fields.get("deviceType")
            {
                return Err(immutable("deviceType"));
            }
        }
        let id_match = matches.by_installation_id.as_ref().or(matches.by_object_id.as_ref());
        if creating && device_type.is_none() && id_match.is_none() {
            return Err(ParseError::new(
                ErrorCode::MissingRequiredField,
                "deviceType must be specified in this operation",
            ));
        }
        let tokens = &matches.by_device_token;
        let app = body.get("appIdentifier").cloned();
        let Some(id_match) = id_match else {
            let Some(token) = device_token else { return Ok(Resolved::AsAimed) };
            return match tokens.as_slice() {
                [] => Ok(Resolved::AsAimed),
                [only] if field_of(only, "installationId").is_none() || installation_id.is_none() => {
                    Ok(Resolved::Row(only.object_id.clone()))
                }
                _ => {
                    let Some(installation_id) = &written_id else {
                        return Err(ParseError::new(
                            ErrorCode::InvalidInstallationId,
                            "Must specify installationId when deviceToken matches multiple Installation objects",
                        ));
                    };
                    // The token moved to a new device: the rows that held it go.
                    self.delete_installations(&token, not_equal("installationId", installation_id), app).await?;
                    Ok(Resolved::AsAimed)
                }
            };
        };
        let id_match_id = id_match.object_id.clone();
        if let [only] = tokens.as_slice()
            && field_of(only, "installationId").is_none()
            && only.object_id != id_match_id
        {
            // The one case Parse merges: the token's row has no installation id, so the device's
            // row goes and the token's row takes the write.
            let doomed = field_equals("objectId", Value::String(id_match_id));
            self.write_ops(self.schemas().snapshot(), vec![delete_where(doomed)], true)
                .await
                .map_err(ParseError::from)?;
            return Ok(Resolved::Row(only.object_id.clone()));
        }
        if let Some(token) = &device_token
            && field_of(id_match, "deviceToken") != Some(token.as_str())
        {
            // The device has a new token: other rows holding it go, when the write names the
            // device's installation id (Parse compat: without it, they stay).
            if let Some(installation_id) = &written_id {
                self.delete_installations(token, not_equal("installationId", installation_id), app).await?;
            }
        }
        Ok(Resolved::Row(id_match_id))
    }

    async fn installation_matches(
        &self,
        object_id: Option<&str>,
        installation_id: Option<&str>,
        device_token: Option<&str>,
    ) -> ParseResult<Matches> {
        let class_name = ClassName::system("_Installation");
        let mut any = Vec::new();
        let named = [("objectId", object_id), ("installationId", installation_id), ("deviceToken", device_token)];
        for (field, value) in named {
            if let Some(value) = value {
                any.push(field_equals(field, Value::String(value.to_owned())));
            }
        }
        let found = match self.schemas().get(&class_name) {
            Some(_) if !any.is_empty() => self.records_where(&class_name, Condition::Or(any), None).await?,
            _ => Vec::new(),
        };
        let mut matches = Matches { by_object_id: None, by_installation_id: None, by_device_token: Vec::new() };
        for record in found {
            if device_token.is_some() && field_of(&record, "deviceToken") == device_token {
                matches.by_device_token.push(record.clone());
            }
            if installation_id.is_some() && field_of(&record, "installationId") == installation_id {
                matches.by_installation_id = Some(record.clone());
            }
            if object_id == Some(record.object_id.as_str()) {
                matches.by_object_id = Some(record);
            }
        }
        Ok(matches)
    }

    /// Deletes the rows holding `token` that `keep` does not spare (of `app` only, when named).
    async fn delete_installations(&self, token: &str, keep: Condition, app: Option<Value>) -> ParseResult<()> {
        let mut parts = vec![field_equals("deviceToken", Value::String(token.to_owned())), keep];
        if let Some(app) = app {
            parts.push(field_equals("appIdentifier", app));
        }
        self.write_ops(self.schemas().snapshot(), vec![delete_where(Condition::And(parts))], true)
            .await
            .map_err(ParseError::from)?;
        Ok(())
    }
}

fn delete_where(condition: Condition) -> WriteOp {
    WriteOp::DeleteWhere { class_name: ClassName::system("_Installation"), condition }
}

#[cfg(test)]
mod tests;
