//! The PostgreSQL adapter, for deployments that outgrow one machine: several Basalt nodes share
//! one database.
//!
//! Connections come from a pool (deadpool-postgres) with a statement cache per connection. Every
//! write runs in a transaction of its own (an atomic group in one), committed before it is
//! acknowledged, so PostgreSQL's own durability applies. An update reads its row with
//! `SELECT … FOR UPDATE`, applies the operators (`plan::apply_updates`, as SQLite does) and
//! writes the changed columns back: concurrent updates of one object, from any node, queue on
//! the row lock, so `Increment`, `AddUnique` and the rest are atomic. Schema changes take one
//! transaction-scoped advisory lock, so two nodes adding the same field cannot race.
//!
//! TLS to the database is not supported (no TLS connector is built in): `sslmode=require`
//! fails at connect time.

mod broadcast;
mod codec;
mod error;
pub mod parse_server;
mod read;
mod schema;
mod tasks;
mod users;
mod write;

use std::sync::Arc;

use basalt_core::{ClassName, ClassSchema, FieldName, FieldType};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use broadcast::{Broadcast, Delivery};

use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::{FindQuery, ObjectRecord, SchemaChange, Schemas, Store, TokenKind, UserSecrets, WriteOp, WriteOutcome};

/// Connections per node.
const POOL_SIZE_MAX: usize = 16;
/// Statements a connection keeps prepared before its cache starts over.
const STATEMENT_CACHE_MAX: usize = 512;

/// Functions the compiler calls, the collation of `$regex`, the `_SCHEMA` table, the table of
/// long cluster messages (`broadcast`) and the rate-limit counters every node shares
/// (`count_request`; unlogged: a counter needs no durability, and a logged one made every
/// counted request wait for a WAL flush), created once per database. The geometry is `basalt_core::geo`'s, line for line (haversine distance; ray
/// casting with points on an edge inside), so SQLite, PostgreSQL and the LiveQuery matcher agree.
/// `basalt_regex`: text columns are `COLLATE "C"`, under which PostgreSQL's regular expressions
/// fold case and class letters in ASCII only; `$regex` (like Rust's `regex`, which the matcher
/// uses) works in Unicode, so patterns run under ICU's root locale, or a UTF-8 C locale on a
/// server built without ICU.
const SETUP_SQL: &str = r#"
CREATE TABLE IF NOT EXISTS "_SCHEMA" ("className" text COLLATE "C" PRIMARY KEY, "schema" jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS "_basalt_message" ("id" bigserial PRIMARY KEY, "payload" text NOT NULL, "sentAt" timestamptz NOT NULL DEFAULT now());
CREATE UNLOGGED TABLE IF NOT EXISTS "_basalt_rate" ("id" text PRIMARY KEY, "started" int8 NOT NULL, "count" int8 NOT NULL, "expires" int8 NOT NULL);
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'basalt_regex' AND collnamespace = current_schema()::regnamespace) THEN
    BEGIN
      CREATE COLLATION basalt_regex (provider = icu, locale = 'und');
    EXCEPTION WHEN OTHERS THEN
      BEGIN
        CREATE COLLATION basalt_regex FROM "C.utf8";
      EXCEPTION WHEN OTHERS THEN
        CREATE COLLATION basalt_regex FROM "C";
      END;
    END;
  END IF;
END
$$;
CREATE OR REPLACE FUNCTION basalt_distance(lat1 float8, lng1 float8, lat2 float8, lng2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 2 * asin(least(1, sqrt(power(sin(radians(lat2 - lat1) / 2), 2)
    + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2))))
$$;
CREATE OR REPLACE FUNCTION basalt_in_polygon(points jsonb, lat float8, lng float8)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  n int;
  inside boolean := false;
  x1 float8; y1 float8; x2 float8; y2 float8; c float8;
BEGIN
  IF points IS NULL OR lat IS NULL OR lng IS NULL OR jsonb_typeof(points) <> 'array' THEN
    RETURN false;
  END IF;
  n := jsonb_array_length(points);
  IF n < 3 THEN
    RETURN false;
  END IF;
  y1 := (points -> (n - 1) ->> 0)::float8;
  x1 := (points -> (n - 1) ->> 1)::float8;
  FOR i IN 0 .. n - 1 LOOP
    y2 := (points -> i ->> 0)::float8;
    x2 := (points -> i ->> 1)::float8;
    c := (lng - x1) * (y2 - y1) - (lat - y1) * (x2 - x1);
    IF abs(c) < 1e-12 AND lng >= least(x1, x2) AND lng <= greatest(x1, x2)
       AND lat >= least(y1, y2) AND lat <= greatest(y1, y2) THEN
      RETURN true;
    END IF;
    IF (y1 > lat) <> (y2 > lat) AND lng < x1 + (lat - y1) * (x2 - x1) / (y2 - y1) THEN
      inside := NOT inside;
    END IF;
    x1 := x2;
    y1 := y2;
  END LOOP;
  RETURN inside;
END
$$;
"#;

/// The advisory lock that serialises schema changes (and setup) across nodes.
const SCHEMA_LOCK: i64 = 0x0000_6261_7361_6c74;

/// The PostgreSQL store. Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Where to open connections outside the pool (the cluster listener).
    config: tokio_postgres::Config,
}

/// The connection settings of a `postgres://` URI.
pub(super) fn parse_uri(uri: &str) -> StoreResult<tokio_postgres::Config> {
    uri.parse().map_err(|error| StoreError::driver(StoreErrorKind::Other, format!("database URI: {error}")))
}

/// Does `config`'s database exist (and can this user reach it)?
async fn database_exists(config: &tokio_postgres::Config) -> StoreResult<bool> {
    match config.connect(NoTls).await {
        Ok(_) => Ok(true),
        Err(error) => match error.as_db_error() {
            Some(database) if *database.code() == SqlState::INVALID_CATALOG_NAME => Ok(false),
            _ => Err(error.into()),
        },
    }
}

/// Runs `statement` on the server's `postgres` database (creating or dropping `config`'s).
async fn on_maintenance_database(
    config: &tokio_postgres::Config,
    statement: &str,
) -> Result<(), tokio_postgres::Error> {
    let mut maintenance = config.clone();
    maintenance.dbname("postgres");
    let (client, connection) = maintenance.connect(NoTls).await?;
    let driver = tokio::spawn(connection);
    let done = client.batch_execute(statement).await;
    drop(client);
    let _ = driver.await;
    done
}

/// Connects with `config`, creating its database first when it does not exist.
async fn ensure_database(config: &tokio_postgres::Config) -> StoreResult<()> {
    if database_exists(config).await? {
        return Ok(());
    }
    let Some(name) = config.get_dbname() else { return Ok(()) };
    match on_maintenance_database(config, &format!("CREATE DATABASE {}", crate::sql::quote(name))).await {
        Ok(()) => {
            tracing::info!(database = name, "created the database");
            Ok(())
        }
        // Another node created it in the meantime (two concurrent CREATEs can also collide on
        // the catalog's unique index).
        Err(error)
            if error.as_db_error().is_some_and(|database| {
                matches!(*database.code(), SqlState::DUPLICATE_DATABASE | SqlState::UNIQUE_VIOLATION)
            }) =>
        {
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

impl PgStore {
    /// Does the database of `uri` exist (and can this user reach it)?
    ///
    /// # Errors
    /// When the URI is malformed or the server cannot be reached.
    pub async fn database_exists(uri: &str) -> StoreResult<bool> {
        database_exists(&parse_uri(uri)?).await
    }

    /// Drops the database of `uri` (closing its connections): what a command that created it
    /// and then failed leaves behind.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses.
    pub async fn drop_database(uri: &str) -> StoreResult<()> {
        let config = parse_uri(uri)?;
        let Some(name) = config.get_dbname() else { return Ok(()) };
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", crate::sql::quote(name));
        on_maintenance_database(&config, &statement).await.map_err(StoreError::from)
    }

    /// Connects to the database of `uri` (`postgres://user:password@host:port/database`),
    /// creating the database when it does not exist, and prepares it for Basalt.
    ///
    /// # Errors
    /// When the URI is malformed or the server cannot be reached.
    pub async fn connect(uri: &str) -> StoreResult<PgStore> {
        let mut config = parse_uri(uri)?;
        // A statement waiting on a lock (a row another session holds FOR UPDATE, a table lock)
        // fails after the limit instead of waiting for as long as the lock is held. Notices
        // ("relation … already exists, skipping" on every start) are not for the log; warnings are.
        let options = format!(
            "{} -c client_min_messages=warning -c lock_timeout={}",
            config.get_options().unwrap_or_default(),
            basalt_core::Limits::LOCK_WAIT_MS_MAX
        );
        config.options(options.trim_start());
        ensure_database(&config).await?;
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE_MAX)
            .build()
            .map_err(|error| StoreError::driver(StoreErrorKind::Other, error.to_string()))?;
        let store = PgStore { pool, config };
        let mut client = store.client().await?;
        let transaction = client.transaction().await?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
        transaction.batch_execute(SETUP_SQL).await?;
        transaction.batch_execute(tasks::SETUP_SQL).await?;
        // An `_Installation` table made before Basalt indexed it.
        if table_exists(&transaction, "_Installation").await? {
            transaction.batch_execute(crate::sql::INSTALLATION_INDEXES).await?;
        }
        transaction.commit().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<Object> {
        let client = self.pool.get().await?;
        if client.statement_cache.size() > STATEMENT_CACHE_MAX {
            client.statement_cache.clear();
        }
        Ok(client)
    }

    /// Runs a schema change in a transaction holding the schema lock; prepared statements are
    /// dropped afterwards, since their tables changed.
    async fn schema_change<R, F>(&self, change: F) -> StoreResult<R>
    where
        F: for<'t> FnOnce(
            &'t deadpool_postgres::Transaction<'t>,
        ) -> std::pin::Pin<Box<dyn Future<Output = StoreResult<R>> + Send + 't>>,
    {
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
        let result = change(&transaction).await?;
        transaction.commit().await?;
        self.forget_statements();
        Ok(result)
    }

    /// Drops every connection's prepared statements (their tables changed).
    fn forget_statements(&self) {
        self.pool.manager().statement_caches.clear();
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn load_schemas(&self) -> StoreResult<Vec<ClassSchema>> {
        schema::load_all(&self.client().await?).await
    }

    async fn create_class(&self, mut new_schema: ClassSchema) -> StoreResult<ClassSchema> {
        self.schema_change(move |transaction| {
            Box::pin(async move {
                schema::create_class(transaction, &mut new_schema).await?;
                Ok(new_schema)
            })
        })
        .await
    }

    async fn ensure_fields(
        &self,
        class_name: &ClassName,
        fields: Vec<(FieldName, FieldType)>,
        create_class: bool,
    ) -> StoreResult<ClassSchema> {
        let class_name = class_name.clone();
        self.schema_change(move |transaction| {
            Box::pin(async move { schema::ensure_fields(transaction, &class_name, &fields, create_class).await })
        })
        .await
    }

    async fn update_class(&self, class_name: &ClassName, change: SchemaChange) -> StoreResult<ClassSchema> {
        let class_name = class_name.clone();
        self.schema_change(move |transaction| {
            Box::pin(async move { schema::update_class(transaction, &class_name, &change).await })
        })
        .await
    }

    async fn delete_class(&self, class_name: &ClassName) -> StoreResult<()> {
        let class_name = class_name.clone();
        self.schema_change(move |transaction| {
            Box::pin(async move { schema::delete_class(transaction, &class_name).await })
        })
        .await
    }

    async fn purge_class(&self, class_name: &ClassName) -> StoreResult<()> {
        let class_name = class_name.clone();
        self.schema_change(move |transaction| {
            Box::pin(async move { schema::purge_class(transaction, &class_name).await })
        })
        .await
    }

    async fn write(
        &self,
        schemas: Arc<Schemas>,
        ops: Vec<WriteOp>,
        atomic: bool,
    ) -> StoreResult<Vec<StoreResult<WriteOutcome>>> {
        let mut client = self.client().await?;
        let mut outcomes = Vec::with_capacity(ops.len());
        if atomic {
            let transaction = client.transaction().await?;
            for op in &ops {
                outcomes.push(Ok(write::apply(&transaction, &schemas, op).await?));
            }
            transaction.commit().await?;
            return Ok(outcomes);
        }
        for op in &ops {
            let transaction = client.transaction().await?;
            let outcome = match write::apply(&transaction, &schemas, op).await {
                Ok(outcome) => transaction.commit().await.map(|()| outcome).map_err(StoreError::from),
                // Dropping the transaction rolls it back.
                Err(error) => Err(error),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn find(&self, schemas: Arc<Schemas>, query: &FindQuery) -> StoreResult<Vec<ObjectRecord>> {
        read::find(&self.client().await?, &schemas, query).await
    }

    async fn count(&self, schemas: Arc<Schemas>, query: FindQuery) -> StoreResult<u64> {
        read::count(&self.client().await?, &schemas, &query).await
    }

    async fn user_secrets(&self, user_id: &str) -> StoreResult<Option<UserSecrets>> {
        users::secrets(&self.client().await?, user_id).await
    }

    async fn user_for_token(&self, kind: TokenKind, token: &str, now: i64) -> StoreResult<Option<String>> {
        users::user_for_token(&self.client().await?, kind, token, now).await
    }

    async fn role_names(&self, user_id: &str) -> StoreResult<Vec<String>> {
        users::role_names(&self.client().await?, user_id).await
    }

    async fn dump_relation(
        &self,
        class_name: &ClassName,
        field: &FieldName,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>> {
        let table = crate::sql::quote(&crate::sql::join_table(field.as_str(), class_name.as_str()));
        let (owning, related) = after.unwrap_or_default();
        let limit = crate::sql::compiler::to_i64(limit);
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT \"owningId\", \"relatedId\" FROM {table} WHERE (\"owningId\", \"relatedId\") > ($1::text, $2::text) ORDER BY \"owningId\", \"relatedId\" LIMIT $3::int8"
                ),
                &[&owning, &related, &limit],
            )
            .await?;
        rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
    }

    async fn schema_version(&self, class_name: &ClassName) -> StoreResult<Option<u64>> {
        schema::version(&self.client().await?, class_name).await
    }

    async fn count_request(&self, key: &str, now: i64, window_ms: i64) -> StoreResult<Option<u64>> {
        // A fixed window per key that starts at its first request, as the in-memory counters
        // do; the row lock makes concurrent requests from every node count one after another.
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO \"_basalt_rate\" (\"id\", \"started\", \"count\", \"expires\") \
                 VALUES ($1::text, $2::int8, 1, $2::int8 + $3::int8) \
                 ON CONFLICT (\"id\") DO UPDATE SET \
                 \"count\" = CASE WHEN \"_basalt_rate\".\"expires\" <= $2::int8 THEN 1 ELSE \"_basalt_rate\".\"count\" + 1 END, \
                 \"started\" = CASE WHEN \"_basalt_rate\".\"expires\" <= $2::int8 THEN $2::int8 ELSE \"_basalt_rate\".\"started\" END, \
                 \"expires\" = CASE WHEN \"_basalt_rate\".\"expires\" <= $2::int8 THEN $2::int8 + $3::int8 ELSE \"_basalt_rate\".\"expires\" END \
                 RETURNING \"count\"",
            )
            .await?;
        let count: i64 = client.query_one(&statement, &[&key, &now, &window_ms]).await?.try_get(0)?;
        // Counters of windows long over are dropped now and then (one request in a thousand).
        static COUNTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if COUNTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000 == 999 {
            client.execute("DELETE FROM \"_basalt_rate\" WHERE \"expires\" < $1::int8", &[&now]).await?;
        }
        Ok(Some(u64::try_from(count).unwrap_or(0)))
    }

    async fn add_task(&self, task: &crate::Task) -> StoreResult<()> {
        tasks::add(&self.client().await?, task).await
    }

    async fn claim_task(&self, now: i64, owner: &str, lease_until: i64) -> StoreResult<Option<crate::Task>> {
        tasks::claim(&self.client().await?, now, owner, lease_until).await
    }

    async fn save_task(&self, task: &crate::Task, owner: &str, lease_until: i64) -> StoreResult<bool> {
        tasks::save(&self.client().await?, task, owner, lease_until).await
    }

    async fn finish_task(&self, id: &str, owner: &str) -> StoreResult<bool> {
        tasks::finish(&self.client().await?, id, owner).await
    }

    async fn next_task_due(&self) -> StoreResult<Option<i64>> {
        tasks::next_due(&self.client().await?).await
    }

    async fn schema_versions(
        &self,
        class_name: &ClassName,
        also: &ClassName,
    ) -> StoreResult<(Option<u64>, Option<u64>)> {
        schema::versions(&self.client().await?, class_name, also).await
    }

    fn schemas_changed_elsewhere(&self) {
        // Prepared statements of a table another node altered may no longer fit it.
        self.forget_statements();
    }
}

/// Does the table exist (in the connection's schema)?
async fn table_exists(client: &impl GenericClient, table: &str) -> StoreResult<bool> {
    let row = client.query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&crate::sql::quote(table)]).await?;
    Ok(row.try_get(0)?)
}
