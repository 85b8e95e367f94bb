//! Users (`_User`): sign-up, log-in, the current user, updates and deletes with
//! the rules Parse applies to them — hashed passwords, unique usernames and emails
//! (case-insensitive), private users, password changes that end other sessions, and `authData`
//! (anonymous users and auth adapters).

use basalt_core::acl::{Access, Acl};
use basalt_core::query::{Condition, Constraint, FieldPath, RegexPattern};
use basalt_core::update::UpdateOp;
use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use basalt_store::{FieldUpdate, ObjectRecord, UserSecrets, WriteOp, WriteOutcome};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value};

use crate::conditions::{field_equals, set_field};
use crate::objects::{Created, PreparedWrite, WriteKind, push_once};
use crate::output::object_json;
use crate::password::{Verified, hash_password, verify_password};
use crate::sessions::SessionOrigin;
use crate::{Caller, Engine, TriggerKind};

fn equals_ignoring_case(field: &str, text: &str) -> Condition {
    Condition::Field {
        path: FieldPath { field: field.to_owned(), sub_keys: Vec::new() },
        constraint: Constraint::Regex(RegexPattern { pattern: format!("(?i)^{}$", regex::escape(text)) }),
    }
}

fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty(),
        None => false,
    }
}

fn random_username() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(25).map(char::from).collect()
}

impl Engine {
    fn check_auth_data(&self, auth_data: &Map<String, Value>) -> ParseResult<()> {
        let auth = &self.config().auth;
        crate::auth_adapters::check_auth_data(auth_data, auth.allow_anonymous_users, &auth.adapters, self.now())
    }

    async fn user_with(&self, condition: Condition) -> ParseResult<Option<ObjectRecord>> {
        self.system_class("_User").await?;
        Ok(self.records_where(&ClassName::system("_User"), condition, Some(1)).await?.into_iter().next())
    }

    /// Refuses a username or email another user has (case-insensitively).
    async fn check_unique_identity(&self, body: &Map<String, Value>, own_id: Option<&str>) -> ParseResult<()> {
        let others =
            |record: &Option<ObjectRecord>| record.as_ref().is_some_and(|user| Some(user.object_id.as_str()) != own_id);
        if let Some(Value::String(username)) = body.get("username")
            && others(&self.user_with(equals_ignoring_case("username", username)).await?)
        {
            return Err(ParseError::new(ErrorCode::UsernameTaken, "Account already exists for this username."));
        }
        if let Some(Value::String(email)) = body.get("email")
            && others(&self.user_with(equals_ignoring_case("email", email)).await?)
        {
            return Err(ParseError::new(ErrorCode::EmailTaken, "Account already exists for this email address."));
        }
        Ok(())
    }

    /// A password change (update or reset): checks the policy and history, keeps the old hash in
    /// the history, stores the new one, ends any reset token and, when configured, the lockout.
    pub(crate) async fn set_new_password(
        &self,
        secrets: &mut UserSecrets,
        password: &str,
        username: Option<&str>,
    ) -> ParseResult<()> {
        self.check_password_policy(password, username)?;
        self.check_password_history(password, secrets).await?;
        if let Some(old) = secrets.hashed_password.take() {
            secrets.password_history.insert(0, old);
            let history_max =
                self.config().auth.password_policy.as_ref().map_or(0, |policy| policy.max_password_history);
            secrets.password_history.truncate(history_max);
        }
        secrets.hashed_password = Some(hash_password(password.to_owned()).await?);
        secrets.password_changed_at = Some(self.now());
        secrets.reset_token = None;
        secrets.reset_token_expires_at = None;
        if self.config().auth.account_lockout.as_ref().is_some_and(|lockout| lockout.unlock_on_password_reset) {
            secrets.failed_login_count = 0;
            secrets.lockout_expires_at = None;
        }
        Ok(())
    }

    /// Refuses a password equal to one of the user's last N (`maxPasswordHistory`).
    async fn check_password_history(&self, password: &str, secrets: &UserSecrets) -> ParseResult<()> {
        let history_max = self.config().auth.password_policy.as_ref().map_or(0, |policy| policy.max_password_history);
        if history_max == 0 {
            return Ok(());
        }
        let mut previous: Vec<String> = secrets.hashed_password.iter().cloned().collect();
        previous.extend(secrets.password_history.iter().take(history_max.saturating_sub(1)).cloned());
        for old in previous {
            if verify_password(password.to_owned(), Some(old)).await? != Verified::No {
                return Err(ParseError::new(
                    ErrorCode::ValidationError,
                    format!("New password should not be the same as last {history_max} passwords."),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn check_password_policy(&self, password: &str, username: Option<&str>) -> ParseResult<()> {
        let Some(policy) = &self.config().auth.password_policy else { return Ok(()) };
        let refused = || {
            ParseError::new(
                ErrorCode::ValidationError,
                policy
                    .validation_error
                    .clone()
                    .unwrap_or_else(|| "Password does not meet the Password Policy requirements.".into()),
            )
        };
        if let Some(pattern) = &policy.validator_pattern {
            let matches = regex::Regex::new(pattern).map(|regex| regex.is_match(password)).unwrap_or(false);
            if !matches {
                return Err(refused());
            }
        }
        if policy.do_not_allow_username
            && let Some(username) = username.filter(|username| !username.is_empty())
            && password.contains(username)
        {
            return Err(ParseError::new(ErrorCode::ValidationError, "Password cannot contain your username."));
        }
        Ok(())
    }

    /// Checks the body of a new user and builds the writes: the user, its secrets, its session.
    pub(crate) async fn prepare_sign_up(
        &self,
        caller: &Caller,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let mut body = body.clone();
        let password = body.remove("password");
        let auth_data = match body.get("authData") {
            None | Some(Value::Null) => None,
            Some(Value::Object(auth_data)) => Some(auth_data.clone()),
            Some(_) => return Err(ParseError::invalid_json("authData must be an object")),
        };
        let has_auth_data = auth_data.as_ref().is_some_and(|auth_data| auth_data.values().any(|data| !data.is_null()));
        if let Some(auth_data) = &auth_data {
            self.check_auth_data(auth_data)?;
        }
        match body.get("username") {
            Some(Value::String(username)) if !username.is_empty() => {}
            None | Some(Value::Null) if has_auth_data => {
                body.insert("username".into(), Value::String(random_username()));
            }
            _ => return Err(ParseError::new(ErrorCode::UsernameMissing, "bad or missing username")),
        }
        let password = match password {
            Some(Value::String(password)) if !password.is_empty() => Some(password),
            None | Some(Value::Null) if has_auth_data => None,
            _ => return Err(ParseError::new(ErrorCode::PasswordMissing, "password is required")),
        };
        match body.get("email") {
            None | Some(Value::Null) => {}
            Some(Value::String(email)) if valid_email(email) => {}
            Some(_) => return Err(ParseError::new(ErrorCode::InvalidEmailAddress, "Email address format is invalid.")),
        }
        if body.contains_key("emailVerified") && !caller.is_master {
            return Err(ParseError::forbidden("Clients aren't allowed to manually update email verification."));
        }
        if let Some(password) = &password {
            self.check_password_policy(password, body.get("username").and_then(Value::as_str))?;
        }
        // The permission before uniqueness: with sign-up closed, a taken and a free username
        // (or email) get the same answer, so the refusal tells nobody which accounts exist.
        let users = self.system_class("_User").await?;
        self.class_permission(caller, &users, basalt_core::clp::ClpOperation::Create)?;
        self.check_unique_identity(&body, None).await?;
        let mut prepared = self.prepare_generic_create(caller, &ClassName::system("_User"), &body).await?;
        let WriteOp::Insert { object_id, acl, .. } = &mut prepared.op else {
            return Err(ParseError::internal("a sign-up did not prepare an insert"));
        };
        let user_id = object_id.clone();
        let own = |acl: &mut Acl| {
            acl.read.insert(user_id.clone());
            acl.write.insert(user_id.clone());
        };
        match acl {
            Some(acl) => own(acl),
            None if self.config().auth.enforce_private_users => {
                let mut private = Acl::default();
                own(&mut private);
                *acl = Some(private);
            }
            None => {
                let mut public_read = Acl::default();
                public_read.read.insert("*".into());
                own(&mut public_read);
                *acl = Some(public_read);
            }
        }
        let email = body.get("email").and_then(Value::as_str).map(str::to_owned);
        let verify = self.config().email.verify_user_emails && email.is_some();
        if verify
            && !body.contains_key("emailVerified")
            && let WriteOp::Insert { updates, .. } = &mut prepared.op
        {
            updates.push(set_field("emailVerified", Value::Bool(false)));
        }
        let mut ops = vec![prepared.op.clone()];
        let mut secrets = UserSecrets::default();
        if verify {
            let (token, expires) = self.new_verification_token();
            secrets.email_verify_token = Some(token.clone());
            secrets.email_verify_token_expires_at = expires;
            prepared.pending_mail = email.map(|email| (email, token));
        }
        if let Some(password) = password {
            secrets.hashed_password = Some(hash_password(password).await?);
            secrets.password_changed_at = Some(self.now());
        }
        if secrets != UserSecrets::default() {
            ops.push(WriteOp::PutUserSecrets { user_id: user_id.clone(), secrets });
        }
        let provider = auth_data
            .as_ref()
            .and_then(|auth_data| {
                auth_data.iter().find(|(_, data)| !data.is_null()).map(|(provider, _)| provider.clone())
            })
            .unwrap_or_else(|| "password".into());
        // Parse compat: with preventLoginWithUnverifiedEmail a new user gets no session until the
        // email is verified.
        let withhold_session = verify && self.config().email.prevent_login_with_unverified_email;
        if !withhold_session {
            let crate::sessions::NewSession { ops: session_ops, token } = self
                .new_session(
                    &user_id,
                    caller.installation_id.as_deref(),
                    // Parse compat: a sign-up through authData is recorded as a log-in with it.
                    SessionOrigin {
                        action: if provider == "password" { "signup" } else { "login" },
                        auth_provider: &provider,
                    },
                    Map::new(),
                )
                .await?;
            ops.extend(session_ops);
            prepared.extra.insert("sessionToken".into(), Value::String(token));
        }
        prepared.op = WriteOp::Atomic(ops);
        if has_auth_data {
            push_once(&mut prepared.echo, "username".into());
            // Parse compat: authData sign-ups answer with what the adapters returned (none here).
            prepared.extra.insert("authDataResponse".into(), Value::Object(Map::new()));
        }
        Ok(prepared)
    }

    /// `POST /users` (and `POST /classes/_User`).
    ///
    /// # Errors
    /// 200/201 missing username/password, 202/203 taken, 125 bad email, 119 `emailVerified`
    /// from a client, 142 password policy, 252 unsupported auth provider.
    pub async fn sign_up(&self, caller: &Caller, body: &Map<String, Value>) -> ParseResult<Created> {
        if let Some(Value::Object(auth_data)) = body.get("authData") {
            self.check_auth_data(auth_data)?;
            for (provider, data) in auth_data {
                let Some(id) = data.get("id").and_then(Value::as_str) else { continue };
                let condition = Condition::Field {
                    path: FieldPath { field: "authData".into(), sub_keys: vec![provider.clone(), "id".into()] },
                    constraint: Constraint::Equals(Value::String(id.to_owned())),
                };
                if let Some(user) = self.user_with(condition).await? {
                    let body = self.start_session_for(caller, user, "login", provider).await?;
                    let object_id = body.get("objectId").and_then(Value::as_str).unwrap_or_default().to_owned();
                    return Ok(Created { created: false, object_id, body });
                }
            }
        }
        let crate::triggers::SaveTriggered { body: written, changed, context } =
            self.before_save(caller, "_User", None, body).await?;
        let prepared = self.prepare_sign_up(caller, &written).await?;
        let prepared = prepared.with_before_save(changed.into_iter().filter(|key| key != "password"), context);
        let body = self.run_prepared(caller, prepared).await.map_err(|error| unique_error(error, body))?;
        let object_id = body.get("objectId").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(Created { created: true, object_id, body })
    }

    /// Starts a session for a user who proved who they are; returns the user and the token.
    async fn start_session_for(
        &self,
        caller: &Caller,
        user: ObjectRecord,
        action: &str,
        provider: &str,
    ) -> ParseResult<Map<String, Value>> {
        let logging_in = action == "login";
        if logging_in {
            let object = self.user_json(user.clone());
            self.run_auth_trigger(TriggerKind::BeforeLogin, caller, object, None).await?;
        }
        let crate::sessions::NewSession { ops, token } = self
            .new_session(
                &user.object_id,
                caller.installation_id.as_deref(),
                SessionOrigin { action, auth_provider: provider },
                Map::new(),
            )
            .await?;
        self.write_ops(self.schemas().snapshot(), vec![WriteOp::Atomic(ops)], true).await.map_err(ParseError::from)?;
        let mut body = self.user_json(user);
        body.insert("sessionToken".into(), Value::String(token));
        if logging_in && provider == "password" {
            // Parse compat: afterLogin runs for password log-ins only (beforeLogin for authData
            // log-ins too); the session exists already, yet a failing afterLogin fails the call.
            self.run_auth_trigger(TriggerKind::AfterLogin, caller, body.clone(), Some(body.clone())).await?;
        }
        Ok(body)
    }

    pub(crate) fn user_json(&self, user: ObjectRecord) -> Map<String, Value> {
        let schema = self.schemas().get(&ClassName::system("_User")).expect("the _User class exists once a user does");
        let mut body = object_json(&schema, user, &self.config().files_url_prefix);
        body.remove("password");
        body
    }

    /// `POST /login` (or `GET /login`) with `username` or `email` and `password`.
    ///
    /// # Errors
    /// 200 without username and email, 201 without password, 101 for wrong credentials or a
    /// locked account.
    pub async fn log_in(&self, caller: &Caller, params: &Map<String, Value>) -> ParseResult<Map<String, Value>> {
        let text = |key: &str| -> ParseResult<Option<String>> {
            match params.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                // Parse compat: credentials arrive as strings; objects such as {"$ne":null} are refused.
                Some(_) => Err(ParseError::new(ErrorCode::InvalidValue, format!("{key} must be a string"))),
            }
        };
        let username = text("username")?.filter(|value| !value.is_empty());
        let email = text("email")?.filter(|value| !value.is_empty());
        let password = text("password")?;
        if username.is_none() && email.is_none() {
            return Err(ParseError::new(ErrorCode::UsernameMissing, "username/email is required."));
        }
        let Some(password) = password.filter(|password| !password.is_empty()) else {
            return Err(ParseError::new(ErrorCode::PasswordMissing, "password is required."));
        };
        let condition = match (&username, &email) {
            (Some(username), Some(email)) => Condition::And(vec![
                field_equals("username", Value::String(username.clone())),
                field_equals("email", Value::String(email.clone())),
            ]),
            (Some(username), None) => Condition::Or(vec![
                field_equals("username", Value::String(username.clone())),
                field_equals("email", Value::String(username.clone())),
            ]),
            (None, Some(email)) => field_equals("email", Value::String(email.clone())),
            (None, None) => unreachable!("checked above"),
        };
        let user = self.user_with(condition).await?;
        let user = self.check_password(user, password).await?;
        let email_config = &self.config().email;
        if email_config.verify_user_emails
            && email_config.prevent_login_with_unverified_email
            && user.fields.get("email").is_some()
            && user.fields.get("emailVerified") != Some(&Value::Bool(true))
        {
            return Err(ParseError::new(ErrorCode::EmailNotFound, "User email is not verified."));
        }
        self.start_session_for(caller, user, "login", "password").await
    }

    /// Verifies a password for a found user, counting failures toward a lockout.
    async fn check_password(&self, user: Option<ObjectRecord>, password: String) -> ParseResult<ObjectRecord> {
        let invalid = || ParseError::object_not_found_with("Invalid username/password.");
        let secrets = match &user {
            Some(user) => self.store().user_secrets(&user.object_id).await.map_err(ParseError::from)?,
            None => None,
        };
        let now = self.now();
        if let (Some(lockout), Some(secrets)) = (&self.config().auth.account_lockout, &secrets)
            && let Some(until) = secrets.lockout_expires_at.filter(|until| *until > now)
        {
            let minutes = ((until - now) as f64 / 60_000.0).ceil().max(1.0) as i64;
            let _ = lockout;
            return Err(ParseError::object_not_found_with(format!(
                "Your account is locked due to multiple failed login attempts. Please try again after {minutes} minute(s)"
            )));
        }
        let stored = secrets.as_ref().and_then(|secrets| secrets.hashed_password.clone());
        let verified = verify_password(password.clone(), stored).await?;
        let (Some(user), Some(mut secrets)) = (user, secrets) else { return Err(invalid()) };
        if verified == Verified::No {
            if let Some(lockout) = &self.config().auth.account_lockout {
                let lock_until = now.saturating_add(lockout.duration_minutes.saturating_mul(60_000));
                let op = WriteOp::RecordLoginFailure {
                    user_id: user.object_id.clone(),
                    threshold: lockout.threshold,
                    lock_until,
                };
                self.write_ops(self.schemas().snapshot(), vec![op], true).await.map_err(ParseError::from)?;
            }
            return Err(invalid());
        }
        if user.acl.as_ref().is_some_and(|acl| acl.read.is_empty() && acl.write.is_empty()) {
            return Err(invalid());
        }
        if let Some(policy) = &self.config().auth.password_policy
            && let (Some(days), Some(changed)) = (policy.max_password_age_days, secrets.password_changed_at)
            && changed.saturating_add(days.saturating_mul(86_400_000)) < now
        {
            return Err(ParseError::object_not_found_with("Your password has expired. Please reset your password."));
        }
        let mut changed = false;
        if secrets.failed_login_count != 0 || secrets.lockout_expires_at.is_some() {
            secrets.failed_login_count = 0;
            secrets.lockout_expires_at = None;
            changed = true;
        }
        if verified == Verified::YesRehash {
            secrets.hashed_password = Some(hash_password(password).await?);
            changed = true;
        }
        if changed {
            let op = WriteOp::PutUserSecrets { user_id: user.object_id.clone(), secrets };
            self.write_ops(self.schemas().snapshot(), vec![op], true).await.map_err(ParseError::from)?;
        }
        Ok(user)
    }

    /// `GET /users/me`.
    ///
    /// # Errors
    /// 209 without a valid session.
    pub async fn current_user(&self, caller: &Caller) -> ParseResult<Map<String, Value>> {
        let (Some(user_id), Some(token)) = (&caller.user_id, &caller.session_token) else {
            return Err(ParseError::new(ErrorCode::InvalidSessionToken, "Invalid session token"));
        };
        let user = self
            .user_with(field_equals("objectId", Value::String(user_id.clone())))
            .await?
            .ok_or_else(|| ParseError::new(ErrorCode::InvalidSessionToken, "Invalid session token"))?;
        let mut body = self.user_json(user);
        body.insert("sessionToken".into(), Value::String(token.clone()));
        Ok(body)
    }

    fn check_own_user(&self, caller: &Caller, object_id: &str, deleting: bool) -> ParseResult<()> {
        if caller.is_master {
            return Ok(());
        }
        // Parse compat: another user's session gets 206 like no session at all.
        match &caller.user_id {
            Some(user_id) if user_id == object_id => Ok(()),
            None if deleting => Err(ParseError::new(ErrorCode::SessionMissing, "Insufficient auth to delete user")),
            _ => Err(ParseError::new(ErrorCode::SessionMissing, format!("Cannot modify user {object_id}."))),
        }
    }

    /// An update of a user: only by that user (or the master key); passwords hashed and other
    /// sessions ended; username/email kept unique; `authData` merged per provider.
    pub(crate) async fn prepare_user_update(
        &self,
        caller: &Caller,
        object_id: &str,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        if body.contains_key("emailVerified") && !caller.is_master {
            return Err(ParseError::forbidden("Clients aren't allowed to manually update email verification."));
        }
        self.check_own_user(caller, object_id, false)?;
        let mut body = body.clone();
        let password = body.remove("password");
        let auth_data = body.remove("authData");
        match body.get("username") {
            None => {}
            Some(Value::String(username)) if !username.is_empty() => {}
            Some(_) => return Err(ParseError::new(ErrorCode::UsernameMissing, "bad or missing username")),
        }
        match body.get("email") {
            None | Some(Value::Null) => {}
            Some(Value::String(email)) if valid_email(email) => {}
            Some(_) => return Err(ParseError::new(ErrorCode::InvalidEmailAddress, "Email address format is invalid.")),
        }
        self.check_unique_identity(&body, Some(object_id)).await?;
        let current = self
            .user_with(field_equals("objectId", Value::String(object_id.to_owned())))
            .await?
            .ok_or_else(ParseError::object_not_found)?;
        if !caller.is_master
            && let Some(acl) = body.get_mut("ACL").and_then(Value::as_object_mut)
        {
            // A user can't lock themselves out of their own account.
            acl.insert(object_id.to_owned(), serde_json::json!({"read": true, "write": true}));
        }
        let mut prepared = self.prepare_generic_update(caller, &ClassName::system("_User"), object_id, &body).await?;
        let WriteOp::Update { updates, .. } = &mut prepared.op else {
            return Err(ParseError::internal("a user update did not prepare an update"));
        };
        let mut provider_changes = Vec::new();
        if let Some(auth_data) = auth_data {
            let Value::Object(auth_data) = auth_data else {
                return Err(ParseError::invalid_json("authData must be an object"));
            };
            self.check_auth_data(&auth_data)?;
            for (provider, data) in auth_data {
                if let Some(id) = data.get("id").and_then(Value::as_str) {
                    let condition = Condition::Field {
                        path: FieldPath { field: "authData".into(), sub_keys: vec![provider.clone(), "id".into()] },
                        constraint: Constraint::Equals(Value::String(id.to_owned())),
                    };
                    if self.user_with(condition).await?.is_some_and(|other| other.object_id != object_id) {
                        return Err(ParseError::new(ErrorCode::AccountAlreadyLinked, "this auth is already used"));
                    }
                }
                let op = if data.is_null() {
                    UpdateOp::Delete
                } else {
                    UpdateOp::Set(basalt_core::value::normalize_nested(&data)?)
                };
                provider_changes
                    .push(FieldUpdate { path: FieldPath { field: "authData".into(), sub_keys: vec![provider] }, op });
            }
        }
        if !provider_changes.is_empty()
            && self.schemas().get(&ClassName::system("_User")).and_then(|s| s.field_type("authData").cloned()).is_none()
        {
            self.store()
                .ensure_fields(
                    &ClassName::system("_User"),
                    vec![(basalt_core::FieldName::internal("authData"), basalt_core::FieldType::Object)],
                    false,
                )
                .await
                .map(|schema| self.schemas().put(schema))
                .map_err(ParseError::from)?;
        }
        updates.extend(provider_changes);
        let email_changed = match body.get("email") {
            Some(Value::String(email)) => current.fields.get("email").and_then(Value::as_str) != Some(email.as_str()),
            _ => false,
        };
        let verify_new_email =
            email_changed && self.config().email.verify_user_emails && !body.contains_key("emailVerified");
        if verify_new_email {
            updates.push(set_field("emailVerified", Value::Bool(false)));
        }
        let password = match password {
            None | Some(Value::Null) => None,
            Some(Value::String(password)) if !password.is_empty() => Some(password),
            Some(_) => return Err(ParseError::new(ErrorCode::PasswordMissing, "password is required")),
        };
        if password.is_none() && !verify_new_email {
            return Ok(prepared);
        }
        let mut secrets = self.store().user_secrets(object_id).await.map_err(ParseError::from)?.unwrap_or_default();
        let mut ops = vec![prepared.op.clone()];
        if verify_new_email {
            let (token, expires) = self.new_verification_token();
            secrets.email_verify_token = Some(token.clone());
            secrets.email_verify_token_expires_at = expires;
            let email = body.get("email").and_then(Value::as_str).unwrap_or_default().to_owned();
            prepared.pending_mail = Some((email, token));
        }
        if let Some(password) = password {
            let username =
                body.get("username").and_then(Value::as_str).or(current.fields.get("username").and_then(Value::as_str));
            self.set_new_password(&mut secrets, &password, username).await?;
            if self.config().auth.revoke_session_on_password_reset {
                ops.push(self.end_sessions(object_id, None));
                if caller.user_id.as_deref() == Some(object_id) {
                    let crate::sessions::NewSession { ops: session_ops, token } = self
                        .new_session(
                            object_id,
                            caller.installation_id.as_deref(),
                            SessionOrigin { action: "upgrade", auth_provider: "password" },
                            Map::new(),
                        )
                        .await?;
                    ops.extend(session_ops);
                    prepared.extra.insert("sessionToken".into(), Value::String(token));
                }
            }
        }
        ops.insert(1, WriteOp::PutUserSecrets { user_id: object_id.to_owned(), secrets });
        prepared.op = WriteOp::Atomic(ops);
        Ok(prepared)
    }

    /// A delete of a user: only by that user (or the master key); their sessions go too.
    pub(crate) fn prepare_user_delete(&self, caller: &Caller, object_id: &str) -> ParseResult<PreparedWrite> {
        self.check_own_user(caller, object_id, true)?;
        if self.schemas().get(&ClassName::system("_User")).is_none() {
            return Err(ParseError::object_not_found());
        }
        let access = if caller.is_master { Access::Master } else { caller.access() };
        let schema = self.schemas().get(&ClassName::system("_User")).ok_or_else(ParseError::object_not_found)?;
        let condition = self.class_permission(caller, &schema, basalt_core::clp::ClpOperation::Delete)?;
        let op = WriteOp::Atomic(vec![
            WriteOp::Delete {
                class_name: ClassName::system("_User"),
                object_id: object_id.to_owned(),
                access,
                condition,
            },
            self.end_sessions(object_id, None),
        ]);
        Ok(PreparedWrite::new(WriteKind::Delete, op))
    }

    /// `POST /sessions`: a new session for the calling user (or, with the master key, for the
    /// `user` in the body).
    pub(crate) async fn prepare_session_create(
        &self,
        caller: &Caller,
        body: &Map<String, Value>,
    ) -> ParseResult<PreparedWrite> {
        let mut body = body.clone();
        let user_id = if caller.is_master {
            let user = body.remove("user");
            user.as_ref()
                .and_then(|user| user.get("objectId"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| caller.user_id.clone())
        } else {
            crate::roles::check_session_create(&body)?;
            caller.user_id.clone()
        };
        let Some(user_id) = user_id else {
            return Err(ParseError::new(ErrorCode::InvalidSessionToken, "Session token required."));
        };
        let schema = self.system_class("_Session").await?;
        let mut extra_fields = Map::new();
        let mut new_fields = Vec::new();
        for (key, value) in body {
            let field = basalt_core::FieldName::parse(&key)?;
            let Some(field_type) = basalt_core::schema::infer_type(&value)? else { continue };
            match schema.field_type(&key) {
                Some(existing) if *existing != field_type => {
                    return Err(basalt_core::value::schema_mismatch(&schema.class_name, &key, existing, &field_type));
                }
                Some(_) => {}
                None => new_fields.push((field, field_type.clone())),
            }
            let value = basalt_core::value::normalize_field_value(&schema.class_name, &key, &field_type, &value)?;
            extra_fields.insert(key, value);
        }
        if !new_fields.is_empty() {
            let grown = self
                .store()
                .ensure_fields(&ClassName::system("_Session"), new_fields, false)
                .await
                .map_err(ParseError::from)?;
            self.schemas().put(grown);
        }
        let mut echo: Vec<String> =
            ["sessionToken", "user", "createdWith", "expiresAt", "installationId"].map(String::from).to_vec();
        echo.extend(extra_fields.keys().cloned());
        let crate::sessions::NewSession { ops, token } = self
            .new_session(
                &user_id,
                caller.installation_id.as_deref(),
                SessionOrigin { action: "create", auth_provider: "password" },
                extra_fields,
            )
            .await?;
        let _ = token;
        let extra = Map::new();
        let op = match ops.len() {
            1 => ops.into_iter().next().expect("one op"),
            _ => {
                let mut ops = ops;
                let insert = ops.pop().expect("insert last");
                ops.insert(0, insert);
                WriteOp::Atomic(ops)
            }
        };
        Ok(PreparedWrite { echo, extra, ..PreparedWrite::new(WriteKind::Create, op) })
    }

    /// Runs a prepared write alone and returns Parse's response body.
    pub(crate) async fn run_prepared(
        &self,
        caller: &Caller,
        prepared: PreparedWrite,
    ) -> ParseResult<Map<String, Value>> {
        let mut outcomes = self
            .write_ops(self.schemas().snapshot(), vec![prepared.op.clone()], true)
            .await
            .map_err(ParseError::from)?;
        let outcome: WriteOutcome = outcomes
            .pop()
            .ok_or_else(|| ParseError::internal("the store returned no outcome"))?
            .map_err(ParseError::from)?;
        self.publish_outcome(&prepared.op, &outcome).await;
        self.after_write(caller, &prepared, &outcome).await;
        self.send_pending_mail(&prepared).await;
        Ok(self.write_response(&prepared, outcome))
    }

    /// Sends the verification mail a committed write asked for.
    pub(crate) async fn send_pending_mail(&self, prepared: &PreparedWrite) {
        if let Some((email, token)) = &prepared.pending_mail {
            self.send_verification_mail(email, token).await;
        }
    }
}

/// A unique-index violation during a sign-up means a concurrent sign-up took the name first.
fn unique_error(error: ParseError, body: &Map<String, Value>) -> ParseError {
    if error.code != ErrorCode::DuplicateValue {
        return error;
    }
    if body.get("email").is_some_and(Value::is_string) && body.get("username").is_none() {
        return ParseError::new(ErrorCode::EmailTaken, "Account already exists for this email address.");
    }
    ParseError::new(ErrorCode::UsernameTaken, "Account already exists for this username.")
}

#[cfg(test)]
mod tests;
