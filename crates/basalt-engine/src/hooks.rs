//! What the engine asks of cloud code without knowing it is JavaScript: `Hooks`, implemented by
//! basalt-cloud and set on the engine at start. Without hooks, calling a function answers as
//! Parse does for an unknown function.

use std::future::Future;
use std::pin::Pin;

use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use serde_json::{Map, Value};

use crate::{Caller, Engine};

/// One call of a cloud function, as the function's `request` describes it.
#[derive(Clone, Debug)]
pub struct FunctionCall {
    pub name: String,
    pub params: Map<String, Value>,
    /// The caller's master-key flag and installation.
    pub master: bool,
    pub installation_id: Option<String>,
    /// The calling user as they see themselves (with their session token), when logged in.
    pub user: Option<Map<String, Value>>,
    pub headers: Map<String, Value>,
    pub ip: Option<String>,
}

impl FunctionCall {
    /// The function's `request` as JSON (cloud code and webhooks both receive it).
    pub fn request_json(&self) -> Value {
        serde_json::json!({
            "functionName": self.name,
            "params": self.params,
            "master": self.master,
            "user": self.user,
            "installationId": self.installation_id,
            "headers": self.headers,
            "ip": self.ip,
        })
    }
}

/// The triggers the engine runs around writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    BeforeSave,
    AfterSave,
    BeforeDelete,
    AfterDelete,
    /// `object` holds the query's REST parameters (and `isGet`); returns the parameters to run.
    BeforeFind,
    /// `object` holds `{"results": [...]}`; returns the results to send.
    AfterFind,
    /// `object` is the user logging in (class `_User`); throwing refuses the log-in.
    BeforeLogin,
    /// `object` is the user just logged in, with its new session token.
    AfterLogin,
    /// `object` is the ended session (class `_Session`).
    AfterLogout,
    /// `object` is the user asking for a reset mail; throwing refuses it.
    BeforePasswordResetRequest,
    /// A LiveQuery `connect` (class `@Connect`): `object` holds `sessionToken`, `useMasterKey`,
    /// `installationId`, `clients`, `subscriptions`; throwing refuses the connection.
    BeforeConnect,
    /// A LiveQuery `subscribe`: `object` holds the `query` (`where`, `keys`), `requestId` and
    /// `sessionToken`; returns the query to subscribe with, or refuses by throwing.
    BeforeSubscribe,
    /// A LiveQuery event about to reach one subscriber: `object` holds `event`, `object`,
    /// `original`, `sessionToken`, `useMasterKey`, `installationId`; returns `sendEvent` and the
    /// `object` to send.
    AfterLiveQueryEvent,
}

impl TriggerKind {
    /// The name `Parse.Cloud` registers it under.
    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::BeforeSave => "beforeSave",
            TriggerKind::AfterSave => "afterSave",
            TriggerKind::BeforeDelete => "beforeDelete",
            TriggerKind::AfterDelete => "afterDelete",
            TriggerKind::BeforeFind => "beforeFind",
            TriggerKind::AfterFind => "afterFind",
            TriggerKind::BeforeLogin => "beforeLogin",
            TriggerKind::AfterLogin => "afterLogin",
            TriggerKind::AfterLogout => "afterLogout",
            TriggerKind::BeforePasswordResetRequest => "beforePasswordResetRequest",
            TriggerKind::BeforeConnect => "beforeConnect",
            TriggerKind::BeforeSubscribe => "beforeSubscribe",
            TriggerKind::AfterLiveQueryEvent => "afterLiveQueryEvent",
        }
    }
}

/// One run of a trigger.
#[derive(Clone, Debug)]
pub struct TriggerCall {
    pub kind: TriggerKind,
    pub class_name: String,
    /// The stored object (REST form, master view) before the write; `None` for a create.
    pub original: Option<Map<String, Value>>,
    /// beforeSave: the written body (values and `__op`s); afterSave: the object as saved;
    /// delete triggers: the object.
    pub object: Map<String, Value>,
    pub master: bool,
    pub installation_id: Option<String>,
    pub user: Option<Map<String, Value>>,
    /// `request.context`. A beforeSave hands back the context as it left it under the key
    /// `__context` of its result (no field name can start with `_`), for the afterSave.
    pub context: Map<String, Value>,
}

/// One run of a background job (`Parse.Cloud.job`).
#[derive(Clone, Debug)]
pub struct JobCall {
    pub name: String,
    pub params: Map<String, Value>,
    /// The `_JobStatus` object tracking this run.
    pub job_status_id: String,
}

/// What a hook call returns: a future that outlives no borrow but the hooks'.
pub type HookFuture<'a, T> = Pin<Box<dyn Future<Output = ParseResult<T>> + Send + 'a>>;

/// Cloud code as the engine sees it.
pub trait Hooks: Send + Sync {
    /// Is a trigger of this kind registered for the class?
    fn has_trigger(&self, kind: TriggerKind, class_name: &str) -> bool;

    /// Runs a trigger. For beforeSave, returns the body to write instead (the trigger may have
    /// changed it).
    ///
    /// # Errors
    /// The trigger's error refuses the write (before triggers); after triggers' errors are logged.
    fn run_trigger(&self, engine: &Engine, call: TriggerCall) -> HookFuture<'_, Option<Map<String, Value>>>;

    /// Runs a function defined with `Parse.Cloud.define`; `None` when it returned `undefined`.
    ///
    /// # Errors
    /// The function's error (a Parse code it chose, or 141), 141 for an unknown function or a
    /// script that exceeded its limits.
    fn run_function(&self, engine: &Engine, call: FunctionCall) -> HookFuture<'_, Option<Value>>;

    /// Is a job of this name defined?
    fn has_job(&self, name: &str) -> bool;

    /// Runs a job to its end (the engine runs it in the background).
    ///
    /// # Errors
    /// The job's error, recorded in its `_JobStatus`.
    fn run_job(&self, engine: &Engine, call: JobCall) -> HookFuture<'_, Option<Value>>;

    /// The rate limits validators declared (`rateLimit`), checked before a request routes.
    fn rate_limits(&self) -> &[crate::RateLimitRule] {
        &[]
    }
}

impl Engine {
    /// `POST /functions/:name`.
    ///
    /// # Errors
    /// 141 for an unknown function; whatever the function throws.
    pub async fn run_function(
        &self,
        caller: &Caller,
        name: &str,
        params: Map<String, Value>,
        headers: Map<String, Value>,
        ip: Option<String>,
    ) -> ParseResult<Option<Value>> {
        self.refresh_webhooks_if_stale().await?;
        let Some(hooks) = self.function_hooks(name) else {
            return Err(ParseError::new(ErrorCode::ScriptFailed, format!("Invalid function: \"{name}\"")));
        };
        let user = match caller.user_id {
            Some(_) => Some(self.current_user(caller).await?),
            None => None,
        };
        let call = FunctionCall {
            name: name.to_owned(),
            params,
            master: caller.is_master,
            installation_id: caller.installation_id.clone(),
            user,
            headers,
            ip,
        };
        hooks.run_function(self, call).await
    }
}

impl Engine {
    /// `POST /jobs/:name` (master key, checked by the server): records a `_JobStatus`, starts the
    /// job in the background, and returns the status's objectId at once.
    ///
    /// # Errors
    /// 141 "Invalid job." for an unknown job.
    pub async fn start_job(&self, caller: &Caller, name: &str, params: Map<String, Value>) -> ParseResult<String> {
        caller.require_master()?;
        let Some(hooks) = self.inner.hooks.as_ref().cloned().filter(|hooks| hooks.has_job(name)) else {
            return Err(ParseError::new(ErrorCode::ScriptFailed, "Invalid job."));
        };
        let master = Caller::master();
        let status = serde_json::json!({
            "jobName": name,
            "source": "api",
            "status": "running",
            "params": Value::Object(params.clone()).to_string(),
        });
        let Value::Object(status) = status else { unreachable!("a JSON object literal") };
        let created = self.create_object(&master, &ClassName::system("_JobStatus"), &status).await?;
        let job_status_id = created.object_id.clone();
        let engine = self.clone();
        let call = JobCall { name: name.to_owned(), params, job_status_id: job_status_id.clone() };
        let status_id = job_status_id.clone();
        tokio::spawn(async move {
            let job_status_id = status_id;
            let outcome = hooks.run_job(&engine, call).await;
            let finished = basalt_core::value::date_value(&basalt_core::time::format_iso(engine.now()));
            let update = match outcome {
                Ok(result) => {
                    let mut update = serde_json::json!({"status": "succeeded", "finishedAt": finished});
                    if let (Some(Value::String(message)), Some(object)) = (result, update.as_object_mut()) {
                        object.insert("message".into(), Value::String(message));
                    }
                    update
                }
                Err(error) => serde_json::json!({"status": "failed", "message": error.message, "finishedAt": finished}),
            };
            let Value::Object(update) = update else { return };
            if let Err(error) =
                engine.update_object(&Caller::master(), &ClassName::system("_JobStatus"), &job_status_id, &update).await
            {
                tracing::error!(%error, "could not record the end of a job");
            }
        });
        Ok(job_status_id)
    }
}
