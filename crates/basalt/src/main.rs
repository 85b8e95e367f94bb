//! The `basalt` binary: command line and environment, logging, the data directory, and wiring
//! the store, engine and server together. Thin by design.

mod cli;
mod credentials;
mod mail;
mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use basalt_engine::{Engine, EngineConfig};
use basalt_server::ServerConfig;
use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use clap::Parser;
use tokio::net::TcpListener;

use crate::cli::{Cli, Command, ServeArgs};

/// Frames queued for one LiveQuery client before it counts as fallen behind: about a second of
/// events at a busy class, and a few hundred KiB at most per client.
const LIVE_QUERY_QUEUE_FRAMES_MAX: usize = 1000;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small strings and
/// maps across worker threads, where glibc's arenas spent ~12% of the CPU of a read (see
/// docs/history.md, "Where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The chain of causes, without a backtrace: start-up errors are for people.
            eprintln!("basalt: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Serve(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve(*args))
        }
        Command::Export(args) => async_runtime()?.block_on(transfer::export(args)),
        Command::Import(args) => async_runtime()?.block_on(transfer::import(args)),
        Command::HashRate { seconds } => {
            let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            let rate = basalt_engine::verification_rate(threads, std::time::Duration::from_secs(seconds))
                .map_err(|error| anyhow::anyhow!("measuring the hash rate: {error}"))?;
            println!("{}: {rate:.1} verifications/s on {threads} threads", basalt_engine::hash_parameters());
            Ok(())
        }
    }
}

/// Whether a command may start from a database that does not exist yet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Created when missing (`serve`, `import`).
    Created,
    /// Must exist (`export`, an import's source): a mistyped path is an error, not an empty
    /// database.
    Required,
}

/// The store `--database-uri` names: SQLite (the data directory's file unless a `sqlite://` path
/// is given) or PostgreSQL (returned a second time: other nodes may share it).
pub(crate) async fn open_store(
    args: &cli::DatabaseArgs,
    sync_full: bool,
    existing: Existing,
) -> anyhow::Result<(Arc<dyn basalt_store::Store>, Option<basalt_store::postgres::PgStore>)> {
    let database_path: std::path::PathBuf = match args.database_uri.as_deref() {
        None => args.data_dir.join("basalt.sqlite3"),
        Some(uri) if uri.starts_with("sqlite://") => uri.trim_start_matches("sqlite://").into(),
        Some(uri) if uri.starts_with("postgres://") || uri.starts_with("postgresql://") => {
            let store = basalt_store::postgres::PgStore::connect(uri)
                .await
                .map_err(|error| anyhow::anyhow!("connecting to PostgreSQL: {error}"))?;
            return Ok((Arc::new(store.clone()), Some(store)));
        }
        Some(other) => {
            bail!("--database-uri: unsupported database URI {other:?} (expected sqlite://PATH or postgres://…)")
        }
    };
    if existing == Existing::Required && !database_path.is_file() {
        bail!("no database at {}", database_path.display());
    }
    if existing == Existing::Created
        && let Some(parent) = database_path.parent().filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = SqliteOptions::new(&database_path);
    if sync_full {
        options.durability = basalt_store::sqlite::Durability::Full;
    }
    let store =
        SqliteStore::open(options).map_err(|error| anyhow::anyhow!("opening {}: {error}", database_path.display()))?;
    Ok((Arc::new(store), None))
}

/// Joins the other nodes on the same PostgreSQL database: this node's schema, webhook and object
/// changes go to them, theirs come here (see `basalt_engine::cluster`).
async fn join_cluster(engine: &Engine, store: &basalt_store::postgres::PgStore) -> anyhow::Result<()> {
    let node = format!("{:016x}", rand::random::<u64>());
    let (link, mut deliveries) =
        store.join_cluster(&node).await.map_err(|error| anyhow::anyhow!("listening for the other nodes: {error}"))?;
    engine.join_cluster(Arc::new(link));
    // What changed between loading the schemas and listening.
    engine.resync().await.map_err(|error| anyhow::anyhow!("reloading schemas: {error}"))?;
    let engine = engine.clone();
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
    tracing::info!(node, "joined the nodes on this database");
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
    let credentials = credentials::resolve(&args.data_dir, args.app_id.clone(), args.master_key.clone())?;
    let mount_path = cli::normalize_mount_path(&args.mount_path);

    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    let address: SocketAddr = listener.local_addr().context("reading the bound address")?;
    let public_server_url = args.public_server_url.clone().unwrap_or_else(|| format!("http://{address}{mount_path}"));

    let database = cli::DatabaseArgs { data_dir: args.data_dir.clone(), database_uri: args.database_uri.clone() };
    let (store, shared_store) = open_store(&database, args.sync_full, Existing::Created).await?;
    let mut limits = basalt_core::Limits::default();
    if let Some(body_bytes_max) = args.max_body_size {
        limits.body_bytes_max = body_bytes_max;
    }
    if let Some(connections_max) = args.max_connections {
        limits.connections_max = connections_max;
    }
    if let Some(header_read_ms_max) = args.header_timeout_ms {
        limits.header_read_ms_max = header_read_ms_max;
    }
    if let Some(body_read_ms_max) = args.body_timeout_ms {
        limits.body_read_ms_max = body_read_ms_max;
    }
    let engine_config = EngineConfig {
        allow_client_class_creation: args.allow_client_class_creation,
        files_url_prefix: format!("{}/files/{}/", public_server_url.trim_end_matches('/'), credentials.app_id),
        limits,
        auth: args.auth_config()?,
        clock: Arc::new(basalt_engine::SystemClock),
        email: email_config(&args, &public_server_url, &credentials.app_id)?,
        files: Some(files_config(&args)?),
        webhook_key: args.webhook_key.clone(),
    };
    if shared_store.is_some() && args.s3_bucket.is_none() {
        // Other nodes may serve this database; a file saved here must be found by them. Said in
        // the start-up banner, where the generated credentials are too.
        println!(
            "warning: files are stored in {}: every node serving this database must use that same \
             directory (a shared disk), or S3 (--s3-bucket), or files saved through one node are \
             missing on the others",
            args.data_dir.join("files").display()
        );
    }
    let engine =
        Engine::start(store, engine_config).await.map_err(|error| anyhow::anyhow!("loading schemas: {error}"))?;
    let server_config = ServerConfig {
        app_id: credentials.app_id,
        master_key: credentials.master_key,
        rest_api_key: args.rest_api_key,
        javascript_key: args.javascript_key,
        client_key: args.client_key,
        windows_key: None,
        master_key_ips: args.master_key_ips,
        mount_path: mount_path.clone(),
        public_server_url,
    };
    if let Some(main) = &args.cloud {
        let workers = match args.cloud_workers {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            workers => workers,
        };
        let limits = basalt_cloud::CloudLimits {
            cpu_ms_max: args.cloud_timeout_ms,
            memory_bytes_max: args.cloud_memory_mb.saturating_mul(1024 * 1024),
            workers,
            job_ms_max: args.cloud_job_timeout_ms,
        };
        let cloud = basalt_cloud::CloudCode::load(main, engine.clone(), limits)
            .map_err(|error| anyhow::anyhow!("--cloud: {error}"))?;
        engine.set_hooks(cloud);
    }
    let live_query_classes = match &args.live_query_classes {
        None => None,
        Some(classes) if classes.iter().any(|class| class.trim() == "*") => None,
        Some(classes) => {
            Some(classes.iter().map(|class| class.trim().to_owned()).filter(|class| !class.is_empty()).collect())
        }
    };
    let hub = basalt_realtime::Hub::new(
        engine.clone(),
        basalt_realtime::LiveQueryConfig {
            classes: live_query_classes,
            app_id: server_config.app_id.clone(),
            master_key: server_config.master_key.clone(),
            master_key_ips: server_config.master_key_ips.clone(),
            client_keys: server_config.client_keys().map(str::to_owned).collect(),
            queue_frames_max: LIVE_QUERY_QUEUE_FRAMES_MAX,
        },
    );
    engine.set_event_sink(hub.clone());
    if let Some(shared_store) = &shared_store {
        join_cluster(&engine, shared_store).await?;
    }
    let shutdown = shutdown_signal()?;
    println!("basalt listening on http://{address}{mount_path}");
    basalt_server::serve(listener, engine, server_config, Some(hub), shutdown).await.context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

fn files_config(args: &ServeArgs) -> anyhow::Result<basalt_engine::FilesConfig> {
    let store: Arc<dyn basalt_files::FileStore> = match &args.s3_bucket {
        Some(bucket) => {
            let config = basalt_files::S3Config {
                bucket: bucket.clone(),
                region: args.s3_region.clone(),
                endpoint: args.s3_endpoint.clone(),
                access_key_id: args.s3_access_key_id.clone().or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok()),
                secret_access_key: args
                    .s3_secret_access_key
                    .clone()
                    .or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok()),
            };
            Arc::new(basalt_files::S3FileStore::open(&config).map_err(|error| anyhow::anyhow!("--s3-bucket: {error}"))?)
        }
        None => {
            let root = args.data_dir.join("files");
            Arc::new(
                basalt_files::LocalFileStore::open(&root)
                    .map_err(|error| anyhow::anyhow!("opening {}: {error}", root.display()))?,
            )
        }
    };
    Ok(basalt_engine::FilesConfig {
        store,
        upload_bytes_max: u64::try_from(args.max_upload_size).unwrap_or(u64::MAX),
        enable_for_public: args.file_upload_enable_for_public,
        enable_for_anonymous_user: args.file_upload_enable_for_anonymous_user,
        enable_for_authenticated_user: args.file_upload_enable_for_authenticated_user,
    })
}

fn email_config(args: &ServeArgs, public_server_url: &str, app_id: &str) -> anyhow::Result<basalt_engine::EmailConfig> {
    let mailer: Option<Arc<dyn basalt_engine::Mailer>> = match (&args.smtp_url, &args.smtp_from) {
        (Some(url), Some(from)) => Some(Arc::new(mail::SmtpMailer::from_url(url, from)?)),
        (Some(_), None) => bail!("--smtp-url needs --smtp-from (the sender address)"),
        (None, _) => None,
    };
    if args.verify_user_emails && (mailer.is_none() || args.app_name.is_none()) {
        bail!("--verify-user-emails needs --app-name, --smtp-url and --smtp-from");
    }
    Ok(basalt_engine::EmailConfig {
        app_name: args.app_name.clone(),
        pages_url_prefix: format!("{}/apps/{app_id}/", public_server_url.trim_end_matches('/')),
        mailer,
        verify_user_emails: args.verify_user_emails,
        prevent_login_with_unverified_email: args.prevent_login_with_unverified_email,
        email_verify_token_validity_secs: args.email_verify_token_validity_duration,
        reset_token_validity_secs: args.reset_token_validity_duration,
    })
}

/// Installs the SIGINT/SIGTERM handlers now and returns the future that completes on either.
/// Installed before the "listening" line is printed, so a signal sent as soon as the server says
/// it is up stops it cleanly instead of killing it.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
