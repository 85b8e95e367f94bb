//! SQLite answers a get by id (one whole object by objectId, nothing else) from SQL compiled once
//! per class schema and ACL key count. It must answer exactly what the compiler's SQL answers,
//! for every caller, and follow the schema when it changes.

use std::collections::BTreeSet;
use std::sync::Arc;

use basalt_core::acl::{Access, Acl};
use basalt_core::query::{Condition, Constraint, FieldPath};
use basalt_core::update::UpdateOp;
use basalt_core::{ClassName, ClassSchema, FieldName, FieldType};
use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use basalt_store::{FieldUpdate, FindQuery, ObjectRecord, Schemas, Store, WriteOp};
use serde_json::{Value, json};

fn set(field: &str, value: Value) -> FieldUpdate {
    FieldUpdate { path: FieldPath { field: field.into(), sub_keys: Vec::new() }, op: UpdateOp::Set(value) }
}

fn readable_by(keys: &[&str]) -> Option<Acl> {
    Some(Acl { read: keys.iter().map(|key| (*key).to_owned()).collect(), write: BTreeSet::new() })
}

fn schemas_of(schema: ClassSchema) -> Arc<Schemas> {
    let mut schemas = Schemas::new();
    schemas.insert(schema.class_name.clone(), Arc::new(schema));
    Arc::new(schemas)
}

/// A get by id as the engine sends it: `objectId = id AND <class permissions: all>`, limit 1.
fn get(class_name: &ClassName, object_id: &str, access: &Access) -> FindQuery {
    FindQuery {
        class_name: class_name.clone(),
        condition: Condition::And(vec![
            Condition::Field {
                path: FieldPath { field: "objectId".into(), sub_keys: Vec::new() },
                constraint: Constraint::Equals(json!(object_id)),
            },
            Condition::all(),
        ]),
        order: Vec::new(),
        limit: Some(1),
        skip: 0,
        fields: None,
        access: access.clone(),
    }
}

/// The same read through the compiler (a limit of 2 is not a get).
async fn compiled(store: &SqliteStore, schemas: &Arc<Schemas>, query: &FindQuery) -> Vec<ObjectRecord> {
    let query = FindQuery { limit: Some(2), ..query.clone() };
    store.find(Arc::clone(schemas), &query).await.expect("find")
}

async fn insert(
    store: &SqliteStore,
    schemas: &Arc<Schemas>,
    class_name: &ClassName,
    id: &str,
    acl: Option<Acl>,
    fields: Vec<FieldUpdate>,
) {
    let op = WriteOp::Insert {
        class_name: class_name.clone(),
        object_id: id.into(),
        created_at: "2026-11-30T00:00:00.000Z".into(),
        acl,
        updates: fields,
    };
    for outcome in store.write(Arc::clone(schemas), vec![op], true).await.expect("write") {
        outcome.expect("insert");
    }
}

#[tokio::test]
async fn a_get_by_id_answers_what_the_compiled_find_answers_and_follows_schema_changes() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(directory.path().join("data.db"))).expect("open");
    let class_name = ClassName::parse("Item").expect("class name");
    let field = |name: &str| FieldName::parse(name).expect("field name");
    let schema = store
        .ensure_fields(&class_name, vec![(field("title"), FieldType::String), (field("n"), FieldType::Number)], true)
        .await
        .expect("schema");
    let schemas = schemas_of(schema);
    insert(&store, &schemas, &class_name, "public", None, vec![set("title", json!("open")), set("n", json!(1))]).await;
    insert(&store, &schemas, &class_name, "mine", readable_by(&["u1"]), vec![set("title", json!("u1's"))]).await;
    insert(&store, &schemas, &class_name, "admins", readable_by(&["role:admin"]), vec![set("n", json!(3))]).await;
    insert(&store, &schemas, &class_name, "nobody", readable_by(&[]), vec![]).await;

    let callers = [
        Access::Master,
        Access::public(),
        Access::Keys(vec!["*".into(), "u1".into()]),
        Access::Keys(vec!["*".into(), "u2".into(), "role:admin".into()]),
        Access::Keys(Vec::new()),
    ];
    let mut answered = 0;
    // Twice: the first get of each shape compiles, the second uses what was compiled.
    for _ in 0..2 {
        for access in &callers {
            for id in ["public", "mine", "admins", "nobody", "missing", "it's \"quoted\""] {
                let query = get(&class_name, id, access);
                let fast = store.find(Arc::clone(&schemas), &query).await.expect("get");
                assert_eq!(fast, compiled(&store, &schemas, &query).await, "{id} as {access:?}");
                answered += fast.len();
            }
        }
    }
    // Master sees 4, public 1, u1 2, the admin 2, no keys 1 — twice.
    assert_eq!(answered, 2 * (4 + 1 + 2 + 2 + 1));

    // A new field: the next get reads it (a new schema, so the get is compiled anew).
    let grown =
        store.ensure_fields(&class_name, vec![(field("added"), FieldType::Boolean)], false).await.expect("grow");
    let grown = schemas_of(grown);
    insert(&store, &grown, &class_name, "later", None, vec![set("added", json!(true))]).await;
    let found = store.find(Arc::clone(&grown), &get(&class_name, "later", &Access::public())).await.expect("get");
    assert_eq!(found.first().and_then(|record| record.fields.get("added")), Some(&json!(true)));
    let old = store.find(Arc::clone(&grown), &get(&class_name, "public", &Access::public())).await.expect("get");
    assert_eq!(old, compiled(&store, &grown, &get(&class_name, "public", &Access::public())).await);
}
