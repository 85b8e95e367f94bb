//! Parses `where` JSON into a `Condition`, checking every key and operand on the way in, and the
//! `order` and `keys` parameters. Errors carry Parse Server's codes and messages.

use serde_json::{Map, Value};

use super::regex::translate_regex;
use super::{AllItem, Comparison, Condition, Constraint, FieldPath, OrderKey, RegexPattern, SubQuery};
use crate::error::{ErrorCode, ParseError, ParseResult};
use crate::limits::Limits;
use crate::names::ClassName;
use crate::time::{self, Millis};
use crate::value;

/// Parses queries under the server's limits. `now` resolves `$relativeTime`.
pub struct QueryParser<'a> {
    pub limits: &'a Limits,
    pub now: Millis,
}

/// Checks a query key (a field or a dotted path) and splits it.
fn parse_path(key: &str) -> ParseResult<FieldPath> {
    if key == "ACL" {
        return Err(ParseError::invalid_query("Cannot query on ACL."));
    }
    let mut chars = key.chars();
    let valid = matches!(chars.next(), Some(first) if first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !key.ends_with('.')
        && !key.contains("..");
    if !valid {
        return Err(ParseError::invalid_key_name(format!("Invalid key name: {key}")));
    }
    let mut parts = key.split('.').map(str::to_owned);
    let field = parts.next().unwrap_or_default();
    Ok(FieldPath { field, sub_keys: parts.collect() })
}

/// Parses `order` ("score,-name"). Unknown `$score` ordering (text search relevance) is dropped.
///
/// # Errors
/// 105 for an invalid key.
pub fn parse_order(order: &str) -> ParseResult<Vec<OrderKey>> {
    let mut keys = Vec::new();
    for raw in order.split(',').map(str::trim).filter(|raw| !raw.is_empty()) {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        if name == "$score" {
            continue;
        }
        let path = match name {
            "_created_at" => parse_path("createdAt")?,
            "_updated_at" => parse_path("updatedAt")?,
            other => parse_path(other)?,
        };
        keys.push(OrderKey { path, descending });
    }
    Ok(keys)
}

/// Splits a comma-separated `keys`/`excludeKeys`/`include` list, dropping blanks.
pub fn parse_keys(keys: &str) -> Vec<String> {
    keys.split(',').map(str::trim).filter(|key| !key.is_empty()).map(str::to_owned).collect()
}

fn as_array<'v>(value: &'v Value, message: &str) -> ParseResult<&'v Vec<Value>> {
    value.as_array().ok_or_else(|| ParseError::invalid_json(message))
}

impl QueryParser<'_> {
    /// Parses a `where` object.
    ///
    /// # Errors
    /// 102 for malformed logical operators and limits exceeded, 105 for invalid keys, 107 for
    /// unknown or malformed constraints, 111 for malformed typed values.
    pub fn parse_where(&self, where_json: &Value) -> ParseResult<Condition> {
        self.parse_condition(where_json, 0)
    }

    fn check_depth(&self, depth: usize) -> ParseResult<()> {
        if depth > self.limits.query_depth_max {
            return Err(ParseError::invalid_query(format!(
                "Query is nested too deeply: more than {} levels of $or/$and/$nor or sub-queries.",
                self.limits.query_depth_max
            )));
        }
        Ok(())
    }

    fn check_list(&self, length: usize, operator: &str) -> ParseResult<()> {
        if length > self.limits.query_list_max {
            return Err(ParseError::invalid_query(format!(
                "{operator} has {length} elements, more than the limit of {}.",
                self.limits.query_list_max
            )));
        }
        Ok(())
    }

    fn parse_condition(&self, where_json: &Value, depth: usize) -> ParseResult<Condition> {
        self.check_depth(depth)?;
        let object = match where_json {
            Value::Object(object) => object,
            Value::Null => return Ok(Condition::all()),
            _ => return Err(ParseError::invalid_json("where must be a JSON object")),
        };
        let mut parts = Vec::with_capacity(object.len());
        for (key, operand) in object {
            match key.as_str() {
                "$or" | "$and" | "$nor" => {
                    let message = format!("Bad {key} format - use an array value.");
                    let branches = operand.as_array().ok_or_else(|| ParseError::invalid_query(message.clone()))?;
                    if branches.is_empty() {
                        return Err(ParseError::invalid_query(format!(
                            "Bad {key} format - use an array of at least 1 value."
                        )));
                    }
                    self.check_list(branches.len(), key)?;
                    let branches = branches
                        .iter()
                        .map(|branch| self.parse_condition(branch, depth + 1))
                        .collect::<ParseResult<Vec<_>>>()?;
                    parts.push(match key.as_str() {
                        "$or" => Condition::Or(branches),
                        "$and" => Condition::And(branches),
                        _ => Condition::Nor(branches),
                    });
                }
                "$relatedTo" => parts.push(parse_related_to(operand)?),
                _ => {
                    let path = parse_path(key)?;
                    for constraint in self.parse_constraints(operand, depth)? {
                        parts.push(Condition::Field { path: path.clone(), constraint });
                    }
                }
            }
        }
        if parts.len() == 1 {
            return Ok(parts.pop().expect("one element"));
        }
        Ok(Condition::And(parts))
    }

    /// The constraints one key's operand stands for.
    fn parse_constraints(&self, operand: &Value, depth: usize) -> ParseResult<Vec<Constraint>> {
        let Value::Object(object) = operand else {
            return Ok(vec![Constraint::Equals(normalize_operand(operand)?)]);
        };
        let operator_count = object.keys().filter(|key| key.starts_with('$')).count();
        if operator_count == 0 || object.contains_key("__type") {
            return Ok(vec![Constraint::Equals(normalize_operand(operand)?)]);
        }
        if operator_count != object.len() {
            let plain = object.keys().find(|key| !key.starts_with('$')).cloned().unwrap_or_default();
            return Err(ParseError::invalid_json(format!("bad constraint: {plain}")));
        }
        let mut constraints = Vec::new();
        for (operator, argument) in object {
            let constraint = match operator.as_str() {
                "$eq" => Constraint::Equals(normalize_operand(argument)?),
                "$ne" => Constraint::NotEquals(normalize_operand(argument)?),
                "$lt" => Constraint::Compare(Comparison::Lt, self.comparison_operand(argument)?),
                "$lte" => Constraint::Compare(Comparison::Lte, self.comparison_operand(argument)?),
                "$gt" => Constraint::Compare(Comparison::Gt, self.comparison_operand(argument)?),
                "$gte" => Constraint::Compare(Comparison::Gte, self.comparison_operand(argument)?),
                "$in" => Constraint::In(self.value_list(argument, "bad $in value", "$in")?),
                "$nin" => Constraint::NotIn(self.value_list(argument, "bad $nin value", "$nin")?),
                "$containedBy" => Constraint::ContainedBy(self.value_list(
                    argument,
                    "bad $containedBy: should be an array",
                    "$containedBy",
                )?),
                "$all" => Constraint::All(self.parse_all(argument)?),
                // Parse compat: Parse Server reads `$exists` as truthy or falsy (1, "true", …).
                "$exists" => match argument {
                    Value::Bool(exists) => Constraint::Exists(*exists),
                    Value::Number(number) => Constraint::Exists(number.as_f64() != Some(0.0)),
                    Value::String(text) => Constraint::Exists(!text.is_empty()),
                    Value::Null => Constraint::Exists(false),
                    _ => return Err(ParseError::invalid_json("bad $exists")),
                },
                "$regex" => Constraint::Regex(self.parse_regex(argument, object.get("$options"))?),
                "$options" => {
                    if !object.contains_key("$regex") {
                        return Err(ParseError::invalid_json("bad constraint: $options"));
                    }
                    continue;
                }
                "$select" | "$dontSelect" => {
                    let (query, key) = self.parse_select(operator, argument, depth)?;
                    Constraint::Select { query, key, negated: operator == "$dontSelect" }
                }
                "$inQuery" | "$notInQuery" => {
                    let query = self.parse_sub_query(operator, argument, depth)?;
                    Constraint::InQuery { query, negated: operator == "$notInQuery" }
                }
                "$nearSphere" => {
                    let (latitude, longitude) = value::geo_point_parts(argument)?;
                    Constraint::NearSphere { latitude, longitude, max_radians: max_distance(object)? }
                }
                "$maxDistance" | "$maxDistanceInRadians" | "$maxDistanceInMiles" | "$maxDistanceInKilometers" => {
                    if !object.contains_key("$nearSphere") {
                        return Err(ParseError::invalid_json(format!("bad constraint: {operator}")));
                    }
                    continue;
                }
                "$within" => parse_within(argument)?,
                "$geoWithin" => parse_geo_within(argument)?,
                "$geoIntersects" => {
                    let point = argument.get("$point").ok_or_else(|| {
                        ParseError::invalid_json("bad $geoIntersect value; $point should be GeoPoint")
                    })?;
                    let (latitude, longitude) = value::geo_point_parts(point)?;
                    Constraint::PolygonContains { latitude, longitude }
                }
                "$text" => parse_text(argument)?,
                other => return Err(ParseError::invalid_json(format!("bad constraint: {other}"))),
            };
            constraints.push(constraint);
        }
        Ok(constraints)
    }

    fn comparison_operand(&self, argument: &Value) -> ParseResult<Value> {
        if let Some(relative) = argument.get("$relativeTime") {
            let text = relative.as_str().ok_or_else(|| ParseError::invalid_json("$relativeTime must be a string"))?;
            let millis = time::relative_time(text, self.now)?;
            return Ok(value::date_value(&time::format_iso(millis)));
        }
        normalize_operand(argument)
    }

    fn value_list(&self, argument: &Value, message: &str, operator: &str) -> ParseResult<Vec<Value>> {
        let items = as_array(argument, message)?;
        self.check_list(items.len(), operator)?;
        items.iter().map(normalize_operand).collect()
    }

    fn parse_all(&self, argument: &Value) -> ParseResult<Vec<AllItem>> {
        let items = as_array(argument, "bad $all value")?;
        self.check_list(items.len(), "$all")?;
        items
            .iter()
            .map(|item| match item.get("$regex") {
                Some(pattern) => Ok(AllItem::Regex(self.parse_regex(pattern, item.get("$options"))?)),
                None => Ok(AllItem::Value(normalize_operand(item)?)),
            })
            .collect()
    }

    fn parse_regex(&self, pattern: &Value, options: Option<&Value>) -> ParseResult<RegexPattern> {
        let pattern = pattern.as_str().ok_or_else(|| ParseError::invalid_query("$regex value must be a string"))?;
        if pattern.len() > self.limits.regex_bytes_max {
            return Err(ParseError::invalid_query(format!(
                "$regex is longer than the limit of {} bytes.",
                self.limits.regex_bytes_max
            )));
        }
        let options = match options {
            None => "",
            Some(Value::String(options)) => options.as_str(),
            Some(other) => return Err(ParseError::invalid_query(format!("Bad $options value for query: {other}"))),
        };
        translate_regex(pattern, options, crate::Limits::REGEX_COMPILED_BYTES_MAX)
    }

    fn parse_sub_query(&self, operator: &str, argument: &Value, depth: usize) -> ParseResult<SubQuery> {
        let improper = || ParseError::invalid_json(format!("improper usage of {operator}"));
        let class_name = argument.get("className").and_then(Value::as_str).ok_or_else(improper)?;
        let where_json = argument.get("where").ok_or_else(improper)?;
        let class_name = ClassName::parse(class_name)?;
        let condition = self.parse_condition(where_json, depth + 1)?;
        Ok(SubQuery { class_name, condition: Box::new(condition) })
    }

    fn parse_select(&self, operator: &str, argument: &Value, depth: usize) -> ParseResult<(SubQuery, String)> {
        let improper = || ParseError::invalid_json(format!("improper usage of {operator}"));
        let query = argument.get("query").ok_or_else(improper)?;
        let key = argument.get("key").and_then(Value::as_str).ok_or_else(improper)?;
        let key_path = parse_path(key)?;
        if !key_path.is_top_level() {
            return Err(improper());
        }
        Ok((self.parse_sub_query(operator, query, depth)?, key.to_owned()))
    }
}

/// Normalises an operand: Dates canonical, numbers canonical, pointers reduced to their parts.
fn normalize_operand(operand: &Value) -> ParseResult<Value> {
    match operand {
        Value::Object(object) if object.contains_key("__type") => value::normalize_nested(operand),
        Value::Object(_) | Value::Array(_) | Value::Number(_) => {
            value::normalize_nested(operand).or_else(|_| Ok(operand.clone()))
        }
        other => Ok(other.clone()),
    }
}

fn parse_related_to(operand: &Value) -> ParseResult<Condition> {
    let improper = || ParseError::invalid_json("improper usage of $relatedTo");
    let object = operand.get("object").ok_or_else(improper)?;
    let key = operand.get("key").and_then(Value::as_str).ok_or_else(improper)?;
    let (class_name, object_id) = value::pointer_parts(object).ok_or_else(improper)?;
    Ok(Condition::RelatedTo {
        owner_class: ClassName::parse(class_name)?,
        owner_id: object_id.to_owned(),
        key: parse_path(key)?.field,
    })
}

/// Earth's radius as Parse Server uses it for unit conversions.
const EARTH_RADIUS_MILES: f64 = 3958.8;
const EARTH_RADIUS_KILOMETERS: f64 = 6371.0;

fn max_distance(object: &Map<String, Value>) -> ParseResult<Option<f64>> {
    let read = |key: &str, divisor: f64| -> ParseResult<Option<f64>> {
        match object.get(key) {
            None => Ok(None),
            Some(Value::Number(number)) => Ok(number.as_f64().map(|n| n / divisor)),
            Some(_) => Err(ParseError::invalid_json(format!("bad {key} value"))),
        }
    };
    Ok(read("$maxDistance", 1.0)?
        .or(read("$maxDistanceInRadians", 1.0)?)
        .or(read("$maxDistanceInMiles", EARTH_RADIUS_MILES)?)
        .or(read("$maxDistanceInKilometers", EARTH_RADIUS_KILOMETERS)?))
}

fn parse_within(argument: &Value) -> ParseResult<Constraint> {
    let bad = || ParseError::invalid_json("bad $within $box value");
    let corners = argument.get("$box").and_then(Value::as_array).ok_or_else(bad)?;
    if corners.len() != 2 {
        return Err(bad());
    }
    let (south, west) = value::geo_point_parts(&corners[0])?;
    let (north, east) = value::geo_point_parts(&corners[1])?;
    if south > north {
        return Err(ParseError::invalid_json("GeoBox has its south-west corner north of its north-east corner."));
    }
    if west > east {
        return Err(ParseError::invalid_json("GeoBox crosses the 180° meridian, which is not supported."));
    }
    Ok(Constraint::WithinBox { south, west, north, east })
}

/// A point given as a GeoPoint or as `[latitude, longitude]` (polygons) / `[longitude, latitude]`
/// (`$centerSphere`, Mongo's order) — `lng_first` says which.
fn point_of(value: &Value, lng_first: bool) -> ParseResult<(f64, f64)> {
    if let Some(pair) = value.as_array() {
        let first = pair.first().and_then(Value::as_f64);
        let second = pair.get(1).and_then(Value::as_f64);
        let (Some(first), Some(second)) = (first, second) else {
            return Err(ParseError::invalid_json("bad $geoWithin value; points must be pairs of numbers"));
        };
        let (latitude, longitude) = if lng_first { (second, first) } else { (first, second) };
        return value::geo_point_parts(&serde_json::json!({"latitude": latitude, "longitude": longitude}));
    }
    value::geo_point_parts(value)
}

fn parse_geo_within(argument: &Value) -> ParseResult<Constraint> {
    if let Some(polygon) = argument.get("$polygon") {
        let points: Vec<(f64, f64)> = match polygon {
            Value::Array(points) => points.iter().map(|point| point_of(point, false)).collect::<ParseResult<_>>()?,
            Value::Object(_) => value::polygon_points(polygon)?,
            _ => {
                return Err(ParseError::invalid_json(
                    "bad $geoWithin value; $polygon should be Polygon object or Array of Parse.GeoPoint's",
                ));
            }
        };
        if points.len() < 3 {
            return Err(ParseError::invalid_json("bad $geoWithin value; Polygon must have at least 3 values"));
        }
        return Ok(Constraint::WithinPolygon(points));
    }
    if let Some(center_sphere) = argument.get("$centerSphere") {
        let bad = || {
            ParseError::invalid_json(
                "bad $geoWithin value; $centerSphere should be an array of Parse.GeoPoint and distance",
            )
        };
        let parts = center_sphere.as_array().ok_or_else(bad)?;
        if parts.len() != 2 {
            return Err(bad());
        }
        let (latitude, longitude) = point_of(&parts[0], true)?;
        let radius_radians = parts[1].as_f64().filter(|radius| *radius >= 0.0).ok_or_else(bad)?;
        return Ok(Constraint::WithinCircle { latitude, longitude, radius_radians });
    }
    Err(ParseError::invalid_json("bad $geoWithin value; $polygon or $centerSphere required"))
}

fn parse_text(argument: &Value) -> ParseResult<Constraint> {
    let search =
        argument.get("$search").ok_or_else(|| ParseError::invalid_json("bad $text: $search, should be object"))?;
    let terms = search
        .get("$term")
        .and_then(Value::as_str)
        .ok_or_else(|| ParseError::invalid_json("bad $text: $term, should be string"))?;
    let case_sensitive = match search.get("$caseSensitive") {
        None => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(ParseError::invalid_json("bad $text: $caseSensitive, should be boolean")),
    };
    if terms.trim().is_empty() {
        return Err(ParseError::new(ErrorCode::InvalidJson, "bad $text: $term, should be a non-empty string"));
    }
    Ok(Constraint::Text { terms: terms.to_owned(), case_sensitive })
}

#[cfg(test)]
mod tests;
