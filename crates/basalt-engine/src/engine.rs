//! The `Engine`: a cheap-to-clone handle over the store, the schema cache and the parts it was
//! started with (cluster link, cloud code, LiveQuery's queue). What it can do is spread over the
//! modules named in `lib.rs`, each an `impl Engine` for its area.

use std::sync::Arc;

use basalt_core::{Limits, ParseResult};
use basalt_store::Store;

use crate::{ClusterLink, EngineConfig, EventQueue, Hooks, SchemaCache, push, rate_limit, webhooks};

/// A cheap-to-clone handle over the store and the schema cache.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) schemas: SchemaCache,
    pub(crate) config: EngineConfig,
    /// LiveQuery's queue, when it runs.
    pub(crate) events: Option<EventQueue>,
    /// Other nodes on the same database, when there are (see `cluster`).
    pub(crate) cluster: Option<Arc<dyn ClusterLink>>,
    /// Cloud code, when there is.
    pub(crate) hooks: Option<Arc<dyn Hooks>>,
    pub(crate) webhooks: webhooks::Webhooks,
    pub(crate) rate_counters: rate_limit::RateCounters,
    /// Push notifications, when providers are configured.
    pub(crate) push: Option<push::PushPart>,
}

/// What the engine works with besides its store and settings; each is optional.
#[derive(Default)]
pub struct EngineParts {
    /// The other nodes on the same database. Join before the engine starts (it loads the
    /// schemas after), so no change announced meanwhile is missed.
    pub cluster: Option<Arc<dyn ClusterLink>>,
    /// Cloud code (its calls into the engine get the engine with each call).
    pub hooks: Option<Arc<dyn Hooks>>,
    /// LiveQuery's queue (`event_queue`; LiveQuery holds the receiving end).
    pub events: Option<EventQueue>,
    /// The push providers (the engine runs a push worker when there are).
    pub push: Option<Arc<dyn basalt_push::PushSender>>,
}

impl Engine {
    /// Loads the schemas and the declared webhooks, and returns a ready engine.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn start(store: Arc<dyn Store>, config: EngineConfig, parts: EngineParts) -> ParseResult<Engine> {
        let schemas = SchemaCache::load(store.as_ref(), parts.cluster.clone()).await?;
        let webhooks = webhooks::Webhooks::new(config.webhook_key.clone());
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                schemas,
                config,
                events: parts.events,
                cluster: parts.cluster,
                hooks: parts.hooks,
                webhooks,
                rate_counters: rate_limit::RateCounters::default(),
                push: parts.push.map(push::PushPart::new),
            }),
        };
        engine.load_webhooks().await?;
        Ok(engine)
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.config.limits
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The current time, from the configured clock.
    pub(crate) fn now(&self) -> i64 {
        self.inner.config.clock.now_millis()
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub(crate) fn schemas(&self) -> &SchemaCache {
        &self.inner.schemas
    }
}
