//! What every adapter decides the same way, kept out of the adapters: how a class schema is
//! stored (`_SCHEMA` documents), which storage steps a schema change takes and which changes are
//! refused (`SchemaStep`), and how update operators change an object read for writing
//! (`apply_updates`). Each adapter turns the steps into its own DDL and runs them inside its own
//! transaction.

use std::collections::BTreeMap;

use basalt_core::schema::is_default_field;
use basalt_core::update::{UpdateOp, apply_op};
use basalt_core::{ClassName, ClassSchema, ErrorCode, FieldName, FieldSpec, FieldType, Limits, ParseError};
use serde_json::{Map, Value};

use crate::error::StoreResult;
use crate::{FieldUpdate, SchemaChange};

/// The `_SCHEMA` document of a class (fields, class-level permissions, indexes).
pub(crate) fn schema_to_stored(schema: &ClassSchema) -> Value {
    let fields: Map<String, Value> =
        schema.fields.iter().map(|(name, spec)| (name.to_string(), spec.to_json())).collect();
    let indexes: Map<String, Value> = schema.indexes.iter().map(|(name, spec)| (name.clone(), spec.clone())).collect();
    serde_json::json!({
        "fields": fields,
        "classLevelPermissions": schema.class_level_permissions,
        "indexes": indexes,
        "version": schema.version,
    })
}

/// The schema a `_SCHEMA` document describes.
pub(crate) fn schema_from_stored(class_name: &str, document: &Value) -> StoreResult<ClassSchema> {
    let class_name = ClassName::parse_stored(class_name)?;
    let mut schema = ClassSchema::new(class_name);
    if let Some(fields) = document.get("fields").and_then(Value::as_object) {
        for (name, spec) in fields {
            schema.fields.insert(FieldName::parse_stored(name)?, FieldSpec::from_json(name, spec)?);
        }
    }
    if let Some(permissions) = document.get("classLevelPermissions") {
        schema.class_level_permissions = permissions.clone();
    }
    if let Some(indexes) = document.get("indexes").and_then(Value::as_object) {
        schema.indexes = indexes.iter().map(|(name, spec)| (name.clone(), spec.clone())).collect::<BTreeMap<_, _>>();
    }
    schema.version = document.get("version").and_then(Value::as_u64).unwrap_or(0);
    Ok(schema)
}

/// One change to a class's storage.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SchemaStep {
    /// The class table with its system columns.
    CreateTable,
    /// The internal columns and unique indexes of a system class (`_User`, `_Session`, `_Role`),
    /// once its fields exist.
    SystemStorage,
    /// A column for a field that is neither a Relation nor a system column.
    AddColumn {
        field: FieldName,
        field_type: FieldType,
    },
    /// The join table of a Relation field.
    CreateJoinTable {
        field: FieldName,
    },
    DropColumn {
        field: FieldName,
    },
    DropJoinTable {
        field: FieldName,
    },
    /// An index on columns, each ascending (`false`) or descending (`true`).
    CreateIndex {
        name: String,
        columns: Vec<(String, bool)>,
    },
    DropIndex {
        name: String,
    },
}

/// Is `field` one of the columns every class table has?
fn is_system_column(field: &str) -> bool {
    matches!(field, "objectId" | "createdAt" | "updatedAt" | "ACL")
}

/// The storage a field needs, if any.
///
/// # Errors
/// 105 when a Relation's join table would need a name longer than `Limits::NAME_BYTES_MAX`.
fn storage_step(class_name: &ClassName, field: &FieldName, field_type: &FieldType) -> StoreResult<Option<SchemaStep>> {
    Ok(match field_type {
        FieldType::Relation(_) => {
            // The longest name a join table brings is its index's, `_Join:<field>:<class>:related`.
            let index_name = format!("{}:related", crate::sql::join_table(field.as_str(), class_name.as_str()));
            if index_name.len() > Limits::NAME_BYTES_MAX {
                return Err(ParseError::invalid_key_name(format!(
                    "Invalid field name: {field}. A Relation's field and class names can have at most {} characters together.",
                    Limits::NAME_BYTES_MAX - "_Join:::related".len()
                ))
                .into());
            }
            Some(SchemaStep::CreateJoinTable { field: field.clone() })
        }
        FieldType::Acl => None,
        _ if is_system_column(field.as_str()) => None,
        other => Some(SchemaStep::AddColumn { field: field.clone(), field_type: other.clone() }),
    })
}

/// The index step of an index spec (`{field: 1 | -1 | "text"}`); `None` for a text index,
/// which needs no storage (`$text` scans).
///
/// # Errors
/// 102 for a spec that is not an index; 105 when the index's name, `<class>:<index>`, would be
/// longer than `Limits::NAME_BYTES_MAX`.
fn index_step(class_name: &ClassName, index_name: &str, spec: &Value) -> StoreResult<Option<SchemaStep>> {
    let refused = || ParseError::invalid_query(format!("Index {index_name} must be an object of field: 1 | -1"));
    let Some(fields) = spec.as_object() else { return Err(refused().into()) };
    let mut columns = Vec::new();
    for (field, direction) in fields {
        match direction {
            Value::String(kind) if kind == "text" => return Ok(None),
            Value::Number(number) if number.as_i64() == Some(1) => columns.push((field.clone(), false)),
            Value::Number(number) if number.as_i64() == Some(-1) => columns.push((field.clone(), true)),
            _ => return Err(refused().into()),
        }
    }
    if class_name.as_str().len() + 1 + index_name.len() > Limits::NAME_BYTES_MAX {
        return Err(ParseError::invalid_key_name(format!(
            "Invalid index name: {index_name}. An index's and its class's names can have at most {} characters together.",
            Limits::NAME_BYTES_MAX - 1
        ))
        .into());
    }
    Ok(Some(SchemaStep::CreateIndex { name: index_name.to_owned(), columns }))
}

fn already_exists(class_name: &ClassName) -> ParseError {
    ParseError::new(ErrorCode::InvalidClassName, format!("Class {class_name} already exists."))
}

/// The steps that create `schema`'s class.
///
/// # Errors
/// 103 when the class already exists (`existing`).
pub(crate) fn plan_create(existing: Option<&ClassSchema>, schema: &ClassSchema) -> StoreResult<Vec<SchemaStep>> {
    if existing.is_some() {
        return Err(already_exists(&schema.class_name).into());
    }
    let mut steps = vec![SchemaStep::CreateTable];
    for (name, spec) in &schema.fields {
        steps.extend(storage_step(&schema.class_name, name, &spec.field_type)?);
    }
    for (index_name, spec) in &schema.indexes {
        steps.extend(index_step(&schema.class_name, index_name, spec)?);
    }
    steps.push(SchemaStep::SystemStorage);
    Ok(steps)
}

/// Adds the fields that are missing (creating the class when `may_create`); answers the schema
/// as it will be, the steps, and whether the schema changed (and must be saved).
///
/// # Errors
/// 111 on a type conflict or a second GeoPoint, 119 when the class is missing and may not be
/// created.
pub(crate) fn plan_ensure_fields(
    existing: Option<ClassSchema>,
    class_name: &ClassName,
    fields: &[(FieldName, FieldType)],
    may_create: bool,
) -> StoreResult<(ClassSchema, Vec<SchemaStep>, bool)> {
    let mut steps = Vec::new();
    let mut changed = false;
    let mut schema = match existing {
        Some(schema) => schema,
        None if may_create => {
            // A new class has its default fields (`ClassSchema::new`).
            let schema = ClassSchema::new(class_name.clone());
            steps = plan_create(None, &schema)?;
            changed = true;
            schema
        }
        None => {
            return Err(ParseError::forbidden(format!(
                "This user is not allowed to access non-existent class: {class_name}"
            ))
            .into());
        }
    };
    for (name, field_type) in fields {
        match schema.field_type(name.as_str()) {
            Some(existing) if existing == field_type => {}
            Some(existing) => {
                return Err(basalt_core::value::schema_mismatch(class_name, name.as_str(), existing, field_type).into());
            }
            None => {
                if *field_type == FieldType::GeoPoint
                    && let Some(existing) = schema.geo_point_field()
                {
                    return Err(ParseError::incorrect_type(format!(
                        "there can only be one geopoint field in a class; {class_name} already has {existing}"
                    ))
                    .into());
                }
                steps.extend(storage_step(class_name, name, field_type)?);
                schema.fields.insert(name.clone(), FieldSpec::of(field_type.clone()));
                changed = true;
            }
        }
    }
    Ok((schema, steps, changed))
}

/// Applies a `/schemas` PUT to `existing`; answers the new schema and the steps.
///
/// # Errors
/// 103 when the class does not exist; 255 for a field that cannot be added or deleted; 136 for a
/// default field; 102 for index changes that do not fit.
pub(crate) fn plan_update(
    existing: Option<ClassSchema>,
    class_name: &ClassName,
    change: &SchemaChange,
) -> StoreResult<(ClassSchema, Vec<SchemaStep>)> {
    let mut schema = existing
        .ok_or_else(|| ParseError::new(ErrorCode::InvalidClassName, format!("Class {class_name} does not exist.")))?;
    let operation_error = |message: String| ParseError::new(ErrorCode::InvalidSchemaOperation, message);
    let mut steps = Vec::new();
    for name in &change.delete_fields {
        if is_default_field(class_name, name.as_str()) {
            return Err(
                ParseError::new(ErrorCode::ChangedImmutableField, format!("field {name} cannot be changed")).into()
            );
        }
        let Some(spec) = schema.fields.remove(name.as_str()) else {
            return Err(operation_error(format!("Field {name} does not exist, cannot delete.")).into());
        };
        // Indexes on the field go with it (SQLite refuses to drop an indexed column).
        let dropped: Vec<String> = schema
            .indexes
            .iter()
            .filter(|(_, spec)| spec.as_object().is_some_and(|fields| fields.contains_key(name.as_str())))
            .map(|(index_name, _)| index_name.clone())
            .collect();
        for index_name in dropped {
            schema.indexes.remove(&index_name);
            steps.push(SchemaStep::DropIndex { name: index_name });
        }
        steps.push(match spec.field_type {
            FieldType::Relation(_) => SchemaStep::DropJoinTable { field: name.clone() },
            _ => SchemaStep::DropColumn { field: name.clone() },
        });
    }
    for (name, spec) in &change.add_fields {
        if schema.fields.contains_key(name.as_str()) {
            return Err(operation_error(format!("Field {name} exists, cannot update.")).into());
        }
        if spec.field_type == FieldType::GeoPoint
            && let Some(existing) = schema.geo_point_field()
        {
            return Err(ParseError::incorrect_type(format!(
                "currently, only one GeoPoint field may exist in an object. Adding {name} when {existing} already exists."
            ))
            .into());
        }
        steps.extend(storage_step(class_name, name, &spec.field_type)?);
        schema.fields.insert(name.clone(), spec.clone());
    }
    if let Some(permissions) = &change.class_level_permissions {
        schema.class_level_permissions = permissions.clone();
    }
    for index_name in &change.delete_indexes {
        if schema.indexes.remove(index_name).is_none() {
            return Err(ParseError::invalid_query(format!("Index {index_name} does not exist, cannot delete.")).into());
        }
        steps.push(SchemaStep::DropIndex { name: index_name.clone() });
    }
    for (index_name, fields) in &change.add_indexes {
        if schema.indexes.contains_key(index_name) {
            return Err(ParseError::invalid_query(format!("Index {index_name} exists, cannot update.")).into());
        }
        let mut spec = Map::new();
        for (field, direction) in fields {
            if schema.field_type(field.as_str()).is_none() {
                return Err(
                    ParseError::invalid_query(format!("Field {field} does not exist, cannot add index.")).into()
                );
            }
            spec.insert(field.to_string(), direction.clone());
        }
        let spec = Value::Object(spec);
        steps.extend(index_step(class_name, index_name, &spec)?);
        schema.indexes.insert(index_name.clone(), spec);
    }
    Ok((schema, steps))
}

/// The join tables of a class's Relation fields, by field name.
pub(crate) fn relation_fields(schema: &ClassSchema) -> impl Iterator<Item = &FieldName> {
    schema.fields.iter().filter(|(_, spec)| matches!(spec.field_type, FieldType::Relation(_))).map(|(name, _)| name)
}

/// 255: a class with objects cannot be dropped.
pub(crate) fn not_empty(class_name: &ClassName, count: i64) -> ParseError {
    ParseError::new(
        ErrorCode::InvalidSchemaOperation,
        format!("Class {class_name} is not empty, contains {count} objects, cannot drop schema."),
    )
}

/// Members to add to and remove from one Relation field.
pub(crate) struct RelationChange {
    pub(crate) field: String,
    pub(crate) add: Vec<String>,
    pub(crate) remove: Vec<String>,
}

/// Applies the field updates to `fields` (an object read for writing, or empty on insert) and
/// returns the relation changes they ask for.
pub(crate) fn apply_updates(
    schema: &ClassSchema,
    fields: &mut Map<String, Value>,
    updates: &[FieldUpdate],
    is_insert: bool,
) -> StoreResult<Vec<RelationChange>> {
    let mut relations = Vec::new();
    for update in updates {
        if let UpdateOp::Relation { add, remove, .. } = &update.op {
            relations.push(RelationChange {
                field: update.path.field.clone(),
                add: add.clone(),
                remove: remove.clone(),
            });
            continue;
        }
        if update.path.is_top_level() {
            match apply_op(fields.get(&update.path.field), &update.op, is_insert)? {
                Some(value) => fields.insert(update.path.field.clone(), value),
                None => fields.remove(&update.path.field),
            };
            continue;
        }
        if schema.field_type(&update.path.field) != Some(&FieldType::Object) {
            return Err(ParseError::incorrect_type(format!("{} is not an Object field", update.path.field)).into());
        }
        let root = fields.entry(update.path.field.clone()).or_insert_with(|| Value::Object(Map::new()));
        let mut target = root;
        let (last, parents) = update.path.sub_keys.split_last().expect("not top level");
        for key in parents {
            let Value::Object(object) = target else {
                return Err(ParseError::incorrect_type(format!("{} is not an Object", update.path.field)).into());
            };
            target = object.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
        }
        let Value::Object(object) = target else {
            return Err(ParseError::incorrect_type(format!("{} is not an Object", update.path.field)).into());
        };
        match apply_op(object.get(last), &update.op, is_insert)? {
            Some(value) => object.insert(last.clone(), value),
            None => object.remove(last),
        };
    }
    // Parse compat: a user whose last auth provider was unlinked has no `authData` at all.
    if schema.class_name.as_str() == "_User"
        && fields.get("authData").is_some_and(|data| data.as_object().is_some_and(Map::is_empty))
    {
        fields.remove("authData");
    }
    Ok(relations)
}

/// The field updates that write a dumped object's fields as they are.
pub(crate) fn restore_updates(fields: &Map<String, Value>) -> Vec<FieldUpdate> {
    fields
        .iter()
        .map(|(name, value)| FieldUpdate {
            path: basalt_core::query::FieldPath { field: name.clone(), sub_keys: Vec::new() },
            op: UpdateOp::Set(value.clone()),
        })
        .collect()
}

/// The top-level fields an update changed (present in `updates`, a different value after than
/// before), with their new value (`None`: unset). Relation fields are left out.
pub(crate) fn changed_fields<'a>(
    schema: &'a ClassSchema,
    updates: &'a [FieldUpdate],
    before: &Map<String, Value>,
    after: &'a Map<String, Value>,
) -> Vec<(&'a str, &'a FieldType, Option<&'a Value>)> {
    let touched: std::collections::BTreeSet<&str> = updates.iter().map(|update| update.path.field.as_str()).collect();
    let mut changed = Vec::new();
    for name in touched {
        let Some(field_type) = schema.field_type(name) else { continue };
        if matches!(field_type, FieldType::Relation(_)) {
            continue;
        }
        let new_value = after.get(name);
        if new_value == before.get(name) {
            continue;
        }
        changed.push((name, field_type, new_value));
    }
    changed
}
