//! What a Parse request can do, without an HTTP server: create, get, update, delete and find
//! objects, manage schemas, run batches and aggregations, users, sessions, roles, files, cloud
//! code hooks and webhooks. Route handlers call an `Engine`; so does cloud code, in-process. The
//! engine owns the schema cache and the rules of Parse's data model; the store does the SQL.
//!
//! This file only declares: `engine` holds the `Engine` itself, `settings` its configuration,
//! and each other module an area (`objects`, `find` and `gate` for reads, `users`, `sessions`,
//! `roles`, `schemas`, `files`, `triggers` and `hooks` for cloud code, `webhooks`, `events` for
//! LiveQuery, `cluster` for other nodes…).

mod aggregate;
mod audiences;
mod auth_adapters;
mod auth_oidc;
mod batch;
mod caller;
mod clock;
mod cluster;
mod conditions;
mod config;
mod email;
mod engine;
mod events;
mod files;
mod find;
mod gate;
mod hooks;
mod installations;
mod keys;
mod object_id;
mod objects;
mod output;
mod password;
mod permissions;
mod push;
mod rate_limit;
mod roles;
mod schema_cache;
mod schemas;
mod sessions;
mod settings;
#[cfg(test)]
mod test_support;
mod triggers;
mod users;
mod webhooks;

pub use auth_adapters::{AuthAdapter, AuthAdapters};
pub use auth_oidc::OidcAdapter;
pub use batch::{BatchItem, BatchMethod};
pub use caller::Caller;
pub use clock::{Clock, ManualClock, SystemClock};
pub use cluster::ClusterLink;
pub use email::{EmailConfig, EmailMessage, Mailer};
pub use engine::{Engine, EngineParts};
pub use events::{
    EventQueue, EventReceiver, LiveQueryEvent, LiveQueryView, ObjectEvent, Received, SessionsEnded, Watched,
    event_queue,
};
pub use files::{DownloadError, FileDownload, FilesConfig, SavedFile, file_data};
pub use find::{FindParams, FindResult, GetParams};
pub use hooks::{FunctionCall, HookFuture, Hooks, JobCall, TriggerCall, TriggerKind};
pub use keys::{Admission, AppKeys};
pub use objects::Created;
pub use password::{hash_parameters, verification_rate};
pub use rate_limit::{RateLimitRule, RateLimitZone};
pub use schema_cache::SchemaCache;
pub use settings::{AccountLockout, AuthConfig, EngineConfig, PasswordPolicy};
pub use webhooks::HookTarget;
