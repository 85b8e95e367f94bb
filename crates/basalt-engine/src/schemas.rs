//! The schema API (`/schemas`, `/purge`): master key only — the server checks
//! the key, the engine checks the request.

use basalt_core::schema::{default_class_level_permissions, is_default_field};
use basalt_core::{ClassName, ClassSchema, ErrorCode, FieldName, FieldSpec, FieldType, ParseError, ParseResult};
use basalt_store::SchemaChange;
use serde_json::{Map, Value};

use crate::{Caller, Engine};

const CLP_OPERATIONS: &[&str] = &["find", "count", "get", "create", "update", "delete", "addField"];

/// Is `entity` a key class-level permissions may grant: `*`, a user id, `role:<name>`,
/// `requiresAuthentication`?
fn valid_clp_entity(entity: &str) -> bool {
    entity == "*"
        || entity == "requiresAuthentication"
        || entity.strip_prefix("role:").is_some_and(|name| !name.is_empty())
        || (!entity.is_empty() && entity.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Checks class-level permissions JSON and fills in what Parse Server fills in: operations not
/// given become `{}` (master only), as Parse Server 9.10 does. Pointer permissions must name
/// `Pointer<_User>` or Array fields of `schema`.
fn check_class_level_permissions(permissions: &Value, schema: &ClassSchema) -> ParseResult<Value> {
    let invalid = |message: String| ParseError::invalid_json(message);
    let object = permissions.as_object().ok_or_else(|| invalid("classLevelPermissions must be an object".into()))?;
    let check_pointer_fields = |key: &str, fields: &Value| -> ParseResult<()> {
        let fields = fields.as_array().ok_or_else(|| invalid(format!("this perms[{key}] is not a valid array")))?;
        for field in fields {
            let name = field.as_str().ok_or_else(|| invalid(format!("this perms[{key}] is not a valid array")))?;
            let usable = match schema.field_type(name) {
                Some(FieldType::Pointer(target)) => target.as_str() == "_User",
                Some(FieldType::Array) => true,
                _ => false,
            };
            if !usable {
                return Err(invalid(format!(
                    "'{name}' is not a valid column for class level pointer permissions {key}"
                )));
            }
        }
        Ok(())
    };
    let mut out = Map::new();
    for (operation, rule) in object {
        match operation.as_str() {
            op if CLP_OPERATIONS.contains(&op) => {
                let rule = rule.as_object().ok_or_else(|| invalid(format!("{op} must be an object")))?;
                for (entity, granted) in rule {
                    if entity == "pointerFields" {
                        check_pointer_fields(entity, granted)?;
                        continue;
                    }
                    if !valid_clp_entity(entity) {
                        return Err(invalid(format!("'{entity}' is not a valid key for class level permissions")));
                    }
                    if granted != &Value::Bool(true) {
                        return Err(invalid(format!(
                            "'{granted}' is not a valid value for class level permissions {op}:{entity}:{granted}"
                        )));
                    }
                }
            }
            "readUserFields" | "writeUserFields" => check_pointer_fields(operation, rule)?,
            "protectedFields" => {
                let valid = rule.as_object().is_some_and(|entities| {
                    entities.values().all(|fields| fields.as_array().is_some_and(|f| f.iter().all(Value::is_string)))
                });
                if !valid {
                    return Err(invalid("protectedFields must map entities to arrays of field names".into()));
                }
                // Parse compat: a default field cannot be hidden (every read names `objectId`).
                let listed = rule.as_object().into_iter().flat_map(|entities| entities.values());
                for field in listed.filter_map(Value::as_array).flatten().filter_map(Value::as_str) {
                    if matches!(field, "objectId" | "createdAt" | "updatedAt" | "ACL") {
                        return Err(invalid(format!("Default field '{field}' can not be protected")));
                    }
                }
            }
            "ACL" => {
                basalt_core::acl::Acl::from_json(rule)?;
            }
            other => return Err(invalid(format!("{other} is not a valid operation for class level permissions"))),
        }
        out.insert(operation.clone(), rule.clone());
    }
    for operation in CLP_OPERATIONS {
        out.entry(*operation).or_insert_with(|| Value::Object(Map::new()));
    }
    out.entry("protectedFields").or_insert_with(|| Value::Object(Map::new()));
    Ok(Value::Object(out))
}

fn index_fields(index_name: &str, spec: &Value) -> ParseResult<Vec<(FieldName, Value)>> {
    if index_name.is_empty()
        || !index_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || index_name == "_id_"
    {
        return Err(ParseError::invalid_query(format!("Invalid index name: {index_name}")));
    }
    let fields = spec.as_object().filter(|fields| !fields.is_empty()).ok_or_else(|| {
        ParseError::invalid_query(format!("Index {index_name} must be an object of field: 1 | -1 | \"text\""))
    })?;
    let mut out = Vec::new();
    for (field, direction) in fields {
        let valid = direction == &Value::from(1) || direction == &Value::from(-1) || direction == "text";
        if !valid {
            return Err(ParseError::invalid_query(format!(
                "Index {index_name} must be an object of field: 1 | -1 | \"text\""
            )));
        }
        out.push((FieldName::parse(field)?, direction.clone()));
    }
    Ok(out)
}

fn class_missing(class_name: &ClassName) -> ParseError {
    ParseError::new(ErrorCode::InvalidClassName, format!("Class {class_name} does not exist."))
}

impl Engine {
    /// `GET /schemas`.
    pub async fn all_schemas(&self, caller: &Caller) -> ParseResult<Value> {
        caller.require_master()?;
        self.refresh_all_if_clustered().await?;
        let snapshot = self.schemas().snapshot();
        let mut schemas: Vec<_> = snapshot.values().collect();
        schemas.sort_by(|left, right| left.class_name.cmp(&right.class_name));
        let results: Vec<Value> = schemas.into_iter().map(|schema| schema.to_json()).collect();
        Ok(serde_json::json!({ "results": results }))
    }

    /// `GET /schemas/:className`.
    ///
    /// # Errors
    /// 103 when the class does not exist.
    pub async fn class_schema(&self, caller: &Caller, class_name: &ClassName) -> ParseResult<Value> {
        caller.require_master()?;
        self.refresh_if_stale(class_name).await?;
        let class_name = class_name.clone();
        let schema = self.schemas().get(&class_name).ok_or_else(|| class_missing(&class_name))?;
        Ok(schema.to_json())
    }

    /// `POST /schemas[/:className]`.
    ///
    /// # Errors
    /// 135 without a class name; 103 for a bad name, a mismatch or an existing class; 105/111 for
    /// bad fields; 107 for bad class-level permissions.
    pub async fn create_schema(
        &self,
        caller: &Caller,
        path_class: Option<&str>,
        body: &Map<String, Value>,
    ) -> ParseResult<Value> {
        caller.require_master()?;
        if let Some(Ok(class_name)) =
            path_class.or_else(|| body.get("className").and_then(Value::as_str)).map(ClassName::parse)
        {
            self.refresh_if_stale(&class_name).await?;
        }
        let body_class = body.get("className").and_then(Value::as_str);
        let class_name = match (path_class, body_class) {
            (Some(path), Some(given)) if path != given => {
                return Err(ParseError::new(
                    ErrorCode::InvalidClassName,
                    format!("Class name mismatch between {given} and {path}."),
                ));
            }
            (Some(name), _) | (None, Some(name)) => ClassName::parse(name)?,
            (None, None) => {
                return Err(ParseError::new(ErrorCode::MissingRequiredField, "POST /schemas needs a class name."));
            }
        };
        if self.schemas().get(&class_name).is_some() {
            return Err(ParseError::new(ErrorCode::InvalidClassName, format!("Class {class_name} already exists.")));
        }
        let mut schema = ClassSchema::new(class_name.clone());
        if let Some(fields) = body.get("fields") {
            let fields = fields.as_object().ok_or_else(|| ParseError::invalid_json("fields must be an object"))?;
            for (name, spec) in fields {
                let field_name = FieldName::parse(name)?;
                let spec = FieldSpec::from_json(name, spec)?;
                if is_default_field(&class_name, name) {
                    continue;
                }
                if spec.field_type == FieldType::Acl {
                    return Err(ParseError::incorrect_type("invalid field type: ACL"));
                }
                if spec.field_type == basalt_core::FieldType::GeoPoint && schema.geo_point_field().is_some() {
                    return Err(ParseError::incorrect_type(
                        "currently, only one GeoPoint field may exist in an object.",
                    ));
                }
                schema.fields.insert(field_name, spec);
            }
        }
        crate::objects::check_field_count(&class_name, schema.fields.len(), self.limits().class_fields_max)?;
        schema.class_level_permissions = match body.get("classLevelPermissions") {
            Some(Value::Null) | None => default_class_level_permissions(),
            Some(permissions) => check_class_level_permissions(permissions, &schema)?,
        };
        if let Some(indexes) = body.get("indexes") {
            let indexes = indexes.as_object().ok_or_else(|| ParseError::invalid_json("indexes must be an object"))?;
            for (index_name, spec) in indexes {
                let fields = index_fields(index_name, spec)?;
                for (field, _) in &fields {
                    if schema.field(field.as_str()).is_none() {
                        return Err(ParseError::invalid_query(format!(
                            "Field {field} does not exist, cannot add index."
                        )));
                    }
                }
                schema.indexes.insert(index_name.clone(), spec.clone());
            }
        }
        let created = self.store().create_class(schema).await.map_err(ParseError::from)?;
        Ok(self.schemas().put(created).to_json())
    }

    /// `PUT /schemas/:className`.
    ///
    /// # Errors
    /// 103 missing class; 255 adding an existing field with another type or deleting a missing
    /// one; 136 touching a default field; 102 for index misuse.
    pub async fn update_schema(
        &self,
        caller: &Caller,
        class_name: &ClassName,
        body: &Map<String, Value>,
    ) -> ParseResult<Value> {
        caller.require_master()?;
        self.refresh_if_stale(class_name).await?;
        let class_name = class_name.clone();
        if let Some(given) = body.get("className").and_then(Value::as_str)
            && given != class_name.as_str()
        {
            return Err(ParseError::new(
                ErrorCode::InvalidClassName,
                format!("Class name mismatch between {given} and {class_name}."),
            ));
        }
        let schema = self.schemas().get(&class_name).ok_or_else(|| class_missing(&class_name))?;
        let mut change = SchemaChange::default();
        if let Some(fields) = body.get("fields") {
            let fields = fields.as_object().ok_or_else(|| ParseError::invalid_json("fields must be an object"))?;
            for (name, spec) in fields {
                let field_name = FieldName::parse(name)?;
                if spec.get("__op").and_then(Value::as_str) == Some("Delete") {
                    change.delete_fields.push(field_name);
                    continue;
                }
                let spec = FieldSpec::from_json(name, spec)?;
                if spec.field_type == FieldType::Acl {
                    return Err(ParseError::incorrect_type("invalid field type: ACL"));
                }
                match schema.field(name) {
                    // Parse compat: re-adding a field with the same type is a no-op.
                    Some(existing) if existing.field_type == spec.field_type => {}
                    Some(_) => {
                        return Err(ParseError::new(
                            ErrorCode::InvalidSchemaOperation,
                            format!("Field {name} exists, cannot update."),
                        ));
                    }
                    None => change.add_fields.push((field_name, spec)),
                }
            }
        }
        let field_count = (schema.fields.len() + change.add_fields.len()).saturating_sub(change.delete_fields.len());
        crate::objects::check_field_count(&class_name, field_count, self.limits().class_fields_max)?;
        if let Some(permissions) = body.get("classLevelPermissions")
            && !permissions.is_null()
        {
            let mut future = (*schema).clone();
            for (name, spec) in &change.add_fields {
                future.fields.insert(name.clone(), spec.clone());
            }
            change.class_level_permissions = Some(check_class_level_permissions(permissions, &future)?);
        }
        if let Some(indexes) = body.get("indexes") {
            let indexes = indexes.as_object().ok_or_else(|| ParseError::invalid_json("indexes must be an object"))?;
            for (index_name, spec) in indexes {
                if spec.get("__op").and_then(Value::as_str) == Some("Delete") {
                    change.delete_indexes.push(index_name.clone());
                    continue;
                }
                change.add_indexes.push((index_name.clone(), index_fields(index_name, spec)?));
            }
        }
        let updated = self.store().update_class(&class_name, change).await.map_err(ParseError::from)?;
        Ok(self.schemas().put(updated).to_json())
    }

    /// `DELETE /schemas/:className`: `{}`; a class that does not exist is not an error.
    ///
    /// # Errors
    /// 255 when the class still has objects.
    pub async fn delete_schema(&self, caller: &Caller, class_name: &ClassName) -> ParseResult<Value> {
        caller.require_master()?;
        self.refresh_if_stale(class_name).await?;
        let class_name = class_name.clone();
        self.store().delete_class(&class_name).await.map_err(ParseError::from)?;
        self.schemas().remove(&class_name);
        Ok(Value::Object(Map::new()))
    }

    /// `DELETE /purge/:className`: deletes every object, keeps the schema.
    pub async fn purge_class(&self, caller: &Caller, class_name: &ClassName) -> ParseResult<Value> {
        caller.require_master()?;
        self.refresh_if_stale(class_name).await?;
        let class_name = class_name.clone();
        self.store().purge_class(&class_name).await.map_err(ParseError::from)?;
        Ok(Value::Object(Map::new()))
    }
}

#[cfg(test)]
mod tests;
