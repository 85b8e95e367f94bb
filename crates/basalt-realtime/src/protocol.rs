//! The client side of the protocol: `connect`, `subscribe`, `update`, `unsubscribe` frames and
//! the answers to them (`connected`, `subscribed`, `unsubscribed`, `error`), with Parse Server
//! 9.10's frame shapes, codes and messages (pinned by tests/sdk/livequery.test.mjs).

use basalt_core::{ClassName, ParseError, ParseResult};
use basalt_engine::{Caller, LiveQueryView};
use serde_json::{Map, Value, json};

use crate::{Hub, Subscription};

/// A frame for a client's socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Text(String),
}

/// A frame that breaks the protocol's schema (Parse: code 1, the client should reconnect).
const CODE_SCHEMA: i64 = 1;
/// A frame that needs a connection or subscription that does not exist (Parse: code 2).
const CODE_NO_CLIENT: i64 = 2;
/// Wrong application id or client key.
const CODE_INVALID_KEYS: i64 = 4;

/// Keys each op may carry.
const CONNECT_KEYS: &[&str] = &[
    "op",
    "applicationId",
    "javascriptKey",
    "masterKey",
    "clientKey",
    "windowsKey",
    "restAPIKey",
    "sessionToken",
    "installationId",
];
const SUBSCRIBE_KEYS: &[&str] = &["op", "requestId", "query", "sessionToken"];
const QUERY_KEYS: &[&str] = &["className", "where", "keys", "fields", "watch"];
const UNSUBSCRIBE_KEYS: &[&str] = &["op", "requestId"];

pub(crate) fn error_frame(code: i64, message: &str, reconnect: bool, request_id: Option<i64>) -> Frame {
    let request_id = request_id.map_or(Value::Null, Value::from);
    Frame::Text(
        json!({"op": "error", "error": message, "code": code, "reconnect": reconnect, "requestId": request_id})
            .to_string(),
    )
}

fn schema_error(message: &str) -> Frame {
    error_frame(CODE_SCHEMA, message, true, None)
}

/// Errors of one subscription: the client keeps its connection (`reconnect: false`).
fn subscription_error(error: &ParseError, request_id: i64) -> Frame {
    // Parse compat: LiveQuery words a non-array logical operator its own way.
    let message = match error.message.strip_prefix("Bad ").and_then(|rest| rest.split_once(" format")) {
        Some((operator, _)) => format!("{operator} must be an array"),
        None => error.message.clone(),
    };
    error_frame(i64::from(error.code.as_i32()), &message, false, Some(request_id))
}

fn check_keys(message: &Map<String, Value>, allowed: &[&str]) -> Result<(), Frame> {
    if message.keys().any(|key| !allowed.contains(&key.as_str())) {
        return Err(schema_error("Additional properties not allowed"));
    }
    Ok(())
}

fn text<'a>(message: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    message.get(key).and_then(Value::as_str).filter(|value| !value.is_empty())
}

/// A non-empty array of strings, or a schema error.
fn string_list(query: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, Frame> {
    let Some(value) = query.get(key) else { return Ok(None) };
    let items = value
        .as_array()
        .filter(|items| !items.is_empty())
        .ok_or_else(|| schema_error(&format!("{key} must be a non-empty array of strings")))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| schema_error(&format!("{key} must be a non-empty array of strings")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn request_id_of(message: &Map<String, Value>) -> Result<i64, Frame> {
    match message.get("requestId") {
        Some(Value::Number(number)) => number.as_i64().ok_or_else(|| schema_error("requestId must be an integer")),
        Some(_) => Err(schema_error("Invalid type: requestId must be a number")),
        None => Err(schema_error("Missing required property: requestId")),
    }
}

/// A connection that has sent `connect`: whose rights it has, its public id, its installation.
struct Connected {
    caller: Caller,
    public_id: String,
    installation_id: Option<String>,
}

impl Hub {
    /// Handles one text frame from a client. Frames that are not JSON are ignored (Parse compat).
    pub async fn receive(&self, client_id: u64, raw: &str) {
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(raw) else { return };
        match message.get("op").and_then(Value::as_str) {
            Some("connect") => self.connect(client_id, &message).await,
            Some("subscribe") | Some("update") => self.subscribe(client_id, &message).await,
            Some("unsubscribe") => self.unsubscribe(client_id, &message),
            Some(other) => self.reply(client_id, schema_error(&format!("No enum match for: \"{other}\""))),
            None => self.reply(client_id, schema_error("Missing required property: op")),
        }
    }

    async fn connect(&self, client_id: u64, message: &Map<String, Value>) {
        if let Err(frame) = check_keys(message, CONNECT_KEYS) {
            self.reply(client_id, frame);
            return;
        }
        let app_id = match message.get("applicationId") {
            Some(Value::String(app_id)) => app_id.as_str(),
            Some(_) => {
                self.reply(client_id, schema_error("Invalid type: applicationId must be a string"));
                return;
            }
            None => {
                self.reply(client_id, schema_error("Missing required property: applicationId"));
                return;
            }
        };
        let invalid_keys = || error_frame(CODE_INVALID_KEYS, "Key in request is not valid", false, None);
        // The keys are checked as the REST API checks them: the master key only from its
        // addresses, and a configured client key required of everyone else. (Parse Server's
        // LiveQuery checks neither.)
        let address = self.state().clients.get(&client_id).and_then(|client| client.address);
        let client_keys =
            ["javascriptKey", "clientKey", "windowsKey", "restAPIKey"].iter().filter_map(|key| text(message, key));
        let Some(admission) = self.config.keys.admit(Some(app_id), text(message, "masterKey"), client_keys, address)
        else {
            self.reply(client_id, invalid_keys());
            return;
        };
        let is_master = admission == basalt_engine::Admission::Master;
        let installation_id = text(message, "installationId").map(str::to_owned);
        let caller = match (is_master, text(message, "sessionToken")) {
            (true, _) => Caller { installation_id: installation_id.clone(), ..Caller::master() },
            (false, Some(token)) => match self.engine.caller_for_session(token, installation_id.clone()).await {
                Ok(caller) => caller,
                Err(error) => {
                    self.reply(client_id, error_frame(i64::from(error.code.as_i32()), &error.message, false, None));
                    return;
                }
            },
            (false, None) => Caller { installation_id: installation_id.clone(), ..Caller::anonymous() },
        };
        let (clients, subscriptions) = {
            let state = self.state();
            (state.clients.len(), state.clients.values().map(|client| client.subscriptions.len()).sum::<usize>())
        };
        let details = json!({
            "sessionToken": text(message, "sessionToken"),
            "useMasterKey": is_master,
            "installationId": installation_id,
            "clients": clients,
            "subscriptions": subscriptions,
        });
        if let Value::Object(details) = details
            && let Err(error) = self.engine.before_live_query_connect(&caller, details).await
        {
            self.reply(client_id, error_frame(i64::from(error.code.as_i32()), &error.message, false, None));
            return;
        }
        let mut state = self.state();
        let Some(client) = state.clients.get_mut(&client_id) else { return };
        // Parse compat: every connect (also a second one on the same socket) gets a new id.
        client.public_id = crate::new_client_id();
        client.installation_id = installation_id.clone();
        self.note_expiry(&caller);
        client.caller = Some(caller);
        let mut frame = json!({"op": "connected", "clientId": client.public_id});
        if let (Some(installation_id), Some(object)) = (installation_id, frame.as_object_mut()) {
            object.insert("installationId".into(), Value::String(installation_id));
        }
        self.send(&mut state, client_id, Frame::Text(frame.to_string()));
    }

    fn connected(&self, client_id: u64) -> Option<Connected> {
        let state = self.state();
        let client = state.clients.get(&client_id)?;
        Some(Connected {
            caller: client.caller.clone()?,
            public_id: client.public_id.clone(),
            installation_id: client.installation_id.clone(),
        })
    }

    async fn subscribe(&self, client_id: u64, message: &Map<String, Value>) {
        let parsed = check_keys(message, SUBSCRIBE_KEYS).and_then(|()| request_id_of(message)).and_then(|request_id| {
            let query = message
                .get("query")
                .and_then(Value::as_object)
                .ok_or_else(|| schema_error("Missing required property: query"))?;
            check_keys(query, QUERY_KEYS)?;
            if !query.contains_key("where") {
                return Err(schema_error("Missing required property: where"));
            }
            let fields = string_list(query, "keys")?.or(string_list(query, "fields")?);
            let watch = string_list(query, "watch")?;
            Ok((request_id, query, fields, watch))
        });
        let (request_id, query, fields, watch) = match parsed {
            Ok(parsed) => parsed,
            Err(frame) => {
                self.reply(client_id, frame);
                return;
            }
        };
        let Some(Connected { caller: connection_caller, public_id, installation_id }) = self.connected(client_id)
        else {
            let message = "Can not find this client, make sure you connect to server before subscribing";
            self.reply(client_id, error_frame(CODE_NO_CLIENT, message, true, None));
            return;
        };
        let subscription = match self.build_subscription(connection_caller, message, query, fields, watch).await {
            Ok(subscription) => subscription,
            Err(error) => {
                self.reply(client_id, subscription_error(&error, request_id));
                return;
            }
        };
        let mut state = self.state();
        if let Err(error) = self.check_subscription_count(&state, client_id, request_id) {
            self.send(&mut state, client_id, subscription_error(&error, request_id));
            return;
        }
        let Some(client) = state.clients.get_mut(&client_id) else { return };
        self.watched.watch(&subscription.class_name);
        self.note_expiry(&subscription.caller);
        let address = client.address;
        match client.subscriptions.insert(request_id, subscription) {
            Some(replaced) => self.watched.unwatch(&replaced.class_name),
            None => state.count_for_address(address, 1),
        }
        let mut frame = Map::new();
        frame.insert("op".into(), Value::String("subscribed".into()));
        frame.insert("clientId".into(), Value::String(public_id));
        if let Some(installation_id) = installation_id {
            frame.insert("installationId".into(), Value::String(installation_id));
        }
        frame.insert("requestId".into(), Value::from(request_id));
        self.send(&mut state, client_id, Frame::Text(Value::Object(frame).to_string()));
    }

    /// Refuses a new subscription past the per-connection or per-address cap (replacing one
    /// with the same request id is not new).
    fn check_subscription_count(&self, state: &crate::State, client_id: u64, request_id: i64) -> ParseResult<()> {
        let Some(client) = state.clients.get(&client_id) else { return Ok(()) };
        if client.subscriptions.contains_key(&request_id) {
            return Ok(());
        }
        let limits = self.engine.limits();
        let per_connection = limits.live_query_subscriptions_per_connection_max;
        if client.subscriptions.len() >= per_connection {
            return Err(ParseError::new(
                basalt_core::ErrorCode::RequestLimitExceeded,
                format!("A connection may hold at most {per_connection} subscriptions."),
            ));
        }
        let per_address = limits.live_query_subscriptions_per_address_max;
        if let Some(address) = client.address {
            let held = state.per_address.get(&address).copied().unwrap_or(0);
            if held >= per_address {
                return Err(ParseError::new(
                    basalt_core::ErrorCode::RequestLimitExceeded,
                    format!("Connections from one address may hold at most {per_address} subscriptions."),
                ));
            }
        }
        Ok(())
    }

    async fn build_subscription(
        &self,
        connection_caller: Caller,
        message: &Map<String, Value>,
        query: &Map<String, Value>,
        mut fields: Option<Vec<String>>,
        watch: Option<Vec<String>>,
    ) -> ParseResult<Subscription> {
        let class_name = ClassName::parse(text(query, "className").unwrap_or_default())?;
        if !self.serves_class(class_name.as_str()) {
            return Err(ParseError::forbidden(format!("LiveQuery is not enabled for class {class_name}.")));
        }
        // Parse compat: an invalid session token on a subscription is not an error; the
        // subscription then has the connection's rights.
        let caller = match text(message, "sessionToken") {
            Some(token) if !connection_caller.is_master => {
                match self.engine.caller_for_session(token, connection_caller.installation_id.clone()).await {
                    Ok(caller) => caller,
                    Err(_) => connection_caller.clone(),
                }
            }
            _ => connection_caller.clone(),
        };
        let mut where_json = query.get("where").cloned().unwrap_or(Value::Null);
        let mut asked = Map::new();
        asked.insert("where".into(), where_json.clone());
        if let Some(fields) = &fields {
            asked.insert("keys".into(), Value::from(fields.join(",")));
        }
        let details = json!({
            "query": asked,
            "requestId": message.get("requestId"),
            "sessionToken": text(message, "sessionToken"),
        });
        if let Value::Object(details) = details
            && let Some(rewritten) =
                self.engine.before_live_query_subscribe(&caller, class_name.as_str(), details).await?
        {
            where_json = rewritten.get("where").cloned().unwrap_or(Value::Null);
            fields = match rewritten.get("keys") {
                Some(Value::String(keys)) => {
                    Some(keys.split(',').filter(|key| !key.is_empty()).map(str::to_owned).collect())
                }
                Some(Value::Array(keys)) => Some(keys.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
                _ => None,
            };
        }
        let condition = self.engine.query_parser().parse_where(&where_json)?;
        let view =
            match self.engine.live_query_view(&caller, &class_name, &condition, watch.as_deref().unwrap_or_default()) {
                Ok(view) => view,
                // Parse compat: a class that does not exist yet may be subscribed to; its events
                // start when it is created.
                Err(error)
                    if self.engine.schema_of(&class_name).is_none()
                        && error.code == basalt_core::ErrorCode::OperationForbidden
                        && !class_name.is_master_only() =>
                {
                    LiveQueryView {
                        schema: std::sync::Arc::new(basalt_core::ClassSchema::new(class_name.clone())),
                        permission: basalt_core::query::Condition::all(),
                        hidden: std::collections::BTreeSet::new(),
                    }
                }
                Err(error) => return Err(error),
            };
        Ok(Subscription { class_name, condition, fields, watch, caller, connection_caller, view })
    }

    fn unsubscribe(&self, client_id: u64, message: &Map<String, Value>) {
        let request_id = match check_keys(message, UNSUBSCRIBE_KEYS).and_then(|()| request_id_of(message)) {
            Ok(request_id) => request_id,
            Err(frame) => {
                self.reply(client_id, frame);
                return;
            }
        };
        let mut state = self.state();
        // The address of the connection whose subscription ended, to uncount it there.
        let mut ended_on = None;
        let frame = match state.clients.get_mut(&client_id) {
            Some(client) if client.caller.is_some() => match client.subscriptions.remove(&request_id) {
                Some(ended) => {
                    self.watched.unwatch(&ended.class_name);
                    ended_on = Some(client.address);
                    let mut frame = Map::new();
                    frame.insert("op".into(), Value::String("unsubscribed".into()));
                    frame.insert("clientId".into(), Value::String(client.public_id.clone()));
                    if let Some(installation_id) = &client.installation_id {
                        frame.insert("installationId".into(), Value::String(installation_id.clone()));
                    }
                    frame.insert("requestId".into(), Value::from(request_id));
                    Frame::Text(Value::Object(frame).to_string())
                }
                None => error_frame(
                    CODE_NO_CLIENT,
                    &format!(
                        "Cannot find subscription with clientId {} subscriptionId {request_id}. Make sure you subscribe to live query server before unsubscribing.",
                        client.public_id
                    ),
                    true,
                    None,
                ),
            },
            _ => error_frame(
                CODE_NO_CLIENT,
                "Can not find this client, make sure you connect to server before unsubscribing",
                true,
                None,
            ),
        };
        if let Some(address) = ended_on {
            state.count_for_address(address, -1);
        }
        self.send(&mut state, client_id, frame);
    }
}
