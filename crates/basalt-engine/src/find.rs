//! Queries: reading Parse's query parameters, running the query with the caller's rights,
//! and shaping results — `keys`, `excludeKeys`, `include` (pointers replaced by the objects they
//! point to, fetched with the same rights), `count`, `redirectClassNameForKey`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use basalt_core::clp::ClpOperation;
use basalt_core::query::{Condition, Constraint, FieldPath, QueryParser, parse_keys, parse_order};
use basalt_core::value::pointer_parts;
use basalt_core::{ClassName, ClassSchema, ErrorCode, FieldType, ParseError, ParseResult};
use basalt_store::{FindQuery, ObjectRecord, StoreError, StoreErrorKind};
use serde_json::{Map, Value};

use crate::gate::{Depth, Gated, ReadRequest};
use crate::output::object_json;
use crate::permissions::check_class_access;
use crate::{Caller, Engine};

/// The parameters of `GET /classes/:className`, checked.
#[derive(Clone, Debug, Default)]
pub struct FindParams {
    pub where_json: Value,
    pub order: Option<String>,
    pub limit: Option<usize>,
    pub skip: usize,
    pub keys: Option<String>,
    pub exclude_keys: Option<String>,
    pub include: Option<String>,
    pub include_all: bool,
    pub count: bool,
    pub redirect_class_name_for_key: Option<String>,
}

/// The parameters of `GET /classes/:className/:objectId`.
#[derive(Clone, Debug, Default)]
pub struct GetParams {
    pub keys: Option<String>,
    pub exclude_keys: Option<String>,
    pub include: Option<String>,
}

/// Results of a find, with the total when `count` was asked.
#[derive(Clone, Debug, Default)]
pub struct FindResult {
    pub results: Vec<Value>,
    pub count: Option<u64>,
}

fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty() && text != "0" && text != "false",
        Value::Null => false,
        _ => true,
    }
}

fn string_param(name: &str, value: &Value) -> ParseResult<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Array(items) => Ok(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
        _ => Err(ParseError::invalid_query(format!("{name} must be a string"))),
    }
}

fn count_param(name: &str, value: &Value) -> ParseResult<Option<i64>> {
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        Value::Null => return Ok(None),
        _ => None,
    };
    match number {
        Some(number) if number.is_finite() && number.fract() == 0.0 => Ok(Some(number as i64)),
        _ => Err(ParseError::invalid_query(format!("{name} must be an integer"))),
    }
}

impl crate::Engine {
    /// Reads the parameters of a find with this server's default and maximum `limit`.
    ///
    /// # Errors
    /// As `FindParams::from_params`.
    pub fn find_params(&self, params: &Map<String, Value>) -> ParseResult<FindParams> {
        FindParams::from_params(params, self.limits().find_limit_default, self.limits().find_limit_max)
    }
}

impl FindParams {
    /// Reads the parameters of a find (query-string values already JSON-decoded).
    ///
    /// # Errors
    /// 102 "Invalid parameter for query: X" for unknown keys; 102 for malformed values; 107 for a
    /// `where` string that is not JSON.
    pub fn from_params(params: &Map<String, Value>, limit_default: usize, limit_max: usize) -> ParseResult<FindParams> {
        let mut find = FindParams { limit: Some(limit_default), ..FindParams::default() };
        for (key, value) in params {
            match key.as_str() {
                "where" => {
                    find.where_json = match value {
                        Value::String(text) => serde_json::from_str(text)
                            .map_err(|_| ParseError::invalid_json("where parameter is not valid JSON"))?,
                        other => other.clone(),
                    }
                }
                "order" => find.order = Some(string_param(key, value)?),
                "limit" => {
                    find.limit = match count_param(key, value)? {
                        None => Some(limit_default),
                        Some(limit) if limit < 0 => Some(limit_default),
                        Some(limit) => {
                            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                            if limit > limit_max {
                                return Err(ParseError::invalid_query(format!(
                                    "limit {limit} is above the maximum of {limit_max}; page with skip or order by objectId"
                                )));
                            }
                            Some(limit)
                        }
                    }
                }
                "skip" => {
                    find.skip = match count_param(key, value)? {
                        None => 0,
                        Some(skip) if skip < 0 => {
                            return Err(ParseError::invalid_query("skip must be a non-negative integer"));
                        }
                        Some(skip) => usize::try_from(skip).unwrap_or(usize::MAX),
                    }
                }
                "keys" => find.keys = Some(string_param(key, value)?),
                "excludeKeys" => find.exclude_keys = Some(string_param(key, value)?),
                "include" => find.include = Some(string_param(key, value)?),
                "includeAll" => find.include_all = is_truthy(value),
                "count" => find.count = is_truthy(value),
                "redirectClassNameForKey" => find.redirect_class_name_for_key = Some(string_param(key, value)?),
                "readPreference"
                | "includeReadPreference"
                | "subqueryReadPreference"
                | "hint"
                | "comment"
                | "explain" => {}
                other => return Err(ParseError::invalid_query(format!("Invalid parameter for query: {other}"))),
            }
        }
        Ok(find)
    }
}

impl FindParams {
    /// The parameters back in REST form (what `beforeFind` sees and may change).
    pub fn to_params(&self) -> Map<String, Value> {
        let mut params = Map::new();
        params.insert(
            "where".into(),
            if self.where_json.is_null() { Value::Object(Map::new()) } else { self.where_json.clone() },
        );
        if let Some(order) = &self.order {
            params.insert("order".into(), Value::String(order.clone()));
        }
        if let Some(limit) = self.limit {
            params.insert("limit".into(), Value::from(limit));
        }
        if self.skip > 0 {
            params.insert("skip".into(), Value::from(self.skip));
        }
        for (name, value) in [("keys", &self.keys), ("excludeKeys", &self.exclude_keys), ("include", &self.include)] {
            if let Some(value) = value {
                params.insert(name.into(), Value::String(value.clone()));
            }
        }
        if self.count {
            params.insert("count".into(), Value::from(1));
        }
        params
    }
}

impl GetParams {
    /// # Errors
    /// 102 "Improper encode of parameter" for anything but keys/include/excludeKeys.
    pub fn from_params(params: &Map<String, Value>) -> ParseResult<GetParams> {
        let mut get = GetParams::default();
        for (key, value) in params {
            match key.as_str() {
                "keys" => get.keys = Some(string_param(key, value)?),
                "excludeKeys" => get.exclude_keys = Some(string_param(key, value)?),
                "include" => get.include = Some(string_param(key, value)?),
                "readPreference" | "includeReadPreference" | "subqueryReadPreference" => {}
                _ => return Err(ParseError::invalid_query("Improper encode of parameter")),
            }
        }
        Ok(get)
    }
}

/// What to return of each object: the projection and the include paths it implies.
struct Shape {
    /// Top-level fields to read; `None` = all.
    fields: Option<Vec<String>>,
    /// Dotted keys projecting inside included objects: include path -> keys.
    nested_keys: HashMap<String, Vec<String>>,
    exclude: Vec<String>,
    nested_exclude: HashMap<String, Vec<String>>,
    /// Include paths, shortest first.
    includes: Vec<Vec<String>>,
    include_all: bool,
}

const ALWAYS_SELECTED: &[&str] = &["objectId", "createdAt", "updatedAt", "ACL"];

fn shape_of(
    limits: &basalt_core::Limits,
    keys: Option<&str>,
    exclude_keys: Option<&str>,
    include: Option<&str>,
    include_all: bool,
) -> ParseResult<Shape> {
    let mut include_paths: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut include_all = include_all;
    let add_include = |path: &str, include_paths: &mut BTreeSet<Vec<String>>| {
        let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
        for end in 1..=parts.len() {
            include_paths.insert(parts[..end].to_vec());
        }
    };
    for path in include.map(parse_keys).unwrap_or_default() {
        if path == "*" {
            include_all = true;
        } else {
            add_include(&path, &mut include_paths);
        }
    }
    let mut fields = None;
    let mut nested_keys: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(keys) = keys {
        let mut top = Vec::new();
        for key in parse_keys(keys) {
            match key.rsplit_once('.') {
                Some((parent, leaf)) => {
                    add_include(parent, &mut include_paths);
                    nested_keys.entry(parent.to_owned()).or_default().push(leaf.to_owned());
                    top.push(key.split('.').next().unwrap_or_default().to_owned());
                }
                None => top.push(key),
            }
        }
        fields = Some(top);
    }
    let mut exclude = Vec::new();
    let mut nested_exclude: HashMap<String, Vec<String>> = HashMap::new();
    for key in exclude_keys.map(parse_keys).unwrap_or_default() {
        match key.rsplit_once('.') {
            Some((parent, leaf)) => {
                add_include(parent, &mut include_paths);
                nested_exclude.entry(parent.to_owned()).or_default().push(leaf.to_owned());
            }
            None => exclude.push(key),
        }
    }
    let mut includes: Vec<Vec<String>> = include_paths.into_iter().collect();
    includes.sort_by_key(Vec::len);
    if includes.iter().any(|path| path.len() > limits.include_depth_max) {
        return Err(ParseError::invalid_query(format!(
            "include paths may have at most {} levels",
            limits.include_depth_max
        )));
    }
    Ok(Shape { fields, nested_keys, exclude, nested_exclude, includes, include_all })
}

fn project(object: &mut Map<String, Value>, keys: Option<&[String]>, exclude: &[String]) {
    if let Some(keys) = keys {
        object.retain(|key, value| {
            ALWAYS_SELECTED.contains(&key.as_str())
                || matches!(key.as_str(), "__type" | "className")
                || keys.iter().any(|wanted| wanted == key)
                || value.get("__type").and_then(Value::as_str) == Some("Relation")
        });
    }
    for key in exclude {
        if !ALWAYS_SELECTED.contains(&key.as_str()) {
            object.remove(key);
        }
    }
}

/// The pointers at `path` in `value` (walking through included objects and arrays).
fn collect_pointers(value: &Value, path: &[String], found: &mut Vec<(String, String)>) {
    let Some((first, rest)) = path.split_first() else { return };
    let Some(child) = value.get(first) else { return };
    let items: Vec<&Value> = match child {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for item in items {
        if rest.is_empty() {
            if item.get("__type").and_then(Value::as_str) == Some("Pointer")
                && let Some((class_name, object_id)) = pointer_parts(item)
            {
                found.push((class_name.to_owned(), object_id.to_owned()));
            }
        } else if item.get("__type").and_then(Value::as_str) == Some("Object") {
            collect_pointers(item, rest, found);
        }
    }
}

/// Replaces the pointers at `path` with their fetched objects; unreadable ones are dropped.
fn replace_pointers(value: &mut Value, path: &[String], fetched: &HashMap<(String, String), Value>) {
    let Some((first, rest)) = path.split_first() else { return };
    let Some(object) = value.as_object_mut() else { return };
    let Some(child) = object.get_mut(first) else { return };
    let resolve = |item: &Value| -> Option<Option<Value>> {
        if item.get("__type").and_then(Value::as_str) != Some("Pointer") {
            return None;
        }
        let (class_name, object_id) = pointer_parts(item)?;
        Some(fetched.get(&(class_name.to_owned(), object_id.to_owned())).cloned())
    };
    if rest.is_empty() {
        match child {
            Value::Array(items) => {
                // Parse compat: an unreadable or deleted element is dropped from the array.
                let mut kept = Vec::with_capacity(items.len());
                for item in items.drain(..) {
                    match resolve(&item) {
                        None => kept.push(item),
                        Some(Some(target)) => kept.push(target),
                        Some(None) => {}
                    }
                }
                *items = kept;
            }
            other => match resolve(other) {
                None => {}
                Some(Some(target)) => *other = target,
                // Parse compat: a pointer to a deleted or unreadable object is dropped, as
                // Parse Server 9.10 does.
                Some(None) => {
                    object.remove(first);
                }
            },
        }
        return;
    }
    match child {
        Value::Array(items) => items.iter_mut().for_each(|item| replace_pointers(item, rest, fetched)),
        other => replace_pointers(other, rest, fetched),
    }
}

impl Engine {
    fn check_readable_class(&self, caller: &Caller, class_name: &ClassName) -> ParseResult<bool> {
        check_class_access(caller, class_name, "find")?;
        if self.schemas().get(class_name).is_some() {
            return Ok(true);
        }
        // Parse compat: a missing class is an empty result for the master key or when clients
        // may create classes, and 119 otherwise, as Parse Server 9.10 answers.
        if caller.is_master || self.config().allow_client_class_creation {
            return Ok(false);
        }
        Err(ParseError::forbidden(format!("This user is not allowed to access non-existent class: {class_name}")))
    }

    /// `GET /classes/:className`.
    ///
    /// # Errors
    /// 102/105/107 for malformed queries; 119 for a missing class (clients) or a master-only one.
    pub async fn find_objects(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        params: &FindParams,
    ) -> ParseResult<FindResult> {
        self.refresh_if_stale(class_name).await?;
        self.find_objects_triggered(caller, class_name, params, false).await
    }

    async fn find_objects_triggered(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        params: &FindParams,
        is_get: bool,
    ) -> ParseResult<FindResult> {
        let before = self.before_find(caller, class_name.as_str(), params, is_get).await?;
        let params = before.as_ref().unwrap_or(params);
        let found = self.find_objects_untriggered(caller, class_name, params).await?;
        let results = self.after_find(caller, class_name.as_str(), found.results).await?;
        Ok(FindResult { results, count: found.count })
    }

    async fn find_objects_untriggered(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        params: &FindParams,
    ) -> ParseResult<FindResult> {
        let mut class_name = class_name.clone();
        if !self.check_readable_class(caller, &class_name)? {
            return Ok(FindResult { results: Vec::new(), count: params.count.then_some(0) });
        }
        let parser = QueryParser { limits: self.limits(), now: self.now() };
        let condition = parser.parse_where(&params.where_json)?;
        let mut redirected_to = None;
        if let Some(key) = &params.redirect_class_name_for_key {
            let schema = self.schemas().get(&class_name).ok_or_else(ParseError::object_not_found)?;
            match schema.field_type(key) {
                Some(FieldType::Relation(target)) => {
                    class_name = target.clone();
                    redirected_to = Some(target.clone());
                    if self.schemas().get(&class_name).is_none() {
                        return Ok(FindResult { results: Vec::new(), count: params.count.then_some(0) });
                    }
                }
                _ => return Ok(FindResult { results: Vec::new(), count: params.count.then_some(0) }),
            }
        }
        let shape = shape_of(
            self.limits(),
            params.keys.as_deref(),
            params.exclude_keys.as_deref(),
            params.include.as_deref(),
            params.include_all,
        )?;
        let order = match &params.order {
            Some(order) => parse_order(order)?,
            None => Vec::new(),
        };
        let schema = self.schemas().get(&class_name).ok_or_else(ParseError::object_not_found)?;
        // Parse compat: a query on exactly one objectId is a "get" for class-level permissions
        // (the SDKs' `query.get` sends it that way).
        let is_get = params.where_json.as_object().is_some_and(|where_json| {
            where_json.len() == 1 && where_json.get("objectId").is_some_and(Value::is_string)
        });
        let operation = if is_get { ClpOperation::Get } else { ClpOperation::Find };
        let request = ReadRequest {
            schema: &schema,
            condition,
            order,
            limit: params.limit,
            skip: params.skip,
            fields: shape.fields.clone(),
            operation,
            depth: Depth::TopLevel,
        };
        let query = self.gate_read(caller, request).await?;
        let count = if params.count {
            let counted = self.gate_count(caller, &schema, &query)?;
            Some(self.count_records(&counted).await?)
        } else {
            None
        };
        let mut results =
            if params.limit == Some(0) { Vec::new() } else { self.run_find(caller, query, &shape).await? };
        if let Some(target) = redirected_to {
            // Parse compat: with redirectClassNameForKey each result carries the target class
            // name (observed on Parse Server 9.10); the SDKs read it from there.
            for result in &mut results {
                if let Some(object) = result.as_object_mut() {
                    object.insert("className".into(), Value::String(target.to_string()));
                }
            }
        }
        Ok(FindResult { results, count })
    }

    /// `GET /classes/:className/:objectId`.
    ///
    /// # Errors
    /// 101 when the object is missing or not readable by the caller.
    pub async fn get_object(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        object_id: &str,
        params: &GetParams,
    ) -> ParseResult<Value> {
        self.refresh_if_stale(class_name).await?;
        if self.has_find_triggers(class_name.as_str()) {
            // Parse compat: beforeFind/afterFind run for a get too (`request.isGet`).
            let find = FindParams {
                where_json: serde_json::json!({ "objectId": object_id }),
                limit: Some(1),
                keys: params.keys.clone(),
                exclude_keys: params.exclude_keys.clone(),
                include: params.include.clone(),
                ..FindParams::default()
            };
            let mut found = self.find_objects_triggered(caller, class_name, &find, true).await?;
            return found.results.pop().ok_or_else(ParseError::object_not_found);
        }
        let class_name = class_name.clone();
        check_class_access(caller, &class_name, "get")?;
        if self.schemas().get(&class_name).is_none() {
            if caller.is_master || self.config().allow_client_class_creation {
                return Err(ParseError::object_not_found());
            }
            return Err(ParseError::forbidden(format!(
                "This user is not allowed to access non-existent class: {class_name}"
            )));
        }
        let shape = shape_of(
            self.limits(),
            params.keys.as_deref(),
            params.exclude_keys.as_deref(),
            params.include.as_deref(),
            false,
        )?;
        let schema = self.schemas().get(&class_name).ok_or_else(ParseError::object_not_found)?;
        let by_id = Condition::Field {
            path: FieldPath { field: "objectId".into(), sub_keys: Vec::new() },
            constraint: Constraint::Equals(Value::String(object_id.to_owned())),
        };
        let request = ReadRequest {
            schema: &schema,
            condition: by_id,
            order: Vec::new(),
            limit: Some(1),
            skip: 0,
            fields: shape.fields.clone(),
            operation: ClpOperation::Get,
            depth: Depth::TopLevel,
        };
        let query = self.gate_read(caller, request).await?;
        let mut results = self.run_find(caller, query, &shape).await?;
        let mut object = results.pop().ok_or_else(ParseError::object_not_found)?;
        // Parse compat: reading your own user by id returns your session token too.
        if schema.class_name.as_str() == "_User"
            && caller.user_id.as_deref() == Some(object_id)
            && let (Some(token), Some(object)) = (&caller.session_token, object.as_object_mut())
        {
            object.insert("sessionToken".into(), Value::String(token.clone()));
        }
        Ok(object)
    }

    /// Removes what the caller may not see of an object: protected fields, and for users other
    /// than the caller their `authData`.
    pub(crate) fn hide_from_caller(
        &self,
        caller: &Caller,
        schema: &ClassSchema,
        hidden: &BTreeSet<String>,
        object: &mut Map<String, Value>,
    ) {
        if caller.is_master {
            return;
        }
        if schema.class_name.as_str() == "_User" {
            let own =
                object.get("objectId").and_then(Value::as_str) == caller.user_id.as_deref() && caller.user_id.is_some();
            if own {
                return;
            }
            object.remove("authData");
        }
        for field in hidden {
            object.remove(field);
        }
    }

    /// Runs a query against the schemas as they are, with the class's schema the records were
    /// read with (`None` when the class does not exist).
    ///
    /// A field is added to the cached schema before a row holding it is written, so a read that
    /// finds the class's schema unchanged after it ran cannot have met such a row. A read that
    /// overlapped a change (its SQL compiled before a new field existed, run after a row with the
    /// field was written) would return that row without the field: it is run again. A change
    /// made on another node the store reports (`SchemaChanged`: the stored version, read with
    /// the rows, is not the one compiled against); the schemas are reloaded first.
    pub(crate) async fn find_records(
        &self,
        gated: &Gated,
    ) -> ParseResult<Option<(Arc<ClassSchema>, Vec<ObjectRecord>)>> {
        let query = gated.query();
        // Bounded: a schema changing on every attempt still gets an answer (or the error). A
        // class gaining a field with every write, on a loaded machine, has outrun five (seen once
        // on PostgreSQL while two test suites ran at once); each attempt costs one query.
        const ATTEMPTS: usize = 20;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let snapshot = self.schemas().snapshot();
            let Some(schema) = snapshot.get(&query.class_name).cloned() else { return Ok(None) };
            let records = match self.store().find(snapshot, query).await {
                Ok(records) => records,
                Err(StoreError::Driver { kind: StoreErrorKind::SchemaChanged, .. }) if attempt < ATTEMPTS => {
                    self.reload_schemas().await?;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let unchanged = self.schemas().get(&query.class_name).is_some_and(|now| Arc::ptr_eq(&now, &schema));
            if unchanged || attempt == ATTEMPTS {
                return Ok(Some((schema, records)));
            }
        }
    }

    /// The number of objects a gated query matches.
    pub(crate) async fn count_records(&self, gated: &Gated) -> ParseResult<u64> {
        self.store().count(self.schemas().snapshot(), gated.query().clone()).await.map_err(ParseError::from)
    }

    async fn run_find(&self, caller: &Caller, query: Gated, shape: &Shape) -> ParseResult<Vec<Value>> {
        let (schema, records) = self.find_records(&query).await?.ok_or_else(ParseError::object_not_found)?;
        let prefix = &self.config().files_url_prefix;
        let hidden = self.protected_fields(caller, &schema);
        let mut results: Vec<Value> = records
            .into_iter()
            .map(|record| {
                let mut object = object_json(&schema, record, prefix);
                self.hide_from_caller(caller, &schema, &hidden, &mut object);
                project(&mut object, shape.fields.as_deref(), &shape.exclude);
                Value::Object(object)
            })
            .collect();
        let mut includes = shape.includes.clone();
        if shape.include_all {
            for (name, spec) in &schema.fields {
                if matches!(spec.field_type, FieldType::Pointer(_) | FieldType::Array)
                    && !includes.contains(&vec![name.to_string()])
                {
                    includes.insert(0, vec![name.to_string()]);
                }
            }
        }
        if includes.len() > self.limits().include_count_max {
            return Err(ParseError::invalid_query(format!(
                "a query may include at most {} paths",
                self.limits().include_count_max
            )));
        }
        includes.sort_by_key(Vec::len);
        for path in &includes {
            self.include_path(caller, &mut results, path, shape).await?;
        }
        Ok(results)
    }

    async fn include_path(
        &self,
        caller: &Caller,
        results: &mut [Value],
        path: &[String],
        shape: &Shape,
    ) -> ParseResult<()> {
        let mut pointers = Vec::new();
        for result in results.iter() {
            collect_pointers(result, path, &mut pointers);
        }
        if pointers.is_empty() {
            return Ok(());
        }
        let mut by_class: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (class_name, object_id) in pointers {
            by_class.entry(class_name).or_default().insert(object_id);
        }
        let path_key = path.join(".");
        let nested_keys = shape.nested_keys.get(&path_key).map(Vec::as_slice);
        let nested_exclude = shape.nested_exclude.get(&path_key).cloned().unwrap_or_default();
        let mut fetched: HashMap<(String, String), Value> = HashMap::new();
        for (class_name, ids) in by_class {
            let Ok(class_name) = ClassName::parse(&class_name) else { continue };
            let Some(schema) = self.schemas().get(&class_name) else { continue };
            // A class whose permissions refuse the caller fails the whole query (Parse compat).
            // Parse compat: includes need "get" on the target class, not "find".
            let hidden = self.protected_fields(caller, &schema);
            let ids: Vec<Value> = ids.into_iter().map(Value::String).collect();
            for chunk in ids.chunks(self.limits().query_list_max) {
                let request = ReadRequest {
                    schema: &schema,
                    condition: Condition::Field {
                        path: FieldPath { field: "objectId".into(), sub_keys: Vec::new() },
                        constraint: Constraint::In(chunk.to_vec()),
                    },
                    order: Vec::new(),
                    limit: None,
                    skip: 0,
                    fields: None,
                    operation: ClpOperation::Get,
                    depth: Depth::Nested,
                };
                let query = self.gate_read(caller, request).await?;
                let Some((schema, records)) = self.find_records(&query).await? else { continue };
                for record in records {
                    let object_id = record.object_id.clone();
                    let mut object = object_json(&schema, record, &self.config().files_url_prefix);
                    self.hide_from_caller(caller, &schema, &hidden, &mut object);
                    project(&mut object, nested_keys, &nested_exclude);
                    object.insert("__type".into(), Value::String("Object".into()));
                    object.insert("className".into(), Value::String(class_name.to_string()));
                    fetched.insert((class_name.to_string(), object_id), Value::Object(object));
                }
            }
        }
        for result in results.iter_mut() {
            replace_pointers(result, path, &fetched);
        }
        Ok(())
    }

    /// All objects matching `where`, for aggregation, up to `Limits::aggregate_input_objects_max`
    /// (the store stops one past it; more is 102). Master key only.
    pub(crate) async fn find_all_records(&self, class_name: &ClassName, where_json: &Value) -> ParseResult<Vec<Value>> {
        if self.schemas().get(class_name).is_none() {
            return Ok(Vec::new());
        }
        let parser = QueryParser { limits: self.limits(), now: self.now() };
        let condition = parser.parse_where(where_json)?;
        let input_max = self.limits().aggregate_input_objects_max;
        let query = Gated::system(FindQuery {
            class_name: class_name.clone(),
            condition,
            order: Vec::new(),
            limit: Some(input_max.saturating_add(1)),
            skip: 0,
            fields: None,
            access: basalt_core::acl::Access::Master,
        });
        let shape = shape_of(self.limits(), None, None, None, false)?;
        let results = self.run_find(&Caller::master(), query, &shape).await?;
        if results.len() > input_max {
            return Err(ParseError::new(
                ErrorCode::InvalidQuery,
                format!("An aggregation may read at most {input_max} objects; narrow it with $match."),
            ));
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests;
