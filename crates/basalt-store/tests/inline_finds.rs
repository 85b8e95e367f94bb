//! SQLite starts every find on the calling thread within a budget of VM instructions; a find
//! that outgrows it is interrupted and run again on the reader pool. Either way the answer is
//! the whole answer.

use std::sync::Arc;

use basalt_core::acl::Access;
use basalt_core::query::{Comparison, Condition, Constraint, FieldPath};
use basalt_core::update::UpdateOp;
use basalt_core::{ClassName, FieldName, FieldType};
use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use basalt_store::{FieldUpdate, FindQuery, Schemas, Store, WriteOp};
use serde_json::json;

const ROWS: usize = 60_000;

fn find(class_name: &ClassName, condition: Condition) -> FindQuery {
    FindQuery {
        class_name: class_name.clone(),
        condition,
        order: Vec::new(),
        limit: None,
        skip: 0,
        fields: None,
        access: Access::public(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_find_past_the_inline_budget_still_answers_in_full() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(directory.path().join("data.db"))).expect("open");
    let class_name = ClassName::parse("Row").expect("class name");
    let schema = store
        .ensure_fields(&class_name, vec![(FieldName::parse("n").expect("field"), FieldType::Number)], true)
        .await
        .expect("schema");
    let schemas = Arc::new(Schemas::from([(class_name.clone(), Arc::new(schema))]));
    for chunk in 0..ROWS / 5000 {
        let ops = (chunk * 5000..(chunk + 1) * 5000)
            .map(|n| WriteOp::Insert {
                class_name: class_name.clone(),
                object_id: format!("r{n:06}"),
                created_at: "2026-11-30T00:00:00.000Z".into(),
                acl: None,
                updates: vec![FieldUpdate {
                    path: FieldPath { field: "n".into(), sub_keys: Vec::new() },
                    op: UpdateOp::Set(json!(n)),
                }],
            })
            .collect();
        for outcome in store.write(Arc::clone(&schemas), ops, true).await.expect("write") {
            outcome.expect("insert");
        }
    }
    // Returning 60,000 rows takes far more than the budget: interrupted, then run on the pool.
    let everything = store.find(Arc::clone(&schemas), &find(&class_name, Condition::all())).await.expect("find");
    assert_eq!(everything.len(), ROWS);
    // A small find fits the budget; and the thread's connection is usable after an interruption.
    let small = find(
        &class_name,
        Condition::Field {
            path: FieldPath { field: "n".into(), sub_keys: Vec::new() },
            constraint: Constraint::Compare(Comparison::Lt, json!(10)),
        },
    );
    for _ in 0..3 {
        assert_eq!(store.find(Arc::clone(&schemas), &small).await.expect("find").len(), 10);
        let again = store.find(Arc::clone(&schemas), &find(&class_name, Condition::all())).await.expect("find");
        assert_eq!(again.len(), ROWS);
    }
}
