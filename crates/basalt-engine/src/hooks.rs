//! What the engine asks of cloud code without knowing it is JavaScript: `Hooks`, implemented by
//! basalt-cloud and set on the engine at start. Without hooks, calling a function answers as
//! Parse does for an unknown function.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use basalt_core::{ErrorCode, ParseError, ParseResult};
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

/// The triggers the engine runs around writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    BeforeSave,
    AfterSave,
    BeforeDelete,
    AfterDelete,
}

impl TriggerKind {
    /// The name `Parse.Cloud` registers it under.
    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::BeforeSave => "beforeSave",
            TriggerKind::AfterSave => "afterSave",
            TriggerKind::BeforeDelete => "beforeDelete",
            TriggerKind::AfterDelete => "afterDelete",
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
    fn run_trigger(&self, call: TriggerCall) -> HookFuture<'_, Option<Map<String, Value>>>;

    /// Runs a function defined with `Parse.Cloud.define`; `None` when it returned `undefined`.
    ///
    /// # Errors
    /// The function's error (a Parse code it chose, or 141), 141 for an unknown function or a
    /// script that exceeded its limits.
    fn run_function(&self, call: FunctionCall) -> HookFuture<'_, Option<Value>>;
}

impl Engine {
    /// Sets the cloud code (once, at start).
    pub fn set_hooks(&self, hooks: Arc<dyn Hooks>) {
        if self.inner.hooks.set(hooks).is_err() {
            tracing::warn!("cloud code hooks were already set; the new ones are ignored");
        }
    }

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
        let Some(hooks) = self.inner.hooks.get() else {
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
        hooks.run_function(call).await
    }
}
