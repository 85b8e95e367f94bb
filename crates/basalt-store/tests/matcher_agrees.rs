//! The in-memory matcher (`basalt_core::query::matcher`, used by LiveQuery) and both query
//! compilers (SQLite and PostgreSQL) must agree. Each case generates a class schema, objects with
//! random values (unset fields and nulls included) and random `where` queries; every query runs
//! through `Store::find` on a real store and through `matches` over the same objects in their
//! REST form, and the two objectId sets must be equal. The PostgreSQL runs use the server named
//! by `BASALT_TEST_POSTGRES` (default: the local one), in a database of their own that they drop.
//!
//! A disagreement prints the query and the objects only one side matched. Every one found so
//! far is a named case in `basalt-core/src/query/matcher/tests.rs`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use basalt_core::acl::Access;
use basalt_core::query::matcher::matches;
use basalt_core::query::{Condition, FieldPath, QueryParser};
use basalt_core::time::{format_iso, parse_iso};
use basalt_core::update::UpdateOp;
use basalt_core::value::normalize_field_value;
use basalt_core::{ClassName, ClassSchema, FieldName, FieldType, Limits};
use basalt_store::postgres::PgStore;
use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use basalt_store::{FieldUpdate, FindQuery, ObjectRecord, Schemas, Store, WriteOp, WriteOutcome};
use common::PostgresRun;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

const CLASS: &str = "Item";
const TARGET_CLASS: &str = "Owner";

/// The fields a class may have; each case keeps a random subset.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    String,
    Number,
    Boolean,
    Date,
    Array,
    Object,
    Pointer,
    Relation,
}

const FIELDS: &[(&str, Kind)] = &[
    ("title", Kind::String),
    ("score", Kind::Number),
    ("done", Kind::Boolean),
    ("due", Kind::Date),
    ("tags", Kind::Array),
    ("meta", Kind::Object),
    ("owner", Kind::Pointer),
    ("members", Kind::Relation),
];

impl Kind {
    fn field_type(self) -> FieldType {
        let target = || ClassName::parse(TARGET_CLASS).expect("a valid class name");
        match self {
            Kind::String => FieldType::String,
            Kind::Number => FieldType::Number,
            Kind::Boolean => FieldType::Boolean,
            Kind::Date => FieldType::Date,
            Kind::Array => FieldType::Array,
            Kind::Object => FieldType::Object,
            Kind::Pointer => FieldType::Pointer(target()),
            Kind::Relation => FieldType::Relation(target()),
        }
    }
}

const STRINGS: &[&str] = &["", "a", "b", "ab", "abc", "A", "Ab", "b a", "x", "é", "É"];
const NUMBERS: &[f64] = &[-1.0, 0.0, 1.0, 1.5, 2.0, 10.0];
const DATES: &[&str] = &[
    "2020-01-01T00:00:00.000Z",
    "2020-03-01T12:30:00.000Z",
    "2020-06-01T00:00:00.000Z",
    "2021-01-01T00:00:00.000Z",
    "2022-01-01T00:00:00.000Z",
];
const OBJECT_IDS: &[&str] = &["o1", "o2", "o3"];
/// createdAt of the first object; the others follow a day apart, so they span `DATES`' range.
const FIRST_CREATED_AT: &str = "2020-01-15T00:00:00.000Z";

fn string() -> impl Strategy<Value = Value> {
    prop::sample::select(STRINGS).prop_map(Value::from)
}

fn number() -> impl Strategy<Value = Value> {
    prop::sample::select(NUMBERS).prop_map(Value::from)
}

fn date() -> impl Strategy<Value = Value> {
    prop::sample::select(DATES).prop_map(|iso| json!({"__type": "Date", "iso": iso}))
}

fn pointer(class_names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (prop::sample::select(class_names), prop::sample::select(OBJECT_IDS)).prop_map(
        |(class_name, object_id)| json!({"__type": "Pointer", "className": class_name, "objectId": object_id}),
    )
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![string(), number(), any::<bool>().prop_map(Value::from), Just(Value::Null)]
}

/// An element of an Array field.
fn element() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => date(),
        1 => pointer(&[TARGET_CLASS]),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => scalar().prop_map(|value| json!({"k": value})),
    ]
}

fn array() -> impl Strategy<Value = Value> {
    prop::collection::vec(element(), 0..4).prop_map(Value::Array)
}

/// A value inside an Object field.
fn nested() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => date(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        2 => prop::collection::btree_map(prop::sample::select(&["x", "y", "z"][..]), scalar(), 0..3)
            .prop_map(|map| Value::Object(map.into_iter().map(|(key, value)| (key.to_owned(), value)).collect())),
    ]
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(&["x", "y", "z"][..]), nested(), 0..4)
        .prop_map(|map| Value::Object(map.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()))
}

/// A stored value of a field: unset (`None`), null, or a value of its kind.
fn field_value(kind: Kind) -> BoxedStrategy<Option<Value>> {
    let value = match kind {
        Kind::String => string().boxed(),
        Kind::Number => number().boxed(),
        Kind::Boolean => any::<bool>().prop_map(Value::from).boxed(),
        Kind::Date => date().boxed(),
        Kind::Array => array().boxed(),
        Kind::Object => object().boxed(),
        Kind::Pointer => pointer(&[TARGET_CLASS]).boxed(),
        Kind::Relation => return Just(None).boxed(),
    };
    prop_oneof![1 => Just(None), 1 => Just(Some(Value::Null)), 4 => value.prop_map(Some)].boxed()
}

/// One object: a value per entry of `FIELDS`.
fn object_values() -> impl Strategy<Value = Vec<Option<Value>>> {
    FIELDS.iter().map(|(_, kind)| field_value(*kind)).collect::<Vec<_>>()
}

/// The keys queries use: every field, the system fields, a field no class has, and dotted paths
/// into the Object field and into fields that are not Objects.
const KEYS: &[&str] = &[
    "title",
    "score",
    "done",
    "due",
    "tags",
    "meta",
    "owner",
    "members",
    "ghost",
    "objectId",
    "createdAt",
    "meta.x",
    "meta.y",
    "meta.y.z",
    "meta.x.y",
    "title.x",
    "ghost.x",
];

/// An operand for `key`: mostly of the key's own type, sometimes anything.
fn operand(key: &'static str) -> BoxedStrategy<Value> {
    let typed = match key {
        "title" => string().boxed(),
        "score" => number().boxed(),
        "done" => any::<bool>().prop_map(Value::from).boxed(),
        "due" | "createdAt" => prop_oneof![
            3 => date(),
            1 => prop::sample::select(DATES).prop_map(Value::from),
        ]
        .boxed(),
        "tags" => prop_oneof![3 => element(), 1 => array()].boxed(),
        "meta" => object().boxed(),
        "owner" | "members" => pointer(&[TARGET_CLASS, "Other"]).boxed(),
        "objectId" => (0..6usize).prop_map(|index| Value::from(format!("obj{index}"))).boxed(),
        _ => nested().boxed(),
    };
    let anything = prop_oneof![scalar(), date(), pointer(&[TARGET_CLASS]), array(), object()];
    prop_oneof![3 => typed, 1 => anything].boxed()
}

fn list(key: &'static str) -> impl Strategy<Value = Value> {
    prop::collection::vec(operand(key), 0..4).prop_map(Value::Array)
}

const PATTERNS: &[&str] = &["^a", "a", "b$", "^$", "A", "a|x", "^ab", r"\Qb a\E", "z", "é"];
const TERMS: &[&str] = &["a", "A b", "ab", "x", "É", "b  a"];

/// The operand of one key in `where`: a value (equality) or an object of operators.
fn constraint(key: &'static str) -> BoxedStrategy<Value> {
    let comparison = prop::sample::select(&["$lt", "$lte", "$gt", "$gte"][..]);
    prop_oneof![
        3 => operand(key),
        1 => operand(key).prop_map(|value| json!({"$eq": value})),
        2 => operand(key).prop_map(|value| json!({"$ne": value})),
        3 => (comparison.clone(), operand(key)).prop_map(|(operator, value)| json!({operator: value})),
        1 => (comparison.clone(), operand(key), comparison, operand(key)).prop_map(|(first, a, second, b)| {
            let mut operators = Map::new();
            operators.insert(first.to_owned(), a);
            operators.insert(second.to_owned(), b);
            Value::Object(operators)
        }),
        2 => list(key).prop_map(|values| json!({"$in": values})),
        2 => list(key).prop_map(|values| json!({"$nin": values})),
        1 => any::<bool>().prop_map(|exists| json!({"$exists": exists})),
        1 => list(key).prop_map(|values| json!({"$all": values})),
        1 => list(key).prop_map(|values| json!({"$containedBy": values})),
        2 => (prop::sample::select(PATTERNS), any::<bool>()).prop_map(|(pattern, insensitive)| {
            if insensitive { json!({"$regex": pattern, "$options": "i"}) } else { json!({"$regex": pattern}) }
        }),
        1 => (prop::sample::select(TERMS), any::<bool>()).prop_map(|(term, case_sensitive)| {
            json!({"$text": {"$search": {"$term": term, "$caseSensitive": case_sensitive}}})
        }),
    ]
    .boxed()
}

fn leaf() -> impl Strategy<Value = Value> {
    prop::sample::select(KEYS).prop_flat_map(|key| constraint(key).prop_map(move |operand| json!({key: operand})))
}

/// A `where` object: leaves combined with `$or`, `$and`, `$nor` and several keys in one object.
fn where_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|branches| json!({"$or": branches})),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|branches| json!({"$and": branches})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|branches| json!({"$nor": branches})),
            prop::collection::vec(inner, 2..4).prop_map(|parts| {
                let mut merged = Map::new();
                for part in parts {
                    if let Value::Object(part) = part {
                        merged.extend(part);
                    }
                }
                Value::Object(merged)
            }),
        ]
    })
}

#[derive(Debug, Clone)]
struct Case {
    /// Which entries of `FIELDS` the class has.
    kept_fields: Vec<bool>,
    objects: Vec<Vec<Option<Value>>>,
    queries: Vec<Value>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop::bool::weighted(0.85), FIELDS.len()),
        prop::collection::vec(object_values(), 20..50),
        prop::collection::vec(where_json(), 1..12),
    )
        .prop_map(|(kept_fields, objects, queries)| Case { kept_fields, objects, queries })
}

fn class_name() -> ClassName {
    ClassName::parse(CLASS).expect("a valid class name")
}

/// Creates the class and inserts the objects as the engine would (values normalised with
/// `normalize_field_value`); returns the schema.
async fn populate(store: &dyn Store, case: &Case) -> anyhow::Result<ClassSchema> {
    let class_name = class_name();
    let fields = FIELDS
        .iter()
        .zip(&case.kept_fields)
        .filter(|(_, kept)| **kept)
        .map(|((name, kind), _)| Ok((FieldName::parse(name)?, kind.field_type())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let schema = store.ensure_fields(&class_name, fields, true).await?;
    let schemas = schemas_of(&schema);
    let first_created_at = parse_iso(FIRST_CREATED_AT)?;
    let mut ops = Vec::new();
    for (index, values) in case.objects.iter().enumerate() {
        let mut updates = Vec::new();
        for ((name, _), value) in FIELDS.iter().zip(values) {
            let (Some(field_type), Some(value)) = (schema.field_type(name), value) else { continue };
            let value = normalize_field_value(&class_name, name, field_type, value)?;
            let path = FieldPath { field: (*name).to_owned(), sub_keys: Vec::new() };
            updates.push(FieldUpdate { path, op: UpdateOp::Set(value) });
        }
        let day_millis = 24 * 3600 * 1000;
        let created_at = format_iso(first_created_at + i64::try_from(index)? * day_millis);
        ops.push(WriteOp::Insert {
            class_name: class_name.clone(),
            object_id: format!("obj{index}"),
            created_at,
            acl: None,
            updates,
        });
    }
    for outcome in store.write(schemas, ops, true).await? {
        anyhow::ensure!(matches!(outcome?, WriteOutcome::Written(_)), "an insert wrote nothing");
    }
    Ok(schema)
}

fn schemas_of(schema: &ClassSchema) -> Arc<Schemas> {
    let mut schemas = Schemas::new();
    schemas.insert(schema.class_name.clone(), Arc::new(schema.clone()));
    Arc::new(schemas)
}

fn find_query(condition: Condition) -> FindQuery {
    FindQuery {
        class_name: class_name(),
        condition,
        order: Vec::new(),
        limit: None,
        skip: 0,
        fields: None,
        access: Access::Master,
    }
}

/// An object in the REST form the engine outputs (and LiveQuery sees): system fields, field
/// values, and a marker for each Relation field.
fn rest_object(schema: &ClassSchema, record: ObjectRecord) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("objectId".into(), Value::String(record.object_id));
    object.insert("createdAt".into(), Value::String(record.created_at));
    object.insert("updatedAt".into(), Value::String(record.updated_at));
    object.extend(record.fields);
    for (name, spec) in &schema.fields {
        if let FieldType::Relation(target) = &spec.field_type {
            object.insert(name.to_string(), json!({"__type": "Relation", "className": target.as_str()}));
        }
    }
    object
}

/// The store a case runs on: a new SQLite database per case, or one PostgreSQL database shared
/// by the cases of a run (each case drops its class afterwards).
#[derive(Clone, Copy)]
enum Backend<'a> {
    Sqlite,
    Postgres(&'a PgStore),
}

fn run_case(runtime: &tokio::runtime::Runtime, backend: Backend<'_>, case: &Case) -> Result<(), TestCaseError> {
    let outcome: anyhow::Result<Option<String>> = runtime.block_on(async {
        match backend {
            Backend::Sqlite => {
                let directory = tempfile::tempdir()?;
                let store = SqliteStore::open(SqliteOptions::new(directory.path().join("data.db")))?;
                compare(&store, case).await
            }
            Backend::Postgres(store) => {
                let compared = compare(store, case).await;
                store.purge_class(&class_name()).await?;
                store.delete_class(&class_name()).await?;
                compared
            }
        }
    });
    match outcome {
        Ok(None) => Ok(()),
        Ok(Some(report)) => Err(TestCaseError::fail(report)),
        Err(error) => Err(TestCaseError::fail(format!("{error:#}"))),
    }
}

/// Runs the case's queries through the store and the matcher; a report of the first query they
/// disagree on, if any.
async fn compare(store: &dyn Store, case: &Case) -> anyhow::Result<Option<String>> {
    {
        let schema = populate(store, case).await?;
        let schemas = schemas_of(&schema);
        let objects: Vec<Map<String, Value>> = store
            .find(Arc::clone(&schemas), &find_query(Condition::all()))
            .await?
            .into_iter()
            .map(|record| rest_object(&schema, record))
            .collect();
        anyhow::ensure!(objects.len() == case.objects.len(), "find-all returned {} objects", objects.len());
        let limits = Limits::default();
        let parser = QueryParser { limits: &limits, now: parse_iso("2021-06-01T00:00:00Z")? };
        for where_json in &case.queries {
            let condition = parser
                .parse_where(where_json)
                .map_err(|error| anyhow::anyhow!("the generator wrote an invalid query {where_json}: {error:?}"))?;
            let by_sql: BTreeSet<String> = store
                .find(Arc::clone(&schemas), &find_query(condition.clone()))
                .await?
                .into_iter()
                .map(|record| record.object_id)
                .collect();
            let mut by_matcher = BTreeSet::new();
            for object in &objects {
                if matches(&schema, object, &condition)? {
                    by_matcher.insert(object["objectId"].as_str().unwrap_or_default().to_owned());
                }
            }
            if by_sql != by_matcher {
                let fields: Vec<&str> = schema.fields.keys().map(FieldName::as_str).collect();
                let mut report = format!("where {where_json}\nclass fields {fields:?}\n{condition:#?}\n");
                for object in &objects {
                    let object_id = object["objectId"].as_str().unwrap_or_default();
                    let (in_sql, in_matcher) = (by_sql.contains(object_id), by_matcher.contains(object_id));
                    if in_sql != in_matcher {
                        let side = if in_sql { "only SQL" } else { "only the matcher" };
                        report.push_str(&format!("{side} matched {}\n", Value::Object(object.clone())));
                    }
                }
                return Ok(Some(report));
            }
        }
        Ok(None)
    }
}

/// 64 cases keep the suite to a second or so; `PROPTEST_CASES=5000` hunts longer.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matcher_agrees_with_sqlite(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        run_case(&runtime, Backend::Sqlite, &case)?;
    }
}

#[test]
fn matcher_agrees_with_postgres() {
    let run = PostgresRun::start("matcher");
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let outcome = runner.run(&case(), |case| run_case(&run.runtime, Backend::Postgres(&run.store), &case));
    run.drop_database();
    if let Err(error) = outcome {
        panic!("{error}");
    }
}

/// A case written by hand: each object maps field names to values (absent = unset).
fn case_of(objects: &[Value], queries: &[Value]) -> Case {
    let objects =
        objects.iter().map(|object| FIELDS.iter().map(|(name, _)| object.get(name).cloned()).collect()).collect();
    Case { kept_fields: vec![true; FIELDS.len()], objects, queries: queries.to_vec() }
}

/// Each disagreement the property test found (fixed in the SQL compiler), run through both sides
/// on every run. The matcher's answers are pinned by the named cases in its unit tests.
#[test]
fn found_disagreements_stay_fixed() {
    let objects = [
        json!({}),
        json!({"title": "a", "done": true, "tags": [], "meta": {"x": 1}}),
        json!({"done": false, "tags": ["a", null], "meta": {"x": null, "y": {"z": -1}}}),
        json!({"tags": [[]], "meta": {"x": {"z": -1}}}),
        json!({"tags": ["x", "B"], "meta": {"x": "é", "y": "B"}}),
    ];
    let queries = [
        json!({"$nor": [{"done": {"$in": [true]}}]}),
        json!({"$nor": [{"title": "a"}]}),
        json!({"meta.x": {"$ne": {"z": -1}}}),
        json!({"meta.x": {"$nin": [1]}}),
        json!({"ghost": {"$in": [null]}}),
        json!({"ghost": {"$nin": [null, "x"]}}),
        json!({"meta.x": {"$in": [null]}}),
        json!({"meta.x": {"$nin": [null, {"x": "A"}]}}),
        json!({"tags": {"$in": [null, "b"]}}),
        json!({"tags": {"$nin": [null]}}),
        json!({"tags": {"$ne": []}}),
        // Strings inside arrays and objects compare by bytes, whatever the database's collation
        // (the test database is ICU's English: "x" < "é" and "a" < "B" there, not in byte order).
        json!({"tags": {"$lt": "é"}}),
        json!({"tags": {"$gt": "a"}}),
        json!({"meta.x": {"$lt": "x"}}),
        json!({"meta.y": {"$gte": "a"}}),
    ];
    let case = case_of(&objects, &queries);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    if let Err(error) = run_case(&runtime, Backend::Sqlite, &case) {
        panic!("SQLite: {error}");
    }
    let run = PostgresRun::start("disagreements");
    let outcome = run_case(&run.runtime, Backend::Postgres(&run.store), &case);
    run.drop_database();
    if let Err(error) = outcome {
        panic!("PostgreSQL: {error}");
    }
}
