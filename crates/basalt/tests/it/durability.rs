//! Acknowledged writes survive `kill -9`: the binary is killed with SIGKILL (no shutdown code
//! runs), restarted on the same data directory, and every write it answered must be there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::cli::{Keys, call, create, get, http_client, serve, start};

const FLAGS: [&str; 4] = ["--app-id", "app", "--master-key", "master"];

fn keys() -> Keys {
    Keys::new("app", "master")
}

/// Every object of `class` by objectId (master key, one page).
async fn all_objects(client: &reqwest::Client, base_url: &str, class: &str) -> BTreeMap<String, Value> {
    let (status, reply) =
        call(client, &keys(), Method::GET, &format!("{base_url}/classes/{class}?limit=10000"), None).await;
    assert_eq!(status, 200, "query {class}: {reply}");
    reply["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|object| (object["objectId"].as_str().expect("objectId").to_owned(), object.clone()))
        .collect()
}

/// An acknowledged object: what it must hold after the crash.
#[derive(Debug)]
struct Expected {
    n: u64,
    via: &'static str,
    count: Option<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_batches_and_increments_survive_kill_9() {
    let temp = tempfile::tempdir().expect("temp dir");
    let running = start(serve(temp.path(), &FLAGS)).await;
    let base_url = running.base_url.clone();
    let client = http_client();
    // The class exists before the concurrent creates race to create it.
    let first = create(&client, &keys(), &base_url, "Item", &json!({"n": 0, "via": "single", "count": 0})).await;
    let noise_first = create(&client, &keys(), &base_url, "Noise", &json!({"writer": 99, "sequence": 0})).await;

    // Noise: writers that keep creating until the kill, so SIGKILL lands mid-write. Only the
    // creates they saw acknowledged are promised.
    let stop_noise = Arc::new(AtomicBool::new(false));
    let mut noise = JoinSet::new();
    for writer in 0..4u64 {
        let (client, base_url, stop) = (http_client(), base_url.clone(), Arc::clone(&stop_noise));
        noise.spawn(async move {
            let mut acknowledged = Vec::new();
            for sequence in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = client
                    .post(format!("{base_url}/classes/Noise"))
                    .header("X-Parse-Application-Id", "app")
                    .header("X-Parse-Master-Key", "master")
                    .json(&json!({"writer": writer, "sequence": sequence}))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status().as_u16() != 201 {
                    break;
                }
                let Ok(reply) = response.json::<Value>().await else { break };
                acknowledged.push((reply["objectId"].as_str().expect("objectId").to_owned(), writer, sequence));
            }
            acknowledged
        });
    }

    // 10 batches of 10 creates and 99 single creates, all at once.
    let mut creates = JoinSet::new();
    for batch in 0..10u64 {
        let (client, base_url) = (client.clone(), base_url.clone());
        creates.spawn(async move {
            let requests: Vec<Value> = (0..10)
                .map(|item| {
                    json!({"method": "POST", "path": "/parse/classes/Item", "body": {"n": 1000 + batch * 10 + item, "via": "batch"}})
                })
                .collect();
            let (status, reply) =
                call(&client, &keys(), Method::POST, &format!("{base_url}/batch"), Some(&json!({"requests": requests})))
                    .await;
            assert_eq!(status, 200, "batch: {reply}");
            let results = reply.as_array().expect("batch answers an array");
            assert_eq!(results.len(), 10, "{reply}");
            results
                .iter()
                .zip(0..10)
                .map(|(result, item)| {
                    let id = result["success"]["objectId"].as_str().unwrap_or_else(|| panic!("batch item: {result}"));
                    (id.to_owned(), Expected { n: 1000 + batch * 10 + item, via: "batch", count: None })
                })
                .collect::<Vec<_>>()
        });
    }
    for n in 1..100u64 {
        let (client, base_url) = (client.clone(), base_url.clone());
        creates.spawn(async move {
            let id = create(&client, &keys(), &base_url, "Item", &json!({"n": n, "via": "single", "count": 0})).await;
            vec![(id, Expected { n, via: "single", count: Some(0) })]
        });
    }
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    expected.insert(first, Expected { n: 0, via: "single", count: Some(0) });
    while let Some(created) = creates.join_next().await {
        expected.extend(created.expect("create task"));
    }
    assert_eq!(expected.len(), 200);

    // 1 to 3 concurrent Increments on each of 50 single-created objects.
    let mut increments = JoinSet::new();
    let targets: Vec<String> =
        expected.iter().filter(|(_, object)| object.count.is_some()).map(|(id, _)| id.clone()).take(50).collect();
    for (index, id) in targets.iter().enumerate() {
        for _ in 0..=(index % 3) {
            let (client, base_url, id) = (client.clone(), base_url.clone(), id.clone());
            increments.spawn(async move {
                let body = json!({"count": {"__op": "Increment", "amount": 1}});
                let url = format!("{base_url}/classes/Item/{id}");
                let (status, reply) = call(&client, &keys(), Method::PUT, &url, Some(&body)).await;
                assert_eq!(status, 200, "increment {id}: {reply}");
                id
            });
        }
    }
    while let Some(incremented) = increments.join_next().await {
        let id = incremented.expect("increment task");
        let count = expected.get_mut(&id).and_then(|object| object.count.as_mut()).expect("a counted object");
        *count += 1;
    }

    // Every Item write is acknowledged; the noise writers are still going. Kill -9 now.
    running.crash().await;
    stop_noise.store(true, Ordering::Relaxed);
    let mut noise_acknowledged = vec![(noise_first, 99, 0)];
    while let Some(written) = noise.join_next().await {
        noise_acknowledged.extend(written.expect("noise task"));
    }

    let restarted = start(serve(temp.path(), &FLAGS)).await;
    let items = all_objects(&client, &restarted.base_url, "Item").await;
    let mut wrong = Vec::new();
    for (id, object) in &expected {
        match items.get(id) {
            None => wrong.push(format!("{id} ({object:?}) is missing")),
            Some(stored) => {
                let count_matches = object.count.is_none_or(|count| stored["count"] == json!(count));
                if stored["n"] != json!(object.n) || stored["via"] != json!(object.via) || !count_matches {
                    wrong.push(format!("{id}: expected {object:?}, stored {stored}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} acknowledged objects lost or changed:\n{}",
        wrong.len(),
        expected.len(),
        wrong.join("\n")
    );
    let unexpected: Vec<&String> = items.keys().filter(|id| !expected.contains_key(*id)).collect();
    assert!(unexpected.is_empty(), "objects nobody created: {unexpected:?}");

    assert!(noise_acknowledged.len() > 1, "the noise writers wrote during the workload");
    let stored_noise = all_objects(&client, &restarted.base_url, "Noise").await;
    let lost_noise: Vec<_> = noise_acknowledged
        .iter()
        .filter(|(id, writer, sequence)| {
            stored_noise
                .get(id)
                .is_none_or(|stored| stored["writer"] != json!(writer) || stored["sequence"] != json!(sequence))
        })
        .collect();
    assert!(
        lost_noise.is_empty(),
        "{} of {} creates acknowledged around the kill were lost: {lost_noise:?}\nstderr:\n{}",
        lost_noise.len(),
        noise_acknowledged.len(),
        restarted.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_increments_from_separate_connections_count_fifty_after_kill_9() {
    let temp = tempfile::tempdir().expect("temp dir");
    let running = start(serve(temp.path(), &FLAGS)).await;
    let client = http_client();
    let id = create(&client, &keys(), &running.base_url, "Counter", &json!({"count": 0})).await;

    let mut increments = JoinSet::new();
    for _ in 0..50 {
        // A client of its own: its own connection.
        let (client, url) = (http_client(), format!("{}/classes/Counter/{id}", running.base_url));
        increments.spawn(async move {
            let body = json!({"count": {"__op": "Increment", "amount": 1}});
            let (status, reply) = call(&client, &keys(), Method::PUT, &url, Some(&body)).await;
            assert_eq!(status, 200, "increment: {reply}");
            reply["count"].as_u64().unwrap_or_else(|| panic!("an Increment answers the new count: {reply}"))
        });
    }
    let mut seen = BTreeSet::new();
    while let Some(count) = increments.join_next().await {
        seen.insert(count.expect("increment task"));
    }
    assert_eq!(seen, (1..=50).collect::<BTreeSet<u64>>(), "each Increment sees its own new count");

    running.crash().await;
    let restarted = start(serve(temp.path(), &FLAGS)).await;
    let (status, object) = get(&client, &keys(), &restarted.base_url, "Counter", &id).await;
    assert_eq!((status, &object["count"]), (200, &json!(50)), "{object}");
}
