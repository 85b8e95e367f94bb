//! Finds and counts, and decoding rows into `ObjectRecord`s.

use std::collections::BTreeSet;

use basalt_core::FieldType;
use basalt_core::acl::Acl;
use serde_json::Map;
use tokio_postgres::Row;

use super::codec::{decode, param_refs};
use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::sql::postgres::{compile_count, compile_find};
use crate::sql::selected_columns;
use crate::{FindQuery, ObjectRecord, Schemas};
use deadpool_postgres::GenericClient;

fn permissions_at(row: &Row, index: usize) -> Option<BTreeSet<String>> {
    row.try_get::<_, Option<Vec<String>>>(index).ok().flatten().map(|list| list.into_iter().collect())
}

/// Decodes a row selected with `selected_columns` (system columns first, in order).
pub(crate) fn decode_row(row: &Row, columns: &[(&str, Option<FieldType>)]) -> ObjectRecord {
    let text_at = |index: usize| row.try_get::<_, Option<String>>(index).ok().flatten().unwrap_or_default();
    let acl = match (permissions_at(row, 3), permissions_at(row, 4)) {
        (None, None) => None,
        (read, write) => Some(Acl { read: read.unwrap_or_default(), write: write.unwrap_or_default() }),
    };
    let mut fields = Map::new();
    for (index, (name, field_type)) in columns.iter().enumerate().skip(5) {
        let Some(field_type) = field_type else { continue };
        if let Some(value) = decode(field_type, row, index) {
            fields.insert((*name).to_owned(), value);
        }
    }
    ObjectRecord { object_id: text_at(0), created_at: text_at(1), updated_at: text_at(2), acl, fields }
}

pub(crate) async fn find(
    client: &impl GenericClient,
    schemas: &Schemas,
    query: &FindQuery,
) -> StoreResult<Vec<ObjectRecord>> {
    let Some(schema) = schemas.get(&query.class_name) else { return Ok(Vec::new()) };
    let columns = selected_columns(schema, query.fields.as_deref());
    let compiled = compile_find(schemas, schema, query, &columns);
    let statement = client.prepare_cached(&compiled.sql).await?;
    let rows = client.query(&statement, &param_refs(&compiled.params)).await?;
    // Another node may have added a field and written rows holding it since this node's schema
    // was read: the stored version, from the rows' own snapshot, tells.
    let stored_version = rows.first().map(|row| row.try_get::<_, Option<i64>>(columns.len())).transpose()?.flatten();
    if let Some(stored) = stored_version
        && u64::try_from(stored).ok() != Some(schema.version)
    {
        return Err(StoreError::driver(
            StoreErrorKind::SchemaChanged,
            format!("the schema of {} changed while it was read", schema.class_name),
        ));
    }
    Ok(rows.iter().map(|row| decode_row(row, &columns)).collect())
}

pub(crate) async fn count(client: &impl GenericClient, schemas: &Schemas, query: &FindQuery) -> StoreResult<u64> {
    let Some(schema) = schemas.get(&query.class_name) else { return Ok(0) };
    let compiled = compile_count(schemas, schema, query);
    let statement = client.prepare_cached(&compiled.sql).await?;
    let row = client.query_one(&statement, &param_refs(&compiled.params)).await?;
    Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
}
