//! Push through the server's own wiring: `POST /push` answers with `X-Parse-Push-Status-Id`;
//! two nodes on one PostgreSQL database, each with its push worker, send every push to every
//! device exactly once between them; a scheduled push outlives a crash of the process and goes
//! out once, at its time, after the restart (the binary, sending to a local Expo fake).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use basalt_push::{Delivery, Device, Notification, Outcome, PushSender, SendFuture};
use basalt_test_support::{TestDatabase, TestOptions, TestServer, postgres_server};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Bound on waiting for pushes to be delivered; reaching it fails the test.
const WAIT_BOUND: Duration = Duration::from_secs(60);

/// Records every device it is asked to send to, by the notification's alert.
#[derive(Debug, Default)]
struct Recorder {
    sent: Mutex<Vec<(String, String)>>,
    changed: Notify,
}

impl PushSender for Recorder {
    fn device_types(&self) -> Vec<String> {
        vec!["android".into(), "ios".into()]
    }

    fn send<'a>(&'a self, notification: &'a Notification, devices: &'a [Device]) -> SendFuture<'a> {
        Box::pin(async move {
            let alert = notification.data.get("alert").and_then(Value::as_str).unwrap_or_default().to_owned();
            {
                let mut sent = self.sent.lock().expect("lock");
                sent.extend(devices.iter().map(|device| (alert.clone(), device.installation.clone())));
            }
            self.changed.notify_waiters();
            devices
                .iter()
                .map(|device| Delivery {
                    installation: device.installation.clone(),
                    device_type: device.device_type.clone(),
                    outcome: Outcome::Sent,
                })
                .collect()
        })
    }
}

impl Recorder {
    fn count(&self) -> usize {
        self.sent.lock().expect("lock").len()
    }
}

/// Waits until the recorders together hold `total` deliveries.
async fn delivered(recorders: &[Arc<Recorder>], total: usize) {
    let waiting = async {
        loop {
            let notified: Vec<_> = recorders.iter().map(|recorder| recorder.changed.notified()).collect();
            if recorders.iter().map(|recorder| recorder.count()).sum::<usize>() >= total {
                return;
            }
            futures_util::future::select_all(notified.into_iter().map(Box::pin)).await;
        }
    };
    tokio::time::timeout(WAIT_BOUND, waiting).await.expect("the pushes were delivered in time");
}

/// Waits until the push's status reads `succeeded` (the worker writes it right after sending).
async fn succeeded(server: &TestServer, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT_BOUND;
    loop {
        let status = server.master("GET", &format!("/classes/_PushStatus/{id}"), None).await.body;
        if status["status"] == "succeeded" || tokio::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn node(database: &basalt::Database, recorder: &Arc<Recorder>) -> TestServer {
    let push: Arc<dyn PushSender> = recorder.clone();
    TestServer::start_with(TestOptions { push: Some(push), database: Some(database.clone()), ..TestOptions::default() })
        .await
}

#[tokio::test]
async fn two_nodes_send_each_push_to_each_device_once() {
    let database = TestDatabase::new(&postgres_server(), "push");
    let shared = basalt::Database::Postgres { uri: database.uri() };
    let recorders = [Arc::new(Recorder::default()), Arc::new(Recorder::default())];
    let nodes = [node(&shared, &recorders[0]).await, node(&shared, &recorders[1]).await];
    // 2,500 devices: three batches of the worker's thousand.
    let devices = 2_500;
    for chunk in 0..5 {
        let requests: Vec<Value> = (0..devices / 5)
            .map(|n| {
                let device_type = if n % 2 == 0 { "ios" } else { "android" };
                json!({"method": "POST", "path": "/parse/classes/_Installation",
                       "body": {"deviceType": device_type, "deviceToken": format!("token-{chunk}-{n}"), "channels": ["all"]}})
            })
            .collect();
        let reply = nodes[chunk % 2].master("POST", "/batch", Some(json!({"requests": requests}))).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let pushes = 6;
    let mut ids = Vec::new();
    for push in 0..pushes {
        let request = json!({"channels": ["all"], "data": {"alert": format!("push {push}")}});
        let reply = nodes[push % 2].master("POST", "/push", Some(request)).await;
        assert_eq!((reply.status, &reply.body), (200, &json!({"result": true})), "{reply:?}");
        let id = reply.headers.get("X-Parse-Push-Status-Id").and_then(|id| id.to_str().ok()).expect("status id");
        ids.push(id.to_owned());
    }
    delivered(&recorders, pushes * devices).await;
    let mut per_push: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for recorder in &recorders {
        for (alert, installation) in recorder.sent.lock().expect("lock").iter() {
            *per_push.entry(alert.clone()).or_default().entry(installation.clone()).or_default() += 1;
        }
    }
    assert_eq!(per_push.len(), pushes);
    for (alert, installations) in &per_push {
        assert_eq!(installations.len(), devices, "{alert} reached every device");
        assert!(installations.values().all(|count| *count == 1), "{alert} reached a device twice");
    }
    for (n, id) in ids.iter().enumerate() {
        let status = succeeded(&nodes[(n + 1) % 2], id).await;
        assert_eq!((&status["status"], &status["numSent"]), (&json!("succeeded"), &json!(devices)));
        assert_eq!((status.get("count"), status.get("numFailed")), (None, None), "{status}");
        assert_eq!(status["sentPerType"], json!({"ios": devices / 2, "android": devices / 2}));
    }
}

#[tokio::test]
async fn push_needs_the_master_key_and_a_configuration() {
    let server = TestServer::start().await;
    let request = json!({"where": {}, "data": {"alert": "x"}});
    let reply = server.client_call("POST", "/push", Some(request.clone())).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    let reply = server.master("POST", "/push", Some(request)).await;
    assert_eq!((reply.status, &reply.body), (400, &json!({"code": 115, "error": "Missing push configuration"})));
    let info = server.master("GET", "/serverInfo", None).await;
    assert_eq!(info.body["features"]["push"]["immediatePush"], json!(false));
}

/// What the Expo fake received: the time of each request and its messages.
type ExpoLog = Arc<Mutex<Vec<(std::time::SystemTime, Vec<Value>)>>>;

/// An Expo push endpoint on 127.0.0.1 that accepts every message; answers its base URL.
async fn expo_fake(log: ExpoLog, arrived: Arc<Notify>) -> String {
    async fn send(
        axum::extract::State((log, arrived)): axum::extract::State<(ExpoLog, Arc<Notify>)>,
        axum::Json(messages): axum::Json<Vec<Value>>,
    ) -> axum::Json<Value> {
        let tickets: Vec<Value> = messages.iter().map(|_| json!({"status": "ok", "id": "ticket"})).collect();
        log.lock().expect("lock").push((std::time::SystemTime::now(), messages));
        arrived.notify_waiters();
        axum::Json(json!({"data": tickets}))
    }
    let router =
        axum::Router::new().route("/--/api/v2/push/send", axum::routing::post(send)).with_state((log, arrived));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

#[tokio::test]
async fn a_scheduled_push_outlives_a_crash_and_goes_out_once_at_its_time() {
    use crate::cli::{Keys, call, create, http_client, serve, start};
    use basalt_test_support::{APP_ID, MASTER_KEY};

    let log = ExpoLog::default();
    let arrived = Arc::new(Notify::new());
    let expo = expo_fake(log.clone(), arrived.clone()).await;
    let config = json!({"expo": {"url": expo}}).to_string();
    let data_dir = tempfile::tempdir().expect("data dir");
    let flags = ["--app-id", APP_ID, "--master-key", MASTER_KEY, "--push-config", config.as_str()];
    let keys = Keys::new(APP_ID, MASTER_KEY);
    let client = http_client();

    let first = start(serve(data_dir.path(), &flags)).await;
    let device = json!({"deviceType": "ios", "deviceToken": "ExponentPushToken[crash-test]"});
    create(&client, &keys, &first.base_url, "_Installation", &device).await;
    let push_at = std::time::SystemTime::now() + Duration::from_secs(2);
    let at = basalt_core::time::format_iso(
        i64::try_from(push_at.duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis()).expect("millis"),
    );
    let request = json!({"where": {}, "data": {"alert": "after the crash"}, "push_time": at});
    let (status, reply) =
        call(&client, &keys, reqwest::Method::POST, &format!("{}/push", first.base_url), Some(&request)).await;
    assert_eq!(status, 200, "{reply}");
    first.crash().await;
    assert!(log.lock().expect("lock").is_empty(), "nothing went out before the crash");

    let second = start(serve(data_dir.path(), &flags)).await;
    let waiting = async {
        loop {
            let notified = arrived.notified();
            if !log.lock().expect("lock").is_empty() {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(WAIT_BOUND, waiting).await.expect("the push went out after the restart");
    let (_, statuses) =
        call(&client, &keys, reqwest::Method::GET, &format!("{}/classes/_PushStatus", second.base_url), None).await;
    let id = statuses["results"][0]["objectId"].as_str().expect("a push status").to_owned();
    let deadline = tokio::time::Instant::now() + WAIT_BOUND;
    let mut done = Value::Null;
    while tokio::time::Instant::now() < deadline {
        done = crate::cli::get(&client, &keys, &second.base_url, "_PushStatus", &id).await.1;
        if done["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((&done["status"], &done["numSent"]), (&json!("succeeded"), &json!(1)), "{done}");
    let log = log.lock().expect("lock");
    assert_eq!(log.len(), 1, "sent once: {log:?}");
    assert!(log[0].0 >= push_at, "sent before its time");
    assert_eq!(
        log[0].1,
        vec![json!({"to": "ExponentPushToken[crash-test]", "body": "after the crash", "priority": "high"})]
    );
}
