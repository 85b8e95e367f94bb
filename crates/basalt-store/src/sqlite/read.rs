//! Finds and counts on reader connections, and decoding rows into `ObjectRecord`s.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};

use basalt_core::acl::{Access, Acl};
use basalt_core::query::{Condition, Constraint};
use basalt_core::{ClassSchema, FieldType};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, ToSql, params_from_iter};
use serde_json::{Map, Value};

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
pub(crate) fn decode_row<N: AsRef<str>>(row: &Row<'_>, columns: &[(N, Option<FieldType>)]) -> ObjectRecord {
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
            fields.insert(name.as_ref().to_owned(), value);
        }
    }
    ObjectRecord { object_id: text_at(row, 0), created_at: text_at(row, 1), updated_at: text_at(row, 2), acl, fields }
}

pub(crate) fn find(connection: &Connection, schemas: &Schemas, query: &FindQuery) -> StoreResult<Vec<ObjectRecord>> {
    let Some(schema) = schemas.get(&query.class_name) else { return Ok(Vec::new()) };
    let columns = selected_columns(schema, query.fields.as_deref());
    let compiled = compile_find(schemas, schema, query, &columns);
    run(connection, &compiled, &columns)
}

/// The objectId of a find that reads one whole object by objectId and nothing else (a get by
/// id whose class permissions allow the caller outright): the most common read there is.
pub(crate) fn whole_object_by_id(query: &FindQuery) -> Option<&String> {
    if !query.order.is_empty() || query.skip != 0 || query.limit != Some(1) || query.fields.is_some() {
        return None;
    }
    let Condition::And(parts) = &query.condition else { return None };
    match parts.as_slice() {
        [Condition::Field { path, constraint: Constraint::Equals(Value::String(object_id)) }, Condition::And(rest)]
            if rest.is_empty() && path.field == "objectId" && path.sub_keys.is_empty() =>
        {
            Some(object_id)
        }
        _ => None,
    }
}

/// Gets by id compiled once per class schema and number of ACL keys — their SQL depends on
/// nothing else — so a get skips the compiler and the column list. One per thread's inline
/// reader, so no lock.
#[derive(Default)]
pub(crate) struct CompiledGets {
    /// By the schema's address and the caller's ACL key count (`None` for the master key).
    gets: HashMap<(usize, Option<usize>), CompiledGet>,
}

struct CompiledGet {
    /// Keeps the schema's allocation, so its address names no other schema while this lives;
    /// the entry is current while the schema is.
    schema: Weak<ClassSchema>,
    sql: String,
    columns: Vec<(Box<str>, Option<FieldType>)>,
}

impl CompiledGet {
    fn is_current(&self) -> bool {
        self.schema.strong_count() > 0
    }
}

/// The parameters a get's SQL takes, in the compiler's order: the objectId, the ACL keys, then
/// LIMIT 1 OFFSET 0.
fn get_params<'a>(object_id: &'a dyn ToSql, access: &'a Access) -> Vec<&'a dyn ToSql> {
    const LIMIT: i64 = 1;
    const OFFSET: i64 = 0;
    let keys = match access {
        Access::Master => &[][..],
        Access::Keys(keys) => keys.as_slice(),
    };
    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(keys.len() + 3);
    params.push(object_id);
    params.extend(keys.iter().map(|key| key as &dyn ToSql));
    params.push(&LIMIT);
    params.push(&OFFSET);
    params
}

/// A find that `whole_object_by_id` recognised, through the compiled gets.
pub(crate) fn get_by_id(
    connection: &Connection,
    gets: &mut CompiledGets,
    schemas: &Schemas,
    query: &FindQuery,
    object_id: &dyn ToSql,
) -> StoreResult<Vec<ObjectRecord>> {
    let Some(schema) = schemas.get(&query.class_name) else { return Ok(Vec::new()) };
    let key_count = match &query.access {
        Access::Master => None,
        Access::Keys(keys) => Some(keys.len()),
    };
    let key = (Arc::as_ptr(schema) as usize, key_count);
    if !gets.gets.get(&key).is_some_and(CompiledGet::is_current) {
        // Schemas replaced since: their gets go (this key's among them).
        gets.gets.retain(|_, get| get.is_current());
    }
    let get = match gets.gets.entry(key) {
        Entry::Occupied(occupied) => occupied.into_mut(),
        Entry::Vacant(vacant) => {
            let columns = selected_columns(schema, None);
            let compiled = compile_find(schemas, schema, query, &columns);
            let expected = get_params(object_id, &query.access);
            let agrees = compiled.params.len() == expected.len()
                && compiled.params.iter().zip(&expected).all(|(param, want)| {
                    let want = want.to_sql().ok().and_then(owned_value);
                    want.is_some_and(|want| param == &want)
                });
            if !agrees {
                // Not the shape this cache knows (a compiler change): run it as any find.
                debug_assert!(agrees, "a get's parameters differ from the compiler's: {:?}", compiled.params);
                return run(connection, &compiled, &columns);
            }
            let columns = columns.into_iter().map(|(name, field_type)| (name.into(), field_type)).collect();
            vacant.insert(CompiledGet { schema: Arc::downgrade(schema), sql: compiled.sql, columns })
        }
    };
    let mut statement = connection.prepare_cached(&get.sql)?;
    let rows = statement
        .query_map(get_params(object_id, &query.access).as_slice(), |row| Ok(decode_row(row, &get.columns)))?;
    rows.collect::<Result<_, _>>().map_err(Into::into)
}

fn owned_value(output: rusqlite::types::ToSqlOutput<'_>) -> Option<rusqlite::types::Value> {
    match output {
        rusqlite::types::ToSqlOutput::Borrowed(value) => Some(value.into()),
        rusqlite::types::ToSqlOutput::Owned(value) => Some(value),
        _ => None,
    }
}

fn run<N: AsRef<str>>(
    connection: &Connection,
    compiled: &crate::sql::sqlite::Compiled,
    columns: &[(N, Option<FieldType>)],
) -> StoreResult<Vec<ObjectRecord>> {
    let mut statement = connection.prepare_cached(&compiled.sql)?;
    let rows = statement.query_map(params_from_iter(compiled.params.iter()), |row| Ok(decode_row(row, columns)))?;
    rows.collect::<Result<_, _>>().map_err(Into::into)
}

pub(crate) fn count(connection: &Connection, schemas: &Schemas, query: &FindQuery) -> StoreResult<u64> {
    let Some(schema) = schemas.get(&query.class_name) else { return Ok(0) };
    let compiled = compile_count(schemas, schema, query);
    let mut statement = connection.prepare_cached(&compiled.sql)?;
    let count: i64 = statement.query_row(params_from_iter(compiled.params.iter()), |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}
