//! The query compiler, once for both dialects: it walks a `Condition` against a schema snapshot
//! and writes SQL text and its parameters. A `Dialect` supplies what differs between SQLite and
//! PostgreSQL — placeholders and literals, the ACL check, lists, regular expressions, text
//! search, and everything about JSON (arrays, paths inside Objects, geometry) — so the structure
//! of a query, and what holds where a field is missing or unset, is decided in one place.

use std::fmt::Write as _;

use basalt_core::acl::Access;
use basalt_core::query::{Condition, Constraint, FieldPath, OrderKey, SubQuery};
use basalt_core::{ClassSchema, FieldType};
use serde_json::Value;

use super::{
    Operand, column_operand, column_ref, comparison_sql, holds_on_missing_field, join_table, near_sphere, push_column,
    push_quoted, quote,
};
use crate::{FindQuery, Schemas};

/// SQL text with its parameters, in order.
#[derive(Debug)]
pub(crate) struct Compiled<P> {
    pub sql: String,
    pub params: Vec<P>,
}

/// What a dialect writes its own way. Methods taking the compiler write into it.
pub(crate) trait Dialect: Sized {
    type Param: std::fmt::Debug;
    const TRUE: &'static str;
    const FALSE: &'static str;

    /// Writes the placeholder of the `number`th parameter (from 1), which is `param`.
    fn placeholder(out: &mut String, number: usize, param: &Self::Param);
    fn text(text: &str) -> Self::Param;
    fn operand(operand: Operand) -> Self::Param;

    /// `column` (a permission list) is NULL (public) or holds one of `keys`.
    fn access(compiler: &mut Compiler<'_, Self>, column: &str, keys: &[String]);
    /// `column IN (operands)`, or `NOT IN`; unset holds for `$in` with a null operand and for
    /// `$nin` without one.
    fn in_list(
        compiler: &mut Compiler<'_, Self>,
        column: &str,
        operands: Vec<Self::Param>,
        includes_null: bool,
        negated: bool,
    );
    /// `expression` (text) matches the pattern (the Rust `regex` syntax the parser checked).
    fn regex(compiler: &mut Compiler<'_, Self>, expression: &str, pattern: &str);
    /// Every word of `terms` occurs in `expression`.
    fn text_search(compiler: &mut Compiler<'_, Self>, expression: &str, terms: &str, case_sensitive: bool);
    /// May a field of `field_type` be compared with `$select`'s key of `key_type`?
    fn select_comparable(key_type: &FieldType, field_type: &FieldType) -> bool;
    fn polygon_contains(compiler: &mut Compiler<'_, Self>, column: &str, latitude: f64, longitude: f64);
    fn array_constraint(compiler: &mut Compiler<'_, Self>, column: &str, constraint: &Constraint, access: &Access);
    fn geo_constraint(compiler: &mut Compiler<'_, Self>, column: &str, constraint: &Constraint);
    fn json_path_constraint(
        compiler: &mut Compiler<'_, Self>,
        column: &str,
        sub_keys: &[String],
        constraint: &Constraint,
    );
    /// An ORDER BY term for `column` (or a path inside it, when `sub_keys` is not empty).
    fn order_term(column: &str, sub_keys: &[String], descending: bool) -> String;
    /// ` ORDER BY` distance from the point (`$nearSphere` without `order`).
    fn near_sphere_order(compiler: &mut Compiler<'_, Self>, column: &str, latitude: f64, longitude: f64);
    fn limit_offset(compiler: &mut Compiler<'_, Self>, limit: Option<usize>, skip: usize);
}

pub(crate) fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) struct Compiler<'a, D: Dialect> {
    pub(crate) schemas: &'a Schemas,
    pub(crate) out: Compiled<D::Param>,
    alias_count: usize,
}

impl<'a, D: Dialect> Compiler<'a, D> {
    /// A compiler whose first table alias is `t{alias_count}`.
    pub(crate) fn new(schemas: &'a Schemas, alias_count: usize) -> Compiler<'a, D> {
        Compiler { schemas, out: Compiled { sql: String::new(), params: Vec::new() }, alias_count }
    }

    pub(crate) fn next_alias(&mut self) -> String {
        let alias = format!("t{}", self.alias_count);
        self.alias_count += 1;
        alias
    }

    pub(crate) fn push(&mut self, sql: &str) {
        self.out.sql.push_str(sql);
    }

    pub(crate) fn push_fmt(&mut self, sql: std::fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = self.out.sql.write_fmt(sql);
    }

    pub(crate) fn param(&mut self, value: D::Param) {
        D::placeholder(&mut self.out.sql, self.out.params.len() + 1, &value);
        self.out.params.push(value);
    }

    pub(crate) fn text(&mut self, text: &str) {
        self.param(D::text(text));
    }

    pub(crate) fn truth(&mut self, holds: bool) {
        self.push(if holds { D::TRUE } else { D::FALSE });
    }

    /// `SELECT <columns> FROM <class> t0 WHERE … ORDER BY … LIMIT … OFFSET …`.
    /// `trailing`, when given, is one more selected expression after the columns.
    pub(crate) fn find(
        mut self,
        schema: &ClassSchema,
        query: &FindQuery,
        columns: &[(&str, Option<FieldType>)],
        trailing: Option<&str>,
    ) -> Compiled<D::Param> {
        let alias = self.next_alias();
        self.out.sql.reserve(64 + 24 * columns.len());
        self.push("SELECT ");
        for (index, (name, _)) in columns.iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            push_column(&mut self.out.sql, &alias, name);
        }
        if let Some(trailing) = trailing {
            self.push(", ");
            self.push(trailing);
        }
        self.push(" FROM ");
        push_quoted(&mut self.out.sql, schema.class_name.as_str());
        self.push(" ");
        self.push(&alias);
        self.push(" WHERE ");
        self.filtered(schema, &alias, &query.condition, &query.access);
        self.order_by(schema, &alias, &query.order, &query.condition);
        D::limit_offset(&mut self, query.limit, query.skip);
        self.out
    }

    /// `SELECT COUNT(*) FROM <class> t0 WHERE …`.
    pub(crate) fn count(mut self, schema: &ClassSchema, query: &FindQuery) -> Compiled<D::Param> {
        let alias = self.next_alias();
        self.push_fmt(format_args!("SELECT COUNT(*) FROM {} {alias} WHERE ", quote(schema.class_name.as_str())));
        self.filtered(schema, &alias, &query.condition, &query.access);
        self.out
    }

    /// `DELETE FROM <class> WHERE "objectId" IN (SELECT … WHERE <condition>)`.
    pub(crate) fn delete_where(mut self, schema: &ClassSchema, condition: &Condition) -> Compiled<D::Param> {
        let alias = self.next_alias();
        let table = quote(schema.class_name.as_str());
        self.push_fmt(format_args!(
            "DELETE FROM {table} WHERE \"objectId\" IN (SELECT {alias}.\"objectId\" FROM {table} {alias} WHERE "
        ));
        self.filtered(schema, &alias, condition, &Access::Master);
        self.push(")");
        self.out
    }

    /// `<condition> AND <acl>`.
    pub(crate) fn filtered(&mut self, schema: &ClassSchema, alias: &str, condition: &Condition, access: &Access) {
        self.push("(");
        self.condition(schema, alias, condition, access);
        self.push(")");
        if !access.is_master() {
            self.push(" AND ");
            self.access(access, alias, "_rperm");
        }
    }

    /// The ACL check of `access` on `permission_column` (`_rperm` or `_wperm`) of `alias`.
    pub(crate) fn access(&mut self, access: &Access, alias: &str, permission_column: &str) {
        let Access::Keys(keys) = access else {
            self.push(D::TRUE);
            return;
        };
        let column = column_ref(alias, permission_column);
        D::access(self, &column, keys);
    }

    pub(crate) fn condition(&mut self, schema: &ClassSchema, alias: &str, condition: &Condition, access: &Access) {
        match condition {
            Condition::And(parts) | Condition::Or(parts) if parts.is_empty() => {
                self.truth(matches!(condition, Condition::And(_)));
            }
            Condition::And(parts) => self.join(schema, alias, parts, " AND ", access),
            Condition::Or(parts) => self.join(schema, alias, parts, " OR ", access),
            Condition::Nor(parts) => {
                // A branch on an unset field can be NULL rather than false; `IS NOT TRUE` counts
                // NULL as false, as WHERE does, so `$nor` holds there (unlike `NOT`).
                self.push("(");
                self.join(schema, alias, parts, " OR ", access);
                self.push(") IS NOT TRUE");
            }
            Condition::Field { path, constraint } => self.field(schema, alias, path, constraint, access),
            Condition::RelatedTo { owner_class, owner_id, key } => {
                let has_relation = self
                    .schemas
                    .get(owner_class)
                    .and_then(|owner| owner.field_type(key))
                    .is_some_and(|field_type| matches!(field_type, FieldType::Relation(_)));
                if !has_relation {
                    self.push(D::FALSE);
                    return;
                }
                let table = quote(&join_table(key, owner_class.as_str()));
                self.push_fmt(format_args!(
                    "{alias}.\"objectId\" IN (SELECT \"relatedId\" FROM {table} WHERE \"owningId\" = "
                ));
                self.text(owner_id);
                self.push(")");
            }
        }
    }

    fn join(&mut self, schema: &ClassSchema, alias: &str, parts: &[Condition], separator: &str, access: &Access) {
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                self.push(separator);
            }
            self.push("(");
            self.condition(schema, alias, part, access);
            self.push(")");
        }
    }

    fn field(&mut self, schema: &ClassSchema, alias: &str, path: &FieldPath, constraint: &Constraint, access: &Access) {
        let Some(field_type) = schema.queryable_type(&path.field) else {
            self.truth(holds_on_missing_field(constraint));
            return;
        };
        let column = column_ref(alias, &path.field);
        if !path.is_top_level() {
            if field_type != FieldType::Object {
                self.push(D::FALSE);
                return;
            }
            D::json_path_constraint(self, &column, &path.sub_keys, constraint);
            return;
        }
        match field_type {
            FieldType::Array => D::array_constraint(self, &column, constraint, access),
            FieldType::GeoPoint => D::geo_constraint(self, &column, constraint),
            FieldType::Polygon => match constraint {
                Constraint::PolygonContains { latitude, longitude } => {
                    D::polygon_contains(self, &column, *latitude, *longitude);
                }
                _ => self.scalar_constraint(&column, &field_type, constraint, access),
            },
            _ => self.scalar_constraint(&column, &field_type, constraint, access),
        }
    }

    fn operand(field_type: &FieldType, value: &Value) -> Option<D::Param> {
        column_operand(field_type, value).map(D::operand)
    }

    /// Constraints on a typed scalar column (String, Number, Boolean, Date, Pointer, File, Bytes,
    /// and Object/GeoPoint/Polygon compared as JSON).
    pub(crate) fn scalar_constraint(
        &mut self,
        column: &str,
        field_type: &FieldType,
        constraint: &Constraint,
        access: &Access,
    ) {
        match constraint {
            Constraint::Equals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NULL")),
            Constraint::Equals(value) => match Self::operand(field_type, value) {
                Some(operand) => {
                    // The hot path of every get by id: pieces, not `format_args!`.
                    self.push(column);
                    self.push(" = ");
                    self.param(operand);
                }
                None => self.push(D::FALSE),
            },
            Constraint::NotEquals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NOT NULL")),
            Constraint::NotEquals(value) => match Self::operand(field_type, value) {
                Some(operand) => {
                    self.push_fmt(format_args!("({column} IS NULL OR {column} <> "));
                    self.param(operand);
                    self.push(")");
                }
                None => self.push(D::TRUE),
            },
            Constraint::Compare(comparison, value) => {
                let comparable = matches!(field_type, FieldType::String | FieldType::Number | FieldType::Date);
                match Self::operand(field_type, value).filter(|_| comparable) {
                    Some(operand) => {
                        self.push_fmt(format_args!("{column} {} ", comparison_sql(*comparison)));
                        self.param(operand);
                    }
                    None => self.push(D::FALSE),
                }
            }
            Constraint::In(values) | Constraint::NotIn(values) => {
                let negated = matches!(constraint, Constraint::NotIn(_));
                let includes_null = values.iter().any(Value::is_null);
                let operands = values.iter().filter_map(|value| Self::operand(field_type, value)).collect();
                D::in_list(self, column, operands, includes_null, negated);
            }
            Constraint::Exists(exists) => {
                self.push_fmt(format_args!("{column} IS {}NULL", if *exists { "NOT " } else { "" }))
            }
            Constraint::Regex(pattern) => {
                if *field_type != FieldType::String {
                    self.push(D::FALSE);
                    return;
                }
                D::regex(self, column, &pattern.pattern);
            }
            Constraint::Text { terms, case_sensitive } => {
                if *field_type != FieldType::String {
                    self.push(D::FALSE);
                    return;
                }
                D::text_search(self, column, terms, *case_sensitive);
            }
            Constraint::InQuery { query, negated } => {
                let points_there = matches!(field_type, FieldType::Pointer(target) if *target == query.class_name);
                if !points_there {
                    self.truth(*negated);
                    return;
                }
                self.in_sub_query(column, query, "objectId", *negated, access);
            }
            Constraint::Select { query, key, negated } => {
                let key_type = self.schemas.get(&query.class_name).and_then(|schema| schema.queryable_type(key));
                if key_type.is_some_and(|key_type| !D::select_comparable(&key_type, field_type)) {
                    self.truth(*negated);
                    return;
                }
                self.in_sub_query(column, query, key, *negated, access);
            }
            Constraint::All(_) | Constraint::ContainedBy(_) => self.push(D::FALSE),
            Constraint::NearSphere { .. }
            | Constraint::WithinBox { .. }
            | Constraint::WithinPolygon(_)
            | Constraint::WithinCircle { .. }
            | Constraint::PolygonContains { .. } => self.push(D::FALSE),
        }
    }

    /// `column IN (SELECT key …)`, or its negation that also holds where the column is unset.
    fn in_sub_query(&mut self, column: &str, query: &SubQuery, key: &str, negated: bool, access: &Access) {
        if self.selects_nothing(query, key) {
            self.push(if negated { D::TRUE } else { D::FALSE });
            return;
        }
        if negated {
            self.push_fmt(format_args!("({column} IS NULL OR {column} NOT IN ("));
        } else {
            self.push_fmt(format_args!("{column} IN ("));
        }
        // `NOT IN` a list holding NULL is never true: objects of the sub-query without the key
        // select nothing to exclude (as `$nin` of the values present).
        self.sub_query(query, key, access, None, negated);
        self.push(if negated { "))" } else { ")" });
    }

    /// Does the sub-query select nothing whatever the rows: its class does not exist or has no
    /// such key? The caller writes the comparison's outcome instead of comparing with an empty
    /// `SELECT` (whose untyped NULL PostgreSQL would compare as text, refusing other types).
    pub(crate) fn selects_nothing(&self, query: &SubQuery, key: &str) -> bool {
        self.schemas
            .get(&query.class_name)
            .is_none_or(|schema| key != "objectId" && schema.queryable_type(key).is_none())
    }

    /// `SELECT <key> FROM <class> tN WHERE <condition> AND <acl>` for `$inQuery`/`$select`;
    /// `wrap` names a function the key is selected through (PostgreSQL's `to_jsonb`, to compare
    /// with JSON array elements).
    /// `non_null` leaves out objects whose key is unset. Callers check `selects_nothing` first.
    pub(crate) fn sub_query(
        &mut self,
        query: &SubQuery,
        key: &str,
        access: &Access,
        wrap: Option<&str>,
        non_null: bool,
    ) {
        let Some(schema) = self.schemas.get(&query.class_name).cloned() else {
            self.push_fmt(format_args!("SELECT NULL WHERE {}", D::FALSE));
            return;
        };
        let alias = self.next_alias();
        let selected = column_ref(&alias, key);
        match wrap {
            Some(function) => self.push_fmt(format_args!("SELECT {function}({selected}) FROM ")),
            None => self.push_fmt(format_args!("SELECT {selected} FROM ")),
        }
        self.push_fmt(format_args!("{} {alias} WHERE ", quote(schema.class_name.as_str())));
        self.filtered(&schema, &alias, &query.condition, access);
        if non_null {
            self.push_fmt(format_args!(" AND {selected} IS NOT NULL"));
        }
    }

    fn order_by(&mut self, schema: &ClassSchema, alias: &str, order: &[OrderKey], condition: &Condition) {
        // Parse compat: `$nearSphere` sorts by distance and takes precedence over `order`.
        let near = near_sphere(condition);
        let order = if near.is_some() { &[] } else { order };
        let mut terms: Vec<String> = Vec::new();
        for key in order {
            let Some(field_type) = schema.queryable_type(&key.path.field) else { continue };
            let column = column_ref(alias, &key.path.field);
            if key.path.is_top_level() || field_type == FieldType::Object {
                terms.push(D::order_term(&column, &key.path.sub_keys, key.descending));
            }
        }
        if terms.is_empty() {
            if let Some((field, latitude, longitude)) = near
                && schema.queryable_type(&field) == Some(FieldType::GeoPoint)
            {
                let column = column_ref(alias, &field);
                D::near_sphere_order(self, &column, latitude, longitude);
            }
            return;
        }
        self.push(" ORDER BY ");
        self.push(&terms.join(", "));
    }
}
