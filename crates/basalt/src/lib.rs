//! Builds a running Basalt server from its settings: the one wiring of store, cluster link,
//! cloud code, engine, LiveQuery and HTTP server. The `basalt` binary turns its command line into
//! `Settings`; the tests build `Settings` of their own and run the very same wiring.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use basalt_engine::{Engine, EngineConfig, EngineParts};
use basalt_server::ServerConfig;
use basalt_store::sqlite::{Durability, SqliteOptions, SqliteStore};
use tokio::net::TcpListener;

/// Where the data lives.
#[derive(Clone, Debug)]
pub enum Database {
    /// One SQLite file (one node).
    Sqlite { path: PathBuf, durability: Durability },
    /// A PostgreSQL database, which other nodes may share.
    Postgres { uri: String },
}

/// Whether a command may start from a database that does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Created when missing (`serve`, `import`).
    Created,
    /// Must exist (`export`, an import's source): a mistyped path is an error, not an empty
    /// database.
    Required,
}

impl Database {
    /// Is the database there already?
    ///
    /// # Errors
    /// When PostgreSQL cannot be reached.
    pub async fn exists(&self) -> anyhow::Result<bool> {
        match self {
            Database::Sqlite { path, .. } => Ok(path.exists()),
            Database::Postgres { uri } => basalt_store::postgres::PgStore::database_exists(uri)
                .await
                .map_err(|error| anyhow::anyhow!("connecting to PostgreSQL: {error}")),
        }
    }

    /// Removes the database (the SQLite file with its journal files, or the PostgreSQL database):
    /// what a command that created it and then failed leaves behind.
    ///
    /// # Errors
    /// When PostgreSQL refuses; a SQLite file already gone is no error.
    pub async fn remove(&self) -> anyhow::Result<()> {
        match self {
            Database::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
                Ok(())
            }
            Database::Postgres { uri } => basalt_store::postgres::PgStore::drop_database(uri)
                .await
                .map_err(|error| anyhow::anyhow!("dropping the database: {error}")),
        }
    }

    /// Opens the store.
    ///
    /// # Errors
    /// When the database cannot be opened or reached, or must exist and does not.
    pub async fn open(&self, existing: Existing) -> anyhow::Result<OpenedStore> {
        match self {
            Database::Postgres { uri } => {
                let store = basalt_store::postgres::PgStore::connect(uri)
                    .await
                    .map_err(|error| anyhow::anyhow!("connecting to PostgreSQL: {error}"))?;
                Ok(OpenedStore { store: Arc::new(store.clone()), shared: Some(store) })
            }
            Database::Sqlite { path, durability } => {
                if existing == Existing::Required && !path.is_file() {
                    bail!("no database at {}", path.display());
                }
                if existing == Existing::Created
                    && let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                let mut options = SqliteOptions::new(path);
                options.durability = *durability;
                let store = SqliteStore::open(options)
                    .map_err(|error| anyhow::anyhow!("opening {}: {error}", path.display()))?;
                Ok(OpenedStore { store: Arc::new(store), shared: None })
            }
        }
    }
}

/// An open store.
pub struct OpenedStore {
    pub store: Arc<dyn basalt_store::Store>,
    /// PostgreSQL's store a second time when it is one: other nodes may share it.
    pub shared: Option<basalt_store::postgres::PgStore>,
}

/// Cloud code to load (its limits are the engine's `Limits`).
#[derive(Clone, Debug)]
pub struct CloudSettings {
    pub main: PathBuf,
    /// Runtimes, each on its own thread.
    pub workers: usize,
}

/// Everything a running server is built from.
pub struct Settings {
    pub database: Database,
    pub engine: EngineConfig,
    pub server: ServerConfig,
    pub cloud: Option<CloudSettings>,
    /// Classes LiveQuery serves; `None` for every class.
    pub live_query_classes: Option<HashSet<String>>,
    /// The push providers (`--push-config`), when push is on.
    pub push: Option<Arc<dyn basalt_push::PushSender>>,
}

/// A server built and bound, not yet answering: `serve` runs it.
pub struct Server {
    listener: TcpListener,
    engine: Engine,
    hub: Arc<basalt_realtime::Hub>,
    config: ServerConfig,
}

/// Builds the server `settings` describe on `listener`: opens the database, joins the other
/// nodes on a PostgreSQL database (before the schemas load, so no change announced meanwhile is
/// missed), loads cloud code, starts the engine and LiveQuery.
///
/// # Errors
/// When the database cannot be opened, cloud code does not load, or the schemas cannot be read.
pub async fn build(settings: Settings, listener: TcpListener) -> anyhow::Result<Server> {
    let OpenedStore { store, shared: shared_store } = settings.database.open(Existing::Created).await?;
    let mut parts = EngineParts::default();
    let mut deliveries = None;
    if let Some(shared_store) = &shared_store {
        let node = format!("{:016x}", rand::random::<u64>());
        let (link, received) = shared_store
            .join_cluster(&node)
            .await
            .map_err(|error| anyhow::anyhow!("listening for the other nodes: {error}"))?;
        parts.cluster = Some(Arc::new(link));
        deliveries = Some(received);
        tracing::info!(node, "joined the nodes on this database");
    }
    if let Some(cloud) = &settings.cloud {
        let limits = basalt_cloud::CloudLimits::new(&settings.engine.limits, cloud.workers);
        let code =
            basalt_cloud::CloudCode::load(&cloud.main, limits).map_err(|error| anyhow::anyhow!("--cloud: {error}"))?;
        parts.hooks = Some(code);
    }
    let (queue, events) = basalt_engine::event_queue(settings.engine.limits.live_query_events_queued_max);
    parts.events = Some(queue);
    parts.push = settings.push;
    let engine = Engine::start(store, settings.engine, parts)
        .await
        .map_err(|error| anyhow::anyhow!("loading schemas: {error}"))?;
    engine.start_push_worker();
    if let Some(deliveries) = deliveries {
        apply_deliveries(engine.clone(), deliveries);
    }
    let hub = basalt_realtime::Hub::new(
        engine.clone(),
        basalt_realtime::LiveQueryConfig { classes: settings.live_query_classes, keys: settings.server.keys.clone() },
        events,
    );
    Ok(Server { listener, engine, hub, config: settings.server })
}

/// Applies what the other nodes announce (and this node's own announcements, back in the order
/// every node hears them), for as long as the engine runs.
fn apply_deliveries(
    engine: Engine,
    mut deliveries: tokio::sync::mpsc::UnboundedReceiver<basalt_store::postgres::Delivery>,
) {
    tokio::spawn(async move {
        while let Some(delivery) = deliveries.recv().await {
            let applied = match delivery {
                basalt_store::postgres::Delivery::Message(text) => engine.on_cluster_message(&text).await,
                basalt_store::postgres::Delivery::Own(text) => engine.on_own_cluster_message(&text).await,
                basalt_store::postgres::Delivery::Resync => engine.resync().await,
            };
            if let Err(error) = applied {
                tracing::warn!(%error, "applying a change from another node");
            }
        }
    });
}

impl Server {
    /// Answers requests until `shutdown` completes.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        basalt_server::serve(self.listener, self.engine, self.config, Some(self.hub), shutdown).await.context("serving")
    }
}
