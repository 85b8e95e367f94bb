//! Queries over real HTTP against data built through the API: every `where` operator, ordering,
//! paging, projection, includes, counts, relation redirects, missing classes, and `/aggregate`.
//!
//! The seed mirrors a probe once run against Parse Server, with far-off dates, and gives every `Q`
//! an `author` so that `$notInQuery` does not depend on how a missing pointer is treated.

use std::collections::HashMap;

use basalt_test_support::{Reply, TestServer};
use serde_json::{Value, json};

fn pointer(class_name: &str, object_id: &str) -> Value {
    json!({"__type": "Pointer", "className": class_name, "objectId": object_id})
}

fn geo(latitude: f64, longitude: f64) -> Value {
    json!({"__type": "GeoPoint", "latitude": latitude, "longitude": longitude})
}

fn date(iso: &str) -> Value {
    json!({"__type": "Date", "iso": iso})
}

/// `path?k=v&…` with the values form-encoded.
fn path_with(path: &str, params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params("http://basalt.test/", params).expect("url");
    match url.query() {
        Some(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.to_owned(),
    }
}

/// A server holding the query fixtures, and the objectId of each object by its `name`.
struct Fixture {
    server: TestServer,
    ids: HashMap<String, String>,
}

impl Fixture {
    async fn create(&mut self, class_name: &str, body: Value) -> String {
        let name = body["name"].as_str().expect("fixtures have names").to_owned();
        let reply = self.server.master("POST", &format!("/classes/{class_name}"), Some(body)).await;
        assert_eq!(reply.status, 201, "{reply:?}");
        let object_id = reply.body["objectId"].as_str().expect("objectId").to_owned();
        self.ids.insert(name, object_id.clone());
        object_id
    }

    fn id(&self, name: &str) -> &str {
        &self.ids[name]
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.server.client_call("GET", &path_with(path, params), None).await
    }

    /// The names of the results, in order, after checking each result's objectId.
    fn names(&self, reply: &Reply) -> Vec<String> {
        assert_eq!(reply.status, 200, "{reply:?}");
        let results = reply.body["results"].as_array().expect("results");
        results
            .iter()
            .map(|object| {
                let name = object["name"].as_str().expect("name").to_owned();
                assert_eq!(object["objectId"].as_str(), Some(self.id(&name)), "{object}");
                name
            })
            .collect()
    }

    /// The names matching `where_json` in `Q`, ordered by name.
    async fn matching(&self, where_json: Value) -> Vec<String> {
        let where_text = where_json.to_string();
        let reply = self.get("/classes/Q", &[("where", &where_text), ("order", "name")]).await;
        assert_eq!(reply.status, 200, "{where_text}: {reply:?}");
        self.names(&reply)
    }

    /// Checks each `(where, names)` case: `Q` objects matching `where`, ordered by name.
    async fn check(&self, cases: &[(Value, Vec<&str>)]) {
        for (where_json, expected) in cases {
            assert_eq!(self.matching(where_json.clone()).await, *expected, "{where_json}");
        }
    }

    /// The stored object as the master key reads it, in its included form.
    async fn included(&self, class_name: &str, name: &str) -> Value {
        let reply = self.server.master("GET", &format!("/classes/{class_name}/{}", self.id(name)), None).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let mut object = reply.body;
        object["__type"] = json!("Object");
        object["className"] = json!(class_name);
        object
    }
}

/// Authors ann (30, with a publisher), bob (40), cat (50, deleted after being pointed to);
/// `Q` objects q1..q4 (see the module doc); an `Owner` whose relation `rel` holds ann and bob.
async fn fixture() -> Fixture {
    let mut fixture = Fixture { server: TestServer::start().await, ids: HashMap::new() };
    let publisher = fixture.create("Publisher", json!({"name": "pub1"})).await;
    let ann = fixture
        .create("Author", json!({"name": "ann", "age": 30, "publisher": pointer("Publisher", &publisher)}))
        .await;
    let bob = fixture.create("Author", json!({"name": "bob", "age": 40})).await;
    let cat = fixture.create("Author", json!({"name": "cat", "age": 50})).await;
    let square = json!({"__type": "Polygon", "coordinates": [[0, 0], [0, 10], [10, 10], [10, 0]]});
    let objects = [
        json!({"name": "q1", "a": 1, "b": "x", "s": "apple pie", "arr": ["x", "y"],
               "d": date("2000-01-01T00:00:00.000Z"), "obj": {"a": 1, "b": "z"}, "geo": geo(0.0, 0.0),
               "poly": square, "author": pointer("Author", &ann),
               "authors": [pointer("Author", &ann), pointer("Author", &bob)]}),
        json!({"name": "q2", "a": 2, "b": "y", "s": "Banana.split", "arr": ["y", "z"],
               "d": date("2001-06-01T00:00:00.000Z"), "obj": {"a": 2}, "geo": geo(1.0, 1.0),
               "author": pointer("Author", &bob), "authors": [pointer("Author", &cat)]}),
        json!({"name": "q3", "a": 3, "b": "x", "s": "cherry", "arr": ["x"], "d": date("2099-01-01T00:00:00.000Z"),
               "obj": {"a": 3}, "geo": geo(5.0, 5.0), "author": pointer("Author", &cat)}),
        json!({"name": "q4", "a": 3, "b": "z", "s": "a.b*c", "arr": [], "geo": geo(-20.0, 100.0),
               "author": pointer("Author", &bob)}),
    ];
    for object in objects {
        fixture.create("Q", object).await;
    }
    let relation = json!({"__op": "AddRelation", "objects": [pointer("Author", &ann), pointer("Author", &bob)]});
    fixture.create("Owner", json!({"name": "owner", "rel": relation})).await;
    let reply = fixture.server.master("DELETE", &format!("/classes/Author/{cat}"), None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    fixture
}

#[tokio::test]
async fn comparison_operators_on_numbers() {
    let fixture = fixture().await;
    let cases = [
        (json!({"a": {"$lt": 2}}), vec!["q1"]),
        (json!({"a": {"$lte": 2}}), vec!["q1", "q2"]),
        (json!({"a": {"$gt": 2}}), vec!["q3", "q4"]),
        (json!({"a": {"$gte": 2}}), vec!["q2", "q3", "q4"]),
        (json!({"a": {"$gt": 1, "$lt": 3}}), vec!["q2"]),
        (json!({"a": {"$ne": 1}}), vec!["q2", "q3", "q4"]),
        (json!({"a": {"$eq": 2}}), vec!["q2"]),
        (json!({"a": 3}), vec!["q3", "q4"]),
        (json!({"a": {"$in": [1, 2]}}), vec!["q1", "q2"]),
        (json!({"a": {"$nin": [1, 2]}}), vec!["q3", "q4"]),
        (json!({"name": {"$lt": "q3"}}), vec!["q1", "q2"]),
        (json!({"objectId": {"$in": [fixture.id("q1"), fixture.id("q4")]}}), vec!["q1", "q4"]),
    ];
    fixture.check(&cases).await;
}

#[tokio::test]
async fn exists_and_array_operators() {
    let fixture = fixture().await;
    let cases = [
        (json!({"d": {"$exists": true}}), vec!["q1", "q2", "q3"]),
        (json!({"d": {"$exists": false}}), vec!["q4"]),
        (json!({"nosuchfield": {"$exists": false}}), vec!["q1", "q2", "q3", "q4"]),
        (json!({"nosuchfield": 1}), vec![]),
        (json!({"arr": {"$all": ["x", "y"]}}), vec!["q1"]),
        (json!({"arr": {"$all": ["x"]}}), vec!["q1", "q3"]),
        (json!({"arr": {"$containedBy": ["x", "y"]}}), vec!["q1", "q3", "q4"]),
        (json!({"arr": {"$in": ["z"]}}), vec!["q2"]),
        (json!({"arr": {"$nin": ["x"]}}), vec!["q2", "q4"]),
        (json!({"arr": "z"}), vec!["q2"]),
        (json!({"arr": "x"}), vec!["q1", "q3"]),
    ];
    fixture.check(&cases).await;
}

#[tokio::test]
async fn regex_with_options_and_quoting() {
    let fixture = fixture().await;
    let cases = [
        (json!({"s": {"$regex": "^a"}}), vec!["q1", "q4"]),
        (json!({"s": {"$regex": "APPLE", "$options": "i"}}), vec!["q1"]),
        (json!({"s": {"$regex": "APPLE"}}), vec![]),
        (json!({"s": {"$regex": "^\\Qa.b*\\E"}}), vec!["q4"]),
        (json!({"s": {"$regex": "\\Q.\\E"}}), vec!["q2", "q4"]),
        (json!({"s": {"$regex": "\\Qpie\\E$"}}), vec!["q1"]),
        (json!({"s": {"$regex": "^b.*T$", "$options": "im"}}), vec!["q2"]),
        (json!({"objectId": {"$regex": format!("^{}", fixture.id("q3"))}}), vec!["q3"]),
    ];
    fixture.check(&cases).await;
}

#[tokio::test]
async fn sub_query_operators() {
    let fixture = fixture().await;
    let cases = [
        (json!({"b": {"$select": {"query": {"className": "Q", "where": {"a": 2}}, "key": "b"}}}), vec!["q2"]),
        (
            json!({"b": {"$dontSelect": {"query": {"className": "Q", "where": {"a": 2}}, "key": "b"}}}),
            vec!["q1", "q3", "q4"],
        ),
        // q4 has no `d`: it adds no value to exclude (it once made `$dontSelect` match nothing).
        (
            json!({"d": {"$dontSelect": {"query": {"className": "Q", "where": {"a": {"$gte": 3}}}, "key": "d"}}}),
            vec!["q1", "q2", "q4"],
        ),
        (json!({"author": {"$inQuery": {"className": "Author", "where": {"age": {"$gte": 40}}}}}), vec!["q2", "q4"]),
        (json!({"author": {"$notInQuery": {"className": "Author", "where": {"age": {"$gte": 40}}}}}), vec!["q1", "q3"]),
        (json!({"authors": {"$inQuery": {"className": "Author", "where": {"name": "bob"}}}}), vec!["q1"]),
        // A key or class that does not exist selects nothing, on a number or an array too (on
        // PostgreSQL these once failed: an empty sub-select's NULL compared as text).
        (json!({"a": {"$select": {"query": {"className": "Q", "where": {}}, "key": "nope"}}}), vec![]),
        (
            json!({"a": {"$dontSelect": {"query": {"className": "Nowhere", "where": {}}, "key": "x"}}}),
            vec!["q1", "q2", "q3", "q4"],
        ),
        (json!({"arr": {"$select": {"query": {"className": "Nowhere", "where": {}}, "key": "x"}}}), vec![]),
        (json!({"author": {"$inQuery": {"className": "Nowhere", "where": {}}}}), vec![]),
    ];
    fixture.check(&cases).await;
    let related = json!({"$relatedTo": {"object": pointer("Owner", fixture.id("owner")), "key": "rel"}});
    let reply = fixture.get("/classes/Author", &[("where", &related.to_string()), ("order", "name")]).await;
    assert_eq!(fixture.names(&reply), ["ann", "bob"]);
}

#[tokio::test]
async fn logical_operators() {
    let fixture = fixture().await;
    let cases = [
        (json!({"$or": [{"a": 1}, {"b": "z"}]}), vec!["q1", "q4"]),
        (json!({"$and": [{"a": 3}, {"b": "z"}]}), vec!["q4"]),
        (json!({"$nor": [{"a": 1}, {"a": 2}]}), vec!["q3", "q4"]),
        (json!({"b": "x", "$or": [{"a": 3}, {"s": "nothing"}]}), vec!["q3"]),
        (json!({"$or": [{"$and": [{"a": {"$gte": 2}}, {"b": "x"}]}, {"name": "q1"}]}), vec!["q1", "q3"]),
    ];
    fixture.check(&cases).await;
}

#[tokio::test]
async fn dotted_keys_and_pointer_equality() {
    let fixture = fixture().await;
    let ann = pointer("Author", fixture.id("ann"));
    let bob = pointer("Author", fixture.id("bob"));
    let cases = [
        (json!({"obj.a": 1}), vec!["q1"]),
        (json!({"obj.a": {"$gte": 2}}), vec!["q2", "q3"]),
        (json!({"obj.b": "z"}), vec!["q1"]),
        (json!({"author": ann}), vec!["q1"]),
        (json!({"author": {"$ne": ann}}), vec!["q2", "q3", "q4"]),
        (json!({"author": {"$in": [ann, bob]}}), vec!["q1", "q2", "q4"]),
        (json!({"authors": bob}), vec!["q1"]),
        (json!({"author": {"$exists": true}}), vec!["q1", "q2", "q3", "q4"]),
    ];
    fixture.check(&cases).await;
}

#[tokio::test]
async fn date_comparisons_and_relative_time() {
    let fixture = fixture().await;
    let cases = [
        (json!({"d": {"$gt": date("2001-01-01T00:00:00.000Z")}}), vec!["q2", "q3"]),
        (json!({"d": date("2000-01-01T00:00:00.000Z")}), vec!["q1"]),
        (json!({"d": {"$lte": date("2001-06-01T00:00:00.000Z")}}), vec!["q1", "q2"]),
        (json!({"d": {"$lt": {"$relativeTime": "3 days ago"}}}), vec!["q1", "q2"]),
        (json!({"d": {"$gt": {"$relativeTime": "in 1 year"}}}), vec!["q3"]),
        (json!({"d": {"$gt": {"$relativeTime": "now"}}}), vec!["q3"]),
        (json!({"createdAt": {"$gt": date("2000-01-01T00:00:00.000Z")}}), vec!["q1", "q2", "q3", "q4"]),
        (json!({"createdAt": {"$lt": {"$relativeTime": "1 day ago"}}}), vec![]),
    ];
    fixture.check(&cases).await;
    let bad = json!({"d": {"$gt": {"$relativeTime": "whenever"}}}).to_string();
    let reply = fixture.get("/classes/Q", &[("where", &bad)]).await;
    assert_eq!((reply.status, &reply.body["code"]), (400, &json!(107)), "{reply:?}");
}

#[tokio::test]
async fn near_sphere_sorts_nearest_first_and_bounds_by_distance() {
    let fixture = fixture().await;
    let near = |latitude: f64, longitude: f64, bound: Option<(&str, f64)>| {
        let mut constraint = json!({"$nearSphere": geo(latitude, longitude)});
        if let Some((key, distance)) = bound {
            constraint[key] = json!(distance);
        }
        json!({"geo": constraint}).to_string()
    };
    let cases = [
        (near(4.0, 4.0, None), vec!["q3", "q2", "q1", "q4"]),
        (near(-20.0, 100.0, None), vec!["q4", "q3", "q2", "q1"]),
        (near(0.0, 0.0, Some(("$maxDistanceInKilometers", 200.0))), vec!["q1", "q2"]),
        (near(5.0, 5.0, Some(("$maxDistanceInKilometers", 200.0))), vec!["q3"]),
        (near(0.0, 0.0, Some(("$maxDistanceInRadians", 0.1))), vec!["q1", "q2"]),
        (near(0.0, 0.0, Some(("$maxDistance", 0.1))), vec!["q1", "q2"]),
        (near(0.0, 0.0, Some(("$maxDistanceInMiles", 1000.0))), vec!["q1", "q2", "q3"]),
    ];
    for (where_text, expected) in cases {
        let reply = fixture.get("/classes/Q", &[("where", &where_text)]).await;
        assert_eq!(fixture.names(&reply), expected, "{where_text}");
    }
}

#[tokio::test]
async fn geo_within_box_polygon_and_circle() {
    let fixture = fixture().await;
    let corners = [geo(-1.0, -1.0), geo(-1.0, 2.0), geo(2.0, 2.0), geo(2.0, -1.0)];
    let cases = [
        (json!({"geo": {"$within": {"$box": [geo(-1.0, -1.0), geo(2.0, 2.0)]}}}), vec!["q1", "q2"]),
        (json!({"geo": {"$within": {"$box": [geo(4.0, 4.0), geo(6.0, 6.0)]}}}), vec!["q3"]),
        (json!({"geo": {"$geoWithin": {"$polygon": corners}}}), vec!["q1", "q2"]),
        (json!({"geo": {"$geoWithin": {"$polygon": [[-1, -1], [-1, 2], [2, 2], [2, -1]]}}}), vec!["q1", "q2"]),
        (json!({"geo": {"$geoWithin": {"$centerSphere": [[0, 0], 0.03]}}}), vec!["q1", "q2"]),
        (json!({"geo": {"$geoWithin": {"$centerSphere": [geo(5.0, 5.0), 0.01]}}}), vec!["q3"]),
        (json!({"poly": {"$geoIntersects": {"$point": geo(5.0, 5.0)}}}), vec!["q1"]),
        (json!({"poly": {"$geoIntersects": {"$point": geo(50.0, 50.0)}}}), vec![]),
    ];
    fixture.check(&cases).await;
}

#[tokio::test]
async fn text_search_matches_words() {
    let fixture = fixture().await;
    let cases = [
        (json!({"s": {"$text": {"$search": {"$term": "apple"}}}}), vec!["q1"]),
        (json!({"s": {"$text": {"$search": {"$term": "CHERRY"}}}}), vec!["q3"]),
        (json!({"s": {"$text": {"$search": {"$term": "durian"}}}}), vec![]),
    ];
    fixture.check(&cases).await;
}

#[tokio::test]
async fn order_by_several_keys_with_descending() {
    let fixture = fixture().await;
    let cases = [
        ("-a,name", vec!["q3", "q4", "q2", "q1"]),
        ("-a,-name", vec!["q4", "q3", "q2", "q1"]),
        ("b,-a", vec!["q3", "q1", "q2", "q4"]),
        ("-obj.a,name", vec!["q3", "q2", "q1", "q4"]),
        ("createdAt", vec!["q1", "q2", "q3", "q4"]),
    ];
    for (order, expected) in cases {
        let reply = fixture.get("/classes/Q", &[("order", order)]).await;
        assert_eq!(fixture.names(&reply), expected, "order={order}");
    }
}

#[tokio::test]
async fn limit_defaults_to_100_and_skip_pages() {
    let server = TestServer::start().await;
    let requests: Vec<Value> =
        (0..120).map(|i| json!({"method": "POST", "path": "/parse/classes/Many", "body": {"i": i}})).collect();
    let reply = server.master("POST", "/batch", Some(json!({"requests": requests}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.as_array().expect("array").iter().all(|item| item.get("success").is_some()), "{reply:?}");
    let values = |reply: &Reply| -> Vec<i64> {
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["results"].as_array().expect("results").iter().map(|o| o["i"].as_i64().expect("i")).collect()
    };
    let page = server.client_call("GET", "/classes/Many?order=i", None).await;
    assert_eq!(values(&page), (0..100).collect::<Vec<_>>());
    let page = server.client_call("GET", "/classes/Many?order=i&limit=120", None).await;
    assert_eq!(values(&page), (0..120).collect::<Vec<_>>());
    let page = server.client_call("GET", "/classes/Many?order=i&skip=110", None).await;
    assert_eq!(values(&page), (110..120).collect::<Vec<_>>());
    let page = server.client_call("GET", "/classes/Many?order=-i&skip=5&limit=3", None).await;
    assert_eq!(values(&page), [114, 113, 112]);
    let counted = server.client_call("GET", "/classes/Many?count=1&limit=0", None).await;
    assert_eq!(counted.body, json!({"results": [], "count": 120}));
}

#[tokio::test]
async fn count_ignores_limit_and_skip() {
    let fixture = fixture().await;
    let reply = fixture.get("/classes/Q", &[("count", "1"), ("limit", "0")]).await;
    assert_eq!(reply.body, json!({"results": [], "count": 4}));
    let where_text = json!({"b": "x"}).to_string();
    let reply =
        fixture.get("/classes/Q", &[("where", &where_text), ("count", "1"), ("limit", "1"), ("order", "name")]).await;
    assert_eq!((fixture.names(&reply), &reply.body["count"]), (vec!["q1".to_owned()], &json!(2)));
    let reply = fixture.get("/classes/Q", &[("count", "1"), ("skip", "3"), ("order", "name")]).await;
    assert_eq!((fixture.names(&reply), &reply.body["count"]), (vec!["q4".to_owned()], &json!(4)));
    let reply = fixture.get("/classes/Q", &[("count", "0"), ("limit", "0")]).await;
    assert_eq!(reply.body, json!({"results": []}));
}

#[tokio::test]
async fn keys_and_exclude_keys_project_fields() {
    let fixture = fixture().await;
    let q1 = fixture.id("q1");
    let reply = fixture.get("/classes/Q", &[("keys", "a,name"), ("order", "name"), ("limit", "1")]).await;
    let first = &reply.body["results"][0];
    let expected =
        json!({"objectId": q1, "createdAt": first["createdAt"], "updatedAt": first["updatedAt"], "a": 1, "name": "q1"});
    assert_eq!(first, &expected);
    let excluded = "s,arr,poly,geo,obj,authors,author,d,objectId,createdAt";
    let reply = fixture.get("/classes/Q", &[("excludeKeys", excluded), ("order", "name"), ("limit", "1")]).await;
    let first = &reply.body["results"][0];
    let expected = json!({"objectId": q1, "createdAt": first["createdAt"], "updatedAt": first["updatedAt"],
                          "a": 1, "b": "x", "name": "q1"});
    assert_eq!(first, &expected);
    let reply = fixture.get(&format!("/classes/Q/{q1}"), &[("keys", "b")]).await;
    assert_eq!(
        reply.body,
        json!({"objectId": q1, "createdAt": reply.body["createdAt"], "updatedAt": reply.body["updatedAt"], "b": "x"})
    );
    // A dotted key projects inside an included pointer.
    let reply = fixture.get("/classes/Q", &[("keys", "author.name"), ("order", "name"), ("limit", "1")]).await;
    let author = &reply.body["results"][0]["author"];
    let ann = fixture.included("Author", "ann").await;
    let projected = json!({"__type": "Object", "className": "Author", "objectId": ann["objectId"],
                           "createdAt": ann["createdAt"], "updatedAt": ann["updatedAt"], "name": "ann"});
    assert_eq!(author, &projected);
}

#[tokio::test]
async fn include_replaces_pointers_with_objects() {
    let fixture = fixture().await;
    let ann = fixture.included("Author", "ann").await;
    let bob = fixture.included("Author", "bob").await;
    let reply = fixture
        .get("/classes/Q", &[("include", "author,authors"), ("keys", "name,author,authors"), ("order", "name")])
        .await;
    assert_eq!(fixture.names(&reply), ["q1", "q2", "q3", "q4"]);
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(results[0]["author"], ann);
    assert_eq!(results[0]["authors"], json!([ann, bob]));
    // Pointers to a deleted object are dropped: the field, or the element of an array.
    assert_eq!(results[1]["author"], bob);
    assert_eq!(results[1]["authors"], json!([]));
    assert_eq!(results[2].get("author"), None, "{}", results[2]);
    assert_eq!(results[3]["author"], bob);
}

#[tokio::test]
async fn include_follows_nested_paths_and_star() {
    let fixture = fixture().await;
    let mut ann = fixture.included("Author", "ann").await;
    let publisher = fixture.included("Publisher", "pub1").await;
    let q1 = fixture.id("q1");
    let reply = fixture.get(&format!("/classes/Q/{q1}"), &[("include", "*")]).await;
    assert_eq!(reply.body["author"], ann, "{reply:?}");
    ann["publisher"] = publisher;
    let reply = fixture.get(&format!("/classes/Q/{q1}"), &[("include", "author.publisher")]).await;
    assert_eq!(reply.body["author"], ann, "{reply:?}");
    let reply = fixture
        .get("/classes/Q", &[("include", "author.publisher"), ("where", &json!({"name": "q1"}).to_string())])
        .await;
    assert_eq!(reply.body["results"][0]["author"], ann, "{reply:?}");
}

#[tokio::test]
async fn redirect_class_name_for_key_queries_the_relation_target() {
    let fixture = fixture().await;
    let related = json!({"$relatedTo": {"object": pointer("Owner", fixture.id("owner")), "key": "rel"}}).to_string();
    let reply = fixture
        .get("/classes/Owner", &[("redirectClassNameForKey", "rel"), ("where", &related), ("order", "name")])
        .await;
    assert_eq!(fixture.names(&reply), ["ann", "bob"]);
    let class_names: Vec<&Value> =
        reply.body["results"].as_array().expect("results").iter().map(|o| &o["className"]).collect();
    assert_eq!(class_names, [&json!("Author"), &json!("Author")]);
    let reply = fixture.get("/classes/Owner", &[("redirectClassNameForKey", "nope"), ("where", &related)]).await;
    assert_eq!(reply.body, json!({"results": []}));
}

#[tokio::test]
async fn missing_class_is_119_for_clients_and_empty_for_the_master_key() {
    let fixture = fixture().await;
    let reply = fixture.get("/classes/NoSuchClass", &[]).await;
    assert_eq!((reply.status, &reply.body["code"]), (400, &json!(119)), "{reply:?}");
    let reply = fixture.get("/classes/NoSuchClass", &[("count", "1"), ("limit", "0")]).await;
    assert_eq!((reply.status, &reply.body["code"]), (400, &json!(119)), "{reply:?}");
    let reply = fixture.server.master("GET", "/classes/NoSuchClass", None).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({"results": []})));
}

/// `GET /aggregate/Q` with the master key and the given parameters; the `results`.
async fn aggregate(fixture: &Fixture, params: &[(&str, &str)]) -> Value {
    let reply = fixture.server.master("GET", &path_with("/aggregate/Q", params), None).await;
    assert_eq!(reply.status, 200, "{params:?}: {reply:?}");
    reply.body["results"].clone()
}

fn sorted(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by_key(Value::to_string);
    values
}

#[tokio::test]
async fn aggregate_distinct_returns_each_value_once() {
    let fixture = fixture().await;
    let distinct = |value: Value| sorted(value.as_array().expect("array").clone());
    assert_eq!(distinct(aggregate(&fixture, &[("distinct", "b")]).await), [json!("x"), json!("y"), json!("z")]);
    let where_text = json!({"a": {"$gte": 2}}).to_string();
    let values = aggregate(&fixture, &[("distinct", "a"), ("where", &where_text)]).await;
    assert_eq!(distinct(values), [json!(2), json!(3)]);
    assert_eq!(distinct(aggregate(&fixture, &[("distinct", "arr")]).await), [json!("x"), json!("y"), json!("z")]);
    assert_eq!(aggregate(&fixture, &[("distinct", "nosuch")]).await, json!([]));
}

#[tokio::test]
async fn aggregate_pipeline_groups_sorts_and_pages() {
    let fixture = fixture().await;
    let pipeline = |stages: Value| stages.to_string();
    let grouped = pipeline(json!([
        {"$group": {"_id": "$b", "total": {"$sum": "$a"}, "avg": {"$avg": "$a"},
                    "mn": {"$min": "$a"}, "mx": {"$max": "$a"}}},
        {"$sort": {"objectId": 1}}
    ]));
    assert_eq!(
        aggregate(&fixture, &[("pipeline", &grouped)]).await,
        json!([
            {"objectId": "x", "total": 4, "avg": 2, "mn": 1, "mx": 3},
            {"objectId": "y", "total": 2, "avg": 2, "mn": 2, "mx": 2},
            {"objectId": "z", "total": 3, "avg": 3, "mn": 3, "mx": 3}
        ])
    );
    let counted = pipeline(json!([{"$match": {"b": "x"}}, {"$group": {"_id": "$b", "count": {"$sum": 1}}}]));
    assert_eq!(aggregate(&fixture, &[("pipeline", &counted)]).await, json!([{"objectId": "x", "count": 2}]));
    let total = pipeline(json!([{"$group": {"_id": null, "total": {"$sum": "$a"}, "avg": {"$avg": "$a"}}}]));
    assert_eq!(
        aggregate(&fixture, &[("pipeline", &total)]).await,
        json!([{"objectId": null, "total": 9, "avg": 2.25}])
    );
    let paged = pipeline(json!([{"$sort": {"name": -1}}, {"$skip": 1}, {"$limit": 2}, {"$project": {"name": 1}}]));
    assert_eq!(
        aggregate(&fixture, &[("pipeline", &paged)]).await,
        json!([{"objectId": fixture.id("q3"), "name": "q3"}, {"objectId": fixture.id("q2"), "name": "q2"}])
    );
    let count = pipeline(json!([{"$match": {"b": "x"}}, {"$count": "n"}]));
    assert_eq!(aggregate(&fixture, &[("pipeline", &count)]).await, json!([{"n": 2}]));
    let matched_after_group =
        pipeline(json!([{"$group": {"_id": "$b", "c": {"$sum": 1}}}, {"$match": {"c": {"$gt": 1}}}]));
    assert_eq!(aggregate(&fixture, &[("pipeline", &matched_after_group)]).await, json!([{"objectId": "x", "c": 2}]));
}

#[tokio::test]
async fn aggregate_refuses_bad_pipelines_with_102_and_clients_with_403() {
    let fixture = fixture().await;
    let bad = [
        json!([{"$match": {"b": "x"}, "$limit": 1}]),
        json!([{"match": {"b": "x"}}]),
        json!([{"$group": {"objectId": "$b", "c": {"$sum": 1}}}]),
    ];
    for stages in bad {
        let path = path_with("/aggregate/Q", &[("pipeline", &stages.to_string())]);
        let reply = fixture.server.master("GET", &path, None).await;
        assert_eq!((reply.status, &reply.body["code"]), (400, &json!(102)), "{stages}: {reply:?}");
    }
    let pipeline = json!([{"$group": {"_id": "$b"}}]).to_string();
    for params in [[("distinct", "b")], [("pipeline", pipeline.as_str())]] {
        let reply = fixture.get("/aggregate/Q", &params).await;
        assert_eq!(reply.status, 403, "{reply:?}");
        assert_eq!(reply.body.get("results"), None);
    }
}

/// Hides `name` (an Author) from clients with an empty ACL.
async fn hide(fixture: &Fixture, class_name: &str, name: &str) {
    let path = format!("/classes/{class_name}/{}", fixture.id(name));
    let reply = fixture.server.master("PUT", &path, Some(json!({"ACL": {}}))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn include_drops_pointers_the_caller_cannot_read() {
    let fixture = fixture().await;
    hide(&fixture, "Author", "ann").await;
    let bob = fixture.included("Author", "bob").await;
    let params = [("include", "author,authors"), ("where", r#"{"name":"q1"}"#)];
    let reply = fixture.get("/classes/Q", &params).await;
    let q1 = &reply.body["results"][0];
    assert_eq!((q1.get("author"), &q1["authors"]), (None, &json!([bob])), "{q1}");
    let reply = fixture.server.master("GET", &path_with("/classes/Q", &params), None).await;
    assert_eq!(reply.body["results"][0]["author"]["name"], json!("ann"), "{reply:?}");
}

#[tokio::test]
async fn sub_queries_and_relations_see_only_what_the_caller_can_read() {
    let fixture = fixture().await;
    hide(&fixture, "Author", "bob").await;
    let cases = [
        (json!({"author": {"$inQuery": {"className": "Author", "where": {"age": {"$gte": 40}}}}}), vec![]),
        (json!({"authors": {"$inQuery": {"className": "Author", "where": {"name": "bob"}}}}), vec![]),
        (
            json!({"author": {"$notInQuery": {"className": "Author", "where": {"age": {"$gte": 40}}}}}),
            vec!["q1", "q2", "q3", "q4"],
        ),
    ];
    fixture.check(&cases).await;
    hide(&fixture, "Q", "q2").await;
    let cases = [
        (json!({"b": {"$select": {"query": {"className": "Q", "where": {"a": 2}}, "key": "b"}}}), vec![]),
        (json!({"a": {"$gte": 0}}), vec!["q1", "q3", "q4"]),
    ];
    fixture.check(&cases).await;
    let related = json!({"$relatedTo": {"object": pointer("Owner", fixture.id("owner")), "key": "rel"}}).to_string();
    let reply = fixture.get("/classes/Author", &[("where", &related), ("count", "1")]).await;
    assert_eq!((fixture.names(&reply), &reply.body["count"]), (vec!["ann".to_owned()], &json!(1)));
    let reply = fixture.get("/classes/Owner", &[("redirectClassNameForKey", "rel"), ("where", &related)]).await;
    assert_eq!(fixture.names(&reply), ["ann"]);
}
