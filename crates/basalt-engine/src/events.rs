//! Committed changes to objects, queued for LiveQuery. The engine queues after commit, never
//! before, and a slow listener cannot slow a writer: the queue is bounded and never waited on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use basalt_core::ClassName;
use basalt_store::{ObjectRecord, WriteOp, WriteOutcome};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

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

/// Sessions that a committed write ended (log-out, a deleted session or user, a password change
/// that revokes sessions): whoever holds rights through them must lose those rights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionsEnded {
    /// These session tokens are gone.
    pub tokens: Vec<String>,
    /// Some sessions of these users are gone (which, the write did not say).
    pub users: Vec<String>,
    /// Sessions the write did not name may be gone: every holder must be checked.
    pub any: bool,
}

impl SessionsEnded {
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.users.is_empty() && !self.any
    }
}

/// May `op` end sessions?
fn may_end_sessions(op: &WriteOp) -> bool {
    match op {
        WriteOp::Delete { class_name, .. } => matches!(class_name.as_str(), "_User" | "_Session"),
        WriteOp::DeleteWhere { class_name, .. } => class_name.as_str() == "_Session",
        WriteOp::Atomic(ops) => ops.iter().any(may_end_sessions),
        _ => false,
    }
}

/// What LiveQuery works through, in the order the engine reported it.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveQueryEvent {
    Object(ObjectEvent),
    SessionsEnded(SessionsEnded),
}

/// What an `EventReceiver` yields.
#[derive(Debug, PartialEq)]
pub enum Received {
    Event(LiveQueryEvent),
    /// The queue was full and changes were dropped since the last `recv`: every subscriber may
    /// have missed some, and must be told (LiveQuery disconnects them all; clients reconnect and
    /// subscribe again). Everything received after this was queued after the drop.
    Overflowed,
}

/// What the engine and LiveQuery share about the queue.
#[derive(Default)]
struct QueueShared {
    /// Subscriptions per class (kept by LiveQuery): a write to a class nobody watches builds
    /// no event.
    watched: std::sync::RwLock<HashMap<ClassName, usize>>,
    overflowed: AtomicBool,
}

/// The engine's end of the queue of committed changes LiveQuery works through. Writers never
/// wait on it: when it holds `Limits::live_query_events_queued_max` changes, a new one is dropped
/// and the receiver is told (`Received::Overflowed`).
#[derive(Clone)]
pub struct EventQueue {
    sender: mpsc::Sender<LiveQueryEvent>,
    shared: Arc<QueueShared>,
}

/// LiveQuery's end of the queue.
pub struct EventReceiver {
    receiver: mpsc::Receiver<LiveQueryEvent>,
    shared: Arc<QueueShared>,
}

/// Who watches which class: LiveQuery counts a subscription here before it confirms it, so
/// every write committed after the client is told builds an event.
#[derive(Clone)]
pub struct Watched {
    shared: Arc<QueueShared>,
}

/// A queue of `capacity` changes (at least one).
pub fn event_queue(capacity: usize) -> (EventQueue, EventReceiver) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let shared = Arc::new(QueueShared::default());
    (EventQueue { sender, shared: Arc::clone(&shared) }, EventReceiver { receiver, shared })
}

impl EventQueue {
    /// Does anyone listen to this class? Role changes always count: subscribers' roles follow
    /// them.
    pub(crate) fn wants(&self, class_name: &ClassName) -> bool {
        class_name.as_str() == "_Role" || self.shared.watched_read().contains_key(class_name)
    }

    /// Queues a change (the engine does, after commit); never waits.
    pub fn push(&self, event: LiveQueryEvent) {
        match self.sender.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.shared.overflowed.swap(true, Ordering::SeqCst) {
                    tracing::warn!("the LiveQuery queue is full: changes are dropped and subscribers disconnected");
                }
            }
        }
    }
}

impl QueueShared {
    fn watched_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ClassName, usize>> {
        self.watched.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn watched_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ClassName, usize>> {
        self.watched.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl EventReceiver {
    /// The next change, or `Overflowed` first when changes were dropped; `None` once the engine
    /// is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        let next = self.receiver.recv().await?;
        if self.shared.overflowed.swap(false, Ordering::SeqCst) {
            // The change just taken was queued before the drop was noticed: drop it too, the
            // subscribers that would see it are being disconnected.
            return Some(Received::Overflowed);
        }
        Some(Received::Event(next))
    }

    pub fn watched(&self) -> Watched {
        Watched { shared: Arc::clone(&self.shared) }
    }
}

impl Watched {
    pub fn watch(&self, class_name: &ClassName) {
        *self.shared.watched_write().entry(class_name.clone()).or_default() += 1;
    }

    pub fn unwatch(&self, class_name: &ClassName) {
        let mut watched = self.shared.watched_write();
        if let Some(count) = watched.get_mut(class_name) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                watched.remove(class_name);
            }
        }
    }
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

/// The sessions `op` ends, as far as the op says (its outcome names a deleted session's token).
fn sessions_ended_by(op: &WriteOp, outcome: Option<&WriteOutcome>, ended: &mut SessionsEnded) {
    match op {
        WriteOp::Delete { class_name, object_id, .. } if class_name.as_str() == "_User" => {
            ended.users.push(object_id.clone());
        }
        WriteOp::Delete { class_name, .. } if class_name.as_str() == "_Session" => match outcome {
            Some(WriteOutcome::Deleted(Some(record))) => {
                match record.fields.get("sessionToken").and_then(Value::as_str) {
                    Some(token) => ended.tokens.push(token.to_owned()),
                    None => ended.users.extend(session_user(record)),
                }
            }
            _ => ended.any = true,
        },
        WriteOp::DeleteWhere { class_name, condition } if class_name.as_str() == "_Session" => {
            let mut tokens = Vec::new();
            let mut users = Vec::new();
            named_in(condition, &mut tokens, &mut users);
            // A condition that names neither: any session may be gone.
            ended.any |= tokens.is_empty() && users.is_empty();
            ended.tokens.extend(tokens);
            ended.users.extend(users);
        }
        // The outcome of an atomic group does not say what each op deleted.
        WriteOp::Atomic(ops) => {
            for op in ops {
                match op {
                    WriteOp::Delete { class_name, .. } if class_name.as_str() == "_Session" => ended.any = true,
                    op => sessions_ended_by(op, None, ended),
                }
            }
        }
        _ => {}
    }
}

fn session_user(record: &ObjectRecord) -> Option<String> {
    record.fields.get("user").and_then(|user| user.get("objectId")).and_then(Value::as_str).map(str::to_owned)
}

/// The session tokens and users an equality in `condition` names.
fn named_in(condition: &basalt_core::query::Condition, tokens: &mut Vec<String>, users: &mut Vec<String>) {
    use basalt_core::query::{Condition, Constraint};
    match condition {
        Condition::And(parts) => parts.iter().for_each(|part| named_in(part, tokens, users)),
        Condition::Field { path, constraint: Constraint::Equals(value) } if path.is_top_level() => {
            match (path.field.as_str(), value) {
                ("sessionToken", Value::String(token)) => tokens.push(token.clone()),
                ("user", pointer) => {
                    users.extend(pointer.get("objectId").and_then(Value::as_str).map(str::to_owned));
                }
                _ => {}
            }
        }
        _ => {}
    }
}

impl Engine {
    /// Runs writes through the store; the one way the engine writes. Sessions the writes ended
    /// are told to LiveQuery and the other nodes before the writes are answered.
    pub(crate) async fn write_ops(
        &self,
        snapshot: Arc<basalt_store::Schemas>,
        ops: Vec<WriteOp>,
        transaction: bool,
    ) -> basalt_store::StoreResult<Vec<basalt_store::StoreResult<WriteOutcome>>> {
        // Only writes that may end sessions keep a copy of their ops (creates never do).
        let kept = ops.iter().any(may_end_sessions).then(|| ops.clone());
        let outcomes = self.store().write(snapshot, ops, transaction).await?;
        if let Some(ops) = kept {
            let mut ended = SessionsEnded::default();
            for (op, outcome) in ops.iter().zip(&outcomes) {
                if let Ok(outcome) = outcome {
                    sessions_ended_by(op, Some(outcome), &mut ended);
                }
            }
            if !ended.is_empty() {
                if let Some(queue) = &self.inner.events {
                    queue.push(LiveQueryEvent::SessionsEnded(ended.clone()));
                }
                self.announce_sessions_ended(&ended).await;
            }
        }
        Ok(outcomes)
    }

    /// Publishes the event a committed write produced, if anyone listens to its class: a
    /// subscriber here, or (on a cluster, where this node cannot know) every node — this one
    /// included, when the announcement comes back, so all hear all events in one order.
    pub(crate) async fn publish_outcome(&self, op: &WriteOp, outcome: &WriteOutcome) {
        let Some(class_name) = class_of(op) else { return };
        let queue = self.inner.events.as_ref().filter(|queue| queue.wants(class_name));
        let clustered = self.is_clustered();
        if queue.is_none() && !clustered {
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
        if clustered {
            self.announce_event(&event, schema.version).await;
        } else if let Some(queue) = queue {
            queue.push(LiveQueryEvent::Object(event));
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
    /// The view a subscriber has of a class, checked by the gate as a find would be: the
    /// subscription's condition and watched fields may not name a field hidden from the caller.
    ///
    /// # Errors
    /// 119 when the class's permissions refuse `find`; 101 when they require a user; 119 for
    /// master-only classes; 119 when the class does not exist; 119 for a protected field in the
    /// condition or `watch`.
    pub fn live_query_view(
        &self,
        caller: &crate::Caller,
        class_name: &ClassName,
        condition: &basalt_core::query::Condition,
        watch: &[String],
    ) -> basalt_core::ParseResult<LiveQueryView> {
        crate::permissions::check_class_access(caller, class_name, "find")?;
        let schema = self.schemas().get(class_name).ok_or_else(|| {
            basalt_core::ParseError::forbidden(format!(
                "This user is not allowed to access non-existent class: {class_name}"
            ))
        })?;
        let permission = self.gate_subscription(caller, &schema, condition, watch)?;
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

#[cfg(test)]
mod tests {
    use basalt_core::acl::Access;
    use basalt_core::query::Condition;
    use basalt_core::value::pointer_value;
    use basalt_store::{ObjectRecord, WriteOp, WriteOutcome};
    use serde_json::{Map, Value, json};

    use super::{LiveQueryEvent, Received, SessionsEnded, event_queue, may_end_sessions, sessions_ended_by};
    use crate::conditions::field_equals;
    use crate::test_support::class;

    fn tokens(token: &str) -> LiveQueryEvent {
        LiveQueryEvent::SessionsEnded(SessionsEnded { tokens: vec![token.to_owned()], ..SessionsEnded::default() })
    }

    #[tokio::test]
    async fn a_full_queue_drops_without_waiting_and_says_so_before_anything_queued_later() {
        let (queue, mut receiver) = event_queue(2);
        queue.push(tokens("a"));
        queue.push(tokens("b"));
        queue.push(tokens("dropped"));
        assert_eq!(receiver.recv().await, Some(Received::Overflowed));
        assert_eq!(receiver.recv().await, Some(Received::Event(tokens("b"))));
        queue.push(tokens("c"));
        assert_eq!(receiver.recv().await, Some(Received::Event(tokens("c"))));
        drop(queue);
        assert_eq!(receiver.recv().await, None, "the receiver ends with the engine");
    }

    #[test]
    fn only_watched_classes_and_roles_are_wanted() {
        let (queue, receiver) = event_queue(1);
        let watched = receiver.watched();
        let item = class("Item");
        assert!(!queue.wants(&item));
        assert!(queue.wants(&class("_Role")), "role changes refresh subscribers' roles");
        watched.watch(&item);
        watched.watch(&item);
        watched.unwatch(&item);
        assert!(queue.wants(&item), "one subscription still watches");
        watched.unwatch(&item);
        assert!(!queue.wants(&item));
    }

    fn ended(op: &WriteOp, outcome: Option<&WriteOutcome>) -> SessionsEnded {
        let mut ended = SessionsEnded::default();
        sessions_ended_by(op, outcome, &mut ended);
        ended
    }

    fn delete(class_name: &str, object_id: &str) -> WriteOp {
        WriteOp::Delete {
            class_name: class(class_name),
            object_id: object_id.into(),
            access: Access::Master,
            condition: Condition::all(),
        }
    }

    #[test]
    fn a_log_out_names_its_token_and_a_revocation_its_user() {
        let log_out = WriteOp::DeleteWhere {
            class_name: class("_Session"),
            condition: field_equals("sessionToken", json!("r:abc")),
        };
        assert_eq!(ended(&log_out, None), SessionsEnded { tokens: vec!["r:abc".into()], ..SessionsEnded::default() });
        let revoked = WriteOp::DeleteWhere {
            class_name: class("_Session"),
            condition: Condition::And(vec![field_equals("user", pointer_value("_User", "u1"))]),
        };
        assert_eq!(ended(&revoked, None), SessionsEnded { users: vec!["u1".into()], ..SessionsEnded::default() });
        let anything = WriteOp::DeleteWhere { class_name: class("_Session"), condition: Condition::all() };
        assert!(ended(&anything, None).any);
    }

    #[test]
    fn a_deleted_session_names_its_token_and_a_deleted_user_its_id() {
        let mut fields = Map::new();
        fields.insert("sessionToken".into(), Value::from("r:xyz"));
        let record = ObjectRecord {
            object_id: "s1".into(),
            created_at: String::new(),
            updated_at: String::new(),
            acl: None,
            fields,
        };
        let outcome = WriteOutcome::Deleted(Some(Box::new(record)));
        assert_eq!(ended(&delete("_Session", "s1"), Some(&outcome)).tokens, ["r:xyz"]);
        // Not knowing which session went, every holder is checked.
        assert!(ended(&delete("_Session", "s1"), None).any);
        assert_eq!(ended(&delete("_User", "u1"), None).users, ["u1"]);
    }

    #[test]
    fn writes_to_other_classes_end_no_session() {
        assert!(!may_end_sessions(&delete("Post", "p1")));
        assert!(ended(&delete("Post", "p1"), None).is_empty());
        assert!(may_end_sessions(&WriteOp::Atomic(vec![delete("Post", "p1"), delete("_User", "u1")])));
    }
}
