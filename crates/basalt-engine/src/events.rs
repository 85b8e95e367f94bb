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
        WriteOp::Insert { class_name, .. } | WriteOp::Update { class_name, .. } | WriteOp::Delete { class_name, .. } => {
            Some(class_name)
        }
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

    /// Publishes the event a committed write produced, if anyone listens to its class.
    pub(crate) fn publish_outcome(&self, op: &WriteOp, outcome: &WriteOutcome) {
        let Some(sink) = self.inner.events.get() else { return };
        let Some(class_name) = class_of(op) else { return };
        if !sink.wants(class_name) {
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
        sink.publish(ObjectEvent { class_name: class_name.clone(), before, after });
    }
}
