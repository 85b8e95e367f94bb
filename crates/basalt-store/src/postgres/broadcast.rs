//! Messages between the Basalt nodes that share one PostgreSQL database, over LISTEN/NOTIFY on
//! the channel `basalt_cluster`: no other service to run, and a notification is delivered only
//! after the transaction that sent it commits, to every listening session, in the order one
//! session sent them.
//!
//! A payload is `<node>:<text>`, so a node knows its own (handed back as `Delivery::Own`: a node
//! delivers its own LiveQuery events from there, in the one order every node sees). NOTIFY
//! carries at most 8000 bytes; a
//! longer text is stored in `_basalt_message` and the notification carries `<node>#<row id>`
//! (rows older than `STORED_MESSAGE_AGE` are deleted as new ones arrive). Outgoing messages go
//! through one task, one at a time, so other nodes receive them in the order they were sent.
//!
//! The listening connection is not pooled. When it breaks, the listener reconnects (after
//! `RECONNECT_DELAY`) and reports `Delivery::Resync`: messages sent in between are lost, so the
//! receiver reloads whatever it caches.

use std::future::poll_fn;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::PgStore;
use crate::error::StoreResult;

const CHANNEL: &str = "basalt_cluster";
/// Payloads longer than this go through `_basalt_message` (NOTIFY's limit is 8000 bytes).
const NOTIFY_BYTES_MAX: usize = 7000;
/// How long a stored message is kept for the nodes to read it.
const STORED_MESSAGE_AGE: &str = "10 minutes";
/// Messages queued together are sent in one transaction (one round trip for a run of short
/// ones): a node writing fast sends its announcements at the rate of its writes, not one round
/// trip each.
const SEND_BATCH_MAX: usize = 256;
/// Wait before reconnecting a listening connection that broke.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What the listener hands to the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A message another node sent.
    Message(String),
    /// A message this node sent, back in the order every node receives it.
    Own(String),
    /// The listener (re)connected: messages may have been missed, reload what is cached.
    Resync,
}

/// A message waiting for the sending task, and who waits for it to be sent.
struct Outgoing {
    text: String,
    sent: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The sending side; cheap to share.
#[derive(Clone)]
pub struct Broadcast {
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

impl Broadcast {
    /// Sends `text` to every other node. Never blocks: messages queue for the sending task.
    pub fn publish(&self, text: String) {
        let _ = self.outgoing.send(Outgoing { text, sent: None });
    }

    /// Sends `text` and resolves once its notification is committed (or could not be sent):
    /// every message sent after that reaches every node after it.
    pub fn publish_confirmed(&self, text: String) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (sent, confirmed) = tokio::sync::oneshot::channel();
        let _ = self.outgoing.send(Outgoing { text, sent: Some(sent) });
        async move {
            let _ = confirmed.await;
        }
    }
}

impl PgStore {
    /// Joins the cluster as `node` (an id unique to this process): answers the sender and the
    /// stream of what other nodes send. Resolves once the listener is listening, so nothing sent
    /// after it returns is missed.
    ///
    /// # Errors
    /// When the listening connection cannot be opened.
    pub async fn join_cluster(&self, node: &str) -> StoreResult<(Broadcast, mpsc::UnboundedReceiver<Delivery>)> {
        let (deliveries, received) = mpsc::unbounded_channel();
        let listening = listen(self.clone(), node.to_owned(), deliveries.clone()).await?;
        tokio::spawn(keep_listening(self.clone(), node.to_owned(), deliveries, listening));
        let (outgoing, queued) = mpsc::unbounded_channel();
        tokio::spawn(send_loop(self.clone(), node.to_owned(), queued));
        Ok((Broadcast { outgoing }, received))
    }
}

/// A listening connection: resolves when it ends (with the error that ended it).
type Listening = tokio::task::JoinHandle<String>;

/// Opens a connection, LISTENs, and spawns the task that forwards notifications.
async fn listen(store: PgStore, node: String, deliveries: mpsc::UnboundedSender<Delivery>) -> StoreResult<Listening> {
    let (client, mut connection) = store.config.connect(NoTls).await?;
    let (notifications, mut notified) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match poll_fn(|context| connection.poll_message(context)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    let _ = notifications.send(notification.payload().to_owned());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    return error.as_db_error().map_or_else(|| error.to_string(), |db| db.message().to_owned());
                }
                None => return "the connection closed".to_owned(),
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok(tokio::spawn(async move {
        // The client must live as long as the connection listens.
        let _client = client;
        let mut driver = driver;
        loop {
            tokio::select! {
                ended = &mut driver => return ended.unwrap_or_else(|error| error.to_string()),
                Some(payload) = notified.recv() => {
                    match read_payload(&store, &node, &payload).await {
                        Ok(Some(delivery)) => {
                            if deliveries.send(delivery).is_err() {
                                return "the node stopped receiving".to_owned();
                            }
                        }
                        Ok(None) => {}
                        Err(error) => tracing::warn!(%error, "reading a stored cluster message"),
                    }
                }
            }
        }
    }))
}

/// The text of a notification (`<node>:<text>`, or `<node>#<id>` of a row in `_basalt_message`),
/// as another node's or this node's own; `None` for a payload in neither form.
async fn read_payload(store: &PgStore, own_node: &str, payload: &str) -> StoreResult<Option<Delivery>> {
    let unknown = || {
        tracing::warn!(payload, "a cluster message in an unknown form");
        Ok(None)
    };
    let Some(at) = payload.find([':', '#']) else { return unknown() };
    let (node, rest) = (&payload[..at], &payload[at + 1..]);
    let deliver = |text: String| if node == own_node { Delivery::Own(text) } else { Delivery::Message(text) };
    if payload.as_bytes()[at] == b':' {
        return Ok(Some(deliver(rest.to_owned())));
    }
    let Ok(id) = rest.parse::<i64>() else { return unknown() };
    let client = store.client().await?;
    let row = client.query_opt("SELECT \"payload\" FROM \"_basalt_message\" WHERE \"id\" = $1", &[&id]).await?;
    Ok(row.map(|row| row.try_get::<_, String>(0)).transpose()?.map(deliver))
}

/// Reconnects whenever the listening connection ends, telling the node to resync.
async fn keep_listening(
    store: PgStore,
    node: String,
    deliveries: mpsc::UnboundedSender<Delivery>,
    mut listening: Listening,
) {
    loop {
        let reason = listening.await.unwrap_or_else(|error| error.to_string());
        if deliveries.is_closed() {
            return;
        }
        tracing::warn!(reason, "the cluster listener stopped; reconnecting");
        loop {
            tokio::time::sleep(RECONNECT_DELAY).await;
            match listen(store.clone(), node.clone(), deliveries.clone()).await {
                Ok(next) => {
                    listening = next;
                    break;
                }
                Err(error) => tracing::warn!(%error, "reconnecting the cluster listener"),
            }
        }
        if deliveries.send(Delivery::Resync).is_err() {
            return;
        }
    }
}

/// Sends queued messages one at a time, in order.
async fn send_loop(store: PgStore, node: String, mut queued: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(first) = queued.recv().await {
        let mut batch = vec![first];
        while batch.len() < SEND_BATCH_MAX {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if let Err(error) = send(&store, &node, &batch).await {
            tracing::error!(%error, "cluster messages could not be sent; other nodes may serve stale caches");
        }
        for message in batch {
            if let Some(sent) = message.sent {
                let _ = sent.send(());
            }
        }
    }
}

/// Sends the messages in one transaction, in order: NOTIFY delivers them at commit, in the order
/// they were issued. Consecutive short ones go in one statement (`unnest` yields the array in
/// order); a long one is stored in `_basalt_message` first.
async fn send(store: &PgStore, node: &str, batch: &[Outgoing]) -> StoreResult<()> {
    let mut client = store.client().await?;
    if batch.iter().all(|message| message.text.len() <= NOTIFY_BYTES_MAX) {
        // The usual case: one statement, one round trip (a statement commits on its own).
        let mut payloads: Vec<String> = batch.iter().map(|message| format!("{node}:{}", message.text)).collect();
        return notify_all(&client, &mut payloads).await;
    }
    let transaction = client.transaction().await?;
    let mut short: Vec<String> = Vec::new();
    let mut stored_any = false;
    for message in batch {
        if message.text.len() <= NOTIFY_BYTES_MAX {
            short.push(format!("{node}:{}", message.text));
            continue;
        }
        notify_all(&transaction, &mut short).await?;
        let row = transaction
            .query_one("INSERT INTO \"_basalt_message\" (\"payload\") VALUES ($1) RETURNING \"id\"", &[&message.text])
            .await?;
        let id: i64 = row.try_get(0)?;
        transaction.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &format!("{node}#{id}")]).await?;
        stored_any = true;
    }
    notify_all(&transaction, &mut short).await?;
    if stored_any {
        transaction
            .execute(
                &format!("DELETE FROM \"_basalt_message\" WHERE \"sentAt\" < now() - interval '{STORED_MESSAGE_AGE}'"),
                &[],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// NOTIFYs every payload of `payloads` in order, with one statement, and empties it.
async fn notify_all(
    transaction: &impl deadpool_postgres::GenericClient,
    payloads: &mut Vec<String>,
) -> StoreResult<()> {
    match payloads.len() {
        0 => return Ok(()),
        1 => {
            transaction.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payloads[0]]).await?;
        }
        _ => {
            transaction
                .execute(
                    "SELECT pg_notify($1, \"payload\") FROM unnest($2::text[]) AS m(\"payload\")",
                    &[&CHANNEL, &*payloads],
                )
                .await?;
        }
    }
    payloads.clear();
    Ok(())
}
