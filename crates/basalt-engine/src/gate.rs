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

/// The verb of an operation in "Clients aren't allowed to perform the … operation" messages.
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

    use basalt_core::ClassName;
    use basalt_core::query::{Condition, Constraint, FieldPath, SubQuery};
    use serde_json::json;

    use super::{condition_fields, related_owners};

    fn class(name: &str) -> ClassName {
        ClassName::parse(name).expect("class name")
    }

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
}
