//! Behaviours where Basalt deliberately differs from Parse Server 9.10 (README, "Differences
//! from Parse Server"); each test pins one row of that table.

use basalt_test_support::TestServer;
use serde_json::{Value, json};

async fn sign_up(server: &TestServer, username: &str) -> (String, String) {
    let reply =
        server.client_call("POST", "/users", Some(json!({"username": username, "password": "correct horse"}))).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["objectId"].as_str().expect("objectId").to_owned();
    let token = reply.body["sessionToken"].as_str().expect("sessionToken").to_owned();
    (id, token)
}

#[tokio::test]
async fn renaming_a_role_over_rest_is_refused_with_136() {
    let server = TestServer::start().await;
    let created = server.master("POST", "/roles", Some(json!({"name": "Editors", "ACL": {"*": {"read": true}}}))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["objectId"].as_str().expect("objectId");
    let renamed = server.master("PUT", &format!("/roles/{id}"), Some(json!({"name": "Admins"}))).await;
    assert_eq!(renamed.status, 400);
    assert_eq!(renamed.body["code"], 136);
    let same = server.master("PUT", &format!("/roles/{id}"), Some(json!({"name": "Editors"}))).await;
    assert_eq!(same.status, 200, "{}", same.body);
    let role = server.master("GET", &format!("/roles/{id}"), None).await;
    assert_eq!(role.body["name"], "Editors");
}

#[tokio::test]
async fn deleting_a_user_ends_its_sessions_at_once() {
    let server = TestServer::start().await;
    let (id, token) = sign_up(&server, "leaving").await;
    let deleted = server
        .raw(
            "DELETE",
            &format!("/users/{id}"),
            &[("X-Parse-Application-Id", basalt_test_support::APP_ID), ("X-Parse-Session-Token", &token)],
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let sessions = server.master("GET", "/sessions", None).await;
    assert_eq!(sessions.body["results"], Value::Array(Vec::new()));
    let me = server
        .raw(
            "GET",
            "/classes/Anything",
            &[("X-Parse-Application-Id", basalt_test_support::APP_ID), ("X-Parse-Session-Token", &token)],
            None,
        )
        .await;
    assert_eq!(me.status, 400);
    assert_eq!(me.body, json!({"code": 209, "error": "Invalid session token"}));
}

#[tokio::test]
async fn the_master_key_from_an_address_outside_master_key_ips_is_refused() {
    let options = basalt_test_support::TestOptions {
        master_key_ips: Some(vec!["10.1.2.3".parse().expect("ip")]),
        ..Default::default()
    };
    let server = TestServer::start_with(options).await;
    let refused = server.master("GET", "/schemas", None).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body, json!({"error": "unauthorized"}));
    let as_client = server.client_call("GET", "/health", None).await;
    assert_eq!(as_client.status, 200);
}
