//! Committed changes to objects, published to whoever listens (LiveQuery). The engine publishes
//! after commit, never before, and a slow listener cannot slow a writer: `publish` must not
//! block.

use std::sync::Arc;

use basalt_core::ClassName;
use basalt_store::{ObjectRecord, WriteOp, WriteOutcome};
use serde_json::{Map, Value};

use crate::Engine;
use crate::output::object_json;

/// A committed change, with the object before and after in the REST encoding the master key
/// sees (ACL included). `before` is `None` for a create, `after` for a delete.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectEvent {
    pub class_name: ClassName,
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
}

/// Receives object events. Called on the write path: must return at once.
pub trait EventSink: Send + Sync {
    fn publish(&self, event: ObjectEvent);

    /// Does anyone listen to this class? Lets the engine skip building events nobody wants.
    fn wants(&self, class_name: &ClassName) -> bool;
}

fn class_of(op: &WriteOp) -> Option<&ClassName> {
    match op {
        WriteOp::Insert { class_name, .. }
        | WriteOp::Update { class_name, .. }
        | WriteOp::Delete { class_name, .. } => Some(class_name),
        WriteOp::Atomic(ops) => ops.first().and_then(class_of),
        _ => None,
    }
}

impl Engine {
    /// Sets the listener for object events (once, at start).
    pub fn set_event_sink(&self, sink: Arc<dyn EventSink>) {
        if self.inner.events.set(sink).is_err() {
            tracing::warn!("an event sink was already set; the new one is ignored");
        }
    }

    /// Publishes the event a committed write produced, if anyone listens to its class: a
    /// subscriber here, or (on a cluster, where this node cannot know) the other nodes.
    pub(crate) fn publish_outcome(&self, op: &WriteOp, outcome: &WriteOutcome) {
        let Some(class_name) = class_of(op) else { return };
        let sink = self.inner.events.get().filter(|sink| sink.wants(class_name));
        let clustered = self.inner.cluster.get().is_some();
        if sink.is_none() && !clustered {
            return;
        }
        let Some(schema) = self.schemas().get(class_name) else { return };
        let prefix = &self.config().files_url_prefix;
        let encode = |record: &ObjectRecord| object_json(&schema, record.clone(), prefix);
        let (before, after) = match outcome {
            WriteOutcome::Written(record) => (None, Some(encode(record))),
            WriteOutcome::Updated { before, after } => (Some(encode(before)), Some(encode(after))),
            WriteOutcome::Deleted(Some(record)) => (Some(encode(record)), None),
            _ => return,
        };
        let event = ObjectEvent { class_name: class_name.clone(), before, after };
        self.announce_event(&event);
        if let Some(sink) = sink {
            sink.publish(event);
        }
    }
}

/// What a LiveQuery subscriber may see of a class: the schema, the condition class-level
/// permissions add (pointer permissions), and the fields hidden from them.
#[derive(Clone, Debug)]
pub struct LiveQueryView {
    pub schema: Arc<basalt_core::ClassSchema>,
    pub permission: basalt_core::query::Condition,
    pub hidden: std::collections::BTreeSet<String>,
}

impl Engine {
    /// The view a subscriber has of a class, checked as a find would be.
    ///
    /// # Errors
    /// 119 when the class's permissions refuse `find`; 101 when they require a user; 119 for
    /// master-only classes; 119 when the class does not exist.
    pub fn live_query_view(
        &self,
        caller: &crate::Caller,
        class_name: &ClassName,
    ) -> basalt_core::ParseResult<LiveQueryView> {
        crate::objects::check_class_access(caller, class_name, "find")?;
        let schema = self.schemas().get(class_name).ok_or_else(|| {
            basalt_core::ParseError::forbidden(format!(
                "This user is not allowed to access non-existent class: {class_name}"
            ))
        })?;
        let permission = self.class_permission(caller, &schema, basalt_core::clp::ClpOperation::Find)?;
        let hidden = self.protected_fields(caller, &schema);
        Ok(LiveQueryView { schema, permission, hidden })
    }

    /// Removes what the caller may not see of an object (protected fields, other users'
    /// `authData`), as finds do.
    pub fn redact_for(&self, caller: &crate::Caller, view: &LiveQueryView, object: &mut Map<String, Value>) {
        self.hide_from_caller(caller, &view.schema, &view.hidden, object);
    }

    /// The current schema of a class.
    pub fn schema_of(&self, class_name: &ClassName) -> Option<Arc<basalt_core::ClassSchema>> {
        self.schemas().get(class_name)
    }

    /// The query parser with this server's limits and clock.
    pub fn query_parser(&self) -> basalt_core::query::QueryParser<'_> {
        basalt_core::query::QueryParser { limits: self.limits(), now: self.now() }
    }

    /// Re-resolves a session's caller (after role changes).
    pub async fn refresh_caller(&self, caller: &crate::Caller) -> basalt_core::ParseResult<crate::Caller> {
        match &caller.session_token {
            Some(token) => self.caller_for_session(token, caller.installation_id.clone()).await,
            None => Ok(caller.clone()),
        }
    }
}
