//! Several nodes on one database. Sessions, roles, users and config are read from the database
//! on every request, so a change on one node is seen by the next request on any other. What a
//! node caches — class schemas and declared webhooks — and the object events LiveQuery needs are
//! announced to the other nodes through a `ClusterLink` (the binary plugs in PostgreSQL's
//! LISTEN/NOTIFY), and what the others announce is applied here.
//!
//! Messages are JSON: `{"kind":"schemas"}` (reload the schemas), `{"kind":"webhooks"}` (reload
//! the webhooks), `{"kind":"event","className":…,"before":…,"after":…}` (a committed change, for
//! this node's LiveQuery subscribers), `{"kind":"sessions","tokens":…,"users":…,"any":…}`
//! (sessions ended: LiveQuery subscribers holding them lose their rights).

use basalt_core::{ClassName, ParseError, ParseResult};
use serde_json::{Value, json};

use crate::Engine;
use crate::events::{ObjectEvent, SessionsEnded};

/// Carries a node's announcements to the other nodes. `publish` must not block; messages from
/// one node must arrive in the order it sent them.
pub trait ClusterLink: Send + Sync {
    fn publish(&self, text: String);

    /// `publish`, resolving once the message is sent: whatever is sent after it reaches every
    /// node (this one included) after it.
    fn publish_confirmed(&self, text: String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

impl Engine {
    pub(crate) fn announce(&self, message: &Value) {
        if let Some(link) = self.inner.cluster.as_ref() {
            link.publish(message.to_string());
        }
    }

    /// Announces a committed change with the version of its class's schema it was written
    /// under (a node whose schema is older reloads before its subscribers hear of the change),
    /// and waits until it is sent: the write is answered only then, so the event of any write
    /// that starts after the answer reaches every node after this one — this node too, which
    /// delivers its own events when they come back (`on_own_cluster_message`).
    pub(crate) async fn announce_event(&self, event: &ObjectEvent, schema_version: u64) {
        if let Some(link) = self.inner.cluster.as_ref() {
            let message = json!({
                "kind": "event",
                "className": event.class_name.as_str(),
                "schemaVersion": schema_version,
                "before": event.before,
                "after": event.after,
            });
            link.publish_confirmed(message.to_string()).await;
        }
    }

    /// Is this node one of several on its database?
    pub(crate) fn is_clustered(&self) -> bool {
        self.inner.cluster.as_ref().is_some()
    }

    /// Tells the other nodes that sessions ended, so their LiveQuery subscribers lose the rights;
    /// waits until it is sent, so the events of later writes reach them after it.
    pub(crate) async fn announce_sessions_ended(&self, ended: &SessionsEnded) {
        if let Some(link) = self.inner.cluster.as_ref() {
            let message = json!({
                "kind": "sessions",
                "tokens": ended.tokens,
                "users": ended.users,
                "any": ended.any,
            });
            link.publish_confirmed(message.to_string()).await;
        }
    }

    /// Reloads what this node caches from the database (after the link may have missed
    /// messages).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn resync(&self) -> ParseResult<()> {
        self.reload_schemas().await?;
        self.load_webhooks().await
    }

    /// On a cluster, reloads the schemas when the class's stored schema is not the cached one
    /// (changed on another node, whose announcement has not arrived yet), so a request acts on
    /// the schema as it is: one indexed read per request. A single node's cache is the truth.
    pub(crate) async fn refresh_if_stale(&self, class_name: &ClassName) -> ParseResult<()> {
        if !self.is_clustered() {
            return Ok(());
        }
        let cached = self.schemas().get(class_name).map(|schema| schema.version);
        // The webhooks' version comes in the same read: a webhook declared or removed on
        // another node serves this request.
        let hooks_class = Self::hooks_class();
        let (stored, hooks_stored) =
            self.store().schema_versions(class_name, &hooks_class).await.map_err(ParseError::from)?;
        if cached != stored {
            self.reload_schemas().await?;
        }
        self.load_webhooks_unless_at(hooks_stored).await
    }

    /// On a cluster, reads the webhooks again when another node changed them (before a cloud
    /// function call, which names no class).
    pub(crate) async fn refresh_webhooks_if_stale(&self) -> ParseResult<()> {
        if !self.is_clustered() {
            return Ok(());
        }
        let stored = self.store().schema_version(&Self::hooks_class()).await.map_err(ParseError::from)?;
        self.load_webhooks_unless_at(stored).await
    }

    /// Reads the webhooks again unless they were read at `stored`, `_Hooks`' stored version.
    async fn load_webhooks_unless_at(&self, stored: Option<u64>) -> ParseResult<()> {
        if stored == self.inner.webhooks.loaded_version() {
            return Ok(());
        }
        self.load_webhooks().await
    }

    /// On a cluster, reloads every schema (a listing of all classes must show the ones another
    /// node created or deleted a moment ago); one query, for the rare `/schemas` listing.
    pub(crate) async fn refresh_all_if_clustered(&self) -> ParseResult<()> {
        if !self.is_clustered() {
            return Ok(());
        }
        self.reload_schemas().await
    }

    pub(crate) async fn reload_schemas(&self) -> ParseResult<()> {
        self.store().schemas_changed_elsewhere();
        let loaded = self.store().load_schemas().await.map_err(ParseError::from)?;
        self.inner.schemas.replace_all(loaded);
        Ok(())
    }

    /// Applies a message this node announced, back from the database in the order every node
    /// receives messages: its object events are delivered to this node's subscribers from here
    /// (not when written), so they hear every node's events in one order. Its other messages
    /// were applied here when sent.
    ///
    /// # Errors
    /// When the message cannot be read.
    pub async fn on_own_cluster_message(&self, text: &str) -> ParseResult<()> {
        self.apply_cluster_message(text, true).await
    }

    /// Applies a message another node announced.
    ///
    /// # Errors
    /// When the store cannot be read (the caller should `resync` later).
    pub async fn on_cluster_message(&self, text: &str) -> ParseResult<()> {
        self.apply_cluster_message(text, false).await
    }

    async fn apply_cluster_message(&self, text: &str, own: bool) -> ParseResult<()> {
        let message: Value = serde_json::from_str(text)
            .map_err(|error| ParseError::internal(format!("a cluster message is not JSON: {error}")))?;
        let kind = message.get("kind").and_then(Value::as_str);
        if own && kind != Some("event") {
            return Ok(());
        }
        match kind {
            Some("schemas") => self.reload_schemas().await,
            Some("webhooks") => self.load_webhooks().await,
            Some("event") => {
                let Some(class_name) = message.get("className").and_then(Value::as_str) else {
                    return Err(ParseError::internal("a cluster event without a class"));
                };
                let object = |key: &str| message.get(key).and_then(Value::as_object).cloned();
                let event = ObjectEvent {
                    class_name: ClassName::parse(class_name)?,
                    before: object("before"),
                    after: object("after"),
                };
                // Written under a schema this node has not loaded yet (a permission changed on a
                // third node): load it first, so the subscribers' views follow it.
                let written_under = message.get("schemaVersion").and_then(Value::as_u64);
                let cached = self.schemas().get(&event.class_name).map(|schema| schema.version);
                if written_under.is_some_and(|version| cached.is_none_or(|cached| cached < version)) {
                    self.reload_schemas().await?;
                }
                if let Some(queue) = &self.inner.events
                    && queue.wants(&event.class_name)
                {
                    queue.push(crate::events::LiveQueryEvent::Object(event));
                }
                Ok(())
            }
            Some("sessions") => {
                let strings = |key: &str| -> Vec<String> {
                    message
                        .get(key)
                        .and_then(Value::as_array)
                        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default()
                };
                let ended = SessionsEnded {
                    tokens: strings("tokens"),
                    users: strings("users"),
                    any: message.get("any").and_then(Value::as_bool).unwrap_or(true),
                };
                if let Some(queue) = &self.inner.events {
                    queue.push(crate::events::LiveQueryEvent::SessionsEnded(ended));
                }
                Ok(())
            }
            other => Err(ParseError::internal(format!("an unknown cluster message {other:?}"))),
        }
    }
}

/// `{"kind": kind}`.
pub(crate) fn notice(kind: &str) -> Value {
    json!({ "kind": kind })
}

impl ClusterLink for basalt_store::postgres::Broadcast {
    fn publish(&self, text: String) {
        basalt_store::postgres::Broadcast::publish(self, text);
    }

    fn publish_confirmed(&self, text: String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(basalt_store::postgres::Broadcast::publish_confirmed(self, text))
    }
}
