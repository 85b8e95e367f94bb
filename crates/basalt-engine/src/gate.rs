//! The one authorization gate for reads. Every read the engine makes for a caller — a find, a
//! get, a count, each `include` level, each sub-query (`$inQuery`, `$notInQuery`, `$select`,
//! `$dontSelect`) at any depth, `$relatedTo` — runs a `Gated` query, and `Engine::gate_read` is
//! the only place that builds one for a caller. It applies, to the class read and to every class
//! a sub-query reads:
//!
//! - the system-class rules: master-only classes refused, `_Session` limited to the caller's own
//!   sessions;
//! - class-level permissions: the operation's grant, `requiresAuthentication`, pointer
//!   permissions (`readUserFields`/`pointerFields`, which become a condition);
//! - protected fields: a condition, an order key, a `$select` key or a `$relatedTo` key naming a
//!   field hidden from the caller is refused (119), so `count` cannot reveal what results hide;
//!   other users' `authData` may not be queried;
//! - `$relatedTo`: a relation's members are listed only when its owner object is readable (get)
//!   by the caller;
//! - object ACLs, which the store applies in SQL to the class and every sub-query with the
//!   caller's keys (`FindQuery::access`).
//!
//! The engine's own reads (sessions by token, users by name, config, webhooks) are `Gated::system`
//! with the master's access; nothing a client sends reaches those.

use basalt_core::clp::ClpOperation;
use basalt_core::query::{Condition, Constraint, FieldPath, OrderKey, SubQuery};
use basalt_core::value::pointer_value;
use basalt_core::{ClassName, ClassSchema, ErrorCode, ParseError, ParseResult};
use basalt_store::FindQuery;
use serde_json::Value;
use std::collections::BTreeSet;

use crate::conditions::field_equals;
use crate::permissions::check_class_access;
use crate::{Caller, Engine};

/// A query the gate has let through. The store only ever runs these (`Engine::find_records`,
/// `Engine::count_records`).
#[derive(Clone, Debug)]
pub(crate) struct Gated {
    query: FindQuery,
}

impl Gated {
    /// A read the engine makes for itself (a session by token, a user by name, the config, the
    /// webhooks), with the master's access. Never built from a client's query.
    pub(crate) fn system(query: FindQuery) -> Gated {
        Gated { query: FindQuery { access: basalt_core::acl::Access::Master, ..query } }
    }

    pub(crate) fn query(&self) -> &FindQuery {
        &self.query
    }
}

/// Where a read sits: the query the caller asked for, or a read inside it (an `include`, a
/// sub-query, the owner of a `$relatedTo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Depth {
    TopLevel,
    Nested,
}

/// Who reads, and the `$relatedTo` owners found unreadable for them, for the gate's walk.
#[derive(Clone, Copy)]
struct Scope<'a> {
    caller: &'a Caller,
    unreadable: &'a Owners,
}

/// What the caller asks to read of one class.
pub(crate) struct ReadRequest<'a> {
    pub(crate) schema: &'a ClassSchema,
    pub(crate) condition: Condition,
    pub(crate) order: Vec<OrderKey>,
    pub(crate) limit: Option<usize>,
    pub(crate) skip: usize,
    pub(crate) fields: Option<Vec<String>>,
    pub(crate) operation: ClpOperation,
    pub(crate) depth: Depth,
}

/// The verb of an operation, as messages name it.
fn verb(operation: ClpOperation) -> &'static str {
    match operation {
        ClpOperation::Get => "get",
        _ => "find",
    }
}

/// The fields `condition` names on its own class (top level of each path; sub-queries name
/// fields of their own classes and are checked there).
fn condition_fields(condition: &Condition, out: &mut BTreeSet<String>) {
    match condition {
        Condition::And(parts) | Condition::Or(parts) | Condition::Nor(parts) => {
            parts.iter().for_each(|part| condition_fields(part, out));
        }
        Condition::Field { path, .. } => {
            out.insert(path.field.clone());
        }
        Condition::RelatedTo { .. } => {}
    }
}

fn refused_field(field: &str, class_name: &ClassName) -> ParseError {
    ParseError::forbidden(format!("This user is not allowed to query {field} on class {class_name}"))
}

/// A condition no object meets.
fn nothing() -> Condition {
    Condition::Or(Vec::new())
}

/// `$relatedTo` owners: a class and an objectId.
type Owners = BTreeSet<(ClassName, String)>;

/// The `$relatedTo` owners a condition names, at any depth.
fn related_owners(condition: &Condition, out: &mut Owners) {
    match condition {
        Condition::And(parts) | Condition::Or(parts) | Condition::Nor(parts) => {
            parts.iter().for_each(|part| related_owners(part, out));
        }
        Condition::Field {
            constraint: Constraint::InQuery { query, .. } | Constraint::Select { query, .. }, ..
        } => {
            related_owners(&query.condition, out);
        }
        Condition::Field { .. } => {}
        Condition::RelatedTo { owner_class, owner_id, .. } => {
            out.insert((owner_class.clone(), owner_id.clone()));
        }
    }
}

impl Engine {
    /// The gate: checks what `caller` asks to read of one class and returns the query the store
    /// may run for it. See the module's documentation for what it applies.
    ///
    /// # Errors
    /// 119 for master-only classes, refusing class-level permissions, and protected or secret
    /// fields in conditions; 101 when the class requires a user; 209 for `_Session` without a
    /// session (at the top level).
    pub(crate) async fn gate_read(&self, caller: &Caller, request: ReadRequest<'_>) -> ParseResult<Gated> {
        let schema = request.schema;
        let condition = if caller.is_master {
            request.condition
        } else {
            // Whether each `$relatedTo` owner may be read takes a read of its own; the rest of
            // the gate decides on what is cached.
            let mut owners = Owners::new();
            related_owners(&request.condition, &mut owners);
            let mut unreadable = Owners::new();
            for (owner_class, owner_id) in owners {
                if !self.owner_readable(caller, &owner_class, &owner_id).await? {
                    unreadable.insert((owner_class, owner_id));
                }
            }
            let scope = Scope { caller, unreadable: &unreadable };
            self.gate_condition(scope, schema, request.condition, &request.order, request.operation, request.depth)?
        };
        Ok(Gated {
            query: FindQuery {
                class_name: schema.class_name.clone(),
                condition,
                order: request.order,
                limit: request.limit,
                skip: request.skip,
                fields: request.fields,
                access: caller.access(),
            },
        })
    }

    /// The count query of a gated find: the class's `count` permission joins the condition.
    pub(crate) fn gate_count(&self, caller: &Caller, schema: &ClassSchema, find: &Gated) -> ParseResult<Gated> {
        let counted = self.class_permission(caller, schema, ClpOperation::Count)?;
        let mut query = find.query.clone();
        query.condition = Condition::And(vec![query.condition, counted]);
        Ok(Gated { query })
    }

    /// The caller's condition on one class, with everything the gate adds (for a non-master
    /// caller): checked fields, permissions, the `_Session` rule, and gated sub-queries.
    fn gate_condition(
        &self,
        scope: Scope<'_>,
        schema: &ClassSchema,
        condition: Condition,
        order: &[OrderKey],
        operation: ClpOperation,
        depth: Depth,
    ) -> ParseResult<Condition> {
        let caller = scope.caller;
        check_class_access(caller, &schema.class_name, verb(operation))?;
        if self.may_hide_fields(schema) {
            let mut used = BTreeSet::new();
            condition_fields(&condition, &mut used);
            used.extend(order.iter().map(|key| key.path.field.clone()));
            self.check_queryable(caller, schema, &used)?;
        }
        let permitted = self.class_permission(caller, schema, operation)?;
        let condition = self.gate_sub_queries(scope, condition)?;
        let mut parts = vec![condition, permitted];
        if schema.class_name.as_str() == "_Session" {
            parts.push(self.own_sessions(caller, depth)?);
        }
        Ok(Condition::And(parts))
    }

    /// Can the class hide a field from any client? (Most hide none: the check of every query's
    /// fields is skipped for them.)
    fn may_hide_fields(&self, schema: &ClassSchema) -> bool {
        schema.class_name.as_str() == "_User"
            || schema.class_level_permissions.get("protectedFields").is_some_and(|fields| {
                fields.as_object().is_some_and(|fields| {
                    fields.values().any(|list| list.as_array().is_some_and(|list| !list.is_empty()))
                })
            })
    }

    /// Refuses fields hidden from the caller in a condition or order: protected fields, and
    /// users' `authData` (which only its owner and the master key see).
    fn check_queryable(&self, caller: &Caller, schema: &ClassSchema, used: &BTreeSet<String>) -> ParseResult<()> {
        if schema.class_name.as_str() == "_User"
            && let Some(field) = used.iter().find(|field| *field == "authData")
        {
            return Err(refused_field(field, &schema.class_name));
        }
        let hidden = self.protected_fields(caller, schema);
        if let Some(field) = used.iter().find(|field| hidden.contains(*field)) {
            return Err(refused_field(field, &schema.class_name));
        }
        Ok(())
    }

    /// Checks a LiveQuery subscription's condition and watched fields as a find's; returns the
    /// condition every delivered object must also meet (pointer permissions, the `_Session`
    /// rule), which the hub matches at event time.
    pub(crate) fn gate_subscription(
        &self,
        caller: &Caller,
        schema: &ClassSchema,
        condition: &Condition,
        watch: &[String],
    ) -> ParseResult<Condition> {
        if caller.is_master {
            return Ok(Condition::all());
        }
        let mut used: BTreeSet<String> = watch.iter().cloned().collect();
        condition_fields(condition, &mut used);
        self.check_queryable(caller, schema, &used)?;
        let permitted = self.class_permission(caller, schema, ClpOperation::Find)?;
        if schema.class_name.as_str() != "_Session" {
            return Ok(permitted);
        }
        Ok(Condition::And(vec![permitted, self.own_sessions(caller, Depth::TopLevel)?]))
    }

    /// `_Session` objects a client may read: its own. Without a session, a top-level read is
    /// refused (209, Parse compat) and a nested one reads nothing.
    fn own_sessions(&self, caller: &Caller, depth: Depth) -> ParseResult<Condition> {
        match (&caller.user_id, depth) {
            (Some(user_id), _) => Ok(field_equals("user", pointer_value("_User", user_id))),
            (None, Depth::TopLevel) => Err(ParseError::new(ErrorCode::InvalidSessionToken, "Session token required.")),
            (None, Depth::Nested) => Ok(nothing()),
        }
    }

    /// Every sub-query in `condition` passed through the gate for its own class (as a find), and
    /// every `$relatedTo` of an owner the caller may not read turned into "nothing".
    fn gate_sub_queries(&self, scope: Scope<'_>, condition: Condition) -> ParseResult<Condition> {
        let gate_all = |parts: Vec<Condition>| -> ParseResult<Vec<Condition>> {
            parts.into_iter().map(|part| self.gate_sub_queries(scope, part)).collect()
        };
        Ok(match condition {
            Condition::And(parts) => Condition::And(gate_all(parts)?),
            Condition::Or(parts) => Condition::Or(gate_all(parts)?),
            Condition::Nor(parts) => Condition::Nor(gate_all(parts)?),
            Condition::Field { path, constraint: Constraint::InQuery { query, negated } } => Condition::Field {
                path,
                constraint: Constraint::InQuery { query: self.gate_sub_query(scope, query, None)?, negated },
            },
            Condition::Field { path, constraint: Constraint::Select { query, key, negated } } => Condition::Field {
                path,
                constraint: Constraint::Select { query: self.gate_sub_query(scope, query, Some(&key))?, key, negated },
            },
            Condition::RelatedTo { owner_class, owner_id, key } => {
                // The relation is a field of the owner's class: hidden there, not listable here.
                if let Some(owner_schema) = self.schemas().get(&owner_class) {
                    self.check_queryable(scope.caller, &owner_schema, &BTreeSet::from([key.clone()]))?;
                }
                let owner = (owner_class, owner_id);
                if scope.unreadable.contains(&owner) {
                    return Ok(nothing());
                }
                let (owner_class, owner_id) = owner;
                Condition::RelatedTo { owner_class, owner_id, key }
            }
            field @ Condition::Field { .. } => field,
        })
    }

    /// One sub-query through the gate: its class's rules, and its `$select` key checked too.
    fn gate_sub_query(&self, scope: Scope<'_>, query: SubQuery, key: Option<&str>) -> ParseResult<SubQuery> {
        let caller = scope.caller;
        let Some(schema) = self.schemas().get(&query.class_name) else {
            // A class that does not exist matches nothing (the store answers no rows); a
            // master-only name is still refused.
            check_class_access(caller, &query.class_name, "find")?;
            return Ok(query);
        };
        if let Some(key) = key {
            self.check_queryable(caller, &schema, &BTreeSet::from([key.to_owned()]))?;
        }
        let condition =
            self.gate_condition(scope, &schema, *query.condition, &[], ClpOperation::Find, Depth::Nested)?;
        Ok(SubQuery { class_name: query.class_name, condition: Box::new(condition) })
    }

    /// May the caller read (get) the owner of a `$relatedTo`? Refusals of any kind mean no.
    async fn owner_readable(&self, caller: &Caller, owner_class: &ClassName, owner_id: &str) -> ParseResult<bool> {
        let Some(schema) = self.schemas().get(owner_class) else { return Ok(false) };
        let by_id = Condition::Field {
            path: FieldPath { field: "objectId".into(), sub_keys: Vec::new() },
            constraint: Constraint::Equals(Value::String(owner_id.to_owned())),
        };
        let scope = Scope { caller, unreadable: &Owners::new() };
        let Ok(condition) = self.gate_condition(scope, &schema, by_id, &[], ClpOperation::Get, Depth::Nested) else {
            return Ok(false);
        };
        let query = FindQuery {
            class_name: owner_class.clone(),
            condition,
            order: Vec::new(),
            limit: Some(1),
            skip: 0,
            fields: Some(Vec::new()),
            access: caller.access(),
        };
        let found = self.find_records(&Gated { query }).await?;
        Ok(found.is_some_and(|(_, records)| !records.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use basalt_core::query::{Condition, Constraint, FieldPath, SubQuery};
    use serde_json::json;

    use super::{Depth, ReadRequest, condition_fields, related_owners};
    use crate::test_support::class;

    fn related(owner_id: &str) -> Condition {
        Condition::RelatedTo { owner_class: class("Box"), owner_id: owner_id.into(), key: "items".into() }
    }

    fn field(name: &str, constraint: Constraint) -> Condition {
        Condition::Field { path: FieldPath { field: name.into(), sub_keys: vec!["deep".into()] }, constraint }
    }

    /// `$or` holding a `$relatedTo` and a sub-query on `Box` that holds another.
    fn nested() -> Condition {
        let sub = SubQuery { class_name: class("Box"), condition: Box::new(Condition::And(vec![related("inner")])) };
        Condition::Or(vec![related("outer"), field("box", Constraint::InQuery { query: sub, negated: false })])
    }

    #[test]
    fn relation_owners_are_found_at_any_depth() {
        let mut owners = BTreeSet::new();
        related_owners(&nested(), &mut owners);
        assert_eq!(owners, BTreeSet::from([(class("Box"), "inner".to_owned()), (class("Box"), "outer".to_owned())]));
    }

    #[test]
    fn the_fields_of_a_condition_are_its_own_top_level_fields_not_its_sub_queries() {
        let mut fields = BTreeSet::new();
        let condition =
            Condition::And(vec![nested(), Condition::Nor(vec![field("secret", Constraint::Equals(json!("x")))])]);
        condition_fields(&condition, &mut fields);
        assert_eq!(fields, BTreeSet::from(["box".to_owned(), "secret".to_owned()]));
    }

    // The gate's decisions, against an engine over a temporary SQLite store holding these classes:
    // `Post` (`secret` protected from the public, shown to `role:Staff`), `Vault` (find closed),
    // `Mine` (readable only through its `owner`), `Box` (a Relation to Post), `_User`, `_Session`.

    use std::sync::Arc;

    use basalt_core::clp::ClpOperation;
    use basalt_core::query::{OrderKey, QueryParser, parse_order};
    use basalt_core::value::pointer_value;
    use basalt_core::{ClassSchema, ErrorCode, ParseError};

    use serde_json::Value;

    use crate::conditions::field_equals;
    use crate::test_support::user;
    use crate::{Caller, Engine};

    struct World {
        engine: Engine,
        _dir: tempfile::TempDir,
    }

    async fn world() -> World {
        let test = crate::test_support::test_engine().await;
        let (engine, dir) = (test.engine, test.dir);
        engine.system_class("_User").await.expect("_User");
        engine.system_class("_Session").await.expect("_Session");
        let open = json!({"find": {"*": true}, "get": {"*": true}, "count": {"*": true}, "create": {"*": true},
            "update": {"*": true}, "delete": {"*": true}, "addField": {"*": true}});
        let with = |extra: Value| {
            let mut permissions = open.clone();
            for (key, value) in extra.as_object().expect("object") {
                permissions[key] = value.clone();
            }
            permissions
        };
        let classes = [
            (
                "Post",
                json!({"title": {"type": "String"}, "secret": {"type": "String"},
                    "owner": {"type": "Pointer", "targetClass": "_User"}}),
                with(json!({"protectedFields": {"*": ["secret"], "role:Staff": []}, "count": {}})),
            ),
            ("Vault", json!({"title": {"type": "String"}}), with(json!({"find": {}}))),
            (
                "Mine",
                json!({"title": {"type": "String"}, "owner": {"type": "Pointer", "targetClass": "_User"}}),
                with(json!({"find": {}, "readUserFields": ["owner"]})),
            ),
            ("Box", json!({"posts": {"type": "Relation", "targetClass": "Post"}}), open.clone()),
        ];
        for (name, fields, permissions) in classes {
            let body = json!({"fields": fields, "classLevelPermissions": permissions});
            engine.create_schema(&Caller::master(), Some(name), body.as_object().expect("object")).await.expect(name);
        }
        World { engine, _dir: dir }
    }

    impl World {
        fn schema(&self, name: &str) -> Arc<ClassSchema> {
            self.engine.schemas().get(&class(name)).expect("class exists")
        }

        fn parse(&self, where_json: Value) -> Condition {
            QueryParser { limits: self.engine.limits(), now: 0 }.parse_where(&where_json).expect("valid where")
        }

        /// The condition the gate lets `caller` run on `class_name` for `where_json`.
        async fn gate(
            &self,
            caller: &Caller,
            class_name: &str,
            where_json: Value,
            order: &str,
            operation: ClpOperation,
        ) -> Result<Condition, ParseError> {
            let schema = self.schema(class_name);
            let order: Vec<OrderKey> = parse_order(order).expect("valid order");
            let request = ReadRequest {
                schema: &schema,
                condition: self.parse(where_json),
                order,
                limit: Some(100),
                skip: 0,
                fields: None,
                operation,
                depth: Depth::TopLevel,
            };
            let gated = self.engine.gate_read(caller, request).await?;
            assert_eq!(gated.query().access, caller.access(), "the store applies the caller's ACL keys");
            Ok(gated.query().condition.clone())
        }

        async fn find(&self, caller: &Caller, class_name: &str, where_json: Value) -> Result<Condition, ParseError> {
            self.gate(caller, class_name, where_json, "", ClpOperation::Find).await
        }
    }

    /// A top-level read of every object of `schema`.
    fn every(schema: &ClassSchema, operation: ClpOperation) -> ReadRequest<'_> {
        ReadRequest {
            schema,
            condition: Condition::all(),
            order: Vec::new(),
            limit: None,
            skip: 0,
            fields: None,
            operation,
            depth: Depth::TopLevel,
        }
    }

    fn refused_to_query(error: ParseError, field: &str, class_name: &str) {
        assert_eq!(error.code, ErrorCode::OperationForbidden);
        assert_eq!(error.message, format!("This user is not allowed to query {field} on class {class_name}"));
    }

    fn top_field(name: &str, constraint: Constraint) -> Condition {
        Condition::Field { path: FieldPath { field: name.into(), sub_keys: Vec::new() }, constraint }
    }

    fn own_sessions(user_id: &str) -> Condition {
        field_equals("user", pointer_value("_User", user_id))
    }

    #[tokio::test]
    async fn master_only_classes_are_refused_to_clients_with_the_operations_verb() {
        let world = world().await;
        for name in ["_Hooks", "_GlobalConfig", "_JobStatus", "_PushStatus", "_Audience", "_Idempotency"] {
            let schema = ClassSchema::new(class(name));
            for (operation, verb) in [(ClpOperation::Find, "find"), (ClpOperation::Get, "get")] {
                let request = every(&schema, operation);
                let error = world.engine.gate_read(&user("u1"), request).await.unwrap_err();
                assert_eq!(error.code, ErrorCode::OperationForbidden);
                assert_eq!(error.message, crate::permissions::PERMISSION_DENIED, "{verb} {name}");
            }
            let request = every(&schema, ClpOperation::Find);
            let gated = world.engine.gate_read(&Caller::master(), request).await.expect("master reads");
            assert_eq!(gated.query().condition, Condition::all());
        }
    }

    #[tokio::test]
    async fn installations_may_be_got_by_id_but_only_the_master_key_lists_them() {
        let world = world().await;
        world.engine.system_class("_Installation").await.expect("_Installation");
        let error = world.find(&user("u1"), "_Installation", json!({})).await.unwrap_err();
        assert_eq!(error.message, crate::permissions::PERMISSION_DENIED);
        let by_id = json!({"objectId": "i1"});
        assert!(world.gate(&user("u1"), "_Installation", by_id.clone(), "", ClpOperation::Get).await.is_ok());
        assert!(world.find(&Caller::master(), "_Installation", json!({})).await.is_ok());
    }

    #[tokio::test]
    async fn the_master_keys_query_passes_unchanged() {
        let world = world().await;
        let where_json = json!({"secret": "x", "title": {"$inQuery": {"className": "Vault", "where": {}}}});
        assert_eq!(world.find(&Caller::master(), "Post", where_json.clone()).await, Ok(world.parse(where_json)));
    }

    #[tokio::test]
    async fn a_clients_query_gets_the_class_permission_condition_joined() {
        let world = world().await;
        assert_eq!(
            world.find(&user("u1"), "Mine", json!({"title": "t"})).await,
            Ok(Condition::And(vec![
                world.parse(json!({"title": "t"})),
                Condition::Or(vec![field_equals("owner", pointer_value("_User", "u1"))]),
            ]))
        );
        let error = world.find(&user("u1"), "Vault", json!({})).await.unwrap_err();
        assert_eq!(error.message, "Permission denied for action find on class Vault.");
    }

    #[tokio::test]
    async fn a_client_reads_only_its_own_sessions_and_without_a_user_is_refused_with_209() {
        let world = world().await;
        assert_eq!(
            world.find(&user("u1"), "_Session", json!({})).await,
            Ok(Condition::And(vec![Condition::all(), Condition::all(), own_sessions("u1")]))
        );
        let error = world.find(&Caller::anonymous(), "_Session", json!({})).await.unwrap_err();
        assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidSessionToken, "Session token required."));
        assert_eq!(world.find(&Caller::master(), "_Session", json!({})).await, Ok(Condition::all()));
    }

    #[tokio::test]
    async fn a_session_sub_query_reads_nothing_for_a_caller_without_a_user_and_own_sessions_for_a_user() {
        let world = world().await;
        let where_json =
            json!({"owner": {"$select": {"query": {"className": "_Session", "where": {}}, "key": "user"}}});
        let gated = |sessions: Condition| {
            let sub = SubQuery {
                class_name: class("_Session"),
                condition: Box::new(Condition::And(vec![Condition::all(), Condition::all(), sessions])),
            };
            let select = Constraint::Select { query: sub, key: "user".into(), negated: false };
            Condition::And(vec![top_field("owner", select), Condition::all()])
        };
        assert_eq!(
            world.find(&Caller::anonymous(), "Box", where_json.clone()).await,
            Ok(gated(Condition::Or(Vec::new())))
        );
        assert_eq!(world.find(&user("u1"), "Box", where_json).await, Ok(gated(own_sessions("u1"))));
    }

    #[tokio::test]
    async fn a_protected_field_may_not_be_queried_or_ordered_on_by_whom_it_is_hidden_from() {
        let world = world().await;
        for caller in [Caller::anonymous(), user("u1")] {
            refused_to_query(world.find(&caller, "Post", json!({"secret": "x"})).await.unwrap_err(), "secret", "Post");
            let nested = json!({"$or": [{"title": "a"}, {"$and": [{"secret": {"$exists": true}}]}]});
            refused_to_query(world.find(&caller, "Post", nested).await.unwrap_err(), "secret", "Post");
            let ordered = world.gate(&caller, "Post", json!({}), "title,-secret", ClpOperation::Find).await;
            refused_to_query(ordered.unwrap_err(), "secret", "Post");
        }
        let staff = Caller { roles: vec!["role:Staff".into()], ..user("u2") };
        assert!(world.find(&staff, "Post", json!({"secret": "x"})).await.is_ok());
        assert!(world.gate(&staff, "Post", json!({}), "-secret", ClpOperation::Find).await.is_ok());
        assert!(world.find(&Caller::master(), "Post", json!({"secret": "x"})).await.is_ok());
        assert!(world.find(&Caller::anonymous(), "Post", json!({"title": "x"})).await.is_ok());
    }

    #[tokio::test]
    async fn a_protected_field_may_not_be_queried_inside_a_sub_query_at_any_depth() {
        let world = world().await;
        let depth_one = json!({"posts": {"$inQuery": {"className": "Post", "where": {"secret": "x"}}}});
        refused_to_query(world.find(&user("u1"), "Box", depth_one).await.unwrap_err(), "secret", "Post");
        let depth_two = json!({"title": {"$notInQuery": {"className": "Box", "where": {
            "title": {"$dontSelect": {"query": {"className": "Post", "where": {"secret": {"$gt": "a"}}}, "key": "title"}}
        }}}});
        assert!(world.find(&Caller::master(), "Post", depth_two.clone()).await.is_ok(), "the master key may");
        let staff = Caller { roles: vec!["role:Staff".into()], ..user("u2") };
        assert!(world.find(&staff, "Post", depth_two.clone()).await.is_ok(), "nothing is hidden from Staff");
        refused_to_query(world.find(&user("u1"), "Post", depth_two).await.unwrap_err(), "secret", "Post");
    }

    #[tokio::test]
    async fn a_protected_field_may_not_be_the_key_of_a_select() {
        let world = world().await;
        let select = json!({"title": {"$select": {"query": {"className": "Post", "where": {}}, "key": "secret"}}});
        refused_to_query(world.find(&Caller::anonymous(), "Box", select).await.unwrap_err(), "secret", "Post");
        let visible = json!({"title": {"$select": {"query": {"className": "Post", "where": {}}, "key": "title"}}});
        assert!(world.find(&Caller::anonymous(), "Box", visible).await.is_ok());
    }

    #[tokio::test]
    async fn a_sub_query_obeys_its_own_classs_permissions() {
        let world = world().await;
        let into_vault = json!({"title": {"$inQuery": {"className": "Vault", "where": {}}}});
        let error = world.find(&user("u1"), "Post", into_vault).await.unwrap_err();
        assert_eq!(error.message, "Permission denied for action find on class Vault.");
        let into_mine = json!({"title": {"$inQuery": {"className": "Mine", "where": {"title": "t"}}}});
        let gated = world.find(&user("u1"), "Post", into_mine).await.expect("allowed");
        let sub = SubQuery {
            class_name: class("Mine"),
            condition: Box::new(Condition::And(vec![
                world.parse(json!({"title": "t"})),
                Condition::Or(vec![field_equals("owner", pointer_value("_User", "u1"))]),
            ])),
        };
        let expected = top_field("title", Constraint::InQuery { query: sub, negated: false });
        assert_eq!(gated, Condition::And(vec![expected, Condition::all()]));
    }

    #[tokio::test]
    async fn a_sub_query_on_a_missing_class_passes_but_a_master_only_class_is_refused() {
        let world = world().await;
        let missing = json!({"title": {"$inQuery": {"className": "Nowhere", "where": {"x": 1}}}});
        assert_eq!(
            world.find(&user("u1"), "Box", missing.clone()).await,
            Ok(Condition::And(vec![world.parse(missing), Condition::all()]))
        );
        let hooks = json!({"title": {"$inQuery": {"className": "_Hooks", "where": {}}}});
        let error = world.find(&user("u1"), "Box", hooks).await.unwrap_err();
        assert_eq!(error.message, crate::permissions::PERMISSION_DENIED);
    }

    #[tokio::test]
    async fn users_auth_data_and_email_may_not_be_queried_by_clients() {
        let world = world().await;
        for caller in [Caller::anonymous(), user("u1")] {
            let by_auth = json!({"authData.anonymous.id": "u1"});
            refused_to_query(world.find(&caller, "_User", by_auth).await.unwrap_err(), "authData", "_User");
            refused_to_query(
                world.find(&caller, "_User", json!({"email": "a@b.c"})).await.unwrap_err(),
                "email",
                "_User",
            );
        }
        assert!(world.find(&user("u1"), "_User", json!({"username": "a"})).await.is_ok());
        assert!(world.find(&Caller::master(), "_User", json!({"authData.anonymous.id": "u1"})).await.is_ok());
    }

    #[tokio::test]
    async fn a_relation_key_protected_on_its_owners_class_may_not_be_listed() {
        let world = world().await;
        let related = json!({"$relatedTo": {"object": {"__type": "Pointer", "className": "Post", "objectId": "p1"},
            "key": "secret"}});
        refused_to_query(world.find(&Caller::anonymous(), "Box", related).await.unwrap_err(), "secret", "Post");
    }

    #[tokio::test]
    async fn a_relation_of_an_owner_the_caller_cannot_read_lists_nothing() {
        let world = world().await;
        let related = json!({"$relatedTo": {"object": {"__type": "Pointer", "className": "Box", "objectId": "gone"},
            "key": "posts"}});
        assert_eq!(
            world.find(&user("u1"), "Post", related.clone()).await,
            Ok(Condition::And(vec![Condition::Or(Vec::new()), Condition::all()]))
        );
        assert_eq!(world.find(&Caller::master(), "Post", related.clone()).await, Ok(world.parse(related)));
        // A readable owner keeps the relation.
        let created = world
            .engine
            .create_object(&Caller::master(), &crate::test_support::class("Box"), &serde_json::Map::new())
            .await
            .expect("a box");
        let related = json!({"$relatedTo": {"object": {"__type": "Pointer", "className": "Box",
            "objectId": created.object_id}, "key": "posts"}});
        assert_eq!(
            world.find(&user("u1"), "Post", related.clone()).await,
            Ok(Condition::And(vec![world.parse(related), Condition::all()]))
        );
    }

    #[tokio::test]
    async fn a_count_also_needs_the_count_permission() {
        let world = world().await;
        let schema = world.schema("Post");
        let request = every(&schema, ClpOperation::Find);
        let found = world.engine.gate_read(&user("u1"), request).await.expect("find is open");
        let error = world.engine.gate_count(&user("u1"), &schema, &found).unwrap_err();
        assert_eq!(error.message, "Permission denied for action count on class Post.");
        assert!(world.engine.gate_count(&Caller::master(), &schema, &found).is_ok());
        let open = world.schema("Box");
        let counted = world.engine.gate_count(&user("u1"), &open, &found).expect("count is open");
        assert_eq!(counted.query().condition, Condition::And(vec![found.query().condition.clone(), Condition::all()]));
    }

    #[tokio::test]
    async fn a_subscription_is_checked_like_a_find_and_its_watched_fields_too() {
        let world = world().await;
        let post = world.schema("Post");
        let title = world.parse(json!({"title": "t"}));
        let error = world.engine.gate_subscription(&user("u1"), &post, &title, &["secret".into()]).unwrap_err();
        refused_to_query(error, "secret", "Post");
        assert_eq!(world.engine.gate_subscription(&user("u1"), &post, &title, &["title".into()]), Ok(Condition::all()));
        let mine = world.schema("Mine");
        assert_eq!(
            world.engine.gate_subscription(&user("u1"), &mine, &Condition::all(), &[]),
            Ok(Condition::Or(vec![field_equals("owner", pointer_value("_User", "u1"))]))
        );
        let sessions = world.schema("_Session");
        assert_eq!(
            world.engine.gate_subscription(&user("u1"), &sessions, &Condition::all(), &[]),
            Ok(Condition::And(vec![Condition::all(), own_sessions("u1")]))
        );
        let error =
            world.engine.gate_subscription(&Caller::anonymous(), &sessions, &Condition::all(), &[]).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidSessionToken);
        assert_eq!(
            world.engine.gate_subscription(&Caller::master(), &post, &title, &["secret".into()]),
            Ok(Condition::all())
        );
    }
}
