use expect_test::{Expect, expect};
use serde_json::{Value, json};

use super::*;
use crate::limits::Limits;
use crate::names::{ClassName, FieldName};
use crate::query::QueryParser;
use crate::schema::FieldSpec;

fn schema() -> ClassSchema {
    let user = || ClassName::parse("_User").unwrap();
    let mut schema = ClassSchema::new(ClassName::parse("Post").unwrap());
    for (name, field_type) in [
        ("title", FieldType::String),
        ("score", FieldType::Number),
        ("done", FieldType::Boolean),
        ("due", FieldType::Date),
        ("tags", FieldType::Array),
        ("meta", FieldType::Object),
        ("owner", FieldType::Pointer(user())),
        ("members", FieldType::Relation(user())),
        ("place", FieldType::GeoPoint),
        ("area", FieldType::Polygon),
        ("photo", FieldType::File),
        ("blob", FieldType::Bytes),
    ] {
        schema.fields.insert(FieldName::parse(name).unwrap(), FieldSpec::of(field_type));
    }
    schema
}

/// The objects every case runs over, in the REST form the engine outputs: `empty` has no field
/// set, `nulls` has fields present as null, `a`, `b` and `c` hold values.
fn objects() -> Vec<Map<String, Value>> {
    let members = json!({"__type": "Relation", "className": "_User"});
    let objects = json!([
        {
            "objectId": "empty", "createdAt": "2020-01-01T00:00:00.000Z", "updatedAt": "2020-01-01T00:00:00.000Z",
            "members": members,
        },
        {
            "objectId": "nulls", "createdAt": "2020-02-01T00:00:00.000Z", "updatedAt": "2020-02-01T00:00:00.000Z",
            "title": null, "score": null, "tags": null, "meta": null, "owner": null, "place": null,
            "members": members,
        },
        {
            "objectId": "a", "createdAt": "2020-03-01T00:00:00.000Z", "updatedAt": "2020-03-01T00:00:00.000Z",
            "title": "abc",
            "score": 1,
            "done": true,
            "due": {"__type": "Date", "iso": "2020-06-01T00:00:00.000Z"},
            "tags": ["a", "b"],
            "meta": {
                "x": 1,
                "y": {"z": "deep"},
                "when": {"__type": "Date", "iso": "2020-06-01T00:00:00.000Z"},
                "file": {"__type": "File", "name": "f.txt", "url": "http://localhost/files/f.txt"},
            },
            "owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"},
            "place": {"__type": "GeoPoint", "latitude": 0, "longitude": 0},
            "area": {"__type": "Polygon", "coordinates": [[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]},
            "photo": {"__type": "File", "name": "a.png", "url": "http://localhost/files/a.png"},
            "blob": {"__type": "Bytes", "base64": "aGk="},
            "ACL": {"*": {"read": true}},
            "members": members,
        },
        {
            "objectId": "b", "createdAt": "2020-04-01T00:00:00.000Z", "updatedAt": "2020-04-01T00:00:00.000Z",
            "title": "Big Apple",
            "score": 2.5,
            "done": false,
            "due": {"__type": "Date", "iso": "2021-01-01T00:00:00.000Z"},
            "tags": [1, {"k": 1}, ["a"], null, {"__type": "File", "name": "t.txt", "url": "http://localhost/files/t.txt"}],
            "meta": {"x": "1", "y": null},
            "owner": {"__type": "Pointer", "className": "_User", "objectId": "u2"},
            "place": {"__type": "GeoPoint", "latitude": 40.7, "longitude": -74},
            "members": members,
        },
        {
            "objectId": "c", "createdAt": "2020-05-01T00:00:00.000Z", "updatedAt": "2020-05-01T00:00:00.000Z",
            "title": "École big",
            "score": -1,
            "tags": [],
            "meta": {},
            "members": members,
        },
    ]);
    let Value::Array(objects) = objects else { unreachable!() };
    objects.into_iter().map(|object| object.as_object().unwrap().clone()).collect()
}

/// Parses `where_json` and lists the fixture objects it matches, or the refusal.
#[track_caller]
fn check(where_json: &str, expected: Expect) {
    let limits = Limits::default();
    let parser = QueryParser { limits: &limits, now: crate::time::parse_iso("2021-06-01T00:00:00Z").unwrap() };
    let condition = parser.parse_where(&serde_json::from_str(where_json).unwrap()).unwrap();
    let schema = schema();
    let matched: Result<Vec<String>, Unsupported> = objects()
        .into_iter()
        .filter_map(|object| match matches(&schema, &object, &condition) {
            Ok(true) => Some(Ok(object["objectId"].as_str().unwrap().to_owned())),
            Ok(false) => None,
            Err(unsupported) => Some(Err(unsupported)),
        })
        .collect();
    expected.assert_eq(&format!("{matched:?}"));
}

#[test]
fn equality_on_typed_fields() {
    check(r#"{"title":"abc"}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"score":1.0}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"score":{"$eq":2.5}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"done":false}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"objectId":"b"}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"blob":{"__type":"Bytes","base64":"aGk="}}"#, expect![[r#"Ok(["a"])"#]]);
}

#[test]
fn an_operand_of_another_type_matches_nothing() {
    check(r#"{"title":1}"#, expect!["Ok([])"]);
    check(r#"{"score":"1"}"#, expect!["Ok([])"]);
    check(r#"{"done":1}"#, expect!["Ok([])"]);
    check(r#"{"title":{"$gt":0}}"#, expect!["Ok([])"]);
    check(r#"{"done":{"$gt":false}}"#, expect!["Ok([])"]);
    check(r#"{"score":{"$regex":"1"}}"#, expect!["Ok([])"]);
    check(r#"{"title":{"$all":["abc"]}}"#, expect!["Ok([])"]);
    check(r#"{"title":{"$ne":1}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
}

#[test]
fn unset_and_null_fields_behave_as_null() {
    check(r#"{"title":null}"#, expect![[r#"Ok(["empty", "nulls"])"#]]);
    check(r#"{"title":{"$ne":null}}"#, expect![[r#"Ok(["a", "b", "c"])"#]]);
    check(r#"{"title":{"$exists":false}}"#, expect![[r#"Ok(["empty", "nulls"])"#]]);
    check(r#"{"title":{"$ne":"abc"}}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
    check(r#"{"title":{"$nin":["abc","Big Apple"]}}"#, expect![[r#"Ok(["empty", "nulls", "c"])"#]]);
    check(r#"{"title":{"$in":["abc",null]}}"#, expect![[r#"Ok(["empty", "nulls", "a"])"#]]);
    check(r#"{"title":{"$nin":["abc",null]}}"#, expect![[r#"Ok(["b", "c"])"#]]);
    check(r#"{"score":{"$lt":100}}"#, expect![[r#"Ok(["a", "b", "c"])"#]]);
}

#[test]
fn fields_the_class_lacks_and_relations_behave_as_unset() {
    check(r#"{"ghost":{"$exists":false}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
    check(r#"{"ghost":null}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
    check(r#"{"ghost":"x"}"#, expect!["Ok([])"]);
    check(r#"{"ghost":{"$ne":"x"}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
    check(r#"{"ghost.deep":{"$ne":"x"}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
    check(r#"{"members":{"$exists":true}}"#, expect!["Ok([])"]);
    check(r#"{"members":{"__type":"Pointer","className":"_User","objectId":"u1"}}"#, expect!["Ok([])"]);
}

#[test]
fn in_with_null_on_a_missing_field() {
    // Found by matcher_agrees: SQL held `$nin` with null on a field the class lacks.
    check(r#"{"ghost":{"$in":[null,"x"]}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
    check(r#"{"ghost":{"$nin":[null,{"__type":"Pointer","className":"Owner","objectId":"o2"}]}}"#, expect!["Ok([])"]);
}

#[test]
fn comparisons() {
    check(r#"{"score":{"$gt":0}}"#, expect![[r#"Ok(["a", "b"])"#]]);
    check(r#"{"score":{"$gte":1,"$lt":2.5}}"#, expect![[r#"Ok(["a"])"#]]);
    // Text compares by bytes: upper case before lower case, ASCII before accented letters.
    check(r#"{"title":{"$lt":"abc"}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"title":{"$gte":"b"}}"#, expect![[r#"Ok(["c"])"#]]);
    check(r#"{"owner":{"$gt":{"__type":"Pointer","className":"_User","objectId":"u1"}}}"#, expect!["Ok([])"]);
}

#[test]
fn dates_compare_as_iso_text() {
    check(r#"{"due":{"$lt":{"__type":"Date","iso":"2020-12-31T00:00:00Z"}}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"due":{"__type":"Date","iso":"2021-01-01T00:00:00.000Z"}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"due":{"$gte":"2021-01-01"}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"due":{"$lt":{"$relativeTime":"1 year ago"}}}"#, expect!["Ok([])"]);
    check(
        r#"{"createdAt":{"$gt":{"__type":"Date","iso":"2020-02-01T00:00:00.000Z"}}}"#,
        expect![[r#"Ok(["a", "b", "c"])"#]],
    );
    check(r#"{"updatedAt":{"$lte":"2020-02-01T00:00:00Z"}}"#, expect![[r#"Ok(["empty", "nulls"])"#]]);
    check(r#"{"createdAt":"2020-01-01T00:00:00.000Z"}"#, expect![[r#"Ok(["empty"])"#]]);
    check(r#"{"due":{"$gt":"not a date"}}"#, expect!["Ok([])"]);
}

#[test]
fn pointers_compare_by_class_and_object_id() {
    check(r#"{"owner":{"__type":"Pointer","className":"_User","objectId":"u1"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"owner":{"__type":"Pointer","className":"_Role","objectId":"u1"}}"#, expect!["Ok([])"]);
    check(
        r#"{"owner":{"$ne":{"__type":"Pointer","className":"_User","objectId":"u1"}}}"#,
        expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]],
    );
    check(
        r#"{"owner":{"$in":[{"__type":"Pointer","className":"_User","objectId":"u2"},{"className":"_User","objectId":"u1"}]}}"#,
        expect![[r#"Ok(["a", "b"])"#]],
    );
    check(r#"{"owner":"u1"}"#, expect!["Ok([])"]);
}

#[test]
fn files_compare_by_name() {
    check(r#"{"photo":{"__type":"File","name":"a.png"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"photo":{"__type":"File","name":"a.png","url":"http://elsewhere/a.png"}}"#, expect![[r#"Ok(["a"])"#]]);
}

#[test]
fn arrays_contain() {
    check(r#"{"tags":"a"}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"tags":1}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"tags":{"k":1}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"tags":{"$ne":"a"}}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
    check(r#"{"tags":{"$in":["b",1]}}"#, expect![[r#"Ok(["a", "b"])"#]]);
    check(r#"{"tags":{"$in":[["a"]]}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"tags":{"$nin":["b",1]}}"#, expect![[r#"Ok(["empty", "nulls", "c"])"#]]);
    check(r#"{"tags":{"$in":[]}}"#, expect!["Ok([])"]);
    check(r#"{"tags":{"$exists":true}}"#, expect![[r#"Ok(["a", "b", "c"])"#]]);
    // The url the engine adds to a File is not part of the stored element.
    check(r#"{"tags":{"__type":"File","name":"t.txt"}}"#, expect![[r#"Ok(["b"])"#]]);
}

#[test]
fn array_operands_compare_with_the_whole_array() {
    check(r#"{"tags":["a","b"]}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"tags":["b","a"]}"#, expect!["Ok([])"]);
    check(r#"{"tags":[]}"#, expect![[r#"Ok(["c"])"#]]);
}

#[test]
fn ne_with_an_array_compares_the_whole_array() {
    // Found by matcher_agrees: SQL's `$ne: []` looked for an element equal to `[]`.
    check(r#"{"tags":{"$ne":[]}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b"])"#]]);
    check(r#"{"tags":{"$ne":["a","b"]}}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
}

#[test]
fn in_with_null_on_an_unset_array() {
    // Found by matcher_agrees: SQL's `$in` with null did not match an unset array.
    check(r#"{"tags":{"$in":[null,[0,[1.5,true]]]}}"#, expect![[r#"Ok(["empty", "nulls", "b"])"#]]);
    check(r#"{"tags":{"$nin":[null]}}"#, expect![[r#"Ok(["a", "c"])"#]]);
}

#[test]
fn array_operators() {
    check(r#"{"tags":{"$all":["a","b"]}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"tags":{"$all":[]}}"#, expect![[r#"Ok(["a", "b", "c"])"#]]);
    check(r#"{"tags":{"$all":[{"$regex":"^b"}]}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"tags":{"$containedBy":["a","b","c"]}}"#, expect![[r#"Ok(["empty", "nulls", "a", "c"])"#]]);
    check(r#"{"tags":{"$containedBy":[]}}"#, expect![[r#"Ok(["empty", "nulls", "c"])"#]]);
    check(r#"{"tags":{"$gt":0}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"tags":{"$gte":"b"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"tags":{"$regex":"A","$options":"i"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"tags":{"$lt":{"__type":"Date","iso":"2030-01-01T00:00:00Z"}}}"#, expect!["Ok([])"]);
}

#[test]
fn whole_objects_compare_as_canonical_json() {
    check(r#"{"meta":{}}"#, expect![[r#"Ok(["c"])"#]]);
    check(r#"{"meta":{"y":null,"x":"1"}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"meta":{"$gt":{}}}"#, expect!["Ok([])"]);
}

#[test]
fn dotted_keys_read_inside_object_fields() {
    check(r#"{"meta.x":1}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.x":"1"}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"meta.y.z":"deep"}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.y":{"z":"deep"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.y":null}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
    check(r#"{"meta.y":{"$exists":true}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.x":{"$gt":0}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.x":{"$in":[1,"1"]}}"#, expect![[r#"Ok(["a", "b"])"#]]);
    check(r#"{"meta.x":{"$regex":"1"}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"meta.when":{"$lt":{"__type":"Date","iso":"2021-01-01T00:00:00Z"}}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.when":{"__type":"Date","iso":"2020-06-01T00:00:00Z"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.file":{"__type":"File","name":"f.txt"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"meta.x.y":{"$exists":false}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
}

#[test]
fn dotted_keys_into_other_fields_match_nothing() {
    check(r#"{"title.x":{"$exists":false}}"#, expect!["Ok([])"]);
    check(r#"{"tags.x":{"$ne":1}}"#, expect!["Ok([])"]);
}

#[test]
fn ne_on_a_path_that_leads_nowhere_holds() {
    // Found by matcher_agrees: SQL's `NOT (…)` was NULL where the path led nowhere.
    check(r#"{"meta.x":{"$ne":{"z":-1}}}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
    check(r#"{"meta.y.z":{"$ne":"deep"}}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
    check(
        r#"{"meta.when":{"$ne":{"__type":"Date","iso":"2020-06-01T00:00:00Z"}}}"#,
        expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]],
    );
}

#[test]
fn nin_with_null_on_a_path() {
    // Found by matcher_agrees: SQL's null in `$in`/`$nin` on a path matched only JSON null.
    check(r#"{"meta.x":{"$nin":[null,{"x":"A"}]}}"#, expect![[r#"Ok(["a", "b"])"#]]);
    check(r#"{"meta.y":{"$in":[null]}}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
}

#[test]
fn regex() {
    check(r#"{"title":{"$regex":"^a"}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"title":{"$regex":"^B","$options":"i"}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"title":{"$regex":"\\Qg A\\E","$options":"i"}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"objectId":{"$regex":"^(a|b)$"}}"#, expect![[r#"Ok(["a", "b"])"#]]);
    check(r#"{"createdAt":{"$regex":"2020"}}"#, expect!["Ok([])"]);
}

#[test]
fn text_search_needs_every_term_and_folds_ascii_case_only() {
    check(r#"{"title":{"$text":{"$search":{"$term":"big"}}}}"#, expect![[r#"Ok(["b", "c"])"#]]);
    check(r#"{"title":{"$text":{"$search":{"$term":"apple  BIG"}}}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"title":{"$text":{"$search":{"$term":"big","$caseSensitive":true}}}}"#, expect![[r#"Ok(["c"])"#]]);
    check(r#"{"title":{"$text":{"$search":{"$term":"école"}}}}"#, expect!["Ok([])"]);
    check(r#"{"meta.y.z":{"$text":{"$search":{"$term":"EE"}}}}"#, expect![[r#"Ok(["a"])"#]]);
}

#[test]
fn logical_operators() {
    check(r#"{"$or":[{"title":"abc"},{"score":-1}]}"#, expect![[r#"Ok(["a", "c"])"#]]);
    check(r#"{"$and":[{"score":{"$gt":0}},{"done":false}]}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"score":{"$gt":0},"$or":[{"tags":"a"},{"tags":1}]}"#, expect![[r#"Ok(["a", "b"])"#]]);
    check(r#"{"$nor":[{"title":"abc"},{"score":{"$lt":0}}]}"#, expect![[r#"Ok(["empty", "nulls", "b"])"#]]);
    check(r#"{}"#, expect![[r#"Ok(["empty", "nulls", "a", "b", "c"])"#]]);
}

#[test]
fn nor_holds_on_unset_fields() {
    // Found by matcher_agrees: SQL's `NOT (…)` was NULL for a branch on an unset field.
    check(r#"{"$nor":[{"done":{"$in":[true]}}]}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
    check(r#"{"$nor":[{"score":{"$gt":0}}]}"#, expect![[r#"Ok(["empty", "nulls", "c"])"#]]);
    check(r#"{"$nor":[{"meta.x":1}]}"#, expect![[r#"Ok(["empty", "nulls", "b", "c"])"#]]);
}

#[test]
fn geo_points() {
    check(
        r#"{"place":{"$nearSphere":{"__type":"GeoPoint","latitude":0,"longitude":0}}}"#,
        expect![[r#"Ok(["a", "b"])"#]],
    );
    check(
        r#"{"place":{"$nearSphere":{"__type":"GeoPoint","latitude":1,"longitude":0},"$maxDistanceInKilometers":200}}"#,
        expect![[r#"Ok(["a"])"#]],
    );
    check(
        r#"{"place":{"$within":{"$box":[{"__type":"GeoPoint","latitude":30,"longitude":-80},{"__type":"GeoPoint","latitude":50,"longitude":-70}]}}}"#,
        expect![[r#"Ok(["b"])"#]],
    );
    check(r#"{"place":{"$geoWithin":{"$polygon":[[-1,-1],[-1,1],[1,1],[1,-1]]}}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"place":{"$geoWithin":{"$centerSphere":[[-74,40],0.02]}}}"#, expect![[r#"Ok(["b"])"#]]);
    check(r#"{"place":{"__type":"GeoPoint","latitude":0,"longitude":0}}"#, expect![[r#"Ok(["a"])"#]]);
    check(r#"{"title":{"$nearSphere":{"__type":"GeoPoint","latitude":0,"longitude":0}}}"#, expect!["Ok([])"]);
}

#[test]
fn polygons_contain_points() {
    check(
        r#"{"area":{"$geoIntersects":{"$point":{"__type":"GeoPoint","latitude":5,"longitude":5}}}}"#,
        expect![[r#"Ok(["a"])"#]],
    );
    check(
        r#"{"area":{"$geoIntersects":{"$point":{"__type":"GeoPoint","latitude":0,"longitude":10}}}}"#,
        expect![[r#"Ok(["a"])"#]],
    );
    check(
        r#"{"area":{"$geoIntersects":{"$point":{"__type":"GeoPoint","latitude":11,"longitude":5}}}}"#,
        expect!["Ok([])"],
    );
}

#[test]
fn queries_on_other_classes_are_refused() {
    check(
        r#"{"$relatedTo":{"object":{"__type":"Pointer","className":"_User","objectId":"u1"},"key":"posts"}}"#,
        expect![[r#"Err(Unsupported { operator: "$relatedTo" })"#]],
    );
    check(
        r#"{"owner":{"$inQuery":{"className":"_User","where":{}}}}"#,
        expect![[r#"Err(Unsupported { operator: "$inQuery" })"#]],
    );
    check(
        r#"{"$or":[{"title":"abc"},{"owner":{"$notInQuery":{"className":"_User","where":{}}}}]}"#,
        expect![[r#"Err(Unsupported { operator: "$notInQuery" })"#]],
    );
    check(
        r#"{"title":{"$select":{"query":{"className":"Tag","where":{}},"key":"name"}}}"#,
        expect![[r#"Err(Unsupported { operator: "$select" })"#]],
    );
    check(
        r#"{"$nor":[{"title":{"$dontSelect":{"query":{"className":"Tag","where":{}},"key":"name"}}}]}"#,
        expect![[r#"Err(Unsupported { operator: "$dontSelect" })"#]],
    );
}
