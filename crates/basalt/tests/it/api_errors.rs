//! Transport and errors over real HTTP: keys, CORS, health, the JS SDK's POST tunnel, malformed
//! bodies and parameters, limits, and hostile input (SQL in names, keys and orders) that must end
//! in a clean Parse error with the stored data untouched.
//!
//! Where Parse Server 9.10 answers a client mistake with a 500, Basalt
//! answers a 4xx Parse error; these tests pin Basalt's answer.

use basalt_core::Limits;
use basalt_test_support::{APP_ID, MASTER_KEY, Reply, TestOptions, TestServer};
use serde_json::{Value, json};

const CORS_ALLOW_HEADERS: &str = "X-Parse-Master-Key, X-Parse-REST-API-Key, X-Parse-Javascript-Key, \
    X-Parse-Application-Id, X-Parse-Client-Version, X-Parse-Session-Token, X-Requested-With, \
    X-Parse-Revocable-Session, X-Parse-Request-Id, Content-Type, Pragma, Cache-Control";

/// `path?k=v&…` with the values form-encoded.
fn with_params(path: &str, params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://basalt.test/parse{path}"), params).expect("url");
    let relative = url.path().strip_prefix("/parse").expect("mount").to_owned();
    match url.query() {
        Some(query) => format!("{relative}?{query}"),
        None => relative,
    }
}

#[track_caller]
fn assert_parse_error(reply: &Reply, status: u16, code: i64) {
    assert_eq!(reply.status, status, "status of {reply:?}");
    assert_eq!(reply.body["code"], json!(code), "code of {reply:?}");
    assert!(reply.body["error"].as_str().is_some_and(|message| !message.is_empty()), "message of {reply:?}");
}

#[track_caller]
fn assert_unauthorized(reply: &Reply) {
    assert_eq!((reply.status, &reply.body), (403, &json!({"error": "unauthorized"})), "{reply:?}");
}

#[track_caller]
fn assert_cors(reply: &Reply) {
    let header = |name: &str| reply.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"), "{reply:?}");
    assert_eq!(header("access-control-allow-methods").as_deref(), Some("GET,PUT,POST,DELETE,OPTIONS"));
    assert_eq!(header("access-control-allow-headers").as_deref(), Some(CORS_ALLOW_HEADERS));
    assert_eq!(
        header("access-control-expose-headers").as_deref(),
        Some("X-Parse-Job-Status-Id, X-Parse-Push-Status-Id")
    );
}

/// A JS SDK request: POST with a `text/plain` JSON body that carries the keys and the method.
async fn tunnel(server: &TestServer, path: &str, body: Value) -> Reply {
    server.raw("POST", path, &[("Content-Type", "text/plain")], Some(&body.to_string())).await
}

/// Creates a `Post` with the master key and returns its objectId.
async fn create_post(server: &TestServer, body: Value) -> String {
    let reply = server.master("POST", "/classes/Post", Some(body)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.body["objectId"].as_str().expect("objectId").to_owned()
}

/// Every `Post`, ordered by title, as the master key sees it.
async fn all_posts(server: &TestServer) -> Value {
    let reply = server.master("GET", &with_params("/classes/Post", &[("order", "title")]), None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["results"].clone()
}

/// Nests `{"$or":[…]}` `depth` times around a plain constraint.
fn nested_or(depth: usize) -> Value {
    (0..depth).fold(json!({"title": "a"}), |inner, _| json!({"$or": [inner]}))
}

#[tokio::test]
async fn missing_app_id_is_unauthorized() {
    let server = TestServer::start().await;
    assert_unauthorized(&server.raw("GET", "/classes/Post", &[], None).await);
    assert_unauthorized(&server.raw("POST", "/classes/Post", &[], Some(r#"{"title":"a"}"#)).await);
    assert_unauthorized(&server.raw("GET", "/schemas", &[("X-Parse-Master-Key", MASTER_KEY)], None).await);
}

#[tokio::test]
async fn wrong_app_id_is_unauthorized_even_with_the_master_key() {
    let server = TestServer::start().await;
    let wrong = [("X-Parse-Application-Id", "other-app"), ("X-Parse-Master-Key", MASTER_KEY)];
    let reply = server.raw("GET", "/classes/Post", &wrong, None).await;
    assert_unauthorized(&reply);
    assert_cors(&reply);
}

#[tokio::test]
async fn master_only_routes_refuse_clients_with_403() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let routes = [
        ("GET", "/schemas"),
        ("GET", "/schemas/Post"),
        ("POST", "/schemas/Other"),
        ("PUT", "/schemas/Post"),
        ("DELETE", "/schemas/Post"),
        ("DELETE", "/purge/Post"),
        ("GET", "/aggregate/Post?distinct=title"),
        ("GET", "/serverInfo"),
    ];
    for (method, path) in routes {
        let body = matches!(method, "POST" | "PUT").then(|| json!({}));
        let reply = server.client_call(method, path, body).await;
        assert_eq!(reply.status, 403, "{method} {path}: {reply:?}");
        assert_eq!(reply.body.get("code"), None, "{method} {path}: {reply:?}");
        let message = reply.body["error"].as_str().unwrap_or_default();
        assert!(
            ["Permission denied", "unauthorized: master key is required"].contains(&message),
            "{method} {path}: {reply:?}"
        );
    }
    // A wrong master key is no master key: the request goes on as a client's and is refused.
    let reply = server
        .raw("GET", "/schemas", &[("X-Parse-Application-Id", APP_ID), ("X-Parse-Master-Key", "nope")], None)
        .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    // Nothing was purged or dropped.
    assert_eq!(all_posts(&server).await.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn options_preflight_answers_200_with_cors_headers_and_no_key_check() {
    let server = TestServer::start().await;
    let preflight = [
        ("Origin", "http://example.com"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "x-parse-application-id,content-type"),
    ];
    for path in ["/classes/Post", "/nonexistent/route", "/schemas"] {
        let reply = server.raw("OPTIONS", path, &preflight, None).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_cors(&reply);
    }
}

#[tokio::test]
async fn cors_headers_are_on_successes_and_errors() {
    let server = TestServer::start().await;
    let origin = [("Origin", "http://example.com")];
    let mut with_keys = origin.to_vec();
    with_keys.extend([("X-Parse-Application-Id", APP_ID), ("X-Parse-Master-Key", MASTER_KEY)]);
    let success = server.raw("GET", "/classes/Nope", &with_keys, None).await;
    assert_eq!((success.status, &success.body), (200, &json!({"results": []})));
    assert_cors(&success);
    let parse_error = server.raw("GET", "/classes/Nope/abc", &with_keys, None).await;
    assert_parse_error(&parse_error, 404, 101);
    assert_cors(&parse_error);
    let unauthorized = server.raw("GET", "/classes/Nope", &origin, None).await;
    assert_unauthorized(&unauthorized);
    assert_cors(&unauthorized);
}

#[tokio::test]
async fn health_answers_ok_without_keys() {
    let server = TestServer::start().await;
    let reply = server.raw("GET", "/health", &[], None).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({"status": "ok"})));
    assert_cors(&reply);
}

#[tokio::test]
async fn post_tunnel_runs_a_get_query_with_keys_from_the_body() {
    let server = TestServer::start().await;
    let x = create_post(&server, json!({"title": "x", "n": 1})).await;
    let y = create_post(&server, json!({"title": "y", "n": 2})).await;
    let reply = tunnel(
        &server,
        "/classes/Post",
        json!({
            "_method": "GET",
            "_ApplicationId": APP_ID,
            "_MasterKey": MASTER_KEY,
            "_ClientVersion": "js8.6.2",
            "_InstallationId": "0a1b2c3d-0000-4000-8000-000000000000",
            "where": {"title": "x"}
        }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{reply:?}");
    assert_eq!((&results[0]["objectId"], &results[0]["title"], &results[0]["n"]), (&json!(x), &json!("x"), &json!(1)));
    // `where` as a JSON string, `count`, and a lowercase method, as older SDKs send them.
    let reply = tunnel(
        &server,
        "/classes/Post",
        json!({"_method": "get", "_ApplicationId": APP_ID, "where": "{\"title\":\"y\"}", "limit": 1, "count": 1}),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["count"], json!(1));
    assert_eq!(reply.body["results"][0]["objectId"], json!(y));
}

#[tokio::test]
async fn post_tunnel_runs_put_and_delete() {
    let server = TestServer::start().await;
    let object_id = create_post(&server, json!({"title": "z"})).await;
    let path = format!("/classes/Post/{object_id}");
    let reply = tunnel(
        &server,
        &path,
        json!({
            "_method": "PUT",
            "_ApplicationId": APP_ID,
            "_MasterKey": MASTER_KEY,
            "_ClientVersion": "js8.6.2",
            "_InstallationId": "0a1b2c3d-0000-4000-8000-000000000000",
            "title": "z2",
            "n": {"__op": "Increment", "amount": 1}
        }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["n"], json!(1));
    assert!(reply.body["updatedAt"].is_string(), "{reply:?}");
    let fetched = server.client_call("GET", &path, None).await;
    assert_eq!((&fetched.body["title"], &fetched.body["n"]), (&json!("z2"), &json!(1)), "{fetched:?}");
    // The body keys never become fields.
    assert_eq!(fetched.body.get("_ApplicationId"), None);
    assert_eq!(fetched.body.get("_ClientVersion"), None);

    let reply = tunnel(&server, &path, json!({"_method": "DELETE", "_ApplicationId": APP_ID})).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({})), "{reply:?}");
    let reply = tunnel(&server, &path, json!({"_method": "GET", "_ApplicationId": APP_ID})).await;
    assert_parse_error(&reply, 404, 101);
}

#[tokio::test]
async fn post_tunnel_checks_the_keys_it_carries() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "public"})).await;
    create_post(&server, json!({"title": "private", "ACL": {}})).await;
    assert_unauthorized(&tunnel(&server, "/classes/Post", json!({"_method": "GET", "_ApplicationId": "nope"})).await);
    assert_unauthorized(&tunnel(&server, "/classes/Post", json!({"_method": "GET"})).await);
    let non_string_token = json!({"_method": "GET", "_ApplicationId": APP_ID, "_SessionToken": 5});
    assert_unauthorized(&tunnel(&server, "/classes/Post", non_string_token).await);
    // A wrong body master key downgrades to a client request: the private object stays hidden.
    let reply =
        tunnel(&server, "/classes/Post", json!({"_method": "GET", "_ApplicationId": APP_ID, "_MasterKey": "wrong"}))
            .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let titles: Vec<&Value> = reply.body["results"].as_array().expect("results").iter().map(|o| &o["title"]).collect();
    assert_eq!(titles, [&json!("public")]);
}

#[tokio::test]
async fn malformed_json_body_is_107() {
    let server = TestServer::start().await;
    for content_type in ["application/json", "text/plain"] {
        for body in [r#"{"a":"#, "{bad", r#"{"a":1,}"#] {
            let headers = [
                ("X-Parse-Application-Id", APP_ID),
                ("X-Parse-Master-Key", MASTER_KEY),
                ("Content-Type", content_type),
            ];
            let reply = server.raw("POST", "/classes/Post", &headers, Some(body)).await;
            assert_parse_error(&reply, 400, 107);
        }
    }
    // Without keys the body is still read first (it may carry them); garbage is still 107.
    assert_parse_error(&server.raw("POST", "/classes/Post", &[], Some("{bad")).await, 400, 107);
    let reply = server.master("GET", "/schemas/Post", None).await;
    assert_parse_error(&reply, 400, 103);
}

#[tokio::test]
async fn json_body_that_is_not_an_object_is_107() {
    let server = TestServer::start().await;
    let headers = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Master-Key", MASTER_KEY)];
    for body in ["[1,2]", r#""hi""#, "5", "null", "true"] {
        let reply = server.raw("POST", "/classes/Post", &headers, Some(body)).await;
        assert_parse_error(&reply, 400, 107);
    }
    let reply = server.master("GET", "/schemas/Post", None).await;
    assert_parse_error(&reply, 400, 103);
}

#[tokio::test]
async fn empty_body_is_an_empty_object() {
    let server = TestServer::start().await;
    let headers = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Master-Key", MASTER_KEY)];
    let reply = server.raw("POST", "/classes/Empty", &headers, Some("")).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let keys: Vec<&String> = reply.body.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 2, "{reply:?}");
    assert!(reply.body["objectId"].is_string() && reply.body["createdAt"].is_string(), "{reply:?}");
}

/// Each `(method, path)` with the status and Parse code the master key gets for it.
async fn statuses(
    server: &TestServer,
    routes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str, u16, Option<Value>)> {
    let mut answers = Vec::new();
    for (method, path) in routes {
        let body = matches!(*method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        let reply = server.master(method, path, body).await;
        answers.push((*method, *path, reply.status, reply.body.get("code").cloned()));
    }
    answers
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let server = TestServer::start().await;
    let routes = [("GET", "/nonexistent/route"), ("POST", "/foo"), ("GET", "/classes/Post/a/b"), ("GET", "/")];
    let expected: Vec<_> = routes.iter().map(|(method, path)| (*method, *path, 404, None)).collect();
    assert_eq!(statuses(&server, &routes).await, expected);
    // Keys are checked before routing, as Parse Server does.
    assert_unauthorized(&server.raw("GET", "/nonexistent/route", &[], None).await);
}

#[tokio::test]
async fn wrong_method_on_a_known_route_is_404_as_in_parse_server() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let routes = [("PATCH", "/classes/Post"), ("PUT", "/classes/Post"), ("GET", "/batch"), ("POST", "/aggregate/Post")];
    let expected: Vec<_> = routes.iter().map(|(method, path)| (*method, *path, 404, None)).collect();
    assert_eq!(statuses(&server, &routes).await, expected);
}

#[tokio::test]
async fn configured_client_key_is_required_from_clients() {
    let server =
        TestServer::start_with(TestOptions { javascript_key: Some("js-key".into()), ..TestOptions::default() }).await;
    // The master key needs no client key.
    create_post(&server, json!({"title": "a"})).await;
    assert_unauthorized(&server.client_call("GET", "/classes/Post", None).await);
    let wrong = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Javascript-Key", "nope")];
    assert_unauthorized(&server.raw("GET", "/classes/Post", &wrong, None).await);
    let right = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Javascript-Key", "js-key")];
    let reply = server.raw("GET", "/classes/Post", &right, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["results"].as_array().map(Vec::len), Some(1));
    let reply = tunnel(
        &server,
        "/classes/Post",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_JavaScriptKey": "js-key"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply =
        tunnel(&server, "/classes/Post", json!({"_method": "GET", "_ApplicationId": APP_ID, "_JavaScriptKey": "nope"}))
            .await;
    assert_unauthorized(&reply);
}

#[tokio::test]
async fn unknown_session_token_is_209() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let headers = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Session-Token", "r:nope")];
    let reply = server.raw("GET", "/classes/Post", &headers, None).await;
    assert_eq!((reply.status, &reply.body), (400, &json!({"code": 209, "error": "Invalid session token"})));
    let reply = tunnel(
        &server,
        "/classes/Post",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_SessionToken": "r:nope"}),
    )
    .await;
    assert_parse_error(&reply, 400, 209);
    let reply = server.raw("POST", "/classes/Post", &headers, Some(r#"{"title":"b"}"#)).await;
    assert_parse_error(&reply, 400, 209);
    assert_eq!(all_posts(&server).await.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn body_at_the_limit_is_accepted_and_one_byte_over_is_413() {
    let limits = Limits { body_bytes_max: 1024, ..Limits::default() };
    let server = TestServer::start_with(TestOptions { limits: Some(limits), ..TestOptions::default() }).await;
    let body_of_length = |length: usize| format!(r#"{{"title":"{}"}}"#, "x".repeat(length - r#"{"title":""}"#.len()));
    let headers = [("X-Parse-Application-Id", APP_ID), ("X-Parse-Master-Key", MASTER_KEY)];
    let at_limit = body_of_length(1024);
    assert_eq!(at_limit.len(), 1024);
    let reply = server.raw("POST", "/classes/Post", &headers, Some(&at_limit)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let over = body_of_length(1025);
    let reply = server.raw("POST", "/classes/Post", &headers, Some(&over)).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.body["code"], json!(116), "{reply:?}");
    assert_eq!(all_posts(&server).await.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn sql_in_class_names_is_103_and_leaves_data_intact() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let before = all_posts(&server).await;
    let hostile = [
        "/classes/x%22%3Bdrop%20table%20%22Post",
        "/classes/Post%22%3B%20DELETE%20FROM%20%22Post",
        "/classes/x'%20OR%20'1'%3D'1",
        "/classes/Post--",
    ];
    for path in hostile {
        assert_parse_error(&server.master("GET", path, None).await, 400, 103);
        assert_parse_error(&server.client_call("POST", path, Some(json!({"title": "b"}))).await, 400, 103);
        assert_parse_error(&server.master("GET", &format!("{path}/abc"), None).await, 400, 103);
        assert_parse_error(&server.master("DELETE", &format!("{path}/abc"), None).await, 400, 103);
    }
    assert_parse_error(&server.master("POST", "/schemas/x%22%3Bdrop", Some(json!({}))).await, 400, 103);
    assert_parse_error(&server.master("DELETE", "/schemas/Post%22%3Bdrop", None).await, 400, 103);
    // A hostile objectId is only data: not found.
    assert_parse_error(&server.master("GET", "/classes/Post/x'%20OR%20'1'%3D'1", None).await, 404, 101);
    assert_parse_error(&server.master("DELETE", "/classes/Post/x'%20OR%20'1'%3D'1", None).await, 404, 101);
    assert_eq!(all_posts(&server).await, before);
}

#[tokio::test]
async fn sql_in_field_names_is_105_and_leaves_data_intact() {
    let server = TestServer::start().await;
    let object_id = create_post(&server, json!({"title": "a", "n": 1})).await;
    let before = all_posts(&server).await;
    let hostile = ["title\"; DROP TABLE \"Post\"; --", "n = 0 --", "a'b", "title\" TEXT); --"];
    for name in hostile {
        let reply = server.master("POST", "/classes/Post", Some(json!({ name: 1 }))).await;
        assert_parse_error(&reply, 400, 105);
        let reply = server.master("PUT", &format!("/classes/Post/{object_id}"), Some(json!({ name: 1 }))).await;
        assert_parse_error(&reply, 400, 105);
        let reply = server.master("PUT", "/schemas/Post", Some(json!({"fields": { name: {"type": "String"} }}))).await;
        assert_parse_error(&reply, 400, 105);
    }
    assert_eq!(all_posts(&server).await, before);
}

#[tokio::test]
async fn sql_in_where_keys_and_order_is_a_parse_error_and_leaves_data_intact() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a", "n": 1})).await;
    create_post(&server, json!({"title": "b", "n": 2})).await;
    let before = all_posts(&server).await;
    let hostile_wheres = [
        json!({"title\" OR 1=1 --": "x"}),
        json!({"n; DROP TABLE Post": 1}),
        json!({"title') OR ('1'='1": "x"}),
        json!({"$or": [{"title\" = title OR \"": "x"}]}),
        json!({"n": {"$inQuery": {"className": "Post\"; DROP TABLE Post; --", "where": {}}}}),
        json!({"title": {"$select": {"query": {"className": "Post", "where": {}}, "key": "title\"--"}}}),
    ];
    for where_json in hostile_wheres {
        let path = with_params("/classes/Post", &[("where", &where_json.to_string())]);
        let reply = server.client_call("GET", &path, None).await;
        assert!(
            reply.status == 400 && [102, 103, 105, 107].contains(&reply.body["code"].as_i64().unwrap_or(0)),
            "{where_json}: {reply:?}"
        );
    }
    for order in ["title; DROP TABLE Post", "-n,title\" DESC --", "(SELECT 1)"] {
        let reply = server.client_call("GET", &with_params("/classes/Post", &[("order", order)]), None).await;
        assert_parse_error(&reply, 400, 105);
    }
    // A hostile value is only data: it matches nothing.
    let value_where = json!({"title": "x' OR '1'='1"}).to_string();
    let reply = server.client_call("GET", &with_params("/classes/Post", &[("where", &value_where)]), None).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({"results": []})));
    assert_eq!(all_posts(&server).await, before);
}

#[tokio::test]
async fn sql_in_keys_and_include_is_ignored_like_any_unknown_key() {
    let server = TestServer::start().await;
    let object_id = create_post(&server, json!({"title": "a"})).await;
    let before = all_posts(&server).await;
    for hostile in ["title\"; DROP TABLE \"Post\"; --", "* FROM Post; --"] {
        let path = with_params("/classes/Post", &[("keys", hostile)]);
        let reply = server.client_call("GET", &path, None).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let keys: Vec<&String> = reply.body["results"][0].as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 3, "only objectId, createdAt, updatedAt: {reply:?}");
        let path = with_params(&format!("/classes/Post/{object_id}"), &[("include", hostile)]);
        let reply = server.client_call("GET", &path, None).await;
        assert_eq!((reply.status, &reply.body["title"]), (200, &json!("a")), "{reply:?}");
        let path = with_params("/aggregate/Post", &[("distinct", hostile)]);
        let reply = server.master("GET", &path, None).await;
        assert_eq!((reply.status, &reply.body), (200, &json!({"results": []})), "{reply:?}");
    }
    assert_eq!(all_posts(&server).await, before);
}

#[tokio::test]
async fn limit_above_the_maximum_is_102() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let reply = server.client_call("GET", "/classes/Post?limit=10000", None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    for limit in ["10001", "99999999999999999999"] {
        let reply = server.client_call("GET", &format!("/classes/Post?limit={limit}"), None).await;
        assert_parse_error(&reply, 400, 102);
    }
}

#[tokio::test]
async fn or_nesting_deeper_than_the_limit_is_102() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let depth_max = Limits::default().query_depth_max;
    let at_limit = with_params("/classes/Post", &[("where", &nested_or(depth_max).to_string())]);
    let reply = server.client_call("GET", &at_limit, None).await;
    assert_eq!((reply.status, reply.body["results"].as_array().map(Vec::len)), (200, Some(1)), "{reply:?}");
    let over = with_params("/classes/Post", &[("where", &nested_or(depth_max + 1).to_string())]);
    assert_parse_error(&server.client_call("GET", &over, None).await, 400, 102);
    // Deep, but within what the JSON parser accepts (128 levels), so the depth check answers.
    let very_deep = with_params("/classes/Post", &[("where", &nested_or(60).to_string())]);
    assert_parse_error(&server.client_call("GET", &very_deep, None).await, 400, 102);
}

#[tokio::test]
async fn in_list_longer_than_the_limit_is_102() {
    let server = TestServer::start().await;
    create_post(&server, json!({"n": 0})).await;
    let list_max = Limits::default().query_list_max;
    let in_where = |length: usize| json!({"n": {"$in": (0..length).collect::<Vec<_>>()}}).to_string();
    let reply = server.client_call("GET", &with_params("/classes/Post", &[("where", &in_where(list_max))]), None).await;
    assert_eq!((reply.status, reply.body["results"].as_array().map(Vec::len)), (200, Some(1)), "{reply:?}");
    let reply =
        server.client_call("GET", &with_params("/classes/Post", &[("where", &in_where(list_max + 1))]), None).await;
    assert_parse_error(&reply, 400, 102);
}

#[tokio::test]
async fn bad_regex_or_options_is_102() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let bad = [
        json!({"title": {"$regex": "("}}),
        json!({"title": {"$regex": "a", "$options": "q"}}),
        json!({"title": {"$regex": 5}}),
        json!({"title": {"$regex": "(?=a)"}}),
        json!({"title": {"$regex": "x".repeat(Limits::default().regex_bytes_max + 1)}}),
    ];
    for where_json in bad {
        let reply =
            server.client_call("GET", &with_params("/classes/Post", &[("where", &where_json.to_string())]), None).await;
        assert_parse_error(&reply, 400, 102);
    }
}

#[tokio::test]
async fn malformed_constraints_are_107() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a", "n": 1})).await;
    let cases = [
        (json!({"n": {"$foo": 1}}).to_string(), "bad constraint: $foo"),
        (json!({"n": {"$in": 1}}).to_string(), "bad $in value"),
        (json!({"n": {"$nin": "x"}}).to_string(), "bad $nin value"),
        ("{not-json".to_owned(), "where parameter is not valid JSON"),
    ];
    for (where_text, message) in cases {
        let reply = server.client_call("GET", &with_params("/classes/Post", &[("where", &where_text)]), None).await;
        assert_eq!((reply.status, &reply.body), (400, &json!({"code": 107, "error": message})), "{where_text}");
    }
}

#[tokio::test]
async fn unknown_query_parameter_is_102() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let reply = server.client_call("GET", "/classes/Post?foo=1", None).await;
    assert_eq!((reply.status, &reply.body), (400, &json!({"code": 102, "error": "Invalid parameter for query: foo"})));
}

#[tokio::test]
async fn get_object_with_query_parameters_is_102_improper_encode() {
    let server = TestServer::start().await;
    let object_id = create_post(&server, json!({"title": "a"})).await;
    for query in ["foo=1", "where=%7B%7D", "limit=1", "order=title"] {
        let reply = server.client_call("GET", &format!("/classes/Post/{object_id}?{query}"), None).await;
        assert_eq!(
            (reply.status, &reply.body),
            (400, &json!({"code": 102, "error": "Improper encode of parameter"})),
            "{query}"
        );
    }
    let reply = server.client_call("GET", &format!("/classes/Post/{object_id}?keys=title"), None).await;
    assert_eq!((reply.status, &reply.body["title"]), (200, &json!("a")), "{reply:?}");
}

#[tokio::test]
async fn query_mistakes_parse_server_answers_with_500_are_4xx() {
    let server = TestServer::start().await;
    create_post(
        &server,
        json!({"title": "a", "n": 1, "tags": ["x"], "geo": {"__type": "GeoPoint", "latitude": 0, "longitude": 0}}),
    )
    .await;
    let box_of_one = json!({"geo": {"$within": {"$box": [{"__type": "GeoPoint", "latitude": 1, "longitude": 1}]}}});
    let cases: [(&str, &str, i64); 10] = [
        ("where", "5", 107),
        ("where", r#"{"$or":{"title":"a"}}"#, 102),
        ("where", r#"{"$or":[]}"#, 102),
        ("where", r#"{"$and":[]}"#, 102),
        ("where", r#"{"$or":[1]}"#, 107),
        ("where", &box_of_one.to_string(), 107),
        ("limit", "abc", 102),
        ("skip", "-1", 102),
        ("skip", "abc", 102),
        ("where", r#"{"geo":{"$nearSphere":5}}"#, 111),
    ];
    let mut answers = Vec::new();
    for (name, value, _) in &cases {
        for master in [false, true] {
            let reply = server.call("GET", &with_params("/classes/Post", &[(name, value)]), None, master).await;
            answers.push((*name, value.to_string(), master, reply.status, reply.body["code"].clone()));
        }
    }
    let expected: Vec<_> = cases
        .iter()
        .flat_map(|(name, value, code)| {
            [false, true].map(|master| (*name, value.to_string(), master, 400, json!(code)))
        })
        .collect();
    assert_eq!(answers, expected);
}

#[tokio::test]
async fn odd_but_valid_queries_answer_200() {
    let server = TestServer::start().await;
    let object_id = create_post(&server, json!({"title": "a", "n": 1, "tags": ["x"]})).await;
    let cases = [
        ("limit", "-1", 1),
        ("where", "null", 1),
        ("where", r#"{"tags":"x"}"#, 1),
        ("where", r#"{"tags":{"$eq":"x"}}"#, 1),
        ("where", r#"{"n":{"$in":[null]}}"#, 0),
        ("where", r#"{"n":{"$gt":"x"}}"#, 0),
        ("where", r#"{"n":{"$regex":"1"}}"#, 0),
        ("where", r#"{"title.x":1}"#, 0),
        ("where", r#"{"nosuchfield":{"$ne":1}}"#, 1),
    ];
    let mut answers = Vec::new();
    for (name, value, _) in &cases {
        let reply = server.client_call("GET", &with_params("/classes/Post", &[(name, value)]), None).await;
        answers.push((value.to_string(), reply.status, reply.body["results"].as_array().map(Vec::len)));
    }
    let expected: Vec<_> = cases.iter().map(|(_, value, length)| (value.to_string(), 200, Some(*length))).collect();
    assert_eq!(answers, expected);
    assert_eq!(all_posts(&server).await[0]["objectId"], json!(object_id));
}

#[tokio::test]
async fn include_paths_beyond_the_limits_are_102() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let limits = Limits::default();
    let path_of_depth = |depth: usize| (0..depth).map(|level| format!("p{level}")).collect::<Vec<_>>().join(".");
    let paths_of_count = |count: usize| (0..count).map(|index| format!("f{index}")).collect::<Vec<_>>().join(",");
    let include = |value: String| with_params("/classes/Post", &[("include", &value)]);
    let at_depth = server.client_call("GET", &include(path_of_depth(limits.include_depth_max)), None).await;
    assert_eq!(at_depth.status, 200, "{at_depth:?}");
    let over_depth = server.client_call("GET", &include(path_of_depth(limits.include_depth_max + 1)), None).await;
    assert_parse_error(&over_depth, 400, 102);
    let at_count = server.client_call("GET", &include(paths_of_count(limits.include_count_max)), None).await;
    assert_eq!(at_count.status, 200, "{at_count:?}");
    let over_count = server.client_call("GET", &include(paths_of_count(limits.include_count_max + 1)), None).await;
    assert_parse_error(&over_count, 400, 102);
}

#[tokio::test]
async fn regex_at_the_length_limit_is_accepted() {
    let server = TestServer::start().await;
    create_post(&server, json!({"title": "a"})).await;
    let pattern = "a?".repeat(Limits::default().regex_bytes_max / 2);
    let where_json = json!({"title": {"$regex": pattern}}).to_string();
    let reply = server.client_call("GET", &with_params("/classes/Post", &[("where", &where_json)]), None).await;
    assert_eq!((reply.status, reply.body["results"].as_array().map(Vec::len)), (200, Some(1)), "{reply:?}");
}
