//! Inserts, updates and deletes inside the caller's transaction. An update locks its row
//! (`SELECT … FOR UPDATE`), applies the operators in memory and writes the changed columns back,
//! so concurrent updates of one object queue on the lock and every operator is atomic.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use basalt_core::ClassSchema;
use basalt_core::acl::{Access, Acl};
use deadpool_postgres::GenericClient;
use serde_json::Map;

use super::codec::{PgParam, encode, param_refs};
use super::read::decode_row;
use crate::error::{StoreError, StoreResult};
use crate::plan::{RelationChange, apply_updates, changed_fields, relation_fields, restore_updates};
use crate::sql::postgres::{compile_delete_where, compile_target};
use crate::sql::{join_table, quote, selected_columns};
use crate::{FieldUpdate, ObjectRecord, Schemas, WriteOp, WriteOutcome};

type Applied<'a> = Pin<Box<dyn Future<Output = StoreResult<WriteOutcome>> + Send + 'a>>;

pub(crate) fn apply<'a, C: GenericClient + Send>(client: &'a C, schemas: &'a Schemas, op: &'a WriteOp) -> Applied<'a> {
    Box::pin(async move {
        match op {
            WriteOp::Insert { class_name, object_id, created_at, acl, updates } => {
                let schema = schema_of(schemas, class_name)?;
                let times = (created_at.as_str(), created_at.as_str());
                insert(client, schema, object_id, times, acl.as_ref(), updates).await.map(WriteOutcome::Written)
            }
            WriteOp::Restore { class_name, object } => {
                let schema = schema_of(schemas, class_name)?;
                let record = &object.record;
                let times = (record.created_at.as_str(), record.updated_at.as_str());
                let updates = restore_updates(&record.fields);
                let written = insert(client, schema, &record.object_id, times, record.acl.as_ref(), &updates).await?;
                if let Some(secrets) = &object.secrets {
                    super::users::put_secrets(client, &record.object_id, secrets).await?;
                }
                Ok(WriteOutcome::Written(written))
            }
            WriteOp::RestoreRelation { class_name, field, pairs } => {
                let schema = schema_of(schemas, class_name)?;
                let (owning, related) = pairs.iter().cloned().unzip();
                add_members(client, schema, field.as_str(), owning, related).await?;
                Ok(WriteOutcome::Deleted(None))
            }
            WriteOp::Update { class_name, object_id, updated_at, access, acl, updates, condition } => {
                let schema = schema_of(schemas, class_name)?;
                let target = Target { schemas, object_id, access, condition };
                let (before, after) = update(client, schema, &target, updated_at, acl.as_ref(), updates).await?;
                Ok(WriteOutcome::Updated { before: Box::new(before), after: Box::new(after) })
            }
            WriteOp::Delete { class_name, object_id, access, condition } => {
                let schema = schema_of(schemas, class_name)?;
                let target = Target { schemas, object_id, access, condition };
                let deleted = delete(client, schema, &target).await?;
                Ok(WriteOutcome::Deleted(Some(Box::new(deleted))))
            }
            WriteOp::Atomic(ops) => {
                let mut first = None;
                for op in ops {
                    let outcome = apply(client, schemas, op).await?;
                    first.get_or_insert(outcome);
                }
                first.ok_or_else(|| StoreError::internal("an empty atomic write"))
            }
            WriteOp::DeleteWhere { class_name, condition } => {
                let Some(schema) = schemas.get(class_name) else { return Ok(WriteOutcome::Deleted(None)) };
                let compiled = compile_delete_where(schemas, schema, condition);
                execute(client, &compiled.sql, &compiled.params).await?;
                Ok(WriteOutcome::Deleted(None))
            }
            WriteOp::PutUserSecrets { user_id, secrets } => {
                super::users::put_secrets(client, user_id, secrets).await.map(WriteOutcome::Secrets)
            }
            WriteOp::RecordLoginFailure { user_id, threshold, lock_until } => {
                super::users::record_login_failure(client, user_id, *threshold, *lock_until)
                    .await
                    .map(WriteOutcome::Secrets)
            }
            WriteOp::TakeToken { kind, token, now } => {
                super::users::take_token(client, *kind, token, *now).await.map(WriteOutcome::TokenTaken)
            }
        }
    })
}

fn schema_of<'a>(schemas: &'a Schemas, class_name: &basalt_core::ClassName) -> StoreResult<&'a ClassSchema> {
    schemas.get(class_name).map(|schema| &**schema).ok_or_else(StoreError::not_found)
}

fn permission_list(list: Option<&BTreeSet<String>>) -> PgParam {
    match list {
        Some(list) => PgParam::TextArray(list.iter().cloned().collect()),
        None => PgParam::Null,
    }
}

/// Runs `sql` with `params` as a cached prepared statement.
async fn execute(client: &impl GenericClient, sql: &str, params: &[PgParam]) -> StoreResult<u64> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, &param_refs(params)).await?)
}

/// Adds members to `schema`'s Relation `field`: the `owning[i]`, `related[i]` pairs (present
/// ones stay).
async fn add_members(
    client: &impl GenericClient,
    schema: &ClassSchema,
    field: &str,
    owning: Vec<String>,
    related: Vec<String>,
) -> StoreResult<()> {
    let table = quote(&join_table(field, schema.class_name.as_str()));
    let sql = format!(
        "INSERT INTO {table} (\"owningId\", \"relatedId\") SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING"
    );
    execute(client, &sql, &[PgParam::TextArray(owning), PgParam::TextArray(related)]).await?;
    Ok(())
}

async fn write_relations(
    client: &impl GenericClient,
    schema: &ClassSchema,
    object_id: &str,
    relations: &[RelationChange],
) -> StoreResult<()> {
    for RelationChange { field, add, remove } in relations {
        let table = quote(&join_table(field, schema.class_name.as_str()));
        if !add.is_empty() {
            add_members(client, schema, field, vec![object_id.to_owned(); add.len()], add.clone()).await?;
        }
        if !remove.is_empty() {
            let sql = format!("DELETE FROM {table} WHERE \"owningId\" = $1::text AND \"relatedId\" = ANY($2::text[])");
            execute(client, &sql, &[PgParam::Text(object_id.to_owned()), PgParam::TextArray(remove.clone())]).await?;
        }
    }
    Ok(())
}

/// The placeholder of the parameter that comes after `params`.
fn placeholder(params: &[PgParam], param: &PgParam) -> String {
    let mut out = String::new();
    param.write_placeholder(&mut out, params.len() + 1);
    out
}

async fn insert(
    client: &impl GenericClient,
    schema: &ClassSchema,
    object_id: &str,
    (created_at, updated_at): (&str, &str),
    acl: Option<&Acl>,
    updates: &[FieldUpdate],
) -> StoreResult<ObjectRecord> {
    let mut fields = Map::new();
    let relations = apply_updates(schema, &mut fields, updates, true)?;
    let mut columns: Vec<String> =
        ["\"objectId\"", "\"createdAt\"", "\"updatedAt\"", "\"_rperm\"", "\"_wperm\""].map(str::to_owned).to_vec();
    let mut values = Vec::with_capacity(columns.len() + fields.len());
    let mut placeholders = Vec::with_capacity(columns.len() + fields.len());
    let mut bind = |value: PgParam| {
        placeholders.push(placeholder(&values, &value));
        values.push(value);
    };
    bind(PgParam::Text(object_id.to_owned()));
    bind(PgParam::Text(created_at.to_owned()));
    bind(PgParam::Text(updated_at.to_owned()));
    bind(permission_list(acl.map(|acl| &acl.read)));
    bind(permission_list(acl.map(|acl| &acl.write)));
    for (name, value) in &fields {
        let Some(field_type) = schema.field_type(name) else {
            return Err(StoreError::internal(format!("field {name} missing from the schema of {}", schema.class_name)));
        };
        columns.push(quote(name));
        bind(encode(field_type, value));
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(schema.class_name.as_str()),
        columns.join(", "),
        placeholders.join(", ")
    );
    execute(client, &sql, &values).await?;
    write_relations(client, schema, object_id, &relations).await?;
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

/// Reads and locks the target row; `None` when it does not exist or the writer may not write it.
async fn load_for_write(
    client: &impl GenericClient,
    schema: &ClassSchema,
    target: &Target<'_>,
) -> StoreResult<Option<ObjectRecord>> {
    let columns = selected_columns(schema, None);
    let column_list = columns.iter().map(|(name, _)| format!("t0.{}", quote(name))).collect::<Vec<_>>().join(", ");
    let clause = compile_target(target.schemas, schema, target.object_id, target.access, target.condition);
    let sql = format!(
        "SELECT {column_list} FROM {} t0 WHERE {} FOR UPDATE OF t0",
        quote(schema.class_name.as_str()),
        clause.sql
    );
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &param_refs(&clause.params)).await?;
    Ok(row.map(|row| decode_row(&row, &columns)))
}

async fn update(
    client: &impl GenericClient,
    schema: &ClassSchema,
    target: &Target<'_>,
    updated_at: &str,
    acl: Option<&Option<Acl>>,
    updates: &[FieldUpdate],
) -> StoreResult<(ObjectRecord, ObjectRecord)> {
    let Some(mut record) = load_for_write(client, schema, target).await? else {
        return Err(StoreError::not_found());
    };
    let original = record.clone();
    let relations = apply_updates(schema, &mut record.fields, updates, false)?;
    let mut assignments = Vec::new();
    let mut values = Vec::new();
    let mut assign = |column: String, value: PgParam| {
        assignments.push(format!("{column} = {}", placeholder(&values, &value)));
        values.push(value);
    };
    assign("\"updatedAt\"".into(), PgParam::Text(updated_at.to_owned()));
    if let Some(acl) = acl {
        assign("\"_rperm\"".into(), permission_list(acl.as_ref().map(|acl| &acl.read)));
        assign("\"_wperm\"".into(), permission_list(acl.as_ref().map(|acl| &acl.write)));
        record.acl = acl.clone();
    }
    for (name, field_type, new_value) in changed_fields(schema, updates, &original.fields, &record.fields) {
        assign(quote(name), new_value.map_or(PgParam::Null, |value| encode(field_type, value)));
    }
    let key = placeholder(&values, &PgParam::Text(String::new()));
    values.push(PgParam::Text(target.object_id.to_owned()));
    let sql = format!(
        "UPDATE {} SET {} WHERE \"objectId\" = {key}",
        quote(schema.class_name.as_str()),
        assignments.join(", ")
    );
    execute(client, &sql, &values).await?;
    write_relations(client, schema, target.object_id, &relations).await?;
    record.updated_at = updated_at.to_owned();
    Ok((original, record))
}

async fn delete(client: &impl GenericClient, schema: &ClassSchema, target: &Target<'_>) -> StoreResult<ObjectRecord> {
    // Read (and lock) the object first: the delete event (LiveQuery) reports what was deleted.
    let Some(deleted) = load_for_write(client, schema, target).await? else {
        return Err(StoreError::not_found());
    };
    let key = [PgParam::Text(target.object_id.to_owned())];
    let removed = execute(
        client,
        &format!("DELETE FROM {} WHERE \"objectId\" = $1::text", quote(schema.class_name.as_str())),
        &key,
    )
    .await?;
    if removed == 0 {
        return Err(StoreError::not_found());
    }
    for name in relation_fields(schema) {
        let table = quote(&join_table(name.as_str(), schema.class_name.as_str()));
        execute(client, &format!("DELETE FROM {table} WHERE \"owningId\" = $1::text"), &key).await?;
    }
    Ok(deleted)
}
