//! A reference monitor for reads. Each test builds a random world through the REST API with
//! the master key — users with their log-in sessions, roles that inherit one another, classes
//! `Box` and `Doc` with random ACLs, class-level permissions (operations, `requiresAuthentication`,
//! `readUserFields`, `pointerFields`) and `protectedFields` — then asks hundreds of random
//! queries as random callers (anonymous, each user by session token, the master key): nested
//! `$inQuery`/`$notInQuery`/`$select`/`$dontSelect` over `Box`, `Doc`, `_User` and `_Session`,
//! `$relatedTo`, `$or`, `include`, `keys`, `order` and `count`. Every answer must equal what
//! `World::expected` computes: a small, independent statement of who may read what, evaluated
//! over the objects as the master key reads them.
//!
//! The rules the monitor states (one authorization gate for every read):
//! - an object is visible to a caller for an operation when the class-level permission for the
//!   operation admits the caller (absent entry, `*`, the user, one of the user's roles —
//!   inherited ones too —, `requiresAuthentication` when logged in, or pointer permissions on
//!   objects whose pointer field points to the caller) and its ACL does; a `_Session` only to
//!   the user it belongs to. The master key sees everything.
//! - a query is refused when the permissions refuse it at the top, or refuse (outright, not by
//!   pointer permissions) a class one of its sub-queries reads (`find`) or one of its results
//!   includes (`get`), as Parse Server refuses them; a `$relatedTo` owner the caller may not get
//!   lists nothing.
//! - a protected field is never returned (users see their own email), and a query that uses one
//!   — in a condition, an order, a `$select` key, a `$relatedTo` key, at any depth — is refused.
//!
//! A `count=1` query's results are those of the find (the count permission limits the count).
//! `$select`/`$dontSelect` compare with the values the sub-query's objects hold: an object
//! without the key adds no value (Parse Server on MongoDB), so it cannot empty a `$dontSelect`.
//!
//! Failures are shrunk (proptest's value trees) and grouped by kind; each group prints its
//! smallest example with the world's seed, the caller, the request and both answers.
//! `GATE_REFERENCE_QUERIES` changes the number of queries per world; `GATE_REFERENCE_SEED_BASE`
//! is added to each world's number to give its seed (0 unless set), to explore other worlds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use basalt_test_support::{APP_ID, MASTER_KEY, Reply, TestServer};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

const USERS: usize = 4;
const ROLES: usize = 3;
const TITLES: [&str; 3] = ["a", "b", "c"];
/// Secrets overlap titles so that `$select` across the two fields can match.
const SECRETS: [&str; 2] = ["a", "x"];
/// Fields a class may protect, by class.
const DOC_PROTECTABLE: [&str; 3] = ["secret", "title", "box"];
const BOX_PROTECTABLE: [&str; 3] = ["secret", "title", "tags"];
/// Fields every result keeps under `keys` (as the engine's projection does).
const ALWAYS_SELECTED: [&str; 4] = ["objectId", "createdAt", "updatedAt", "ACL"];
const QUERIES_PER_WORLD: usize = 1000;
/// Failures shrunk per world; later ones are only counted.
const SHRUNK_MAX: usize = 60;
/// Failures of one kind and one set of query parts shrunk per world.
const SHRUNK_PER_KIND_MAX: usize = 2;
const SHRINK_STEPS_MAX: usize = 150;

// ---------------------------------------------------------------------------------------------
// The world, as generated

#[derive(Clone, Debug)]
enum Entity {
    Public,
    User(usize),
    Role(usize),
}

#[derive(Clone, Debug)]
struct ObjectSpec {
    title: Option<usize>,
    n: Option<i64>,
    secret: Option<usize>,
    owner: Option<usize>,
    /// `None`: no ACL (public). Each entry: the entity and whether it may read (a write-only
    /// entry otherwise).
    acl: Option<Vec<(Entity, bool)>>,
    /// Doc: the `box` it points to (an index into the boxes, modulo their number).
    box_index: Option<usize>,
    /// Doc: the `session` it points to: (user, index into the user's sessions, modulo).
    session: Option<(usize, usize)>,
    /// Box: which docs (by index) its `tags` relation holds.
    tags: Vec<bool>,
}

#[derive(Clone, Debug)]
enum OpRule {
    Public,
    Closed,
    RequiresAuthentication,
    User(usize),
    Role(usize),
    OwnerPointer,
    RoleOrOwnerPointer(usize),
}

#[derive(Clone, Debug)]
enum ProtectedEntity {
    Authenticated,
    User(usize),
    Role(usize),
}

#[derive(Clone, Debug)]
struct ClpSpec {
    find: OpRule,
    get: OpRule,
    count: OpRule,
    read_user_fields: bool,
    /// Which protectable fields `*` hides (always present, possibly empty).
    public_protected: Vec<bool>,
    protected: Vec<(ProtectedEntity, Vec<bool>)>,
}

#[derive(Clone, Debug)]
struct UserSpec {
    private: bool,
    logins: usize,
    /// Which of the user's sessions (sign-up first) get a public-read ACL.
    public_sessions: Vec<bool>,
}

#[derive(Clone, Debug)]
struct RoleSpec {
    users: Vec<bool>,
    /// Roles with a lower index put into this role's `roles` relation (their members inherit
    /// this role).
    child_roles: Vec<bool>,
}

#[derive(Clone, Debug)]
struct WorldSpec {
    users: Vec<UserSpec>,
    roles: Vec<RoleSpec>,
    boxes: Vec<ObjectSpec>,
    docs: Vec<ObjectSpec>,
    box_clp: ClpSpec,
    doc_clp: ClpSpec,
}

fn entity() -> impl Strategy<Value = Entity> {
    prop_oneof![Just(Entity::Public), (0..USERS).prop_map(Entity::User), (0..ROLES).prop_map(Entity::Role)]
}

fn object_spec() -> impl Strategy<Value = ObjectSpec> {
    (
        prop::option::weighted(0.9, 0..TITLES.len()),
        prop::option::weighted(0.9, 0..5i64),
        prop::option::weighted(0.6, 0..SECRETS.len()),
        prop::option::weighted(0.7, 0..USERS),
        prop::option::weighted(0.75, prop::collection::vec((entity(), prop::bool::weighted(0.75)), 0..3)),
        prop::option::weighted(0.8, 0..8usize),
        prop::option::weighted(0.5, (0..USERS, 0..3usize)),
        prop::collection::vec(prop::bool::weighted(0.3), 12),
    )
        .prop_map(|(title, n, secret, owner, acl, box_index, session, tags)| ObjectSpec {
            title,
            n,
            secret,
            owner,
            acl,
            box_index,
            session,
            tags,
        })
}

fn op_rule() -> impl Strategy<Value = OpRule> {
    prop_oneof![
        5 => Just(OpRule::Public),
        1 => Just(OpRule::Closed),
        1 => Just(OpRule::RequiresAuthentication),
        1 => (0..USERS).prop_map(OpRule::User),
        1 => (0..ROLES).prop_map(OpRule::Role),
        1 => Just(OpRule::OwnerPointer),
        1 => (0..ROLES).prop_map(OpRule::RoleOrOwnerPointer),
    ]
}

fn protectable_subset() -> impl Strategy<Value = Vec<bool>> {
    (prop::bool::weighted(0.6), prop::bool::weighted(0.2), prop::bool::weighted(0.2))
        .prop_map(|(first, second, third)| vec![first, second, third])
}

fn clp_spec() -> impl Strategy<Value = ClpSpec> {
    let protected_entity = prop_oneof![
        Just(ProtectedEntity::Authenticated),
        (0..USERS).prop_map(ProtectedEntity::User),
        (0..ROLES).prop_map(ProtectedEntity::Role),
    ];
    (
        op_rule(),
        op_rule(),
        op_rule(),
        prop::bool::weighted(0.2),
        protectable_subset(),
        prop::collection::vec((protected_entity, protectable_subset()), 0..3),
    )
        .prop_map(|(find, get, count, read_user_fields, public_protected, protected)| ClpSpec {
            find,
            get,
            count,
            read_user_fields,
            public_protected,
            protected,
        })
}

fn world_spec() -> impl Strategy<Value = WorldSpec> {
    let user = (prop::bool::weighted(0.3), 1..=2usize, prop::collection::vec(prop::bool::weighted(0.25), 3))
        .prop_map(|(private, logins, public_sessions)| UserSpec { private, logins, public_sessions });
    let role = (
        prop::collection::vec(prop::bool::weighted(0.4), USERS),
        prop::collection::vec(prop::bool::weighted(0.5), ROLES),
    )
        .prop_map(|(users, child_roles)| RoleSpec { users, child_roles });
    (
        prop::collection::vec(user, USERS),
        prop::collection::vec(role, ROLES),
        prop::collection::vec(object_spec(), 5..=7),
        prop::collection::vec(object_spec(), 8..=11),
        clp_spec(),
        clp_spec(),
    )
        .prop_map(|(users, roles, boxes, docs, box_clp, doc_clp)| WorldSpec {
            users,
            roles,
            boxes,
            docs,
            box_clp,
            doc_clp,
        })
}

// ---------------------------------------------------------------------------------------------
// Queries

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Doc,
    Box,
    User,
    Session,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Doc => "Doc",
            Class::Box => "Box",
            Class::User => "_User",
            Class::Session => "_Session",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    User(usize),
    Master,
}

#[derive(Clone, Debug)]
enum Cond {
    TitleEq(usize),
    TitleIn(Vec<usize>),
    TitleNe(usize),
    NGreater(i64),
    NAtMost(i64),
    SecretEq(usize),
    SecretExists,
    UsernameIn(Vec<usize>),
    EmailEq(usize),
    EmailExists,
    TokenRegex,
    TokenExists,
    SessionUser(usize),
    InQuery { field: &'static str, negated: bool, sub: Box<SubQuery> },
    Select { field: &'static str, key: &'static str, negated: bool, sub: Box<SubQuery> },
    RelatedTo(usize),
    Or(Vec<Cond>),
}

#[derive(Clone, Debug)]
struct SubQuery {
    class: Class,
    conds: Vec<Cond>,
}

#[derive(Clone, Debug)]
struct Query {
    caller: Caller,
    class: Class,
    conds: Vec<Cond>,
    order: Option<(&'static str, bool)>,
    keys: Option<Vec<&'static str>>,
    include: Vec<&'static str>,
    count: bool,
}

fn caller() -> impl Strategy<Value = Caller> {
    prop_oneof![
        2 => Just(Caller::Anonymous),
        6 => (0..USERS).prop_map(Caller::User),
        1 => Just(Caller::Master),
    ]
}

fn sub_query(class: Class, depth: u32) -> BoxedStrategy<Box<SubQuery>> {
    prop::collection::vec(cond(class, depth), 0..3).prop_map(move |conds| Box::new(SubQuery { class, conds })).boxed()
}

/// A condition on `class`; `depth` is how many sub-query levels it may still open.
fn cond(class: Class, depth: u32) -> BoxedStrategy<Cond> {
    let title = prop_oneof![
        (0..TITLES.len()).prop_map(Cond::TitleEq),
        prop::collection::vec(0..TITLES.len(), 1..3).prop_map(Cond::TitleIn),
        (0..TITLES.len()).prop_map(Cond::TitleNe),
    ];
    let plain = prop_oneof![
        3 => title,
        1 => (0..5i64).prop_map(Cond::NGreater),
        1 => (0..5i64).prop_map(Cond::NAtMost),
        1 => (0..SECRETS.len()).prop_map(Cond::SecretEq),
        1 => Just(Cond::SecretExists),
    ]
    .boxed();
    let leaf: BoxedStrategy<Cond> = match class {
        Class::Doc => prop_oneof![4 => plain, 1 => (0..8usize).prop_map(Cond::RelatedTo)].boxed(),
        Class::Box => plain,
        Class::User => prop_oneof![
            3 => prop::collection::vec(0..USERS, 1..3).prop_map(Cond::UsernameIn),
            1 => (0..USERS).prop_map(Cond::EmailEq),
            1 => Just(Cond::EmailExists),
        ]
        .boxed(),
        Class::Session => prop_oneof![
            2 => Just(Cond::TokenRegex),
            1 => Just(Cond::TokenExists),
            2 => (0..USERS).prop_map(Cond::SessionUser),
        ]
        .boxed(),
    };
    if depth == 0 {
        return leaf;
    }
    let in_query = |field: &'static str, target: Class| {
        (any::<bool>(), sub_query(target, depth - 1)).prop_map(move |(negated, sub)| Cond::InQuery {
            field,
            negated,
            sub,
        })
    };
    let select = |target: Class| {
        (any::<bool>(), prop_oneof![3 => Just("title"), 1 => Just("secret")], sub_query(target, depth - 1))
            .prop_map(move |(negated, key, sub)| Cond::Select { field: "title", key, negated, sub })
    };
    let or = prop::collection::vec(cond(class, depth - 1), 1..3).prop_map(Cond::Or);
    match class {
        Class::Doc => prop_oneof![
            4 => leaf,
            2 => in_query("box", Class::Box),
            1 => in_query("owner", Class::User),
            1 => in_query("session", Class::Session),
            2 => select(Class::Box),
            1 => or,
        ]
        .boxed(),
        Class::Box => prop_oneof![
            4 => leaf,
            1 => in_query("owner", Class::User),
            2 => select(Class::Doc),
            1 => or,
        ]
        .boxed(),
        Class::Session => prop_oneof![3 => leaf, 1 => in_query("user", Class::User)].boxed(),
        Class::User => leaf,
    }
}

fn query_on(class: Class) -> BoxedStrategy<Query> {
    let (orderable, selectable, includable): (Vec<&'static str>, Vec<&'static str>, Vec<&'static str>) = match class {
        Class::Doc => (
            vec!["title", "n", "secret"],
            vec!["title", "n", "secret", "owner", "box", "session"],
            vec!["owner", "box", "session"],
        ),
        Class::Box => (vec!["title", "n", "secret"], vec!["title", "n", "secret", "owner"], vec!["owner"]),
        Class::User => (vec!["username", "email"], vec!["username", "email"], vec![]),
        Class::Session => (vec!["createdAt"], vec!["user", "sessionToken"], vec!["user"]),
    };
    let selectable_count = selectable.len();
    let includable_count = includable.len();
    (
        caller(),
        prop::collection::vec(cond(class, 2), 0..3),
        prop::option::weighted(0.3, (prop::sample::select(orderable), any::<bool>())),
        prop::option::weighted(0.2, prop::sample::subsequence(selectable, 0..=selectable_count)),
        prop::sample::subsequence(includable, 0..=includable_count),
        prop::bool::weighted(0.3),
    )
        .prop_map(move |(caller, conds, order, keys, include, count)| Query {
            caller,
            class,
            conds,
            order,
            keys,
            include,
            count,
        })
        .boxed()
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        5 => query_on(Class::Doc),
        3 => query_on(Class::Box),
        1 => query_on(Class::User),
        1 => query_on(Class::Session),
    ]
}

// ---------------------------------------------------------------------------------------------
// Building the world through the API

/// The world as built: the server, and every object as the master key reads it.
struct World {
    seed: u64,
    server: TestServer,
    user_ids: Vec<String>,
    /// The session token each user calls with.
    tokens: Vec<String>,
    role_names: Vec<String>,
    /// Roles each user has, inherited ones included.
    user_roles: Vec<BTreeSet<usize>>,
    box_ids: Vec<String>,
    /// `Box.tags` members by box objectId.
    tags: BTreeMap<String, BTreeSet<String>>,
    /// Class name -> stored class-level permissions.
    clps: BTreeMap<&'static str, Value>,
    /// Class name -> objects as the master key finds them.
    objects: BTreeMap<&'static str, Vec<Map<String, Value>>>,
}

fn pointer(class_name: &str, object_id: &str) -> Value {
    json!({"__type": "Pointer", "className": class_name, "objectId": object_id})
}

#[track_caller]
fn created_id(reply: &Reply) -> String {
    assert!(reply.status == 201 || reply.status == 200, "{reply:?}");
    reply.body["objectId"].as_str().unwrap_or_else(|| panic!("objectId in {reply:?}")).to_owned()
}

#[track_caller]
fn ok(reply: &Reply) -> &Value {
    assert!(reply.status == 200 || reply.status == 201, "{reply:?}");
    &reply.body
}

fn rule_json(rule: &OpRule, user_ids: &[String], role_names: &[String]) -> Value {
    match rule {
        OpRule::Public => json!({"*": true}),
        OpRule::Closed => json!({}),
        OpRule::RequiresAuthentication => json!({"requiresAuthentication": true}),
        OpRule::User(user) => json!({ user_ids[*user].as_str(): true }),
        OpRule::Role(role) => json!({ format!("role:{}", role_names[*role]): true }),
        OpRule::OwnerPointer => json!({"pointerFields": ["owner"]}),
        OpRule::RoleOrOwnerPointer(role) => {
            json!({ format!("role:{}", role_names[*role]): true, "pointerFields": ["owner"] })
        }
    }
}

fn clp_json(spec: &ClpSpec, protectable: &[&str], user_ids: &[String], role_names: &[String]) -> Value {
    let fields = |chosen: &[bool]| -> Value {
        protectable.iter().zip(chosen).filter(|(_, chosen)| **chosen).map(|(field, _)| json!(field)).collect()
    };
    let mut protected = Map::new();
    // No `*` list when the public is chosen to see everything: then only the other lists count
    // (Parse's rule, once broken here).
    if spec.public_protected.iter().any(|chosen| *chosen) {
        protected.insert("*".into(), fields(&spec.public_protected));
    }
    for (entity, chosen) in &spec.protected {
        let key = match entity {
            ProtectedEntity::Authenticated => "authenticated".to_owned(),
            ProtectedEntity::User(user) => user_ids[*user].clone(),
            ProtectedEntity::Role(role) => format!("role:{}", role_names[*role]),
        };
        protected.insert(key, fields(chosen));
    }
    let mut clp = json!({
        "find": rule_json(&spec.find, user_ids, role_names),
        "get": rule_json(&spec.get, user_ids, role_names),
        "count": rule_json(&spec.count, user_ids, role_names),
        "create": {}, "update": {}, "delete": {}, "addField": {},
        "protectedFields": protected,
    });
    if spec.read_user_fields {
        clp["readUserFields"] = json!(["owner"]);
    }
    clp
}

fn acl_json(acl: &[(Entity, bool)], user_ids: &[String], role_names: &[String]) -> Value {
    let mut map = Map::new();
    for (entity, readable) in acl {
        let key = match entity {
            Entity::Public => "*".to_owned(),
            Entity::User(user) => user_ids[*user].clone(),
            Entity::Role(role) => format!("role:{}", role_names[*role]),
        };
        let entry = map.entry(key).or_insert_with(|| json!({"write": true}));
        if *readable {
            entry["read"] = json!(true);
        }
    }
    Value::Object(map)
}

/// Everything in a class as the master key finds it.
async fn master_objects(server: &TestServer, class_name: &str) -> Vec<Map<String, Value>> {
    let reply = server.master("GET", &format!("/classes/{class_name}?limit=1000"), None).await;
    ok(&reply)["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results in {reply:?}"))
        .iter()
        .map(|object| object.as_object().expect("objects").clone())
        .collect()
}

fn object_body(spec: &ObjectSpec, user_ids: &[String], role_names: &[String]) -> Map<String, Value> {
    let mut body = Map::new();
    if let Some(title) = spec.title {
        body.insert("title".into(), json!(TITLES[title]));
    }
    if let Some(n) = spec.n {
        body.insert("n".into(), json!(n));
    }
    if let Some(secret) = spec.secret {
        body.insert("secret".into(), json!(SECRETS[secret]));
    }
    if let Some(owner) = spec.owner {
        body.insert("owner".into(), pointer("_User", &user_ids[owner]));
    }
    if let Some(acl) = &spec.acl {
        body.insert("ACL".into(), acl_json(acl, user_ids, role_names));
    }
    body
}

async fn build_world(seed: u64, spec: &WorldSpec) -> World {
    let server = TestServer::start().await;

    let mut user_ids = Vec::new();
    let mut tokens = Vec::new();
    for (index, user) in spec.users.iter().enumerate() {
        let username = format!("u{index}");
        let body = json!({"username": username, "password": "pw", "email": format!("{username}@example.com")});
        let reply = server.client_call("POST", "/users", Some(body)).await;
        let user_id = created_id(&reply);
        tokens.push(reply.body["sessionToken"].as_str().expect("sessionToken").to_owned());
        for _ in 0..user.logins {
            let reply =
                server.client_call("POST", "/login", Some(json!({"username": username, "password": "pw"}))).await;
            ok(&reply);
        }
        if user.private {
            let acl = json!({ user_id.as_str(): {"read": true, "write": true} });
            ok(&server.master("PUT", &format!("/users/{user_id}"), Some(json!({"ACL": acl}))).await);
        }
        user_ids.push(user_id);
    }

    let mut role_names = Vec::new();
    let mut role_ids: Vec<String> = Vec::new();
    let mut user_roles = vec![BTreeSet::new(); USERS];
    let mut members: Vec<BTreeSet<usize>> = Vec::new();
    for (index, role) in spec.roles.iter().enumerate() {
        let name = format!("R{index}");
        let users: Vec<usize> = (0..USERS).filter(|user| role.users[*user]).collect();
        let children: Vec<usize> = (0..index).filter(|child| role.child_roles[*child]).collect();
        let mut body = json!({"name": name, "ACL": {"*": {"read": true}}});
        if !users.is_empty() {
            let objects: Vec<Value> = users.iter().map(|user| pointer("_User", &user_ids[*user])).collect();
            body["users"] = json!({"__op": "AddRelation", "objects": objects});
        }
        if !children.is_empty() {
            let objects: Vec<Value> = children.iter().map(|child| pointer("_Role", &role_ids[*child])).collect();
            body["roles"] = json!({"__op": "AddRelation", "objects": objects});
        }
        role_ids.push(created_id(&server.master("POST", "/roles", Some(body)).await));
        // Members of a role in this role's `roles` relation have this role too.
        let mut has: BTreeSet<usize> = users.into_iter().collect();
        for child in children {
            has.extend(members[child].iter().copied());
        }
        for user in &has {
            user_roles[*user].insert(index);
        }
        members.push(has);
        role_names.push(name);
    }

    let text = json!({"type": "String"});
    let number = json!({"type": "Number"});
    let owner = json!({"type": "Pointer", "targetClass": "_User"});
    let box_fields = json!({"title": text, "n": number, "secret": text, "owner": owner});
    ok(&server.master("POST", "/schemas/Box", Some(json!({"className": "Box", "fields": box_fields}))).await);
    let doc_fields = json!({"title": text, "n": number, "secret": text, "owner": owner,
        "box": {"type": "Pointer", "targetClass": "Box"}, "session": {"type": "Pointer", "targetClass": "_Session"}});
    ok(&server.master("POST", "/schemas/Doc", Some(json!({"className": "Doc", "fields": doc_fields}))).await);
    let tags = json!({"tags": {"type": "Relation", "targetClass": "Doc"}});
    ok(&server.master("PUT", "/schemas/Box", Some(json!({"className": "Box", "fields": tags}))).await);
    for (class_name, clp_spec, protectable) in
        [("Box", &spec.box_clp, &BOX_PROTECTABLE), ("Doc", &spec.doc_clp, &DOC_PROTECTABLE)]
    {
        let clp = clp_json(clp_spec, protectable, &user_ids, &role_names);
        let body = json!({"className": class_name, "classLevelPermissions": clp});
        ok(&server.master("PUT", &format!("/schemas/{class_name}"), Some(body)).await);
    }

    // Sessions by user, oldest first; some are made readable by everyone, which only the
    // `_Session` rule (a session is its user's alone) keeps from others.
    let sessions = master_objects(&server, "_Session").await;
    let mut sessions_by_user: Vec<Vec<String>> = vec![Vec::new(); USERS];
    let mut dated: Vec<(String, String, usize)> = Vec::new();
    for session in &sessions {
        let user_id = session["user"]["objectId"].as_str().expect("session user");
        let user = user_ids.iter().position(|id| id == user_id).expect("a world user");
        let created = session["createdAt"].as_str().expect("createdAt").to_owned();
        dated.push((created, session["objectId"].as_str().expect("objectId").to_owned(), user));
    }
    dated.sort();
    for (_, session_id, user) in dated {
        let index = sessions_by_user[user].len();
        if spec.users[user].public_sessions.get(index).copied().unwrap_or(false) {
            let acl = json!({"*": {"read": true}, user_ids[user].as_str(): {"read": true, "write": true}});
            let reply =
                server.master("PUT", &format!("/classes/_Session/{session_id}"), Some(json!({"ACL": acl}))).await;
            ok(&reply);
        }
        sessions_by_user[user].push(session_id);
    }

    let mut box_ids = Vec::new();
    for object in &spec.boxes {
        let body = object_body(object, &user_ids, &role_names);
        box_ids.push(created_id(&server.master("POST", "/classes/Box", Some(Value::Object(body))).await));
    }
    let mut doc_ids = Vec::new();
    for object in &spec.docs {
        let mut body = object_body(object, &user_ids, &role_names);
        if let Some(index) = object.box_index {
            body.insert("box".into(), pointer("Box", &box_ids[index % box_ids.len()]));
        }
        if let Some((user, index)) = object.session {
            let sessions = &sessions_by_user[user];
            body.insert("session".into(), pointer("_Session", &sessions[index % sessions.len()]));
        }
        doc_ids.push(created_id(&server.master("POST", "/classes/Doc", Some(Value::Object(body))).await));
    }
    let mut tags = BTreeMap::new();
    for (object, box_id) in spec.boxes.iter().zip(&box_ids) {
        let members: BTreeSet<String> =
            doc_ids.iter().zip(&object.tags).filter(|(_, tagged)| **tagged).map(|(id, _)| id.clone()).collect();
        if !members.is_empty() {
            let objects: Vec<Value> = members.iter().map(|id| pointer("Doc", id)).collect();
            let body = json!({"tags": {"__op": "AddRelation", "objects": objects}});
            ok(&server.master("PUT", &format!("/classes/Box/{box_id}"), Some(body)).await);
        }
        tags.insert(box_id.clone(), members);
    }

    let mut clps = BTreeMap::new();
    let mut objects = BTreeMap::new();
    for class in [Class::Doc, Class::Box, Class::User, Class::Session] {
        let name = class.name();
        let reply = server.master("GET", &format!("/schemas/{name}"), None).await;
        clps.insert(name, ok(&reply)["classLevelPermissions"].clone());
        objects.insert(name, master_objects(&server, name).await);
    }
    World { seed, server, user_ids, tokens, role_names, user_roles, box_ids, tags, clps, objects }
}

// ---------------------------------------------------------------------------------------------
// The reference predicate

/// What a class-level permission says about a caller, before looking at objects.
enum Decision {
    Allowed,
    Refused,
    /// Only objects whose listed pointer fields point to the caller.
    PointerFields(Vec<String>),
}

/// What a query must answer.
#[derive(Debug)]
enum Expected {
    Refused,
    Answer {
        rows: BTreeMap<String, Row>,
        count: Option<usize>,
        /// Also accepted: a refusal (an anonymous top-level `_Session` query: Parse answers 209).
        refusal_accepted: bool,
    },
}

/// A result, field by field: `"v"` for a value, `"obj:<id>:<fields>"` for an included object.
type Row = BTreeMap<String, String>;

fn pointer_id<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    let value = object.get(field)?;
    if value.get("__type").and_then(Value::as_str) != Some("Pointer") {
        return None;
    }
    value.get("objectId").and_then(Value::as_str)
}

fn object_id(object: &Map<String, Value>) -> &str {
    object.get("objectId").and_then(Value::as_str).expect("objects have ids")
}

fn text_field<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

impl World {
    fn user_id(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::User(user) => Some(&self.user_ids[user]),
            _ => None,
        }
    }

    /// `*`, the user's id and `role:<name>` for each of its roles.
    fn keys(&self, caller: Caller) -> Vec<String> {
        let mut keys = vec!["*".to_owned()];
        if let Caller::User(user) = caller {
            keys.push(self.user_ids[user].clone());
            keys.extend(self.user_roles[user].iter().map(|role| format!("role:{}", self.role_names[*role])));
        }
        keys
    }

    fn decision(&self, caller: Caller, class: Class, operation: &str) -> Decision {
        if caller == Caller::Master {
            return Decision::Allowed;
        }
        let clp = &self.clps[class.name()];
        let Some(rule) = clp.get(operation) else { return Decision::Allowed };
        let grants = |entity: &str| rule.get(entity) == Some(&json!(true));
        if self.keys(caller).iter().any(|key| grants(key)) {
            return Decision::Allowed;
        }
        if grants("requiresAuthentication") {
            return if self.user_id(caller).is_some() { Decision::Allowed } else { Decision::Refused };
        }
        let mut fields: Vec<String> = Vec::new();
        for list in [rule.get("pointerFields"), clp.get("readUserFields")].into_iter().flatten() {
            fields.extend(list.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned));
        }
        if fields.is_empty() { Decision::Refused } else { Decision::PointerFields(fields) }
    }

    fn acl_admits(&self, caller: Caller, object: &Map<String, Value>) -> bool {
        if caller == Caller::Master {
            return true;
        }
        let Some(acl) = object.get("ACL").and_then(Value::as_object) else { return true };
        self.keys(caller).iter().any(|key| acl.get(key).and_then(|entry| entry.get("read")) == Some(&json!(true)))
    }

    /// Whether `operation` ("find", "get", "count") may see `object` of `class`.
    fn visible(&self, caller: Caller, class: Class, operation: &str, object: &Map<String, Value>) -> bool {
        if caller == Caller::Master {
            return true;
        }
        let permitted = match self.decision(caller, class, operation) {
            Decision::Allowed => true,
            Decision::Refused => false,
            Decision::PointerFields(fields) => {
                let user_id = self.user_id(caller);
                user_id.is_some() && fields.iter().any(|field| pointer_id(object, field) == user_id)
            }
        };
        let own_session = class != Class::Session || pointer_id(object, "user") == self.user_id(caller);
        permitted && own_session && self.acl_admits(caller, object)
    }

    /// Fields of `class` hidden from the caller (own `_User` object aside).
    fn protected(&self, caller: Caller, class: Class) -> BTreeSet<String> {
        if caller == Caller::Master {
            return BTreeSet::new();
        }
        let configured = self.clps[class.name()].get("protectedFields").and_then(Value::as_object);
        let list = |value: Option<&Value>| -> BTreeSet<String> {
            value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
        };
        // The intersection of the lists that apply to the caller and exist (`*` exists for
        // `_User` always: its email is protected by default).
        let mut tiers: Vec<BTreeSet<String>> = Vec::new();
        let star = configured.and_then(|configured| configured.get("*"));
        if star.is_some() || class == Class::User {
            let mut public = list(star);
            if class == Class::User {
                public.insert("email".into());
            }
            tiers.push(public);
        }
        if let Some(configured) = configured {
            let mut entities = self.keys(caller);
            if self.user_id(caller).is_some() {
                entities.push("authenticated".into());
            }
            for entity in entities.iter().filter(|entity| *entity != "*") {
                if let Some(entry) = configured.get(entity) {
                    tiers.push(list(Some(entry)));
                }
            }
        }
        let mut tiers = tiers.into_iter();
        let first = tiers.next().unwrap_or_default();
        tiers.fold(first, |hidden, tier| hidden.intersection(&tier).cloned().collect())
    }

    fn find_object(&self, class_name: &str, id: &str) -> Option<(Class, &Map<String, Value>)> {
        let class = [Class::Doc, Class::Box, Class::User, Class::Session]
            .into_iter()
            .find(|class| class.name() == class_name)?;
        self.objects[class.name()].iter().find(|object| object_id(object) == id).map(|object| (class, object))
    }

    /// The objects of `class` the caller may find that meet every condition.
    fn matching(&self, caller: Caller, class: Class, conds: &[Cond]) -> Vec<&Map<String, Value>> {
        self.objects[class.name()]
            .iter()
            .filter(|object| self.visible(caller, class, "find", object))
            .filter(|object| conds.iter().all(|cond| self.holds(caller, object, cond)))
            .collect()
    }

    fn holds(&self, caller: Caller, object: &Map<String, Value>, cond: &Cond) -> bool {
        let title = text_field(object, "title");
        let n = object.get("n").and_then(Value::as_f64);
        match cond {
            Cond::TitleEq(index) => title == Some(TITLES[*index]),
            Cond::TitleIn(indexes) => indexes.iter().any(|index| title == Some(TITLES[*index])),
            Cond::TitleNe(index) => title != Some(TITLES[*index]),
            Cond::NGreater(bound) => n.is_some_and(|n| n > *bound as f64),
            Cond::NAtMost(bound) => n.is_some_and(|n| n <= *bound as f64),
            Cond::SecretEq(index) => text_field(object, "secret") == Some(SECRETS[*index]),
            Cond::SecretExists => object.contains_key("secret"),
            Cond::UsernameIn(users) => {
                users.iter().any(|user| text_field(object, "username") == Some(format!("u{user}").as_str()))
            }
            Cond::EmailEq(user) => text_field(object, "email") == Some(format!("u{user}@example.com").as_str()),
            Cond::EmailExists => object.contains_key("email"),
            Cond::TokenRegex => text_field(object, "sessionToken").is_some_and(|token| token.starts_with("r:")),
            Cond::TokenExists => object.contains_key("sessionToken"),
            Cond::SessionUser(user) => pointer_id(object, "user") == Some(self.user_ids[*user].as_str()),
            Cond::InQuery { field, negated, sub } => {
                let found: BTreeSet<&str> =
                    self.matching(caller, sub.class, &sub.conds).into_iter().map(object_id).collect();
                let inside = pointer_id(object, field).is_some_and(|id| found.contains(id));
                inside != *negated
            }
            Cond::Select { field, key, negated, sub } => {
                let values: Vec<&Value> = self
                    .matching(caller, sub.class, &sub.conds)
                    .into_iter()
                    .filter_map(|found| found.get(*key))
                    .collect();
                let inside = object.get(*field).is_some_and(|value| values.contains(&value));
                inside != *negated
            }
            Cond::RelatedTo(index) => {
                let box_id = &self.box_ids[index % self.box_ids.len()];
                let Some((_, owner)) = self.find_object("Box", box_id) else { return false };
                self.visible(caller, Class::Box, "get", owner) && self.tags[box_id].contains(object_id(object))
            }
            Cond::Or(parts) => parts.iter().any(|part| self.holds(caller, object, part)),
        }
    }

    /// Does a sub-query in `cond` read a class whose `find` permission refuses the caller?
    fn sub_query_refused(&self, caller: Caller, cond: &Cond) -> bool {
        match cond {
            Cond::InQuery { sub, .. } | Cond::Select { sub, .. } => {
                matches!(self.decision(caller, sub.class, "find"), Decision::Refused)
                    || sub.conds.iter().any(|part| self.sub_query_refused(caller, part))
            }
            Cond::Or(parts) => parts.iter().any(|part| self.sub_query_refused(caller, part)),
            _ => false,
        }
    }

    /// The first protected field the condition uses, as `Class.field`.
    fn protected_use(&self, caller: Caller, class: Class, cond: &Cond) -> Option<String> {
        let check = |class: Class, field: &str| {
            self.protected(caller, class).contains(field).then(|| format!("{}.{field}", class.name()))
        };
        match cond {
            Cond::TitleEq(_) | Cond::TitleIn(_) | Cond::TitleNe(_) => check(class, "title"),
            Cond::NGreater(_) | Cond::NAtMost(_) => check(class, "n"),
            Cond::SecretEq(_) | Cond::SecretExists => check(class, "secret"),
            Cond::UsernameIn(_) => check(class, "username"),
            Cond::EmailEq(_) | Cond::EmailExists => check(class, "email"),
            Cond::TokenRegex | Cond::TokenExists => check(class, "sessionToken"),
            Cond::SessionUser(_) => check(class, "user"),
            Cond::InQuery { field, sub, .. } => check(class, field)
                .or_else(|| sub.conds.iter().find_map(|part| self.protected_use(caller, sub.class, part))),
            Cond::Select { field, key, sub, .. } => check(class, field)
                .or_else(|| check(sub.class, key))
                .or_else(|| sub.conds.iter().find_map(|part| self.protected_use(caller, sub.class, part))),
            Cond::RelatedTo(_) => check(Class::Box, "tags"),
            Cond::Or(parts) => parts.iter().find_map(|part| self.protected_use(caller, class, part)),
        }
    }

    /// An object as the caller must see it: protected fields gone (users see their own
    /// object whole), projected to `keys`.
    fn shaped(&self, caller: Caller, class: Class, object: &Map<String, Value>, keys: Option<&[&str]>) -> Row {
        let own_user = class == Class::User && self.user_id(caller) == Some(object_id(object));
        let hidden = if own_user { BTreeSet::new() } else { self.protected(caller, class) };
        object
            .iter()
            .filter(|(field, _)| !hidden.contains(*field))
            .filter(|(field, value)| match keys {
                None => true,
                Some(keys) => {
                    ALWAYS_SELECTED.contains(&field.as_str())
                        || keys.contains(&field.as_str())
                        || value.get("__type").and_then(Value::as_str) == Some("Relation")
                }
            })
            .map(|(field, _)| (field.clone(), "v".to_owned()))
            .collect()
    }

    fn expected(&self, query: &Query) -> Expected {
        let caller = query.caller;
        let mut used = query.conds.iter().find_map(|cond| self.protected_use(caller, query.class, cond));
        if let Some((field, _)) = query.order
            && self.protected(caller, query.class).contains(field)
        {
            used = used.or(Some(field.to_owned()));
        }
        if used.is_some() {
            return Expected::Refused;
        }
        if matches!(self.decision(caller, query.class, "find"), Decision::Refused) {
            return Expected::Refused;
        }
        if query.conds.iter().any(|cond| self.sub_query_refused(caller, cond)) {
            return Expected::Refused;
        }
        if query.count && matches!(self.decision(caller, query.class, "count"), Decision::Refused) {
            return Expected::Refused;
        }
        let found = self.matching(caller, query.class, &query.conds);
        let count = query
            .count
            .then(|| found.iter().filter(|object| self.visible(caller, query.class, "count", object)).count());
        let mut rows = BTreeMap::new();
        for object in found {
            let mut row = self.shaped(caller, query.class, object, query.keys.as_deref());
            for field in &query.include {
                if !row.contains_key(*field) {
                    continue;
                }
                let Some(target_id) = pointer_id(object, field) else { continue };
                let target_class = object[*field]["className"].as_str().expect("pointer class");
                let target = self.find_object(target_class, target_id);
                if target.is_some_and(|(class, _)| matches!(self.decision(caller, class, "get"), Decision::Refused)) {
                    return Expected::Refused;
                }
                match target {
                    Some((class, target)) if self.visible(caller, class, "get", target) => {
                        let mut fields: Vec<String> = self.shaped(caller, class, target, None).into_keys().collect();
                        fields.extend(["__type".to_owned(), "className".to_owned()]);
                        fields.sort();
                        row.insert((*field).to_owned(), format!("obj:{target_id}:{}", fields.join(",")));
                    }
                    _ => {
                        row.remove(*field);
                    }
                }
            }
            rows.insert(object_id(object).to_owned(), row);
        }
        // Parse compat: Parse Server answers 209 to an anonymous query that reads `_Session` — at
        // the top, in a sub-query or through an include; the rules above give such a query
        // nothing from `_Session`. Either is accepted.
        let refusal_accepted = caller == Caller::Anonymous
            && (query.class == Class::Session
                || query.conds.iter().any(reads_sessions)
                || (query.class == Class::Doc && query.include.contains(&"session")));
        Expected::Answer { rows, count, refusal_accepted }
    }
}

/// Whether a condition opens a sub-query on `_Session`.
fn reads_sessions(cond: &Cond) -> bool {
    match cond {
        Cond::InQuery { sub, .. } | Cond::Select { sub, .. } => {
            sub.class == Class::Session || sub.conds.iter().any(reads_sessions)
        }
        Cond::Or(parts) => parts.iter().any(reads_sessions),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Asking, comparing, reporting

fn where_json(world: &World, conds: &[Cond]) -> Value {
    let parts: Vec<Value> = conds.iter().map(|cond| cond_json(world, cond)).collect();
    let mut merged = Map::new();
    for part in &parts {
        for (key, value) in part.as_object().expect("conditions are objects") {
            if merged.insert(key.clone(), value.clone()).is_some() {
                return json!({"$and": parts});
            }
        }
    }
    Value::Object(merged)
}

fn cond_json(world: &World, cond: &Cond) -> Value {
    let sub_json = |sub: &SubQuery| json!({"className": sub.class.name(), "where": where_json(world, &sub.conds)});
    match cond {
        Cond::TitleEq(index) => json!({"title": TITLES[*index]}),
        Cond::TitleIn(indexes) => {
            json!({"title": {"$in": indexes.iter().map(|index| TITLES[*index]).collect::<Vec<_>>()}})
        }
        Cond::TitleNe(index) => json!({"title": {"$ne": TITLES[*index]}}),
        Cond::NGreater(bound) => json!({"n": {"$gt": bound}}),
        Cond::NAtMost(bound) => json!({"n": {"$lte": bound}}),
        Cond::SecretEq(index) => json!({"secret": SECRETS[*index]}),
        Cond::SecretExists => json!({"secret": {"$exists": true}}),
        Cond::UsernameIn(users) => {
            json!({"username": {"$in": users.iter().map(|user| format!("u{user}")).collect::<Vec<_>>()}})
        }
        Cond::EmailEq(user) => json!({"email": format!("u{user}@example.com")}),
        Cond::EmailExists => json!({"email": {"$exists": true}}),
        Cond::TokenRegex => json!({"sessionToken": {"$regex": "^r:"}}),
        Cond::TokenExists => json!({"sessionToken": {"$exists": true}}),
        Cond::SessionUser(user) => json!({"user": pointer("_User", &world.user_ids[*user])}),
        Cond::InQuery { field, negated, sub } => {
            let operator = if *negated { "$notInQuery" } else { "$inQuery" };
            json!({ *field: { operator: sub_json(sub) } })
        }
        Cond::Select { field, key, negated, sub } => {
            let operator = if *negated { "$dontSelect" } else { "$select" };
            json!({ *field: { operator: {"query": sub_json(sub), "key": key} } })
        }
        Cond::RelatedTo(index) => {
            let box_id = &world.box_ids[index % world.box_ids.len()];
            json!({"$relatedTo": {"object": pointer("Box", box_id), "key": "tags"}})
        }
        Cond::Or(parts) => {
            json!({"$or": parts.iter().map(|part| where_json(world, std::slice::from_ref(part))).collect::<Vec<_>>()})
        }
    }
}

/// The request's parameters, in order.
fn params(world: &World, query: &Query) -> Vec<(&'static str, String)> {
    let mut params = vec![("where", where_json(world, &query.conds).to_string())];
    if let Some((field, descending)) = query.order {
        params.push(("order", if descending { format!("-{field}") } else { field.to_owned() }));
    }
    if let Some(keys) = &query.keys {
        params.push(("keys", keys.join(",")));
    }
    if !query.include.is_empty() {
        params.push(("include", query.include.join(",")));
    }
    if query.count {
        params.push(("count", "1".to_owned()));
    }
    params
}

fn describe_caller(world: &World, caller: Caller) -> String {
    match caller {
        Caller::Anonymous => "anonymous".to_owned(),
        Caller::Master => "master key".to_owned(),
        Caller::User(user) => {
            let roles: Vec<&str> = world.user_roles[user].iter().map(|role| world.role_names[*role].as_str()).collect();
            format!("u{user} (objectId {}, roles [{}])", world.user_ids[user], roles.join(","))
        }
    }
}

async fn ask(world: &World, query: &Query) -> Reply {
    let url = reqwest::Url::parse_with_params("http://basalt.test/", params(world, query)).expect("url");
    let path = format!("/classes/{}?{}", query.class.name(), url.query().unwrap_or_default());
    let mut headers = vec![("X-Parse-Application-Id", APP_ID)];
    match query.caller {
        Caller::Anonymous => {}
        Caller::Master => headers.push(("X-Parse-Master-Key", MASTER_KEY)),
        Caller::User(user) => headers.push(("X-Parse-Session-Token", world.tokens[user].as_str())),
    }
    world.server.raw("GET", &path, &headers, None).await
}

fn actual_rows(reply: &Reply) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for result in reply.body["results"].as_array().into_iter().flatten() {
        let object = result.as_object().expect("results are objects");
        let row = object
            .iter()
            .map(|(field, value)| {
                let shown = match value.get("__type").and_then(Value::as_str) {
                    Some("Object") => {
                        let id = value["objectId"].as_str().unwrap_or_default();
                        let fields: Vec<&str> = value.as_object().expect("object").keys().map(String::as_str).collect();
                        format!("obj:{id}:{}", fields.join(","))
                    }
                    _ => "v".to_owned(),
                };
                (field.clone(), shown)
            })
            .collect();
        rows.insert(object_id(object).to_owned(), row);
    }
    rows
}

/// How the answer differs from the expected one (`None`: it does not), as short kinds and a
/// detailed text.
fn compare(expected: &Expected, reply: &Reply) -> Option<(Vec<String>, String)> {
    let refused = (400..500).contains(&reply.status);
    if reply.status != 200 && !refused {
        return Some((vec![format!("answered {}", reply.status)], format!("{} {}", reply.status, reply.body)));
    }
    match expected {
        Expected::Refused if refused => None,
        Expected::Refused => {
            let rows = actual_rows(reply);
            Some((vec!["should refuse".into()], format!("expected a refusal, got 200 with {} results", rows.len())))
        }
        Expected::Answer { refusal_accepted: true, .. } if refused => None,
        Expected::Answer { .. } if refused => Some((
            vec![format!("should answer (got {})", reply.body["code"])],
            format!("expected an answer, got {} {}", reply.status, reply.body),
        )),
        Expected::Answer { rows, count, .. } => {
            let actual = actual_rows(reply);
            let mut kinds = Vec::new();
            let mut text = String::new();
            let extra: Vec<&String> = actual.keys().filter(|id| !rows.contains_key(*id)).collect();
            let missing: Vec<&String> = rows.keys().filter(|id| !actual.contains_key(*id)).collect();
            if !extra.is_empty() {
                kinds.push("extra results".to_owned());
                let _ = writeln!(text, "results not expected: {extra:?}");
            }
            if !missing.is_empty() {
                kinds.push("missing results".to_owned());
                let _ = writeln!(text, "results missing: {missing:?}");
            }
            for (id, row) in rows {
                let Some(actual_row) = actual.get(id) else { continue };
                if row != actual_row {
                    for field in row.keys().chain(actual_row.keys()).collect::<BTreeSet<_>>() {
                        let (want, got) = (row.get(field), actual_row.get(field));
                        if want == got {
                            continue;
                        }
                        let kind = match (want, got) {
                            (None, Some(got)) if got.starts_with("obj:") => format!("included {field} not expected"),
                            (None, Some(_)) => format!("field {field} should be hidden"),
                            (Some(_), None) => format!("field {field} missing"),
                            _ => format!("included {field} differs"),
                        };
                        if !kinds.contains(&kind) {
                            kinds.push(kind);
                        }
                        let _ = writeln!(text, "{id}.{field}: expected {want:?}, got {got:?}");
                    }
                }
            }
            let actual_count = reply.body.get("count").and_then(Value::as_u64).map(|count| count as usize);
            if *count != actual_count {
                kinds.push("count".to_owned());
                let _ = writeln!(text, "count: expected {count:?}, got {actual_count:?}");
            }
            if kinds.is_empty() { None } else { Some((kinds, text)) }
        }
    }
}

/// The query's parts, for grouping failures of one kind.
fn features(query: &Query) -> BTreeSet<String> {
    fn walk(class: Class, cond: &Cond, out: &mut BTreeSet<String>) {
        match cond {
            Cond::InQuery { field, negated, sub } => {
                let operator = if *negated { "$notInQuery" } else { "$inQuery" };
                out.insert(format!("{}.{field} {operator} {}", class.name(), sub.class.name()));
                sub.conds.iter().for_each(|part| walk(sub.class, part, out));
            }
            Cond::Select { key, negated, sub, .. } => {
                let operator = if *negated { "$dontSelect" } else { "$select" };
                out.insert(format!("{operator} {}.{key}", sub.class.name()));
                sub.conds.iter().for_each(|part| walk(sub.class, part, out));
            }
            Cond::RelatedTo(_) => {
                out.insert("$relatedTo".into());
            }
            Cond::Or(parts) => {
                out.insert("$or".into());
                parts.iter().for_each(|part| walk(class, part, out));
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    out.insert(format!("on {}", query.class.name()));
    out.insert(
        match query.caller {
            Caller::Anonymous => "anonymous",
            Caller::User(_) => "user",
            Caller::Master => "master",
        }
        .to_owned(),
    );
    query.conds.iter().for_each(|cond| walk(query.class, cond, &mut out));
    for field in &query.include {
        out.insert(format!("include {field}"));
    }
    if query.count {
        out.insert("count".into());
    }
    out
}

struct Failure {
    kinds: Vec<String>,
    query: Query,
    report: String,
}

/// Asks `query`; on a mismatch, the full report.
async fn check(world: &World, query: &Query) -> Option<(Vec<String>, String)> {
    let expected = world.expected(query);
    let reply = ask(world, query).await;
    let (kinds, difference) = compare(&expected, &reply)?;
    let mut report = String::new();
    let _ = writeln!(report, "world seed {}, caller {}", world.seed, describe_caller(world, query.caller));
    let _ = writeln!(report, "GET /classes/{}", query.class.name());
    for (name, value) in params(world, query) {
        let _ = writeln!(report, "  {name}={value}");
    }
    let _ = writeln!(report, "difference: {difference}");
    let _ = writeln!(report, "expected: {expected:?}");
    let _ = writeln!(report, "answer: {} {}", reply.status, reply.body);
    Some((kinds, report))
}

fn world_summary(world: &World) -> String {
    let mut text = String::new();
    for (index, user_id) in world.user_ids.iter().enumerate() {
        let roles: Vec<&str> = world.user_roles[index].iter().map(|role| world.role_names[*role].as_str()).collect();
        let _ = writeln!(text, "u{index} = {user_id}, roles [{}]", roles.join(","));
    }
    for class in ["Doc", "Box"] {
        let _ = writeln!(text, "{class} CLP: {}", world.clps[class]);
        for object in &world.objects[class] {
            let _ = writeln!(text, "  {}", Value::Object(object.clone()));
        }
    }
    let _ = writeln!(text, "Box.tags: {:?}", world.tags);
    text
}

/// Builds the world of `seed`, asks it `QUERIES_PER_WORLD` random queries and fails with every
/// kind of mismatch found (the smallest example of each).
async fn run_world(world_number: u64) {
    let seed_base: u64 = std::env::var("GATE_REFERENCE_SEED_BASE").ok().and_then(|text| text.parse().ok()).unwrap_or(0);
    let seed = seed_base + world_number;
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let spec = world_spec().new_tree(&mut runner).expect("world").current();
    let world = build_world(seed, &spec).await;
    let queries =
        std::env::var("GATE_REFERENCE_QUERIES").ok().and_then(|text| text.parse().ok()).unwrap_or(QUERIES_PER_WORLD);
    let strategy = query();
    let mut failures: Vec<Failure> = Vec::new();
    let mut failed_count = 0;
    let mut shrunk_by_signature: BTreeMap<(Vec<String>, BTreeSet<String>), usize> = BTreeMap::new();
    // How many queries the rules answer with results, and how many they refuse: a world where
    // nearly everything is refused or empty would prove little.
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..queries {
        let mut tree = strategy.new_tree(&mut runner).expect("query");
        match world.expected(&tree.current()) {
            Expected::Refused => refused += 1,
            Expected::Answer { rows, .. } if !rows.is_empty() => answered += 1,
            Expected::Answer { .. } => {}
        }
        let Some((mut kinds, mut report)) = check(&world, &tree.current()).await else { continue };
        failed_count += 1;
        // Shrinking costs requests: a few failures of each kind (before shrinking) are enough.
        let signature = (kinds.clone(), features(&tree.current()));
        let seen = shrunk_by_signature.entry(signature).or_insert(0);
        *seen += 1;
        if failures.len() >= SHRUNK_MAX || *seen > SHRUNK_PER_KIND_MAX {
            continue;
        }
        // Shrink as proptest's runner does: simplify while it still fails, else complicate.
        let mut smallest = tree.current();
        let mut steps = 0;
        if tree.simplify() {
            while steps < SHRINK_STEPS_MAX {
                steps += 1;
                let candidate = tree.current();
                match check(&world, &candidate).await {
                    Some((candidate_kinds, candidate_report)) => {
                        (kinds, report, smallest) = (candidate_kinds, candidate_report, candidate);
                        if !tree.simplify() {
                            break;
                        }
                    }
                    None => {
                        if !tree.complicate() {
                            break;
                        }
                    }
                }
            }
        }
        failures.push(Failure { kinds, query: smallest, report });
    }
    assert!(
        answered * 10 >= queries && refused * 20 >= queries,
        "world seed {seed} is too closed or too open to test much: of {queries} queries the rules answer \
         {answered} with results and refuse {refused}"
    );
    if failures.is_empty() {
        return;
    }
    let mut groups: BTreeMap<(Vec<String>, BTreeSet<String>), (usize, Failure)> = BTreeMap::new();
    for failure in failures {
        let key = (failure.kinds.clone(), features(&failure.query));
        let size = failure.report.len();
        match groups.get_mut(&key) {
            Some((seen, smallest)) => {
                *seen += 1;
                if size < smallest.report.len() {
                    *smallest = failure;
                }
            }
            None => {
                groups.insert(key, (1, failure));
            }
        }
    }
    let mut text = format!(
        "world seed {seed}: {failed_count} of {queries} queries answered otherwise than the reference monitor \
         (the rules answer {answered} with results and refuse {refused}); {} kinds (each: its smallest shrunk \
         example)\n\n",
        groups.len()
    );
    for ((kinds, features), (seen, failure)) in &groups {
        let _ = writeln!(
            text,
            "=== {} | {} ({seen} shrunk)",
            kinds.join(", "),
            features.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        let _ = writeln!(text, "{}", failure.report);
    }
    let _ = writeln!(text, "--- the world of seed {seed}\n{}", world_summary(&world));
    panic!("{text}");
}

#[tokio::test]
async fn world_1_reads_agree_with_the_reference_monitor() {
    run_world(1).await;
}

#[tokio::test]
async fn world_2_reads_agree_with_the_reference_monitor() {
    run_world(2).await;
}

#[tokio::test]
async fn world_3_reads_agree_with_the_reference_monitor() {
    run_world(3).await;
}

#[tokio::test]
async fn world_4_reads_agree_with_the_reference_monitor() {
    run_world(4).await;
}

#[tokio::test]
async fn world_5_reads_agree_with_the_reference_monitor() {
    run_world(5).await;
}

#[tokio::test]
async fn world_6_reads_agree_with_the_reference_monitor() {
    run_world(6).await;
}

#[tokio::test]
async fn world_7_reads_agree_with_the_reference_monitor() {
    run_world(7).await;
}

#[tokio::test]
async fn world_8_reads_agree_with_the_reference_monitor() {
    run_world(8).await;
}

#[tokio::test]
async fn world_9_reads_agree_with_the_reference_monitor() {
    run_world(9).await;
}
