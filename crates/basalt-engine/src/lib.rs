//! What a Parse request can do, without HTTP: create, get, update, delete and find objects,
//! manage schemas, run batches and aggregations. Route handlers call an `Engine`; so will cloud
//! code, in-process. The engine owns the schema cache and the rules of Parse's data model; the
//! store does the SQL.

mod aggregate;
mod auth_adapters;
mod auth_oidc;
mod batch;
mod caller;
mod clock;
mod cluster;
mod config;
mod email;
mod events;
mod files;
mod find;
mod gate;
mod hooks;
mod keys;
mod object_id;
mod objects;
mod output;
mod password;
mod permissions;
mod rate_limit;
mod roles;
mod schema_cache;
mod schemas;
mod sessions;
mod triggers;
mod users;
mod webhooks;

use std::sync::Arc;

use basalt_core::{Limits, ParseResult};
use basalt_store::Store;

pub use auth_adapters::{AuthAdapter, AuthAdapters};
pub use auth_oidc::OidcAdapter;
pub use batch::{BatchItem, BatchMethod};
pub use caller::Caller;
pub use clock::{Clock, ManualClock, SystemClock};
pub use cluster::ClusterLink;
pub use email::{EmailConfig, EmailMessage, Mailer};
pub use events::{
    EventQueue, EventReceiver, LiveQueryEvent, LiveQueryView, ObjectEvent, Received, SessionsEnded, Watched,
    event_queue,
};
pub use files::{DownloadError, FileDownload, FilesConfig, SavedFile, file_data};
pub use find::{FindParams, FindResult, GetParams};
pub use hooks::{FunctionCall, HookFuture, Hooks, JobCall, TriggerCall, TriggerKind};
pub use keys::{Admission, AppKeys};
pub use password::{hash_parameters, verification_rate};
pub use rate_limit::{RateLimitRule, RateLimitZone};
pub use schema_cache::SchemaCache;
pub use users::SignUp;
pub use webhooks::HookTarget;

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

/// A cheap-to-clone handle over the store and the schema cache.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    schemas: SchemaCache,
    config: EngineConfig,
    /// LiveQuery's queue, when it runs.
    events: Option<EventQueue>,
    /// Other nodes on the same database, when there are (see `cluster`).
    cluster: Option<Arc<dyn ClusterLink>>,
    /// Cloud code, when there is.
    hooks: Option<Arc<dyn Hooks>>,
    webhooks: webhooks::Webhooks,
    rate_counters: rate_limit::RateCounters,
}

/// What the engine works with besides its store and settings; each is optional.
#[derive(Default)]
pub struct EngineParts {
    /// The other nodes on the same database. Join before the engine starts (it loads the
    /// schemas after), so no change announced meanwhile is missed.
    pub cluster: Option<Arc<dyn ClusterLink>>,
    /// Cloud code (its calls into the engine get the engine with each call).
    pub hooks: Option<Arc<dyn Hooks>>,
    /// LiveQuery's queue (`event_queue`; LiveQuery holds the receiving end).
    pub events: Option<EventQueue>,
}

impl Engine {
    /// Loads the schemas and the declared webhooks, and returns a ready engine.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn start(store: Arc<dyn Store>, config: EngineConfig, parts: EngineParts) -> ParseResult<Engine> {
        let schemas = SchemaCache::load(store.as_ref(), parts.cluster.clone()).await?;
        let webhooks = webhooks::Webhooks::new(config.webhook_key.clone());
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                schemas,
                config,
                events: parts.events,
                cluster: parts.cluster,
                hooks: parts.hooks,
                webhooks,
                rate_counters: rate_limit::RateCounters::default(),
            }),
        };
        engine.load_webhooks().await?;
        Ok(engine)
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.config.limits
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The current time, from the configured clock.
    pub(crate) fn now(&self) -> i64 {
        self.inner.config.clock.now_millis()
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn schemas(&self) -> &SchemaCache {
        &self.inner.schemas
    }
}
