//! The PostgreSQL dialect of the query compiler (`compiler` walks the query; this writes
//! PostgreSQL's SQL for what the dialects do differently).
//!
//! Column layout (see `postgres::schema`): one table per class, named after it; `objectId`,
//! `createdAt`, `updatedAt` (ISO text), `_rperm`/`_wperm` (`text[]`, NULL = public), and a column
//! per field: String/Date/Pointer(objectId)/File(name)/Bytes(base64) as `text COLLATE "C"` (byte
//! order, as SQLite compares), Number as `double precision`, Boolean as `boolean`,
//! Object/Array/GeoPoint/Polygon as `jsonb`. Relations live in join tables
//! `_Join:<field>:<class>` (`owningId`, `relatedId`).
//!
//! Every parameter is written with its type (`$3::float8`), so PostgreSQL never has to guess and
//! `PgParam` always binds as the type the statement declares. Elements of JSON arrays and values
//! inside Object fields are compared as `jsonb` (`1` equals `1.0`, key order does not matter).

use basalt_core::acl::Access;
use basalt_core::query::{AllItem, Condition, Constraint};
use basalt_core::{ClassSchema, FieldType};
use serde_json::Value;

use std::fmt::Write as _;

use super::compiler::{self, Compiler, Dialect, to_i64};
use super::{Operand, comparison_sql, push_path_key};
use crate::{FindQuery, Schemas};

/// A bound value, with the SQL type its placeholder declares.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PgParam {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(String),
    Json(Value),
    TextArray(Vec<String>),
}

impl PgParam {
    /// Writes the placeholder of parameter `number` with this value's type (`$3::float8`); NULL
    /// has none and takes the column's type.
    pub(crate) fn write_placeholder(&self, out: &mut String, number: usize) {
        let cast = match self {
            PgParam::Null => "",
            PgParam::Bool(_) => "::boolean",
            PgParam::Int(_) => "::int8",
            PgParam::Real(_) => "::float8",
            PgParam::Text(_) => "::text",
            PgParam::Json(_) => "::jsonb",
            PgParam::TextArray(_) => "::text[]",
        };
        let _ = write!(out, "${number}{cast}");
    }
}

impl From<Operand> for PgParam {
    fn from(operand: Operand) -> PgParam {
        match operand {
            Operand::Text(text) => PgParam::Text(text),
            Operand::Real(number) => PgParam::Real(number),
            Operand::Bool(flag) => PgParam::Bool(flag),
            Operand::Json(value) => PgParam::Json(value),
        }
    }
}

/// SQL text with its parameters, in order (`$1` is the first).
pub(crate) type Compiled = compiler::Compiled<PgParam>;

/// PostgreSQL: typed `$n` placeholders, `TRUE`/`FALSE`, `jsonb` operators, `~` for `$regex`, and
/// the geometry functions `postgres` installs.
pub(crate) struct Postgres;

/// Compiles a find: `SELECT <columns>, <version> FROM <class> t0 WHERE … ORDER BY … LIMIT …
/// OFFSET …`, where `<version>`, after the columns, is the class's stored schema version, read in
/// the same statement (so from the same snapshot) as the rows.
pub(crate) fn compile_find(
    schemas: &Schemas,
    schema: &ClassSchema,
    query: &FindQuery,
    columns: &[(&str, Option<FieldType>)],
) -> Compiled {
    // Class names are letters, digits and underscores (`ClassName`); quotes are doubled anyway.
    let version = format!(
        "(SELECT COALESCE((\"schema\" ->> 'version')::int8, 0) FROM \"_SCHEMA\" WHERE \"className\" = '{}')",
        schema.class_name.as_str().replace('\'', "''")
    );
    Compiler::<Postgres>::new(schemas, 0).find(schema, query, columns, Some(&version))
}

/// Compiles a count: `SELECT COUNT(*) FROM <class> t0 WHERE …`.
pub(crate) fn compile_count(schemas: &Schemas, schema: &ClassSchema, query: &FindQuery) -> Compiled {
    Compiler::<Postgres>::new(schemas, 0).count(schema, query)
}

/// Compiles `DELETE FROM <class> WHERE "objectId" IN (SELECT … WHERE <condition>)`.
pub(crate) fn compile_delete_where(schemas: &Schemas, schema: &ClassSchema, condition: &Condition) -> Compiled {
    Compiler::<Postgres>::new(schemas, 0).delete_where(schema, condition)
}

/// Compiles `t0."objectId" = $1 AND <write ACL of access> AND <condition>`: the object a write
/// targets, on alias `t0`, with parameters numbered from `$1`.
pub(crate) fn compile_target(
    schemas: &Schemas,
    schema: &ClassSchema,
    object_id: &str,
    access: &Access,
    condition: &Condition,
) -> Compiled {
    let mut compiler = Compiler::<Postgres>::new(schemas, 1);
    compiler.push("t0.\"objectId\" = ");
    compiler.text(object_id);
    compiler.push(" AND ");
    compiler.access(access, "t0", "_wperm");
    compiler.push(" AND (");
    compiler.condition(schema, "t0", condition, &Access::Master);
    compiler.push(")");
    compiler.out
}

impl Dialect for Postgres {
    type Param = PgParam;
    const TRUE: &'static str = "TRUE";
    const FALSE: &'static str = "FALSE";

    fn placeholder(out: &mut String, number: usize, param: &PgParam) {
        param.write_placeholder(out, number);
    }

    fn text(text: &str) -> PgParam {
        PgParam::Text(text.to_owned())
    }

    fn operand(operand: Operand) -> PgParam {
        PgParam::from(operand)
    }

    fn access(compiler: &mut Compiler<'_, Postgres>, column: &str, keys: &[String]) {
        compiler.push_fmt(format_args!("({column} IS NULL OR {column} && "));
        compiler.param(PgParam::TextArray(keys.to_vec()));
        compiler.push(")");
    }

    fn in_list(
        compiler: &mut Compiler<'_, Postgres>,
        column: &str,
        operands: Vec<PgParam>,
        includes_null: bool,
        negated: bool,
    ) {
        // Unset: `$in` holds with a null operand, `$nin` without one.
        compiler.push_fmt(format_args!("(({column} IS NULL AND {}) OR ", truth(includes_null != negated)));
        if negated {
            compiler.push_fmt(format_args!("({column} IS NOT NULL AND NOT "));
        }
        if operands.is_empty() {
            // PostgreSQL has no empty `IN ()`.
            compiler.push("FALSE");
        } else {
            compiler.push_fmt(format_args!("{column} IN ("));
            for (index, operand) in operands.into_iter().enumerate() {
                if index > 0 {
                    compiler.push(", ");
                }
                compiler.param(operand);
            }
            compiler.push(")");
        }
        compiler.push(if negated { "))" } else { ")" });
    }

    fn regex(compiler: &mut Compiler<'_, Postgres>, expression: &str, pattern: &str) {
        compiler.push_fmt(format_args!("({expression} COLLATE basalt_regex) ~ "));
        compiler.text(&regex_for_postgres(pattern));
    }

    fn text_search(compiler: &mut Compiler<'_, Postgres>, expression: &str, terms: &str, case_sensitive: bool) {
        compiler.text_search(expression, terms, case_sensitive);
    }

    /// Both sides must be stored alike (text with text, numbers with numbers): PostgreSQL
    /// refuses to compare across types.
    fn select_comparable(key_type: &FieldType, field_type: &FieldType) -> bool {
        same_storage(key_type, field_type)
    }

    fn polygon_contains(compiler: &mut Compiler<'_, Postgres>, column: &str, latitude: f64, longitude: f64) {
        compiler.push_fmt(format_args!("basalt_in_polygon({column} -> 'coordinates', "));
        compiler.param(PgParam::Real(latitude));
        compiler.push(", ");
        compiler.param(PgParam::Real(longitude));
        compiler.push(")");
    }

    fn array_constraint(compiler: &mut Compiler<'_, Postgres>, column: &str, constraint: &Constraint, access: &Access) {
        compiler.array_constraint(column, constraint, access);
    }

    fn geo_constraint(compiler: &mut Compiler<'_, Postgres>, column: &str, constraint: &Constraint) {
        compiler.geo_constraint(column, constraint);
    }

    fn json_path_constraint(
        compiler: &mut Compiler<'_, Postgres>,
        column: &str,
        sub_keys: &[String],
        constraint: &Constraint,
    ) {
        compiler.json_path_constraint(column, sub_keys, constraint);
    }

    /// Unset values sort first ascending and last descending, as in SQLite (and Parse).
    fn order_term(column: &str, sub_keys: &[String], descending: bool) -> String {
        let direction = if descending { "DESC NULLS LAST" } else { "ASC NULLS FIRST" };
        if sub_keys.is_empty() {
            format!("{column} {direction}")
        } else {
            // Strings by bytes after every other value (as SQLite orders `json_extract`: numbers
            // before text), whatever the database's collation; the rest in jsonb's order.
            let value = format!("({column} #> '{}')", json_path(sub_keys));
            format!(
                "CASE WHEN jsonb_typeof({value}) = 'string' THEN ({value} #>> '{{}}') COLLATE \"C\" END {direction}, \
                 {value} {direction}"
            )
        }
    }

    fn near_sphere_order(compiler: &mut Compiler<'_, Postgres>, column: &str, latitude: f64, longitude: f64) {
        compiler.push_fmt(format_args!(
            " ORDER BY basalt_distance(({column} ->> 'latitude')::float8, ({column} ->> 'longitude')::float8, "
        ));
        compiler.param(PgParam::Real(latitude));
        compiler.push(", ");
        compiler.param(PgParam::Real(longitude));
        compiler.push(")");
    }

    fn limit_offset(compiler: &mut Compiler<'_, Postgres>, limit: Option<usize>, skip: usize) {
        if let Some(limit) = limit {
            compiler.push(" LIMIT ");
            compiler.param(PgParam::Int(to_i64(limit)));
        }
        if skip > 0 {
            compiler.push(" OFFSET ");
            compiler.param(PgParam::Int(to_i64(skip)));
        }
    }
}

/// `TRUE`/`FALSE`.
fn truth(holds: bool) -> &'static str {
    if holds { "TRUE" } else { "FALSE" }
}

impl Compiler<'_, Postgres> {
    fn text_search(&mut self, expression: &str, terms: &str, case_sensitive: bool) {
        let words: Vec<&str> = terms.split_whitespace().collect();
        self.push("(");
        if words.is_empty() {
            self.push("TRUE");
        }
        for (index, word) in words.iter().enumerate() {
            if index > 0 {
                self.push(" AND ");
            }
            if case_sensitive {
                self.push_fmt(format_args!("strpos({expression}, "));
                self.text(word);
            } else {
                // Case folded in ASCII, as SQLite's lower() and the matcher fold it.
                self.push_fmt(format_args!("strpos(lower(({expression}) COLLATE \"C\"), lower("));
                self.text(word);
                self.push(" COLLATE \"C\")");
            }
            self.push(") > 0");
        }
        self.push(")");
    }

    /// `EXISTS (SELECT 1 FROM jsonb_array_elements(column) e(v) WHERE <element>)`.
    fn element_exists_where(&mut self, column: &str, element: impl FnOnce(&mut Self)) {
        self.push_fmt(format_args!("EXISTS (SELECT 1 FROM jsonb_array_elements({column}) e(v) WHERE "));
        element(self);
        self.push(")");
    }

    /// `e.v` equals one of the operands; false for none.
    fn element_matches_any(&mut self, operands: &[&Value]) {
        if operands.is_empty() {
            self.push("FALSE");
        }
        for (index, operand) in operands.iter().enumerate() {
            if index > 0 {
                self.push(" OR ");
            }
            self.push("e.v = ");
            self.param(PgParam::Json((*operand).clone()));
        }
    }

    fn element_exists(&mut self, column: &str, operands: &[&Value]) {
        self.element_exists_where(column, |compiler| compiler.element_matches_any(operands));
    }

    fn array_constraint(&mut self, column: &str, constraint: &Constraint, access: &Access) {
        match constraint {
            Constraint::Equals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NULL")),
            Constraint::Equals(Value::Array(items)) => {
                self.push_fmt(format_args!("{column} = "));
                self.param(PgParam::Json(Value::Array(items.clone())));
            }
            Constraint::Equals(value) => self.element_exists(column, &[value]),
            Constraint::NotEquals(value) if value.is_null() => self.push_fmt(format_args!("{column} IS NOT NULL")),
            // The negation of `Equals`: an array operand is compared with the whole array.
            Constraint::NotEquals(Value::Array(items)) => {
                self.push_fmt(format_args!("({column} IS NULL OR {column} <> "));
                self.param(PgParam::Json(Value::Array(items.clone())));
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
                self.push_fmt(format_args!("({column} IS NOT NULL"));
                for item in items {
                    self.push(" AND ");
                    match item {
                        AllItem::Value(value) => self.element_exists(column, &[value]),
                        AllItem::Regex(pattern) => self.element_exists_where(column, |compiler| {
                            compiler.element_regex(&pattern.pattern);
                        }),
                    }
                }
                self.push(")");
            }
            Constraint::ContainedBy(values) => {
                let operands: Vec<&Value> = values.iter().collect();
                self.push_fmt(format_args!("({column} IS NULL OR NOT "));
                self.element_exists_where(column, |compiler| {
                    compiler.push("NOT (");
                    compiler.element_matches_any(&operands);
                    compiler.push(")");
                });
                self.push(")");
            }
            Constraint::Exists(exists) => {
                self.push_fmt(format_args!("{column} IS {}NULL", if *exists { "NOT " } else { "" }))
            }
            Constraint::Compare(comparison, value) => {
                let Some((json_type, operand)) = comparable_json(value) else {
                    self.push("FALSE");
                    return;
                };
                self.element_exists_where(column, |compiler| {
                    compiler.json_compare("e.v", json_type, comparison_sql(*comparison), operand);
                });
            }
            Constraint::Regex(pattern) => {
                self.element_exists_where(column, |compiler| compiler.element_regex(&pattern.pattern));
            }
            Constraint::InQuery { query, negated } => {
                if *negated {
                    self.push_fmt(format_args!("({column} IS NULL OR NOT "));
                }
                if self.selects_nothing(query, "objectId") {
                    self.push(Postgres::FALSE);
                } else {
                    self.element_exists_where(column, |compiler| {
                        compiler.push("e.v ->> 'className' = ");
                        compiler.text(query.class_name.as_str());
                        compiler.push(" AND e.v ->> 'objectId' IN (");
                        compiler.sub_query(query, "objectId", access, None, false);
                        compiler.push(")");
                    });
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
                    self.push(Postgres::FALSE);
                } else {
                    self.element_exists_where(column, |compiler| {
                        compiler.push("e.v IN (");
                        compiler.sub_query(query, key, access, Some("to_jsonb"), false);
                        compiler.push(")");
                    });
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
            | Constraint::PolygonContains { .. } => self.push("FALSE"),
        }
    }

    /// `e.v` is a string matching the pattern.
    fn element_regex(&mut self, pattern: &str) {
        self.push("jsonb_typeof(e.v) = 'string' AND ((e.v #>> '{}') COLLATE basalt_regex) ~ ");
        self.text(&regex_for_postgres(pattern));
    }

    /// Compares a `jsonb` value with an operand of one JSON type: NULL (no match) when the value
    /// has another type. `CASE`, because PostgreSQL may evaluate either side of an `AND` first
    /// and a cast of the wrong type fails.
    fn json_compare(&mut self, value: &str, json_type: &str, operator: &str, operand: PgParam) {
        // Strings compare by bytes (`COLLATE "C"`), as the text columns, SQLite and the matcher do,
        // whatever the database's default collation.
        let cast = if json_type == "number" {
            format!("({value})::float8")
        } else {
            format!("(({value} #>> '{{}}') COLLATE \"C\")")
        };
        self.push_fmt(format_args!("CASE WHEN jsonb_typeof({value}) = '{json_type}' THEN {cast} {operator} "));
        self.param(operand);
        self.push(" END");
    }

    fn geo_constraint(&mut self, column: &str, constraint: &Constraint) {
        let latitude = format!("({column} ->> 'latitude')::float8");
        let longitude = format!("({column} ->> 'longitude')::float8");
        match constraint {
            Constraint::NearSphere { latitude: center_lat, longitude: center_lng, max_radians } => {
                self.push_fmt(format_args!("{column} IS NOT NULL"));
                if let Some(max_radians) = max_radians {
                    self.push_fmt(format_args!(" AND basalt_distance({latitude}, {longitude}, "));
                    self.param(PgParam::Real(*center_lat));
                    self.push(", ");
                    self.param(PgParam::Real(*center_lng));
                    self.push(") <= ");
                    self.param(PgParam::Real(*max_radians));
                }
            }
            Constraint::WithinCircle { latitude: center_lat, longitude: center_lng, radius_radians } => {
                self.push_fmt(format_args!("({column} IS NOT NULL AND basalt_distance({latitude}, {longitude}, "));
                self.param(PgParam::Real(*center_lat));
                self.push(", ");
                self.param(PgParam::Real(*center_lng));
                self.push(") <= ");
                self.param(PgParam::Real(*radius_radians));
                self.push(")");
            }
            Constraint::WithinBox { south, west, north, east } => {
                self.push_fmt(format_args!("({latitude} BETWEEN "));
                self.param(PgParam::Real(*south));
                self.push(" AND ");
                self.param(PgParam::Real(*north));
                self.push_fmt(format_args!(" AND {longitude} BETWEEN "));
                self.param(PgParam::Real(*west));
                self.push(" AND ");
                self.param(PgParam::Real(*east));
                self.push(")");
            }
            Constraint::WithinPolygon(points) => {
                let polygon = Value::Array(points.iter().map(|(lat, lng)| serde_json::json!([lat, lng])).collect());
                self.push_fmt(format_args!("({column} IS NOT NULL AND basalt_in_polygon("));
                self.param(PgParam::Json(polygon));
                self.push_fmt(format_args!(", {latitude}, {longitude}))"));
            }
            other => self.scalar_constraint(column, &FieldType::GeoPoint, other, &Access::Master),
        }
    }

    /// Constraints on a path inside an Object field (`column #> '{a,b}'`, a `jsonb` value that is
    /// NULL where the path leads nowhere).
    fn json_path_constraint(&mut self, column: &str, sub_keys: &[String], constraint: &Constraint) {
        let value = format!("({column} #> '{}')", json_path(sub_keys));
        let value_type = format!("jsonb_typeof{value}");
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
                    self.push("FALSE");
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
                if let Some(iso) = date_iso(operand) {
                    self.push_fmt(format_args!(
                        "(({column} #>> '{}') COLLATE \"C\") {} ",
                        date_path(sub_keys),
                        comparison_sql(*comparison)
                    ));
                    self.text(iso);
                    return;
                }
                let Some((json_type, operand)) = comparable_json(operand) else {
                    self.push("FALSE");
                    return;
                };
                self.json_compare(&value, json_type, comparison_sql(*comparison), operand);
            }
            Constraint::Regex(pattern) => {
                self.push_fmt(format_args!(
                    "({value_type} = 'string' AND (({column} #>> '{}') COLLATE basalt_regex) ~ ",
                    json_path(sub_keys)
                ));
                self.text(&regex_for_postgres(&pattern.pattern));
                self.push(")");
            }
            Constraint::Text { terms, case_sensitive } => {
                self.push_fmt(format_args!("({value_type} = 'string' AND "));
                self.text_search(&format!("({column} #>> '{}')", json_path(sub_keys)), terms, *case_sensitive);
                self.push(")");
            }
            _ => self.push("FALSE"),
        }
    }

    fn json_path_equals(&mut self, column: &str, sub_keys: &[String], operand: &Value) {
        if let Some(iso) = date_iso(operand) {
            self.push_fmt(format_args!("({column} #>> '{}') = ", date_path(sub_keys)));
            self.text(iso);
            return;
        }
        let value = format!("({column} #> '{}')", json_path(sub_keys));
        if operand.is_null() {
            // A path that leads nowhere is null too (`$in`/`$nin` with null, as `Equals(null)`).
            self.push_fmt(format_args!("(jsonb_typeof{value} IS NULL OR jsonb_typeof{value} = 'null')"));
            return;
        }
        self.push_fmt(format_args!("{value} = "));
        self.param(PgParam::Json(operand.clone()));
    }
}

/// Are two field types stored in columns of the same SQL type?
fn same_storage(left: &FieldType, right: &FieldType) -> bool {
    fn kind(field_type: &FieldType) -> u8 {
        match field_type {
            FieldType::Number => 0,
            FieldType::Boolean => 1,
            FieldType::Object | FieldType::Array | FieldType::GeoPoint | FieldType::Polygon => 2,
            _ => 3,
        }
    }
    kind(left) == kind(right)
}

/// The JSON type and bound value an ordering comparison on JSON uses (numbers and strings only).
fn comparable_json(operand: &Value) -> Option<(&'static str, PgParam)> {
    match operand {
        Value::Number(number) => Some(("number", PgParam::Real(number.as_f64().unwrap_or(f64::NAN)))),
        Value::String(text) => Some(("string", PgParam::Text(text.clone()))),
        _ => None,
    }
}

/// The `iso` of a Date operant (`{"__type":"Date","iso":…}`).
fn date_iso(operand: &Value) -> Option<&str> {
    let object = operand.as_object()?;
    if object.get("__type").and_then(Value::as_str) != Some("Date") {
        return None;
    }
    Some(object.get("iso").and_then(Value::as_str).unwrap_or_default())
}

/// A `text[]` path literal (`a,b`, inside `'{…}'`) from checked keys, so it can be inlined.
fn json_path(keys: &[String]) -> String {
    let mut path = String::from("{");
    for (index, key) in keys.iter().enumerate() {
        if index > 0 {
            path.push(',');
        }
        push_path_key(&mut path, key);
    }
    path.push('}');
    path
}

/// The path of a Date's `iso` under `keys`.
fn date_path(keys: &[String]) -> String {
    let mut keys = keys.to_vec();
    keys.push("iso".to_owned());
    json_path(&keys)
}

/// A pattern of the Rust `regex` crate (what `$regex` was translated to and checked as) in
/// PostgreSQL's advanced regular expressions. The syntax is shared but for a few escapes and the
/// flags: Rust's `.` never matches a newline unless `s` is set, and `^`/`$` match at lines only
/// with `m`; ARE spells these as its `p`, `n` and `w` options. A pattern PostgreSQL still cannot
/// read fails the query with 102 (see `postgres::error`).
pub(crate) fn regex_for_postgres(pattern: &str) -> String {
    let (flags, body) = match pattern.strip_prefix("(?") {
        Some(rest) => match rest.find(')') {
            Some(end) if rest[..end].chars().all(|c| "imsx".contains(c)) && end > 0 => (&rest[..end], &rest[end + 1..]),
            _ => ("", pattern),
        },
        None => ("", pattern),
    };
    let dot_all = flags.contains('s');
    let multi_line = flags.contains('m');
    let mut options = String::new();
    options.push(match (dot_all, multi_line) {
        (false, false) => 'p',
        (false, true) => 'n',
        (true, true) => 'w',
        (true, false) => 's',
    });
    if flags.contains('i') {
        options.push('i');
    }
    if flags.contains('x') {
        options.push('x');
    }
    let mut out = format!("(?{options})");
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("\\y"),
            Some('B') => out.push_str("\\Y"),
            Some('z') => out.push_str("\\Z"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
