//! Checkpoints run off the commit path (a background thread, with the writer finishing them past
//! a size), and the WAL must still stay bounded under a stream of writes: it is only ever reused
//! from the start after a complete checkpoint.

use std::sync::Arc;

use basalt_core::acl::Access;
use basalt_core::query::{Condition, FieldPath};
use basalt_core::update::UpdateOp;
use basalt_core::{ClassName, FieldName, FieldType};
use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use basalt_store::{FieldUpdate, FindQuery, Schemas, Store, WriteOp, WriteOutcome};
use serde_json::Value;

const WRITES: usize = 3000;
const VALUE_BYTES: usize = 32 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_and_every_write_is_kept() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let path = directory.path().join("data.db");
    let class_name = ClassName::parse("Blob")?;
    let query = FindQuery {
        class_name: class_name.clone(),
        condition: Condition::all(),
        order: Vec::new(),
        limit: None,
        skip: 0,
        fields: Some(Vec::new()),
        access: Access::Master,
    };
    {
        let store = SqliteStore::open(SqliteOptions::new(&path))?;
        let schema =
            store.ensure_fields(&class_name, vec![(FieldName::parse("data")?, FieldType::String)], true).await?;
        let mut schemas = Schemas::new();
        schemas.insert(class_name.clone(), Arc::new(schema));
        let schemas = Arc::new(schemas);
        // ~96 MiB written one commit at a time: without checkpoints the WAL would hold all of it.
        for index in 0..WRITES {
            let value = format!("{index:08}").repeat(VALUE_BYTES / 8);
            let op = WriteOp::Insert {
                class_name: class_name.clone(),
                object_id: format!("o{index}"),
                created_at: "2026-11-30T00:00:00.000Z".into(),
                acl: None,
                updates: vec![FieldUpdate {
                    path: FieldPath { field: "data".into(), sub_keys: Vec::new() },
                    op: UpdateOp::Set(Value::String(value)),
                }],
            };
            for outcome in store.write(Arc::clone(&schemas), vec![op], true).await? {
                anyhow::ensure!(matches!(outcome?, WriteOutcome::Written(_)), "write {index} wrote nothing");
            }
        }
        let wal_bytes = std::fs::metadata(directory.path().join("data.db-wal"))?.len();
        // The writer finishes a checkpoint past 8,000 pages of 4 KiB (plus a 24-byte frame
        // header each); one more commit may land on top before the WAL starts over.
        let bound = 9_000 * (4096 + 24);
        anyhow::ensure!(wal_bytes < bound, "the WAL grew to {wal_bytes} bytes (bound {bound})");
        let found = store.find(Arc::clone(&schemas), &query).await?;
        anyhow::ensure!(found.len() == WRITES, "found {} of {WRITES} objects", found.len());
    }
    // Reopened: everything is there (in the database file or the WAL).
    let store = SqliteStore::open(SqliteOptions::new(&path))?;
    let schemas: Schemas =
        store.load_schemas().await?.into_iter().map(|schema| (schema.class_name.clone(), Arc::new(schema))).collect();
    let found = store.find(Arc::new(schemas), &query).await?;
    anyhow::ensure!(found.len() == WRITES, "after reopening, found {} of {WRITES} objects", found.len());
    Ok(())
}
