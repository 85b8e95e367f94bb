//! The engine's settings: what clients may do, users and sessions, limits, files, mail.

use std::sync::Arc;

use basalt_core::Limits;

use crate::{AuthAdapters, Clock, EmailConfig, FilesConfig};

/// Settings of the engine that change what clients may do.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// May a client (no master key) create a class by saving to it? Parse Server 9: no.
    pub allow_client_class_creation: bool,
    /// Base of file URLs: `{public server url}/files/{app id}/`.
    pub files_url_prefix: String,
    pub limits: Limits,
    pub auth: AuthConfig,
    /// Where "now" comes from (`SystemClock` outside tests).
    pub clock: Arc<dyn Clock>,
    pub email: EmailConfig,
    /// File storage; `None` refuses uploads.
    pub files: Option<FilesConfig>,
    /// Sent as `X-Parse-Webhook-Key` with every webhook call (`webhookKey`).
    pub webhook_key: Option<String>,
}

/// Users and sessions: Parse Server's options of the same names.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Lifetime of a new session (`sessionLength`, default one year).
    pub session_length_secs: i64,
    /// New users are readable and writable only by themselves (`enforcePrivateUsers`).
    pub enforce_private_users: bool,
    /// Changing a password ends the user's other sessions (`revokeSessionOnPasswordReset`).
    pub revoke_session_on_password_reset: bool,
    /// Log-in with `authData.anonymous` (`enableAnonymousUsers`).
    pub allow_anonymous_users: bool,
    pub account_lockout: Option<AccountLockout>,
    pub password_policy: Option<PasswordPolicy>,
    /// Adapters for `authData` providers other than `anonymous`.
    pub adapters: AuthAdapters,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_length_secs: 365 * 24 * 3600,
            enforce_private_users: true,
            revoke_session_on_password_reset: true,
            allow_anonymous_users: true,
            account_lockout: None,
            password_policy: None,
            adapters: AuthAdapters::default(),
        }
    }
}

/// `accountLockout`: after `threshold` failed log-ins the account is locked for `duration_minutes`.
#[derive(Clone, Debug)]
pub struct AccountLockout {
    pub threshold: i64,
    pub duration_minutes: i64,
    /// A password reset unlocks the account.
    pub unlock_on_password_reset: bool,
}

/// `passwordPolicy`.
#[derive(Clone, Debug, Default)]
pub struct PasswordPolicy {
    /// Passwords must match this pattern.
    pub validator_pattern: Option<String>,
    /// The message of a refused password (142).
    pub validation_error: Option<String>,
    /// Passwords may not contain the username.
    pub do_not_allow_username: bool,
    /// A new password may not equal any of the last N.
    pub max_password_history: usize,
    /// Passwords expire after this many days.
    pub max_password_age_days: Option<i64>,
}
