//! Inserts, updates and deletes on the writer connection. An update reads the row, applies the
//! operators in memory and writes the changed columns back, all inside the writer's transaction:
//! SQLite has one writer, so nothing can interleave and every operator is atomic.

use std::collections::BTreeSet;

use basalt_core::ClassSchema;
use basalt_core::acl::{Access, Acl};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde_json::Map;

use super::codec::encode;
use super::read::decode_row;
use crate::error::{StoreError, StoreResult};
use crate::plan::{RelationChange, apply_updates, changed_fields, relation_fields, restore_updates};
use crate::sql::sqlite::{compile_access, compile_condition, compile_delete_where, selected_columns};
use crate::sql::{join_table, push_quoted, quote};
use crate::{FieldUpdate, ObjectRecord, Schemas, WriteOp, WriteOutcome};

pub(crate) fn apply(connection: &Connection, schemas: &Schemas, op: &WriteOp) -> StoreResult<WriteOutcome> {
    match op {
        WriteOp::Insert { class_name, object_id, created_at, acl, updates } => {
            let schema = schema_of(schemas, class_name)?;
            let times = (created_at.as_str(), created_at.as_str());
            insert(connection, schema, object_id, times, acl.as_ref(), updates).map(WriteOutcome::Written)
        }
        WriteOp::Restore { class_name, object } => {
            let schema = schema_of(schemas, class_name)?;
            let record = &object.record;
            let times = (record.created_at.as_str(), record.updated_at.as_str());
            let updates = restore_updates(&record.fields);
            let written = insert(connection, schema, &record.object_id, times, record.acl.as_ref(), &updates)?;
            if let Some(secrets) = &object.secrets {
                super::users::put_secrets(connection, &record.object_id, secrets)?;
            }
            Ok(WriteOutcome::Written(written))
        }
        WriteOp::RestoreRelation { class_name, field, pairs } => {
            let schema = schema_of(schemas, class_name)?;
            let pairs = pairs.iter().map(|(owning, related)| (owning.as_str(), related.as_str()));
            add_members(connection, schema, field.as_str(), pairs)?;
            Ok(WriteOutcome::Deleted(None))
        }
        WriteOp::Update { class_name, object_id, updated_at, access, acl, updates, condition } => {
            let schema = schema_of(schemas, class_name)?;
            let target = Target { schemas, object_id, access, condition };
            update(connection, schema, &target, updated_at, acl.as_ref(), updates)
                .map(|(before, after)| WriteOutcome::Updated { before: Box::new(before), after: Box::new(after) })
        }
        WriteOp::Delete { class_name, object_id, access, condition } => {
            let schema = schema_of(schemas, class_name)?;
            let target = Target { schemas, object_id, access, condition };
            delete(connection, schema, &target).map(|deleted| WriteOutcome::Deleted(Some(Box::new(deleted))))
        }
        WriteOp::Atomic(ops) => {
            let mut first = None;
            for op in ops {
                let outcome = apply(connection, schemas, op)?;
                first.get_or_insert(outcome);
            }
            first.ok_or_else(|| StoreError::internal("an empty atomic write"))
        }
        WriteOp::DeleteWhere { class_name, condition } => {
            let Some(schema) = schemas.get(class_name) else { return Ok(WriteOutcome::Deleted(None)) };
            let compiled = compile_delete_where(schemas, schema, condition);
            connection.prepare_cached(&compiled.sql)?.execute(params_from_iter(compiled.params))?;
            Ok(WriteOutcome::Deleted(None))
        }
        WriteOp::PutUserSecrets { user_id, secrets } => {
            super::users::put_secrets(connection, user_id, secrets).map(WriteOutcome::Secrets)
        }
        WriteOp::RecordLoginFailure { user_id, threshold, lock_until } => {
            super::users::record_login_failure(connection, user_id, *threshold, *lock_until).map(WriteOutcome::Secrets)
        }
        WriteOp::TakeToken { kind, token, now } => {
            super::users::take_token(connection, *kind, token, *now).map(WriteOutcome::TokenTaken)
        }
    }
}

fn schema_of<'a>(schemas: &'a Schemas, class_name: &basalt_core::ClassName) -> StoreResult<&'a ClassSchema> {
    match schemas.get(class_name) {
        Some(schema) => Ok(schema),
        None => Err(StoreError::not_found()),
    }
}

fn permission_list(list: Option<&BTreeSet<String>>) -> SqlValue {
    match list {
        Some(list) => SqlValue::Text(serde_json::to_string(list).unwrap_or_else(|_| "[]".into())),
        None => SqlValue::Null,
    }
}

/// Adds `(owningId, relatedId)` members to `schema`'s Relation `field` (present ones stay).
fn add_members<'a>(
    connection: &Connection,
    schema: &ClassSchema,
    field: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> StoreResult<()> {
    let table = quote(&join_table(field, schema.class_name.as_str()));
    let mut statement = connection
        .prepare_cached(&format!("INSERT OR IGNORE INTO {table} (\"owningId\", \"relatedId\") VALUES (?, ?)"))?;
    for (owning, related) in pairs {
        statement.execute([owning, related])?;
    }
    Ok(())
}

fn write_relations(
    connection: &Connection,
    schema: &ClassSchema,
    object_id: &str,
    relations: &[RelationChange],
) -> StoreResult<()> {
    for RelationChange { field, add, remove } in relations {
        let table = quote(&join_table(field, schema.class_name.as_str()));
        if !add.is_empty() {
            add_members(connection, schema, field, add.iter().map(|related| (object_id, related.as_str())))?;
        }
        if !remove.is_empty() {
            let mut statement = connection
                .prepare_cached(&format!("DELETE FROM {table} WHERE \"owningId\" = ? AND \"relatedId\" = ?"))?;
            for related in remove {
                statement.execute([object_id, related.as_str()])?;
            }
        }
    }
    Ok(())
}

fn insert(
    connection: &Connection,
    schema: &ClassSchema,
    object_id: &str,
    (created_at, updated_at): (&str, &str),
    acl: Option<&Acl>,
    updates: &[FieldUpdate],
) -> StoreResult<ObjectRecord> {
    let mut fields = Map::new();
    let relations = apply_updates(schema, &mut fields, updates, true)?;
    // Written in one string: a create's SQL was a vector of quoted names joined twice.
    let mut sql = String::with_capacity(96 + 24 * fields.len());
    sql.push_str("INSERT INTO ");
    push_quoted(&mut sql, schema.class_name.as_str());
    sql.push_str(" (\"objectId\", \"createdAt\", \"updatedAt\", \"_rperm\", \"_wperm\"");
    let mut values = Vec::with_capacity(5 + fields.len());
    values.extend([
        SqlValue::Text(object_id.to_owned()),
        SqlValue::Text(created_at.to_owned()),
        SqlValue::Text(updated_at.to_owned()),
        permission_list(acl.map(|acl| &acl.read)),
        permission_list(acl.map(|acl| &acl.write)),
    ]);
    for (name, value) in &fields {
        let Some(field_type) = schema.field_type(name) else {
            return Err(StoreError::internal(format!("field {name} missing from the schema of {}", schema.class_name)));
        };
        sql.push_str(", ");
        push_quoted(&mut sql, name);
        values.push(encode(field_type, value));
    }
    sql.push_str(") VALUES (?, ?, ?, ?, ?");
    for _ in &fields {
        sql.push_str(", ?");
    }
    sql.push(')');
    connection.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    write_relations(connection, schema, object_id, &relations)?;
    Ok(ObjectRecord {
        object_id: object_id.to_owned(),
        created_at: created_at.to_owned(),
        updated_at: updated_at.to_owned(),
        acl: acl.cloned(),
        fields,
    })
}

/// The object a write targets and what the writer must be allowed.
struct Target<'a> {
    schemas: &'a Schemas,
    object_id: &'a str,
    access: &'a Access,
    condition: &'a basalt_core::query::Condition,
}

/// `"objectId" = ? AND <write ACL> AND <condition>` on alias `t0`.
fn target_clause(schema: &ClassSchema, target: &Target<'_>) -> (String, Vec<SqlValue>) {
    let check = compile_access(target.access, "t0", "_wperm");
    let condition = compile_condition(target.schemas, schema, "t0", target.condition);
    let sql = format!("t0.\"objectId\" = ? AND {} AND {}", check.sql, condition.sql);
    let mut params = vec![SqlValue::Text(target.object_id.to_owned())];
    params.extend(check.params);
    params.extend(condition.params);
    (sql, params)
}

fn load_for_write(
    connection: &Connection,
    schema: &ClassSchema,
    target: &Target<'_>,
) -> StoreResult<Option<ObjectRecord>> {
    let columns = selected_columns(schema, None);
    let column_list = columns.iter().map(|(name, _)| format!("t0.{}", quote(name))).collect::<Vec<_>>().join(", ");
    let (clause, params) = target_clause(schema, target);
    let sql = format!("SELECT {column_list} FROM {} t0 WHERE {clause}", quote(schema.class_name.as_str()));
    let mut statement = connection.prepare_cached(&sql)?;
    let record = statement.query_row(params_from_iter(params), |row| Ok(decode_row(row, &columns))).optional()?;
    Ok(record)
}

fn update(
    connection: &Connection,
    schema: &ClassSchema,
    target: &Target<'_>,
    updated_at: &str,
    acl: Option<&Option<Acl>>,
    updates: &[FieldUpdate],
) -> StoreResult<(ObjectRecord, ObjectRecord)> {
    let object_id = target.object_id;
    let Some(mut record) = load_for_write(connection, schema, target)? else {
        return Err(StoreError::not_found());
    };
    let original = record.clone();
    let before = record.fields.clone();
    let relations = apply_updates(schema, &mut record.fields, updates, false)?;
    let mut assignments = vec!["\"updatedAt\" = ?".to_owned()];
    let mut values = vec![SqlValue::Text(updated_at.to_owned())];
    if let Some(acl) = acl {
        assignments.push("\"_rperm\" = ?".into());
        values.push(permission_list(acl.as_ref().map(|acl| &acl.read)));
        assignments.push("\"_wperm\" = ?".into());
        values.push(permission_list(acl.as_ref().map(|acl| &acl.write)));
        record.acl = acl.clone();
    }
    for (name, field_type, new_value) in changed_fields(schema, updates, &before, &record.fields) {
        assignments.push(format!("{} = ?", quote(name)));
        values.push(new_value.map(|value| encode(field_type, value)).unwrap_or(SqlValue::Null));
    }
    values.push(SqlValue::Text(object_id.to_owned()));
    let sql =
        format!("UPDATE {} SET {} WHERE \"objectId\" = ?", quote(schema.class_name.as_str()), assignments.join(", "));
    connection.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    write_relations(connection, schema, object_id, &relations)?;
    record.updated_at = updated_at.to_owned();
    Ok((original, record))
}

fn delete(connection: &Connection, schema: &ClassSchema, target: &Target<'_>) -> StoreResult<ObjectRecord> {
    let object_id = target.object_id;
    // Read the object first: the delete event (LiveQuery) reports what was deleted.
    let Some(deleted_record) = load_for_write(connection, schema, target)? else {
        return Err(StoreError::not_found());
    };
    let (clause, params) = target_clause(schema, target);
    let sql = format!("DELETE FROM {} AS t0 WHERE {clause}", quote(schema.class_name.as_str()));
    let deleted = connection.prepare_cached(&sql)?.execute(params_from_iter(params))?;
    if deleted == 0 {
        return Err(StoreError::not_found());
    }
    for name in relation_fields(schema) {
        let table = quote(&join_table(name.as_str(), schema.class_name.as_str()));
        connection.prepare_cached(&format!("DELETE FROM {table} WHERE \"owningId\" = ?"))?.execute([object_id])?;
    }
    Ok(deleted_record)
}
