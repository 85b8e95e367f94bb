//! Limits at their edge and one past it, for those not held at the edge elsewhere (the request
//! body, `$or` depth, `$in` length, includes and `$regex` length are in `api_errors`; batch size
//! in `api_schemas_batch`; fields per class, names, increments, connections and time limits in
//! `hardening`; LiveQuery's per-connection cap in `attacks`; the changes queued for LiveQuery and
//! the frames per client in basalt-realtime's tests; rate-limit counters in basalt-engine's
//! `rate_limit` tests). Each server here runs with small limits so the edge is cheap to reach;
//! the answer past it is a Parse error and nothing changes.

use basalt_core::Limits;
use basalt_test_support::{APP_ID, MASTER_KEY, Reply, TestOptions, TestServer};
use serde_json::{Value, json};

use crate::cli::urlencode;
use crate::live_query::Socket;

async fn server_with(limits: Limits) -> TestServer {
    TestServer::start_with(TestOptions { limits: Some(limits), ..TestOptions::default() }).await
}

#[track_caller]
fn assert_parse_error(reply: &Reply, status: u16, code: i64) {
    assert_eq!((reply.status, &reply.body["code"]), (status, &json!(code)), "{reply:?}");
    assert!(reply.body["error"].as_str().is_some_and(|message| !message.is_empty()), "{reply:?}");
}

fn results(reply: &Reply) -> usize {
    reply.body["results"].as_array().map_or_else(|| panic!("no results: {reply:?}"), Vec::len)
}

async fn create_items(server: &TestServer, count: usize) {
    let requests: Vec<Value> =
        (0..count).map(|n| json!({"method": "POST", "path": "/parse/classes/Item", "body": {"n": n}})).collect();
    for chunk in requests.chunks(50) {
        let reply = server.master("POST", "/batch", Some(json!({"requests": chunk}))).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}

#[tokio::test]
async fn find_limit_at_the_maximum_and_one_past_and_the_default_page() {
    let limits = Limits { find_limit_max: 7, find_limit_default: 4, ..Limits::default() };
    let server = server_with(limits.clone()).await;
    create_items(&server, 9).await;
    let at = server.master("GET", &format!("/classes/Item?limit={}", limits.find_limit_max), None).await;
    assert_eq!(results(&at), limits.find_limit_max);
    let past = server.master("GET", &format!("/classes/Item?limit={}", limits.find_limit_max + 1), None).await;
    assert_parse_error(&past, 400, 102);
    let default_page = server.master("GET", "/classes/Item", None).await;
    assert_eq!(results(&default_page), limits.find_limit_default);
}

#[tokio::test]
async fn aggregation_input_at_the_limit_and_one_past() {
    let limits = Limits { aggregate_input_objects_max: 5, ..Limits::default() };
    let server = server_with(limits).await;
    create_items(&server, 5).await;
    let group = json!([{"$group": {"_id": null, "total": {"$sum": 1}}}]).to_string();
    let path = format!("/aggregate/Item?pipeline={}", urlencode(&group));
    let at = server.master("GET", &path, None).await;
    assert_eq!((at.status, &at.body["results"][0]["total"]), (200, &json!(5)), "{at:?}");
    create_items(&server, 1).await;
    assert_parse_error(&server.master("GET", &path, None).await, 400, 102);
    // A leading `$match` narrows the input in SQL: back at the limit (n = 0, 0, 1, 2, 3), answered.
    let narrowed = json!([{"$match": {"n": {"$lt": 4}}}, {"$group": {"_id": null, "total": {"$sum": 1}}}]).to_string();
    let narrowed = server.master("GET", &format!("/aggregate/Item?pipeline={}", urlencode(&narrowed)), None).await;
    assert_eq!((narrowed.status, &narrowed.body["results"][0]["total"]), (200, &json!(5)), "{narrowed:?}");
}

/// `POST /files/<name>` with the master key (uploads are open to it).
async fn upload(server: &TestServer, name: &str, bytes: Vec<u8>) -> Reply {
    let response = server
        .client
        .post(format!("{}/files/{name}", server.base_url))
        .header("X-Parse-Application-Id", APP_ID)
        .header("X-Parse-Master-Key", MASTER_KEY)
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_str(&response.text().await.expect("body")).unwrap_or(Value::Null);
    Reply { status, body, headers }
}

#[tokio::test]
async fn an_upload_at_the_size_limit_is_stored_and_one_byte_more_is_refused() {
    let limits = Limits { file_upload_bytes_max: 4096, ..Limits::default() };
    let server = server_with(limits.clone()).await;
    let size = usize::try_from(limits.file_upload_bytes_max).expect("size");
    let at = upload(&server, "at.bin", vec![7; size]).await;
    assert_eq!(at.status, 201, "{at:?}");
    let stored = server.client.get(at.body["url"].as_str().expect("url")).send().await.expect("download");
    assert_eq!(stored.bytes().await.expect("bytes").len(), size);
    let past = upload(&server, "past.bin", vec![7; size + 1]).await;
    assert_parse_error(&past, 413, 130);
}

#[tokio::test]
async fn a_file_name_at_the_length_limit_is_stored_and_one_byte_more_is_122() {
    let server = TestServer::start().await;
    let at = format!("{}.txt", "a".repeat(Limits::FILE_NAME_BYTES_MAX - 4));
    assert_eq!(at.len(), Limits::FILE_NAME_BYTES_MAX);
    let reply = upload(&server, &at, b"hello".to_vec()).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let past = format!("{}.txt", "a".repeat(Limits::FILE_NAME_BYTES_MAX - 3));
    assert_parse_error(&upload(&server, &past, b"hello".to_vec()).await, 400, 122);
}

#[tokio::test]
async fn a_live_query_message_at_the_size_limit_is_read_and_a_larger_one_closes_the_socket() {
    let limits = Limits { live_query_message_bytes_max: 2048, ..Limits::default() };
    let server = server_with(limits.clone()).await;
    let url = format!("ws://{}/parse", server.address);
    // A `connect` frame padded with an unknown key to exactly the limit: read, and refused for
    // its content (code 1), not its size.
    let frame_of = |size: usize| {
        let base = json!({"op": "connect", "applicationId": APP_ID, "pad": ""}).to_string();
        json!({"op": "connect", "applicationId": APP_ID, "pad": "x".repeat(size - base.len())})
    };
    let mut socket = Socket::open_url(&url).await;
    let at = frame_of(limits.live_query_message_bytes_max);
    assert_eq!(at.to_string().len(), limits.live_query_message_bytes_max);
    socket.send(at).await;
    let answer = socket.next("the answer to a frame at the limit").await;
    assert_eq!((&answer["op"], &answer["code"]), (&json!("error"), &json!(1)), "{answer}");

    let mut socket = Socket::open_url(&url).await;
    socket.send(frame_of(limits.live_query_message_bytes_max + 1)).await;
    assert!(socket.closed("a frame past the limit").await, "the socket is closed");
}

#[tokio::test]
async fn live_query_subscriptions_per_address_at_the_cap_and_one_past() {
    let limits = Limits { live_query_subscriptions_per_address_max: 3, ..Limits::default() };
    let server = server_with(limits).await;
    let created = server.master("POST", "/schemas/Diary", Some(json!({"className": "Diary"}))).await;
    assert_eq!(created.status, 200, "{created:?}");
    let url = format!("ws://{}/parse", server.address);
    let query = json!({"className": "Diary", "where": {}});
    let mut first = Socket::open_url(&url).await;
    first.connect(json!({})).await;
    first.subscribe(1, query.clone(), None).await;
    first.subscribe(2, query.clone(), None).await;
    let mut second = Socket::open_url(&url).await;
    second.connect(json!({})).await;
    second.subscribe(1, query.clone(), None).await;
    // The fourth from the same address, on either socket, is 155.
    second.send(json!({"op": "subscribe", "requestId": 2, "query": query})).await;
    let refused = second.next("the refusal").await;
    assert_eq!((&refused["op"], &refused["code"]), (&json!("error"), &json!(155)), "{refused}");
    // One ended frees a place.
    first.send(json!({"op": "unsubscribe", "requestId": 1})).await;
    assert_eq!(first.next("unsubscribed").await["op"], "unsubscribed");
    second.subscribe(3, query, None).await;
}

/// A `basalt serve` with `main.js` as its cloud code and `flags`.
async fn cloud_server(main_js: &str, flags: &[&str]) -> (crate::cli::Running, tempfile::TempDir) {
    let temp = tempfile::tempdir().expect("temp dir");
    let main = temp.path().join("main.js");
    std::fs::write(&main, main_js).expect("write main.js");
    let mut args = vec!["--app-id", "app", "--master-key", "master", "--cloud"];
    let main = main.to_str().expect("a UTF-8 path").to_owned();
    args.push(&main);
    args.extend_from_slice(flags);
    let running = crate::cli::start(crate::cli::serve(&temp.path().join("data"), &args)).await;
    (running, temp)
}

async fn run_function(running: &crate::cli::Running, name: &str, params: Value) -> (u16, Value) {
    let keys = crate::cli::Keys::new("app", "master");
    let url = format!("{}/functions/{name}", running.base_url);
    crate::cli::call(&crate::cli::http_client(), &keys, reqwest::Method::POST, &url, Some(&params)).await
}

/// Cloud code's CPU time per call and memory per runtime: work well inside each is answered,
/// work past it is 141 and the server keeps serving.
#[tokio::test]
async fn cloud_code_within_its_time_and_memory_limits_runs_and_past_them_is_141() {
    let main_js = "Parse.Cloud.define('spin', (request) => {\n\
                   const until = Date.now() + request.params.ms;\n\
                   let turns = 0;\n\
                   while (Date.now() < until) { turns += 1; }\n\
                   return turns > 0;\n\
                   });\n\
                   Parse.Cloud.define('hold', (request) => {\n\
                   const kept = new Array(request.params.mb * 1024 * 1024 / 8).fill(1.5);\n\
                   return kept.length;\n\
                   });\n";
    let (running, _temp) = cloud_server(main_js, &["--cloud-timeout-ms", "1000", "--cloud-memory-mb", "64"]).await;
    let (status, reply) = run_function(&running, "spin", json!({"ms": 250})).await;
    assert_eq!((status, &reply["result"]), (200, &json!(true)), "well inside the time limit: {reply}");
    let (status, reply) = run_function(&running, "spin", json!({"ms": 5_000})).await;
    assert_eq!((status, &reply["code"]), (400, &json!(141)), "past the time limit: {reply}");
    let (status, reply) = run_function(&running, "hold", json!({"mb": 16})).await;
    assert_eq!((status, &reply["result"]), (200, &json!(2 * 1024 * 1024)), "well inside the memory limit: {reply}");
    let (status, reply) = run_function(&running, "hold", json!({"mb": 256})).await;
    assert_eq!((status, &reply["code"]), (400, &json!(141)), "past the memory limit: {reply}");
    let (status, reply) = run_function(&running, "spin", json!({"ms": 10})).await;
    assert_eq!((status, &reply["result"]), (200, &json!(true)), "the server keeps serving: {reply}");
    assert!(running.terminate().await.success());
}

/// Cloud code calling cloud code (a trigger whose save runs the trigger again) is answered up to
/// `Limits::CLOUD_NESTING_DEPTH_MAX` levels, and refused with 141 one level past it.
#[tokio::test]
async fn cloud_code_nested_to_the_depth_limit_runs_and_one_level_more_is_141() {
    let main_js = "Parse.Cloud.beforeSave('Chain', async (request) => {\n\
                   const n = request.object.get('n');\n\
                   if (n > 0) { await new Parse.Object('Chain').save({ n: n - 1 }, { useMasterKey: true }); }\n\
                   });\n";
    let (running, _temp) = cloud_server(main_js, &[]).await;
    let keys = crate::cli::Keys::new("app", "master");
    let client = crate::cli::http_client();
    let url = format!("{}/classes/Chain", running.base_url);
    let save = |n: usize| {
        let (client, keys, url) = (client.clone(), keys.clone(), url.clone());
        async move { crate::cli::call(&client, &keys, reqwest::Method::POST, &url, Some(&json!({"n": n}))).await }
    };
    // A save of n runs the trigger n + 1 times, n of them from inside cloud code.
    let (status, reply) = save(Limits::CLOUD_NESTING_DEPTH_MAX - 1).await;
    assert_eq!(status, 201, "at the limit: {reply}");
    let (status, reply) = save(Limits::CLOUD_NESTING_DEPTH_MAX).await;
    assert_eq!((status, &reply["code"]), (400, &json!(141)), "one level past it: {reply}");
    assert!(reply["error"].as_str().is_some_and(|message| message.contains("levels deep")), "{reply}");
    assert!(running.terminate().await.success());
}
