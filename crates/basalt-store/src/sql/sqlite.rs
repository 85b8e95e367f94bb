//! The SQLite dialect of the query compiler.
//!
//! Column layout (see `sqlite::schema`): one table per class, named after it; `objectId`,
//! `createdAt`, `updatedAt` (ISO text), `_rperm`/`_wperm` (JSON arrays, NULL = public), and a
//! column per field: String/Date/Pointer(objectId)/File(name)/Bytes(base64) as TEXT, Number as
//! REAL, Boolean as INTEGER, Object/Array/GeoPoint/Polygon as canonical JSON text. Relations
//! live in join tables `_Join:<field>:<class>` (`owningId`, `relatedId`).

use basalt_core::acl::Access;
use basalt_core::query::{AllItem, Condition, Constraint, FieldPath, OrderKey, SubQuery};
use basalt_core::value::canonical_text;
use basalt_core::{ClassSchema, FieldType};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use std::fmt::Write as _;

use super::{
    Operand, column_operand as operand_of, column_ref, comparison_sql, holds_on_missing_field, join_table, near_sphere,
    push_column, push_path_key, push_quoted, quote,
};
pub use super::{SYSTEM_COLUMNS, selected_columns};
use crate::{FindQuery, Schemas};

/// SQL text with its parameters, in order.
#[derive(Debug, Default)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

/// Compiles a find: `SELECT <columns> FROM <class> t0 WHERE … ORDER BY … LIMIT … OFFSET …`.
pub fn compile_find(
    schemas: &Schemas,
    schema: &ClassSchema,
    query: &FindQuery,
    columns: &[(&str, Option<FieldType>)],
) -> Compiled {
    let mut compiler = Compiler { schemas, out: Compiled::default(), alias_count: 0 };
    let alias = compiler.next_alias();
    compiler.out.sql.reserve(64 + 24 * columns.len());
    compiler.push("SELECT ");
    for (index, (name, _)) in columns.iter().enumerate() {
        if index > 0 {
            compiler.push(", ");
        }
        push_column(&mut compiler.out.sql, &alias, name);
    }
    compiler.push(" FROM ");
    push_quoted(&mut compiler.out.sql, schema.class_name.as_str());
    compiler.push_fmt(format_args!(" {alias} WHERE "));
    compiler.filtered(schema, &alias, &query.condition, &query.access);
    compiler.order_by(schema, &alias, &query.order, &query.condition);
    match (query.limit, query.skip) {
        (Some(limit), skip) => {
            compiler.push(" LIMIT ");
            compiler.param(SqlValue::Integer(to_i64(limit)));
            compiler.push(" OFFSET ");
            compiler.param(SqlValue::Integer(to_i64(skip)));
        }
        (None, 0) => {}
        (None, skip) => {
            compiler.push(" LIMIT -1 OFFSET ");
            compiler.param(SqlValue::Integer(to_i64(skip)));
        }
    }
    compiler.out
}

/// Compiles a count: `SELECT COUNT(*) FROM <class> t0 WHERE …`.
pub fn compile_count(schemas: &Schemas, schema: &ClassSchema, query: &FindQuery) -> Compiled {
    let mut compiler = Compiler { schemas, out: Compiled::default(), alias_count: 0 };
    let alias = compiler.next_alias();
    compiler.push(&format!("SELECT COUNT(*) FROM {} {alias} WHERE ", quote(schema.class_name.as_str())));
    compiler.filtered(schema, &alias, &query.condition, &query.access);
    compiler.out
}

/// Compiles `DELETE FROM <class> WHERE "objectId" IN (SELECT … WHERE <condition>)`.
pub fn compile_delete_where(schemas: &Schemas, schema: &ClassSchema, condition: &Condition) -> Compiled {
    let mut compiler = Compiler { schemas, out: Compiled::default(), alias_count: 0 };
    let alias = compiler.next_alias();
    let table = quote(schema.class_name.as_str());
    compiler.push(&format!(
        "DELETE FROM {table} WHERE \"objectId\" IN (SELECT {alias}.\"objectId\" FROM {table} {alias} WHERE "
    ));
    compiler.filtered(schema, &alias, condition, &Access::Master);
    compiler.push(")");
    compiler.out
}

/// Compiles a condition alone (no ACL clause) on `alias`.
pub fn compile_condition(schemas: &Schemas, schema: &ClassSchema, alias: &str, condition: &Condition) -> Compiled {
    let mut compiler = Compiler { schemas, out: Compiled::default(), alias_count: 1 };
    compiler.push("(");
    compiler.condition(schema, alias, condition, &Access::Master);
    compiler.push(")");
    compiler.out
}

/// Compiles the ACL check of `access` for `permission_column` (`_rperm` or `_wperm`) of `alias`.
pub fn compile_access(access: &Access, alias: &str, permission_column: &str) -> Compiled {
    let schemas = Schemas::new();
    let mut compiler = Compiler { schemas: &schemas, out: Compiled::default(), alias_count: 0 };
    compiler.access(access, alias, permission_column);
    compiler.out
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

struct Compiler<'a> {
    schemas: &'a Schemas,
    out: Compiled,
    alias_count: usize,
}

/// How a JSON element (from `json_each`) or extracted value is compared to an operand.
enum JsonMatch {
    Text(String),
    Real(f64),
    Bool(bool),
    Null,
    Json(String),
}

fn json_match_of(operand: &Value) -> JsonMatch {
    match operand {
        Value::String(text) => JsonMatch::Text(text.clone()),
        Value::Number(number) => JsonMatch::Real(number.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(flag) => JsonMatch::Bool(*flag),
        Value::Null => JsonMatch::Null,
        other => JsonMatch::Json(canonical_text(other)),
    }
}

impl Compiler<'_> {
    fn next_alias(&mut self) -> String {
        let alias = format!("t{}", self.alias_count);
        self.alias_count += 1;
        alias
    }

    fn push(&mut self, sql: &str) {
        self.out.sql.push_str(sql);
    }

    fn push_fmt(&mut self, sql: std::fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = self.out.sql.write_fmt(sql);
    }

    fn param(&mut self, value: SqlValue) {
        self.out.sql.push('?');
        self.out.params.push(value);
    }

    fn text(&mut self, text: &str) {
        self.param(SqlValue::Text(text.to_owned()));
    }

    /// `<condition> AND <acl>`.
    fn filtered(&mut self, schema: &ClassSchema, alias: &str, condition: &Condition, access: &Access) {
        self.push("(");
        self.condition(schema, alias, condition, access);
        self.push(")");
        if !access.is_master() {
            self.push(" AND ");
            self.access(access, alias, "_rperm");
        }
    }

    fn access(&mut self, access: &Access, alias: &str, permission_column: &str) {
        let Access::Keys(keys) = access else {
            self.push("1");
            return;
        };
        let column = column_ref(alias, permission_column);
        self.push_fmt(format_args!("({column} IS NULL OR EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN ("));
        for (index, key) in keys.iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            self.text(key);
        }
        self.push(")))");
    }

    fn condition(&mut self, schema: &ClassSchema, alias: &str, condition: &Condition, access: &Access) {
        match condition {
            Condition::And(parts) | Condition::Or(parts) if parts.is_empty() => {
                self.push(if matches!(condition, Condition::And(_)) { "1" } else { "0" });
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
                    self.push("0");
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
            // Parse compat: a constraint on a field the class does not have behaves as if the
            // value were null: `$exists:false`, `$ne` and `$nin` hold, everything else fails.
            self.push(if holds_on_missing_field(constraint) { "1" } else { "0" });
            return;
        };
        let column = column_ref(alias, &path.field);
        if !path.is_top_level() {
            if field_type != FieldType::Object {
                self.push("0");
                return;
            }
            self.json_path_constraint(&column, &path.sub_keys, constraint);
            return;
        }
        match field_type {
            FieldType::Array => self.array_constraint(&column, constraint, access),
            FieldType::GeoPoint => self.geo_constraint(&column, constraint),
            FieldType::Polygon => match constraint {
                Constraint::PolygonContains { latitude, longitude } => {
                    self.push_fmt(format_args!("basalt_polygon_contains({column}, "));
                    self.param(SqlValue::Real(*latitude));
                    self.push(", ");
                    self.param(SqlValue::Real(*longitude));
                    self.push(")");
                }
                _ => self.scalar_constraint(&column, &field_type, constraint, access),
            },
            _ => self.scalar_constraint(&column, &field_type, constraint, access),
        }
    }

    /// Constraints on a typed scalar column (String, Number, Boolean, Date, Pointer, File, Bytes,
    /// and Object/GeoPoint/Polygon compared as canonical JSON).
    fn scalar_constraint(&mut self, column: &str, field_type: &FieldType, constraint: &Constraint, access: &Access) {
        match constraint {
            Constraint::Equals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NULL")),
            Constraint::Equals(value) => match column_operand(field_type, value) {
                Some(operand) => {
                    self.push_fmt(format_args!("{column} = "));
                    self.param(operand);
                }
                None => self.push("0"),
            },
            Constraint::NotEquals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NOT NULL")),
            Constraint::NotEquals(value) => match column_operand(field_type, value) {
                Some(operand) => {
                    self.push_fmt(format_args!("({column} IS NULL OR {column} <> "));
                    self.param(operand);
                    self.push(")");
                }
                None => self.push("1"),
            },
            Constraint::Compare(comparison, value) => {
                let comparable = matches!(field_type, FieldType::String | FieldType::Number | FieldType::Date);
                match column_operand(field_type, value).filter(|_| comparable) {
                    Some(operand) => {
                        self.push_fmt(format_args!("{column} {} ", comparison_sql(*comparison)));
                        self.param(operand);
                    }
                    None => self.push("0"),
                }
            }
            Constraint::In(values) | Constraint::NotIn(values) => {
                let negated = matches!(constraint, Constraint::NotIn(_));
                let includes_null = values.iter().any(Value::is_null);
                let operands: Vec<SqlValue> =
                    values.iter().filter_map(|value| column_operand(field_type, value)).collect();
                let mut sql_in = format!("{column} IN (");
                let mut params = Vec::new();
                for (index, operand) in operands.into_iter().enumerate() {
                    if index > 0 {
                        sql_in.push_str(", ");
                    }
                    sql_in.push('?');
                    params.push(operand);
                }
                sql_in.push(')');
                if negated {
                    self.push_fmt(format_args!(
                        "(({column} IS NULL AND {}) OR ({column} IS NOT NULL AND NOT ",
                        if includes_null { "0" } else { "1" }
                    ));
                } else {
                    self.push_fmt(format_args!(
                        "(({column} IS NULL AND {}) OR ",
                        if includes_null { "1" } else { "0" }
                    ));
                }
                self.push(&sql_in);
                self.out.params.extend(params);
                self.push(if negated { "))" } else { ")" });
            }
            Constraint::Exists(exists) => {
                self.push_fmt(format_args!("{column} IS {}NULL", if *exists { "NOT " } else { "" }))
            }
            Constraint::Regex(pattern) => {
                if *field_type != FieldType::String {
                    self.push("0");
                    return;
                }
                self.push("basalt_regexp(");
                self.text(&pattern.pattern);
                self.push_fmt(format_args!(", {column})"));
            }
            Constraint::Text { terms, case_sensitive } => {
                if *field_type != FieldType::String {
                    self.push("0");
                    return;
                }
                self.text_search(column, terms, *case_sensitive);
            }
            Constraint::InQuery { query, negated } => {
                let FieldType::Pointer(target) = field_type else {
                    self.push(if *negated { "1" } else { "0" });
                    return;
                };
                if *target != query.class_name {
                    self.push(if *negated { "1" } else { "0" });
                    return;
                }
                if *negated {
                    self.push_fmt(format_args!("({column} IS NULL OR {column} NOT IN ("));
                } else {
                    self.push_fmt(format_args!("{column} IN ("));
                }
                self.sub_query(query, "objectId", access);
                self.push(if *negated { "))" } else { ")" });
            }
            Constraint::Select { query, key, negated } => {
                if *negated {
                    self.push_fmt(format_args!("({column} IS NULL OR {column} NOT IN ("));
                } else {
                    self.push_fmt(format_args!("{column} IN ("));
                }
                self.sub_query(query, key, access);
                self.push(if *negated { "))" } else { ")" });
            }
            Constraint::All(_) | Constraint::ContainedBy(_) => self.push("0"),
            Constraint::NearSphere { .. }
            | Constraint::WithinBox { .. }
            | Constraint::WithinPolygon(_)
            | Constraint::WithinCircle { .. }
            | Constraint::PolygonContains { .. } => self.push("0"),
        }
    }

    fn text_search(&mut self, expression: &str, terms: &str, case_sensitive: bool) {
        let words: Vec<&str> = terms.split_whitespace().collect();
        self.push("(");
        for (index, word) in words.iter().enumerate() {
            if index > 0 {
                self.push(" AND ");
            }
            if case_sensitive {
                self.push_fmt(format_args!("instr({expression}, "));
                self.text(word);
            } else {
                self.push_fmt(format_args!("instr(lower({expression}), lower("));
                self.text(word);
                self.push(")");
            }
            self.push(") > 0");
        }
        self.push(")");
    }

    /// `SELECT <key> FROM <class> tN WHERE <condition> AND <acl>` for `$inQuery`/`$select`.
    fn sub_query(&mut self, query: &SubQuery, key: &str, access: &Access) {
        let Some(schema) = self.schemas.get(&query.class_name).cloned() else {
            self.push("SELECT NULL WHERE 0");
            return;
        };
        if key != "objectId" && schema.queryable_type(key).is_none() {
            self.push("SELECT NULL WHERE 0");
            return;
        }
        let alias = self.next_alias();
        self.push_fmt(format_args!(
            "SELECT {alias}.{} FROM {} {alias} WHERE ",
            quote(key),
            quote(schema.class_name.as_str())
        ));
        self.filtered(&schema, &alias, &query.condition, access);
    }

    /// Matches one JSON element/value (`type_expression`, `value_expression`) against an operand.
    fn json_match(&mut self, type_expression: &str, value_expression: &str, operand: &Value) {
        match json_match_of(operand) {
            JsonMatch::Text(text) => {
                self.push_fmt(format_args!("({type_expression} = 'text' AND {value_expression} = "));
                self.text(&text);
                self.push(")");
            }
            JsonMatch::Real(number) => {
                self.push_fmt(format_args!("({type_expression} IN ('integer', 'real') AND {value_expression} = "));
                self.param(SqlValue::Real(number));
                self.push(")");
            }
            JsonMatch::Bool(flag) => self.push_fmt(format_args!("{type_expression} = '{flag}'")),
            JsonMatch::Null => self.push_fmt(format_args!("{type_expression} = 'null'")),
            JsonMatch::Json(text) => {
                self.push_fmt(format_args!("({type_expression} IN ('object', 'array') AND {value_expression} = "));
                self.text(&text);
                self.push(")");
            }
        }
    }

    fn element_exists(&mut self, column: &str, operands: &[&Value]) {
        self.push_fmt(format_args!("EXISTS (SELECT 1 FROM json_each({column}) e WHERE "));
        self.element_matches_any(operands);
        self.push(")");
    }

    /// `e` (a `json_each` row) equals one of the operands; false for none.
    fn element_matches_any(&mut self, operands: &[&Value]) {
        if operands.is_empty() {
            self.push("0");
        }
        for (index, operand) in operands.iter().enumerate() {
            if index > 0 {
                self.push(" OR ");
            }
            self.json_match("e.type", "e.value", operand);
        }
    }

    fn array_constraint(&mut self, column: &str, constraint: &Constraint, access: &Access) {
        match constraint {
            Constraint::Equals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NULL")),
            Constraint::Equals(Value::Array(items)) => {
                self.push_fmt(format_args!("{column} = "));
                self.text(&canonical_text(&Value::Array(items.clone())));
            }
            Constraint::Equals(value) => self.element_exists(column, &[value]),
            Constraint::NotEquals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NOT NULL")),
            // The negation of `Equals`: an array operand is compared with the whole array.
            Constraint::NotEquals(Value::Array(items)) => {
                self.push_fmt(format_args!("({column} IS NULL OR {column} <> "));
                self.text(&canonical_text(&Value::Array(items.clone())));
                self.push(")");
            }
            Constraint::NotEquals(value) => {
                self.push_fmt(format_args!("({column} IS NULL OR NOT "));
                self.element_exists(column, &[value]);
                self.push(")");
            }
            // An unset array is null: `$in` with null holds there and `$nin` with null does not.
            Constraint::In(values) => {
                let operands: Vec<&Value> = values.iter().collect();
                let has_null = values.iter().any(Value::is_null);
                if has_null {
                    self.push_fmt(format_args!("({column} IS NULL OR "));
                }
                self.element_exists(column, &operands);
                if has_null {
                    self.push(")");
                }
            }
            Constraint::NotIn(values) => {
                let operands: Vec<&Value> = values.iter().collect();
                let unset = if values.iter().any(Value::is_null) { "IS NOT NULL AND" } else { "IS NULL OR" };
                self.push_fmt(format_args!("({column} {unset} NOT "));
                self.element_exists(column, &operands);
                self.push(")");
            }
            Constraint::All(items) => {
                self.push("(");
                self.push_fmt(format_args!("{column} IS NOT NULL"));
                for item in items {
                    self.push(" AND ");
                    match item {
                        AllItem::Value(value) => self.element_exists(column, &[value]),
                        AllItem::Regex(pattern) => {
                            self.push_fmt(format_args!(
                                "EXISTS (SELECT 1 FROM json_each({column}) e WHERE e.type = 'text' AND basalt_regexp("
                            ));
                            self.text(&pattern.pattern);
                            self.push(", e.value))");
                        }
                    }
                }
                self.push(")");
            }
            Constraint::ContainedBy(values) => {
                let operands: Vec<&Value> = values.iter().collect();
                self.push_fmt(format_args!(
                    "({column} IS NULL OR NOT EXISTS (SELECT 1 FROM json_each({column}) e WHERE NOT ("
                ));
                self.element_matches_any(&operands);
                self.push(")))");
            }
            Constraint::Exists(exists) => {
                self.push_fmt(format_args!("{column} IS {}NULL", if *exists { "NOT " } else { "" }))
            }
            Constraint::Compare(comparison, value) => {
                let operand = match value {
                    Value::Number(number) => SqlValue::Real(number.as_f64().unwrap_or(f64::NAN)),
                    Value::String(text) => SqlValue::Text(text.clone()),
                    _ => {
                        self.push("0");
                        return;
                    }
                };
                let wanted_type = if matches!(value, Value::Number(_)) { "('integer', 'real')" } else { "('text')" };
                self.push_fmt(format_args!(
                    "EXISTS (SELECT 1 FROM json_each({column}) e WHERE e.type IN {wanted_type} AND e.value {} ",
                    comparison_sql(*comparison)
                ));
                self.param(operand);
                self.push(")");
            }
            Constraint::Regex(pattern) => {
                self.push_fmt(format_args!(
                    "EXISTS (SELECT 1 FROM json_each({column}) e WHERE e.type = 'text' AND basalt_regexp("
                ));
                self.text(&pattern.pattern);
                self.push(", e.value))");
            }
            Constraint::InQuery { query, negated } => {
                if *negated {
                    self.push_fmt(format_args!("({column} IS NULL OR NOT "));
                }
                self.push_fmt(format_args!(
                    "EXISTS (SELECT 1 FROM json_each({column}) e WHERE e.type = 'object' AND json_extract(e.value, '$.className') = "
                ));
                self.text(query.class_name.as_str());
                self.push(" AND json_extract(e.value, '$.objectId') IN (");
                self.sub_query(query, "objectId", access);
                self.push("))");
                if *negated {
                    self.push(")");
                }
            }
            Constraint::Select { query, key, negated } => {
                if *negated {
                    self.push_fmt(format_args!("({column} IS NULL OR NOT "));
                }
                self.push_fmt(format_args!("EXISTS (SELECT 1 FROM json_each({column}) e WHERE e.value IN ("));
                self.sub_query(query, key, access);
                self.push("))");
                if *negated {
                    self.push(")");
                }
            }
            Constraint::Text { .. }
            | Constraint::NearSphere { .. }
            | Constraint::WithinBox { .. }
            | Constraint::WithinPolygon(_)
            | Constraint::WithinCircle { .. }
            | Constraint::PolygonContains { .. } => self.push("0"),
        }
    }

    fn geo_constraint(&mut self, column: &str, constraint: &Constraint) {
        let latitude = format!("json_extract({column}, '$.latitude')");
        let longitude = format!("json_extract({column}, '$.longitude')");
        match constraint {
            Constraint::NearSphere { latitude: center_lat, longitude: center_lng, max_radians } => {
                self.push_fmt(format_args!("{column} IS NOT NULL"));
                if let Some(max_radians) = max_radians {
                    self.push_fmt(format_args!(" AND basalt_distance({latitude}, {longitude}, "));
                    self.param(SqlValue::Real(*center_lat));
                    self.push(", ");
                    self.param(SqlValue::Real(*center_lng));
                    self.push(") <= ");
                    self.param(SqlValue::Real(*max_radians));
                }
            }
            Constraint::WithinCircle { latitude: center_lat, longitude: center_lng, radius_radians } => {
                self.push_fmt(format_args!("({column} IS NOT NULL AND basalt_distance({latitude}, {longitude}, "));
                self.param(SqlValue::Real(*center_lat));
                self.push(", ");
                self.param(SqlValue::Real(*center_lng));
                self.push(") <= ");
                self.param(SqlValue::Real(*radius_radians));
                self.push(")");
            }
            Constraint::WithinBox { south, west, north, east } => {
                self.push_fmt(format_args!("({latitude} BETWEEN "));
                self.param(SqlValue::Real(*south));
                self.push(" AND ");
                self.param(SqlValue::Real(*north));
                self.push_fmt(format_args!(" AND {longitude} BETWEEN "));
                self.param(SqlValue::Real(*west));
                self.push(" AND ");
                self.param(SqlValue::Real(*east));
                self.push(")");
            }
            Constraint::WithinPolygon(points) => {
                let polygon = Value::Array(points.iter().map(|(lat, lng)| serde_json::json!([lat, lng])).collect());
                self.push_fmt(format_args!("({column} IS NOT NULL AND basalt_in_polygon("));
                self.text(&polygon.to_string());
                self.push_fmt(format_args!(", {latitude}, {longitude}))"));
            }
            other => self.scalar_constraint(column, &FieldType::GeoPoint, other, &Access::Master),
        }
    }

    /// Constraints on a path inside an Object field, through `json_extract`.
    fn json_path_constraint(&mut self, column: &str, sub_keys: &[String], constraint: &Constraint) {
        let path = json_path(sub_keys);
        let value = format!("json_extract({column}, '{path}')");
        let value_type = format!("json_type({column}, '{path}')");
        match constraint {
            Constraint::Equals(operand) if operand.is_null() => {
                self.push_fmt(format_args!("({value_type} IS NULL OR {value_type} = 'null')"))
            }
            Constraint::Equals(operand) => self.json_path_equals(column, sub_keys, operand),
            Constraint::NotEquals(operand) if operand.is_null() => {
                self.push_fmt(format_args!("({value_type} IS NOT NULL AND {value_type} <> 'null')"))
            }
            // `IS NOT TRUE`, not `NOT`: the equality is NULL where the path leads nowhere, and
            // there `$ne` and `$nin` hold.
            Constraint::NotEquals(operand) => {
                self.push("(");
                self.json_path_equals(column, sub_keys, operand);
                self.push(") IS NOT TRUE");
            }
            Constraint::Exists(exists) => {
                if *exists {
                    self.push_fmt(format_args!("({value_type} IS NOT NULL AND {value_type} <> 'null')"));
                } else {
                    self.push_fmt(format_args!("({value_type} IS NULL OR {value_type} = 'null')"));
                }
            }
            Constraint::In(values) | Constraint::NotIn(values) => {
                let negated = matches!(constraint, Constraint::NotIn(_));
                self.push("(");
                if values.is_empty() {
                    self.push("0");
                }
                for (index, operand) in values.iter().enumerate() {
                    if index > 0 {
                        self.push(" OR ");
                    }
                    self.json_path_equals(column, sub_keys, operand);
                }
                self.push(if negated { ") IS NOT TRUE" } else { ")" });
            }
            Constraint::Compare(comparison, operand) => {
                let (expression, operand) = match operand {
                    Value::Number(number) => (value.clone(), SqlValue::Real(number.as_f64().unwrap_or(f64::NAN))),
                    Value::String(text) => (value.clone(), SqlValue::Text(text.clone())),
                    Value::Object(object) if object.get("__type").and_then(Value::as_str) == Some("Date") => {
                        let iso = object.get("iso").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let mut date_path = sub_keys.to_vec();
                        date_path.push("iso".to_owned());
                        (format!("json_extract({column}, '{}')", json_path(&date_path)), SqlValue::Text(iso))
                    }
                    _ => {
                        self.push("0");
                        return;
                    }
                };
                let wanted_type = if matches!(operand, SqlValue::Real(_)) { "('integer', 'real')" } else { "('text')" };
                let type_expression = expression.replacen("json_extract", "json_type", 1);
                self.push_fmt(format_args!(
                    "({type_expression} IN {wanted_type} AND {expression} {} ",
                    comparison_sql(*comparison)
                ));
                self.param(operand);
                self.push(")");
            }
            Constraint::Regex(pattern) => {
                self.push_fmt(format_args!("({value_type} = 'text' AND basalt_regexp("));
                self.text(&pattern.pattern);
                self.push_fmt(format_args!(", {value}))"));
            }
            Constraint::Text { terms, case_sensitive } => {
                self.push_fmt(format_args!("({value_type} = 'text' AND "));
                self.text_search(&value, terms, *case_sensitive);
                self.push(")");
            }
            _ => self.push("0"),
        }
    }

    fn json_path_equals(&mut self, column: &str, sub_keys: &[String], operand: &Value) {
        let path = json_path(sub_keys);
        if let Value::Object(object) = operand
            && object.get("__type").and_then(Value::as_str) == Some("Date")
        {
            let iso = object.get("iso").and_then(Value::as_str).unwrap_or_default().to_owned();
            let mut date_path = sub_keys.to_vec();
            date_path.push("iso".to_owned());
            self.push_fmt(format_args!("json_extract({column}, '{}') = ", json_path(&date_path)));
            self.text(&iso);
            return;
        }
        let value = format!("json_extract({column}, '{path}')");
        let value_type = format!("json_type({column}, '{path}')");
        if operand.is_null() {
            // A path that leads nowhere is null too (`$in`/`$nin` with null, as `Equals(null)`).
            self.push_fmt(format_args!("({value_type} IS NULL OR {value_type} = 'null')"));
            return;
        }
        let value =
            if matches!(operand, Value::Object(_) | Value::Array(_)) { format!("json({value})") } else { value };
        self.json_match(&value_type, &value, operand);
    }

    fn order_by(&mut self, schema: &ClassSchema, alias: &str, order: &[OrderKey], condition: &Condition) {
        // Parse compat: `$nearSphere` sorts by distance and takes precedence over `order`.
        let order = if near_sphere(condition).is_some() { &[] } else { order };
        let mut terms: Vec<String> = Vec::new();
        for key in order {
            let direction = if key.descending { "DESC" } else { "ASC" };
            let Some(field_type) = schema.queryable_type(&key.path.field) else { continue };
            let column = column_ref(alias, &key.path.field);
            if key.path.is_top_level() {
                terms.push(format!("{column} {direction}"));
            } else if field_type == FieldType::Object {
                terms.push(format!("json_extract({column}, '{}') {direction}", json_path(&key.path.sub_keys)));
            }
        }
        if terms.is_empty() {
            if let Some((field, latitude, longitude)) = near_sphere(condition)
                && schema.queryable_type(&field) == Some(FieldType::GeoPoint)
            {
                let column = column_ref(alias, &field);
                self.push_fmt(format_args!(
                        " ORDER BY basalt_distance(json_extract({column}, '$.latitude'), json_extract({column}, '$.longitude'), "
                    ));
                self.param(SqlValue::Real(latitude));
                self.push(", ");
                self.param(SqlValue::Real(longitude));
                self.push(")");
            }
            return;
        }
        self.push(" ORDER BY ");
        self.push(&terms.join(", "));
    }
}

/// A JSON path literal for SQLite from checked keys (letters, digits, `_` only — see
/// `query::parse`), so it can be inlined safely.
fn json_path(keys: &[String]) -> String {
    let mut path = String::from("$");
    for key in keys {
        path.push_str(".\"");
        push_path_key(&mut path, key);
        path.push('"');
    }
    path
}

/// The SQLite value an operand binds as: booleans are integers, JSON is its canonical text.
pub fn column_operand(field_type: &FieldType, operand: &Value) -> Option<SqlValue> {
    operand_of(field_type, operand).map(|operand| match operand {
        Operand::Text(text) => SqlValue::Text(text),
        Operand::Real(number) => SqlValue::Real(number),
        Operand::Bool(flag) => SqlValue::Integer(i64::from(flag)),
        Operand::Json(value) => SqlValue::Text(canonical_text(&value)),
    })
}

#[cfg(test)]
mod tests;
