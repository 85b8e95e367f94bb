//! Reading a database that Parse Server's PostgreSQL adapter wrote, as a Basalt dump (see
//! `transfer`), so `basalt import --from postgres://…` moves a Parse Server deployment over with
//! its users (bcrypt hashes, which Basalt verifies and re-hashes on the next log-in), sessions,
//! ACLs, relations and config.
//!
//! Parse Server's layout, as version 9 writes it: `_SCHEMA` (`className`, `schema` jsonb,
//! `isParseClass`); one table per class with `objectId`, `createdAt`/`updatedAt` (timestamptz),
//! `_rperm`/`_wperm` (text[]), and a column per field — text (String, Pointer id, File name),
//! double precision, boolean, timestamptz (Date), jsonb (Object, Array, Bytes), text[] (an Array
//! of Strings), point (GeoPoint, x = longitude) and polygon (x = longitude). `_User` keeps
//! `_hashed_password` and its token and lockout columns; `authData` is a jsonb column (older
//! versions: one `_auth_data_<provider>` column each). Relations are `_Join:<field>:<class>`
//! tables (`relatedId`, `owningId`), as Basalt's.
//!
//! Every value goes through `normalize_field_value`, as a write through the API would: a value
//! Basalt would refuse stops the import naming the class, object and field.

use std::collections::{BTreeMap, BTreeSet};

use basalt_core::acl::Acl;
use basalt_core::value::{canonical_number, date_value, normalize_field_value, pointer_value};
use basalt_core::{ClassName, ClassSchema, FieldName, FieldSpec, FieldType};
use serde_json::{Map, Value, json};
use tokio_postgres::{Client, NoTls, Row};

use crate::error::StoreError;
use crate::sql::quote;
use crate::transfer::{DumpWriter, Progress, Summary, TransferError};
use crate::{DumpedObject, ObjectRecord, UserSecrets};

/// Rows read per query.
const PAGE: i64 = 500;

type Result<T> = std::result::Result<T, TransferError>;

/// ISO-8601 with milliseconds in UTC, as Basalt stores dates.
fn iso(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// Unix milliseconds.
fn millis(column: &str) -> String {
    format!("(extract(epoch from {column}) * 1000)::int8")
}

async fn connect(uri: &str) -> Result<Client> {
    let config = super::parse_uri(uri)?;
    let (client, connection) = config.connect(NoTls).await.map_err(StoreError::from)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the Parse Server database connection ended");
        }
    });
    Ok(client)
}

/// Was this database written by Parse Server (its `_SCHEMA` has `isParseClass`)?
///
/// # Errors
/// When the database cannot be reached.
pub async fn is_parse_server_database(uri: &str) -> Result<bool> {
    let client = connect(uri).await?;
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '_SCHEMA' AND column_name = 'isParseClass')",
            &[],
        )
        .await
        .map_err(StoreError::from)?;
    Ok(row.try_get(0).map_err(StoreError::from)?)
}

/// A Parse Server class as Basalt will hold it, with what its table looks like.
struct SourceClass {
    schema: ClassSchema,
    /// Column name -> PostgreSQL type (`udt_name`: text, float8, bool, timestamptz, jsonb,
    /// _text, point, polygon, …).
    columns: BTreeMap<String, String>,
}

/// What `read` left out, for the operator.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Classes Basalt has no place for, with why.
    pub classes: Vec<String>,
    /// `class.field` entries whose column is missing, or that Basalt does not keep.
    pub fields: Vec<String>,
}

/// The Basalt schema of a Parse Server `_SCHEMA` document; fields Basalt does not keep are
/// reported in `skipped`.
fn convert_schema(class_name: ClassName, document: &Value, skipped: &mut Skipped) -> ClassSchema {
    let mut schema = ClassSchema::new(class_name);
    if let Some(fields) = document.get("fields").and_then(Value::as_object) {
        for (name, spec) in fields {
            if name.starts_with('_') || matches!(name.as_str(), "objectId" | "createdAt" | "updatedAt" | "ACL") {
                continue;
            }
            match (FieldName::parse(name), FieldSpec::from_json(name, spec)) {
                (Ok(field), Ok(spec)) => {
                    schema.fields.insert(field, spec);
                }
                _ => skipped.fields.push(format!("{}.{name} ({spec})", schema.class_name)),
            }
        }
    }
    if let Some(permissions) = document.get("classLevelPermissions").filter(|value| value.is_object()) {
        schema.class_level_permissions = permissions.clone();
    }
    if let Some(indexes) = document.get("indexes").and_then(Value::as_object) {
        for (name, spec) in indexes {
            let usable = spec.as_object().is_some_and(|keys| {
                !keys.is_empty() && keys.keys().all(|key| schema.fields.contains_key(key.as_str()))
            });
            if usable {
                schema.indexes.insert(name.clone(), spec.clone());
            }
        }
    }
    schema
}

async fn columns_of(client: &Client, table: &str) -> Result<BTreeMap<String, String>> {
    let rows = client
        .query(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
            &[&table],
        )
        .await
        .map_err(StoreError::from)?;
    rows.iter()
        .map(|row| Ok((row.try_get(0).map_err(StoreError::from)?, row.try_get(1).map_err(StoreError::from)?)))
        .collect()
}

/// How a column is read: the SQL expression, and how its value comes back.
#[derive(Clone, Copy)]
enum Read {
    Text,
    Number,
    Boolean,
    Json,
    Millis,
}

/// The select expression for a Parse field's column and how to read it; GeoPoints and Polygons
/// come back as text (`(x,y)` and `((x,y),…)`) and are parsed here.
fn select(column: &str, udt: &str) -> (String, Read) {
    let quoted = quote(column);
    match udt {
        "timestamptz" | "timestamp" => (iso(&quoted), Read::Text),
        "float8" | "float4" | "numeric" | "int4" | "int8" => (format!("{quoted}::float8"), Read::Number),
        "bool" => (quoted, Read::Boolean),
        "jsonb" | "json" => (format!("{quoted}::jsonb"), Read::Json),
        "_text" | "_varchar" => (format!("to_jsonb({quoted})"), Read::Json),
        _ => (format!("{quoted}::text"), Read::Text),
    }
}

fn read_column(row: &Row, index: usize, read: Read) -> Result<Option<Value>> {
    let error = StoreError::from;
    Ok(match read {
        Read::Text => row.try_get::<_, Option<String>>(index).map_err(error)?.map(Value::String),
        Read::Number => row.try_get::<_, Option<f64>>(index).map_err(error)?.map(canonical_number),
        Read::Boolean => row.try_get::<_, Option<bool>>(index).map_err(error)?.map(Value::Bool),
        Read::Json => row.try_get::<_, Option<Value>>(index).map_err(error)?,
        Read::Millis => row.try_get::<_, Option<i64>>(index).map_err(error)?.map(Value::from),
    })
}

/// The numbers of `(x,y)` pairs in PostgreSQL's text form of a point or polygon.
fn points_of(text: &str) -> Vec<(f64, f64)> {
    let numbers: Vec<f64> = text
        .split(['(', ')', ','])
        .filter(|part| !part.trim().is_empty())
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    numbers.chunks_exact(2).map(|pair| (pair[0], pair[1])).collect()
}

/// A Parse value in its REST encoding from what the column held.
fn parse_value(field_type: &FieldType, raw: Value) -> Option<Value> {
    Some(match (field_type, raw) {
        (FieldType::Date, Value::String(text)) => date_value(&text),
        (FieldType::Pointer(target), Value::String(id)) => pointer_value(target.as_str(), &id),
        (FieldType::File, Value::String(name)) => json!({"__type": "File", "name": name}),
        (FieldType::GeoPoint, Value::String(text)) => {
            let (longitude, latitude) = *points_of(&text).first()?;
            json!({"__type": "GeoPoint", "latitude": latitude, "longitude": longitude})
        }
        (FieldType::Polygon, Value::String(text)) => {
            let coordinates: Vec<Value> =
                points_of(&text).into_iter().map(|(longitude, latitude)| json!([latitude, longitude])).collect();
            json!({"__type": "Polygon", "coordinates": coordinates})
        }
        (_, raw) => raw,
    })
}

/// Reads the Parse Server database at `uri` and writes it as a Basalt dump to `writer`; answers
/// the summary and what was left out.
///
/// # Errors
/// When the database cannot be read, or a value is one Basalt would refuse.
pub async fn read(uri: &str, mut writer: DumpWriter<'_>, progress: &dyn Progress) -> Result<(Summary, Skipped)> {
    let client = connect(uri).await?;
    let mut skipped = Skipped::default();
    let rows = client
        .query("SELECT \"className\"::text, \"schema\" FROM \"_SCHEMA\" ORDER BY \"className\"", &[])
        .await
        .map_err(StoreError::from)?;
    let mut classes = Vec::new();
    for row in rows {
        let name: String = row.try_get(0).map_err(StoreError::from)?;
        let document: Value = row.try_get(1).map_err(StoreError::from)?;
        let Ok(class_name) = ClassName::parse(&name) else {
            skipped.classes.push(format!("{name} (not a class Basalt keeps)"));
            continue;
        };
        let columns = columns_of(&client, &name).await?;
        if columns.is_empty() {
            skipped.classes.push(format!("{name} (no table)"));
            continue;
        }
        let schema = convert_schema(class_name, &document, &mut skipped);
        classes.push(SourceClass { schema, columns });
    }
    // Parse.Config lives in `_GlobalConfig` (`params`, `masterKeyOnly`), which Parse Server
    // creates without a `_SCHEMA` row.
    if !classes.iter().any(|class| class.schema.class_name.as_str() == "_GlobalConfig") {
        let columns = columns_of(&client, "_GlobalConfig").await?;
        if columns.contains_key("params") {
            let mut schema = ClassSchema::new(ClassName::parse("_GlobalConfig")?);
            for field in ["params", "masterKeyOnly"] {
                schema.fields.insert(FieldName::internal(field), FieldSpec::of(FieldType::Object));
            }
            classes.push(SourceClass { schema, columns });
        }
    }
    for class in &classes {
        writer.schema(&class.schema)?;
    }
    for class in &classes {
        read_class(&client, class, &mut writer, progress, &mut skipped).await?;
    }
    Ok((writer.finish()?, skipped))
}

/// The secrets columns of `_User`: name, how to read.
const SECRET_COLUMNS: &[&str] = &[
    "_hashed_password",
    "_failed_login_count",
    "_account_lockout_expires_at",
    "_password_changed_at",
    "_password_history",
    "_email_verify_token",
    "_email_verify_token_expires_at",
    "_perishable_token",
    "_perishable_token_expires_at",
];

async fn read_class(
    client: &Client,
    class: &SourceClass,
    writer: &mut DumpWriter<'_>,
    progress: &dyn Progress,
    skipped: &mut Skipped,
) -> Result<()> {
    let class_name = &class.schema.class_name;
    let table = quote(class_name.as_str());
    // Selected columns: system ones, then each field with a column, then secrets and authData.
    // `_GlobalConfig` has neither times nor permissions.
    let if_present = |column: &str, expression: String, absent: &str| {
        if class.columns.contains_key(column) { expression } else { absent.to_owned() }
    };
    let mut expressions = vec![
        "\"objectId\"::text".to_owned(),
        if_present("createdAt", iso("\"createdAt\""), "NULL::text"),
        if_present("updatedAt", iso("\"updatedAt\""), "NULL::text"),
        if_present("_rperm", "\"_rperm\"::text[]".to_owned(), "NULL::text[]"),
        if_present("_wperm", "\"_wperm\"::text[]".to_owned(), "NULL::text[]"),
    ];
    let mut fields: Vec<(FieldName, FieldType, Read)> = Vec::new();
    for (name, spec) in &class.schema.fields {
        let system = crate::sql::SYSTEM_COLUMNS.contains(&name.as_str()) || name.as_str() == "ACL";
        if system || matches!(spec.field_type, FieldType::Relation(_)) {
            continue;
        }
        let Some(udt) = class.columns.get(name.as_str()) else {
            if !basalt_core::schema::is_default_field(class_name, name.as_str()) {
                skipped.fields.push(format!("{class_name}.{name} (no column)"));
            }
            continue;
        };
        let (expression, read) = select(name.as_str(), udt);
        expressions.push(expression);
        fields.push((name.clone(), spec.field_type.clone(), read));
    }
    let is_user = class_name.as_str() == "_User";
    let mut secrets: Vec<(&str, Read)> = Vec::new();
    let mut legacy_auth: Vec<String> = Vec::new();
    if is_user {
        for column in SECRET_COLUMNS {
            let Some(udt) = class.columns.get(*column) else { continue };
            let (expression, read) = match (udt.as_str(), *column) {
                ("timestamptz" | "timestamp", _) => (millis(&quote(column)), Read::Millis),
                (_, "_failed_login_count") => (format!("{}::float8", quote(column)), Read::Number),
                _ => select(column, udt),
            };
            expressions.push(expression);
            secrets.push((column, read));
        }
        for column in class.columns.keys().filter(|column| column.starts_with("_auth_data_")) {
            expressions.push(format!("{}::jsonb", quote(column)));
            legacy_auth.push(column.clone());
        }
    }
    let total: i64 = client
        .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .await
        .map_err(StoreError::from)?
        .try_get(0)
        .map_err(StoreError::from)?;
    progress.class(class_name.as_str(), u64::try_from(total).unwrap_or(0));
    let sql = format!(
        "SELECT {} FROM {table} WHERE \"objectId\"::text COLLATE \"C\" > $1 ORDER BY \"objectId\"::text COLLATE \"C\" LIMIT $2",
        expressions.join(", ")
    );
    let statement = client.prepare(&sql).await.map_err(StoreError::from)?;
    let mut after = String::new();
    loop {
        let rows = client.query(&statement, &[&after, &PAGE]).await.map_err(StoreError::from)?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0).map_err(StoreError::from)?;
        for row in &rows {
            let object = convert_row(class_name, row, &fields, &secrets, &legacy_auth)?;
            writer.object(class_name, &object)?;
        }
        progress.advance(rows.len() as u64);
    }
    for (field, spec) in &class.schema.fields {
        if !matches!(spec.field_type, FieldType::Relation(_)) {
            continue;
        }
        let join = quote(&crate::sql::join_table(field.as_str(), class_name.as_str()));
        let exists =
            !columns_of(client, &crate::sql::join_table(field.as_str(), class_name.as_str())).await?.is_empty();
        if !exists {
            continue;
        }
        progress.class(&format!("{class_name}.{field}"), 0);
        let statement = client
            .prepare(&format!(
                "SELECT \"owningId\"::text, \"relatedId\"::text FROM {join} WHERE (\"owningId\"::text COLLATE \"C\", \"relatedId\"::text COLLATE \"C\") > ($1, $2) ORDER BY \"owningId\"::text COLLATE \"C\", \"relatedId\"::text COLLATE \"C\" LIMIT $3"
            ))
            .await
            .map_err(StoreError::from)?;
        let (mut owning, mut related) = (String::new(), String::new());
        loop {
            let rows = client.query(&statement, &[&owning, &related, &PAGE]).await.map_err(StoreError::from)?;
            let Some(last) = rows.last() else { break };
            owning = last.try_get(0).map_err(StoreError::from)?;
            related = last.try_get(1).map_err(StoreError::from)?;
            for row in &rows {
                let pair: (String, String) =
                    (row.try_get(0).map_err(StoreError::from)?, row.try_get(1).map_err(StoreError::from)?);
                writer.relation(class_name, field, &pair.0, &pair.1)?;
            }
            progress.advance(rows.len() as u64);
        }
    }
    Ok(())
}

fn convert_row(
    class_name: &ClassName,
    row: &Row,
    fields: &[(FieldName, FieldType, Read)],
    secrets: &[(&str, Read)],
    legacy_auth: &[String],
) -> Result<DumpedObject> {
    let text = |index: usize| -> Result<Option<String>> { Ok(row.try_get(index).map_err(StoreError::from)?) };
    let object_id = text(0)?.unwrap_or_default();
    let epoch = || "1970-01-01T00:00:00.000Z".to_owned();
    let created_at = text(1)?.unwrap_or_else(epoch);
    let updated_at = text(2)?.unwrap_or_else(|| created_at.clone());
    let read_list = |index: usize| -> Result<Option<BTreeSet<String>>> {
        Ok(row
            .try_get::<_, Option<Vec<String>>>(index)
            .map_err(StoreError::from)?
            .map(|list| list.into_iter().collect()))
    };
    let acl = match (read_list(3)?, read_list(4)?) {
        (None, None) => None,
        (read, write) => Some(Acl { read: read.unwrap_or_default(), write: write.unwrap_or_default() }),
    };
    let mut values = Map::new();
    let mut index = 5;
    for (name, field_type, read) in fields {
        let raw = read_column(row, index, *read)?;
        index += 1;
        let Some(value) = raw.and_then(|raw| parse_value(field_type, raw)) else { continue };
        let value = normalize_field_value(class_name, name.as_str(), field_type, &value).map_err(|error| {
            TransferError::Mismatch(format!("{class_name} {object_id}, field {name}: {}", error.message))
        })?;
        if !value.is_null() {
            values.insert(name.to_string(), value);
        }
    }
    let mut secret_values = BTreeMap::new();
    for (column, read) in secrets {
        if let Some(value) = read_column(row, index, *read)? {
            secret_values.insert(*column, value);
        }
        index += 1;
    }
    if !legacy_auth.is_empty() {
        let mut auth_data = values.get("authData").and_then(Value::as_object).cloned().unwrap_or_default();
        for column in legacy_auth {
            if let Some(value) = read_column(row, index, Read::Json)? {
                auth_data.insert(column.trim_start_matches("_auth_data_").to_owned(), value);
            }
            index += 1;
        }
        if !auth_data.is_empty() {
            values.insert("authData".into(), Value::Object(auth_data));
        }
    }
    let secrets = (class_name.as_str() == "_User").then(|| user_secrets(&secret_values));
    Ok(DumpedObject { record: ObjectRecord { object_id, created_at, updated_at, acl, fields: values }, secrets })
}

fn user_secrets(values: &BTreeMap<&str, Value>) -> UserSecrets {
    let text = |key: &str| values.get(key).and_then(Value::as_str).map(str::to_owned);
    let number =
        |key: &str| values.get(key).and_then(|value| value.as_i64().or_else(|| value.as_f64().map(|n| n as i64)));
    UserSecrets {
        hashed_password: text("_hashed_password"),
        failed_login_count: number("_failed_login_count").unwrap_or(0),
        lockout_expires_at: number("_account_lockout_expires_at"),
        password_changed_at: number("_password_changed_at"),
        password_history: values
            .get("_password_history")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        email_verify_token: text("_email_verify_token"),
        email_verify_token_expires_at: number("_email_verify_token_expires_at"),
        reset_token: text("_perishable_token"),
        reset_token_expires_at: number("_perishable_token_expires_at"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_polygons_read_as_parse_values() {
        assert_eq!(points_of("(0,10.5)"), vec![(0.0, 10.5)]);
        assert_eq!(points_of("((0,0),(1,0),(1,1))"), vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]);
        let point = parse_value(&FieldType::GeoPoint, Value::String("(-3.5,40.25)".into())).expect("a point");
        assert_eq!(point, json!({"__type": "GeoPoint", "latitude": 40.25, "longitude": -3.5}));
        let polygon = parse_value(&FieldType::Polygon, Value::String("((0,0),(1,0),(1,1))".into())).expect("a polygon");
        assert_eq!(polygon["coordinates"], json!([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]));
    }

    #[test]
    fn schemas_keep_fields_permissions_and_usable_indexes() {
        let document = json!({
            "fields": {"_rperm": {"type": "Array"}, "objectId": {"type": "String"}, "title": {"type": "String"},
                "owner": {"type": "Pointer", "targetClass": "_User"}, "labels": {"type": "Relation", "targetClass": "Tag"}},
            "classLevelPermissions": {"find": {"*": true}},
            "indexes": {"_id_": {"_id": 1}, "title_1": {"title": 1}},
        });
        let mut skipped = Skipped::default();
        let schema = convert_schema(ClassName::parse("Item").expect("class"), &document, &mut skipped);
        assert_eq!(schema.field_type("title"), Some(&FieldType::String));
        assert!(matches!(schema.field_type("labels"), Some(FieldType::Relation(_))));
        assert!(schema.field("_rperm").is_none());
        assert_eq!(schema.class_level_permissions, json!({"find": {"*": true}}));
        assert_eq!(schema.indexes.keys().collect::<Vec<_>>(), vec!["title_1"]);
        assert!(skipped.fields.is_empty(), "{skipped:?}");
    }
}
