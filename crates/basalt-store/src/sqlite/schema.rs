//! Class schemas in SQLite: the `_SCHEMA` table (one JSON document per class, the source of truth
//! for types), and the DDL that keeps class tables, columns, join tables and indexes in step.
//! Every function runs inside the writer's transaction.

use std::collections::BTreeMap;

use basalt_core::schema::is_default_field;
use basalt_core::{ClassName, ClassSchema, ErrorCode, FieldName, FieldSpec, FieldType, ParseError};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::codec::column_sql_type;
use crate::SchemaChange;
use crate::error::StoreResult;
use crate::sql::{join_table, quote};

pub(crate) fn create_schema_table(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS \"_SCHEMA\" (\"className\" TEXT PRIMARY KEY NOT NULL, \"schema\" TEXT NOT NULL)",
    )
}

fn schema_to_stored(schema: &ClassSchema) -> String {
    let fields: Map<String, Value> =
        schema.fields.iter().map(|(name, spec)| (name.to_string(), spec.to_json())).collect();
    let indexes: Map<String, Value> = schema.indexes.iter().map(|(name, spec)| (name.clone(), spec.clone())).collect();
    serde_json::json!({
        "fields": fields,
        "classLevelPermissions": schema.class_level_permissions,
        "indexes": indexes,
    })
    .to_string()
}

fn schema_from_stored(class_name: &str, stored: &str) -> StoreResult<ClassSchema> {
    let class_name = ClassName::parse(class_name)?;
    let document: Value = serde_json::from_str(stored)
        .map_err(|error| ParseError::internal(format!("corrupt _SCHEMA row for {class_name}: {error}")))?;
    let mut schema = ClassSchema::new(class_name);
    if let Some(fields) = document.get("fields").and_then(Value::as_object) {
        for (name, spec) in fields {
            schema.fields.insert(FieldName::parse(name)?, FieldSpec::from_json(name, spec)?);
        }
    }
    if let Some(permissions) = document.get("classLevelPermissions") {
        schema.class_level_permissions = permissions.clone();
    }
    if let Some(indexes) = document.get("indexes").and_then(Value::as_object) {
        schema.indexes = indexes.iter().map(|(name, spec)| (name.clone(), spec.clone())).collect::<BTreeMap<_, _>>();
    }
    Ok(schema)
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

fn save(connection: &Connection, schema: &ClassSchema) -> StoreResult<()> {
    connection.execute(
        "INSERT INTO \"_SCHEMA\" (\"className\", \"schema\") VALUES (?1, ?2) ON CONFLICT(\"className\") DO UPDATE SET \"schema\" = excluded.\"schema\"",
        params![schema.class_name.as_str(), schema_to_stored(schema)],
    )?;
    Ok(())
}

fn add_storage(
    connection: &Connection,
    class_name: &ClassName,
    field: &FieldName,
    field_type: &FieldType,
) -> StoreResult<()> {
    match field_type {
        FieldType::Relation(_) => {
            let table = quote(&join_table(field.as_str(), class_name.as_str()));
            connection.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (\"owningId\" TEXT NOT NULL, \"relatedId\" TEXT NOT NULL, PRIMARY KEY (\"owningId\", \"relatedId\")) WITHOUT ROWID;
                 CREATE INDEX IF NOT EXISTS {} ON {table} (\"relatedId\");",
                quote(&format!("{}:related", join_table(field.as_str(), class_name.as_str())))
            ))?;
        }
        other => {
            if let Some(sql_type) = column_sql_type(other) {
                if is_system_column(field.as_str()) {
                    return Ok(());
                }
                connection.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {sql_type}",
                    quote(class_name.as_str()),
                    quote(field.as_str())
                ))?;
            }
        }
    }
    Ok(())
}

fn is_system_column(field: &str) -> bool {
    matches!(field, "objectId" | "createdAt" | "updatedAt" | "ACL")
}

/// Creates the table, its columns and join tables, and records the schema.
pub(crate) fn create_class(connection: &Connection, schema: &ClassSchema) -> StoreResult<()> {
    if load_one(connection, &schema.class_name)?.is_some() {
        return Err(ParseError::new(
            ErrorCode::InvalidClassName,
            format!("Class {} already exists.", schema.class_name),
        )
        .into());
    }
    connection.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} (\"objectId\" TEXT PRIMARY KEY NOT NULL, \"createdAt\" TEXT NOT NULL, \"updatedAt\" TEXT NOT NULL, \"_rperm\" TEXT, \"_wperm\" TEXT)",
        quote(schema.class_name.as_str())
    ))?;
    for (name, spec) in &schema.fields {
        add_storage(connection, &schema.class_name, name, &spec.field_type)?;
    }
    for (index_name, spec) in &schema.indexes {
        create_index(connection, &schema.class_name, index_name, spec)?;
    }
    super::users::create_system_storage(connection, &schema.class_name)?;
    save(connection, schema)
}

/// Adds fields unless present with the same type; creates the class when allowed.
pub(crate) fn ensure_fields(
    connection: &Connection,
    class_name: &ClassName,
    fields: &[(FieldName, FieldType)],
    may_create: bool,
) -> StoreResult<ClassSchema> {
    let mut schema = match load_one(connection, class_name)? {
        Some(schema) => schema,
        None if may_create => {
            let schema = ClassSchema::new(class_name.clone());
            create_class(connection, &schema)?;
            schema
        }
        None => {
            return Err(ParseError::forbidden(format!(
                "This user is not allowed to access non-existent class: {class_name}"
            ))
            .into());
        }
    };
    let mut changed = false;
    for (name, field_type) in fields {
        match schema.field_type(name.as_str()) {
            Some(existing) if existing == field_type => {}
            Some(existing) => {
                return Err(basalt_core::value::schema_mismatch(class_name, name.as_str(), existing, field_type).into());
            }
            None => {
                if *field_type == FieldType::GeoPoint
                    && let Some(existing) = schema.geo_point_field()
                {
                    return Err(ParseError::incorrect_type(format!(
                        "there can only be one geopoint field in a class; {class_name} already has {existing}"
                    ))
                    .into());
                }
                add_storage(connection, class_name, name, field_type)?;
                schema.fields.insert(name.clone(), FieldSpec::of(field_type.clone()));
                changed = true;
            }
        }
    }
    if changed {
        save(connection, &schema)?;
    }
    Ok(schema)
}

fn sqlite_index_name(class_name: &ClassName, index_name: &str) -> String {
    format!("{class_name}:{index_name}")
}

fn create_index(connection: &Connection, class_name: &ClassName, index_name: &str, spec: &Value) -> StoreResult<()> {
    let Some(fields) = spec.as_object() else {
        return Err(ParseError::invalid_query(format!("Index {index_name} must be an object of field: 1 | -1")).into());
    };
    let mut columns = Vec::new();
    for (field, direction) in fields {
        match direction {
            Value::String(kind) if kind == "text" => return Ok(()),
            Value::Number(number) if number.as_i64() == Some(1) => columns.push(format!("{} ASC", quote(field))),
            Value::Number(number) if number.as_i64() == Some(-1) => columns.push(format!("{} DESC", quote(field))),
            _ => {
                return Err(ParseError::invalid_query(format!(
                    "Index {index_name} must be an object of field: 1 | -1"
                ))
                .into());
            }
        }
    }
    connection.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
        quote(&sqlite_index_name(class_name, index_name)),
        quote(class_name.as_str()),
        columns.join(", ")
    ))?;
    Ok(())
}

/// Applies a `/schemas` PUT.
pub(crate) fn update_class(
    connection: &Connection,
    class_name: &ClassName,
    change: &SchemaChange,
) -> StoreResult<ClassSchema> {
    let mut schema = load_one(connection, class_name)?
        .ok_or_else(|| ParseError::new(ErrorCode::InvalidClassName, format!("Class {class_name} does not exist.")))?;
    let operation_error = |message: String| ParseError::new(ErrorCode::InvalidSchemaOperation, message);
    for name in &change.delete_fields {
        if is_default_field(class_name, name.as_str()) {
            return Err(
                ParseError::new(ErrorCode::ChangedImmutableField, format!("field {name} cannot be changed")).into()
            );
        }
        let Some(spec) = schema.fields.remove(name.as_str()) else {
            return Err(operation_error(format!("Field {name} does not exist, cannot delete.")).into());
        };
        // Indexes on the field go with it (SQLite refuses to drop an indexed column).
        let dropped: Vec<String> = schema
            .indexes
            .iter()
            .filter(|(_, spec)| spec.as_object().is_some_and(|fields| fields.contains_key(name.as_str())))
            .map(|(index_name, _)| index_name.clone())
            .collect();
        for index_name in dropped {
            connection.execute_batch(&format!(
                "DROP INDEX IF EXISTS {}",
                quote(&sqlite_index_name(class_name, &index_name))
            ))?;
            schema.indexes.remove(&index_name);
        }
        match spec.field_type {
            FieldType::Relation(_) => connection.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}",
                quote(&join_table(name.as_str(), class_name.as_str()))
            ))?,
            _ => connection.execute_batch(&format!(
                "ALTER TABLE {} DROP COLUMN {}",
                quote(class_name.as_str()),
                quote(name.as_str())
            ))?,
        }
    }
    for (name, spec) in &change.add_fields {
        if schema.fields.contains_key(name.as_str()) {
            return Err(operation_error(format!("Field {name} exists, cannot update.")).into());
        }
        if spec.field_type == FieldType::GeoPoint
            && let Some(existing) = schema.geo_point_field()
        {
            return Err(ParseError::incorrect_type(format!(
                    "currently, only one GeoPoint field may exist in an object. Adding {name} when {existing} already exists."
                ))
                .into());
        }
        add_storage(connection, class_name, name, &spec.field_type)?;
        schema.fields.insert(name.clone(), spec.clone());
    }
    if let Some(permissions) = &change.class_level_permissions {
        schema.class_level_permissions = permissions.clone();
    }
    for index_name in &change.delete_indexes {
        if schema.indexes.remove(index_name).is_none() {
            return Err(ParseError::invalid_query(format!("Index {index_name} does not exist, cannot delete.")).into());
        }
        connection
            .execute_batch(&format!("DROP INDEX IF EXISTS {}", quote(&sqlite_index_name(class_name, index_name))))?;
    }
    for (index_name, fields) in &change.add_indexes {
        if schema.indexes.contains_key(index_name) {
            return Err(ParseError::invalid_query(format!("Index {index_name} exists, cannot update.")).into());
        }
        let mut spec = Map::new();
        for (field, direction) in fields {
            if schema.field_type(field.as_str()).is_none() {
                return Err(
                    ParseError::invalid_query(format!("Field {field} does not exist, cannot add index.")).into()
                );
            }
            spec.insert(field.to_string(), direction.clone());
        }
        let spec = Value::Object(spec);
        create_index(connection, class_name, index_name, &spec)?;
        schema.indexes.insert(index_name.clone(), spec);
    }
    save(connection, &schema)?;
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
        return Err(ParseError::new(
            ErrorCode::InvalidSchemaOperation,
            format!("Class {class_name} is not empty, contains {count} objects, cannot drop schema."),
        )
        .into());
    }
    for (name, spec) in &schema.fields {
        if matches!(spec.field_type, FieldType::Relation(_)) {
            connection.execute_batch(&format!(
                "DROP TABLE IF EXISTS {}",
                quote(&join_table(name.as_str(), class_name.as_str()))
            ))?;
        }
    }
    connection.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote(class_name.as_str())))?;
    connection.execute("DELETE FROM \"_SCHEMA\" WHERE \"className\" = ?", [class_name.as_str()])?;
    Ok(())
}

/// Deletes every object of the class and the relation memberships they own.
pub(crate) fn purge_class(connection: &Connection, class_name: &ClassName) -> StoreResult<()> {
    let Some(schema) = load_one(connection, class_name)? else {
        return Ok(());
    };
    for (name, spec) in &schema.fields {
        if matches!(spec.field_type, FieldType::Relation(_)) {
            connection
                .execute_batch(&format!("DELETE FROM {}", quote(&join_table(name.as_str(), class_name.as_str()))))?;
        }
    }
    connection.execute_batch(&format!("DELETE FROM {}", quote(class_name.as_str())))?;
    Ok(())
}
