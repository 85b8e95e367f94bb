//! Finds and counts on reader connections, and decoding rows into `ObjectRecord`s.

use std::collections::BTreeSet;

use basalt_core::FieldType;
use basalt_core::acl::Acl;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params_from_iter};
use serde_json::Map;

use super::codec::decode;
use crate::error::StoreResult;
use crate::sql::sqlite::{compile_count, compile_find, selected_columns};
use crate::{FindQuery, ObjectRecord, Schemas};

fn text_at(row: &Row<'_>, index: usize) -> String {
    match row.get_ref(index) {
        Ok(ValueRef::Text(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    }
}

fn permissions_at(row: &Row<'_>, index: usize) -> Option<BTreeSet<String>> {
    match row.get_ref(index) {
        Ok(ValueRef::Text(bytes)) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

/// Decodes a row selected with `selected_columns` (system columns first, in order).
pub(crate) fn decode_row(row: &Row<'_>, columns: &[(&str, Option<FieldType>)]) -> ObjectRecord {
    let read = permissions_at(row, 3);
    let write = permissions_at(row, 4);
    let acl = match (read, write) {
        (None, None) => None,
        (read, write) => Some(Acl { read: read.unwrap_or_default(), write: write.unwrap_or_default() }),
    };
    let mut fields = Map::new();
    for (index, (name, field_type)) in columns.iter().enumerate().skip(5) {
        let Some(field_type) = field_type else { continue };
        let Ok(stored) = row.get_ref(index) else { continue };
        if let Some(value) = decode(field_type, stored) {
            fields.insert((*name).to_owned(), value);
        }
    }
    ObjectRecord { object_id: text_at(row, 0), created_at: text_at(row, 1), updated_at: text_at(row, 2), acl, fields }
}

pub(crate) fn find(connection: &Connection, schemas: &Schemas, query: &FindQuery) -> StoreResult<Vec<ObjectRecord>> {
    let Some(schema) = schemas.get(&query.class_name) else { return Ok(Vec::new()) };
    let columns = selected_columns(schema, query.fields.as_deref());
    let compiled = compile_find(schemas, schema, query, &columns);
    let mut statement = connection.prepare_cached(&compiled.sql)?;
    let rows = statement.query_map(params_from_iter(compiled.params.iter()), |row| Ok(decode_row(row, &columns)))?;
    let mut records = Vec::new();
    for record in rows {
        records.push(record?);
    }
    Ok(records)
}

pub(crate) fn count(connection: &Connection, schemas: &Schemas, query: &FindQuery) -> StoreResult<u64> {
    let Some(schema) = schemas.get(&query.class_name) else { return Ok(0) };
    let compiled = compile_count(schemas, schema, query);
    let mut statement = connection.prepare_cached(&compiled.sql)?;
    let count: i64 = statement.query_row(params_from_iter(compiled.params.iter()), |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}
