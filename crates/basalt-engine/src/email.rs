//! Email verification and password reset (and the pages their links open): one-time tokens kept
//! with the user's secrets, mails sent through a `Mailer`, and the operations the link pages call.
//! Tokens are taken atomically, so a link works once even when followed twice at the same time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use basalt_core::acl::Access;
use basalt_core::query::Condition;
use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use basalt_store::{TokenKind, UserSecrets, WriteOp};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value};

use crate::conditions::{field_equals, set_field};
use crate::{Caller, Engine, TriggerKind};

/// One mail to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Sends mail (SMTP in the binary; a recorder in tests).
pub trait Mailer: Send + Sync + fmt::Debug {
    fn send(&self, message: EmailMessage) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Email settings: Parse Server's options of the same names.
#[derive(Clone, Debug, Default)]
pub struct EmailConfig {
    /// Shown in mails; Parse requires it for verification and resets.
    pub app_name: Option<String>,
    /// Where the link pages live: `{public server url}/apps/{app id}/`.
    pub pages_url_prefix: String,
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Send a verification mail on sign-up and email change (`verifyUserEmails`).
    pub verify_user_emails: bool,
    /// Refuse log-in (205) until the email is verified (`preventLoginWithUnverifiedEmail`).
    pub prevent_login_with_unverified_email: bool,
    /// Lifetime of a verification link, seconds (`emailVerifyTokenValidityDuration`).
    pub email_verify_token_validity_secs: Option<i64>,
    /// Lifetime of a reset link, seconds (`passwordPolicy.resetTokenValidityDuration`).
    pub reset_token_validity_secs: Option<i64>,
}

fn new_token() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect()
}

fn email_argument(body: &Map<String, Value>) -> ParseResult<String> {
    match body.get("email") {
        None | Some(Value::Null) => Err(ParseError::new(ErrorCode::EmailMissing, "you must provide an email")),
        Some(Value::String(email)) if !email.is_empty() => Ok(email.clone()),
        Some(Value::String(_)) => Err(ParseError::new(ErrorCode::EmailMissing, "you must provide an email")),
        Some(_) => Err(ParseError::new(ErrorCode::InvalidEmailAddress, "you must provide a valid email string")),
    }
}

impl Engine {
    fn email_config(&self) -> &EmailConfig {
        &self.config().email
    }

    /// The mailer and app name, or Parse's error for a server without them.
    fn mail_setup(&self) -> ParseResult<(Arc<dyn Mailer>, String)> {
        let config = self.email_config();
        match (&config.mailer, &config.app_name) {
            (Some(mailer), Some(app_name)) => Ok((Arc::clone(mailer), app_name.clone())),
            _ => Err(ParseError::internal(
                "An appName, publicServerURL, and emailAdapter are required for password reset and email verification functionality.",
            )),
        }
    }

    /// A fresh verification token for a user, to store with their secrets, and its expiry.
    pub(crate) fn new_verification_token(&self) -> (String, Option<i64>) {
        let expires = self
            .email_config()
            .email_verify_token_validity_secs
            .map(|secs| self.now().saturating_add(secs.saturating_mul(1000)));
        (new_token(), expires)
    }

    /// Sends a verification mail with a token already stored. Failures are logged: the write that
    /// asked for the mail has already succeeded.
    pub(crate) async fn send_verification_mail(&self, email: &str, token: &str) {
        let Ok((mailer, app_name)) = self.mail_setup() else {
            tracing::warn!("verifyUserEmails is on but no mailer or app name is configured");
            return;
        };
        let link = format!("{}verify_email?token={token}", self.email_config().pages_url_prefix);
        let message = EmailMessage {
            to: email.to_owned(),
            subject: format!("Please verify your e-mail for {app_name}"),
            text: format!(
                "Hi,\n\nYou are being asked to confirm the e-mail address {email} with {app_name}\n\nClick here to confirm it:\n{link}\n"
            ),
        };
        if let Err(error) = mailer.send(message).await {
            tracing::error!(%error, "could not send a verification mail");
        }
    }

    async fn user_by_email(&self, email: &str) -> ParseResult<Option<basalt_store::ObjectRecord>> {
        if self.schemas().get(&ClassName::system("_User")).is_none() {
            return Ok(None);
        }
        let by_email = field_equals("email", Value::String(email.to_owned()));
        let found = self.records_where(&ClassName::system("_User"), by_email, Some(1)).await?;
        if let Some(user) = found.into_iter().next() {
            return Ok(Some(user));
        }
        // Parse compat: a user without an email field is found by a username equal to it.
        let by_username = Condition::And(vec![
            field_equals("username", Value::String(email.to_owned())),
            Condition::Field {
                path: basalt_core::query::FieldPath { field: "email".into(), sub_keys: Vec::new() },
                constraint: basalt_core::query::Constraint::Exists(false),
            },
        ]);
        Ok(self.records_where(&ClassName::system("_User"), by_username, Some(1)).await?.into_iter().next())
    }

    /// `POST /requestPasswordReset` `{"email"}`: mails a reset link. An unknown email is not an
    /// error (no user enumeration).
    ///
    /// # Errors
    /// 204 without an email, 125 for a non-string one, 1 without a mailer and app name.
    pub async fn request_password_reset(&self, caller: &Caller, body: &Map<String, Value>) -> ParseResult<Value> {
        let email = email_argument(body)?;
        let (mailer, app_name) = self.mail_setup()?;
        let Some(user) = self.user_by_email(&email).await? else { return Ok(Value::Object(Map::new())) };
        let object = self.user_json(user.clone());
        self.run_auth_trigger(TriggerKind::BeforePasswordResetRequest, caller, object, None).await?;
        let mut secrets =
            self.store().user_secrets(&user.object_id).await.map_err(ParseError::from)?.unwrap_or_default();
        let token = new_token();
        secrets.reset_token = Some(token.clone());
        secrets.reset_token_expires_at = self
            .email_config()
            .reset_token_validity_secs
            .map(|secs| self.now().saturating_add(secs.saturating_mul(1000)));
        let op = WriteOp::PutUserSecrets { user_id: user.object_id.clone(), secrets };
        self.write_ops(self.schemas().snapshot(), vec![op], true).await.map_err(ParseError::from)?;
        let username = user.fields.get("username").and_then(Value::as_str).unwrap_or_default();
        let link = format!("{}request_password_reset?token={token}", self.email_config().pages_url_prefix);
        let to = user.fields.get("email").and_then(Value::as_str).unwrap_or(&email).to_owned();
        let message = EmailMessage {
            to,
            subject: format!("Password Reset for {app_name}"),
            text: format!(
                "Hi,\n\nYou requested to reset your password for {app_name} ({username}).\n\nClick here to reset it:\n{link}\n"
            ),
        };
        mailer.send(message).await.map_err(|error| ParseError::internal(format!("sending the reset mail: {error}")))?;
        Ok(Value::Object(Map::new()))
    }

    /// `POST /verificationEmailRequest` `{"email"}`: sends a new verification link. Unknown or
    /// already verified emails answer `{}` too (no user enumeration).
    ///
    /// # Errors
    /// 204 without an email, 125 for a non-string one, 1 without a mailer and app name.
    pub async fn request_verification_email(&self, body: &Map<String, Value>) -> ParseResult<Value> {
        let email = email_argument(body)?;
        self.mail_setup()?;
        let Some(user) = self.user_by_email(&email).await? else { return Ok(Value::Object(Map::new())) };
        if user.fields.get("emailVerified") == Some(&Value::Bool(true)) {
            return Ok(Value::Object(Map::new()));
        }
        let mut secrets =
            self.store().user_secrets(&user.object_id).await.map_err(ParseError::from)?.unwrap_or_default();
        let (token, expires) = self.new_verification_token();
        secrets.email_verify_token = Some(token.clone());
        secrets.email_verify_token_expires_at = expires;
        let op = WriteOp::PutUserSecrets { user_id: user.object_id.clone(), secrets };
        self.write_ops(self.schemas().snapshot(), vec![op], true).await.map_err(ParseError::from)?;
        self.send_verification_mail(&email, &token).await;
        Ok(Value::Object(Map::new()))
    }

    /// Follows a verification link: marks the email verified. `false` for an unknown, used or
    /// expired token.
    pub async fn verify_email(&self, token: &str) -> ParseResult<bool> {
        let Some(user_id) = self
            .store()
            .user_for_token(TokenKind::EmailVerification, token, self.now())
            .await
            .map_err(ParseError::from)?
        else {
            return Ok(false);
        };
        let ops = vec![WriteOp::Atomic(vec![
            WriteOp::TakeToken { kind: TokenKind::EmailVerification, token: token.to_owned(), now: self.now() },
            WriteOp::Update {
                class_name: ClassName::system("_User"),
                object_id: user_id,
                updated_at: basalt_core::time::format_iso(self.now()),
                access: Access::Master,
                acl: None,
                updates: vec![set_field("emailVerified", Value::Bool(true))],
                condition: Condition::all(),
            },
        ])];
        match self.write_ops(self.schemas().snapshot(), ops, true).await {
            Ok(_) => Ok(true),
            Err(error) if error.is_not_found() => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Is this a current password-reset token (the page before the form)?
    pub async fn reset_token_is_valid(&self, token: &str) -> ParseResult<bool> {
        let user =
            self.store().user_for_token(TokenKind::PasswordReset, token, self.now()).await.map_err(ParseError::from)?;
        Ok(user.is_some())
    }

    /// Sets a new password with a reset token; the token works once. Ends the user's sessions.
    ///
    /// # Errors
    /// 101 for an unknown, used or expired token; 142 for a password the policy refuses.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> ParseResult<()> {
        let invalid = || ParseError::object_not_found_with("Invalid or expired password reset link.");
        if new_password.is_empty() {
            return Err(ParseError::new(ErrorCode::PasswordMissing, "password is required"));
        }
        let Some(user_id) =
            self.store().user_for_token(TokenKind::PasswordReset, token, self.now()).await.map_err(ParseError::from)?
        else {
            return Err(invalid());
        };
        let user = self
            .records_where(
                &ClassName::system("_User"),
                field_equals("objectId", Value::String(user_id.clone())),
                Some(1),
            )
            .await?;
        let username =
            user.first().and_then(|user| user.fields.get("username")).and_then(Value::as_str).map(str::to_owned);
        let mut secrets: UserSecrets =
            self.store().user_secrets(&user_id).await.map_err(ParseError::from)?.unwrap_or_default();
        self.set_new_password(&mut secrets, new_password, username.as_deref()).await?;
        let mut group = vec![
            WriteOp::TakeToken { kind: TokenKind::PasswordReset, token: token.to_owned(), now: self.now() },
            WriteOp::PutUserSecrets { user_id: user_id.clone(), secrets },
        ];
        if self.config().auth.revoke_session_on_password_reset {
            group.push(self.end_sessions(&user_id, None));
        }
        match self.write_ops(self.schemas().snapshot(), vec![WriteOp::Atomic(group)], true).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => Err(invalid()),
            Err(error) => Err(error.into()),
        }
    }
}
