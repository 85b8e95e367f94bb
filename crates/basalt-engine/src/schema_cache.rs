//! The in-memory schema cache: every class schema, read on start and replaced whenever the
//! engine changes a schema through the store. Queries compile against one consistent snapshot.
//! With other nodes on the same database, a change made here is announced to them (`cluster`),
//! and one they announce reloads the whole cache (`replace_all`).

use std::sync::{Arc, RwLock};

use basalt_core::{ClassName, ClassSchema, ParseError, ParseResult};
use basalt_store::{Schemas, Store};

/// Snapshots of the schemas, swapped atomically.
pub struct SchemaCache {
    snapshot: RwLock<Arc<Schemas>>,
    /// Where changes made here are announced, on a cluster.
    announce: Option<Arc<dyn crate::ClusterLink>>,
}

impl SchemaCache {
    pub(crate) async fn load(
        store: &dyn Store,
        announce: Option<Arc<dyn crate::ClusterLink>>,
    ) -> ParseResult<SchemaCache> {
        let loaded = store.load_schemas().await.map_err(ParseError::from)?;
        let schemas: Schemas = loaded.into_iter().map(|schema| (schema.class_name.clone(), Arc::new(schema))).collect();
        Ok(SchemaCache { snapshot: RwLock::new(Arc::new(schemas)), announce })
    }

    /// The current schemas.
    pub fn snapshot(&self) -> Arc<Schemas> {
        match self.snapshot.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn get(&self, class_name: &ClassName) -> Option<Arc<ClassSchema>> {
        self.snapshot().get(class_name).cloned()
    }

    /// Tells the other nodes that a schema changed.
    fn announce_change(&self) {
        if let Some(link) = &self.announce {
            link.publish(crate::cluster::notice("schemas").to_string());
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Arc<Schemas>> {
        match self.snapshot.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records a schema the store just wrote, unless a later version of it is already here
    /// (two changes answered out of order); answers the schema kept. A new version is announced
    /// to the other nodes.
    pub(crate) fn put(&self, schema: ClassSchema) -> Arc<ClassSchema> {
        let mut guard = self.write();
        let cached = guard.get(&schema.class_name);
        if let Some(cached) = cached.filter(|cached| cached.version > schema.version) {
            return Arc::clone(cached);
        }
        let cached_version = cached.map(|cached| cached.version);
        let schema = Arc::new(schema);
        let mut next = Schemas::clone(&guard);
        next.insert(schema.class_name.clone(), Arc::clone(&schema));
        *guard = Arc::new(next);
        drop(guard);
        if cached_version != Some(schema.version) {
            self.announce_change();
        }
        schema
    }

    pub(crate) fn remove(&self, class_name: &ClassName) {
        let mut guard = self.write();
        let mut next = Schemas::clone(&guard);
        next.remove(class_name);
        *guard = Arc::new(next);
        drop(guard);
        self.announce_change();
    }

    /// Replaces the cache with the schemas just loaded from the database, keeping a cached
    /// schema newer than its loaded one (changed here meanwhile).
    pub(crate) fn replace_all(&self, loaded: Vec<ClassSchema>) {
        let mut guard = self.write();
        let next: Schemas = loaded
            .into_iter()
            .map(|schema| match guard.get(&schema.class_name) {
                Some(cached) if cached.version > schema.version => (schema.class_name.clone(), Arc::clone(cached)),
                _ => (schema.class_name.clone(), Arc::new(schema)),
            })
            .collect();
        *guard = Arc::new(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_version_answered_late_does_not_replace_a_newer_one() {
        let cache = SchemaCache { snapshot: RwLock::new(Arc::new(Schemas::new())), announce: None };
        let class_name = ClassName::parse("Post").expect("class name");
        let mut older = ClassSchema::new(class_name.clone());
        older.version = 1;
        let mut newer = older.clone();
        newer.version = 2;
        newer.fields.insert(
            basalt_core::FieldName::parse("title").expect("field name"),
            basalt_core::FieldSpec::of(basalt_core::FieldType::String),
        );
        cache.put(newer.clone());
        let kept = cache.put(older);
        assert_eq!(*kept, newer);
        assert_eq!(cache.get(&class_name).as_deref(), Some(&newer));
        let mut newest = newer.clone();
        newest.version = 3;
        cache.put(newest.clone());
        assert_eq!(cache.get(&class_name).as_deref(), Some(&newest));
    }
}
