//! `/aggregate/:className`, master key only: `distinct` and a pipeline of
//! `$match $group $sort $limit $skip $project $count $unwind`. The first `$match` (and `where`)
//! runs in SQL; the remaining stages run in memory over the matched objects, which is fine for
//! the dashboards and reports that use this route and keeps one query compiler.

use std::cmp::Ordering;
use std::collections::HashMap;

use basalt_core::value::canonical_text;
use basalt_core::{ClassName, ParseError, ParseResult};
use serde_json::{Map, Value};

use crate::Engine;

fn invalid(message: impl Into<String>) -> ParseError {
    ParseError::invalid_query(message)
}

/// Reads a field reference: `"$a.b"` → the value at `a.b` (`_id` reads `objectId`).
fn resolve(document: &Value, reference: &str) -> Value {
    let path = reference.trim_start_matches('$');
    let mut current = document;
    for (index, part) in path.split('.').enumerate() {
        let part = if index == 0 && part == "_id" { "objectId" } else { part };
        match current.get(part) {
            Some(next) => current = next,
            None => return Value::Null,
        }
    }
    // Dates compare by their ISO text.
    if let Some(iso) = current.get("iso").and_then(Value::as_str)
        && current.get("__type").and_then(Value::as_str) == Some("Date")
    {
        return Value::String(iso.to_owned());
    }
    current.clone()
}

fn evaluate(document: &Value, expression: &Value) -> Value {
    match expression {
        Value::String(reference) if reference.starts_with('$') => resolve(document, reference),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(key, inner)| (key.clone(), evaluate(document, inner))).collect())
        }
        other => other.clone(),
    }
}

fn compare(left: &Value, right: &Value) -> Ordering {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => {
            left.as_f64().unwrap_or(0.0).partial_cmp(&right.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Value::String(left), Value::String(right)) => left.cmp(right),
        (Value::Bool(left), Value::Bool(right)) => left.cmp(right),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => canonical_text(left).cmp(&canonical_text(right)),
    }
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64()
}

/// A small matcher for `$match` stages that follow a `$group` (plain equality and the
/// comparison operators on computed fields).
fn matches(document: &Value, condition: &Value) -> ParseResult<bool> {
    let Some(condition) = condition.as_object() else { return Err(invalid("$match must be an object")) };
    for (key, expected) in condition {
        let actual = resolve(document, key);
        let holds = match expected {
            Value::Object(operators) if operators.keys().all(|key| key.starts_with('$')) => {
                let mut all = true;
                for (operator, operand) in operators {
                    let ordering = compare(&actual, operand);
                    all &= match operator.as_str() {
                        "$eq" => ordering == Ordering::Equal,
                        "$ne" => ordering != Ordering::Equal,
                        "$lt" => !actual.is_null() && ordering == Ordering::Less,
                        "$lte" => !actual.is_null() && ordering != Ordering::Greater,
                        "$gt" => !actual.is_null() && ordering == Ordering::Greater,
                        "$gte" => !actual.is_null() && ordering != Ordering::Less,
                        "$in" => operand
                            .as_array()
                            .is_some_and(|list| list.iter().any(|item| compare(&actual, item) == Ordering::Equal)),
                        "$nin" => !operand
                            .as_array()
                            .is_some_and(|list| list.iter().any(|item| compare(&actual, item) == Ordering::Equal)),
                        "$exists" => operand.as_bool() == Some(!actual.is_null()),
                        other => return Err(invalid(format!("bad $match operator: {other}"))),
                    };
                }
                all
            }
            other => compare(&actual, other) == Ordering::Equal,
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn group(documents: Vec<Value>, spec: &Value) -> ParseResult<Vec<Value>> {
    let spec = spec.as_object().ok_or_else(|| invalid("$group must be an object"))?;
    if spec.contains_key("objectId") {
        return Err(invalid("Cannot use 'objectId' in aggregation stage $group; use _id."));
    }
    let id_expression = spec.get("_id").ok_or_else(|| invalid("Missing _id in $group"))?;
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, (Value, Vec<Value>)> = HashMap::new();
    for document in documents {
        let id = evaluate(&document, id_expression);
        let key = canonical_text(&id);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_insert_with(|| (id, Vec::new())).1.push(document);
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let Some((id, members)) = groups.remove(&key) else { continue };
        let mut result = Map::new();
        result.insert("objectId".into(), id);
        for (name, accumulator) in spec {
            if name == "_id" {
                continue;
            }
            let accumulator = accumulator
                .as_object()
                .filter(|a| a.len() == 1)
                .ok_or_else(|| invalid(format!("bad accumulator for {name}")))?;
            let (operator, expression) = accumulator.iter().next().expect("one key");
            let values: Vec<Value> = members.iter().map(|member| evaluate(member, expression)).collect();
            let numbers: Vec<f64> = values.iter().filter_map(number).collect();
            let value = match operator.as_str() {
                "$sum" => basalt_core::value::canonical_number(numbers.iter().sum()),
                "$avg" if numbers.is_empty() => Value::Null,
                "$avg" => basalt_core::value::canonical_number(numbers.iter().sum::<f64>() / numbers.len() as f64),
                "$min" => {
                    values.iter().filter(|v| !v.is_null()).min_by(|a, b| compare(a, b)).cloned().unwrap_or(Value::Null)
                }
                "$max" => {
                    values.iter().filter(|v| !v.is_null()).max_by(|a, b| compare(a, b)).cloned().unwrap_or(Value::Null)
                }
                "$count" => Value::from(members.len()),
                "$first" => values.first().cloned().unwrap_or(Value::Null),
                "$last" => values.last().cloned().unwrap_or(Value::Null),
                "$push" => Value::Array(values),
                "$addToSet" => {
                    let mut seen = Vec::new();
                    for value in values {
                        if !seen.iter().any(|existing| existing == &value) {
                            seen.push(value);
                        }
                    }
                    Value::Array(seen)
                }
                other => return Err(invalid(format!("Invalid accumulator {other} in $group."))),
            };
            result.insert(name.clone(), value);
        }
        out.push(Value::Object(result));
    }
    Ok(out)
}

fn sort(documents: &mut [Value], spec: &Value) -> ParseResult<()> {
    let keys = spec.as_object().ok_or_else(|| invalid("$sort must be an object"))?;
    let keys: Vec<(String, bool)> = keys
        .iter()
        .map(|(key, direction)| match direction.as_i64() {
            Some(1) => Ok((key.clone(), false)),
            Some(-1) => Ok((key.clone(), true)),
            _ => Err(invalid(format!("$sort direction for {key} must be 1 or -1"))),
        })
        .collect::<ParseResult<_>>()?;
    documents.sort_by(|left, right| {
        for (key, descending) in &keys {
            let ordering = compare(&resolve(left, key), &resolve(right, key));
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

fn project(documents: Vec<Value>, spec: &Value) -> ParseResult<Vec<Value>> {
    let spec = spec.as_object().ok_or_else(|| invalid("$project must be an object"))?;
    let including =
        spec.values().any(|value| value == &Value::from(1) || value == &Value::Bool(true) || value.is_string());
    Ok(documents
        .into_iter()
        .map(|document| {
            let Value::Object(fields) = &document else { return document };
            let mut out = Map::new();
            if including {
                if let Some(id) = fields.get("objectId") {
                    out.insert("objectId".into(), id.clone());
                }
                for (name, rule) in spec {
                    match rule {
                        Value::String(reference) if reference.starts_with('$') => {
                            out.insert(name.clone(), resolve(&document, reference));
                        }
                        Value::Number(_) | Value::Bool(_) if rule == &Value::from(1) || rule == &Value::Bool(true) => {
                            if let Some(value) = fields.get(name) {
                                out.insert(name.clone(), value.clone());
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                out = fields.clone();
                for name in spec.keys() {
                    out.remove(name);
                }
            }
            Value::Object(out)
        })
        .collect())
}

fn count_of(value: &Value, what: &str) -> ParseResult<usize> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| invalid(format!("{what} must be a non-negative integer")))
}

fn stages(pipeline: &Value) -> ParseResult<Vec<(String, Value)>> {
    let pipeline = match pipeline {
        Value::String(text) => {
            serde_json::from_str(text).map_err(|_| ParseError::invalid_json("pipeline is not valid JSON"))?
        }
        other => other.clone(),
    };
    let raw: Vec<Value> = match pipeline {
        Value::Array(stages) => stages,
        Value::Object(stages) => {
            stages.into_iter().map(|(key, value)| Value::Object(Map::from_iter([(key, value)]))).collect()
        }
        _ => return Err(invalid("pipeline must be an array of stages")),
    };
    raw.into_iter()
        .map(|stage| {
            let stage = stage.as_object().ok_or_else(|| invalid("each pipeline stage must be an object"))?;
            if stage.len() != 1 {
                let keys: Vec<&str> = stage.keys().map(String::as_str).collect();
                return Err(invalid(format!("Pipeline stages should only have one key found {}", keys.join(", "))));
            }
            let (name, argument) = stage.iter().next().expect("one key");
            if !name.starts_with('$') {
                return Err(invalid(format!("Invalid aggregate stage '{name}'.")));
            }
            Ok((name.clone(), argument.clone()))
        })
        .collect()
}

impl Engine {
    /// `GET /aggregate/:className` with `distinct` or `pipeline` (and optional `where`).
    ///
    /// # Errors
    /// 102 for malformed pipelines or unknown stages.
    pub async fn aggregate(
        &self,
        caller: &crate::Caller,
        class_name: &ClassName,
        params: &Map<String, Value>,
    ) -> ParseResult<Value> {
        caller.require_master()?;
        let class_name = class_name.clone();
        let mut where_json = match params.get("where") {
            Some(Value::String(text)) => {
                serde_json::from_str(text).map_err(|_| ParseError::invalid_json("where parameter is not valid JSON"))?
            }
            Some(other) => other.clone(),
            None => Value::Null,
        };
        for key in params.keys() {
            if !matches!(
                key.as_str(),
                "where"
                    | "distinct"
                    | "pipeline"
                    | "hint"
                    | "explain"
                    | "comment"
                    | "readPreference"
                    | "rawValues"
                    | "rawFieldNames"
            ) {
                return Err(invalid(format!("Invalid parameter for query: {key}")));
            }
        }
        if let Some(field) = params.get("distinct") {
            let field = field.as_str().ok_or_else(|| invalid("distinct must be a field name"))?;
            let documents = self.find_all_records(&class_name, &where_json).await?;
            let mut seen = std::collections::HashSet::new();
            let mut results = Vec::new();
            for document in documents {
                let value = match document.get(field.split('.').next().unwrap_or_default()) {
                    Some(_) => resolve(&document, field),
                    None => continue,
                };
                let values = match value {
                    Value::Array(items) => items,
                    Value::Null => continue,
                    other => vec![other],
                };
                for value in values {
                    if seen.insert(canonical_text(&value)) {
                        results.push(value);
                    }
                }
            }
            return Ok(serde_json::json!({ "results": results }));
        }
        let mut stages = stages(params.get("pipeline").unwrap_or(&Value::Array(Vec::new())))?;
        if let Some((name, _)) = stages.first()
            && name == "$match"
        {
            let (_, condition) = stages.remove(0);
            where_json = match where_json {
                Value::Null => condition,
                existing => serde_json::json!({ "$and": [existing, condition] }),
            };
        }
        let mut documents = self.find_all_records(&class_name, &where_json).await?;
        for (name, argument) in stages {
            documents = match name.as_str() {
                "$match" => {
                    let mut kept = Vec::new();
                    for document in documents {
                        if matches(&document, &argument)? {
                            kept.push(document);
                        }
                    }
                    kept
                }
                "$group" => group(documents, &argument)?,
                "$sort" => {
                    sort(&mut documents, &argument)?;
                    documents
                }
                "$limit" => documents.into_iter().take(count_of(&argument, "$limit")?).collect(),
                "$skip" => documents.into_iter().skip(count_of(&argument, "$skip")?).collect(),
                "$project" => project(documents, &argument)?,
                "$count" => {
                    let name = argument.as_str().ok_or_else(|| invalid("$count must be a field name"))?;
                    vec![serde_json::json!({ name: documents.len() })]
                }
                "$unwind" => {
                    let reference = match &argument {
                        Value::String(reference) => reference.clone(),
                        Value::Object(spec) => spec.get("path").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        _ => return Err(invalid("$unwind must be a field path")),
                    };
                    let field = reference.trim_start_matches('$').to_owned();
                    let mut out = Vec::new();
                    for document in documents {
                        if let Some(Value::Array(items)) = document.get(&field) {
                            for item in items.clone() {
                                let mut copy = document.clone();
                                if let Some(object) = copy.as_object_mut() {
                                    object.insert(field.clone(), item);
                                }
                                out.push(copy);
                            }
                        }
                    }
                    out
                }
                other => return Err(invalid(format!("Invalid aggregate stage '{other}'."))),
            };
        }
        Ok(serde_json::json!({ "results": documents }))
    }
}
