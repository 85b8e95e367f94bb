//! Field types and class schemas as Parse describes them (`/schemas`), the
//! default fields of every class, and the inference of a field's type from a written value.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{ParseError, ParseResult};
use crate::names::{ClassName, FieldName};

/// The type of a field. Pointer and Relation carry their target class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Date,
    Object,
    Array,
    Pointer(ClassName),
    Relation(ClassName),
    File,
    GeoPoint,
    Polygon,
    Bytes,
    Acl,
}

impl FieldType {
    /// The name Parse uses on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String => "String",
            FieldType::Number => "Number",
            FieldType::Boolean => "Boolean",
            FieldType::Date => "Date",
            FieldType::Object => "Object",
            FieldType::Array => "Array",
            FieldType::Pointer(_) => "Pointer",
            FieldType::Relation(_) => "Relation",
            FieldType::File => "File",
            FieldType::GeoPoint => "GeoPoint",
            FieldType::Polygon => "Polygon",
            FieldType::Bytes => "Bytes",
            FieldType::Acl => "ACL",
        }
    }

    /// Parse's spelling in mismatch messages: `Pointer<_User>`.
    pub fn describe(&self) -> String {
        match self {
            FieldType::Pointer(target) => format!("Pointer<{target}>"),
            FieldType::Relation(target) => format!("Relation<{target}>"),
            other => other.name().to_owned(),
        }
    }

    pub fn target_class(&self) -> Option<&ClassName> {
        match self {
            FieldType::Pointer(target) | FieldType::Relation(target) => Some(target),
            _ => None,
        }
    }
}

/// One field of a class schema.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSpec {
    pub field_type: FieldType,
    pub required: bool,
    pub default_value: Option<Value>,
}

impl FieldSpec {
    pub fn of(field_type: FieldType) -> FieldSpec {
        FieldSpec { field_type, required: false, default_value: None }
    }

    /// Reads `{"type":"Pointer","targetClass":"_User","required":true,"defaultValue":…}`.
    ///
    /// # Errors
    /// 111 for an unknown type; 135 without `targetClass` for Pointer/Relation; 103 for a bad
    /// target class.
    pub fn from_json(field_name: &str, spec: &Value) -> ParseResult<FieldSpec> {
        let type_name = spec.get("type").and_then(Value::as_str).ok_or_else(|| {
            ParseError::incorrect_type(format!("invalid field type: {}", spec.get("type").unwrap_or(&Value::Null)))
        })?;
        let target = || -> ParseResult<ClassName> {
            match spec.get("targetClass").and_then(Value::as_str) {
                Some(target) => ClassName::parse(target),
                None => Err(ParseError::new(
                    crate::error::ErrorCode::InvalidSchemaOperation,
                    format!("type {type_name} needs a class name"),
                )),
            }
        };
        let field_type = match type_name {
            "String" => FieldType::String,
            "Number" => FieldType::Number,
            "Boolean" => FieldType::Boolean,
            "Date" => FieldType::Date,
            "Object" => FieldType::Object,
            "Array" => FieldType::Array,
            "File" => FieldType::File,
            "GeoPoint" => FieldType::GeoPoint,
            "Polygon" => FieldType::Polygon,
            "Bytes" => FieldType::Bytes,
            "ACL" => FieldType::Acl,
            "Pointer" => FieldType::Pointer(target()?),
            "Relation" => FieldType::Relation(target()?),
            other => return Err(ParseError::incorrect_type(format!("invalid field type: {other}"))),
        };
        let required = spec.get("required").and_then(Value::as_bool).unwrap_or(false);
        let default_value = match spec.get("defaultValue") {
            None | Some(Value::Null) => None,
            Some(value) => {
                let inferred = infer_type(value)?;
                if inferred.as_ref().map(FieldType::name) != Some(field_type.name()) {
                    return Err(ParseError::incorrect_type(format!(
                        "schema mismatch for {field_name} default value; expected {} but got {}",
                        field_type.describe(),
                        inferred.map(|t| t.describe()).unwrap_or_else(|| "null".into())
                    )));
                }
                Some(value.clone())
            }
        };
        Ok(FieldSpec { field_type, required, default_value })
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), Value::String(self.field_type.name().into()));
        if let Some(target) = self.field_type.target_class() {
            out.insert("targetClass".into(), Value::String(target.to_string()));
        }
        if self.required {
            out.insert("required".into(), Value::Bool(true));
        }
        if let Some(default) = &self.default_value {
            out.insert("defaultValue".into(), default.clone());
        }
        Value::Object(out)
    }
}

/// The schema of one class: its fields, class-level permissions and indexes.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSchema {
    pub class_name: ClassName,
    /// Invariant: holds the default fields of the class (see `default_fields`).
    pub fields: BTreeMap<FieldName, FieldSpec>,
    pub class_level_permissions: Value,
    /// Index name -> `{"field": 1 | -1 | "text"}` as given to `/schemas`.
    pub indexes: BTreeMap<String, Value>,
    /// How many times the store has saved this schema. Changes made on several tasks (or nodes)
    /// can be answered out of order; a cache keeps the highest version it has seen.
    pub version: u64,
}

/// Fields every class has.
pub const BASE_FIELDS: &[&str] = &["objectId", "createdAt", "updatedAt", "ACL"];

fn pointer(target: &str) -> FieldType {
    FieldType::Pointer(ClassName::parse(target).expect("system class names are valid"))
}

fn relation(target: &str) -> FieldType {
    FieldType::Relation(ClassName::parse(target).expect("system class names are valid"))
}

/// The default fields of a class.
pub fn default_fields(class_name: &ClassName) -> Vec<(&'static str, FieldType)> {
    let mut fields = vec![
        ("objectId", FieldType::String),
        ("createdAt", FieldType::Date),
        ("updatedAt", FieldType::Date),
        ("ACL", FieldType::Acl),
    ];
    let extra: Vec<(&'static str, FieldType)> = match class_name.as_str() {
        "_User" => vec![
            ("username", FieldType::String),
            ("password", FieldType::String),
            ("email", FieldType::String),
            ("emailVerified", FieldType::Boolean),
            ("authData", FieldType::Object),
        ],
        "_Installation" => vec![
            ("installationId", FieldType::String),
            ("deviceToken", FieldType::String),
            ("channels", FieldType::Array),
            ("deviceType", FieldType::String),
            ("pushType", FieldType::String),
            ("GCMSenderId", FieldType::String),
            ("timeZone", FieldType::String),
            ("localeIdentifier", FieldType::String),
            ("badge", FieldType::Number),
            ("appVersion", FieldType::String),
            ("appName", FieldType::String),
            ("appIdentifier", FieldType::String),
            ("parseVersion", FieldType::String),
        ],
        "_Role" => vec![("name", FieldType::String), ("users", relation("_User")), ("roles", relation("_Role"))],
        "_PushStatus" => vec![
            ("pushTime", FieldType::String),
            ("source", FieldType::String),
            ("query", FieldType::String),
            ("payload", FieldType::String),
            ("title", FieldType::String),
            ("expiry", FieldType::Number),
            ("expiration_interval", FieldType::Number),
            ("status", FieldType::String),
            ("numSent", FieldType::Number),
            ("numFailed", FieldType::Number),
            ("pushHash", FieldType::String),
            ("errorMessage", FieldType::Object),
            ("sentPerType", FieldType::Object),
            ("failedPerType", FieldType::Object),
            ("sentPerUTCOffset", FieldType::Object),
            ("failedPerUTCOffset", FieldType::Object),
            ("count", FieldType::Number),
        ],
        "_Audience" => vec![
            ("name", FieldType::String),
            ("query", FieldType::String),
            ("lastUsed", FieldType::Date),
            ("timesUsed", FieldType::Number),
        ],
        "_Session" => vec![
            ("user", pointer("_User")),
            ("installationId", FieldType::String),
            ("sessionToken", FieldType::String),
            ("expiresAt", FieldType::Date),
            ("createdWith", FieldType::Object),
        ],
        _ => vec![],
    };
    fields.extend(extra);
    fields
}

/// Is `field` one of the default fields of `class_name` (which `/schemas` may not add or delete)?
pub fn is_default_field(class_name: &ClassName, field: &str) -> bool {
    default_fields(class_name).iter().any(|(name, _)| *name == field)
}

/// The class-level permissions of a class created without any: everything open to everyone.
pub fn default_class_level_permissions() -> Value {
    json!({
        "ACL": {"*": {"read": true, "write": true}},
        "find": {"*": true},
        "count": {"*": true},
        "get": {"*": true},
        "create": {"*": true},
        "update": {"*": true},
        "delete": {"*": true},
        "addField": {"*": true},
        "protectedFields": {"*": []}
    })
}

impl ClassSchema {
    /// A new class holding only its default fields.
    pub fn new(class_name: ClassName) -> ClassSchema {
        let fields = default_fields(&class_name)
            .into_iter()
            .map(|(name, field_type)| (FieldName::internal(name), FieldSpec::of(field_type)))
            .collect();
        ClassSchema {
            class_name,
            fields,
            class_level_permissions: default_class_level_permissions(),
            indexes: BTreeMap::new(),
            version: 0,
        }
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.get(name)
    }

    pub fn field_type(&self, name: &str) -> Option<&FieldType> {
        self.fields.get(name).map(|spec| &spec.field_type)
    }

    /// The type of a field a query may constrain: the system fields and the schema's fields,
    /// not Relations nor the ACL (those are queried otherwise).
    pub fn queryable_type(&self, field: &str) -> Option<FieldType> {
        match field {
            "objectId" => Some(FieldType::String),
            "createdAt" | "updatedAt" => Some(FieldType::Date),
            "ACL" => None,
            _ => match self.field_type(field) {
                Some(FieldType::Relation(_)) | Some(FieldType::Acl) | None => None,
                Some(other) => Some(other.clone()),
            },
        }
    }

    /// The GeoPoint field of the class, if any (a class has at most one).
    pub fn geo_point_field(&self) -> Option<&FieldName> {
        self.fields.iter().find(|(_, spec)| spec.field_type == FieldType::GeoPoint).map(|(name, _)| name)
    }

    /// The schema as `/schemas` returns it.
    pub fn to_json(&self) -> Value {
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .filter(|(name, _)| !(self.class_name.as_str() == "_User" && name.as_str() == "authData"))
            .map(|(name, spec)| (name.to_string(), spec.to_json()))
            .collect();
        let mut out = Map::new();
        out.insert("className".into(), Value::String(self.class_name.to_string()));
        out.insert("fields".into(), Value::Object(fields));
        out.insert("classLevelPermissions".into(), self.class_level_permissions.clone());
        if !self.indexes.is_empty() {
            let mut indexes = Map::new();
            indexes.insert("_id_".into(), json!({"_id": 1}));
            for (name, spec) in &self.indexes {
                indexes.insert(name.clone(), spec.clone());
            }
            out.insert("indexes".into(), Value::Object(indexes));
        }
        Value::Object(out)
    }
}

/// The type a written value gives a field that does not exist yet, or `None` for null and for
/// `Delete` (which give no type).
///
/// # Errors
/// 111 for an unknown `__type`, a malformed Date/Pointer/GeoPoint/…; 108 for an unknown `__op`;
/// 107 for an op whose `objects` is not an array.
pub fn infer_type(value: &Value) -> ParseResult<Option<FieldType>> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Bool(_) => return Ok(Some(FieldType::Boolean)),
        Value::Number(_) => return Ok(Some(FieldType::Number)),
        Value::String(_) => return Ok(Some(FieldType::String)),
        Value::Array(_) => return Ok(Some(FieldType::Array)),
        Value::Object(object) => object,
    };
    if let Some(op) = object.get("__op") {
        return infer_op_type(op, object);
    }
    match object.get("__type").and_then(Value::as_str) {
        None => Ok(Some(FieldType::Object)),
        Some("Date") => Ok(Some(FieldType::Date)),
        Some("Pointer") => match object.get("className").and_then(Value::as_str) {
            Some(target) => Ok(Some(FieldType::Pointer(ClassName::parse(target)?))),
            None => Err(ParseError::incorrect_type("This is not a valid Pointer")),
        },
        Some("Relation") => match object.get("className").and_then(Value::as_str) {
            Some(target) => Ok(Some(FieldType::Relation(ClassName::parse(target)?))),
            None => Err(ParseError::incorrect_type("This is not a valid Relation")),
        },
        Some("File") => Ok(Some(FieldType::File)),
        Some("GeoPoint") => Ok(Some(FieldType::GeoPoint)),
        Some("Polygon") => Ok(Some(FieldType::Polygon)),
        Some("Bytes") => Ok(Some(FieldType::Bytes)),
        Some(other) => Err(ParseError::incorrect_type(format!("This is not a valid {other}"))),
    }
}

fn infer_op_type(op: &Value, object: &Map<String, Value>) -> ParseResult<Option<FieldType>> {
    match op.as_str() {
        Some("Increment") => Ok(Some(FieldType::Number)),
        Some("Add" | "AddUnique" | "Remove") => Ok(Some(FieldType::Array)),
        Some("Delete") => Ok(None),
        Some("AddRelation" | "RemoveRelation") => {
            let objects = object
                .get("objects")
                .and_then(Value::as_array)
                .ok_or_else(|| ParseError::invalid_json("objects to add must be an array"))?;
            match objects.first().and_then(|first| first.get("className")).and_then(Value::as_str) {
                Some(target) => Ok(Some(FieldType::Relation(ClassName::parse(target)?))),
                None => Ok(None),
            }
        }
        Some("Batch") => {
            let ops = object
                .get("ops")
                .and_then(Value::as_array)
                .ok_or_else(|| ParseError::invalid_json("ops must be an array"))?;
            for inner in ops {
                if let Some(found) = infer_type(inner)? {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        }
        Some("SetOnInsert") => infer_type(object.get("value").unwrap_or(&Value::Null)),
        Some(other) => Err(ParseError::new(
            crate::error::ErrorCode::CommandUnavailable,
            format!("The {other} operator is not supported yet."),
        )),
        None => Err(ParseError::invalid_json("__op must be a string")),
    }
}

#[cfg(test)]
mod tests;
