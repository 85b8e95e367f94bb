//! The hub against a real engine over a temporary SQLite store: each connection's queue is bounded
//! by `live_query_frames_queued_per_connection_max`, and a client that never drains its queue is
//! dropped — its queue yields what was queued, then ends — while queueing an event never waits and
//! other clients keep receiving. When the engine's queue overflows, every client is dropped.

use std::sync::Arc;
use std::time::Duration;

use basalt_engine::{Caller, Engine, EngineConfig, EngineParts, EventQueue, LiveQueryEvent, ObjectEvent};
use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::{Frame, Hub, LiveQueryConfig};

const APP_ID: &str = "test-app";
const MASTER_KEY: &str = "test-master";
const CLASS: &str = "Item";

/// A hub over an engine over a store in a temporary directory (kept alive by `_data_dir`).
struct World {
    hub: Arc<Hub>,
    /// The engine's end of the hub's queue: tests queue events as the engine does after commit.
    queue: EventQueue,
    _data_dir: tempfile::TempDir,
}

/// A world whose class `Item` exists (one object saved with the master key).
async fn start_world(queue_frames_max: usize) -> World {
    start_world_with(queue_frames_max, basalt_core::Limits::default().live_query_events_queued_max).await
}

async fn start_world_with(queue_frames_max: usize, events_queued_max: usize) -> World {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(data_dir.path().join("basalt.sqlite3"))).expect("open store");
    let limits = basalt_core::Limits {
        live_query_frames_queued_per_connection_max: queue_frames_max,
        live_query_events_queued_max: events_queued_max,
        ..Default::default()
    };
    let (queue, events) = basalt_engine::event_queue(limits.live_query_events_queued_max);
    let engine = Engine::start(
        Arc::new(store),
        EngineConfig {
            allow_client_class_creation: false,
            files_url_prefix: "http://localhost/parse/files/test-app/".into(),
            limits,
            auth: Default::default(),
            clock: Arc::new(basalt_engine::SystemClock),
            email: Default::default(),
            files: None,
            webhook_key: None,
        },
        EngineParts { events: Some(queue.clone()), ..Default::default() },
    )
    .await
    .expect("engine");
    let seed = json!({"n": -1});
    engine
        .create_object(
            &Caller::master(),
            &basalt_core::ClassName::parse(CLASS).expect("class name"),
            seed.as_object().expect("object"),
        )
        .await
        .expect("seed the class");
    let hub = Hub::new(
        engine,
        LiveQueryConfig {
            classes: None,
            keys: basalt_engine::AppKeys {
                app_id: APP_ID.into(),
                master_key: MASTER_KEY.into(),
                master_key_ips: vec![std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)],
                ..basalt_engine::AppKeys::default()
            },
        },
        events,
    );
    World { hub, queue, _data_dir: data_dir }
}

fn frame_json(frame: &Frame) -> Value {
    let Frame::Text(text) = frame;
    serde_json::from_str(text).expect("a frame is JSON")
}

/// The next frame already queued (never waits).
#[track_caller]
fn queued(receiver: &mut mpsc::Receiver<Frame>, what: &str) -> Value {
    match receiver.try_recv() {
        Ok(frame) => frame_json(&frame),
        Err(error) => panic!("expected {what} in the queue: {error:?}"),
    }
}

/// Waits for the next frame the hub's delivery task queues (bounded: a failure, not a hang).
async fn next_frame(receiver: &mut mpsc::Receiver<Frame>, what: &str) -> Value {
    match tokio::time::timeout(Duration::from_secs(10), receiver.recv()).await {
        Ok(Some(frame)) => frame_json(&frame),
        other => panic!("expected {what}: {other:?}"),
    }
}

/// Connects an anonymous client and subscribes it (request 1) to every `Item`; the `connected`
/// and `subscribed` frames stay in its queue.
async fn subscribed_client(hub: &Hub) -> (u64, mpsc::Receiver<Frame>) {
    let (client_id, receiver) = hub.open();
    hub.receive(client_id, &json!({"op": "connect", "applicationId": APP_ID}).to_string()).await;
    hub.receive(
        client_id,
        &json!({"op": "subscribe", "requestId": 1, "query": {"className": CLASS, "where": {}}}).to_string(),
    )
    .await;
    (client_id, receiver)
}

/// A create of an `Item` numbered `n`, as the engine publishes it after commit.
fn created(n: usize) -> ObjectEvent {
    let mut after = Map::new();
    after.insert("objectId".into(), json!(format!("item{n:06}")));
    after.insert("createdAt".into(), json!("2024-01-01T00:00:00.000Z"));
    after.insert("updatedAt".into(), json!("2024-01-01T00:00:00.000Z"));
    after.insert("n".into(), json!(n));
    ObjectEvent {
        class_name: basalt_core::ClassName::parse(CLASS).expect("class name"),
        before: None,
        after: Some(after),
    }
}

/// `(op, requestId, object.n)` of an event frame.
fn event_of(frame: &Value) -> (String, i64, i64) {
    (
        frame["op"].as_str().unwrap_or_default().to_owned(),
        frame["requestId"].as_i64().unwrap_or(-1),
        frame["object"]["n"].as_i64().unwrap_or(-1),
    )
}

#[tokio::test]
async fn open_returns_a_queue_bounded_by_the_frames_limit() {
    let world = start_world(7).await;
    let (_, receiver) = world.hub.open();
    assert_eq!(receiver.max_capacity(), 7);

    let tiny = start_world(0).await;
    let (_, receiver) = tiny.hub.open();
    assert_eq!(receiver.max_capacity(), 1, "a zero setting still gives each client a one-frame queue");
}

#[tokio::test]
async fn a_client_that_never_drains_its_queue_is_dropped_while_others_keep_receiving() {
    const QUEUE_FRAMES_MAX: usize = 16;
    const EVENTS: usize = QUEUE_FRAMES_MAX * 3;
    let world = start_world(QUEUE_FRAMES_MAX).await;
    let (slow_id, mut slow) = subscribed_client(&world.hub).await;
    let (_, mut reader) = subscribed_client(&world.hub).await;
    assert_eq!(queued(&mut reader, "connected")["op"], "connected");
    assert_eq!(queued(&mut reader, "subscribed")["op"], "subscribed");

    // Publishing only enqueues (delivery runs on the hub's task), so it returns at once even
    // while a client's queue is full; the reader takes each event as it comes.
    let mut received = Vec::new();
    for n in 0..EVENTS {
        world.queue.push(LiveQueryEvent::Object(created(n)));
        received.push(event_of(&next_frame(&mut reader, "the next event").await));
    }
    let expected: Vec<_> = (0..EVENTS).map(|n| ("create".to_owned(), 1, n as i64)).collect();
    assert_eq!(received, expected, "the client that drains gets every event, in order");

    // The slow client's queue: what fit (connected, subscribed, then the first events), then the
    // end — the hub dropped its sender when the queue overflowed.
    assert_eq!(queued(&mut slow, "connected")["op"], "connected");
    assert_eq!(queued(&mut slow, "subscribed")["op"], "subscribed");
    let mut slow_events = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), slow.recv()).await.expect("the queue ends") {
        slow_events.push(event_of(&frame_json(&frame)));
    }
    let fitted: Vec<_> = (0..QUEUE_FRAMES_MAX - 2).map(|n| ("create".to_owned(), 1, n as i64)).collect();
    assert_eq!(slow_events, fitted, "exactly what fit in the queue, then None");

    // Dropped for good: its frames are no longer answered, and the other client still receives.
    world.hub.receive(slow_id, &json!({"op": "connect", "applicationId": APP_ID}).to_string()).await;
    world.queue.push(LiveQueryEvent::Object(created(EVENTS)));
    assert_eq!(event_of(&next_frame(&mut reader, "the next event").await), ("create".to_owned(), 1, EVENTS as i64));
    assert!(slow.try_recv().is_err(), "nothing reaches a dropped client");
}

/// Writers never wait on LiveQuery: when the engine's queue is full, changes are dropped and
/// every client is disconnected (told it fell behind), since any of them may have missed one.
/// A client that connects afterwards receives again.
#[tokio::test]
async fn an_overflowing_event_queue_disconnects_every_client_and_never_blocks_writers() {
    const QUEUED_MAX: usize = 4;
    let world = start_world_with(1_000, QUEUED_MAX).await;
    let (_, mut first) = subscribed_client(&world.hub).await;
    let (_, mut second) = subscribed_client(&world.hub).await;
    // The test runs on one thread: the hub's delivery task cannot take anything until this
    // loop yields, so all but the first QUEUED_MAX pushes find the queue full — and return.
    for n in 0..QUEUED_MAX * 3 {
        world.queue.push(LiveQueryEvent::Object(created(n)));
    }
    for (name, client) in [("first", &mut first), ("second", &mut second)] {
        assert_eq!(next_frame(client, "connected").await["op"], "connected", "{name}");
        assert_eq!(next_frame(client, "subscribed").await["op"], "subscribed", "{name}");
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            let mut events = Vec::new();
            while let Some(frame) = client.recv().await {
                events.push(event_of(&frame_json(&frame)));
            }
            events
        })
        .await
        .expect("the client's queue ends");
        assert!(ended.len() < QUEUED_MAX, "{name}: disconnected before the dropped changes: {ended:?}");
    }
    let (_, mut later) = subscribed_client(&world.hub).await;
    assert_eq!(next_frame(&mut later, "connected").await["op"], "connected");
    assert_eq!(next_frame(&mut later, "subscribed").await["op"], "subscribed");
    world.queue.push(LiveQueryEvent::Object(created(99)));
    assert_eq!(event_of(&next_frame(&mut later, "an event after the overflow").await), ("create".to_owned(), 1, 99));
}
