//! The `basalt` binary: command line and environment, logging, the data directory, and wiring
//! the settings `basalt::build` turns into a running server. Thin by design.

mod cli;
mod credentials;
mod mail;
mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use basalt::{Database, Existing};
use basalt_engine::EngineConfig;
use basalt_server::ServerConfig;
use basalt_store::sqlite::Durability;
use clap::Parser;
use tokio::net::TcpListener;

use crate::cli::{Cli, Command, ServeArgs};

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

/// The database `--database-uri` names: SQLite (the data directory's file unless a `sqlite://`
/// path is given) or PostgreSQL.
pub(crate) fn database(args: &cli::DatabaseArgs, sync_full: bool) -> anyhow::Result<Database> {
    let path: std::path::PathBuf = match args.database_uri.as_deref() {
        None => args.data_dir.join("basalt.sqlite3"),
        Some(uri) if uri.starts_with("sqlite://") => uri.trim_start_matches("sqlite://").into(),
        Some(uri) if uri.starts_with("postgres://") || uri.starts_with("postgresql://") => {
            return Ok(Database::Postgres { uri: uri.to_owned() });
        }
        Some(other) => {
            bail!("--database-uri: unsupported database URI {other:?} (expected sqlite://PATH or postgres://…)")
        }
    };
    let durability = if sync_full { Durability::Full } else { Durability::Process };
    Ok(Database::Sqlite { path, durability })
}

/// The store `--database-uri` names (see `database`).
pub(crate) async fn open_store(
    args: &cli::DatabaseArgs,
    sync_full: bool,
    existing: Existing,
) -> anyhow::Result<Arc<dyn basalt_store::Store>> {
    Ok(database(args, sync_full)?.open(existing).await?.store)
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

    let database_args = cli::DatabaseArgs { data_dir: args.data_dir.clone(), database_uri: args.database_uri.clone() };
    let database = database(&database_args, args.sync_full)?;
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
    limits.file_upload_bytes_max = u64::try_from(args.max_upload_size).unwrap_or(u64::MAX);
    limits.cloud_call_ms_max = args.cloud_timeout_ms;
    limits.cloud_memory_bytes_max = args.cloud_memory_mb.saturating_mul(1024 * 1024);
    limits.cloud_job_ms_max = args.cloud_job_timeout_ms;
    let engine = EngineConfig {
        allow_client_class_creation: args.allow_client_class_creation,
        files_url_prefix: format!("{}/files/{}/", public_server_url.trim_end_matches('/'), credentials.app_id),
        limits,
        auth: args.auth_config()?,
        clock: Arc::new(basalt_engine::SystemClock),
        email: email_config(&args, &public_server_url, &credentials.app_id)?,
        files: Some(files_config(&args)?),
        webhook_key: args.webhook_key.clone(),
    };
    if matches!(database, Database::Postgres { .. }) && args.s3_bucket.is_none() {
        // Other nodes may serve this database; a file saved here must be found by them. Said in
        // the start-up banner, where the generated credentials are too.
        println!(
            "warning: files are stored in {}: every node serving this database must use that same \
             directory (a shared disk), or S3 (--s3-bucket), or files saved through one node are \
             missing on the others",
            args.data_dir.join("files").display()
        );
    }
    let server = ServerConfig {
        keys: basalt_engine::AppKeys {
            app_id: credentials.app_id,
            master_key: credentials.master_key,
            rest_api_key: args.rest_api_key,
            javascript_key: args.javascript_key,
            client_key: args.client_key,
            windows_key: None,
            master_key_ips: args.master_key_ips,
        },
        mount_path: mount_path.clone(),
        public_server_url,
    };
    let cloud = args.cloud.as_ref().map(|main| basalt::CloudSettings {
        main: main.clone(),
        workers: match args.cloud_workers {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            workers => workers,
        },
    });
    let live_query_classes = match &args.live_query_classes {
        None => None,
        Some(classes) if classes.iter().any(|class| class.trim() == "*") => None,
        Some(classes) => {
            Some(classes.iter().map(|class| class.trim().to_owned()).filter(|class| !class.is_empty()).collect())
        }
    };
    let push = args.push_config.as_deref().map(push_providers).transpose()?;
    let settings = basalt::Settings { database, engine, server, cloud, live_query_classes, push };
    let server = basalt::build(settings, listener).await?;
    let shutdown = shutdown_signal()?;
    println!("basalt listening on http://{address}{mount_path}");
    server.serve(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The push providers `--push-config` names: a JSON file, or the JSON itself.
fn push_providers(config: &str) -> anyhow::Result<Arc<dyn basalt_push::PushSender>> {
    let text = match config.trim_start().starts_with('{') {
        true => config.to_owned(),
        false => std::fs::read_to_string(config).map_err(|error| anyhow::anyhow!("--push-config {config}: {error}"))?,
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| anyhow::anyhow!("--push-config is not JSON: {error}"))?;
    let providers =
        basalt_push::Providers::from_config(&json).map_err(|error| anyhow::anyhow!("--push-config: {error}"))?;
    tracing::info!(devices = ?basalt_push::PushSender::device_types(&providers), "push providers configured");
    Ok(Arc::new(providers))
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
