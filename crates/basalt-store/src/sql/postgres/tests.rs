//! Snapshots of the PostgreSQL the compiler writes: the SQL text, then the bound parameters, in
//! order (`$1` is the first). Every case also checks that the placeholders are numbered `$1..$n`
//! in order, one per parameter, each cast to its parameter's type.

use std::sync::Arc;

use basalt_core::acl::Access;
use basalt_core::query::{QueryParser, parse_order};
use basalt_core::{ClassName, ClassSchema, FieldName, FieldSpec, FieldType, Limits};
use expect_test::{Expect, expect};

use super::*;
use crate::sql::selected_columns;

fn class(name: &str) -> ClassName {
    ClassName::parse(name).unwrap()
}

fn schemas() -> Schemas {
    let mut post = ClassSchema::new(class("Post"));
    for (name, field_type) in [
        ("title", FieldType::String),
        ("score", FieldType::Number),
        ("draft", FieldType::Boolean),
        ("published", FieldType::Date),
        ("tags", FieldType::Array),
        ("meta", FieldType::Object),
        ("where", FieldType::GeoPoint),
        ("area", FieldType::Polygon),
        ("author", FieldType::Pointer(class("_User"))),
        // A pointer to a class that does not exist.
        ("editor", FieldType::Pointer(class("Editor"))),
        ("fans", FieldType::Relation(class("_User"))),
    ] {
        post.fields.insert(FieldName::parse(name).unwrap(), FieldSpec::of(field_type));
    }
    let mut user = ClassSchema::new(class("_User"));
    for (name, field_type) in
        [("username", FieldType::String), ("age", FieldType::Number), ("posts", FieldType::Relation(class("Post")))]
    {
        user.fields.insert(FieldName::parse(name).unwrap(), FieldSpec::of(field_type));
    }
    let mut schemas = Schemas::new();
    schemas.insert(post.class_name.clone(), Arc::new(post));
    schemas.insert(user.class_name.clone(), Arc::new(user));
    schemas
}

fn post(schemas: &Schemas) -> Arc<ClassSchema> {
    schemas.get(&class("Post")).unwrap().clone()
}

fn parse(where_json: &str) -> Condition {
    let limits = Limits::default();
    let parser = QueryParser { limits: &limits, now: 0 };
    parser.parse_where(&serde_json::from_str(where_json).unwrap()).unwrap()
}

/// A find on Post: limit 10, no skip, only `title` besides the system columns.
fn find_query(where_json: &str, order: &str, access: Access) -> FindQuery {
    FindQuery {
        class_name: class("Post"),
        condition: parse(where_json),
        order: parse_order(order).unwrap(),
        limit: Some(10),
        skip: 0,
        fields: Some(vec!["title".into()]),
        access,
    }
}

/// The SQL, then the parameters. Checks that the placeholders are `$1..$n` in order, one per
/// parameter, each cast to its parameter's type.
fn render(compiled: &Compiled) -> String {
    let sql = &compiled.sql;
    let mut count = 0;
    for (index, _) in sql.match_indices('$') {
        let digits: String = sql[index + 1..].chars().take_while(char::is_ascii_digit).collect();
        let Ok(number) = digits.parse::<usize>() else { continue };
        count += 1;
        assert_eq!(number, count, "placeholders out of order in {sql}");
        let param = compiled.params.get(number - 1).unwrap_or_else(|| panic!("no parameter ${number} for {sql}"));
        let mut placeholder = String::new();
        param.write_placeholder(&mut placeholder, number);
        assert!(sql[index..].starts_with(&placeholder), "${number} is not written as {placeholder} in {sql}");
    }
    assert_eq!(count, compiled.params.len(), "parameters without a placeholder in {sql}");
    format!("{sql}\n{:?}", compiled.params)
}

#[track_caller]
fn check_find(query: &FindQuery, expected: Expect) {
    let schemas = schemas();
    let schema = post(&schemas);
    let columns = selected_columns(&schema, query.fields.as_deref());
    expected.assert_eq(&render(&compile_find(&schemas, &schema, query, &columns)));
}

#[track_caller]
fn check(where_json: &str, order: &str, access: Access, expected: Expect) {
    check_find(&find_query(where_json, order, access), expected);
}

/// The condition alone on alias `t0` (as a master key writes it: no ACL clause).
#[track_caller]
fn check_where(where_json: &str, expected: Expect) {
    let schemas = schemas();
    let schema = post(&schemas);
    let mut compiler = Compiler::<Postgres>::new(&schemas, 1);
    compiler.condition(&schema, "t0", &parse(where_json), &Access::Master);
    expected.assert_eq(&render(&compiler.out));
}

#[test]
fn regex_flags_and_escapes() {
    assert_eq!(regex_for_postgres("^ab\\bc"), "(?p)^ab\\yc");
    assert_eq!(regex_for_postgres("(?i)abc"), "(?pi)abc");
    assert_eq!(regex_for_postgres("(?ims)a.c$"), "(?wi)a.c$");
    assert_eq!(regex_for_postgres("(?s)a\\\\b"), "(?s)a\\\\b");
    assert_eq!(regex_for_postgres("(?:x)y"), "(?p)(?:x)y");
}

#[test]
fn equality_with_acl() {
    check(
        r#"{"title":"a"}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."title" = $1::text) AND (t0."_rperm" IS NULL OR t0."_rperm" && $2::text[]) LIMIT $3::int8
            [Text("a"), TextArray(["*"]), Int(10)]"#]],
    );
}

#[test]
fn acl_with_user_and_roles_is_one_array_overlap() {
    check(
        r#"{"score":1}"#,
        "",
        Access::Keys(vec!["*".into(), "u1".into(), "role:admin".into()]),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."score" = $1::float8) AND (t0."_rperm" IS NULL OR t0."_rperm" && $2::text[]) LIMIT $3::int8
            [Real(1.0), TextArray(["*", "u1", "role:admin"]), Int(10)]"#]],
    );
}

#[test]
fn master_has_no_acl_clause_and_empty_where_is_true() {
    check(
        "{}",
        "",
        Access::Master,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (TRUE) LIMIT $1::int8
        [Int(10)]"#]],
    );
}

#[test]
fn scalar_types() {
    check_where(
        r#"{"draft":true,"author":{"__type":"Pointer","className":"_User","objectId":"u1"},"published":{"__type":"Date","iso":"2024-01-02T03:04:05.000Z"}}"#,
        expect![[r#"
            (t0."author" = $1::text) AND (t0."draft" = $2::boolean) AND (t0."published" = $3::text)
            [Text("u1"), Bool(true), Text("2024-01-02T03:04:05.000Z")]"#]],
    );
    // A pointer to another class, or a value of another type, equals nothing.
    check_where(
        r#"{"author":{"__type":"Pointer","className":"Other","objectId":"u1"},"score":"1"}"#,
        expect![[r#"
            (FALSE) AND (FALSE)
            []"#]],
    );
    // Object and GeoPoint columns compare as jsonb.
    check_where(
        r#"{"meta":{"$eq":{"a":1}},"where":{"__type":"GeoPoint","latitude":1,"longitude":2}}"#,
        expect![[r#"
            (t0."meta" = $1::jsonb) AND (t0."where" = $2::jsonb)
            [Json(Object {"a": Number(1)}), Json(Object {"__type": String("GeoPoint"), "latitude": Number(1), "longitude": Number(2)})]"#]],
    );
}

#[test]
fn null_and_not_equal() {
    check_where(
        r#"{"title":null,"score":{"$ne":null}}"#,
        expect![[r#"
        (t0."score" IS NOT NULL) AND (t0."title" IS NULL)
        []"#]],
    );
    check_where(
        r#"{"title":{"$ne":"a"},"score":{"$ne":"not a number"}}"#,
        expect![[r#"
        (TRUE) AND ((t0."title" IS NULL OR t0."title" <> $1::text))
        [Text("a")]"#]],
    );
}

#[test]
fn missing_fields_behave_as_null() {
    check(
        r#"{"nope":{"$exists":false},"gone":1}"#,
        "",
        Access::Master,
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE ((FALSE) AND (TRUE)) LIMIT $1::int8
            [Int(10)]"#]],
    );
    check_where(
        r#"{"a":{"$ne":1},"b":{"$in":[1,null]},"c":{"$nin":[1]},"d":{"$nin":[null]},"e":null,"f":{"$notInQuery":{"className":"_User","where":{}}},"g":{"$inQuery":{"className":"_User","where":{}}}}"#,
        expect![[r#"
            (TRUE) AND (TRUE) AND (TRUE) AND (FALSE) AND (TRUE) AND (TRUE) AND (FALSE)
            []"#]],
    );
}

#[test]
fn in_and_not_in_on_scalars() {
    check_where(
        r#"{"title":{"$in":["a","b"]},"score":{"$nin":[1,2]}}"#,
        expect![[r#"
        (((t0."score" IS NULL AND TRUE) OR (t0."score" IS NOT NULL AND NOT t0."score" IN ($1::float8, $2::float8)))) AND (((t0."title" IS NULL AND FALSE) OR t0."title" IN ($3::text, $4::text)))
        [Real(1.0), Real(2.0), Text("a"), Text("b")]"#]],
    );
    // Null among the operands: unset holds for `$in` and not for `$nin`.
    check_where(
        r#"{"title":{"$in":["a",null]},"score":{"$nin":[1,null]}}"#,
        expect![[r#"
        (((t0."score" IS NULL AND FALSE) OR (t0."score" IS NOT NULL AND NOT t0."score" IN ($1::float8)))) AND (((t0."title" IS NULL AND TRUE) OR t0."title" IN ($2::text)))
        [Real(1.0), Text("a")]"#]],
    );
    // No operand that can match: no `IN ()`.
    check_where(
        r#"{"title":{"$in":[]},"score":{"$nin":["x"]}}"#,
        expect![[r#"
        (((t0."score" IS NULL AND TRUE) OR (t0."score" IS NOT NULL AND NOT FALSE))) AND (((t0."title" IS NULL AND FALSE) OR FALSE))
        []"#]],
    );
}

#[test]
fn comparisons_on_numbers_strings_and_dates() {
    check_where(
        r#"{"score":{"$gt":1,"$lte":5},"title":{"$gte":"m"},"createdAt":{"$gte":{"__type":"Date","iso":"2024-01-01T00:00:00.000Z"}},"published":{"$lt":{"__type":"Date","iso":"2025-01-01T00:00:00.000Z"}},"updatedAt":{"$lt":"2025-06-01T00:00:00Z"}}"#,
        expect![[r#"
            (t0."createdAt" >= $1::text) AND (t0."published" < $2::text) AND (t0."score" > $3::float8) AND (t0."score" <= $4::float8) AND (t0."title" >= $5::text) AND (t0."updatedAt" < $6::text)
            [Text("2024-01-01T00:00:00.000Z"), Text("2025-01-01T00:00:00.000Z"), Real(1.0), Real(5.0), Text("m"), Text("2025-06-01T00:00:00.000Z")]"#]],
    );
    // Booleans and pointers are not ordered; a mismatched operand matches nothing.
    check_where(
        r#"{"draft":{"$gt":false},"score":{"$lt":"5"}}"#,
        expect![[r#"
        (FALSE) AND (FALSE)
        []"#]],
    );
}

#[test]
fn exists() {
    check_where(
        r#"{"title":{"$exists":true},"score":{"$exists":false},"tags":{"$exists":true}}"#,
        expect![[r#"
        (t0."score" IS NULL) AND (t0."tags" IS NOT NULL) AND (t0."title" IS NOT NULL)
        []"#]],
    );
}

#[test]
fn array_contains_and_order() {
    check(
        r#"{"tags":"x","score":{"$gte":2}}"#,
        "-score,title",
        Access::Master,
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE ((t0."score" >= $1::float8) AND (EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $2::jsonb))) ORDER BY t0."score" DESC NULLS LAST, t0."title" ASC NULLS FIRST LIMIT $3::int8
            [Real(2.0), Json(String("x")), Int(10)]"#]],
    );
}

#[test]
fn array_equality() {
    // An array operand is the whole array; a scalar is "contains"; null is unset.
    check_where(
        r#"{"tags":["a","b"]}"#,
        expect![[r#"
        t0."tags" = $1::jsonb
        [Json(Array [String("a"), String("b")])]"#]],
    );
    check_where(
        r#"{"tags":{"$ne":["a","b"]}}"#,
        expect![[r#"
        (t0."tags" IS NULL OR t0."tags" <> $1::jsonb)
        [Json(Array [String("a"), String("b")])]"#]],
    );
    check_where(
        r#"{"tags":{"$ne":"a"}}"#,
        expect![[r#"
        (t0."tags" IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb))
        [Json(String("a"))]"#]],
    );
    check_where(
        r#"{"tags":null}"#,
        expect![[r#"
        t0."tags" IS NULL
        []"#]],
    );
    check_where(
        r#"{"tags":{"$ne":null}}"#,
        expect![[r#"
        t0."tags" IS NOT NULL
        []"#]],
    );
    check_where(
        r#"{"tags":{"__type":"Pointer","className":"_User","objectId":"u1"}}"#,
        expect![[r#"
            EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb)
            [Json(Object {"__type": String("Pointer"), "className": String("_User"), "objectId": String("u1")})]"#]],
    );
}

#[test]
fn array_all_in_nin_contained_by() {
    check_where(
        r#"{"tags":{"$all":["a",2,{"$regex":"^b"}]}}"#,
        expect![[r#"
        (t0."tags" IS NOT NULL AND EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb) AND EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $2::jsonb) AND EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE jsonb_typeof(e.v) = 'string' AND ((e.v #>> '{}') COLLATE basalt_regex) ~ $3::text))
        [Json(String("a")), Json(Number(2)), Text("(?p)^b")]"#]],
    );
    check_where(
        r#"{"tags":{"$in":["a",1]}}"#,
        expect![[r#"
        EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb OR e.v = $2::jsonb)
        [Json(String("a")), Json(Number(1))]"#]],
    );
    check_where(
        r#"{"tags":{"$in":["a",null]}}"#,
        expect![[r#"
        (t0."tags" IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb OR e.v = $2::jsonb))
        [Json(String("a")), Json(Null)]"#]],
    );
    check_where(
        r#"{"tags":{"$nin":["a"]}}"#,
        expect![[r#"
        (t0."tags" IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb))
        [Json(String("a"))]"#]],
    );
    check_where(
        r#"{"tags":{"$nin":["a",null]}}"#,
        expect![[r#"
        (t0."tags" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb OR e.v = $2::jsonb))
        [Json(String("a")), Json(Null)]"#]],
    );
    check_where(
        r#"{"tags":{"$containedBy":["a","b"]}}"#,
        expect![[r#"
        (t0."tags" IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE NOT (e.v = $1::jsonb OR e.v = $2::jsonb)))
        [Json(String("a")), Json(String("b"))]"#]],
    );
    check_where(
        r#"{"tags":{"$containedBy":[]}}"#,
        expect![[r#"
        (t0."tags" IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE NOT (FALSE)))
        []"#]],
    );
    check_where(
        r#"{"tags":{"$in":[]}}"#,
        expect![[r#"
        EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE FALSE)
        []"#]],
    );
}

#[test]
fn array_comparisons_and_regex() {
    // Strings taken out of jsonb (`#>> '{}'`) compare under the database's default collation,
    // not the "C" (byte order) of text columns.
    check_where(
        r#"{"tags":{"$gt":3,"$lt":"q"}}"#,
        expect![[r#"
            (EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE CASE WHEN jsonb_typeof(e.v) = 'number' THEN (e.v)::float8 > $1::float8 END)) AND (EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE CASE WHEN jsonb_typeof(e.v) = 'string' THEN ((e.v #>> '{}') COLLATE "C") < $2::text END))
            [Real(3.0), Text("q")]"#]],
    );
    check_where(
        r#"{"tags":{"$gt":true}}"#,
        expect![[r#"
        FALSE
        []"#]],
    );
    check_where(
        r#"{"tags":{"$regex":"^a","$options":"i"}}"#,
        expect![[r#"
        EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE jsonb_typeof(e.v) = 'string' AND ((e.v #>> '{}') COLLATE basalt_regex) ~ $1::text)
        [Text("(?pi)^a")]"#]],
    );
    // Geo and text constraints never hold on arrays.
    check_where(
        r#"{"tags":{"$text":{"$search":{"$term":"x"}}}}"#,
        expect![[r#"
        FALSE
        []"#]],
    );
}

#[test]
fn all_and_contained_by_on_scalars_match_nothing() {
    check_where(
        r#"{"title":{"$all":["a"]},"score":{"$containedBy":[1]}}"#,
        expect![[r#"
        (FALSE) AND (FALSE)
        []"#]],
    );
}

#[test]
fn dotted_keys_into_objects() {
    check(
        r#"{"meta.level":{"$gt":3}}"#,
        "",
        Access::Master,
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (CASE WHEN jsonb_typeof((t0."meta" #> '{level}')) = 'number' THEN ((t0."meta" #> '{level}'))::float8 > $1::float8 END) LIMIT $2::int8
            [Real(3.0), Int(10)]"#]],
    );
    check_where(
        r#"{"meta.a.b":"x","meta.n":1,"meta.o":{"k":[1,2]}}"#,
        expect![[r#"
        ((t0."meta" #> '{a,b}') = $1::jsonb) AND ((t0."meta" #> '{n}') = $2::jsonb) AND ((t0."meta" #> '{o}') = $3::jsonb)
        [Json(String("x")), Json(Number(1)), Json(Object {"k": Array [Number(1), Number(2)]})]"#]],
    );
    check_where(
        r#"{"meta.a":null,"meta.b":{"$ne":null},"meta.c":{"$ne":"x"}}"#,
        expect![[r#"
        ((jsonb_typeof(t0."meta" #> '{a}') IS NULL OR jsonb_typeof(t0."meta" #> '{a}') = 'null')) AND ((jsonb_typeof(t0."meta" #> '{b}') IS NOT NULL AND jsonb_typeof(t0."meta" #> '{b}') <> 'null')) AND (((t0."meta" #> '{c}') = $1::jsonb) IS NOT TRUE)
        [Json(String("x"))]"#]],
    );
    check_where(
        r#"{"meta.a":{"$exists":true},"meta.b":{"$exists":false}}"#,
        expect![[r#"
        ((jsonb_typeof(t0."meta" #> '{a}') IS NOT NULL AND jsonb_typeof(t0."meta" #> '{a}') <> 'null')) AND ((jsonb_typeof(t0."meta" #> '{b}') IS NULL OR jsonb_typeof(t0."meta" #> '{b}') = 'null'))
        []"#]],
    );
    check_where(
        r#"{"meta.a":{"$in":["x",null]},"meta.b":{"$nin":[1,2]},"meta.c":{"$in":[]}}"#,
        expect![[r#"
        (((t0."meta" #> '{a}') = $1::jsonb OR (jsonb_typeof(t0."meta" #> '{a}') IS NULL OR jsonb_typeof(t0."meta" #> '{a}') = 'null'))) AND (((t0."meta" #> '{b}') = $2::jsonb OR (t0."meta" #> '{b}') = $3::jsonb) IS NOT TRUE) AND ((FALSE))
        [Json(String("x")), Json(Number(1)), Json(Number(2))]"#]],
    );
    check_where(
        r#"{"meta.a":{"$gte":"m"},"meta.b":{"$lt":true}}"#,
        expect![[r#"
            (CASE WHEN jsonb_typeof((t0."meta" #> '{a}')) = 'string' THEN (((t0."meta" #> '{a}') #>> '{}') COLLATE "C") >= $1::text END) AND (FALSE)
            [Text("m")]"#]],
    );
    check_where(
        r#"{"meta.a":{"$regex":"^x","$options":"s"}}"#,
        expect![[r#"
        (jsonb_typeof(t0."meta" #> '{a}') = 'string' AND ((t0."meta" #>> '{a}') COLLATE basalt_regex) ~ $1::text)
        [Text("(?s)^x")]"#]],
    );
    check_where(
        r#"{"meta.a":{"$text":{"$search":{"$term":"hello world"}}}}"#,
        expect![[r#"
        (jsonb_typeof(t0."meta" #> '{a}') = 'string' AND (strpos(lower(((t0."meta" #>> '{a}')) COLLATE "C"), lower($1::text COLLATE "C")) > 0 AND strpos(lower(((t0."meta" #>> '{a}')) COLLATE "C"), lower($2::text COLLATE "C")) > 0))
        [Text("hello"), Text("world")]"#]],
    );
    // Other operators inside an Object match nothing; so does a dotted key into a non-Object.
    check_where(
        r#"{"meta.a":{"$all":["x"]},"title.x":"y"}"#,
        expect![[r#"
        (FALSE) AND (FALSE)
        []"#]],
    );
}

#[test]
fn dates_inside_objects() {
    check_where(
        r#"{"meta.when":{"__type":"Date","iso":"2024-01-01T00:00:00.000Z"},"meta.after":{"$gt":{"__type":"Date","iso":"2024-01-01T00:00:00.000Z"}}}"#,
        expect![[r#"
            (((t0."meta" #>> '{after,iso}') COLLATE "C") > $1::text) AND ((t0."meta" #>> '{when,iso}') = $2::text)
            [Text("2024-01-01T00:00:00.000Z"), Text("2024-01-01T00:00:00.000Z")]"#]],
    );
}

#[test]
fn order_by_paths_and_unknown_fields() {
    check(
        "{}",
        "meta.rank,-meta.a.b,nope,-title.x,createdAt",
        Access::Master,
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (TRUE) ORDER BY CASE WHEN jsonb_typeof((t0."meta" #> '{rank}')) = 'string' THEN ((t0."meta" #> '{rank}') #>> '{}') COLLATE "C" END ASC NULLS FIRST, (t0."meta" #> '{rank}') ASC NULLS FIRST, CASE WHEN jsonb_typeof((t0."meta" #> '{a,b}')) = 'string' THEN ((t0."meta" #> '{a,b}') #>> '{}') COLLATE "C" END DESC NULLS LAST, (t0."meta" #> '{a,b}') DESC NULLS LAST, t0."createdAt" ASC NULLS FIRST LIMIT $1::int8
            [Int(10)]"#]],
    );
}

#[test]
fn in_query_uses_a_sub_select_with_acl() {
    check(
        r#"{"author":{"$inQuery":{"className":"_User","where":{"objectId":"u1"}}}}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."author" IN (SELECT t1."objectId" FROM "_User" t1 WHERE (t1."objectId" = $1::text) AND (t1."_rperm" IS NULL OR t1."_rperm" && $2::text[]))) AND (t0."_rperm" IS NULL OR t0."_rperm" && $3::text[]) LIMIT $4::int8
            [Text("u1"), TextArray(["*"]), TextArray(["*"]), Int(10)]"#]],
    );
}

#[test]
fn not_in_query_holds_where_unset() {
    check(
        r#"{"author":{"$notInQuery":{"className":"_User","where":{"username":{"$regex":"^a"}}}}}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE ((t0."author" IS NULL OR t0."author" NOT IN (SELECT t1."objectId" FROM "_User" t1 WHERE ((t1."username" COLLATE basalt_regex) ~ $1::text) AND (t1."_rperm" IS NULL OR t1."_rperm" && $2::text[]) AND t1."objectId" IS NOT NULL))) AND (t0."_rperm" IS NULL OR t0."_rperm" && $3::text[]) LIMIT $4::int8
            [Text("(?p)^a"), TextArray(["*"]), TextArray(["*"]), Int(10)]"#]],
    );
}

#[test]
fn in_query_on_other_classes_and_arrays() {
    // The pointer's target is not the sub-query's class: `$inQuery` fails, `$notInQuery` holds.
    check_where(
        r#"{"author":{"$inQuery":{"className":"Post","where":{}}},"title":{"$notInQuery":{"className":"_User","where":{}}}}"#,
        expect![[r#"
            (FALSE) AND (TRUE)
            []"#]],
    );
    check_where(
        r#"{"author":{"$inQuery":{"className":"_Role","where":{}}}}"#,
        expect![[r#"
        FALSE
        []"#]],
    );
    // A class that does not exist selects nothing.
    check_where(
        r#"{"editor":{"$inQuery":{"className":"Editor","where":{}}},"tags":{"$inQuery":{"className":"Editor","where":{}}}}"#,
        expect![[r#"
            (FALSE) AND (FALSE)
            []"#]],
    );
    check_where(
        r#"{"editor":{"$notInQuery":{"className":"Editor","where":{}}}}"#,
        expect![[r#"
            TRUE
            []"#]],
    );
    check(
        r#"{"tags":{"$inQuery":{"className":"_User","where":{"age":{"$gt":18}}}}}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v ->> 'className' = $1::text AND e.v ->> 'objectId' IN (SELECT t1."objectId" FROM "_User" t1 WHERE (t1."age" > $2::float8) AND (t1."_rperm" IS NULL OR t1."_rperm" && $3::text[])))) AND (t0."_rperm" IS NULL OR t0."_rperm" && $4::text[]) LIMIT $5::int8
            [Text("_User"), Real(18.0), TextArray(["*"]), TextArray(["*"]), Int(10)]"#]],
    );
    check_where(
        r#"{"tags":{"$notInQuery":{"className":"_User","where":{}}}}"#,
        expect![[r#"
        (t0."tags" IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v ->> 'className' = $1::text AND e.v ->> 'objectId' IN (SELECT t1."objectId" FROM "_User" t1 WHERE (TRUE))))
        [Text("_User")]"#]],
    );
}

#[test]
fn select_and_dont_select() {
    check(
        r#"{"title":{"$select":{"query":{"className":"_User","where":{"age":{"$gte":18}}},"key":"username"}}}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."title" IN (SELECT t1."username" FROM "_User" t1 WHERE (t1."age" >= $1::float8) AND (t1."_rperm" IS NULL OR t1."_rperm" && $2::text[]))) AND (t0."_rperm" IS NULL OR t0."_rperm" && $3::text[]) LIMIT $4::int8
            [Real(18.0), TextArray(["*"]), TextArray(["*"]), Int(10)]"#]],
    );
    check(
        r#"{"title":{"$dontSelect":{"query":{"className":"_User","where":{}},"key":"username"}}}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE ((t0."title" IS NULL OR t0."title" NOT IN (SELECT t1."username" FROM "_User" t1 WHERE (TRUE) AND (t1."_rperm" IS NULL OR t1."_rperm" && $1::text[]) AND t1."username" IS NOT NULL))) AND (t0."_rperm" IS NULL OR t0."_rperm" && $2::text[]) LIMIT $3::int8
            [TextArray(["*"]), TextArray(["*"]), Int(10)]"#]],
    );
    // Keys stored as another SQL type cannot be compared: `$select` fails, `$dontSelect` holds.
    check_where(
        r#"{"title":{"$select":{"query":{"className":"_User","where":{}},"key":"age"}},"score":{"$dontSelect":{"query":{"className":"_User","where":{}},"key":"username"}}}"#,
        expect![[r#"
            (TRUE) AND (FALSE)
            []"#]],
    );
    // A key the class does not have, or a class that does not exist, selects nothing.
    check_where(
        r#"{"title":{"$select":{"query":{"className":"_User","where":{}},"key":"nope"}}}"#,
        expect![[r#"
            FALSE
            []"#]],
    );
    check_where(
        r#"{"title":{"$dontSelect":{"query":{"className":"Nowhere","where":{}},"key":"x"}}}"#,
        expect![[r#"
            TRUE
            []"#]],
    );
    // A sub-query that selects nothing (no such class or key) is written as its outcome, not as
    // `IN (SELECT NULL …)`: PostgreSQL types that NULL as text and refuses to compare it with a
    // number, boolean or jsonb (42883). `$select` matches nothing, `$dontSelect` everything.
    check_where(
        r#"{"score":{"$select":{"query":{"className":"_User","where":{}},"key":"nope"}}}"#,
        expect![[r#"
            FALSE
            []"#]],
    );
    check_where(
        r#"{"draft":{"$dontSelect":{"query":{"className":"Nowhere","where":{}},"key":"x"}}}"#,
        expect![[r#"
            TRUE
            []"#]],
    );
    check_where(
        r#"{"tags":{"$select":{"query":{"className":"Nowhere","where":{}},"key":"x"}}}"#,
        expect![[r#"
            FALSE
            []"#]],
    );
    // On an array, elements are compared with the key as jsonb.
    check_where(
        r#"{"tags":{"$select":{"query":{"className":"_User","where":{}},"key":"username"}}}"#,
        expect![[r#"
            EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v IN (SELECT to_jsonb(t1."username") FROM "_User" t1 WHERE (TRUE)))
            []"#]],
    );
    check_where(
        r#"{"tags":{"$dontSelect":{"query":{"className":"_User","where":{}},"key":"age"}}}"#,
        expect![[r#"
            (t0."tags" IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v IN (SELECT to_jsonb(t1."age") FROM "_User" t1 WHERE (TRUE))))
            []"#]],
    );
}

#[test]
fn regex_with_flags() {
    check_where(
        r#"{"title":{"$regex":"^a\\bb","$options":"im"}}"#,
        expect![[r#"
        (t0."title" COLLATE basalt_regex) ~ $1::text
        [Text("(?ni)^a\\yb")]"#]],
    );
    check_where(
        r#"{"title":{"$regex":"\\Qa.b\\E$"}}"#,
        expect![[r#"
        (t0."title" COLLATE basalt_regex) ~ $1::text
        [Text("(?p)a\\.b$")]"#]],
    );
    check_where(
        r#"{"title":{"$regex":"a.c","$options":"sx"}}"#,
        expect![[r#"
        (t0."title" COLLATE basalt_regex) ~ $1::text
        [Text("(?sx)a.c")]"#]],
    );
    // Only strings match a pattern.
    check_where(
        r#"{"score":{"$regex":"1"}}"#,
        expect![[r#"
        FALSE
        []"#]],
    );
}

#[test]
fn text_search() {
    check_where(
        r#"{"title":{"$text":{"$search":{"$term":"quick  fox"}}}}"#,
        expect![[r#"
        (strpos(lower((t0."title") COLLATE "C"), lower($1::text COLLATE "C")) > 0 AND strpos(lower((t0."title") COLLATE "C"), lower($2::text COLLATE "C")) > 0)
        [Text("quick"), Text("fox")]"#]],
    );
    check_where(
        r#"{"title":{"$text":{"$search":{"$term":"Fox","$caseSensitive":true}}}}"#,
        expect![[r#"
        (strpos(t0."title", $1::text) > 0)
        [Text("Fox")]"#]],
    );
    check_where(
        r#"{"score":{"$text":{"$search":{"$term":"x"}}}}"#,
        expect![[r#"
        FALSE
        []"#]],
    );
}

#[test]
fn related_to() {
    check(
        r#"{"$relatedTo":{"object":{"__type":"Pointer","className":"_User","objectId":"u1"},"key":"posts"}}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."objectId" IN (SELECT "relatedId" FROM "_Join:posts:_User" WHERE "owningId" = $1::text)) AND (t0."_rperm" IS NULL OR t0."_rperm" && $2::text[]) LIMIT $3::int8
            [Text("u1"), TextArray(["*"]), Int(10)]"#]],
    );
    // Not a Relation of the owner's class: nothing.
    check_where(
        r#"{"$relatedTo":{"object":{"__type":"Pointer","className":"_User","objectId":"u1"},"key":"age"}}"#,
        expect![[r#"
            FALSE
            []"#]],
    );
}

#[test]
fn or_and_nor() {
    check_where(
        r#"{"$or":[{"title":"a"},{"score":{"$gt":1}}],"draft":false}"#,
        expect![[r#"
        ((t0."title" = $1::text) OR (t0."score" > $2::float8)) AND (t0."draft" = $3::boolean)
        [Text("a"), Real(1.0), Bool(false)]"#]],
    );
    check_where(
        r#"{"$and":[{"title":"a"},{"$or":[{"tags":"x"},{"tags":"y"}]}]}"#,
        expect![[r#"
        (t0."title" = $1::text) AND ((EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $2::jsonb)) OR (EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $3::jsonb)))
        [Text("a"), Json(String("x")), Json(String("y"))]"#]],
    );
    check_where(
        r#"{"$nor":[{"title":"a"},{"meta.a":1}]}"#,
        expect![[r#"
        ((t0."title" = $1::text) OR ((t0."meta" #> '{a}') = $2::jsonb)) IS NOT TRUE
        [Text("a"), Json(Number(1))]"#]],
    );
}

#[test]
fn near_sphere_orders_by_distance() {
    check(
        r#"{"where":{"$nearSphere":{"__type":"GeoPoint","latitude":10,"longitude":20},"$maxDistanceInRadians":0.5}}"#,
        "",
        Access::Master,
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."where" IS NOT NULL AND basalt_distance((t0."where" ->> 'latitude')::float8, (t0."where" ->> 'longitude')::float8, $1::float8, $2::float8) <= $3::float8) ORDER BY basalt_distance((t0."where" ->> 'latitude')::float8, (t0."where" ->> 'longitude')::float8, $4::float8, $5::float8) LIMIT $6::int8
            [Real(10.0), Real(20.0), Real(0.5), Real(10.0), Real(20.0), Int(10)]"#]],
    );
    check(
        r#"{"where":{"$nearSphere":{"__type":"GeoPoint","latitude":10,"longitude":20}}}"#,
        "",
        Access::Master,
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."where" IS NOT NULL) ORDER BY basalt_distance((t0."where" ->> 'latitude')::float8, (t0."where" ->> 'longitude')::float8, $1::float8, $2::float8) LIMIT $3::int8
            [Real(10.0), Real(20.0), Int(10)]"#]],
    );
    // Parse compat: the distance wins over an explicit order, which is dropped.
    check(
        r#"{"where":{"$nearSphere":{"__type":"GeoPoint","latitude":10,"longitude":20}}}"#,
        "-score",
        Access::Master,
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."where" IS NOT NULL) ORDER BY basalt_distance((t0."where" ->> 'latitude')::float8, (t0."where" ->> 'longitude')::float8, $1::float8, $2::float8) LIMIT $3::int8
            [Real(10.0), Real(20.0), Int(10)]"#]],
    );
}

#[test]
fn geo_within() {
    check_where(
        r#"{"where":{"$within":{"$box":[{"__type":"GeoPoint","latitude":1,"longitude":2},{"__type":"GeoPoint","latitude":3,"longitude":4}]}}}"#,
        expect![[r#"
            ((t0."where" ->> 'latitude')::float8 BETWEEN $1::float8 AND $2::float8 AND (t0."where" ->> 'longitude')::float8 BETWEEN $3::float8 AND $4::float8)
            [Real(1.0), Real(3.0), Real(2.0), Real(4.0)]"#]],
    );
    check_where(
        r#"{"where":{"$geoWithin":{"$polygon":[[0,0],[0,10],[10,10]]}}}"#,
        expect![[r#"
            (t0."where" IS NOT NULL AND basalt_in_polygon($1::jsonb, (t0."where" ->> 'latitude')::float8, (t0."where" ->> 'longitude')::float8))
            [Json(Array [Array [Number(0.0), Number(0.0)], Array [Number(0.0), Number(10.0)], Array [Number(10.0), Number(10.0)]])]"#]],
    );
    check_where(
        r#"{"where":{"$geoWithin":{"$centerSphere":[[20,10],0.1]}}}"#,
        expect![[r#"
            (t0."where" IS NOT NULL AND basalt_distance((t0."where" ->> 'latitude')::float8, (t0."where" ->> 'longitude')::float8, $1::float8, $2::float8) <= $3::float8)
            [Real(10.0), Real(20.0), Real(0.1)]"#]],
    );
    check_where(
        r#"{"area":{"$geoIntersects":{"$point":{"__type":"GeoPoint","latitude":1,"longitude":2}}}}"#,
        expect![[r#"
            basalt_in_polygon(t0."area" -> 'coordinates', $1::float8, $2::float8)
            [Real(1.0), Real(2.0)]"#]],
    );
    // Geo operators on a field of another type match nothing.
    check_where(
        r#"{"title":{"$geoWithin":{"$centerSphere":[[20,10],0.1]}},"where":{"$geoIntersects":{"$point":{"__type":"GeoPoint","latitude":1,"longitude":2}}}}"#,
        expect![[r#"
            (FALSE) AND (FALSE)
            []"#]],
    );
}

#[test]
fn count() {
    let schemas = schemas();
    let schema = post(&schemas);
    let query = find_query(r#"{"title":"a","tags":{"$in":["x"]}}"#, "-score", Access::public());
    expect![[r#"
        SELECT COUNT(*) FROM "Post" t0 WHERE ((EXISTS (SELECT 1 FROM jsonb_array_elements(t0."tags") e(v) WHERE e.v = $1::jsonb)) AND (t0."title" = $2::text)) AND (t0."_rperm" IS NULL OR t0."_rperm" && $3::text[])
        [Json(String("x")), Text("a"), TextArray(["*"])]"#]].assert_eq(&render(&compile_count(&schemas, &schema, &query)));
}

#[test]
fn keys_select_the_columns() {
    let mut query = find_query(r#"{"title":"a"}"#, "", Access::Master);
    // All fields but Relations, system columns first.
    query.fields = None;
    check_find(
        &query,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."area", t0."author", t0."draft", t0."editor", t0."meta", t0."published", t0."score", t0."tags", t0."title", t0."where", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."title" = $1::text) LIMIT $2::int8
        [Text("a"), Int(10)]"#]],
    );
    // Only the wanted fields (unknown ones are not columns).
    query.fields = Some(vec!["score".into(), "meta".into(), "nope".into(), "fans".into()]);
    check_find(
        &query,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."meta", t0."score", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (t0."title" = $1::text) LIMIT $2::int8
        [Text("a"), Int(10)]"#]],
    );
}

#[test]
fn limit_and_skip() {
    let mut query = find_query("{}", "", Access::Master);
    query.skip = 20;
    check_find(
        &query,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (TRUE) LIMIT $1::int8 OFFSET $2::int8
        [Int(10), Int(20)]"#]],
    );
    query.limit = None;
    check_find(
        &query,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (TRUE) OFFSET $1::int8
        [Int(20)]"#]],
    );
    query.skip = 0;
    check_find(
        &query,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title", (SELECT COALESCE(("schema" ->> 'version')::int8, 0) FROM "_SCHEMA" WHERE "className" = 'Post') FROM "Post" t0 WHERE (TRUE)
        []"#]],
    );
}

#[test]
fn delete_where() {
    let schemas = schemas();
    let schema = post(&schemas);
    let condition = parse(r#"{"author":{"$inQuery":{"className":"_User","where":{"age":{"$lt":3}}}}}"#);
    expect![[r#"
        DELETE FROM "Post" WHERE "objectId" IN (SELECT t0."objectId" FROM "Post" t0 WHERE (t0."author" IN (SELECT t1."objectId" FROM "_User" t1 WHERE (t1."age" < $1::float8))))
        [Real(3.0)]"#]].assert_eq(&render(&compile_delete_where(&schemas, &schema, &condition)));
}

#[test]
fn write_target_checks_the_write_acl() {
    let schemas = schemas();
    let schema = post(&schemas);
    let access = Access::Keys(vec!["*".into(), "u1".into()]);
    expect![[r#"
        t0."objectId" = $1::text AND (t0."_wperm" IS NULL OR t0."_wperm" && $2::text[]) AND (t0."score" > $3::float8)
        [Text("p1"), TextArray(["*", "u1"]), Real(1.0)]"#]]
    .assert_eq(&render(&compile_target(&schemas, &schema, "p1", &access, &parse(r#"{"score":{"$gt":1}}"#))));
    expect![[r#"
        t0."objectId" = $1::text AND TRUE AND (TRUE)
        [Text("p1")]"#]]
    .assert_eq(&render(&compile_target(&schemas, &schema, "p1", &Access::Master, &Condition::all())));
    // The condition the gate writes for "nothing".
    expect![[r#"
        t0."objectId" = $1::text AND TRUE AND (FALSE)
        [Text("p1")]"#]]
    .assert_eq(&render(&compile_target(&schemas, &schema, "p1", &Access::Master, &Condition::Or(Vec::new()))));
}
