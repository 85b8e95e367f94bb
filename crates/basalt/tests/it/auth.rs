//! Users, sessions and passwords over real HTTP, with time moved by a `ManualClock`: account
//! lockout (also under 20 parallel attempts), session expiry, the password policy, and the
//! password-reset and email-verification links, followed from mails a `RecordingMailer` keeps.
//! The link pages answer 303 redirects; they are checked with a client that does not follow them.

use std::sync::Arc;

use basalt_engine::{AccountLockout, AuthConfig, EmailConfig, ManualClock, PasswordPolicy};
use basalt_test_support::{APP_ID, RecordingMailer, Reply, TestOptions, TestServer};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// Where the mails' links point (the server's port is not known before it starts); `on_server`
/// turns a link into the same page on the test's server.
const PAGES: &str = "http://pages.test/parse/apps/test-app/";

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const DAY: i64 = 24 * 60 * MINUTE;

fn lockout(threshold: i64, duration_minutes: i64) -> AuthConfig {
    AuthConfig {
        account_lockout: Some(AccountLockout { threshold, duration_minutes, unlock_on_password_reset: false }),
        ..AuthConfig::default()
    }
}

fn policy(policy: PasswordPolicy) -> AuthConfig {
    AuthConfig { password_policy: Some(policy), ..AuthConfig::default() }
}

fn email(mailer: &Arc<RecordingMailer>) -> EmailConfig {
    EmailConfig {
        app_name: Some("Basalt Test".into()),
        pages_url_prefix: PAGES.into(),
        mailer: Some(Arc::<RecordingMailer>::clone(mailer)),
        ..EmailConfig::default()
    }
}

async fn start(auth: AuthConfig, clock: &Arc<ManualClock>, email: Option<EmailConfig>) -> TestServer {
    TestServer::start_with(TestOptions {
        auth: Some(auth),
        clock: Some(Arc::clone(clock)),
        email,
        ..TestOptions::default()
    })
    .await
}

/// A client request (app id, no master key) with an optional session token.
async fn user_call(server: &TestServer, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
    let mut headers = vec![("X-Parse-Application-Id", APP_ID), ("Content-Type", "application/json")];
    if let Some(token) = token {
        headers.push(("X-Parse-Session-Token", token));
    }
    let body = body.map(|body| body.to_string());
    server.raw(method, path, &headers, body.as_deref()).await
}

/// Signs up `username` (email `username@example.com`) and returns the reply.
async fn sign_up(server: &TestServer, username: &str, password: &str) -> Reply {
    let body = json!({"username": username, "password": password, "email": format!("{username}@example.com")});
    user_call(server, "POST", "/users", None, Some(body)).await
}

/// Signs up and returns (objectId, sessionToken).
async fn signed_up(server: &TestServer, username: &str, password: &str) -> (String, String) {
    let reply = sign_up(server, username, password).await;
    assert_eq!(reply.status, 201, "sign-up of {username}: {reply:?}");
    (text(&reply, "objectId"), text(&reply, "sessionToken"))
}

async fn log_in(server: &TestServer, username: &str, password: &str) -> Reply {
    user_call(server, "POST", "/login", None, Some(json!({"username": username, "password": password}))).await
}

/// PUT a new password on one's own user; keeps the session token the answer hands out.
async fn change_password(server: &TestServer, path: &str, token: &mut String, password: &str) -> Reply {
    let reply = user_call(server, "PUT", path, Some(token), Some(json!({"password": password}))).await;
    if let Some(new_token) = reply.body["sessionToken"].as_str() {
        *token = new_token.to_owned();
    }
    reply
}

/// Logs in and returns the session token.
async fn logged_in(server: &TestServer, username: &str, password: &str) -> String {
    let reply = log_in(server, username, password).await;
    assert_eq!(reply.status, 200, "log-in of {username}: {reply:?}");
    text(&reply, "sessionToken")
}

#[track_caller]
fn text(reply: &Reply, key: &str) -> String {
    reply.body[key].as_str().unwrap_or_else(|| panic!("{key} in {reply:?}")).to_owned()
}

#[track_caller]
fn assert_error(reply: &Reply, status: u16, code: i64, message: &str) {
    assert_eq!((reply.status, &reply.body), (status, &json!({"code": code, "error": message})), "{reply:?}");
}

/// 101 "Invalid username/password." (Parse answers it with 404).
#[track_caller]
fn assert_wrong_credentials(reply: &Reply) {
    assert_error(reply, 404, 101, "Invalid username/password.");
}

#[track_caller]
fn assert_locked(reply: &Reply) {
    assert_eq!((reply.status, &reply.body["code"]), (404, &json!(101)), "{reply:?}");
    let message = reply.body["error"].as_str().unwrap_or_default();
    assert!(message.starts_with("Your account is locked"), "{reply:?}");
}

/// The link in a mail that starts with `PAGES` + `page`.
#[track_caller]
fn link_in(mail: &basalt_engine::EmailMessage, page: &str) -> String {
    let start = format!("{PAGES}{page}");
    mail.text
        .split_whitespace()
        .find(|word| word.starts_with(&start))
        .unwrap_or_else(|| panic!("no {start} link in {mail:?}"))
        .to_owned()
}

#[track_caller]
fn token_of(link: &str) -> String {
    let (_, query) = link.split_once("token=").unwrap_or_else(|| panic!("no token in {link}"));
    query.split('&').next().unwrap_or_default().to_owned()
}

/// A client that reports redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A link from a mail, on the test's server.
#[track_caller]
fn on_server(server: &TestServer, link: &str) -> String {
    let rest = link.strip_prefix("http://pages.test/parse").unwrap_or_else(|| panic!("not a page link: {link}"));
    format!("{}{rest}", server.base_url)
}

/// The status and `Location` of a response.
async fn redirect_of(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("request");
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status().as_u16(), location)
}

/// GET a page without following its redirect.
async fn open(url: &str) -> (u16, String) {
    redirect_of(no_redirects().get(url)).await
}

/// The reset page's form, posted as a browser does.
fn reset_form(
    client: &reqwest::Client,
    server: &TestServer,
    token: &str,
    new_password: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/apps/{APP_ID}/request_password_reset", server.base_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&new_password={new_password}"))
}

/// `Location` of a redirect to the page `target`.
fn page(server: &TestServer, target: &str) -> String {
    format!("{}/apps/{target}", server.base_url)
}

/// Asks for a reset mail for `username@example.com` and returns its link.
async fn reset_link(server: &TestServer, mailer: &RecordingMailer, username: &str) -> String {
    let address = format!("{username}@example.com");
    let reply = user_call(server, "POST", "/requestPasswordReset", None, Some(json!({"email": address}))).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({})), "{reply:?}");
    let mail = mailer.next_message().await;
    assert_eq!(mail.to, address, "{mail:?}");
    link_in(&mail, "request_password_reset?token=")
}

// ---------------------------------------------------------------------------------------------
// Account lockout

#[tokio::test]
async fn wrong_passwords_up_to_the_threshold_lock_the_account_even_for_the_right_password() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = start(lockout(3, 10), &clock, None).await;
    signed_up(&server, "ada", "right-password").await;
    signed_up(&server, "bob", "bobs-password").await;

    for _ in 0..3 {
        assert_wrong_credentials(&log_in(&server, "ada", "wrong-password").await);
    }
    assert_locked(&log_in(&server, "ada", "right-password").await);
    // The lock is ada's alone.
    logged_in(&server, "bob", "bobs-password").await;

    clock.advance_millis(10 * MINUTE - SECOND);
    assert_locked(&log_in(&server, "ada", "right-password").await);

    clock.advance_millis(2 * SECOND);
    logged_in(&server, "ada", "right-password").await;
    // The count starts again from zero: two more failures don't lock.
    for _ in 0..2 {
        assert_wrong_credentials(&log_in(&server, "ada", "wrong-password").await);
    }
    logged_in(&server, "ada", "right-password").await;
}

#[tokio::test]
async fn the_lock_message_counts_the_minutes_left() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = start(lockout(1, 10), &clock, None).await;
    signed_up(&server, "ada", "right-password").await;
    assert_wrong_credentials(&log_in(&server, "ada", "wrong-password").await);
    assert_error(
        &log_in(&server, "ada", "right-password").await,
        404,
        101,
        "Your account is locked due to multiple failed login attempts. Please try again after 10 minute(s)",
    );
}

#[tokio::test]
async fn a_successful_log_in_resets_the_failure_count() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = start(lockout(3, 10), &clock, None).await;
    signed_up(&server, "ada", "right-password").await;

    for _ in 0..2 {
        assert_wrong_credentials(&log_in(&server, "ada", "wrong-password").await);
    }
    logged_in(&server, "ada", "right-password").await;
    // Without the reset this third failure in all would lock the account.
    for _ in 0..2 {
        assert_wrong_credentials(&log_in(&server, "ada", "wrong-password").await);
    }
    logged_in(&server, "ada", "right-password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_wrong_log_ins_in_parallel_still_trip_the_lockout() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = start(lockout(5, 10), &clock, None).await;
    signed_up(&server, "ada", "right-password").await;

    let url = format!("{}/login", server.base_url);
    let mut attempts = JoinSet::new();
    for _ in 0..20 {
        let request = server
            .client
            .post(&url)
            .header("X-Parse-Application-Id", APP_ID)
            .header("Content-Type", "application/json")
            .body(json!({"username": "ada", "password": "wrong-password"}).to_string());
        attempts.spawn(async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON body"))
        });
    }
    let mut locked_out = 0;
    while let Some(outcome) = attempts.join_next().await {
        let (status, body) = outcome.expect("task");
        assert_eq!((status, &body["code"]), (404, &json!(101)), "{body}");
        if body["error"] != json!("Invalid username/password.") {
            locked_out += 1;
        }
    }
    assert!(locked_out <= 15, "at least the first 5 attempts count as failures, {locked_out} were locked");
    assert_locked(&log_in(&server, "ada", "right-password").await);
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[tokio::test]
async fn an_expired_session_token_is_refused_with_209_and_deleted() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = start(AuthConfig { session_length_secs: 60, ..AuthConfig::default() }, &clock, None).await;
    let (_, first) = signed_up(&server, "ada", "right-password").await;
    let second = logged_in(&server, "ada", "right-password").await;

    clock.advance_millis(59 * SECOND);
    let me = user_call(&server, "GET", "/users/me", Some(&first), None).await;
    assert_eq!((me.status, &me.body["username"]), (200, &json!("ada")), "{me:?}");

    clock.advance_millis(2 * SECOND);
    let expired = |reply: &Reply| assert_error(reply, 400, 209, "Session token is expired.");
    let invalid = |reply: &Reply| assert_error(reply, 400, 209, "Invalid session token");
    expired(&user_call(&server, "GET", "/users/me", Some(&first), None).await);
    expired(&user_call(&server, "POST", "/classes/Note", Some(&second), Some(json!({"text": "hi"}))).await);
    // Both rows are gone: the tokens are now unknown.
    invalid(&user_call(&server, "GET", "/users/me", Some(&first), None).await);
    invalid(&user_call(&server, "GET", "/sessions/me", Some(&second), None).await);
    let sessions = server.master("GET", "/sessions", None).await;
    assert_eq!((sessions.status, &sessions.body), (200, &json!({"results": []})), "{sessions:?}");

    // A new log-in starts a new, current session.
    let third = logged_in(&server, "ada", "right-password").await;
    let me = user_call(&server, "GET", "/users/me", Some(&third), None).await;
    assert_eq!(me.status, 200, "{me:?}");
}

// ---------------------------------------------------------------------------------------------
// Password policy

#[tokio::test]
async fn a_password_the_validator_pattern_refuses_gets_142_with_the_configured_message() {
    let clock = Arc::new(ManualClock::starting_now());
    for (pattern, refused, accepted) in [(r"^.{8,}$", "short1", "long enough"), (r"\d", "no digits at all", "digit 1")]
    {
        let message = format!("Passwords must match {pattern}.");
        let auth = policy(PasswordPolicy {
            validator_pattern: Some(pattern.into()),
            validation_error: Some(message.clone()),
            ..PasswordPolicy::default()
        });
        let server = start(auth, &clock, None).await;
        assert_error(&sign_up(&server, "ada", refused).await, 400, 142, &message);
        let (id, token) = signed_up(&server, "ada", accepted).await;
        // A change of password meets the same rule.
        let mut token = token;
        let change = change_password(&server, &format!("/users/{id}"), &mut token, refused).await;
        assert_error(&change, 400, 142, &message);
        assert_wrong_credentials(&log_in(&server, "ada", refused).await);
        logged_in(&server, "ada", accepted).await;
    }
}

#[tokio::test]
async fn a_password_containing_the_username_is_refused_with_142() {
    let clock = Arc::new(ManualClock::starting_now());
    let server =
        start(policy(PasswordPolicy { do_not_allow_username: true, ..PasswordPolicy::default() }), &clock, None).await;
    assert_error(&sign_up(&server, "grace", "i-am-grace-1").await, 400, 142, "Password cannot contain your username.");
    let (id, token) = signed_up(&server, "grace", "hopper-1906").await;
    let change =
        user_call(&server, "PUT", &format!("/users/{id}"), Some(&token), Some(json!({"password": "grace!"}))).await;
    assert_error(&change, 400, 142, "Password cannot contain your username.");
    logged_in(&server, "grace", "hopper-1906").await;
}

#[tokio::test]
async fn the_current_and_previous_passwords_cannot_be_reused_with_a_history_of_two() {
    let clock = Arc::new(ManualClock::starting_now());
    let server =
        start(policy(PasswordPolicy { max_password_history: 2, ..PasswordPolicy::default() }), &clock, None).await;
    let (id, mut token) = signed_up(&server, "ada", "first-password").await;
    let path = format!("/users/{id}");

    let reused = |reply: &Reply| {
        assert_error(reply, 400, 142, "New password should not be the same as last 2 passwords.");
    };

    let reply = change_password(&server, &path, &mut token, "second-password").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reused(&change_password(&server, &path, &mut token, "second-password").await);
    reused(&change_password(&server, &path, &mut token, "first-password").await);
    let reply = change_password(&server, &path, &mut token, "third-password").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // The first password is now older than the last two.
    let reply = change_password(&server, &path, &mut token, "first-password").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    logged_in(&server, "ada", "first-password").await;
}

#[tokio::test]
async fn a_password_older_than_max_password_age_must_be_reset_before_logging_in() {
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = RecordingMailer::new();
    let auth = policy(PasswordPolicy { max_password_age_days: Some(1), ..PasswordPolicy::default() });
    let server = start(auth, &clock, Some(email(&mailer))).await;
    signed_up(&server, "ada", "first-password").await;

    clock.advance_millis(DAY - SECOND);
    logged_in(&server, "ada", "first-password").await;
    clock.advance_millis(2 * SECOND);
    assert_error(
        &log_in(&server, "ada", "first-password").await,
        404,
        101,
        "Your password has expired. Please reset your password.",
    );

    let token = token_of(&reset_link(&server, &mailer, "ada").await);
    let (status, location) = redirect_of(reset_form(&no_redirects(), &server, &token, "second-password")).await;
    assert_eq!((status, location), (303, page(&server, "password_reset_success.html")));
    logged_in(&server, "ada", "second-password").await;
}

// ---------------------------------------------------------------------------------------------
// Password reset

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_link_used_by_two_requests_at_once_works_once() {
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = RecordingMailer::new();
    let server = start(AuthConfig::default(), &clock, Some(email(&mailer))).await;
    let (_, signed_up_token) = signed_up(&server, "ada", "old-password").await;
    let logged_in_token = logged_in(&server, "ada", "old-password").await;

    let link = reset_link(&server, &mailer, "ada").await;
    let token = token_of(&link);
    let chooser = format!("choose_password?token={token}&id={APP_ID}");
    assert_eq!(open(&on_server(&server, &link)).await, (303, page(&server, &chooser)));

    let client = no_redirects();
    let (first, second) = tokio::join!(
        redirect_of(reset_form(&client, &server, &token, "first-new-password")),
        redirect_of(reset_form(&client, &server, &token, "second-new-password")),
    );
    let success = (303, page(&server, "password_reset_success.html"));
    let invalid = (303, page(&server, "invalid_link.html"));
    let (winner, loser) = match (&first, &second) {
        (first, second) if *first == success && *second == invalid => ("first-new-password", "second-new-password"),
        (first, second) if *first == invalid && *second == success => ("second-new-password", "first-new-password"),
        _ => panic!("expected one success and one invalid link, got {first:?} and {second:?}"),
    };

    logged_in(&server, "ada", winner).await;
    assert_wrong_credentials(&log_in(&server, "ada", loser).await);
    assert_wrong_credentials(&log_in(&server, "ada", "old-password").await);
    for old in [&signed_up_token, &logged_in_token] {
        let reply = user_call(&server, "GET", "/users/me", Some(old), None).await;
        assert_error(&reply, 400, 209, "Invalid session token");
    }
    // The used link leads nowhere.
    assert_eq!(open(&on_server(&server, &link)).await, invalid);
}

#[tokio::test]
async fn a_reset_link_expires_after_reset_token_validity() {
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = RecordingMailer::new();
    let email = EmailConfig { reset_token_validity_secs: Some(60), ..email(&mailer) };
    let server = start(AuthConfig::default(), &clock, Some(email)).await;
    signed_up(&server, "ada", "old-password").await;
    let link = reset_link(&server, &mailer, "ada").await;
    let token = token_of(&link);

    clock.advance_millis(59 * SECOND);
    let chooser = format!("choose_password?token={token}&id={APP_ID}");
    assert_eq!(open(&on_server(&server, &link)).await, (303, page(&server, &chooser)));

    clock.advance_millis(2 * SECOND);
    let invalid = (303, page(&server, "invalid_link.html"));
    assert_eq!(open(&on_server(&server, &link)).await, invalid);
    assert_eq!(redirect_of(reset_form(&no_redirects(), &server, &token, "new-password")).await, invalid);
    logged_in(&server, "ada", "old-password").await;
    assert_wrong_credentials(&log_in(&server, "ada", "new-password").await);
}

#[tokio::test]
async fn a_reset_request_for_an_unknown_email_answers_the_same_and_sends_nothing() {
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = RecordingMailer::new();
    let server = start(AuthConfig::default(), &clock, Some(email(&mailer))).await;
    signed_up(&server, "ada", "old-password").await;
    let body = json!({"email": "nobody@example.com"});
    let reply = user_call(&server, "POST", "/requestPasswordReset", None, Some(body)).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({})), "{reply:?}");
    assert_eq!(mailer.try_next_message().await, None);
}

#[tokio::test]
async fn mail_requests_without_a_mailer_are_internal_errors() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = start(AuthConfig::default(), &clock, None).await;
    signed_up(&server, "ada", "old-password").await;
    for path in ["/requestPasswordReset", "/verificationEmailRequest"] {
        let reply = user_call(&server, "POST", path, None, Some(json!({"email": "ada@example.com"}))).await;
        assert_eq!((reply.status, &reply.body["code"]), (500, &json!(1)), "{path}: {reply:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Email verification

fn verifying(mailer: &Arc<RecordingMailer>, validity_secs: Option<i64>) -> EmailConfig {
    EmailConfig {
        verify_user_emails: true,
        prevent_login_with_unverified_email: true,
        email_verify_token_validity_secs: validity_secs,
        ..email(mailer)
    }
}

#[tokio::test]
async fn an_unverified_email_blocks_log_in_until_the_mailed_link_is_followed() {
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = RecordingMailer::new();
    let server = start(AuthConfig::default(), &clock, Some(verifying(&mailer, None))).await;

    let reply = sign_up(&server, "ada", "right-password").await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body.get("sessionToken"), None, "{reply:?}");
    let mail = mailer.next_message().await;
    assert_eq!(mail.to, "ada@example.com", "{mail:?}");
    let link = link_in(&mail, "verify_email?token=");

    assert_error(&log_in(&server, "ada", "right-password").await, 400, 205, "User email is not verified.");

    assert_eq!(open(&on_server(&server, &link)).await, (303, page(&server, "verify_email_success.html")));
    let reply = log_in(&server, "ada", "right-password").await;
    assert_eq!((reply.status, &reply.body["emailVerified"]), (200, &json!(true)), "{reply:?}");
    let me = user_call(&server, "GET", "/users/me", Some(&text(&reply, "sessionToken")), None).await;
    assert_eq!((me.status, &me.body["emailVerified"]), (200, &json!(true)), "{me:?}");

    // The link works once.
    let invalid = (303, page(&server, "invalid_verification_link.html"));
    assert_eq!(open(&on_server(&server, &link)).await, invalid);
}

#[tokio::test]
async fn a_verification_link_expires_after_its_validity() {
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = RecordingMailer::new();
    let server = start(AuthConfig::default(), &clock, Some(verifying(&mailer, Some(60)))).await;
    let reply = sign_up(&server, "ada", "right-password").await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let link = link_in(&mailer.next_message().await, "verify_email?token=");

    clock.advance_millis(61 * SECOND);
    let invalid = (303, page(&server, "invalid_verification_link.html"));
    assert_eq!(open(&on_server(&server, &link)).await, invalid);
    assert_error(&log_in(&server, "ada", "right-password").await, 400, 205, "User email is not verified.");

    // A new link, asked for, works.
    let body = json!({"email": "ada@example.com"});
    let reply = user_call(&server, "POST", "/verificationEmailRequest", None, Some(body)).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({})), "{reply:?}");
    let fresh = link_in(&mailer.next_message().await, "verify_email?token=");
    assert_ne!(token_of(&fresh), token_of(&link));
    assert_eq!(open(&on_server(&server, &fresh)).await, (303, page(&server, "verify_email_success.html")));
    logged_in(&server, "ada", "right-password").await;
}
