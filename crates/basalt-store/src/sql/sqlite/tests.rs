use std::sync::Arc;

use basalt_core::acl::Access;
use basalt_core::query::{QueryParser, parse_order};
use basalt_core::{ClassName, ClassSchema, FieldName, FieldSpec, FieldType, Limits};
use expect_test::{Expect, expect};

use super::*;

fn schemas() -> Schemas {
    let mut post = ClassSchema::new(ClassName::parse("Post").unwrap());
    for (name, field_type) in [
        ("title", FieldType::String),
        ("score", FieldType::Number),
        ("tags", FieldType::Array),
        ("meta", FieldType::Object),
        ("where", FieldType::GeoPoint),
        ("author", FieldType::Pointer(ClassName::parse("_User").unwrap())),
    ] {
        post.fields.insert(FieldName::parse(name).unwrap(), FieldSpec::of(field_type));
    }
    let user = ClassSchema::new(ClassName::parse("_User").unwrap());
    let mut schemas = Schemas::new();
    schemas.insert(post.class_name.clone(), Arc::new(post));
    schemas.insert(user.class_name.clone(), Arc::new(user));
    schemas
}

#[track_caller]
fn check(where_json: &str, order: &str, access: Access, expected: Expect) {
    let schemas = schemas();
    let limits = Limits::default();
    let parser = QueryParser { limits: &limits, now: 0 };
    let condition = parser.parse_where(&serde_json::from_str(where_json).unwrap()).unwrap();
    let schema = schemas.get(&ClassName::parse("Post").unwrap()).unwrap().clone();
    let query = FindQuery {
        class_name: schema.class_name.clone(),
        condition,
        order: parse_order(order).unwrap(),
        limit: Some(10),
        skip: 0,
        fields: Some(vec!["title".into()]),
        access,
    };
    let columns = selected_columns(&schema, query.fields.as_deref());
    let compiled = compile_find(&schemas, &schema, &query, &columns);
    expected.assert_eq(&format!("{}\n{:?}", compiled.sql, compiled.params));
}

#[test]
fn equality_with_acl() {
    check(
        r#"{"title":"a"}"#,
        "",
        Access::public(),
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title" FROM "Post" t0 WHERE (t0."title" = ?) AND (t0."_rperm" IS NULL OR EXISTS (SELECT 1 FROM json_each(t0."_rperm") WHERE value IN (?))) LIMIT ? OFFSET ?
        [Text("a"), Text("*"), Integer(10), Integer(0)]"#]],
    );
}

#[test]
fn array_contains_and_order() {
    check(
        r#"{"tags":"x","score":{"$gte":2}}"#,
        "-score,title",
        Access::Master,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title" FROM "Post" t0 WHERE ((t0."score" >= ?) AND (EXISTS (SELECT 1 FROM json_each(t0."tags") e WHERE (e.type = 'text' AND e.value = ?)))) ORDER BY t0."score" DESC, t0."title" ASC LIMIT ? OFFSET ?
        [Real(2.0), Text("x"), Integer(10), Integer(0)]"#]],
    );
}

#[test]
fn missing_fields_behave_as_null() {
    check(
        r#"{"nope":{"$exists":false},"gone":1}"#,
        "",
        Access::Master,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title" FROM "Post" t0 WHERE ((0) AND (1)) LIMIT ? OFFSET ?
        [Integer(10), Integer(0)]"#]],
    );
}

#[test]
fn in_query_uses_a_sub_select_with_acl() {
    check(
        r#"{"author":{"$inQuery":{"className":"_User","where":{"objectId":"u1"}}}}"#,
        "",
        Access::public(),
        expect![[r#"
            SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title" FROM "Post" t0 WHERE (t0."author" IN (SELECT t1."objectId" FROM "_User" t1 WHERE (t1."objectId" = ?) AND (t1."_rperm" IS NULL OR EXISTS (SELECT 1 FROM json_each(t1."_rperm") WHERE value IN (?))))) AND (t0."_rperm" IS NULL OR EXISTS (SELECT 1 FROM json_each(t0."_rperm") WHERE value IN (?))) LIMIT ? OFFSET ?
            [Text("u1"), Text("*"), Text("*"), Integer(10), Integer(0)]"#]],
    );
}

#[test]
fn dotted_keys_use_json_extract() {
    check(
        r#"{"meta.level":{"$gt":3}}"#,
        "",
        Access::Master,
        expect![[r#"
        SELECT t0."objectId", t0."createdAt", t0."updatedAt", t0."_rperm", t0."_wperm", t0."title" FROM "Post" t0 WHERE ((json_type(t0."meta", '$."level"') IN ('integer', 'real') AND json_extract(t0."meta", '$."level"') > ?)) LIMIT ? OFFSET ?
        [Real(3.0), Integer(10), Integer(0)]"#]],
    );
}
