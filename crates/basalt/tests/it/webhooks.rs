//! Webhooks declared through `/hooks` are stored in `_Hooks` and served again after a restart
//! (the behaviour of calls is covered by the SDK suite, tests/sdk/hooks.test.mjs).

use reqwest::Method;
use serde_json::json;

use crate::cli::{Keys, call, http_client, serve, start};

const FLAGS: [&str; 4] = ["--app-id", "app", "--master-key", "master"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_webhooks_survive_a_restart_and_still_route_calls() {
    let temp = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new("app", "master");
    let client = http_client();
    // Nothing listens on port 1: a call routed to the webhook fails naming its URL.
    let function = json!({"functionName": "remote", "url": "http://127.0.0.1:1/remote"});
    let trigger = json!({"className": "Remote", "triggerName": "beforeSave", "url": "http://127.0.0.1:1/save"});

    let running = start(serve(temp.path(), &FLAGS)).await;
    let base_url = running.base_url.clone();
    for (route, hook) in [("functions", &function), ("triggers", &trigger)] {
        let (status, reply) =
            call(&client, &keys, Method::POST, &format!("{base_url}/hooks/{route}"), Some(hook)).await;
        assert_eq!((status, &reply), (200, hook));
    }
    assert!(running.terminate().await.success());

    let running = start(serve(temp.path(), &FLAGS)).await;
    let base_url = running.base_url.clone();
    let (_, functions) = call(&client, &keys, Method::GET, &format!("{base_url}/hooks/functions"), None).await;
    assert_eq!(functions, json!([function]));
    let (_, triggers) = call(&client, &keys, Method::GET, &format!("{base_url}/hooks/triggers"), None).await;
    assert_eq!(triggers, json!([trigger]));

    let (status, reply) =
        call(&client, &keys, Method::POST, &format!("{base_url}/functions/remote"), Some(&json!({}))).await;
    assert_eq!((status, reply["code"].as_i64()), (400, Some(141)), "{reply}");
    assert!(reply["error"].as_str().is_some_and(|error| error.contains("http://127.0.0.1:1/remote")), "{reply}");
    let (status, reply) =
        call(&client, &keys, Method::POST, &format!("{base_url}/classes/Remote"), Some(&json!({"a": 1}))).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"].as_str().is_some_and(|error| error.contains("http://127.0.0.1:1/save")), "{reply}");

    // Removed hooks stay removed after the next restart too.
    let delete = json!({"__op": "Delete"});
    let (status, _) =
        call(&client, &keys, Method::PUT, &format!("{base_url}/hooks/functions/remote"), Some(&delete)).await;
    assert_eq!(status, 200);
    assert!(running.terminate().await.success());
    let running = start(serve(temp.path(), &FLAGS)).await;
    let (_, functions) =
        call(&client, &keys, Method::GET, &format!("{}/hooks/functions", running.base_url), None).await;
    assert_eq!(functions, json!([]));
    let (status, reply) =
        call(&client, &keys, Method::POST, &format!("{}/functions/remote", running.base_url), Some(&json!({}))).await;
    assert_eq!((status, reply["error"].as_str()), (400, Some("Invalid function: \"remote\"")), "{reply}");
}
