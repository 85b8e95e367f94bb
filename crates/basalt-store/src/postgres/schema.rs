//! Class schemas in PostgreSQL: the `_SCHEMA` table (one `jsonb` document per class, the source
//! of truth for types), and the DDL that carries out the steps `plan` decides. Every function
//! runs inside the caller's transaction, which holds the schema lock.

use basalt_core::{ClassName, ClassSchema, FieldName, FieldType};
use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::codec::column_sql_type;
use crate::SchemaChange;
use crate::error::StoreResult;
use crate::plan::{self, SchemaStep};
use crate::sql::{join_table, quote};

pub(crate) async fn load_all(client: &impl GenericClient) -> StoreResult<Vec<ClassSchema>> {
    let rows = client.query("SELECT \"className\", \"schema\" FROM \"_SCHEMA\" ORDER BY \"className\"", &[]).await?;
    let mut schemas = Vec::with_capacity(rows.len());
    for row in rows {
        let class_name: String = row.try_get(0)?;
        let document: Value = row.try_get(1)?;
        schemas.push(plan::schema_from_stored(&class_name, &document)?);
    }
    Ok(schemas)
}

async fn load_one(client: &impl GenericClient, class_name: &ClassName) -> StoreResult<Option<ClassSchema>> {
    let row = client
        .query_opt("SELECT \"schema\" FROM \"_SCHEMA\" WHERE \"className\" = $1::text", &[&class_name.as_str()])
        .await?;
    match row {
        Some(row) => Ok(Some(plan::schema_from_stored(class_name.as_str(), &row.try_get::<_, Value>(0)?)?)),
        None => Ok(None),
    }
}

/// The stored versions of two classes' schemas, in one indexed read.
pub(crate) async fn versions(
    client: &impl GenericClient,
    class_name: &ClassName,
    also: &ClassName,
) -> StoreResult<(Option<u64>, Option<u64>)> {
    let statement = client
        .prepare_cached(
            "SELECT \"className\", COALESCE((\"schema\" ->> 'version')::int8, 0) FROM \"_SCHEMA\" \
             WHERE \"className\" IN ($1::text, $2::text)",
        )
        .await?;
    let mut found = (None, None);
    for row in client.query(&statement, &[&class_name.as_str(), &also.as_str()]).await? {
        let name: &str = row.try_get(0)?;
        let version = u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0);
        if name == class_name.as_str() {
            found.0 = Some(version);
        }
        if name == also.as_str() {
            found.1 = Some(version);
        }
    }
    Ok(found)
}

/// The stored version of a class's schema.
pub(crate) async fn version(client: &impl GenericClient, class_name: &ClassName) -> StoreResult<Option<u64>> {
    let statement = client
        .prepare_cached(
            "SELECT COALESCE((\"schema\" ->> 'version')::int8, 0) FROM \"_SCHEMA\" WHERE \"className\" = $1::text",
        )
        .await?;
    let row = client.query_opt(&statement, &[&class_name.as_str()]).await?;
    Ok(row.map(|row| row.try_get::<_, i64>(0)).transpose()?.map(|version| u64::try_from(version).unwrap_or(0)))
}

async fn save(client: &impl GenericClient, schema: &mut ClassSchema) -> StoreResult<()> {
    schema.version += 1;
    client
        .execute(
            "INSERT INTO \"_SCHEMA\" (\"className\", \"schema\") VALUES ($1::text, $2::jsonb) ON CONFLICT (\"className\") DO UPDATE SET \"schema\" = excluded.\"schema\"",
            &[&schema.class_name.as_str(), &plan::schema_to_stored(schema)],
        )
        .await?;
    Ok(())
}

/// PostgreSQL index names are per schema, so they carry the class name.
fn index_name(class_name: &ClassName, index_name: &str) -> String {
    format!("{class_name}:{index_name}")
}

/// The DDL of the internal columns and unique indexes of a system class.
fn system_storage_sql(class_name: &ClassName) -> &'static str {
    match class_name.as_str() {
        "_User" => {
            "ALTER TABLE \"_User\" ADD COLUMN IF NOT EXISTS \"_hashed_password\" text,
                ADD COLUMN IF NOT EXISTS \"_failed_login_count\" bigint,
                ADD COLUMN IF NOT EXISTS \"_account_lockout_expires_at\" bigint,
                ADD COLUMN IF NOT EXISTS \"_password_changed_at\" bigint,
                ADD COLUMN IF NOT EXISTS \"_password_history\" jsonb,
                ADD COLUMN IF NOT EXISTS \"_email_verify_token\" text,
                ADD COLUMN IF NOT EXISTS \"_email_verify_token_expires_at\" bigint,
                ADD COLUMN IF NOT EXISTS \"_perishable_token\" text,
                ADD COLUMN IF NOT EXISTS \"_perishable_token_expires_at\" bigint;
             CREATE UNIQUE INDEX IF NOT EXISTS \"_User:username_unique\" ON \"_User\" (lower(\"username\"));
             CREATE UNIQUE INDEX IF NOT EXISTS \"_User:email_unique\" ON \"_User\" (lower(\"email\"));
             CREATE INDEX IF NOT EXISTS \"_User:email_verify_token\" ON \"_User\" (\"_email_verify_token\");
             CREATE INDEX IF NOT EXISTS \"_User:perishable_token\" ON \"_User\" (\"_perishable_token\");"
        }
        "_Session" => {
            "CREATE UNIQUE INDEX IF NOT EXISTS \"_Session:sessionToken_unique\" ON \"_Session\" (\"sessionToken\");
             CREATE INDEX IF NOT EXISTS \"_Session:user\" ON \"_Session\" (\"user\");"
        }
        "_Role" => "CREATE UNIQUE INDEX IF NOT EXISTS \"_Role:name_unique\" ON \"_Role\" (\"name\");",
        "_Installation" => crate::sql::INSTALLATION_INDEXES,
        _ => "",
    }
}

/// Carries out the steps on `class_name`'s tables.
async fn run_steps(client: &impl GenericClient, class_name: &ClassName, steps: &[SchemaStep]) -> StoreResult<()> {
    let table = quote(class_name.as_str());
    for step in steps {
        let sql = match step {
            SchemaStep::CreateTable => format!(
                "CREATE TABLE IF NOT EXISTS {table} (\"objectId\" text COLLATE \"C\" PRIMARY KEY, \"createdAt\" text COLLATE \"C\" NOT NULL, \"updatedAt\" text COLLATE \"C\" NOT NULL, \"_rperm\" text[], \"_wperm\" text[])"
            ),
            SchemaStep::SystemStorage => system_storage_sql(class_name).to_owned(),
            SchemaStep::AddColumn { field, field_type } => match column_sql_type(field_type) {
                Some(sql_type) => {
                    format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {} {sql_type}", quote(field.as_str()))
                }
                None => continue,
            },
            SchemaStep::CreateJoinTable { field } => {
                let join = join_table(field.as_str(), class_name.as_str());
                format!(
                    "CREATE TABLE IF NOT EXISTS {} (\"owningId\" text COLLATE \"C\" NOT NULL, \"relatedId\" text COLLATE \"C\" NOT NULL, PRIMARY KEY (\"owningId\", \"relatedId\"));
                     CREATE INDEX IF NOT EXISTS {} ON {} (\"relatedId\");",
                    quote(&join),
                    quote(&format!("{join}:related")),
                    quote(&join)
                )
            }
            SchemaStep::DropColumn { field } => {
                format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {}", quote(field.as_str()))
            }
            SchemaStep::DropJoinTable { field } => {
                format!("DROP TABLE IF EXISTS {}", quote(&join_table(field.as_str(), class_name.as_str())))
            }
            SchemaStep::CreateIndex { name, columns } => {
                // Null placement as the compiler's ORDER BY writes it, so the index serves it.
                let columns: Vec<String> = columns
                    .iter()
                    .map(|(column, descending)| {
                        format!("{} {}", quote(column), if *descending { "DESC NULLS LAST" } else { "ASC NULLS FIRST" })
                    })
                    .collect();
                format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {table} ({})",
                    quote(&index_name(class_name, name)),
                    columns.join(", ")
                )
            }
            SchemaStep::DropIndex { name } => format!("DROP INDEX IF EXISTS {}", quote(&index_name(class_name, name))),
        };
        if !sql.is_empty() {
            client.batch_execute(&sql).await?;
        }
    }
    Ok(())
}

/// Creates the table, its columns and join tables, and records the schema.
pub(crate) async fn create_class(client: &impl GenericClient, schema: &mut ClassSchema) -> StoreResult<()> {
    let existing = load_one(client, &schema.class_name).await?;
    let steps = plan::plan_create(existing.as_ref(), schema)?;
    run_steps(client, &schema.class_name, &steps).await?;
    save(client, schema).await
}

/// Adds fields unless present with the same type; creates the class when allowed.
pub(crate) async fn ensure_fields(
    client: &impl GenericClient,
    class_name: &ClassName,
    fields: &[(FieldName, FieldType)],
    may_create: bool,
) -> StoreResult<ClassSchema> {
    let existing = load_one(client, class_name).await?;
    let (mut schema, steps, changed) = plan::plan_ensure_fields(existing, class_name, fields, may_create)?;
    run_steps(client, class_name, &steps).await?;
    if changed {
        save(client, &mut schema).await?;
    }
    Ok(schema)
}

/// Applies a `/schemas` PUT.
pub(crate) async fn update_class(
    client: &impl GenericClient,
    class_name: &ClassName,
    change: &SchemaChange,
) -> StoreResult<ClassSchema> {
    let existing = load_one(client, class_name).await?;
    let (mut schema, steps) = plan::plan_update(existing, class_name, change)?;
    run_steps(client, class_name, &steps).await?;
    save(client, &mut schema).await?;
    Ok(schema)
}

/// Drops an empty class with its join tables.
pub(crate) async fn delete_class(client: &impl GenericClient, class_name: &ClassName) -> StoreResult<()> {
    let Some(schema) = load_one(client, class_name).await? else {
        return Ok(());
    };
    let table = quote(class_name.as_str());
    let count: i64 = client.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await?.try_get(0)?;
    if count > 0 {
        return Err(plan::not_empty(class_name, count).into());
    }
    let steps: Vec<SchemaStep> =
        plan::relation_fields(&schema).map(|field| SchemaStep::DropJoinTable { field: field.clone() }).collect();
    run_steps(client, class_name, &steps).await?;
    client.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await?;
    client.execute("DELETE FROM \"_SCHEMA\" WHERE \"className\" = $1::text", &[&class_name.as_str()]).await?;
    Ok(())
}

/// Deletes every object of the class and the relation memberships they own.
pub(crate) async fn purge_class(client: &impl GenericClient, class_name: &ClassName) -> StoreResult<()> {
    let Some(schema) = load_one(client, class_name).await? else {
        return Ok(());
    };
    for field in plan::relation_fields(&schema) {
        client
            .batch_execute(&format!("DELETE FROM {}", quote(&join_table(field.as_str(), class_name.as_str()))))
            .await?;
    }
    client.batch_execute(&format!("DELETE FROM {}", quote(class_name.as_str()))).await?;
    Ok(())
}
