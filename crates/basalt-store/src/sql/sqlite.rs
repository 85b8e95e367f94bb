//! The SQLite dialect of the query compiler (`compiler` walks the query; this writes SQLite's
//! SQL for what the dialects do differently).
//!
//! Column layout (see `sqlite::schema`): one table per class, named after it; `objectId`,
//! `createdAt`, `updatedAt` (ISO text), `_rperm`/`_wperm` (JSON arrays, NULL = public), and a
//! column per field: String/Date/Pointer(objectId)/File(name)/Bytes(base64) as TEXT, Number as
//! REAL, Boolean as INTEGER, Object/Array/GeoPoint/Polygon as canonical JSON text. Relations
//! live in join tables `_Join:<field>:<class>` (`owningId`, `relatedId`).

use basalt_core::acl::Access;
use basalt_core::query::{AllItem, Condition, Constraint};
use basalt_core::value::canonical_text;
use basalt_core::{ClassSchema, FieldType};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::compiler::{self, Compiler, Dialect, to_i64};
pub(crate) use super::selected_columns;
use super::{Operand, comparison_sql, push_path_key};
use crate::{FindQuery, Schemas};

/// SQL text with its parameters, in order.
pub(crate) type Compiled = compiler::Compiled<SqlValue>;

/// SQLite: `?` placeholders, `1`/`0`, JSON through `json_each`/`json_extract`, and Basalt's own
/// SQL functions for `$regex` and geometry (`sqlite::functions`).
pub(crate) struct Sqlite;

/// Compiles a find: `SELECT <columns> FROM <class> t0 WHERE … ORDER BY … LIMIT … OFFSET …`.
pub(crate) fn compile_find(
    schemas: &Schemas,
    schema: &ClassSchema,
    query: &FindQuery,
    columns: &[(&str, Option<FieldType>)],
) -> Compiled {
    Compiler::<Sqlite>::new(schemas, 0).find(schema, query, columns, None)
}

/// Compiles a count: `SELECT COUNT(*) FROM <class> t0 WHERE …`.
pub(crate) fn compile_count(schemas: &Schemas, schema: &ClassSchema, query: &FindQuery) -> Compiled {
    Compiler::<Sqlite>::new(schemas, 0).count(schema, query)
}

/// Compiles `DELETE FROM <class> WHERE "objectId" IN (SELECT … WHERE <condition>)`.
pub(crate) fn compile_delete_where(schemas: &Schemas, schema: &ClassSchema, condition: &Condition) -> Compiled {
    Compiler::<Sqlite>::new(schemas, 0).delete_where(schema, condition)
}

/// Compiles a condition alone (no ACL clause) on `alias`.
pub(crate) fn compile_condition(
    schemas: &Schemas,
    schema: &ClassSchema,
    alias: &str,
    condition: &Condition,
) -> Compiled {
    let mut compiler = Compiler::<Sqlite>::new(schemas, 1);
    compiler.push("(");
    compiler.condition(schema, alias, condition, &Access::Master);
    compiler.push(")");
    compiler.out
}

/// Compiles the ACL check of `access` for `permission_column` (`_rperm` or `_wperm`) of `alias`.
pub(crate) fn compile_access(access: &Access, alias: &str, permission_column: &str) -> Compiled {
    let schemas = Schemas::new();
    let mut compiler = Compiler::<Sqlite>::new(&schemas, 0);
    compiler.access(access, alias, permission_column);
    compiler.out
}

impl Dialect for Sqlite {
    type Param = SqlValue;
    const TRUE: &'static str = "1";
    const FALSE: &'static str = "0";

    fn placeholder(out: &mut String, _number: usize, _param: &SqlValue) {
        out.push('?');
    }

    fn text(text: &str) -> SqlValue {
        SqlValue::Text(text.to_owned())
    }

    /// Booleans are integers, JSON is its canonical text.
    fn operand(operand: Operand) -> SqlValue {
        match operand {
            Operand::Text(text) => SqlValue::Text(text),
            Operand::Real(number) => SqlValue::Real(number),
            Operand::Bool(flag) => SqlValue::Integer(i64::from(flag)),
            Operand::Json(value) => SqlValue::Text(canonical_text(&value)),
        }
    }

    fn access(compiler: &mut Compiler<'_, Sqlite>, column: &str, keys: &[String]) {
        // Every read by a client writes this: pieces, not `format_args!`.
        compiler.push("(");
        compiler.push(column);
        compiler.push(" IS NULL OR EXISTS (SELECT 1 FROM json_each(");
        compiler.push(column);
        compiler.push(") WHERE value IN (");
        for (index, key) in keys.iter().enumerate() {
            if index > 0 {
                compiler.push(", ");
            }
            compiler.text(key);
        }
        compiler.push(")))");
    }

    fn in_list(
        compiler: &mut Compiler<'_, Sqlite>,
        column: &str,
        operands: Vec<SqlValue>,
        includes_null: bool,
        negated: bool,
    ) {
        if negated {
            compiler.push_fmt(format_args!(
                "(({column} IS NULL AND {}) OR ({column} IS NOT NULL AND NOT ",
                if includes_null { "0" } else { "1" }
            ));
        } else {
            compiler.push_fmt(format_args!("(({column} IS NULL AND {}) OR ", if includes_null { "1" } else { "0" }));
        }
        compiler.push_fmt(format_args!("{column} IN ("));
        for (index, operand) in operands.into_iter().enumerate() {
            if index > 0 {
                compiler.push(", ");
            }
            compiler.param(operand);
        }
        compiler.push(if negated { ")))" } else { "))" });
    }

    fn regex(compiler: &mut Compiler<'_, Sqlite>, expression: &str, pattern: &str) {
        compiler.push("basalt_regexp(");
        compiler.text(pattern);
        compiler.push_fmt(format_args!(", {expression})"));
    }

    fn text_search(compiler: &mut Compiler<'_, Sqlite>, expression: &str, terms: &str, case_sensitive: bool) {
        compiler.text_search(expression, terms, case_sensitive);
    }

    fn select_comparable(_key_type: &FieldType, _field_type: &FieldType) -> bool {
        // SQLite compares across storage classes by value (and finds nothing unequal).
        true
    }

    fn polygon_contains(compiler: &mut Compiler<'_, Sqlite>, column: &str, latitude: f64, longitude: f64) {
        compiler.push_fmt(format_args!("basalt_polygon_contains({column}, "));
        compiler.param(SqlValue::Real(latitude));
        compiler.push(", ");
        compiler.param(SqlValue::Real(longitude));
        compiler.push(")");
    }

    fn array_constraint(compiler: &mut Compiler<'_, Sqlite>, column: &str, constraint: &Constraint, access: &Access) {
        compiler.array_constraint(column, constraint, access);
    }

    fn geo_constraint(compiler: &mut Compiler<'_, Sqlite>, column: &str, constraint: &Constraint) {
        compiler.geo_constraint(column, constraint);
    }

    fn json_path_constraint(
        compiler: &mut Compiler<'_, Sqlite>,
        column: &str,
        sub_keys: &[String],
        constraint: &Constraint,
    ) {
        compiler.json_path_constraint(column, sub_keys, constraint);
    }

    fn order_term(column: &str, sub_keys: &[String], descending: bool) -> String {
        let direction = if descending { "DESC" } else { "ASC" };
        if sub_keys.is_empty() {
            format!("{column} {direction}")
        } else {
            format!("json_extract({column}, '{}') {direction}", json_path(sub_keys))
        }
    }

    fn near_sphere_order(compiler: &mut Compiler<'_, Sqlite>, column: &str, latitude: f64, longitude: f64) {
        compiler.push_fmt(format_args!(
            " ORDER BY basalt_distance(json_extract({column}, '$.latitude'), json_extract({column}, '$.longitude'), "
        ));
        compiler.param(SqlValue::Real(latitude));
        compiler.push(", ");
        compiler.param(SqlValue::Real(longitude));
        compiler.push(")");
    }

    fn limit_offset(compiler: &mut Compiler<'_, Sqlite>, limit: Option<usize>, skip: usize) {
        match (limit, skip) {
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
    }
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

impl Compiler<'_, Sqlite> {
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
                if self.selects_nothing(query, "objectId") {
                    self.push(Sqlite::FALSE);
                } else {
                    self.push_fmt(format_args!(
                        "EXISTS (SELECT 1 FROM json_each({column}) e WHERE e.type = 'object' AND json_extract(e.value, '$.className') = "
                    ));
                    self.text(query.class_name.as_str());
                    self.push(" AND json_extract(e.value, '$.objectId') IN (");
                    self.sub_query(query, "objectId", access, None, false);
                    self.push("))");
                }
                if *negated {
                    self.push(")");
                }
            }
            Constraint::Select { query, key, negated } => {
                if *negated {
                    self.push_fmt(format_args!("({column} IS NULL OR NOT "));
                }
                if self.selects_nothing(query, key) {
                    self.push(Sqlite::FALSE);
                } else {
                    self.push_fmt(format_args!("EXISTS (SELECT 1 FROM json_each({column}) e WHERE e.value IN ("));
                    self.sub_query(query, key, access, None, false);
                    self.push("))");
                }
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

#[cfg(test)]
mod tests;
