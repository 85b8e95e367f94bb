//! Pushes through a fake sender: what is checked before anything is queued, who receives what
//! (channels, queries, languages, badges), the counts in `_PushStatus`, scheduled and local-time
//! pushes sent at their time and not before, expiry, tokens reported gone, and a claim that
//! passes to another worker when its lease runs out.

use std::sync::{Arc, Mutex};

use basalt_core::ErrorCode;
use basalt_push::{Delivery, Device, Notification, Outcome, PushSender, SendFuture};
use serde_json::{Map, Value, json};

use crate::test_support::{TestEngine, body, class, test_engine_with};
use crate::{Caller, EngineParts, FindParams};

/// Records what it is asked to send; a token starting with `gone` is reported unregistered; a
/// send to a token starting with `slow` waits until `release` is rung.
#[derive(Debug, Default)]
struct FakeSender {
    sent: Mutex<Vec<(Notification, Device)>>,
    release: tokio::sync::Notify,
}

impl FakeSender {
    fn take(&self) -> Vec<(Notification, Device)> {
        std::mem::take(&mut *self.sent.lock().expect("lock"))
    }
}

impl PushSender for FakeSender {
    fn device_types(&self) -> Vec<String> {
        vec!["android".into(), "ios".into()]
    }

    fn send<'a>(&'a self, notification: &'a Notification, devices: &'a [Device]) -> SendFuture<'a> {
        Box::pin(async move {
            if devices.iter().any(|device| device.device_token.starts_with("slow")) {
                self.release.notified().await;
            }
            let mut sent = self.sent.lock().expect("lock");
            devices
                .iter()
                .map(|device| {
                    sent.push((notification.clone(), device.clone()));
                    let outcome = match device.device_token.starts_with("gone") {
                        true => Outcome::Failed { reason: "Unregistered".into(), token_gone: true },
                        false => Outcome::Sent,
                    };
                    Delivery {
                        installation: device.installation.clone(),
                        device_type: device.device_type.clone(),
                        outcome,
                    }
                })
                .collect()
        })
    }
}

async fn engine_with_push() -> (TestEngine, Arc<FakeSender>) {
    let sender = Arc::new(FakeSender::default());
    let parts = EngineParts { push: Some(sender.clone()), ..EngineParts::default() };
    (test_engine_with(|_| {}, parts).await, sender)
}

/// A new installation; returns its objectId.
async fn install(test: &TestEngine, fields: Value) -> String {
    let created = test.engine.create_object(&Caller::master(), &class("_Installation"), &body(fields)).await;
    created.expect("installation").object_id
}

/// Starts the pushes due now and waits until they are sent; answers when the next falls due.
async fn run(test: &TestEngine) -> Option<i64> {
    let next = test.engine.run_due_pushes().await.expect("run");
    test.engine.pushes_settled().await;
    next
}

async fn push(test: &TestEngine, request: Value) -> String {
    test.engine.send_push(&Caller::master(), &body(request)).await.expect("push queued")
}

async fn status(test: &TestEngine, id: &str) -> Map<String, Value> {
    let found = test.engine.get_object(&Caller::master(), &class("_PushStatus"), id, &Default::default()).await;
    match found.expect("push status") {
        Value::Object(status) => status,
        other => panic!("not an object: {other}"),
    }
}

async fn installation(test: &TestEngine, id: &str) -> Map<String, Value> {
    let params = FindParams::from_params(&body(json!({"where": {"objectId": id}})), 10, 100).expect("params");
    let mut found = test.engine.find_objects(&Caller::master(), &class("_Installation"), &params).await.expect("find");
    match found.results.pop() {
        Some(Value::Object(row)) => row,
        other => panic!("no installation {id}: {other:?}"),
    }
}

/// The tokens that received something, sorted.
fn tokens(sent: &[(Notification, Device)]) -> Vec<String> {
    let mut tokens: Vec<String> = sent.iter().map(|(_, device)| device.device_token.clone()).collect();
    tokens.sort();
    tokens
}

#[tokio::test]
async fn malformed_pushes_are_refused_before_anything_is_queued() {
    let (test, _) = engine_with_push().await;
    let cases = [
        (
            json!({"channels": ["a"], "where": {}, "data": {"alert": "x"}}),
            "Channels and query can not be set at the same time.",
        ),
        (json!({"data": {"alert": "x"}}), "Sending a push requires either \"channels\" or a \"where\" query."),
        (json!({"where": {}}), "A push needs its data: an object with the alert, badge, sound…"),
        (
            json!({"where": {}, "data": {"badge": "lots"}}),
            "Invalid value for badge, expected number or 'Increment' or {increment: number}",
        ),
        (
            json!({"where": {}, "data": {}, "expiration_time": 1, "expiration_interval": 5}),
            "expiration_time and expiration_interval cannot both be set.",
        ),
        (
            json!({"where": {}, "data": {}, "expiration_interval": -1}),
            "expiration_interval must be a number greater than 0",
        ),
        (json!({"where": {}, "data": {}, "push_time": "tomorrow"}), "push_time is not a valid date: \"tomorrow\""),
    ];
    for (request, message) in cases {
        let error = test.engine.send_push(&Caller::master(), &body(request.clone())).await.unwrap_err();
        assert_eq!((error.code, error.message.as_str()), (ErrorCode::PushMisconfigured, message), "{request}");
    }
    let error = test.engine.send_push(&Caller::default(), &body(json!({"where": {}, "data": {}}))).await.unwrap_err();
    assert_eq!(error, basalt_core::ParseError::master_key_required());
    assert_eq!(test.engine.store().next_task_due().await.expect("tasks"), None);

    let unconfigured = crate::test_support::test_engine().await;
    let error = unconfigured.engine.send_push(&Caller::master(), &body(json!({"where": {}, "data": {}}))).await;
    assert_eq!(error.unwrap_err().message, "Missing push configuration");
}

#[tokio::test]
async fn a_push_reaches_its_channel_in_each_language_with_badges_and_counts() {
    let (test, sender) = engine_with_push().await;
    let fans = [
        install(&test, json!({"deviceType": "ios", "deviceToken": "ios-1", "channels": ["news"], "badge": 2, "localeIdentifier": "fr-FR"})).await,
        install(&test, json!({"deviceType": "android", "deviceToken": "and-1", "channels": ["news", "sport"]})).await,
        install(&test, json!({"deviceType": "ios", "deviceToken": "gone-1", "channels": ["news"]})).await,
    ];
    // Not in the channel; no token; a type no provider serves.
    install(&test, json!({"deviceType": "ios", "deviceToken": "ios-2", "channels": ["sport"]})).await;
    install(&test, json!({"deviceType": "ios", "installationId": "no-token", "channels": ["news"]})).await;
    install(&test, json!({"deviceType": "web", "deviceToken": "web-1", "channels": ["news"]})).await;

    let data = json!({"alert": "Hello", "alert-fr": "Bonjour", "badge": "Increment", "sound": "ping", "custom": 1});
    let id = push(&test, json!({"channels": ["news"], "data": data})).await;
    let queued = status(&test, &id).await;
    assert_eq!(
        (&queued["status"], &queued["source"], &queued["numSent"]),
        (&json!("pending"), &json!("rest"), &json!(0))
    );
    assert_eq!(queued["query"], json!(json!({"channels": {"$in": ["news"]}}).to_string()));
    assert_eq!(queued["pushHash"], json!("8b1a9953c4611296a827abf8c47804d7"));

    run(&test).await;
    let sent = sender.take();
    assert_eq!(tokens(&sent), vec!["and-1", "gone-1", "ios-1"]);
    for (notification, device) in &sent {
        let expected = match device.device_token.as_str() {
            "ios-1" => json!({"alert": "Bonjour", "badge": 3, "sound": "ping", "custom": 1}),
            _ => json!({"alert": "Hello", "badge": 1, "sound": "ping", "custom": 1}),
        };
        assert_eq!(Value::Object(notification.data.clone()), expected, "{}", device.device_token);
    }
    let done = status(&test, &id).await;
    assert_eq!(done["status"], json!("succeeded"));
    // Parse compat: `count` goes once the push is done.
    assert_eq!((done.get("count"), &done["numSent"], &done["numFailed"]), (None, &json!(2), &json!(1)));
    assert_eq!((&done["sentPerType"], &done["failedPerType"]), (&json!({"ios": 1, "android": 1}), &json!({"ios": 1})));
    // The token reported gone is removed from its installation; badges moved.
    assert_eq!(installation(&test, &fans[2]).await.get("deviceToken"), None);
    assert_eq!(installation(&test, &fans[0]).await["badge"], json!(3));
    // Nothing left to do.
    assert_eq!(test.engine.store().next_task_due().await.expect("tasks"), None);
}

#[tokio::test]
async fn a_scheduled_push_goes_at_its_time_and_not_before() {
    let (test, sender) = engine_with_push().await;
    install(&test, json!({"deviceType": "android", "deviceToken": "a"})).await;
    let at = test.engine.now() + 60_000;
    let id =
        push(&test, json!({"where": {}, "data": {"alert": "later"}, "push_time": basalt_core::time::format_iso(at)}))
            .await;
    assert_eq!(status(&test, &id).await["status"], json!("scheduled"));
    assert_eq!(run(&test).await, Some(at));
    assert!(sender.take().is_empty());
    test.clock.advance_millis(59_999);
    run(&test).await;
    assert!(sender.take().is_empty());
    test.clock.advance_millis(1);
    run(&test).await;
    assert_eq!(test.engine.store().next_task_due().await.expect("tasks"), None);
    assert_eq!(tokens(&sender.take()), vec!["a"]);
    assert_eq!(status(&test, &id).await["status"], json!("succeeded"));
}

#[tokio::test]
async fn a_local_time_push_reaches_each_zone_at_that_time() {
    let (test, sender) = engine_with_push().await;
    install(&test, json!({"deviceType": "android", "deviceToken": "paris", "timeZone": "Europe/Paris"})).await;
    install(&test, json!({"deviceType": "android", "deviceToken": "new-york", "timeZone": "America/New_York"})).await;
    install(&test, json!({"deviceType": "android", "deviceToken": "utc"})).await;
    // Tomorrow, 09:00 local time.
    let now = jiff::Timestamp::from_millisecond(test.engine.now()).expect("now");
    let tomorrow = now.to_zoned(jiff::tz::TimeZone::UTC).date().tomorrow().expect("tomorrow").at(9, 0, 0, 0);
    let id = push(&test, json!({"where": {}, "data": {"alert": "morning"}, "push_time": tomorrow.to_string()})).await;
    let utc_nine = tomorrow.to_zoned(jiff::tz::TimeZone::UTC).expect("utc").timestamp().as_millisecond();
    let mut received = Vec::new();
    for (at, expected) in [(utc_nine - 3_600_000, "paris"), (utc_nine, "utc"), (utc_nine + 5 * 3_600_000, "new-york")] {
        test.clock.advance_millis(at - 1 - test.engine.now());
        run(&test).await;
        assert!(sender.take().is_empty(), "sent before {expected}'s time");
        test.clock.advance_millis(1);
        run(&test).await;
        let sent = tokens(&sender.take());
        assert_eq!(sent, vec![expected.to_owned()]);
        received.extend(sent);
    }
    let done = status(&test, &id).await;
    assert_eq!((&done["status"], &done["numSent"]), (&json!("succeeded"), &json!(3)));
    assert_eq!(done["sentPerUTCOffset"], json!({"1": 1, "0": 1, "-5": 1}));
}

#[tokio::test]
async fn an_expired_push_is_not_sent() {
    let (test, sender) = engine_with_push().await;
    install(&test, json!({"deviceType": "ios", "deviceToken": "a"})).await;
    let at = test.engine.now() + 1_000;
    let request = json!({"where": {}, "data": {"alert": "x"}, "push_time": basalt_core::time::format_iso(at), "expiration_interval": 5});
    let id = push(&test, request).await;
    test.clock.advance_millis(10_000);
    run(&test).await;
    assert!(sender.take().is_empty());
    let failed = status(&test, &id).await;
    assert_eq!(failed["status"], json!("failed"));
    assert!(
        failed["errorMessage"]["message"].as_str().is_some_and(|message| message.contains("expired")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_taken_over() {
    let (test, sender) = engine_with_push().await;
    install(&test, json!({"deviceType": "ios", "deviceToken": "a"})).await;
    let id = push(&test, json!({"where": {}, "data": {"alert": "x"}})).await;
    // Another node claimed it and died.
    let now = test.engine.now();
    let claimed = test.engine.store().claim_task(now, "a-node-that-died", now + 60_000).await.expect("claim");
    assert_eq!(claimed.map(|task| task.id), Some(id.clone()));
    assert_eq!(run(&test).await, Some(now + 60_000));
    assert!(sender.take().is_empty());
    test.clock.advance_millis(60_000);
    run(&test).await;
    assert_eq!(tokens(&sender.take()), vec!["a"]);
    assert_eq!(status(&test, &id).await["status"], json!("succeeded"));
}

#[tokio::test]
async fn a_push_that_takes_long_does_not_hold_back_one_due_meanwhile() {
    let (test, sender) = engine_with_push().await;
    install(&test, json!({"deviceType": "ios", "deviceToken": "slow-1", "channels": ["slow"]})).await;
    install(&test, json!({"deviceType": "ios", "deviceToken": "fast-1", "channels": ["fast"]})).await;
    let slow = push(&test, json!({"channels": ["slow"], "data": {"alert": "slow"}})).await;
    let fast = push(&test, json!({"channels": ["fast"], "data": {"alert": "fast"}})).await;
    test.engine.run_due_pushes().await.expect("run");
    // The fast push finishes while the slow one is still being sent.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(&test, &fast).await["status"] != json!("succeeded") {
        assert!(tokio::time::Instant::now() < deadline, "the fast push waited for the slow one");
        tokio::task::yield_now().await;
    }
    assert_eq!(tokens(&sender.take()), vec!["fast-1"]);
    assert_eq!(status(&test, &slow).await["status"], json!("running"));
    sender.release.notify_one();
    test.engine.pushes_settled().await;
    assert_eq!(tokens(&sender.take()), vec!["slow-1"]);
    assert_eq!(status(&test, &slow).await["status"], json!("succeeded"));
}
