//! Triggers around writes (Parse's cloud code triggers): `beforeSave` may change or refuse a write,
//! `beforeDelete` may refuse a delete, `afterSave`/`afterDelete` run after commit and their errors
//! are only logged. The engine runs them for every write path — REST, batch, and cloud code's own
//! saves — through `Hooks`.

use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use basalt_store::{WriteOp, WriteOutcome};
use serde_json::{Map, Value};

use crate::conditions::field_equals;
use crate::hooks::{TriggerCall, TriggerKind};
use crate::objects::PreparedWrite;
use crate::output::object_json;
use crate::{Caller, Engine};

/// The class name file triggers are registered under (Parse's `@File`).
pub(crate) const FILE_CLASS: &str = "@File";

/// The class name `beforeConnect` is registered under (Parse's `@Connect`).
const CONNECT_CLASS: &str = "@Connect";

/// A file as its triggers see it.
#[derive(Clone, Copy)]
pub(crate) struct FileInfo<'a> {
    pub(crate) name: &'a str,
    pub(crate) url: Option<&'a str>,
    pub(crate) size: Option<u64>,
    pub(crate) content_type: Option<&'a str>,
}

/// What a `beforeSave` leaves.
pub(crate) struct SaveTriggered {
    /// The body to write (the trigger's, or the client's when there is no trigger).
    pub(crate) body: Map<String, Value>,
    /// Fields the trigger changed, echoed in the response.
    pub(crate) changed: Vec<String>,
    /// `request.context` as the trigger left it, for the afterSave.
    pub(crate) context: Option<Map<String, Value>>,
}

impl Engine {
    pub(crate) fn has_trigger(&self, kind: TriggerKind, class_name: &str) -> bool {
        self.trigger_hooks(kind, class_name).is_some()
    }

    /// The call for one trigger, carrying the caller's rights and user.
    async fn trigger_call(
        &self,
        kind: TriggerKind,
        caller: &Caller,
        class_name: impl Into<String>,
        original: Option<Map<String, Value>>,
        object: Map<String, Value>,
    ) -> TriggerCall {
        TriggerCall {
            kind,
            class_name: class_name.into(),
            original,
            object,
            master: caller.is_master,
            installation_id: caller.installation_id.clone(),
            user: self.trigger_user(caller).await,
            context: caller.context.as_deref().cloned().unwrap_or_default(),
        }
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

    /// Runs `beforeSave` when the class has one: the body to write, the fields the trigger
    /// changed (echoed to the client) and the context it left for the afterSave.
    pub(crate) async fn before_save(
        &self,
        caller: &Caller,
        class_name: &str,
        object_id: Option<&str>,
        body: &Map<String, Value>,
    ) -> ParseResult<SaveTriggered> {
        let Some(hooks) = self.trigger_hooks(TriggerKind::BeforeSave, class_name) else {
            return Ok(SaveTriggered { body: body.clone(), changed: Vec::new(), context: None });
        };
        let original = match object_id {
            Some(object_id) => self.stored_object(class_name, object_id).await?,
            None => None,
        };
        let call = self.trigger_call(TriggerKind::BeforeSave, caller, class_name, original, body.clone()).await;
        let mut changed = hooks.run_trigger(self, call).await?.unwrap_or_else(|| body.clone());
        let context = match changed.remove("__context") {
            Some(Value::Object(context)) => Some(context),
            _ => None,
        };
        let echo =
            changed.iter().filter(|(key, value)| body.get(*key) != Some(*value)).map(|(key, _)| key.clone()).collect();
        Ok(SaveTriggered { body: changed, changed: echo, context })
    }

    /// Runs `beforeLogin` / `afterLogin` (on the user) or `afterLogout` (on the ended session)
    /// when registered. `user` is `request.user` when the caller's own session doesn't say it.
    pub(crate) async fn run_auth_trigger(
        &self,
        kind: TriggerKind,
        caller: &Caller,
        object: Map<String, Value>,
        user: Option<Map<String, Value>>,
    ) -> ParseResult<()> {
        let class_name = if kind == TriggerKind::AfterLogout { "_Session" } else { "_User" };
        let Some(hooks) = self.trigger_hooks(kind, class_name) else { return Ok(()) };
        let mut call = self.trigger_call(kind, caller, class_name, None, object).await;
        if user.is_some() {
            call.user = user;
        }
        hooks.run_trigger(self, call).await.map(|_| ())
    }

    /// Runs a file trigger (`Parse.Cloud.beforeSave(Parse.File, …)` and the like) when one is
    /// registered; a beforeSave may answer `{"name", "url"?, "base64"?, "contentType"?}`, the
    /// file to store (or, with a url, already stored) instead. A plain error in a before trigger
    /// answers 130 (save) or 153 (delete) with its message, as Parse Server does.
    pub(crate) async fn run_file_trigger(
        &self,
        kind: TriggerKind,
        caller: &Caller,
        file: FileInfo<'_>,
    ) -> ParseResult<Option<Map<String, Value>>> {
        let outcome = self.run_file_trigger_outcome(kind, caller, file).await?;
        Ok(outcome.and_then(|mut outcome| match outcome.remove("file") {
            Some(Value::Object(file)) => Some(file),
            _ => None,
        }))
    }

    /// Runs a file trigger when registered; its whole answer (`file`, and for `afterFind`
    /// `forceDownload` and `responseHeaders`).
    pub(crate) async fn run_file_trigger_outcome(
        &self,
        kind: TriggerKind,
        caller: &Caller,
        file: FileInfo<'_>,
    ) -> ParseResult<Option<Map<String, Value>>> {
        let Some(hooks) = self.trigger_hooks(kind, FILE_CLASS) else { return Ok(None) };
        let mut described = Map::new();
        described.insert("__type".into(), Value::from("File"));
        described.insert("name".into(), Value::from(file.name));
        if let Some(url) = file.url {
            described.insert("url".into(), Value::from(url));
        }
        let mut object = Map::new();
        object.insert("file".into(), Value::Object(described));
        object.insert("fileSize".into(), file.size.map_or(Value::Null, Value::from));
        object.insert("contentType".into(), file.content_type.map_or(Value::Null, Value::from));
        let call = self.trigger_call(kind, caller, FILE_CLASS, None, object).await;
        hooks.run_trigger(self, call).await.map_err(|error| match (error.code, kind) {
            (ErrorCode::ScriptFailed, TriggerKind::BeforeSave) => {
                ParseError::new(ErrorCode::FileSaveError, error.message)
            }
            (ErrorCode::ScriptFailed, TriggerKind::BeforeDelete) => {
                ParseError::new(ErrorCode::FileDeleteError, error.message)
            }
            _ => error,
        })
    }

    /// Runs `beforeConnect` (LiveQuery) when registered.
    ///
    /// # Errors
    /// The trigger's error refuses the connection.
    pub async fn before_live_query_connect(&self, caller: &Caller, details: Map<String, Value>) -> ParseResult<()> {
        let Some(hooks) = self.trigger_hooks(TriggerKind::BeforeConnect, CONNECT_CLASS) else { return Ok(()) };
        let call = self.trigger_call(TriggerKind::BeforeConnect, caller, CONNECT_CLASS, None, details).await;
        hooks.run_trigger(self, call).await.map(|_| ())
    }

    /// Runs `beforeSubscribe` (LiveQuery) for the class when registered: the trigger may rewrite
    /// the query (`where`, `keys`) it answers, or refuse the subscription.
    ///
    /// # Errors
    /// The trigger's error refuses the subscription.
    pub async fn before_live_query_subscribe(
        &self,
        caller: &Caller,
        class_name: &str,
        details: Map<String, Value>,
    ) -> ParseResult<Option<Map<String, Value>>> {
        let Some(hooks) = self.trigger_hooks(TriggerKind::BeforeSubscribe, class_name) else { return Ok(None) };
        let call = self.trigger_call(TriggerKind::BeforeSubscribe, caller, class_name, None, details).await;
        Ok(hooks.run_trigger(self, call).await?.and_then(|mut outcome| match outcome.remove("query") {
            Some(Value::Object(query)) => Some(query),
            _ => None,
        }))
    }

    /// Is an `afterLiveQueryEvent` registered for the class?
    pub fn has_live_query_event_trigger(&self, class_name: &str) -> bool {
        self.has_trigger(TriggerKind::AfterLiveQueryEvent, class_name)
    }

    /// Runs `afterLiveQueryEvent` for one subscriber's event: the outcome's `sendEvent` (false
    /// drops the event) and `object` (what to send instead), when the trigger answered.
    ///
    /// # Errors
    /// The trigger's error, for the subscriber's error frame.
    pub async fn after_live_query_event(
        &self,
        caller: &Caller,
        class_name: &str,
        details: Map<String, Value>,
    ) -> ParseResult<Option<Map<String, Value>>> {
        let Some(hooks) = self.trigger_hooks(TriggerKind::AfterLiveQueryEvent, class_name) else { return Ok(None) };
        let call = self.trigger_call(TriggerKind::AfterLiveQueryEvent, caller, class_name, None, details).await;
        hooks.run_trigger(self, call).await
    }

    pub(crate) fn has_find_triggers(&self, class_name: &str) -> bool {
        self.has_trigger(TriggerKind::BeforeFind, class_name) || self.has_trigger(TriggerKind::AfterFind, class_name)
    }

    /// Runs `beforeFind` when the class has one: the trigger may change the query (its parameters
    /// come back) or refuse it. `None` when there is no trigger.
    pub(crate) async fn before_find(
        &self,
        caller: &Caller,
        class_name: &str,
        params: &crate::FindParams,
        is_get: bool,
    ) -> ParseResult<Option<crate::FindParams>> {
        let Some(hooks) = self.trigger_hooks(TriggerKind::BeforeFind, class_name) else { return Ok(None) };
        let mut object = params.to_params();
        object.insert("isGet".into(), Value::Bool(is_get));
        let call = self.trigger_call(TriggerKind::BeforeFind, caller, class_name, None, object).await;
        let Some(mut changed) = hooks.run_trigger(self, call).await? else { return Ok(None) };
        changed.remove("isGet");
        self.find_params(&changed).map(Some)
    }

    /// Runs `afterFind` when the class has one: it may change or replace the results.
    pub(crate) async fn after_find(
        &self,
        caller: &Caller,
        class_name: &str,
        results: Vec<Value>,
    ) -> ParseResult<Vec<Value>> {
        let Some(hooks) = self.trigger_hooks(TriggerKind::AfterFind, class_name) else { return Ok(results) };
        let mut object = Map::new();
        object.insert("results".into(), Value::Array(results.clone()));
        let call = self.trigger_call(TriggerKind::AfterFind, caller, class_name, None, object).await;
        match hooks.run_trigger(self, call).await? {
            Some(mut changed) => match changed.remove("results") {
                Some(Value::Array(changed)) => Ok(changed
                    .into_iter()
                    .map(|mut object| {
                        // Results are REST objects: no class name or type at the top level.
                        if let Some(fields) = object.as_object_mut() {
                            fields.remove("__type");
                            fields.remove("className");
                        }
                        object
                    })
                    .collect()),
                _ => Ok(results),
            },
            None => Ok(results),
        }
    }

    /// Runs `beforeDelete` when the class has one, with the object as the caller can read it
    /// (an object the caller can't read is left to the delete, which answers 101).
    pub(crate) async fn before_delete(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
    ) -> ParseResult<()> {
        let Some(hooks) = self.trigger_hooks(TriggerKind::BeforeDelete, class_name.as_str()) else { return Ok(()) };
        let Ok(object) = self.get_object(caller, class_name, object_id, &crate::GetParams::default()).await else {
            return Ok(());
        };
        let Value::Object(object) = object else { return Ok(()) };
        let call = self.trigger_call(TriggerKind::BeforeDelete, caller, class_name.as_str(), None, object).await;
        hooks.run_trigger(self, call).await.map(|_| ())
    }

    /// Runs `afterSave`/`afterDelete` for a committed write; their errors are logged, never
    /// returned (Parse compat).
    pub(crate) async fn after_write(&self, caller: &Caller, prepared: &PreparedWrite, outcome: &WriteOutcome) {
        let op = &prepared.op;
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
        let Some(hooks) = self.trigger_hooks(kind, class_name.as_str()) else { return };
        let Some(schema) = self.schemas().get(class_name) else { return };
        let prefix = &self.config().files_url_prefix;
        let original = original.map(|record| object_json(&schema, record.clone(), prefix));
        let object = object_json(&schema, record.clone(), prefix);
        let mut call = self.trigger_call(kind, caller, class_name.to_string(), original, object).await;
        if let Some(context) = &prepared.context {
            call.context = context.clone();
        }
        // Parse compat: the response waits for the after trigger; its failure is only logged.
        if let Err(error) = hooks.run_trigger(self, call).await {
            tracing::warn!(code = error.code.as_i32(), %error, "an {} trigger failed", kind.name());
        }
    }
}
