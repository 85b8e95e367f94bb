//! `basalt export` and `basalt import`: a whole database as a stream of JSON lines, so data moves
//! between any two stores (SQLite to PostgreSQL and back) and nothing is lost on the way.
//!
//! A dump is, one JSON document per line:
//! 1. `{"format":"basalt-dump","version":1}`;
//! 2. `{"schema":{…}}` for every class (the `_SCHEMA` document with `className`);
//! 3. per class: `{"object":{…}}` for each object in objectId order (class, times, ACL, fields,
//!    a `_User`'s secrets), then `{"relation":{…}}` for each member of each Relation field;
//! 4. `{"summary":{…}}`: per class, the number of objects and of relation members and a SHA-256
//!    digest of their lines.
//!
//! An import refuses a destination that already has classes, writes in batches (one
//! transaction each), checks the dump's lines against its summary (a truncated or edited dump
//! fails), and then summarises the destination the same way and compares: same counts, same
//! digests, or the import fails naming the class.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

use basalt_core::acl::Acl;
use basalt_core::{ClassName, ClassSchema, FieldName, ParseError};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::plan::{relation_fields, schema_from_stored, schema_to_stored};
use crate::{DumpedObject, FindQuery, ObjectRecord, Schemas, Store, UserSecrets, WriteOp};

const FORMAT: &str = "basalt-dump";
const VERSION: u64 = 1;
/// Objects (or relation members) read or written per batch.
const BATCH: usize = 500;

/// What went wrong moving data.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The dump is not one this version reads, or is damaged.
    #[error("the dump is unreadable: {0}")]
    Format(String),
    /// The destination does not hold what the dump holds.
    #[error("{0}")]
    Mismatch(String),
}

type Result<T> = std::result::Result<T, TransferError>;

/// One class's share of a database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassSummary {
    pub objects: u64,
    /// Members per Relation field.
    pub relations: BTreeMap<String, u64>,
    /// SHA-256 (hex) of the class's object and relation lines, in dump order.
    pub digest: String,
}

/// Every class's share, by class name.
pub type Summary = BTreeMap<String, ClassSummary>;

/// Told how far a transfer has come (a progress bar on a terminal).
pub trait Progress: Sync {
    /// A class (`Class`) or a Relation field (`Class.field`) begins: `total` objects or members
    /// (0: not known).
    fn class(&self, class_name: &str, total: u64);
    /// `count` more of them are done.
    fn advance(&self, count: u64);
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn class(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

fn object_line(class_name: &str, object: &DumpedObject) -> Value {
    let record = &object.record;
    let mut line = Map::new();
    line.insert("className".into(), Value::from(class_name));
    line.insert("objectId".into(), Value::from(record.object_id.as_str()));
    line.insert("createdAt".into(), Value::from(record.created_at.as_str()));
    line.insert("updatedAt".into(), Value::from(record.updated_at.as_str()));
    line.insert("ACL".into(), record.acl.as_ref().map_or(Value::Null, Acl::to_json));
    line.insert("fields".into(), Value::Object(record.fields.clone()));
    if let Some(secrets) = &object.secrets {
        line.insert("secrets".into(), secrets_json(secrets));
    }
    json!({ "object": line })
}

fn secrets_json(secrets: &UserSecrets) -> Value {
    json!({
        "hashedPassword": secrets.hashed_password,
        "failedLoginCount": secrets.failed_login_count,
        "lockoutExpiresAt": secrets.lockout_expires_at,
        "passwordChangedAt": secrets.password_changed_at,
        "passwordHistory": secrets.password_history,
        "emailVerifyToken": secrets.email_verify_token,
        "emailVerifyTokenExpiresAt": secrets.email_verify_token_expires_at,
        "resetToken": secrets.reset_token,
        "resetTokenExpiresAt": secrets.reset_token_expires_at,
    })
}

fn secrets_from(value: &Value) -> UserSecrets {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| value.get(key).and_then(Value::as_i64);
    UserSecrets {
        hashed_password: text("hashedPassword"),
        failed_login_count: number("failedLoginCount").unwrap_or(0),
        lockout_expires_at: number("lockoutExpiresAt"),
        password_changed_at: number("passwordChangedAt"),
        password_history: value
            .get("passwordHistory")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        email_verify_token: text("emailVerifyToken"),
        email_verify_token_expires_at: number("emailVerifyTokenExpiresAt"),
        reset_token: text("resetToken"),
        reset_token_expires_at: number("resetTokenExpiresAt"),
    }
}

fn object_from(line: &Value) -> Result<(ClassName, DumpedObject)> {
    let text = |key: &str| {
        line.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| TransferError::Format(format!("an object without {key}: {line}")))
    };
    let class_name = ClassName::parse(&text("className")?)?;
    let acl = match line.get("ACL") {
        None | Some(Value::Null) => None,
        Some(acl) => Some(Acl::from_json(acl)?),
    };
    let fields = line.get("fields").and_then(Value::as_object).cloned().unwrap_or_default();
    let record = ObjectRecord {
        object_id: text("objectId")?,
        created_at: text("createdAt")?,
        updated_at: text("updatedAt")?,
        acl,
        fields,
    };
    let secrets = line.get("secrets").map(secrets_from);
    Ok((class_name, DumpedObject { record, secrets }))
}

fn relation_line(class_name: &str, field: &str, owning: &str, related: &str) -> Value {
    json!({"relation": {"className": class_name, "field": field, "owningId": owning, "relatedId": related}})
}

/// Counts and digests one class's lines as they pass.
#[derive(Default)]
struct Tally {
    summary: ClassSummary,
    hasher: Sha256,
}

impl Tally {
    fn object(&mut self, line: &str) {
        self.summary.objects += 1;
        self.line(line);
    }

    fn relation(&mut self, field: &str, line: &str) {
        *self.summary.relations.entry(field.to_owned()).or_default() += 1;
        self.line(line);
    }

    fn line(&mut self, line: &str) {
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
    }

    fn finish(self) -> ClassSummary {
        let digest = self.hasher.finalize();
        let mut summary = self.summary;
        summary.digest = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        summary
    }
}

fn all_of(class_name: &ClassName) -> FindQuery {
    FindQuery {
        class_name: class_name.clone(),
        condition: basalt_core::query::Condition::all(),
        order: Vec::new(),
        limit: None,
        skip: 0,
        fields: Some(Vec::new()),
        access: basalt_core::acl::Access::Master,
    }
}

/// Writes dump lines (or only counts and digests them, without `out`) and the summary at the
/// end. Anything that can list schemas, objects and relation members class by class — a store,
/// a Parse Server database — writes a dump through it.
pub struct DumpWriter<'a> {
    out: Option<&'a mut dyn Write>,
    tallies: BTreeMap<String, Tally>,
}

impl<'a> DumpWriter<'a> {
    /// Starts a dump on `out` (its header line).
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn new(out: &'a mut dyn Write) -> Result<DumpWriter<'a>> {
        writeln!(out, "{}", json!({"format": FORMAT, "version": VERSION}))?;
        Ok(DumpWriter { out: Some(out), tallies: BTreeMap::new() })
    }

    /// Counts and digests without writing.
    fn tally_only() -> DumpWriter<'a> {
        DumpWriter { out: None, tallies: BTreeMap::new() }
    }

    fn emit(&mut self, line: &str) -> Result<()> {
        if let Some(out) = self.out.as_mut() {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    /// A class's schema; all schemas come before any object.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn schema(&mut self, schema: &ClassSchema) -> Result<()> {
        self.tallies.entry(schema.class_name.to_string()).or_default();
        let mut document = schema_to_stored(schema);
        document["className"] = Value::from(schema.class_name.as_str());
        self.emit(&json!({ "schema": document }).to_string())
    }

    /// An object of a class whose schema was written (objects of a class in objectId order).
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn object(&mut self, class_name: &ClassName, object: &DumpedObject) -> Result<()> {
        let line = object_line(class_name.as_str(), object).to_string();
        self.tallies.entry(class_name.to_string()).or_default().object(&line);
        self.emit(&line)
    }

    /// A member of a Relation field (after the class's objects, in `(owningId, relatedId)` order).
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn relation(&mut self, class_name: &ClassName, field: &FieldName, owning: &str, related: &str) -> Result<()> {
        let line = relation_line(class_name.as_str(), field.as_str(), owning, related).to_string();
        self.tallies.entry(class_name.to_string()).or_default().relation(field.as_str(), &line);
        self.emit(&line)
    }

    /// Writes the summary line; answers the summary.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn finish(mut self) -> Result<Summary> {
        let summary: Summary =
            std::mem::take(&mut self.tallies).into_iter().map(|(name, tally)| (name, tally.finish())).collect();
        if let Some(out) = self.out.as_mut() {
            writeln!(out, "{}", summary_json(&summary))?;
            out.flush()?;
        }
        Ok(summary)
    }
}

/// Reads a whole store in dump order into `writer`; answers the summary.
async fn walk(store: &dyn Store, progress: &dyn Progress, mut writer: DumpWriter<'_>) -> Result<Summary> {
    let schemas = store.load_schemas().await?;
    let snapshot: Arc<Schemas> =
        Arc::new(schemas.iter().map(|schema| (schema.class_name.clone(), Arc::new(schema.clone()))).collect());
    for schema in &schemas {
        writer.schema(schema)?;
    }
    for schema in &schemas {
        let class_name = &schema.class_name;
        let objects = store.count(Arc::clone(&snapshot), all_of(class_name)).await?;
        progress.class(class_name.as_str(), objects);
        let mut after = None;
        loop {
            let page = store.dump_objects(Arc::clone(&snapshot), class_name, after.take(), BATCH).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.record.object_id.clone());
            for object in &page {
                writer.object(class_name, object)?;
            }
            progress.advance(page.len() as u64);
        }
        for field in relation_fields(schema) {
            progress.class(&format!("{class_name}.{field}"), 0);
            let mut after = None;
            loop {
                let page = store.dump_relation(class_name, field, after.take(), BATCH).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.clone());
                for (owning, related) in &page {
                    writer.relation(class_name, field, owning, related)?;
                }
                progress.advance(page.len() as u64);
            }
        }
    }
    writer.finish()
}

fn summary_json(summary: &Summary) -> Value {
    let classes: Map<String, Value> = summary
        .iter()
        .map(|(class_name, class)| {
            (
                class_name.clone(),
                json!({"objects": class.objects, "relations": class.relations, "digest": class.digest}),
            )
        })
        .collect();
    json!({ "summary": classes })
}

fn summary_from(value: &Value) -> Result<Summary> {
    let classes = value.as_object().ok_or_else(|| TransferError::Format("a summary that is not an object".into()))?;
    let mut summary = Summary::new();
    for (class_name, class) in classes {
        let relations = class
            .get("relations")
            .and_then(Value::as_object)
            .map(|relations| {
                relations.iter().map(|(field, count)| (field.clone(), count.as_u64().unwrap_or(0))).collect()
            })
            .unwrap_or_default();
        summary.insert(
            class_name.clone(),
            ClassSummary {
                objects: class.get("objects").and_then(Value::as_u64).unwrap_or(0),
                relations,
                digest: class.get("digest").and_then(Value::as_str).unwrap_or_default().to_owned(),
            },
        );
    }
    Ok(summary)
}

/// Writes the whole store to `out` as a dump; answers its summary.
///
/// # Errors
/// When the store cannot be read or `out` written.
pub async fn export(store: &dyn Store, out: &mut dyn Write, progress: &dyn Progress) -> Result<Summary> {
    walk(store, progress, DumpWriter::new(out)?).await
}

/// Summarises a store as an export would, without writing a dump.
///
/// # Errors
/// When the store cannot be read.
pub async fn summarize(store: &dyn Store) -> Result<Summary> {
    walk(store, &Quiet, DumpWriter::tally_only()).await
}

/// Restores a dump into `store`, which must hold no classes, and checks the result against the
/// dump's summary; answers it.
///
/// # Errors
/// `Format` for a damaged dump, `Mismatch` when the destination differs from it afterwards (or
/// already had classes), and store errors.
pub async fn import(store: &dyn Store, input: &mut dyn BufRead, progress: &dyn Progress) -> Result<Summary> {
    let existing = store.load_schemas().await?;
    if !existing.is_empty() {
        let names: Vec<String> = existing.iter().map(|schema| schema.class_name.to_string()).collect();
        return Err(TransferError::Mismatch(format!(
            "the destination already has classes ({}); import into an empty database",
            names.join(", ")
        )));
    }
    let mut lines = input.lines();
    let header: Value = match lines.next() {
        Some(line) => serde_json::from_str(&line?).map_err(|error| TransferError::Format(error.to_string()))?,
        None => return Err(TransferError::Format("the dump is empty".into())),
    };
    if header.get("format").and_then(Value::as_str) != Some(FORMAT)
        || header.get("version").and_then(Value::as_u64) != Some(VERSION)
    {
        return Err(TransferError::Format(format!("not a Basalt dump of version {VERSION}: {header}")));
    }
    let mut restorer = Restorer {
        store,
        schemas: Schemas::new(),
        pending: Vec::new(),
        tallies: BTreeMap::new(),
        progress,
        current: None,
    };
    let mut declared = None;
    for line in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if declared.is_some() {
            return Err(TransferError::Format("lines after the summary".into()));
        }
        let document: Value = serde_json::from_str(&line).map_err(|error| TransferError::Format(error.to_string()))?;
        if let Some(schema) = document.get("schema") {
            restorer.schema(schema).await?;
        } else if let Some(object) = document.get("object") {
            restorer.object(&line, object).await?;
        } else if let Some(relation) = document.get("relation") {
            restorer.relation(&line, relation).await?;
        } else if let Some(summary) = document.get("summary") {
            declared = Some(summary_from(summary)?);
        } else {
            return Err(TransferError::Format(format!("an unknown line: {line}")));
        }
    }
    restorer.flush().await?;
    let Some(declared) = declared else {
        return Err(TransferError::Format("no summary at the end: the dump is truncated".into()));
    };
    let read: Summary =
        std::mem::take(&mut restorer.tallies).into_iter().map(|(name, tally)| (name, tally.finish())).collect();
    compare("the dump's lines", &read, "its summary", &declared)?;
    let written = summarize(store).await?;
    compare("the destination", &written, "the dump", &declared)?;
    Ok(declared)
}

/// Fails naming the first class where the two summaries differ.
fn compare(left_name: &str, left: &Summary, right_name: &str, right: &Summary) -> Result<()> {
    let empty = ClassSummary::default();
    for class_name in left.keys().chain(right.keys()) {
        let (left_class, right_class) =
            (left.get(class_name).unwrap_or(&empty), right.get(class_name).unwrap_or(&empty));
        let same_digest = left_class.digest == right_class.digest
            || (left_class.objects == 0 && right_class.objects == 0 && left_class.relations.values().sum::<u64>() == 0);
        if left_class.objects != right_class.objects || left_class.relations != right_class.relations || !same_digest {
            return Err(TransferError::Mismatch(format!(
                "{class_name}: {left_name} has {} objects, relations {:?}, digest {}; {right_name} has {} objects, relations {:?}, digest {}",
                left_class.objects,
                left_class.relations,
                left_class.digest,
                right_class.objects,
                right_class.relations,
                right_class.digest
            )));
        }
    }
    Ok(())
}

/// Writes what an import reads, in batches.
struct Restorer<'a> {
    store: &'a dyn Store,
    schemas: Schemas,
    pending: Vec<WriteOp>,
    tallies: BTreeMap<String, Tally>,
    progress: &'a dyn Progress,
    /// The class whose lines are being read.
    current: Option<String>,
}

impl Restorer<'_> {
    async fn schema(&mut self, document: &Value) -> Result<()> {
        let class_name = document
            .get("className")
            .and_then(Value::as_str)
            .ok_or_else(|| TransferError::Format(format!("a schema without className: {document}")))?;
        let schema = schema_from_stored(class_name, document)?;
        let created = self.store.create_class(schema).await?;
        self.tallies.entry(class_name.to_owned()).or_default();
        self.schemas.insert(created.class_name.clone(), Arc::new(created));
        Ok(())
    }

    async fn object(&mut self, line: &str, object: &Value) -> Result<()> {
        let (class_name, dumped) = object_from(object)?;
        self.begin(class_name.as_str());
        self.tally(class_name.as_str())?.object(line);
        self.push(WriteOp::Restore { class_name, object: Box::new(dumped) }).await
    }

    async fn relation(&mut self, line: &str, relation: &Value) -> Result<()> {
        let text = |key: &str| {
            relation
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| TransferError::Format(format!("a relation without {key}: {relation}")))
        };
        let class_name = ClassName::parse(text("className")?)?;
        let field = FieldName::parse(text("field")?)?;
        self.begin(&format!("{class_name}.{field}"));
        self.tally(class_name.as_str())?.relation(field.as_str(), line);
        let pair = (text("owningId")?.to_owned(), text("relatedId")?.to_owned());
        if let Some(WriteOp::RestoreRelation { class_name: last_class, field: last_field, pairs }) =
            self.pending.last_mut()
            && *last_class == class_name
            && *last_field == field
        {
            pairs.push(pair);
            if pairs.len() >= BATCH {
                self.flush().await?;
            }
            return Ok(());
        }
        self.push(WriteOp::RestoreRelation { class_name, field, pairs: vec![pair] }).await
    }

    /// Tells the progress when the dump moves on to another class or Relation field (totals are
    /// unknown until the summary).
    fn begin(&mut self, part: &str) {
        if self.current.as_deref() != Some(part) {
            self.current = Some(part.to_owned());
            self.progress.class(part, 0);
        }
    }

    fn tally(&mut self, class_name: &str) -> Result<&mut Tally> {
        self.tallies
            .get_mut(class_name)
            .ok_or_else(|| TransferError::Format(format!("data of class {class_name} before its schema")))
    }

    async fn push(&mut self, op: WriteOp) -> Result<()> {
        self.pending.push(op);
        if self.pending.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the pending batch in one transaction.
    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.pending);
        let count = ops
            .iter()
            .map(|op| match op {
                WriteOp::RestoreRelation { pairs, .. } => pairs.len() as u64,
                _ => 1,
            })
            .sum();
        for outcome in self.store.write(Arc::new(self.schemas.clone()), ops, true).await? {
            outcome?;
        }
        self.progress.advance(count);
        Ok(())
    }
}
