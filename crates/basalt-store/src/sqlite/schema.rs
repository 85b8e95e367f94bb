//! Class schemas in SQLite: the `_SCHEMA` table (one JSON document per class, the source of truth
//! for types), and the DDL that carries out the steps `plan` decides. Every function runs inside
//! the writer's transaction.

use basalt_core::{ClassName, ClassSchema, FieldName, FieldType};
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::column_sql_type;
use crate::SchemaChange;
use crate::error::StoreResult;
use crate::plan::{self, SchemaStep};
use crate::sql::{join_table, quote};

pub(crate) fn create_schema_table(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS \"_SCHEMA\" (\"className\" TEXT PRIMARY KEY NOT NULL, \"schema\" TEXT NOT NULL)",
    )
}

fn schema_from_stored(class_name: &str, stored: &str) -> StoreResult<ClassSchema> {
    let document: serde_json::Value = serde_json::from_str(stored)
        .map_err(|error| crate::StoreError::internal(format!("corrupt _SCHEMA row for {class_name}: {error}")))?;
    plan::schema_from_stored(class_name, &document)
}

pub(crate) fn load_all(connection: &Connection) -> StoreResult<Vec<ClassSchema>> {
    let mut statement =
        connection.prepare("SELECT \"className\", \"schema\" FROM \"_SCHEMA\" ORDER BY \"className\"")?;
    let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
    let mut schemas = Vec::new();
    for row in rows {
        let (class_name, stored) = row?;
        schemas.push(schema_from_stored(&class_name, &stored)?);
    }
    Ok(schemas)
}

pub(crate) fn load_one(connection: &Connection, class_name: &ClassName) -> StoreResult<Option<ClassSchema>> {
    let stored: Option<String> = connection
        .query_row("SELECT \"schema\" FROM \"_SCHEMA\" WHERE \"className\" = ?", [class_name.as_str()], |row| {
            row.get(0)
        })
        .optional()?;
    stored.map(|stored| schema_from_stored(class_name.as_str(), &stored)).transpose()
}

/// Records the schema, one version up.
fn save(connection: &Connection, schema: &mut ClassSchema) -> StoreResult<()> {
    schema.version += 1;
    connection.execute(
        "INSERT INTO \"_SCHEMA\" (\"className\", \"schema\") VALUES (?1, ?2) ON CONFLICT(\"className\") DO UPDATE SET \"schema\" = excluded.\"schema\"",
        params![schema.class_name.as_str(), plan::schema_to_stored(schema).to_string()],
    )?;
    Ok(())
}

fn index_name(class_name: &ClassName, index_name: &str) -> String {
    format!("{class_name}:{index_name}")
}

/// Carries out the steps on `class_name`'s tables.
fn run_steps(connection: &Connection, class_name: &ClassName, steps: &[SchemaStep]) -> StoreResult<()> {
    let table = quote(class_name.as_str());
    for step in steps {
        match step {
            SchemaStep::CreateTable => {
                connection.execute_batch(&format!(
                    "CREATE TABLE IF NOT EXISTS {table} (\"objectId\" TEXT PRIMARY KEY NOT NULL, \"createdAt\" TEXT NOT NULL, \"updatedAt\" TEXT NOT NULL, \"_rperm\" TEXT, \"_wperm\" TEXT)"
                ))?;
            }
            SchemaStep::SystemStorage => super::users::create_system_storage(connection, class_name)?,
            SchemaStep::AddColumn { field, field_type } => {
                if let Some(sql_type) = column_sql_type(field_type) {
                    connection.execute_batch(&format!(
                        "ALTER TABLE {table} ADD COLUMN {} {sql_type}",
                        quote(field.as_str())
                    ))?;
                }
            }
            SchemaStep::CreateJoinTable { field } => {
                let join = join_table(field.as_str(), class_name.as_str());
                connection.execute_batch(&format!(
                    "CREATE TABLE IF NOT EXISTS {} (\"owningId\" TEXT NOT NULL, \"relatedId\" TEXT NOT NULL, PRIMARY KEY (\"owningId\", \"relatedId\")) WITHOUT ROWID;
                     CREATE INDEX IF NOT EXISTS {} ON {} (\"relatedId\");",
                    quote(&join),
                    quote(&format!("{join}:related")),
                    quote(&join)
                ))?;
            }
            SchemaStep::DropColumn { field } => {
                connection.execute_batch(&format!("ALTER TABLE {table} DROP COLUMN {}", quote(field.as_str())))?;
            }
            SchemaStep::DropJoinTable { field } => {
                connection.execute_batch(&format!(
                    "DROP TABLE IF EXISTS {}",
                    quote(&join_table(field.as_str(), class_name.as_str()))
                ))?;
            }
            SchemaStep::CreateIndex { name, columns } => {
                let columns: Vec<String> = columns
                    .iter()
                    .map(|(column, descending)| {
                        format!("{} {}", quote(column), if *descending { "DESC" } else { "ASC" })
                    })
                    .collect();
                connection.execute_batch(&format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {table} ({})",
                    quote(&index_name(class_name, name)),
                    columns.join(", ")
                ))?;
            }
            SchemaStep::DropIndex { name } => {
                connection.execute_batch(&format!("DROP INDEX IF EXISTS {}", quote(&index_name(class_name, name))))?;
            }
        }
    }
    Ok(())
}

/// Creates the table, its columns and join tables, and records the schema.
pub(crate) fn create_class(connection: &Connection, schema: &mut ClassSchema) -> StoreResult<()> {
    let existing = load_one(connection, &schema.class_name)?;
    let steps = plan::plan_create(existing.as_ref(), schema)?;
    run_steps(connection, &schema.class_name, &steps)?;
    save(connection, schema)
}

/// Adds fields unless present with the same type; creates the class when allowed.
pub(crate) fn ensure_fields(
    connection: &Connection,
    class_name: &ClassName,
    fields: &[(FieldName, FieldType)],
    may_create: bool,
) -> StoreResult<ClassSchema> {
    let existing = load_one(connection, class_name)?;
    let (mut schema, steps, changed) = plan::plan_ensure_fields(existing, class_name, fields, may_create)?;
    run_steps(connection, class_name, &steps)?;
    if changed {
        save(connection, &mut schema)?;
    }
    Ok(schema)
}

/// Applies a `/schemas` PUT.
pub(crate) fn update_class(
    connection: &Connection,
    class_name: &ClassName,
    change: &SchemaChange,
) -> StoreResult<ClassSchema> {
    let existing = load_one(connection, class_name)?;
    let (mut schema, steps) = plan::plan_update(existing, class_name, change)?;
    run_steps(connection, class_name, &steps)?;
    save(connection, &mut schema)?;
    Ok(schema)
}

/// Drops an empty class with its join tables.
pub(crate) fn delete_class(connection: &Connection, class_name: &ClassName) -> StoreResult<()> {
    let Some(schema) = load_one(connection, class_name)? else {
        return Ok(());
    };
    let count: i64 =
        connection.query_row(&format!("SELECT COUNT(*) FROM {}", quote(class_name.as_str())), [], |row| row.get(0))?;
    if count > 0 {
        return Err(plan::not_empty(class_name, count).into());
    }
    let steps: Vec<SchemaStep> =
        plan::relation_fields(&schema).map(|field| SchemaStep::DropJoinTable { field: field.clone() }).collect();
    run_steps(connection, class_name, &steps)?;
    connection.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote(class_name.as_str())))?;
    connection.execute("DELETE FROM \"_SCHEMA\" WHERE \"className\" = ?", [class_name.as_str()])?;
    Ok(())
}

/// Deletes every object of the class and the relation memberships they own.
pub(crate) fn purge_class(connection: &Connection, class_name: &ClassName) -> StoreResult<()> {
    let Some(schema) = load_one(connection, class_name)? else {
        return Ok(());
    };
    for field in plan::relation_fields(&schema) {
        connection
            .execute_batch(&format!("DELETE FROM {}", quote(&join_table(field.as_str(), class_name.as_str()))))?;
    }
    connection.execute_batch(&format!("DELETE FROM {}", quote(class_name.as_str())))?;
    Ok(())
}
