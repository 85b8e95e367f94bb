//! LiveQuery: clients subscribe to queries over a WebSocket and are told when
//! an object starts or stops matching, changes, or is deleted.
//!
//! The server hands each connection's text frames to `Hub::receive` and writes out what the
//! connection's queue yields. The engine queues every committed change on its `EventQueue`; the
//! hub's delivery task takes them in order and matches each against every subscription in memory
//! with `basalt_core::query::matcher` — the same semantics as the SQL compiler — applying the
//! subscriber's ACL, class-level permissions and protected fields exactly as a find would.
//!
//! Slow clients never slow writers: the engine's queue and each connection's are bounded and
//! never waited on; a client whose queue is full is disconnected with an error, and when the
//! engine's queue is full every client is.

mod protocol;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use basalt_core::acl::{Access, Acl};
use basalt_core::query::Condition;
use basalt_core::query::matcher;
use basalt_core::{ClassName, ClassSchema};
use basalt_engine::{
    Caller, Engine, EventReceiver, LiveQueryEvent, LiveQueryView, ObjectEvent, Received, SessionsEnded, Watched,
};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

pub use protocol::Frame;

/// Settings of the LiveQuery server.
#[derive(Clone, Debug)]
pub struct LiveQueryConfig {
    /// Classes with LiveQuery on; `None` = every class.
    pub classes: Option<HashSet<String>>,
    /// The keys `connect` must present, checked as the REST API checks them.
    pub keys: basalt_engine::AppKeys,
}

/// One subscription of one client.
struct Subscription {
    class_name: ClassName,
    condition: Condition,
    fields: Option<Vec<String>>,
    watch: Option<Vec<String>>,
    /// Whose rights the subscription has: its own session token's user, else the connection's.
    caller: Caller,
    /// The connection's caller; an object readable by either caller is delivered (Parse compat).
    connection_caller: Caller,
    view: LiveQueryView,
}

struct Client {
    sender: mpsc::Sender<Frame>,
    /// Where the connection comes from (for the master key's addresses and the per-address
    /// subscription cap).
    address: Option<std::net::IpAddr>,
    kick: Kick,
    /// The id the client knows (a random UUID, as Parse Server sends).
    public_id: String,
    installation_id: Option<String>,
    /// The caller the `connect` frame established; `None` before it.
    caller: Option<Caller>,
    subscriptions: HashMap<i64, Subscription>,
}

#[derive(Default)]
struct State {
    next_client_id: u64,
    clients: HashMap<u64, Client>,
    /// Subscriptions held by the connections of each address (the per-address cap), kept as
    /// subscriptions come and go rather than summed over every client on each subscribe.
    per_address: HashMap<std::net::IpAddr, usize>,
}

impl State {
    /// Counts `change` more (or fewer) subscriptions for the client's address.
    fn count_for_address(&mut self, address: Option<std::net::IpAddr>, change: isize) {
        let Some(address) = address else { return };
        let held = self.per_address.entry(address).or_default();
        *held = held.saturating_add_signed(change);
        if *held == 0 {
            self.per_address.remove(&address);
        }
    }
}

/// Told when the hub drops a client that fell behind, so its connection closes at once rather
/// than after the frames still queued for it.
pub type Kick = Arc<tokio::sync::Notify>;

/// A connection just registered with the hub.
pub struct Opened {
    pub client_id: u64,
    /// The frames to write to the client; when it closes without the connection having ended,
    /// the client fell behind.
    pub frames: mpsc::Receiver<Frame>,
    /// Notified when the client fell behind and was dropped.
    pub kick: Kick,
}

/// The LiveQuery server: clients, their subscriptions, and event delivery.
pub struct Hub {
    engine: Engine,
    config: LiveQueryConfig,
    state: Mutex<State>,
    this: Weak<Hub>,
    /// The earliest expiry (Unix ms) of a session some caller here holds; `i64::MAX` for none.
    /// Events check it before looking for expired sessions among every subscriber.
    next_expiry: std::sync::atomic::AtomicI64,
    /// Counts role refreshes (see `refresh_roles`).
    role_generation: std::sync::atomic::AtomicU64,
    /// How many subscriptions each class has, kept with the subscriptions (under `state`) and
    /// read by the engine: a write to a class nobody watches builds no event. A subscription
    /// counts before its `subscribed` frame is sent, so every write committed after the client is
    /// told sees it.
    watched: Watched,
}

/// The caller a connection or subscription falls back to when its session ended: no user, no
/// roles, the public's rights.
fn without_session(caller: &Caller) -> Caller {
    Caller { installation_id: caller.installation_id.clone(), ..Caller::anonymous() }
}

/// The kind of event a change is for one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventKind {
    Create,
    Enter,
    Update,
    Leave,
    Delete,
}

impl EventKind {
    fn op(self) -> &'static str {
        match self {
            EventKind::Create => "create",
            EventKind::Enter => "enter",
            EventKind::Update => "update",
            EventKind::Leave => "leave",
            EventKind::Delete => "delete",
        }
    }
}

/// Can the caller read this object under its ACL?
fn acl_admits(caller: &Caller, object: &Map<String, Value>) -> bool {
    let access = caller.access();
    match object.get("ACL") {
        None | Some(Value::Null) => true,
        Some(acl) => match Acl::from_json(acl) {
            Ok(acl) => access.admits(Some(&acl.read)),
            Err(_) => matches!(access, Access::Master),
        },
    }
}

/// Can the subscription read this object (its caller's or the connection's rights)?
fn readable(subscription: &Subscription, object: &Map<String, Value>) -> bool {
    acl_admits(&subscription.caller, object) || acl_admits(&subscription.connection_caller, object)
}

/// Does the subscription see this version of the object: readable, permitted, matching?
/// Constraints LiveQuery can't evaluate (`$inQuery`, …) never match.
fn sees(schema: &ClassSchema, subscription: &Subscription, object: &Map<String, Value>) -> bool {
    if !readable(subscription, object) {
        return false;
    }
    let permitted = matcher::matches(schema, object, &subscription.view.permission).unwrap_or(false);
    permitted && matcher::matches(schema, object, &subscription.condition).unwrap_or(false)
}

fn watched_changed(watch: &[String], before: Option<&Map<String, Value>>, after: &Map<String, Value>) -> bool {
    watch.iter().any(|field| before.and_then(|before| before.get(field)) != after.get(field))
}

/// A random version-4 UUID, the form of Parse Server's LiveQuery client ids.
fn new_client_id() -> String {
    let mut bytes: [u8; 16] = rand::Rng::random(&mut rand::rng());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

impl Hub {
    /// The hub, working through `events` (the receiving end of the engine's queue) in order:
    /// an event written after a log-out is delivered after the log-out took its rights. The
    /// write path only enqueues, so a save's latency never includes the fan-out to subscribers.
    pub fn new(engine: Engine, config: LiveQueryConfig, mut events: EventReceiver) -> Arc<Hub> {
        let hub = Arc::new_cyclic(|this| Hub {
            engine,
            config,
            state: Mutex::new(State::default()),
            this: this.clone(),
            next_expiry: std::sync::atomic::AtomicI64::new(i64::MAX),
            role_generation: std::sync::atomic::AtomicU64::new(0),
            watched: events.watched(),
        });
        let delivering = Arc::downgrade(&hub);
        tokio::spawn(async move {
            while let Some(next) = events.recv().await {
                let Some(hub) = delivering.upgrade() else { return };
                let event = match next {
                    Received::Event(LiveQueryEvent::Object(event)) => event,
                    Received::Event(LiveQueryEvent::SessionsEnded(ended)) => {
                        hub.end_sessions(ended).await;
                        continue;
                    }
                    Received::Overflowed => {
                        hub.disconnect_all();
                        continue;
                    }
                };
                if event.class_name.as_str() == "_Role" {
                    hub.refresh_roles();
                }
                if !hub.serves_class(event.class_name.as_str()) {
                    continue;
                }
                hub.expire_sessions();
                if hub.engine.has_live_query_event_trigger(event.class_name.as_str()) {
                    hub.deliver_through_trigger(event).await;
                } else {
                    hub.deliver(event);
                }
            }
        });
        hub
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The limits LiveQuery works under (the engine's).
    pub fn limits(&self) -> &basalt_core::Limits {
        self.engine.limits()
    }

    /// Is LiveQuery on for this class?
    pub fn serves_class(&self, class_name: &str) -> bool {
        self.config.classes.as_ref().is_none_or(|classes| classes.contains(class_name))
    }

    /// Registers a new connection from loopback (for the unit tests); returns its id and the
    /// queue of frames to write to it.
    #[cfg(test)]
    pub(crate) fn open(&self) -> (u64, mpsc::Receiver<Frame>) {
        let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let opened = self.open_with_kick(Some(loopback));
        (opened.client_id, opened.frames)
    }

    /// Registers a connection from `address`.
    pub fn open_with_kick(&self, address: Option<std::net::IpAddr>) -> Opened {
        let kick = Kick::default();
        let (sender, receiver) = mpsc::channel(self.engine.limits().live_query_frames_queued_per_connection_max.max(1));
        let mut state = self.state();
        state.next_client_id += 1;
        let client_id = state.next_client_id;
        state.clients.insert(
            client_id,
            Client {
                sender,
                address: address.map(|address| address.to_canonical()),
                kick: Arc::clone(&kick),
                public_id: String::new(),
                installation_id: None,
                caller: None,
                subscriptions: HashMap::new(),
            },
        );
        Opened { client_id, frames: receiver, kick }
    }

    /// Forgets a connection and its subscriptions.
    pub fn close(&self, client_id: u64) {
        let mut state = self.state();
        self.forget_client(&mut state, client_id);
    }

    fn forget_client(&self, state: &mut State, client_id: u64) {
        if let Some(client) = state.clients.remove(&client_id) {
            for subscription in client.subscriptions.values() {
                self.watched.unwatch(&subscription.class_name);
            }
            let held = isize::try_from(client.subscriptions.len()).unwrap_or(isize::MAX);
            state.count_for_address(client.address, -held);
        }
    }

    /// Remembers when `caller`'s session expires (call with `state` locked, where it is stored).
    fn note_expiry(&self, caller: &Caller) {
        if let Some(expires_at) = caller.session_expires_at {
            self.next_expiry.fetch_min(expires_at, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Disconnects every client: the engine's queue overflowed, so any of them may have missed
    /// changes. Clients reconnect and subscribe again (the SDKs do so on their own).
    fn disconnect_all(&self) {
        let mut state = self.state();
        let clients: Vec<u64> = state.clients.keys().copied().collect();
        tracing::warn!(clients = clients.len(), "LiveQuery fell behind the writes; every client is disconnected");
        for client_id in clients {
            if let Some(client) = state.clients.get(&client_id) {
                client.kick.notify_one();
            }
            self.forget_client(&mut state, client_id);
        }
    }

    /// Sends a frame to one client, disconnecting it when its queue is full.
    fn send(&self, state: &mut State, client_id: u64, frame: Frame) {
        let Some(client) = state.clients.get(&client_id) else { return };
        if client.sender.try_send(frame).is_err() {
            tracing::warn!(client_id, "a LiveQuery client fell behind and is disconnected");
            client.kick.notify_one();
            self.forget_client(state, client_id);
        }
    }

    fn reply(&self, client_id: u64, frame: Frame) {
        let mut state = self.state();
        self.send(&mut state, client_id, frame);
    }

    /// The frame announcing an event to one subscription. `plain` caches the JSON of objects
    /// that need no per-subscriber shaping, so a change fanned out to many subscribers is
    /// serialised once.
    #[allow(clippy::too_many_arguments)]
    fn event_frame(
        &self,
        client: &Client,
        request_id: i64,
        subscription: &Subscription,
        kind: EventKind,
        object: &Map<String, Value>,
        original: Option<&Map<String, Value>>,
        plain: &mut HashMap<usize, String>,
    ) -> Frame {
        let needs_shaping = subscription.fields.is_some()
            || !subscription.view.hidden.is_empty()
            || subscription.class_name.as_str() == "_User";
        let mut text_of = |source: &Map<String, Value>| -> String {
            let shape = |source: &Map<String, Value>| -> String {
                let mut shaped = source.clone();
                self.engine.redact_for(&subscription.caller, &subscription.view, &mut shaped);
                if let Some(fields) = &subscription.fields {
                    shaped.retain(|key, _| {
                        matches!(key.as_str(), "objectId" | "createdAt" | "updatedAt" | "ACL")
                            || fields.iter().any(|field| field == key)
                    });
                }
                shaped.insert("className".into(), Value::String(subscription.class_name.to_string()));
                Value::Object(shaped).to_string()
            };
            if needs_shaping {
                return shape(source);
            }
            let key = std::ptr::from_ref(source) as usize;
            plain.entry(key).or_insert_with(|| shape(source)).clone()
        };
        let object_text = text_of(object);
        let original_text = original.map(&mut text_of);
        let quoted = |text: &str| Value::String(text.to_owned()).to_string();
        let mut frame = String::with_capacity(object_text.len() + original_text.as_ref().map_or(0, String::len) + 128);
        frame.push_str("{\"op\":\"");
        frame.push_str(kind.op());
        frame.push_str("\",\"clientId\":");
        frame.push_str(&quoted(&client.public_id));
        if let Some(installation_id) = &client.installation_id {
            frame.push_str(",\"installationId\":");
            frame.push_str(&quoted(installation_id));
        }
        frame.push_str(",\"requestId\":");
        frame.push_str(&request_id.to_string());
        frame.push_str(",\"object\":");
        frame.push_str(&object_text);
        if let Some(original_text) = original_text {
            frame.push_str(",\"original\":");
            frame.push_str(&original_text);
        }
        frame.push('}');
        Frame::Text(frame)
    }

    /// Takes the rights of ended sessions from the connections and subscriptions holding them:
    /// named tokens at once; for sessions named only by user (or not at all), each holder's
    /// token is checked again.
    async fn end_sessions(&self, ended: SessionsEnded) {
        let holds = |caller: &Caller| caller.session_token.is_some();
        let to_check: HashSet<String> = {
            let state = self.state();
            state
                .clients
                .values()
                .flat_map(|client| {
                    client.caller.iter().chain(
                        client
                            .subscriptions
                            .values()
                            .flat_map(|subscription| [&subscription.caller, &subscription.connection_caller]),
                    )
                })
                .filter(|caller| holds(caller))
                .filter(|caller| {
                    ended.any || caller.user_id.as_ref().is_some_and(|user_id| ended.users.contains(user_id))
                })
                .filter_map(|caller| caller.session_token.clone())
                .filter(|token| !ended.tokens.contains(token))
                .collect()
        };
        let mut gone: HashSet<String> = ended.tokens.into_iter().collect();
        for token in to_check {
            match self.engine.caller_for_session(&token, None).await {
                Ok(_) => {}
                Err(error) if error.code == basalt_core::ErrorCode::InvalidSessionToken => {
                    gone.insert(token);
                }
                // The session could not be read: it keeps its rights until the next check.
                Err(error) => tracing::warn!(%error, "a LiveQuery subscriber's session could not be checked"),
            }
        }
        if gone.is_empty() {
            return;
        }
        let mut state = self.state();
        let is_gone = |caller: &Caller| caller.session_token.as_ref().is_some_and(|token| gone.contains(token));
        for client in state.clients.values_mut() {
            self.revoke_where(client, is_gone);
        }
    }

    /// Brings the views of the class's subscriptions to its current schema before an event is
    /// matched: a class-level permission or protected field changed since they subscribed (here
    /// or on another node) governs this event.
    fn refresh_views(&self, state: &mut State, class_name: &ClassName, current: Option<&Arc<ClassSchema>>) {
        let Some(current) = current else { return };
        for client in state.clients.values_mut() {
            for subscription in client.subscriptions.values_mut() {
                if subscription.class_name == *class_name && !Arc::ptr_eq(&subscription.view.schema, current) {
                    self.rebuild_view(subscription);
                }
            }
        }
    }

    /// The subscription's view of its class as its caller now has it; a view the permissions
    /// now refuse sees nothing.
    fn rebuild_view(&self, subscription: &mut Subscription) {
        let watch = subscription.watch.as_deref().unwrap_or_default();
        subscription.view = self
            .engine
            .live_query_view(&subscription.caller, &subscription.class_name, &subscription.condition, watch)
            .unwrap_or_else(|_| LiveQueryView {
                schema: self
                    .engine
                    .schema_of(&subscription.class_name)
                    .unwrap_or_else(|| Arc::clone(&subscription.view.schema)),
                permission: Condition::Or(Vec::new()),
                hidden: subscription.view.hidden.clone(),
            });
    }

    /// Takes the rights of sessions that expired (the hub learns of no write for those). Cheap
    /// until the earliest expiry some caller holds has passed.
    fn expire_sessions(&self) {
        let now = self.engine.config().clock.now_millis();
        if now < self.next_expiry.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut state = self.state();
        self.next_expiry.store(i64::MAX, std::sync::atomic::Ordering::SeqCst);
        let expired = |caller: &Caller| caller.session_expires_at.is_some_and(|at| at <= now);
        for client in state.clients.values_mut() {
            self.revoke_where(client, expired);
            let subscribers = client
                .subscriptions
                .values()
                .flat_map(|subscription| [&subscription.caller, &subscription.connection_caller]);
            for caller in client.caller.iter().chain(subscribers) {
                self.note_expiry(caller);
            }
        }
    }

    /// Replaces every caller of the client for which `ended` holds with the public's rights, and
    /// a subscription's view of its class with what the public may see (nothing, when the
    /// class's permissions refuse the public).
    fn revoke_where(&self, client: &mut Client, ended: impl Fn(&Caller) -> bool) {
        if let Some(caller) = client.caller.as_mut()
            && ended(caller)
        {
            *caller = without_session(caller);
        }
        for subscription in client.subscriptions.values_mut() {
            let mut changed = false;
            for caller in [&mut subscription.caller, &mut subscription.connection_caller] {
                if ended(caller) {
                    *caller = without_session(caller);
                    changed = true;
                }
            }
            if changed {
                self.rebuild_view(subscription);
            }
        }
    }

    /// Refreshes every session-based subscriber's roles after a role changed.
    fn refresh_roles(&self) {
        let Some(hub) = self.this.upgrade() else { return };
        // Each role change starts a refresh; only the newest one writes its results back, so an
        // older refresh that finishes last cannot restore outdated roles.
        let generation = self.role_generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        tokio::spawn(async move {
            let callers: Vec<(u64, i64, Caller)> = {
                let state = hub.state();
                state
                    .clients
                    .iter()
                    .flat_map(|(client_id, client)| {
                        client
                            .subscriptions
                            .iter()
                            .map(|(request_id, subscription)| (*client_id, *request_id, subscription.caller.clone()))
                    })
                    .filter(|(_, _, caller)| caller.session_token.is_some())
                    .collect()
            };
            for (client_id, request_id, caller) in callers {
                let Ok(fresh) = hub.engine.refresh_caller(&caller).await else { continue };
                if hub.role_generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
                    return;
                }
                let mut state = hub.state();
                if let Some(subscription) =
                    state.clients.get_mut(&client_id).and_then(|client| client.subscriptions.get_mut(&request_id))
                    && subscription.caller.session_token == fresh.session_token
                {
                    hub.note_expiry(&fresh);
                    subscription.caller = fresh;
                }
            }
        });
    }
}

impl Hub {
    /// Matches one committed change against every subscription on its class and queues the
    /// event frames (on the delivery task, never on the write path).
    fn deliver(&self, event: ObjectEvent) {
        let current_schema = self.engine.schema_of(&event.class_name);
        let mut state = self.state();
        self.refresh_views(&mut state, &event.class_name, current_schema.as_ref());
        let mut frames: Vec<(u64, Frame)> = Vec::new();
        let mut plain: HashMap<usize, String> = HashMap::new();
        for (client_id, client) in &state.clients {
            for (request_id, subscription) in &client.subscriptions {
                let Some((kind, object, original)) = route(current_schema.as_deref(), subscription, &event) else {
                    continue;
                };
                frames.push((
                    *client_id,
                    self.event_frame(client, *request_id, subscription, kind, object, original, &mut plain),
                ));
            }
        }
        for (client_id, frame) in frames {
            self.send(&mut state, client_id, frame);
        }
    }

    /// `deliver` when the class has an `afterLiveQueryEvent`: the trigger runs once per
    /// subscriber (outside the lock) and may drop the event or change the object it carries.
    async fn deliver_through_trigger(&self, event: ObjectEvent) {
        let current_schema = self.engine.schema_of(&event.class_name);
        let mut pending = Vec::new();
        {
            let mut state = self.state();
            self.refresh_views(&mut state, &event.class_name, current_schema.as_ref());
            for (client_id, client) in &state.clients {
                for (request_id, subscription) in &client.subscriptions {
                    let Some((kind, object, original)) = route(current_schema.as_deref(), subscription, &event) else {
                        continue;
                    };
                    let details = json!({
                        "event": kind.op(),
                        "object": object,
                        "original": original,
                        "sessionToken": subscription.caller.session_token,
                        "useMasterKey": subscription.caller.is_master,
                        "installationId": client.installation_id,
                    });
                    pending.push((
                        *client_id,
                        *request_id,
                        kind,
                        object.clone(),
                        original.cloned(),
                        subscription.caller.clone(),
                        details,
                    ));
                }
            }
        }
        for (client_id, request_id, kind, mut object, original, caller, details) in pending {
            let Value::Object(details) = details else { continue };
            match self.engine.after_live_query_event(&caller, event.class_name.as_str(), details).await {
                Ok(Some(outcome)) => {
                    if outcome.get("sendEvent") == Some(&Value::Bool(false)) {
                        continue;
                    }
                    if let Some(Value::Object(changed)) = outcome.get("object") {
                        object = changed.clone();
                        object.remove("__type");
                        object.remove("className");
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    let code = i64::from(error.code.as_i32());
                    self.reply(client_id, protocol::error_frame(code, &error.message, false, Some(request_id)));
                    continue;
                }
            }
            let mut state = self.state();
            let frame = {
                let Some(client) = state.clients.get(&client_id) else { continue };
                let Some(subscription) = client.subscriptions.get(&request_id) else { continue };
                self.event_frame(
                    client,
                    request_id,
                    subscription,
                    kind,
                    &object,
                    original.as_ref(),
                    &mut HashMap::new(),
                )
            };
            self.send(&mut state, client_id, frame);
        }
    }
}

/// An event for one subscription: its kind, the object it carries, the original.
type Routed<'a> = (EventKind, &'a Map<String, Value>, Option<&'a Map<String, Value>>);

/// What one subscription hears of a change: the event, the object it carries and the original
/// (when the subscriber may see it); `None` when the change is nothing to it.
fn route<'a>(
    current_schema: Option<&ClassSchema>,
    subscription: &Subscription,
    event: &'a ObjectEvent,
) -> Option<Routed<'a>> {
    if subscription.class_name != event.class_name {
        return None;
    }
    let schema = current_schema.unwrap_or(&subscription.view.schema);
    let before = event.before.as_ref().filter(|object| sees(schema, subscription, object));
    let after = event.after.as_ref().filter(|object| sees(schema, subscription, object));
    match (&event.before, before, after) {
        (None, None, Some(after)) => {
            if subscription.watch.as_ref().is_some_and(|watch| !watched_changed(watch, None, after)) {
                return None;
            }
            Some((EventKind::Create, after, None))
        }
        // The original goes along only if the subscriber could read it.
        (Some(previous), None, Some(after)) => {
            let original = Some(previous).filter(|previous| readable(subscription, previous));
            Some((EventKind::Enter, after, original))
        }
        (_, Some(before), Some(after)) => {
            if subscription.watch.as_ref().is_some_and(|watch| !watched_changed(watch, Some(before), after)) {
                return None;
            }
            Some((EventKind::Update, after, Some(before)))
        }
        (_, Some(before), None) => match &event.after {
            // Left the query: the new state; left the subscriber's view (ACL): the last state it
            // could read, never the unreadable one.
            Some(after) if readable(subscription, after) => Some((EventKind::Leave, after, Some(before))),
            Some(_) => Some((EventKind::Leave, before, Some(before))),
            None => Some((EventKind::Delete, before, None)),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
