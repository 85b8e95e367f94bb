//! The rules of users: the password policy (pattern, username, history, age), sign-up and
//! log-in checks, account lockout, and who may change or delete a user.

use std::sync::Arc;

use basalt_core::ErrorCode;
use basalt_store::UserSecrets;
use serde_json::{Map, Value, json};

use super::{unique_error, valid_email};
use crate::test_support::body;
use crate::{AccountLockout, AuthConfig, Caller, Engine, EngineParts, ManualClock, PasswordPolicy};

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn world(auth: AuthConfig) -> World {
    let test = crate::test_support::test_engine_with(|config| config.auth = auth, EngineParts::default()).await;
    World { engine: test.engine, clock: test.clock, _dir: test.dir }
}

async fn with_policy(policy: PasswordPolicy) -> World {
    world(AuthConfig { password_policy: Some(policy), ..AuthConfig::default() }).await
}

impl World {
    async fn sign_up(&self, value: Value) -> basalt_core::ParseResult<crate::Created> {
        self.engine.sign_up(&Caller::anonymous(), &body(value)).await
    }

    async fn log_in(&self, username: &str, password: &str) -> basalt_core::ParseResult<Map<String, Value>> {
        self.engine.log_in(&Caller::anonymous(), &body(json!({"username": username, "password": password}))).await
    }

    async fn user_count(&self) -> usize {
        self.engine
            .find_objects(&Caller::master(), &crate::test_support::class("_User"), &crate::FindParams::default())
            .await
            .map_or(0, |f| f.results.len())
    }
}

fn assert_error(result: basalt_core::ParseResult<impl std::fmt::Debug>, code: ErrorCode, message: &str) {
    let error = result.expect_err("refused");
    assert_eq!((error.code, error.message.as_str()), (code, message));
}

#[tokio::test]
async fn without_a_password_policy_any_password_is_accepted() {
    let world = world(AuthConfig::default()).await;
    assert!(world.engine.check_password_policy("a", Some("a")).is_ok());
}

#[tokio::test]
async fn a_password_not_matching_the_validator_pattern_is_refused_with_142_and_the_configured_message() {
    let world = with_policy(PasswordPolicy {
        validator_pattern: Some("^[a-z]{4,}[0-9]$".into()),
        validation_error: Some("Four letters or more, then a digit.".into()),
        ..PasswordPolicy::default()
    })
    .await;
    let message = "Four letters or more, then a digit.";
    assert_error(world.engine.check_password_policy("abc1", None), ErrorCode::ValidationError, message);
    assert_error(world.engine.check_password_policy("abcdef", None), ErrorCode::ValidationError, message);
    assert!(world.engine.check_password_policy("abcdef1", None).is_ok());
}

#[tokio::test]
async fn a_refused_password_without_a_configured_message_gets_parse_servers_default() {
    let world =
        with_policy(PasswordPolicy { validator_pattern: Some("[A-Z]".into()), ..PasswordPolicy::default() }).await;
    assert_error(
        world.engine.check_password_policy("lower", None),
        ErrorCode::ValidationError,
        "Password does not meet the Password Policy requirements.",
    );
}

#[tokio::test]
async fn the_validator_pattern_may_match_anywhere_in_the_password_like_a_javascript_regexp_test() {
    let world =
        with_policy(PasswordPolicy { validator_pattern: Some("[0-9]".into()), ..PasswordPolicy::default() }).await;
    assert!(world.engine.check_password_policy("abc1def", None).is_ok());
    assert!(world.engine.check_password_policy("abcdef", None).is_err());
}

#[tokio::test]
async fn an_invalid_validator_pattern_refuses_every_password() {
    let world = with_policy(PasswordPolicy { validator_pattern: Some("([".into()), ..PasswordPolicy::default() }).await;
    assert!(world.engine.check_password_policy("anything-at-all-1A", None).is_err());
}

#[tokio::test]
async fn a_password_containing_the_username_is_refused_when_the_policy_says_so() {
    let world = with_policy(PasswordPolicy { do_not_allow_username: true, ..PasswordPolicy::default() }).await;
    assert_error(
        world.engine.check_password_policy("my-alice-pw", Some("alice")),
        ErrorCode::ValidationError,
        "Password cannot contain your username.",
    );
    // Parse Server compares case-sensitively (`indexOf`), and an empty username is no rule.
    assert!(world.engine.check_password_policy("my-ALICE-pw", Some("alice")).is_ok());
    assert!(world.engine.check_password_policy("anything", Some("")).is_ok());
    assert!(world.engine.check_password_policy("anything", None).is_ok());
    let lenient = with_policy(PasswordPolicy::default()).await;
    assert!(lenient.engine.check_password_policy("my-alice-pw", Some("alice")).is_ok());
}

#[tokio::test]
async fn the_validator_pattern_is_checked_before_the_username() {
    let world = with_policy(PasswordPolicy {
        validator_pattern: Some("[0-9]".into()),
        do_not_allow_username: true,
        ..PasswordPolicy::default()
    })
    .await;
    assert_error(
        world.engine.check_password_policy("alice", Some("alice")),
        ErrorCode::ValidationError,
        "Password does not meet the Password Policy requirements.",
    );
    assert_error(
        world.engine.check_password_policy("alice1", Some("alice")),
        ErrorCode::ValidationError,
        "Password cannot contain your username.",
    );
}

#[tokio::test]
async fn a_sign_up_with_a_refused_password_creates_no_user() {
    let world = with_policy(PasswordPolicy { do_not_allow_username: true, ..PasswordPolicy::default() }).await;
    let refused = world.sign_up(json!({"username": "carol", "password": "carol!"})).await;
    assert_error(refused, ErrorCode::ValidationError, "Password cannot contain your username.");
    assert_eq!(world.user_count().await, 0);
    assert!(world.sign_up(json!({"username": "carol", "password": "secret!"})).await.is_ok());
}

#[tokio::test]
async fn a_password_change_is_checked_against_the_stored_username() {
    let world = with_policy(PasswordPolicy { do_not_allow_username: true, ..PasswordPolicy::default() }).await;
    let signed = world.sign_up(json!({"username": "dave", "password": "first-pw"})).await.expect("sign up");
    let error = world
        .engine
        .update_object(
            &Caller::master(),
            &crate::test_support::class("_User"),
            &signed.object_id,
            &body(json!({"password": "dave2"})),
        )
        .await;
    assert_error(error, ErrorCode::ValidationError, "Password cannot contain your username.");
    let renamed = json!({"username": "erin", "password": "dave2"});
    assert!(
        world
            .engine
            .update_object(&Caller::master(), &crate::test_support::class("_User"), &signed.object_id, &body(renamed))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_new_password_keeps_the_old_hash_in_the_history_and_ends_reset_tokens_and_lockouts() {
    let world = world(AuthConfig {
        password_policy: Some(PasswordPolicy { max_password_history: 2, ..PasswordPolicy::default() }),
        account_lockout: Some(AccountLockout { threshold: 3, duration_minutes: 5, unlock_on_password_reset: true }),
        ..AuthConfig::default()
    })
    .await;
    let mut secrets = UserSecrets {
        reset_token: Some("reset".into()),
        reset_token_expires_at: Some(1),
        failed_login_count: 2,
        lockout_expires_at: Some(i64::MAX),
        ..UserSecrets::default()
    };
    world.engine.set_new_password(&mut secrets, "first", None).await.expect("first");
    let first = secrets.hashed_password.clone().expect("hashed");
    assert!(first.starts_with("$argon2id$"));
    assert!(secrets.password_history.is_empty());
    assert_eq!(secrets.password_changed_at, Some(world.engine.now()));
    assert_eq!((secrets.reset_token.as_deref(), secrets.reset_token_expires_at), (None, None));
    assert_eq!((secrets.failed_login_count, secrets.lockout_expires_at), (0, None));
    world.engine.set_new_password(&mut secrets, "second", None).await.expect("second");
    assert_eq!(secrets.password_history, vec![first]);
    world.engine.set_new_password(&mut secrets, "third", None).await.expect("third");
    assert_eq!(secrets.password_history.len(), 2, "the history keeps maxPasswordHistory hashes");
}

#[tokio::test]
async fn max_password_history_refuses_the_current_and_the_previous_n_minus_one_passwords() {
    let world = with_policy(PasswordPolicy { max_password_history: 2, ..PasswordPolicy::default() }).await;
    let mut secrets = UserSecrets::default();
    for password in ["one", "two", "three"] {
        world.engine.set_new_password(&mut secrets, password, None).await.expect(password);
    }
    for reused in ["three", "two"] {
        assert_error(
            world.engine.set_new_password(&mut secrets.clone(), reused, None).await,
            ErrorCode::ValidationError,
            "New password should not be the same as last 2 passwords.",
        );
    }
    assert!(world.engine.set_new_password(&mut secrets, "one", None).await.is_ok(), "older than the history");
}

#[tokio::test]
async fn without_a_history_a_password_may_be_set_again() {
    let world = world(AuthConfig::default()).await;
    let mut secrets = UserSecrets::default();
    world.engine.set_new_password(&mut secrets, "same", None).await.expect("first");
    world.engine.set_new_password(&mut secrets, "same", None).await.expect("again");
    assert!(secrets.password_history.is_empty(), "no history is kept without maxPasswordHistory");
}

#[tokio::test]
async fn a_sign_up_needs_a_username_a_password_and_a_valid_email() {
    let world = world(AuthConfig::default()).await;
    assert_error(world.sign_up(json!({"password": "pw"})).await, ErrorCode::UsernameMissing, "bad or missing username");
    assert_error(
        world.sign_up(json!({"username": "", "password": "pw"})).await,
        ErrorCode::UsernameMissing,
        "bad or missing username",
    );
    assert_error(world.sign_up(json!({"username": "frank"})).await, ErrorCode::PasswordMissing, "password is required");
    assert_error(
        world.sign_up(json!({"username": "frank", "password": ""})).await,
        ErrorCode::PasswordMissing,
        "password is required",
    );
    assert_error(
        world.sign_up(json!({"username": "frank", "password": "pw", "email": "frank"})).await,
        ErrorCode::InvalidEmailAddress,
        "Email address format is invalid.",
    );
    assert_error(
        world.sign_up(json!({"username": "frank", "password": "pw", "emailVerified": true})).await,
        ErrorCode::OperationForbidden,
        "Clients aren't allowed to manually update email verification.",
    );
    assert_eq!(world.user_count().await, 0);
}

#[tokio::test]
async fn usernames_and_emails_are_unique_ignoring_case() {
    let world = world(AuthConfig::default()).await;
    world.sign_up(json!({"username": "Grace", "password": "pw", "email": "Grace@Example.com"})).await.expect("first");
    assert_error(
        world.sign_up(json!({"username": "grace", "password": "pw"})).await,
        ErrorCode::UsernameTaken,
        "Account already exists for this username.",
    );
    assert_error(
        world.sign_up(json!({"username": "other", "password": "pw", "email": "grace@example.COM"})).await,
        ErrorCode::EmailTaken,
        "Account already exists for this email address.",
    );
}

#[tokio::test]
async fn an_auth_data_sign_up_needs_no_password_and_gets_a_random_username() {
    let world = world(AuthConfig::default()).await;
    let signed = world.sign_up(json!({"authData": {"anonymous": {"id": "device-1"}}})).await.expect("sign up");
    assert!(signed.created);
    let username = signed.body["username"].as_str().expect("username echoed");
    assert_eq!(username.len(), 25);
    assert!(username.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(signed.body["sessionToken"].as_str().is_some_and(|token| token.starts_with("r:")));
    // The same authData again is a log-in, not a second user.
    let again = world.sign_up(json!({"authData": {"anonymous": {"id": "device-1"}}})).await.expect("log in");
    assert!(!again.created);
    assert_eq!(again.object_id, signed.object_id);
}

#[tokio::test]
async fn anonymous_users_are_refused_when_disabled() {
    let world = world(AuthConfig { allow_anonymous_users: false, ..AuthConfig::default() }).await;
    assert_error(
        world.sign_up(json!({"authData": {"anonymous": {"id": "device-1"}}})).await,
        ErrorCode::UnsupportedService,
        "This authentication method is unsupported.",
    );
}

#[tokio::test]
async fn a_log_in_needs_a_string_username_or_email_and_a_password() {
    let world = world(AuthConfig::default()).await;
    let log_in = |params: Value| {
        let engine = world.engine.clone();
        async move { engine.log_in(&Caller::anonymous(), &body(params)).await }
    };
    assert_error(log_in(json!({"password": "pw"})).await, ErrorCode::UsernameMissing, "username/email is required.");
    assert_error(
        log_in(json!({"username": "", "password": "pw"})).await,
        ErrorCode::UsernameMissing,
        "username/email is required.",
    );
    assert_error(log_in(json!({"username": "a"})).await, ErrorCode::PasswordMissing, "password is required.");
    assert_error(
        log_in(json!({"username": {"$ne": null}, "password": "pw"})).await,
        ErrorCode::InvalidValue,
        "username must be a string",
    );
    assert_error(
        log_in(json!({"username": "nobody", "password": "pw"})).await,
        ErrorCode::ObjectNotFound,
        "Invalid username/password.",
    );
}

#[tokio::test]
async fn a_log_in_accepts_the_email_in_the_username_parameter_and_refuses_a_wrong_password() {
    let world = world(AuthConfig::default()).await;
    world
        .sign_up(json!({"username": "heidi", "password": "right", "email": "heidi@example.com"}))
        .await
        .expect("sign up");
    let by_email = world.log_in("heidi@example.com", "right").await.expect("the email works as the username");
    assert_eq!(by_email["username"], json!("heidi"));
    assert!(by_email.get("password").is_none());
    assert_error(world.log_in("heidi", "wrong").await, ErrorCode::ObjectNotFound, "Invalid username/password.");
    let both = body(json!({"username": "heidi", "email": "other@example.com", "password": "right"}));
    let mismatched = world.engine.log_in(&Caller::anonymous(), &both).await;
    assert_error(mismatched, ErrorCode::ObjectNotFound, "Invalid username/password.");
}

#[tokio::test]
async fn failed_log_ins_lock_the_account_for_the_configured_duration() {
    let world = world(AuthConfig {
        account_lockout: Some(AccountLockout { threshold: 2, duration_minutes: 10, unlock_on_password_reset: false }),
        ..AuthConfig::default()
    })
    .await;
    world.sign_up(json!({"username": "ivan", "password": "right"})).await.expect("sign up");
    for _ in 0..2 {
        assert_error(world.log_in("ivan", "wrong").await, ErrorCode::ObjectNotFound, "Invalid username/password.");
    }
    let locked = "Your account is locked due to multiple failed login attempts. Please try again after 10 minute(s)";
    assert_error(world.log_in("ivan", "right").await, ErrorCode::ObjectNotFound, locked);
    world.clock.advance_millis(10 * 60_000 - 1);
    let still = world.log_in("ivan", "right").await.unwrap_err();
    assert_eq!(still.code, ErrorCode::ObjectNotFound);
    assert!(still.message.starts_with("Your account is locked"), "{}", still.message);
    world.clock.advance_millis(1);
    assert!(world.log_in("ivan", "right").await.is_ok());
}

#[tokio::test]
async fn a_password_older_than_the_maximum_age_cannot_log_in() {
    let world = with_policy(PasswordPolicy { max_password_age_days: Some(1), ..PasswordPolicy::default() }).await;
    world.sign_up(json!({"username": "judy", "password": "pw"})).await.expect("sign up");
    assert!(world.log_in("judy", "pw").await.is_ok());
    world.clock.advance_millis(86_400_000 + 1);
    assert_error(
        world.log_in("judy", "pw").await,
        ErrorCode::ObjectNotFound,
        "Your password has expired. Please reset your password.",
    );
}

#[tokio::test]
async fn only_the_user_or_the_master_key_may_change_or_delete_a_user() {
    let world = world(AuthConfig::default()).await;
    let karl = world.sign_up(json!({"username": "karl", "password": "pw"})).await.expect("karl");
    let lena = world.sign_up(json!({"username": "lena", "password": "pw"})).await.expect("lena");
    let lena_token = lena.body["sessionToken"].as_str().expect("token");
    let lena = world.engine.caller_for_session(lena_token, None).await.expect("lena's caller");
    let rename = body(json!({"username": "karl2"}));
    assert_error(
        world.engine.update_object(&lena, &crate::test_support::class("_User"), &karl.object_id, &rename).await,
        ErrorCode::SessionMissing,
        &format!("Cannot modify user {}.", karl.object_id),
    );
    assert_error(
        world.engine.delete_object(&Caller::anonymous(), &crate::test_support::class("_User"), &karl.object_id).await,
        ErrorCode::SessionMissing,
        "Insufficient auth to delete user",
    );
    assert_error(
        world.engine.delete_object(&lena, &crate::test_support::class("_User"), &karl.object_id).await,
        ErrorCode::SessionMissing,
        &format!("Cannot modify user {}.", karl.object_id),
    );
    assert!(
        world
            .engine
            .update_object(&Caller::master(), &crate::test_support::class("_User"), &karl.object_id, &rename)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_user_cannot_lock_themselves_out_through_their_acl() {
    let world = world(AuthConfig::default()).await;
    let signed = world.sign_up(json!({"username": "mallory", "password": "pw"})).await.expect("sign up");
    let token = signed.body["sessionToken"].as_str().expect("token");
    let mallory = world.engine.caller_for_session(token, None).await.expect("caller");
    let locked_out = body(json!({"ACL": {"*": {"read": true}}}));
    world
        .engine
        .update_object(&mallory, &crate::test_support::class("_User"), &signed.object_id, &locked_out)
        .await
        .expect("update");
    let stored = world
        .engine
        .get_object(
            &Caller::master(),
            &crate::test_support::class("_User"),
            &signed.object_id,
            &crate::GetParams::default(),
        )
        .await
        .expect("stored");
    assert_eq!(stored["ACL"], json!({"*": {"read": true}, signed.object_id.clone(): {"read": true, "write": true}}));
}

#[test]
fn an_email_needs_something_on_both_sides_of_an_at_sign() {
    assert!(valid_email("a@b"));
    assert!(valid_email("first.last@example.co.uk"));
    for invalid in ["", "ab", "@b", "a@"] {
        assert!(!valid_email(invalid), "{invalid}");
    }
}

#[test]
fn a_unique_index_violation_during_a_sign_up_names_the_field_taken() {
    let duplicate = || basalt_core::ParseError::new(ErrorCode::DuplicateValue, "duplicate");
    let by_email = body(json!({"email": "a@b.c"}));
    assert_eq!(unique_error(duplicate(), &by_email).code, ErrorCode::EmailTaken);
    let by_name = body(json!({"username": "a", "email": "a@b.c"}));
    assert_eq!(unique_error(duplicate(), &by_name).code, ErrorCode::UsernameTaken);
    let other = basalt_core::ParseError::new(ErrorCode::InvalidJson, "x");
    assert_eq!(unique_error(other.clone(), &by_name), other);
}
