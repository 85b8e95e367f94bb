//! Creating, updating and deleting objects: checking the body against Parse's rules and the
//! class schema, growing the schema when a write brings new fields, and building the store's
//! `WriteOp`s and the responses Parse Server gives.

use std::sync::Arc;

use basalt_core::acl::Acl;
use basalt_core::clp::ClpOperation;
use basalt_core::names::is_valid_nested_key;
use basalt_core::query::{Condition, FieldPath};
use basalt_core::schema::infer_type;
use basalt_core::update::{UpdateOp, parse_op};
use basalt_core::value::{normalize_field_value, normalize_nested, schema_mismatch};
use basalt_core::{ClassName, ClassSchema, ErrorCode, FieldName, FieldType, ParseError, ParseResult, time};
use basalt_store::{FieldUpdate, ObjectRecord, WriteOp, WriteOutcome};
use serde_json::{Map, Value};

use crate::conditions::field_equals;
use crate::output::field_json;
use crate::permissions::check_class_access;
use crate::triggers::SaveTriggered;
use crate::{Caller, Engine};

/// What a create answers: a new object (201), or, for `_User` with the `authData` of a known
/// user, that user logged in (200).
#[derive(Debug)]
pub struct Created {
    /// A new object (false: an existing user logged in).
    pub created: bool,
    pub object_id: String,
    pub body: Map<String, Value>,
}

/// What kind of write, for permission messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteKind {
    Create,
    Update,
    Delete,
}

/// A checked write, ready for the store, with what its response needs.
pub(crate) struct PreparedWrite {
    pub(crate) kind: WriteKind,
    pub(crate) op: WriteOp,
    /// Top-level fields whose new value the response echoes (results of Increment, Add, …).
    pub(crate) echo: Vec<String>,
    /// Fields the response carries besides the object's (a new `sessionToken`).
    pub(crate) extra: Map<String, Value>,
    /// A verification mail to send once the write committed: (address, token).
    pub(crate) pending_mail: Option<(String, String)>,
    /// `request.context` as the beforeSave left it, for the afterSave (else the caller's).
    pub(crate) context: Option<Map<String, Value>>,
}

impl PreparedWrite {
    pub(crate) fn new(kind: WriteKind, op: WriteOp) -> PreparedWrite {
        PreparedWrite { kind, op, echo: Vec::new(), extra: Map::new(), pending_mail: None, context: None }
    }

    /// Takes in what a beforeSave left: the fields it changed join the echo, its context goes on
    /// to the afterSave.
    pub(crate) fn with_before_save(
        mut self,
        changed: impl IntoIterator<Item = String>,
        context: Option<Map<String, Value>>,
    ) -> PreparedWrite {
        for key in changed {
            push_once(&mut self.echo, key);
        }
        self.context = context;
        self
    }
}

/// Adds a field name to a list unless it is there already.
pub(crate) fn push_once(list: &mut Vec<String>, key: String) {
    if !list.contains(&key) {
        list.push(key);
    }
}

/// A written body, checked: the updates, the ACL change and the fields the schema lacks.
struct CheckedBody {
    updates: Vec<FieldUpdate>,
    acl: Option<Option<Acl>>,
    new_fields: Vec<(FieldName, FieldType)>,
    echo: Vec<String>,
}

/// The type a written op gives its field (`None`: no type, e.g. null or Delete).
fn implied_type(op: &UpdateOp, written: &Value) -> ParseResult<Option<FieldType>> {
    Ok(match op {
        UpdateOp::Set(value) => infer_type(value)?,
        UpdateOp::SetOnInsert(value) => infer_type(value)?,
        UpdateOp::Delete => None,
        UpdateOp::Increment(_) => Some(FieldType::Number),
        UpdateOp::Add(_) | UpdateOp::AddUnique(_) | UpdateOp::Remove(_) => Some(FieldType::Array),
        UpdateOp::Relation { target: Some(target), .. } => Some(FieldType::Relation(target.clone())),
        UpdateOp::Relation { target: None, .. } => infer_type(written)?,
    })
}

fn same_type(existing: &FieldType, implied: &FieldType) -> bool {
    existing == implied
}

/// Checks a write's body against the class's schema: names, operations, types; collects the
/// fields it adds.
///
/// # Errors
/// 105 bad or prohibited keys, 107 NUL, 111 types, 123 ACL, 255 past `class_fields_max` fields
/// (answered as soon as the body names one field too many, before any other work).
fn check_body(
    schema: Option<&ClassSchema>,
    class_name: &ClassName,
    body: &Map<String, Value>,
    existing_object_id: Option<&str>,
    class_fields_max: usize,
) -> ParseResult<CheckedBody> {
    let mut checked = CheckedBody { updates: Vec::new(), acl: None, new_fields: Vec::new(), echo: Vec::new() };
    // A new class starts with its default fields.
    let existing_field_count =
        schema.map_or_else(|| ClassSchema::new(class_name.clone()).fields.len(), |schema| schema.fields.len());
    for (key, written) in body {
        // Also for writes that did not come as a request (cloud code, triggers' changes).
        basalt_core::value::check_written_key(key)?;
        basalt_core::value::check_written_json(written)?;
        match key.as_str() {
            "objectId" | "id" => match (existing_object_id, written.as_str()) {
                (Some(existing), Some(given)) if existing == given => continue,
                _ => return Err(ParseError::invalid_key_name(format!("{key} is an invalid field name."))),
            },
            // Parse compat: clients cannot set these; Parse replaces them with server time.
            "createdAt" | "updatedAt" => continue,
            "ACL" => {
                checked.acl = Some(match written {
                    Value::Null => None,
                    acl => Some(Acl::from_json(acl)?),
                });
                continue;
            }
            _ => {}
        }
        let mut parts = key.split('.');
        let field = parts.next().unwrap_or_default();
        let sub_keys: Vec<String> = parts.map(str::to_owned).collect();
        let field_name = FieldName::parse(field)?;
        if sub_keys.iter().any(|sub| sub.is_empty() || !is_valid_nested_key(sub)) {
            return Err(ParseError::invalid_key_name(format!("Invalid field name: {key}.")));
        }
        if matches!(field, "objectId" | "createdAt" | "updatedAt" | "ACL") {
            return Err(ParseError::invalid_key_name(format!("Invalid field name: {key}.")));
        }
        if !sub_keys.is_empty() && class_name.as_str() == "_User" && field == "authData" {
            return Err(ParseError::invalid_key_name(format!("Invalid field name: {key}.")));
        }
        let op = parse_op(written)?;
        if let UpdateOp::Set(Value::Object(object)) = &op
            && object.get("__type").and_then(Value::as_str) == Some("Relation")
        {
            // Relation members change only through AddRelation/RemoveRelation.
            return Err(ParseError::incorrect_type(format!(
                "{key}: a Relation is changed with AddRelation and RemoveRelation, not written"
            )));
        }
        let existing = schema.and_then(|schema| schema.field_type(field)).cloned();
        let pending = checked.new_fields.iter().find(|(name, _)| name.as_str() == field).map(|(_, t)| t.clone());
        let known = existing.clone().or(pending);
        let op = if sub_keys.is_empty() {
            let implied = implied_type(&op, written)?;
            match (&known, &implied) {
                (Some(known), Some(implied)) if !same_type(known, implied) => {
                    return Err(schema_mismatch(class_name, field, known, implied));
                }
                (None, Some(implied)) => checked.new_fields.push((field_name.clone(), implied.clone())),
                _ => {}
            }
            // A value of no type (null) is stored as null.
            let normalize = |value: &Value| match known.as_ref().or(implied.as_ref()) {
                Some(field_type) => normalize_field_value(class_name, field, field_type, value),
                None => Ok(Value::Null),
            };
            match op {
                UpdateOp::Set(value) => UpdateOp::Set(normalize(&value)?),
                UpdateOp::SetOnInsert(value) => UpdateOp::SetOnInsert(normalize(&value)?),
                UpdateOp::Relation { target: None, add, remove } => match &known {
                    Some(FieldType::Relation(target)) => {
                        UpdateOp::Relation { target: Some(target.clone()), add, remove }
                    }
                    _ => continue,
                },
                other => other,
            }
        } else {
            match &known {
                Some(FieldType::Object) => {}
                Some(other) => return Err(schema_mismatch(class_name, field, other, &FieldType::Object)),
                None => checked.new_fields.push((field_name.clone(), FieldType::Object)),
            }
            match op {
                UpdateOp::Set(value) => UpdateOp::Set(normalize_nested(&value)?),
                UpdateOp::Relation { .. } => {
                    return Err(ParseError::invalid_key_name(format!("Invalid field name: {key}.")));
                }
                other => other,
            }
        };
        check_field_count(class_name, existing_field_count + checked.new_fields.len(), class_fields_max)?;
        // The response echoes an op's result at the key it was written to (`o.a` echoes
        // `{"o":{"a":…}}`, as Parse Server does). Keys of a body are unique: no key twice.
        if op.echoes_result() {
            checked.echo.push(key.clone());
        }
        checked.updates.push(FieldUpdate { path: FieldPath { field: field.to_owned(), sub_keys }, op });
    }
    Ok(checked)
}

/// Refuses a class of more than `class_fields_max` fields (`Limits::class_fields_max`).
///
/// # Errors
/// 255 naming the limit.
pub(crate) fn check_field_count(
    class_name: &ClassName,
    field_count: usize,
    class_fields_max: usize,
) -> ParseResult<()> {
    if field_count > class_fields_max {
        return Err(ParseError::new(
            ErrorCode::InvalidSchemaOperation,
            format!("A class can have at most {class_fields_max} fields; this would give {class_name} more."),
        ));
    }
    Ok(())
}

impl Engine {
    /// Makes sure the class exists (creating it when the caller may) and has the new fields.
    async fn grow_schema(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        schema: Option<Arc<ClassSchema>>,
        new_fields: Vec<(FieldName, FieldType)>,
    ) -> ParseResult<Arc<ClassSchema>> {
        match schema {
            Some(schema) if new_fields.is_empty() => Ok(schema),
            Some(_) => {
                let grown =
                    self.store().ensure_fields(class_name, new_fields, false).await.map_err(ParseError::from)?;
                Ok(self.schemas().put(grown))
            }
            None => {
                let system = matches!(class_name.as_str(), "_User" | "_Session" | "_Role" | "_Installation");
                if !caller.is_master && !self.config().allow_client_class_creation && !system {
                    return Err(ParseError::forbidden(format!(
                        "This user is not allowed to access non-existent class: {class_name}"
                    )));
                }
                let grown = self.store().ensure_fields(class_name, new_fields, true).await.map_err(ParseError::from)?;
                Ok(self.schemas().put(grown))
            }
        }
    }

    pub(crate) async fn prepare_create(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let SaveTriggered { body, changed, context } =
            self.before_save(caller, class_name.as_str(), None, body).await?;
        let prepared = self.prepare_create_after_trigger(caller, class_name, &body).await?;
        Ok(prepared.with_before_save(changed, context))
    }

    async fn prepare_create_after_trigger(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        match class_name.as_str() {
            "_User" => self.prepare_sign_up(caller, body).await,
            "_Session" => self.prepare_session_create(caller, body).await,
            "_Installation" => self.prepare_installation_create(caller, body).await,
            "_Role" => {
                crate::roles::check_new_role(body)?;
                self.prepare_generic_create(caller, class_name, body).await
            }
            _ => self.prepare_generic_create(caller, class_name, body).await,
        }
    }

    /// A create with Parse's generic rules (no user, session or role rules).
    pub(crate) async fn prepare_generic_create(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let class_name = class_name.clone();
        check_class_access(caller, &class_name, "create")?;
        let schema = self.schemas().get(&class_name);
        let mut checked = check_body(schema.as_deref(), &class_name, body, None, self.limits().class_fields_max)?;
        if let Some(schema) = &schema {
            self.class_permission(caller, schema, ClpOperation::Create)?;
            // Parse compat: `addField` limited to pointer fields never admits a create that adds
            // a field (the new object cannot name its caller yet).
            if !checked.new_fields.is_empty()
                && self.class_permission(caller, schema, ClpOperation::AddField)? != Condition::all()
            {
                return Err(ParseError::forbidden(format!(
                    "Permission denied for action addField on class {class_name}."
                )));
            }
        }
        let schema = self.grow_schema(caller, &class_name, schema, std::mem::take(&mut checked.new_fields)).await?;
        for defaulted in apply_defaults_and_required(&schema, &mut checked.updates)? {
            push_once(&mut checked.echo, defaulted);
        }
        let op = WriteOp::Insert {
            class_name,
            object_id: crate::object_id::new_object_id(),
            created_at: time::format_iso(self.now()),
            acl: checked.acl.flatten(),
            updates: checked.updates,
        };
        Ok(PreparedWrite { echo: checked.echo, ..PreparedWrite::new(WriteKind::Create, op) })
    }

    pub(crate) async fn prepare_update(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let SaveTriggered { body, changed, context } =
            self.before_save(caller, class_name.as_str(), Some(object_id), body).await?;
        let prepared = self.prepare_update_after_trigger(caller, class_name, object_id, &body).await?;
        Ok(prepared.with_before_save(changed, context))
    }

    async fn prepare_update_after_trigger(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        match class_name.as_str() {
            "_User" => self.prepare_user_update(caller, object_id, body).await,
            "_Session" => {
                crate::roles::check_session_update(body)?;
                self.prepare_generic_update(caller, class_name, object_id, body).await
            }
            "_Installation" => self.prepare_installation_update(caller, object_id, body).await,
            "_Role" => {
                self.check_role_update(object_id, body).await?;
                self.prepare_generic_update(caller, class_name, object_id, body).await
            }
            _ => self.prepare_generic_update(caller, class_name, object_id, body).await,
        }
    }

    /// An update with Parse's generic rules.
    pub(crate) async fn prepare_generic_update(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let class_name = class_name.clone();
        check_class_access(caller, &class_name, "update")?;
        let Some(schema) = self.schemas().get(&class_name) else {
            if !caller.is_master && !self.config().allow_client_class_creation {
                return Err(ParseError::forbidden(format!(
                    "This user is not allowed to access non-existent class: {class_name}"
                )));
            }
            return Err(ParseError::object_not_found());
        };
        let mut condition = self.write_condition(caller, &schema, ClpOperation::Update)?;
        let mut checked =
            check_body(Some(&schema), &class_name, body, Some(object_id), self.limits().class_fields_max)?;
        if !checked.new_fields.is_empty() {
            let add_field = self.class_permission(caller, &schema, ClpOperation::AddField)?;
            if add_field != Condition::all() {
                // `addField` limited to pointer fields: only an object naming the caller there may
                // gain a field, checked before the class grows, and again by the write itself.
                let this_object = field_equals("objectId", Value::String(object_id.to_owned()));
                let target = Condition::And(vec![this_object, add_field.clone()]);
                if self.records_where(&class_name, target, Some(1)).await?.is_empty() {
                    return Err(ParseError::object_not_found());
                }
                condition = Condition::And(vec![condition, add_field]);
            }
        }
        for update in &checked.updates {
            if let Some(spec) = schema.field(&update.path.field)
                && spec.required
                && matches!(update.op, UpdateOp::Delete | UpdateOp::Set(Value::Null))
            {
                return Err(ParseError::new(ErrorCode::ValidationError, format!("{} is required", update.path.field)));
            }
        }
        self.grow_schema(caller, &class_name, Some(schema), std::mem::take(&mut checked.new_fields)).await?;
        let op = WriteOp::Update {
            class_name,
            object_id: object_id.to_owned(),
            updated_at: time::format_iso(self.now()),
            access: caller.access(),
            acl: checked.acl,
            updates: checked.updates,
            condition,
        };
        Ok(PreparedWrite { echo: checked.echo, ..PreparedWrite::new(WriteKind::Update, op) })
    }

    pub(crate) async fn prepare_delete(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
    ) -> ParseResult<PreparedWrite> {
        self.before_delete(caller, class_name, object_id).await?;
        if class_name == "_User" {
            return self.prepare_user_delete(caller, object_id);
        }
        let class_name = class_name.clone();
        check_class_access(caller, &class_name, "delete")?;
        let Some(schema) = self.schemas().get(&class_name) else {
            return Err(ParseError::object_not_found());
        };
        let condition = self.write_condition(caller, &schema, ClpOperation::Delete)?;
        let op = WriteOp::Delete { class_name, object_id: object_id.to_owned(), access: caller.access(), condition };
        Ok(PreparedWrite::new(WriteKind::Delete, op))
    }

    /// The response body Parse Server gives for a completed write.
    pub(crate) fn write_response(&self, prepared: &PreparedWrite, outcome: WriteOutcome) -> Map<String, Value> {
        let mut response = Map::new();
        let record: ObjectRecord = match outcome {
            WriteOutcome::Written(record) => record,
            WriteOutcome::Updated { after, .. } => *after,
            _ => return response,
        };
        let prefix = &self.config().files_url_prefix;
        for key in &prepared.echo {
            let mut parts = key.split('.');
            let field = parts.next().unwrap_or_default();
            let sub_keys: Vec<&str> = parts.collect();
            let mut value = record.fields.get(field);
            for sub_key in &sub_keys {
                value = value.and_then(|inner| inner.get(*sub_key));
            }
            // Parse compat: a field the write removed (a beforeSave `unset`) is echoed as a Delete
            // op, so the client drops it too.
            let Some(value) = value else {
                if sub_keys.is_empty() {
                    response.insert(field.to_owned(), serde_json::json!({"__op": "Delete"}));
                }
                continue;
            };
            let mut echoed = field_json(value.clone(), prefix);
            for sub_key in sub_keys.iter().rev() {
                echoed = Value::Object(Map::from_iter([((*sub_key).to_owned(), echoed)]));
            }
            merge_into(&mut response, field, echoed);
        }
        match prepared.kind {
            WriteKind::Create => {
                response.insert("objectId".into(), Value::String(record.object_id));
                response.insert("createdAt".into(), Value::String(record.created_at));
            }
            WriteKind::Update | WriteKind::Delete => {
                response.insert("updatedAt".into(), Value::String(record.updated_at));
            }
        }
        for (key, value) in &prepared.extra {
            response.insert(key.clone(), value.clone());
        }
        response
    }

    async fn run_one(&self, caller: &Caller, prepared: PreparedWrite) -> ParseResult<Map<String, Value>> {
        let snapshot = self.schemas().snapshot();
        let mut outcomes = self.write_ops(snapshot, vec![prepared.op.clone()], true).await.map_err(ParseError::from)?;
        let outcome = outcomes.pop().ok_or_else(|| ParseError::internal("the store returned no outcome"))?;
        let outcome = outcome.map_err(ParseError::from)?;
        self.publish_outcome(&prepared.op, &outcome).await;
        self.after_write(caller, &prepared, &outcome).await;
        self.send_pending_mail(&prepared).await;
        Ok(self.write_response(&prepared, outcome))
    }

    /// `POST /classes/:className`: returns `{"objectId","createdAt"}` plus echoed op results.
    /// For `_User` this is a sign-up (see `sign_up`), which may be a log-in for known `authData`.
    ///
    /// # Errors
    /// 103 bad class name; 105 bad field name or client-supplied objectId; 111 type mismatch;
    /// 119 class creation or a master-only class refused; 123 bad ACL; 137 duplicate value.
    pub async fn create_object(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        body: &Map<String, Value>,
    ) -> ParseResult<Created> {
        self.refresh_if_stale(class_name).await?;
        if class_name == "_User" {
            return self.sign_up(caller, body).await;
        }
        let prepared = self.prepare_create(caller, class_name, body).await?;
        // An installation's create may turn out to update the device's row (200, not 201).
        let created = prepared.kind == WriteKind::Create;
        let response = self.run_one(caller, prepared).await?;
        let object_id = response.get("objectId").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(Created { created, object_id, body: response })
    }

    /// `PUT /classes/:className/:objectId`: returns `{"updatedAt"}` plus echoed op results.
    ///
    /// # Errors
    /// 101 when the object is missing or not writable by the caller; otherwise as `create_object`.
    pub async fn update_object(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
        body: &Map<String, Value>,
    ) -> ParseResult<Map<String, Value>> {
        self.refresh_if_stale(class_name).await?;
        let prepared = self.prepare_update(caller, class_name, object_id, body).await?;
        self.run_one(caller, prepared).await
    }

    /// `DELETE /classes/:className/:objectId`: returns `{}`.
    ///
    /// # Errors
    /// 101 when the object is missing or not writable by the caller.
    pub async fn delete_object(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
    ) -> ParseResult<Map<String, Value>> {
        self.refresh_if_stale(class_name).await?;
        let prepared = self.prepare_delete(caller, class_name, object_id).await?;
        match self.run_one(caller, prepared).await {
            // Parse compat: Parse Server words a missing session this way.
            Err(error) if error.code == ErrorCode::ObjectNotFound && class_name == "_Session" => {
                Err(ParseError::object_not_found_with("Object not found for delete."))
            }
            other => other,
        }
    }
}

/// Merges an echoed value into the response (two echoed keys may share an Object field).
fn merge_into(response: &mut Map<String, Value>, field: &str, echoed: Value) {
    match (response.get_mut(field), echoed) {
        (Some(Value::Object(existing)), Value::Object(addition)) => {
            for (key, value) in addition {
                let mut nested = Map::new();
                std::mem::swap(&mut nested, existing);
                merge_into(&mut nested, &key, value);
                *existing = nested;
            }
        }
        (_, echoed) => {
            response.insert(field.to_owned(), echoed);
        }
    }
}

/// Fills `defaultValue`s and refuses a create that leaves a `required` field unset. Returns the
/// fields it filled, which the response echoes (the client did not send them).
fn apply_defaults_and_required(schema: &ClassSchema, updates: &mut Vec<FieldUpdate>) -> ParseResult<Vec<String>> {
    let mut defaulted = Vec::new();
    for (name, spec) in &schema.fields {
        if !spec.required && spec.default_value.is_none() {
            continue;
        }
        let set = updates.iter().any(|update| {
            update.path.field == name.as_str() && !matches!(update.op, UpdateOp::Delete | UpdateOp::Set(Value::Null))
        });
        if set {
            continue;
        }
        match &spec.default_value {
            Some(default) => {
                let value = normalize_field_value(&schema.class_name, name.as_str(), &spec.field_type, default)?;
                updates.retain(|update| update.path.field != name.as_str());
                updates.push(FieldUpdate {
                    path: FieldPath { field: name.to_string(), sub_keys: Vec::new() },
                    op: UpdateOp::Set(value),
                });
                defaulted.push(name.to_string());
            }
            None => return Err(ParseError::new(ErrorCode::ValidationError, format!("{name} is required"))),
        }
    }
    Ok(defaulted)
}

#[cfg(test)]
mod tests;
