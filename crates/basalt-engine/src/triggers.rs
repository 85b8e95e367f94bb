//! Triggers around writes (PARSE_API.md §14.3): `beforeSave` may change or refuse a write,
//! `beforeDelete` may refuse a delete, `afterSave`/`afterDelete` run after commit and their errors
//! are only logged. The engine runs them for every write path — REST, batch, and cloud code's own
//! saves — through `Hooks`.

use basalt_core::{ClassName, ParseResult};
use basalt_store::{WriteOp, WriteOutcome};
use serde_json::{Map, Value};

use crate::hooks::{TriggerCall, TriggerKind};
use crate::output::object_json;
use crate::sessions::field_equals;
use crate::{Caller, Engine};

impl Engine {
    fn has_trigger(&self, kind: TriggerKind, class_name: &str) -> bool {
        self.inner.hooks.get().is_some_and(|hooks| hooks.has_trigger(kind, class_name))
    }

    async fn trigger_user(&self, caller: &Caller) -> Option<Map<String, Value>> {
        match caller.user_id {
            Some(_) => self.current_user(caller).await.ok(),
            None => None,
        }
    }

    /// The stored object, as the master key sees it (for `request.original`).
    async fn stored_object(&self, class_name: &str, object_id: &str) -> ParseResult<Option<Map<String, Value>>> {
        let Ok(class_name) = ClassName::parse(class_name) else { return Ok(None) };
        let Some(schema) = self.schemas().get(&class_name) else { return Ok(None) };
        let records = self
            .records_where(&class_name, field_equals("objectId", Value::String(object_id.to_owned())), Some(1))
            .await?;
        Ok(records.into_iter().next().map(|record| object_json(&schema, record, &self.config().files_url_prefix)))
    }

    /// Runs `beforeSave` when the class has one; returns the body to write and the fields the
    /// trigger changed (echoed to the client, as Parse does).
    pub(crate) async fn before_save(
        &self,
        caller: &Caller,
        class_name: &str,
        object_id: Option<&str>,
        body: &Map<String, Value>,
    ) -> ParseResult<(Map<String, Value>, Vec<String>)> {
        if !self.has_trigger(TriggerKind::BeforeSave, class_name) {
            return Ok((body.clone(), Vec::new()));
        }
        let Some(hooks) = self.inner.hooks.get() else { return Ok((body.clone(), Vec::new())) };
        let original = match object_id {
            Some(object_id) => self.stored_object(class_name, object_id).await?,
            None => None,
        };
        let call = TriggerCall {
            kind: TriggerKind::BeforeSave,
            class_name: class_name.to_owned(),
            original,
            object: body.clone(),
            master: caller.is_master,
            installation_id: caller.installation_id.clone(),
            user: self.trigger_user(caller).await,
        };
        let changed = hooks.run_trigger(call).await?.unwrap_or_else(|| body.clone());
        let echo =
            changed.iter().filter(|(key, value)| body.get(*key) != Some(*value)).map(|(key, _)| key.clone()).collect();
        Ok((changed, echo))
    }

    /// Runs `beforeDelete` when the class has one, with the object as the caller can read it
    /// (an object the caller can't read is left to the delete, which answers 101).
    pub(crate) async fn before_delete(&self, caller: &Caller, class_name: &str, object_id: &str) -> ParseResult<()> {
        if !self.has_trigger(TriggerKind::BeforeDelete, class_name) {
            return Ok(());
        }
        let Some(hooks) = self.inner.hooks.get() else { return Ok(()) };
        let Ok(object) = self.get_object(caller, class_name, object_id, &crate::GetParams::default()).await else {
            return Ok(());
        };
        let Value::Object(object) = object else { return Ok(()) };
        let call = TriggerCall {
            kind: TriggerKind::BeforeDelete,
            class_name: class_name.to_owned(),
            original: None,
            object,
            master: caller.is_master,
            installation_id: caller.installation_id.clone(),
            user: self.trigger_user(caller).await,
        };
        hooks.run_trigger(call).await.map(|_| ())
    }

    /// Runs `afterSave`/`afterDelete` for a committed write; their errors are logged, never
    /// returned (Parse compat).
    pub(crate) async fn after_write(&self, caller: &Caller, op: &WriteOp, outcome: &WriteOutcome) {
        let Some(hooks) = self.inner.hooks.get() else { return };
        // A sign-up or a password change is an `Atomic` group whose first write is the user's.
        let first = match op {
            WriteOp::Atomic(ops) => ops.first(),
            other => Some(other),
        };
        let class_name = match first {
            Some(
                WriteOp::Insert { class_name, .. }
                | WriteOp::Update { class_name, .. }
                | WriteOp::Delete { class_name, .. },
            ) => class_name,
            _ => return,
        };
        let (kind, record, original) = match outcome {
            WriteOutcome::Written(record) => (TriggerKind::AfterSave, record, None),
            WriteOutcome::Updated { before, after } => (TriggerKind::AfterSave, after.as_ref(), Some(before.as_ref())),
            WriteOutcome::Deleted(Some(record)) => (TriggerKind::AfterDelete, record.as_ref(), None),
            _ => return,
        };
        if !hooks.has_trigger(kind, class_name.as_str()) {
            return;
        }
        let Some(schema) = self.schemas().get(class_name) else { return };
        let prefix = &self.config().files_url_prefix;
        let call = TriggerCall {
            kind,
            class_name: class_name.to_string(),
            original: original.map(|record| object_json(&schema, record.clone(), prefix)),
            object: object_json(&schema, record.clone(), prefix),
            master: caller.is_master,
            installation_id: caller.installation_id.clone(),
            user: self.trigger_user(caller).await,
        };
        // Parse compat: the response waits for the after trigger; its failure is only logged.
        if let Err(error) = hooks.run_trigger(call).await {
            tracing::warn!(code = error.code.as_i32(), %error, "an {} trigger failed", kind.name());
        }
    }
}
