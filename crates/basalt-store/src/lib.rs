//! Storage of Parse classes and objects behind one `Store` trait. Handlers and the engine never
//! see SQL: they hand the store typed queries (`basalt_core::query`) and typed writes
//! (`WriteOp`), and get back `ObjectRecord`s in Parse's canonical value encoding.
//!
//! Adapters: `sqlite` (embedded, the default) and `postgres` (several nodes on one database).
//! The `sql` module compiles queries per dialect; `plan` holds what both decide alike.

pub mod error;
mod plan;
pub mod postgres;
mod sql;
pub mod sqlite;
pub mod transfer;

use std::collections::HashMap;
use std::sync::Arc;

use basalt_core::acl::{Access, Acl};
use basalt_core::query::{Condition, FieldPath, OrderKey};
use basalt_core::update::UpdateOp;
use basalt_core::{ClassName, ClassSchema, FieldName, FieldSpec};
use serde_json::{Map, Value};

pub use error::{StoreError, StoreErrorKind, StoreResult};

/// Every class schema at one moment, by class name. Queries compile against one snapshot.
pub type Schemas = HashMap<ClassName, Arc<ClassSchema>>;

/// An object as stored: its system fields, its ACL and its field values (canonical encoding;
/// unset fields are absent; Relation fields are not stored here).
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectRecord {
    pub object_id: String,
    /// ISO-8601 (`time::format_iso`).
    pub created_at: String,
    pub updated_at: String,
    /// `None`: no ACL, public read and write.
    pub acl: Option<Acl>,
    pub fields: Map<String, Value>,
}

/// A query on one class.
#[derive(Clone, Debug)]
pub struct FindQuery {
    pub class_name: ClassName,
    pub condition: Condition,
    pub order: Vec<OrderKey>,
    /// `None`: no limit (the engine bounds what clients ask for).
    pub limit: Option<usize>,
    pub skip: usize,
    /// Top-level fields to return besides the system fields; `None` = all.
    pub fields: Option<Vec<String>>,
    pub access: Access,
}

/// One write. Writes are applied in one transaction per `Store::write` call when it is atomic.
#[derive(Clone, Debug)]
pub enum WriteOp {
    Insert {
        class_name: ClassName,
        object_id: String,
        created_at: String,
        acl: Option<Acl>,
        /// Field updates; on insert the ops apply to an empty object.
        updates: Vec<FieldUpdate>,
    },
    Update {
        class_name: ClassName,
        object_id: String,
        updated_at: String,
        /// The caller must hold write permission under the object's current ACL.
        access: Access,
        /// `Some(acl)` replaces the ACL (`Some(None)` removes it).
        acl: Option<Option<Acl>>,
        updates: Vec<FieldUpdate>,
        /// The object must also match this (pointer permissions); otherwise "not found".
        condition: Condition,
    },
    Delete {
        class_name: ClassName,
        object_id: String,
        access: Access,
        /// The object must also match this (pointer permissions); otherwise "not found".
        condition: Condition,
    },
    /// Several writes that succeed or fail together (a sign-up: user, secrets, session). The
    /// outcome is the first write's.
    Atomic(Vec<WriteOp>),
    /// Deletes every object of the class matching the condition (no ACL check: the engine
    /// decides who may). Outcome: `Deleted`.
    DeleteWhere { class_name: ClassName, condition: Condition },
    /// Writes an object exactly as a dump holds it (times, ACL, fields, a `_User`'s secrets), for
    /// `basalt import`. Outcome: `Written`.
    Restore { class_name: ClassName, object: Box<DumpedObject> },
    /// Adds relation members as a dump holds them: `(owningId, relatedId)` pairs of
    /// `class_name`'s Relation `field`. Outcome: `Deleted(None)` (nothing to report).
    RestoreRelation { class_name: ClassName, field: FieldName, pairs: Vec<(String, String)> },
    /// Replaces a `_User`'s secrets. Outcome: `Secrets`.
    PutUserSecrets { user_id: String, secrets: UserSecrets },
    /// Counts a failed log-in atomically: increments the failure count and, when it reaches
    /// `threshold`, locks the account until `lock_until` and resets the count. Outcome: `Secrets`.
    RecordLoginFailure { user_id: String, threshold: i64, lock_until: i64 },
    /// Takes a one-time token (email verification or password reset) if it is current: clears it
    /// and returns its user. Two concurrent requests cannot both take it. Outcome: `TokenTaken`;
    /// an unknown, used or expired token fails the write with 101 (so an `Atomic` group that
    /// starts with it does nothing).
    TakeToken { kind: TokenKind, token: String, now: i64 },
}

/// The one-time tokens a `_User` can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    EmailVerification,
    PasswordReset,
}

/// What a `_User` keeps outside its fields; never returned by a find. Times are Unix millis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserSecrets {
    pub hashed_password: Option<String>,
    pub failed_login_count: i64,
    pub lockout_expires_at: Option<i64>,
    pub password_changed_at: Option<i64>,
    /// Earlier password hashes, newest first.
    pub password_history: Vec<String>,
    pub email_verify_token: Option<String>,
    pub email_verify_token_expires_at: Option<i64>,
    pub reset_token: Option<String>,
    pub reset_token_expires_at: Option<i64>,
}

/// An object as `basalt export` writes it and `basalt import` restores it: everything stored for
/// it but its relation memberships (dumped per Relation field).
#[derive(Clone, Debug, PartialEq)]
pub struct DumpedObject {
    pub record: ObjectRecord,
    /// A `_User`'s secrets; `None` for other classes.
    pub secrets: Option<UserSecrets>,
}

/// One written key: a field (or a path inside an Object field) and what happens to it.
#[derive(Clone, Debug)]
pub struct FieldUpdate {
    pub path: FieldPath,
    pub op: UpdateOp,
}

/// What a write did. Inserts and updates return the object as it now is.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOutcome {
    /// An insert: the new object.
    Written(ObjectRecord),
    /// An update: the object before and after (LiveQuery needs both).
    Updated {
        before: Box<ObjectRecord>,
        after: Box<ObjectRecord>,
    },
    /// A delete: the deleted object (`None` for `DeleteWhere`).
    Deleted(Option<Box<ObjectRecord>>),
    Secrets(UserSecrets),
    /// The user whose token was taken, or `None` when the token was unknown or expired.
    TokenTaken(Option<String>),
}

/// A change to a class schema through `/schemas`.
#[derive(Clone, Debug, Default)]
pub struct SchemaChange {
    pub add_fields: Vec<(FieldName, FieldSpec)>,
    pub delete_fields: Vec<FieldName>,
    pub class_level_permissions: Option<Value>,
    /// Index name -> field name -> 1 | -1 | "text".
    pub add_indexes: Vec<(String, Vec<(FieldName, Value)>)>,
    pub delete_indexes: Vec<String>,
}

/// The storage of Parse data. Implementations keep blocking work off the async threads.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Every class schema in the database.
    async fn load_schemas(&self) -> StoreResult<Vec<ClassSchema>>;

    /// Creates a class with its fields.
    ///
    /// # Errors
    /// 103 "Class X already exists." when it does.
    async fn create_class(&self, schema: ClassSchema) -> StoreResult<ClassSchema>;

    /// Adds the fields (creating the class when `create_class` allows) unless they exist with
    /// the same type; returns the schema as it now is.
    ///
    /// # Errors
    /// 111 on a type conflict (also one raced in by another writer), 103 when the class is
    /// missing and may not be created.
    async fn ensure_fields(
        &self,
        class_name: &ClassName,
        fields: Vec<(FieldName, basalt_core::FieldType)>,
        create_class: bool,
    ) -> StoreResult<ClassSchema>;

    /// Applies a `/schemas` change.
    async fn update_class(&self, class_name: &ClassName, change: SchemaChange) -> StoreResult<ClassSchema>;

    /// Drops an empty class.
    ///
    /// # Errors
    /// 255 when it still holds objects.
    async fn delete_class(&self, class_name: &ClassName) -> StoreResult<()>;

    /// Deletes every object of the class, keeping the schema.
    async fn purge_class(&self, class_name: &ClassName) -> StoreResult<()>;

    /// Runs the writes, in order. With `atomic`, all of them commit or none does and the first
    /// failure is returned for the whole call; without, each succeeds or fails on its own.
    /// Returned only after commit, so an acknowledged write is durable.
    async fn write(
        &self,
        schemas: Arc<Schemas>,
        ops: Vec<WriteOp>,
        atomic: bool,
    ) -> StoreResult<Vec<StoreResult<WriteOutcome>>>;

    /// Objects matching the query.
    async fn find(&self, schemas: Arc<Schemas>, query: &FindQuery) -> StoreResult<Vec<ObjectRecord>>;

    /// How many objects match the query (ignoring order, limit, skip).
    async fn count(&self, schemas: Arc<Schemas>, query: FindQuery) -> StoreResult<u64>;

    /// A `_User`'s secrets, or `None` when there is no such user.
    async fn user_secrets(&self, user_id: &str) -> StoreResult<Option<UserSecrets>>;

    /// The user holding a current (unexpired) one-time token, without taking it.
    async fn user_for_token(&self, kind: TokenKind, token: &str, now: i64) -> StoreResult<Option<String>>;

    /// Up to `limit` objects of a class with objectIds after `after`, in objectId order, with
    /// their secrets (for `basalt export`).
    async fn dump_objects(
        &self,
        schemas: Arc<Schemas>,
        class_name: &ClassName,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<DumpedObject>> {
        use basalt_core::query::{Comparison, Constraint};
        let object_id = || FieldPath { field: "objectId".into(), sub_keys: Vec::new() };
        let condition = match after {
            Some(after) => Condition::Field {
                path: object_id(),
                constraint: Constraint::Compare(Comparison::Gt, Value::String(after)),
            },
            None => Condition::all(),
        };
        let query = FindQuery {
            class_name: class_name.clone(),
            condition,
            order: vec![OrderKey { path: object_id(), descending: false }],
            limit: Some(limit),
            skip: 0,
            fields: None,
            access: Access::Master,
        };
        let records = self.find(schemas, &query).await?;
        let mut dumped = Vec::with_capacity(records.len());
        for record in records {
            let secrets = match class_name.as_str() {
                "_User" => self.user_secrets(&record.object_id).await?,
                _ => None,
            };
            dumped.push(DumpedObject { record, secrets });
        }
        Ok(dumped)
    }

    /// Up to `limit` `(owningId, relatedId)` pairs of a Relation field after `after`, in order
    /// (for `basalt export`).
    async fn dump_relation(
        &self,
        class_name: &ClassName,
        field: &FieldName,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>>;

    /// The version of a class's stored schema (`ClassSchema::version`), `None` when the class
    /// does not exist: lets a node that shares the database with others notice a schema changed
    /// elsewhere before it acts on its cached copy.
    async fn schema_version(&self, class_name: &ClassName) -> StoreResult<Option<u64>>;

    /// Counts a request under a rate-limit counter shared by every node on this database: `key`
    /// names the rule and the client; the window starts at the key's first request and lasts
    /// `window_ms`. Answers the requests counted in the current window, or `None` when the store
    /// has no shared counters (SQLite: one node counts in memory).
    async fn count_request(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<Option<u64>> {
        let _ = (key, now, window_ms);
        Ok(None)
    }

    /// The stored schema versions of a class and of a second one (the engine asks for `_Hooks`,
    /// whose version changes with the declared webhooks), in one read where the store can.
    async fn schema_versions(
        &self,
        class_name: &ClassName,
        also: &ClassName,
    ) -> StoreResult<(Option<u64>, Option<u64>)> {
        Ok((self.schema_version(class_name).await?, self.schema_version(also).await?))
    }

    /// Another node changed schemas: drop whatever this store keeps that depends on tables (the
    /// PostgreSQL adapter's prepared statements). Nothing to do for a store no one else writes.
    fn schemas_changed_elsewhere(&self) {}

    /// The names of every role the user has, directly or inherited through `roles` relations
    /// (as Parse resolves roles), without the `role:` prefix. Cycles terminate.
    async fn role_names(&self, user_id: &str) -> StoreResult<Vec<String>>;

    /// Adds a durable task (work due at `task.due_at`, kept across restarts until finished).
    async fn add_task(&self, task: &Task) -> StoreResult<()>;

    /// Claims the earliest task due at `now` that no live claim holds (a claim whose lease ran
    /// out counts as none: its node died); the claim is `owner`'s until `lease_until`. With
    /// several nodes on one database, one claim at a time holds a task.
    async fn claim_task(&self, now: i64, owner: &str, lease_until: i64) -> StoreResult<Option<Task>>;

    /// Saves the progress of `owner`'s claimed task: its state, when it is due next, and the
    /// lease (`0` lets the claim go, so whoever is first when it is due takes it). `false` when
    /// `owner` no longer holds it (the lease ran out and another node claimed it).
    async fn save_task(&self, task: &Task, owner: &str, lease_until: i64) -> StoreResult<bool>;

    /// Removes `owner`'s finished task; `false` when `owner` no longer holds it.
    async fn finish_task(&self, id: &str, owner: &str) -> StoreResult<bool>;

    /// When the next task may be claimed: the earliest due time, or, for a claimed task, when
    /// its lease runs out (for a worker to sleep until then).
    async fn next_task_due(&self) -> StoreResult<Option<i64>>;
}

/// Durable work: a push to send, at its time.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Unique (the push status's objectId, for a push).
    pub id: String,
    /// What the task is (`push`); tells the worker how to run `state`.
    pub kind: String,
    /// Unix milliseconds.
    pub due_at: i64,
    /// What the worker needs, and how far it got.
    pub state: serde_json::Value,
}
