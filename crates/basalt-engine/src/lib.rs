//! What a Parse request can do, without HTTP: create, get, update, delete and find objects,
//! manage schemas, run batches and aggregations. Route handlers call an `Engine`; so will cloud
//! code, in-process. The engine owns the schema cache and the rules of Parse's data model; the
//! store does the SQL.

mod aggregate;
mod batch;
mod caller;
mod find;
mod object_id;
mod objects;
mod output;
mod schema_cache;
mod schemas;

use std::sync::Arc;

use basalt_core::{Limits, ParseResult};
use basalt_store::Store;

pub use batch::{BatchItem, BatchMethod};
pub use caller::Caller;
pub use find::{FindParams, FindResult, GetParams};
pub use schema_cache::SchemaCache;

/// Settings of the engine that change what clients may do.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// May a client (no master key) create a class by saving to it? Parse Server 9: no.
    pub allow_client_class_creation: bool,
    /// Base of file URLs: `{public server url}/files/{app id}/`.
    pub files_url_prefix: String,
    pub limits: Limits,
}

/// A cheap-to-clone handle over the store and the schema cache.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    schemas: SchemaCache,
    config: EngineConfig,
}

impl Engine {
    /// Loads the schemas and returns a ready engine.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn start(store: Arc<dyn Store>, config: EngineConfig) -> ParseResult<Engine> {
        let schemas = SchemaCache::load(store.as_ref()).await?;
        Ok(Engine { inner: Arc::new(Inner { store, schemas, config }) })
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.config.limits
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn schemas(&self) -> &SchemaCache {
        &self.inner.schemas
    }
}
