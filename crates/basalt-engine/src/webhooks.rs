//! Cloud Code webhooks: a function or trigger served by an external URL.
//! They are declared through `/hooks/…` with the master key, stored in `_Hooks`, loaded at
//! start, and take precedence over cloud code of the same name, as on Parse Server. A call is a
//! `POST` of the request as JSON (with `X-Parse-Webhook-Key` when a key is configured); the
//! endpoint answers `{"success": value}` or `{"error": message | {message}}` (always 141, as
//! Parse Server answers).
//!
//! The registry is per process: a hook declared on one node is seen by another after its restart.

use std::collections::HashMap;
use std::sync::RwLock;

use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use serde_json::{Map, Value};

use crate::conditions::field_equals;
use crate::hooks::{FunctionCall, HookFuture, Hooks, JobCall, TriggerCall, TriggerKind};
use crate::{Caller, Engine};

const HOOKS_CLASS: &str = "_Hooks";

/// The `_Hooks` field holding a trigger's class.
const STORED_CLASS_KEY: &str = "triggerClassName";

/// What a hook stands for: a function, or a trigger of a class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookTarget {
    Function(String),
    Trigger { class_name: String, trigger: String },
}

impl HookTarget {
    /// The fields naming the target: in a declaration (`class_key` "className") or in a
    /// stored `_Hooks` record (`STORED_CLASS_KEY`, as no stored field may be named className).
    fn fields(&self, class_key: &str) -> Map<String, Value> {
        let mut fields = Map::new();
        match self {
            HookTarget::Function(name) => {
                fields.insert("functionName".into(), Value::from(name.as_str()));
            }
            HookTarget::Trigger { class_name, trigger } => {
                fields.insert(class_key.into(), Value::from(class_name.as_str()));
                fields.insert("triggerName".into(), Value::from(trigger.as_str()));
            }
        }
        fields
    }

    /// The hook as the `/hooks` routes answer it.
    fn json(&self, url: &str) -> Value {
        let mut fields = self.fields("className");
        fields.insert("url".into(), Value::from(url));
        Value::Object(fields)
    }

    fn missing(&self) -> ParseError {
        match self {
            HookTarget::Function(name) => {
                ParseError::new(ErrorCode::WebhookError, format!("no function named: {name} is defined"))
            }
            HookTarget::Trigger { class_name, .. } => {
                ParseError::new(ErrorCode::WebhookError, format!("class {class_name} does not exist"))
            }
        }
    }

    /// The trigger kind, for a trigger a webhook may serve.
    fn kind(&self) -> Option<TriggerKind> {
        match self {
            HookTarget::Function(_) => None,
            HookTarget::Trigger { trigger, .. } => webhook_trigger_kind(trigger),
        }
    }
}

/// The triggers a webhook may serve: those about objects, users and sessions.
fn webhook_trigger_kind(name: &str) -> Option<TriggerKind> {
    [
        TriggerKind::BeforeSave,
        TriggerKind::AfterSave,
        TriggerKind::BeforeDelete,
        TriggerKind::AfterDelete,
        TriggerKind::BeforeFind,
        TriggerKind::AfterFind,
        TriggerKind::BeforeLogin,
        TriggerKind::AfterLogin,
        TriggerKind::AfterLogout,
        TriggerKind::BeforePasswordResetRequest,
    ]
    .into_iter()
    .find(|kind| kind.name() == name)
}

fn invalid_declaration() -> ParseError {
    ParseError::new(ErrorCode::WebhookError, "invalid hook declaration")
}

/// The declared webhooks, and the client that calls them.
pub(crate) struct Webhooks {
    functions: RwLock<HashMap<String, String>>,
    triggers: RwLock<HashMap<TriggerKind, HashMap<String, String>>>,
    client: reqwest::Client,
    key: Option<String>,
    /// The stored version of `_Hooks`' schema when these were read (`None`: no `_Hooks` yet).
    /// Every webhook change moves it, so a node whose copy is older reads them again.
    loaded_version: std::sync::Mutex<Option<u64>>,
}

impl Webhooks {
    pub(crate) fn new(key: Option<String>) -> Webhooks {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(basalt_core::Limits::OUTBOUND_REQUEST_MS_MAX))
            .build()
            .unwrap_or_default();
        Webhooks {
            functions: RwLock::default(),
            triggers: RwLock::default(),
            client,
            key,
            loaded_version: std::sync::Mutex::default(),
        }
    }

    pub(crate) fn has_function(&self, name: &str) -> bool {
        self.functions.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(name)
    }

    fn trigger_url(&self, kind: TriggerKind, class_name: &str) -> Option<String> {
        let triggers = self.triggers.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        triggers.get(&kind).and_then(|classes| classes.get(class_name)).cloned()
    }

    fn function_url(&self, name: &str) -> Option<String> {
        self.functions.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(name).cloned()
    }

    /// Sets (`Some`) or removes (`None`) the URL of a hook.
    fn set(&self, target: &HookTarget, url: Option<&str>) {
        let mut functions = self.functions.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut triggers = self.triggers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        set_in(&mut functions, &mut triggers, target, url);
    }

    pub(crate) fn loaded_version(&self) -> Option<u64> {
        *self.loaded_version.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces every declared hook with `declared`, at once: a call never sees a half-loaded set.
    fn replace(&self, declared: Vec<(HookTarget, String)>, version: Option<u64>) {
        let (mut functions, mut triggers) = (HashMap::new(), HashMap::new());
        for (target, url) in &declared {
            set_in(&mut functions, &mut triggers, target, Some(url));
        }
        let mut current_functions = self.functions.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut current_triggers = self.triggers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *current_functions = functions;
        *current_triggers = triggers;
        *self.loaded_version.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = version;
    }

    /// Posts `body` to `url` and reads Parse's webhook answer.
    async fn call(&self, url: &str, body: Value) -> ParseResult<Option<Value>> {
        let mut request = self.client.post(url).json(&body);
        match &self.key {
            Some(key) => request = request.header("X-Parse-Webhook-Key", key),
            None => tracing::warn!("calling a webhook without a webhook key set (--webhook-key)"),
        }
        let response = request
            .send()
            .await
            .map_err(|error| ParseError::new(ErrorCode::ScriptFailed, format!("webhook {url} failed: {error}")))?;
        let text = response
            .text()
            .await
            .map_err(|error| ParseError::new(ErrorCode::ScriptFailed, format!("webhook {url} failed: {error}")))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let Ok(answer) = serde_json::from_str::<Value>(&text) else {
            return Err(ParseError::new(ErrorCode::ScriptFailed, "Malformed response"));
        };
        match answer.get("error") {
            None | Some(Value::Null) => Ok(answer.get("success").cloned().filter(|value| !value.is_null())),
            Some(error) => Err(webhook_error(error)),
        }
    }
}

/// The error an endpoint answered, as Parse Server words it: always 141, with the message
/// (`error` as text, or its `message`).
fn webhook_error(error: &Value) -> ParseError {
    let message = match error {
        Value::String(message) => message.clone(),
        Value::Object(fields) => match fields.get("message").or_else(|| fields.get("error")) {
            Some(Value::String(message)) => message.clone(),
            _ => error.to_string(),
        },
        other => other.to_string(),
    };
    ParseError::new(ErrorCode::ScriptFailed, message)
}

/// An object as a webhook sees it: its fields and its `className`.
fn with_class(mut object: Map<String, Value>, class_name: &str) -> Value {
    object.insert("className".into(), Value::from(class_name));
    Value::Object(object)
}

/// The object a beforeSave webhook sees, as Parse Server shows it: the stored object with the
/// written body over it (operations as written, like `{"__op": "Increment", …}`).
fn saved_state(original: Option<&Map<String, Value>>, body: &Map<String, Value>) -> Map<String, Value> {
    let mut object = original.cloned().unwrap_or_default();
    object.extend(body.iter().map(|(key, value)| (key.clone(), value.clone())));
    object
}

/// The body to write after a beforeSave webhook answered `object`: what it changed from the
/// state it was shown, over the written body (so untouched operations stay atomic).
fn changed_body(
    body: &Map<String, Value>,
    shown: &Map<String, Value>,
    answered: Map<String, Value>,
) -> Map<String, Value> {
    let mut changed: Map<String, Value> = body
        .iter()
        .filter(|(key, _)| answered.contains_key(*key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    for (key, value) in answered {
        if matches!(key.as_str(), "objectId" | "createdAt" | "updatedAt" | "className") {
            continue;
        }
        if shown.get(&key) != Some(&value) {
            changed.insert(key, value);
        }
    }
    changed
}

impl Hooks for Webhooks {
    fn has_trigger(&self, kind: TriggerKind, class_name: &str) -> bool {
        let triggers = self.triggers.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        triggers.get(&kind).is_some_and(|classes| classes.contains_key(class_name))
    }

    fn run_trigger(&self, _engine: &Engine, call: TriggerCall) -> HookFuture<'_, Option<Map<String, Value>>> {
        Box::pin(async move {
            let Some(url) = self.trigger_url(call.kind, &call.class_name) else { return Ok(None) };
            let mut payload = Map::new();
            payload.insert("triggerName".into(), Value::from(call.kind.name()));
            payload.insert("master".into(), Value::Bool(call.master));
            payload.insert("user".into(), call.user.map_or(Value::Null, Value::Object));
            payload.insert("installationId".into(), call.installation_id.map_or(Value::Null, Value::from));
            payload.insert("context".into(), Value::Object(call.context));
            let class_name = call.class_name.as_str();
            if let Some(original) = &call.original {
                payload.insert("original".into(), with_class(original.clone(), class_name));
            }
            match call.kind {
                TriggerKind::BeforeSave => {
                    let mut shown = saved_state(call.original.as_ref(), &call.object);
                    if let Some(object_id) = call.original.as_ref().and_then(|original| original.get("objectId")) {
                        shown.insert("objectId".into(), object_id.clone());
                    }
                    payload.insert("object".into(), with_class(shown.clone(), class_name));
                    match self.call(&url, Value::Object(payload)).await? {
                        Some(Value::Object(answered)) => Ok(Some(changed_body(&call.object, &shown, answered))),
                        _ => Ok(None),
                    }
                }
                TriggerKind::BeforeFind => {
                    let mut query = call.object;
                    let is_get = query.remove("isGet").unwrap_or(Value::Bool(false));
                    payload.insert("query".into(), with_class(query, class_name));
                    payload.insert("isGet".into(), is_get);
                    // Parse compat: a beforeFind webhook may refuse the query, not rewrite it.
                    self.call(&url, Value::Object(payload)).await.map(|_| None)
                }
                TriggerKind::AfterFind => {
                    let objects = call.object.get("results").cloned().unwrap_or(Value::Array(Vec::new()));
                    payload.insert("objects".into(), objects);
                    match self.call(&url, Value::Object(payload)).await? {
                        Some(Value::Array(results)) => {
                            let mut outcome = Map::new();
                            outcome.insert("results".into(), Value::Array(results));
                            Ok(Some(outcome))
                        }
                        _ => Ok(None),
                    }
                }
                _ => {
                    payload.insert("object".into(), with_class(call.object, class_name));
                    self.call(&url, Value::Object(payload)).await.map(|_| None)
                }
            }
        })
    }

    fn run_function(&self, _engine: &Engine, call: FunctionCall) -> HookFuture<'_, Option<Value>> {
        Box::pin(async move {
            let Some(url) = self.function_url(&call.name) else {
                return Err(ParseError::new(ErrorCode::ScriptFailed, format!("Invalid function: \"{}\"", call.name)));
            };
            self.call(&url, call.request_json()).await
        })
    }

    fn has_job(&self, _name: &str) -> bool {
        false
    }

    fn run_job(&self, _engine: &Engine, call: JobCall) -> HookFuture<'_, Option<Value>> {
        Box::pin(async move { Err(ParseError::new(ErrorCode::ScriptFailed, format!("Invalid job: {}", call.name))) })
    }
}

/// A declared (or stored, with `class_key`) hook's target and URL, checked as Parse Server
/// checks them.
fn declared(body: &Map<String, Value>, class_key: &str) -> ParseResult<(HookTarget, String)> {
    let text = |key: &str| body.get(key).and_then(Value::as_str).filter(|text| !text.is_empty());
    let url = text("url").ok_or_else(invalid_declaration)?;
    let target = match (text("functionName"), text(class_key), text("triggerName")) {
        (Some(name), _, _) => HookTarget::Function(name.to_owned()),
        (None, Some(class_name), Some(trigger)) => {
            HookTarget::Trigger { class_name: class_name.to_owned(), trigger: trigger.to_owned() }
        }
        _ => return Err(invalid_declaration()),
    };
    check_target(&target)?;
    Ok((target, url.to_owned()))
}

/// A trigger hook needs a valid class and a trigger a webhook can serve.
fn check_target(target: &HookTarget) -> ParseResult<()> {
    if let HookTarget::Trigger { class_name, .. } = target
        && (ClassName::parse(class_name).is_err() || target.kind().is_none())
    {
        return Err(invalid_declaration());
    }
    Ok(())
}

fn hook_url(fields: &Map<String, Value>) -> Option<&str> {
    fields.get("url").and_then(Value::as_str)
}

/// Sets (`Some`) or removes (`None`) the URL of a hook in the two maps.
fn set_in(
    functions: &mut HashMap<String, String>,
    triggers: &mut HashMap<TriggerKind, HashMap<String, String>>,
    target: &HookTarget,
    url: Option<&str>,
) {
    match target {
        HookTarget::Function(name) => {
            match url {
                Some(url) => functions.insert(name.clone(), url.to_owned()),
                None => functions.remove(name),
            };
        }
        HookTarget::Trigger { class_name, .. } => {
            let Some(kind) = target.kind() else { return };
            let classes = triggers.entry(kind).or_default();
            match url {
                Some(url) => classes.insert(class_name.clone(), url.to_owned()),
                None => classes.remove(class_name),
            };
        }
    }
}
impl Engine {
    pub(crate) fn hooks_class() -> ClassName {
        ClassName::parse(HOOKS_CLASS).unwrap_or_else(|_| unreachable!("_Hooks is a system class"))
    }

    /// Serves the webhooks stored in `_Hooks` (at start, and when another node changed them),
    /// remembering the version of `_Hooks`' schema they were read at (read first: a change made
    /// meanwhile leaves the remembered version behind, so they are read again).
    pub(crate) async fn load_webhooks(&self) -> ParseResult<()> {
        let hooks_class = Self::hooks_class();
        let version = self.store().schema_version(&hooks_class).await.map_err(ParseError::from)?;
        if self.schemas().get(&hooks_class).map(|schema| schema.version) != version {
            self.reload_schemas().await?;
        }
        let records = self.cached_records_where(&hooks_class, basalt_core::query::Condition::all(), None).await?;
        let mut hooks = Vec::with_capacity(records.len());
        for record in records {
            match declared(&record.fields, STORED_CLASS_KEY) {
                Ok(hook) => hooks.push(hook),
                Err(_) => tracing::warn!(hook = ?record.fields, "ignoring an invalid stored webhook"),
            }
        }
        self.inner.webhooks.replace(hooks, version);
        Ok(())
    }

    /// After a webhook change: moves `_Hooks`' schema version, which every node compares with
    /// the one its webhooks were read at before it serves a request, and reads them again here.
    async fn webhooks_changed(&self) -> ParseResult<()> {
        let updated = self
            .store()
            .update_class(&Self::hooks_class(), basalt_store::SchemaChange::default())
            .await
            .map_err(ParseError::from)?;
        self.schemas().put(updated);
        self.load_webhooks().await?;
        self.announce(&crate::cluster::notice("webhooks"));
        Ok(())
    }

    /// The stored `_Hooks` record of a target: its objectId and URL.
    async fn stored_hook(&self, target: &HookTarget) -> ParseResult<Option<(String, String)>> {
        let condition = basalt_core::query::Condition::And(
            target.fields(STORED_CLASS_KEY).into_iter().map(|(field, value)| field_equals(&field, value)).collect(),
        );
        let records = self.records_where(&Self::hooks_class(), condition, Some(1)).await?;
        Ok(records
            .into_iter()
            .next()
            .and_then(|record| Some((record.object_id.clone(), hook_url(&record.fields)?.to_owned()))))
    }

    /// `GET /hooks/functions` or `GET /hooks/triggers`.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn list_hooks(&self, caller: &Caller, functions: bool) -> ParseResult<Vec<Value>> {
        caller.require_master()?;
        let records = self.records_where(&Self::hooks_class(), basalt_core::query::Condition::all(), None).await?;
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let (target, url) = declared(&record.fields, STORED_CLASS_KEY).ok()?;
                (matches!(target, HookTarget::Function(_)) == functions).then(|| target.json(&url))
            })
            .collect())
    }

    /// `GET /hooks/functions/:name`, `GET /hooks/triggers/:className/:triggerName`.
    ///
    /// # Errors
    /// 143 when no such hook is declared.
    pub async fn get_hook(&self, caller: &Caller, target: &HookTarget) -> ParseResult<Value> {
        caller.require_master()?;
        match self.stored_hook(target).await? {
            Some((_, url)) => Ok(target.json(&url)),
            None => Err(target.missing()),
        }
    }

    /// `POST /hooks/functions`, `POST /hooks/triggers`.
    ///
    /// # Errors
    /// 143 for an invalid declaration or a hook that already exists.
    pub async fn create_hook(&self, caller: &Caller, body: &Map<String, Value>) -> ParseResult<Value> {
        caller.require_master()?;
        let (target, url) = declared(body, "className")?;
        if self.stored_hook(&target).await?.is_some() {
            let message = match &target {
                HookTarget::Function(name) => format!("function name: {name} already exists"),
                HookTarget::Trigger { class_name, trigger } => {
                    format!("class {class_name} already has trigger {trigger}")
                }
            };
            return Err(ParseError::new(ErrorCode::WebhookError, message));
        }
        let mut fields = target.fields(STORED_CLASS_KEY);
        fields.insert("url".into(), Value::from(url.as_str()));
        self.create_object(&Caller::master(), &Engine::hooks_class(), &fields).await?;
        self.webhooks_changed().await?;
        Ok(target.json(&url))
    }

    /// `PUT /hooks/…` with `{"url"}`.
    ///
    /// # Errors
    /// 143 for an invalid declaration or a hook that doesn't exist.
    pub async fn update_hook(
        &self,
        caller: &Caller,
        target: &HookTarget,
        body: &Map<String, Value>,
    ) -> ParseResult<Value> {
        caller.require_master()?;
        let url =
            body.get("url").and_then(Value::as_str).filter(|url| !url.is_empty()).ok_or_else(invalid_declaration)?;
        check_target(target)?;
        let Some((object_id, _)) = self.stored_hook(target).await? else { return Err(target.missing()) };
        let mut update = Map::new();
        update.insert("url".into(), Value::from(url));
        self.update_object(&Caller::master(), &Engine::hooks_class(), &object_id, &update).await?;
        self.webhooks_changed().await?;
        Ok(target.json(url))
    }

    /// `PUT /hooks/…` with `{"__op": "Delete"}`: removes the hook (nothing to remove is no error).
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn delete_hook(&self, caller: &Caller, target: &HookTarget) -> ParseResult<()> {
        caller.require_master()?;
        self.inner.webhooks.set(target, None);
        if let Some((object_id, _)) = self.stored_hook(target).await? {
            self.delete_object(&Caller::master(), &Engine::hooks_class(), &object_id).await?;
            self.webhooks_changed().await?;
        }
        Ok(())
    }

    /// The hooks that serve a trigger: a webhook first, then cloud code.
    pub(crate) fn trigger_hooks(&self, kind: TriggerKind, class_name: &str) -> Option<&dyn Hooks> {
        if self.inner.webhooks.has_trigger(kind, class_name) {
            return Some(&self.inner.webhooks);
        }
        self.inner
            .hooks
            .as_ref()
            .filter(|hooks| hooks.has_trigger(kind, class_name))
            .map(|hooks| hooks.as_ref() as &dyn Hooks)
    }

    /// The hooks that serve a function: a webhook first, then cloud code.
    pub(crate) fn function_hooks(&self, name: &str) -> Option<&dyn Hooks> {
        if self.inner.webhooks.has_function(name) {
            return Some(&self.inner.webhooks);
        }
        self.inner.hooks.as_ref().map(|hooks| hooks.as_ref() as &dyn Hooks)
    }
}

#[cfg(test)]
mod tests;
