//! The `where` query language of Parse's REST API as a typed tree. `parse` builds it from JSON;
//! basalt-store's `sql` compiles it. Values stay in Parse's canonical JSON encoding (see
//! `value`); what they mean for a column depends on the field's type, which the compiler knows.

pub mod matcher;
mod parse;
pub mod regex;

pub use parse::{QueryParser, parse_keys, parse_order};

use serde_json::Value;

use crate::names::ClassName;

/// A dotted path: a top-level field and, for Object fields, keys inside it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldPath {
    pub field: String,
    pub sub_keys: Vec<String>,
}

impl FieldPath {
    pub fn is_top_level(&self) -> bool {
        self.sub_keys.is_empty()
    }
}

/// A query condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// All must hold (the keys of one `where` object, `$and`).
    And(Vec<Condition>),
    /// At least one must hold (`$or`).
    Or(Vec<Condition>),
    /// None may hold (`$nor`).
    Nor(Vec<Condition>),
    /// A constraint on one field.
    Field { path: FieldPath, constraint: Constraint },
    /// Members of `owner`'s Relation `key` (`$relatedTo`).
    RelatedTo { owner_class: ClassName, owner_id: String, key: String },
}

impl Condition {
    /// The condition that holds for every object.
    pub fn all() -> Condition {
        Condition::And(Vec::new())
    }
}

/// A sub-query of `$inQuery`, `$select` and their negations.
#[derive(Clone, Debug, PartialEq)]
pub struct SubQuery {
    pub class_name: ClassName,
    pub condition: Box<Condition>,
}

/// A compiled `$regex` with its `$options` folded in as inline flags.
#[derive(Clone, Debug, PartialEq)]
pub struct RegexPattern {
    /// A pattern the Rust `regex` crate accepts (checked at parse time).
    pub pattern: String,
}

/// Ordering comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// An element of `$all`: a value or a `{"$regex": …}` prefix match.
#[derive(Clone, Debug, PartialEq)]
pub enum AllItem {
    Value(Value),
    Regex(RegexPattern),
}

/// A constraint on one field.
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// Equal; on an Array field, "contains".
    Equals(Value),
    /// Not equal; also holds when the field is unset.
    NotEquals(Value),
    Compare(Comparison, Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    All(Vec<AllItem>),
    ContainedBy(Vec<Value>),
    Exists(bool),
    Regex(RegexPattern),
    /// The field equals `key` of some object matched by the sub-query (`$select`).
    Select {
        query: SubQuery,
        key: String,
        negated: bool,
    },
    /// The Pointer (or array of pointers) points into the sub-query's results (`$inQuery`).
    InQuery {
        query: SubQuery,
        negated: bool,
    },
    /// Within `max_radians` of the point, nearest first when the query has no `order`.
    NearSphere {
        latitude: f64,
        longitude: f64,
        max_radians: Option<f64>,
    },
    WithinBox {
        south: f64,
        west: f64,
        north: f64,
        east: f64,
    },
    WithinPolygon(Vec<(f64, f64)>),
    WithinCircle {
        latitude: f64,
        longitude: f64,
        radius_radians: f64,
    },
    /// A Polygon field contains the point (`$geoIntersects`).
    PolygonContains {
        latitude: f64,
        longitude: f64,
    },
    /// Full-text search of the terms (all must occur, case-insensitively by default).
    Text {
        terms: String,
        case_sensitive: bool,
    },
}

/// One `order` key.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderKey {
    pub path: FieldPath,
    pub descending: bool,
}
