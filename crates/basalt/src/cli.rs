//! The command line. Every flag also reads the environment variable Parse Server
//! uses for the same option, so a Parse Server deployment can swap its binary.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Basalt: a Parse-compatible backend in one binary.
#[derive(Debug, Parser)]
#[command(name = "basalt", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the server (SQLite in the data directory unless --database-uri says otherwise).
    Serve(Box<ServeArgs>),
    /// Measure how many log-ins per second this machine allows: password-hash verifications at
    /// Basalt's parameters, on every core.
    HashRate {
        /// How long to measure.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Write the whole database (schemas, objects with their secrets, relations) as a dump that
    /// `basalt import` reads, ending with per-class counts and digests.
    Export(ExportArgs),
    /// Load a dump (or copy another database) into an empty database, then check that it holds
    /// exactly what the source held (counts and digests per class).
    Import(ImportArgs),
}

/// The database a command reads or writes, found as `serve` finds it.
#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// Directory of the default SQLite database.
    #[arg(long, env = "BASALT_DATA_DIR", default_value = "./basalt-data")]
    pub(crate) data_dir: PathBuf,
    /// The database: sqlite://PATH or postgres://… (default: the data dir's SQLite).
    #[arg(long, env = "PARSE_SERVER_DATABASE_URI")]
    pub(crate) database_uri: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// Where the dump goes: a file, or `-` for stdout.
    #[arg(long, value_name = "FILE|-")]
    pub(crate) to: String,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// What to load: a dump file, `-` for stdin, or the URI of a database to copy — sqlite://PATH
    /// or postgres://… of another Basalt database, or of a Parse Server database.
    #[arg(long, value_name = "FILE|-|URI")]
    pub(crate) from: String,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PARSE_SERVER_HOST", default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to listen on; 0 picks a free one and prints it.
    #[arg(long, env = "PORT", default_value_t = 1337)]
    pub(crate) port: u16,
    /// Path the API is mounted at.
    #[arg(long, env = "PARSE_SERVER_MOUNT_PATH", default_value = "/parse")]
    pub(crate) mount_path: String,
    /// Application id clients must send. Generated and stored in the data dir when absent.
    #[arg(long, env = "PARSE_SERVER_APPLICATION_ID")]
    pub(crate) app_id: Option<String>,
    /// Master key (full access, accepted from --master-key-ips only). Generated when absent.
    #[arg(long, env = "PARSE_SERVER_MASTER_KEY")]
    pub(crate) master_key: Option<String>,
    /// Client key for REST clients; when no client key is set, clients need none.
    #[arg(long, env = "PARSE_SERVER_REST_API_KEY")]
    pub(crate) rest_api_key: Option<String>,
    /// Client key for the JavaScript SDK.
    #[arg(long, env = "PARSE_SERVER_JAVASCRIPT_KEY")]
    pub(crate) javascript_key: Option<String>,
    /// Client key for the iOS/Android SDKs.
    #[arg(long, env = "PARSE_SERVER_CLIENT_KEY")]
    pub(crate) client_key: Option<String>,
    /// Directory holding the database and generated keys.
    #[arg(long, env = "BASALT_DATA_DIR", default_value = "./basalt-data")]
    pub(crate) data_dir: PathBuf,
    /// Database: sqlite://PATH (default: basalt.sqlite3 in the data dir) or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE (created when missing).
    #[arg(long, env = "PARSE_SERVER_DATABASE_URI")]
    pub(crate) database_uri: Option<String>,
    /// Cloud code entry file (main.js).
    #[arg(long, env = "PARSE_SERVER_CLOUD")]
    pub(crate) cloud: Option<PathBuf>,
    /// URL clients reach the API at (used in file URLs and Location headers).
    #[arg(long, env = "PARSE_PUBLIC_SERVER_URL")]
    pub(crate) public_server_url: Option<String>,
    /// CPU time one cloud code call may take, in milliseconds.
    #[arg(long, env = "BASALT_CLOUD_TIMEOUT_MS", default_value_t = 1000)]
    pub(crate) cloud_timeout_ms: u64,
    /// Memory one cloud code runtime may use, in MiB.
    #[arg(long, env = "BASALT_CLOUD_MEMORY_MB", default_value_t = 64)]
    pub(crate) cloud_memory_mb: usize,
    /// Time one cloud code job may run, in milliseconds.
    #[arg(long, env = "BASALT_CLOUD_JOB_TIMEOUT_MS", default_value_t = 900_000)]
    pub(crate) cloud_job_timeout_ms: u64,
    /// Key sent as `X-Parse-Webhook-Key` with every Cloud Code webhook call.
    #[arg(long, env = "PARSE_SERVER_WEBHOOK_KEY")]
    pub(crate) webhook_key: Option<String>,
    /// Cloud code runtimes (each on its own thread); 0 = one per CPU.
    #[arg(long, env = "BASALT_CLOUD_WORKERS", default_value_t = 0)]
    pub(crate) cloud_workers: usize,
    /// Push providers, as Parse Server's `push` option: a JSON file, or the JSON itself
    /// (`{"ios": {…APNs…}, "android": {…FCM…}, "web": {…VAPID…}, "expo": {…}}`).
    #[arg(long, env = "PARSE_SERVER_PUSH")]
    pub(crate) push_config: Option<String>,
    /// Classes with LiveQuery on (`*` or absent = all).
    #[arg(long, env = "PARSE_SERVER_LIVE_QUERY_CLASSES", value_delimiter = ',')]
    pub(crate) live_query_classes: Option<Vec<String>>,
    /// Let clients without the master key create classes by saving to them (Parse 9: off).
    #[arg(long, env = "PARSE_SERVER_ALLOW_CLIENT_CLASS_CREATION", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) allow_client_class_creation: bool,
    /// Addresses the master key is accepted from.
    #[arg(long, env = "PARSE_SERVER_MASTER_KEY_IPS", value_delimiter = ',', default_values_t = [IpAddr::from([127, 0, 0, 1]), IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])])]
    pub(crate) master_key_ips: Vec<IpAddr>,
    /// Largest JSON request body, in bytes or with a kb/mb/gb suffix (default 20mb).
    #[arg(long, env = "BASALT_MAX_BODY_SIZE", value_parser = parse_size)]
    pub(crate) max_body_size: Option<usize>,
    /// Connections open at once, LiveQuery included; one more is answered 503 (default 10000).
    #[arg(long, env = "BASALT_MAX_CONNECTIONS")]
    pub(crate) max_connections: Option<usize>,
    /// Milliseconds a client has to send a request's headers; also the idle keep-alive time
    /// (default 10000).
    #[arg(long, env = "BASALT_HEADER_TIMEOUT_MS")]
    pub(crate) header_timeout_ms: Option<u64>,
    /// Milliseconds a client has to send a request's body (default 120000).
    #[arg(long, env = "BASALT_BODY_TIMEOUT_MS")]
    pub(crate) body_timeout_ms: Option<u64>,
    /// Largest uploaded file, in bytes or with a kb/mb/gb suffix (default 20mb).
    #[arg(long, env = "PARSE_SERVER_MAX_UPLOAD_SIZE", value_parser = parse_size, default_value = "20mb")]
    pub(crate) max_upload_size: usize,
    /// Requests without a user may upload files.
    #[arg(long, env = "PARSE_SERVER_FILE_UPLOAD_ENABLE_FOR_PUBLIC", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) file_upload_enable_for_public: bool,
    /// Anonymous users may upload files.
    #[arg(long, env = "PARSE_SERVER_FILE_UPLOAD_ENABLE_FOR_ANONYMOUS_USER", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) file_upload_enable_for_anonymous_user: bool,
    /// Logged-in users may upload files.
    #[arg(long, env = "PARSE_SERVER_FILE_UPLOAD_ENABLE_FOR_AUTHENTICATED_USER", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) file_upload_enable_for_authenticated_user: bool,
    /// Store files in this S3 bucket instead of the data dir.
    #[arg(long, env = "BASALT_S3_BUCKET")]
    pub(crate) s3_bucket: Option<String>,
    /// Region of the bucket.
    #[arg(long, env = "BASALT_S3_REGION", default_value = "us-east-1")]
    pub(crate) s3_region: String,
    /// An S3-compatible endpoint, e.g. http://127.0.0.1:9000 (AWS when absent).
    #[arg(long, env = "BASALT_S3_ENDPOINT")]
    pub(crate) s3_endpoint: Option<String>,
    /// Access key id for the bucket (or AWS_ACCESS_KEY_ID).
    #[arg(long, env = "BASALT_S3_ACCESS_KEY_ID")]
    pub(crate) s3_access_key_id: Option<String>,
    /// Secret access key for the bucket (or AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "BASALT_S3_SECRET_ACCESS_KEY")]
    pub(crate) s3_secret_access_key: Option<String>,
    /// Lifetime of a new session, in seconds (default one year).
    #[arg(long, env = "PARSE_SERVER_SESSION_LENGTH", default_value_t = 31_536_000)]
    pub(crate) session_length: i64,
    /// New users are readable and writable only by themselves (Parse 9: on).
    #[arg(long, env = "PARSE_SERVER_ENFORCE_PRIVATE_USERS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) enforce_private_users: bool,
    /// Changing a password ends the user's other sessions.
    #[arg(long, env = "PARSE_SERVER_REVOKE_SESSION_ON_PASSWORD_RESET", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) revoke_session_on_password_reset: bool,
    /// Allow log-in with `authData.anonymous`.
    #[arg(long, env = "PARSE_SERVER_ENABLE_ANON_USERS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) enable_anonymous_users: bool,
    /// Lock an account after this many failed log-ins (off when absent).
    #[arg(long, env = "BASALT_ACCOUNT_LOCKOUT_THRESHOLD")]
    pub(crate) account_lockout_threshold: Option<i64>,
    /// Minutes an account stays locked.
    #[arg(long, env = "BASALT_ACCOUNT_LOCKOUT_DURATION", default_value_t = 5)]
    pub(crate) account_lockout_duration: i64,
    /// A password reset unlocks a locked account.
    #[arg(long, env = "BASALT_ACCOUNT_LOCKOUT_UNLOCK_ON_PASSWORD_RESET", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) account_lockout_unlock_on_password_reset: bool,
    /// Passwords must match this regular expression.
    #[arg(long, env = "BASALT_PASSWORD_POLICY_PATTERN")]
    pub(crate) password_policy_pattern: Option<String>,
    /// The message of a password the policy refuses.
    #[arg(long, env = "BASALT_PASSWORD_POLICY_MESSAGE")]
    pub(crate) password_policy_message: Option<String>,
    /// Passwords may not contain the username.
    #[arg(long, env = "BASALT_PASSWORD_POLICY_NO_USERNAME", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) password_policy_no_username: bool,
    /// A new password may not be one of the last N.
    #[arg(long, env = "BASALT_PASSWORD_POLICY_HISTORY", default_value_t = 0)]
    pub(crate) password_policy_history: usize,
    /// Passwords expire after this many days.
    #[arg(long, env = "BASALT_PASSWORD_POLICY_MAX_AGE_DAYS")]
    pub(crate) password_policy_max_age_days: Option<i64>,
    /// Third-party log-in providers for `authData`, as JSON: `{"<provider>": {"type": "oidc",
    /// "issuer": URL, "audience": CLIENT_ID or [..], "jwks": {"keys": [..]} or "jwksPath": FILE}}`.
    #[arg(long, env = "PARSE_SERVER_AUTH_PROVIDERS", value_name = "JSON")]
    pub(crate) auth_providers: Option<String>,
    /// Application name shown in verification and password-reset mails.
    #[arg(long, env = "PARSE_SERVER_APP_NAME")]
    pub(crate) app_name: Option<String>,
    /// SMTP server for mails: smtp://user:pass@host:port?tls=required, smtps://host:465, smtp://host:25.
    #[arg(long, env = "BASALT_SMTP_URL")]
    pub(crate) smtp_url: Option<String>,
    /// Sender of mails, e.g. "My App <noreply@example.com>".
    #[arg(long, env = "BASALT_SMTP_FROM")]
    pub(crate) smtp_from: Option<String>,
    /// Send a verification mail on sign-up and email change.
    #[arg(long, env = "PARSE_SERVER_VERIFY_USER_EMAILS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) verify_user_emails: bool,
    /// Refuse log-in until the user's email is verified.
    #[arg(long, env = "PARSE_SERVER_PREVENT_LOGIN_WITH_UNVERIFIED_EMAIL", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) prevent_login_with_unverified_email: bool,
    /// Seconds a verification link stays valid (forever when absent).
    #[arg(long, env = "PARSE_SERVER_EMAIL_VERIFY_TOKEN_VALIDITY_DURATION")]
    pub(crate) email_verify_token_validity_duration: Option<i64>,
    /// Seconds a password-reset link stays valid (forever when absent).
    #[arg(long, env = "BASALT_RESET_TOKEN_VALIDITY_DURATION")]
    pub(crate) reset_token_validity_duration: Option<i64>,
    /// Fsync every commit (survives power loss); the default survives a process crash.
    #[arg(long, env = "BASALT_SYNC_FULL", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) sync_full: bool,
}

impl ServeArgs {
    /// Users and sessions settings from the flags.
    pub(crate) fn auth_config(&self) -> anyhow::Result<basalt_engine::AuthConfig> {
        if let Some(pattern) = &self.password_policy_pattern {
            regex::Regex::new(pattern).map_err(|error| anyhow::anyhow!("--password-policy-pattern: {error}"))?;
        }
        let policy_given = self.password_policy_pattern.is_some()
            || self.password_policy_no_username
            || self.password_policy_history > 0
            || self.password_policy_max_age_days.is_some();
        Ok(basalt_engine::AuthConfig {
            session_length_secs: self.session_length,
            enforce_private_users: self.enforce_private_users,
            revoke_session_on_password_reset: self.revoke_session_on_password_reset,
            allow_anonymous_users: self.enable_anonymous_users,
            account_lockout: self.account_lockout_threshold.map(|threshold| basalt_engine::AccountLockout {
                threshold,
                duration_minutes: self.account_lockout_duration,
                unlock_on_password_reset: self.account_lockout_unlock_on_password_reset,
            }),
            password_policy: policy_given.then(|| basalt_engine::PasswordPolicy {
                validator_pattern: self.password_policy_pattern.clone(),
                validation_error: self.password_policy_message.clone(),
                do_not_allow_username: self.password_policy_no_username,
                max_password_history: self.password_policy_history,
                max_password_age_days: self.password_policy_max_age_days,
            }),
            adapters: auth_adapters(self.auth_providers.as_deref())?,
        })
    }
}

/// The adapters `--auth-providers` configures, one per provider.
fn auth_adapters(providers_json: Option<&str>) -> anyhow::Result<basalt_engine::AuthAdapters> {
    let mut adapters = basalt_engine::AuthAdapters::default();
    let Some(providers_json) = providers_json else {
        return Ok(adapters);
    };
    let providers: serde_json::Map<String, serde_json::Value> = serde_json::from_str(providers_json)
        .map_err(|error| anyhow::anyhow!("--auth-providers must be a JSON object of providers: {error}"))?;
    for (provider, config) in providers {
        if provider.is_empty() {
            anyhow::bail!("--auth-providers: a provider name cannot be empty");
        }
        if provider == "anonymous" {
            anyhow::bail!(
                "--auth-providers: \"anonymous\" cannot be configured (anonymous log-in is --enable-anonymous-users)"
            );
        }
        match config.get("type") {
            Some(serde_json::Value::String(kind)) if kind == "oidc" => {
                let adapter = basalt_engine::OidcAdapter::from_config(&config)
                    .map_err(|error| anyhow::anyhow!("--auth-providers: {provider}: {error}"))?;
                adapters.insert(provider, std::sync::Arc::new(adapter));
            }
            Some(kind) => anyhow::bail!("--auth-providers: {provider}: unknown type {kind} (supported: \"oidc\")"),
            None => anyhow::bail!("--auth-providers: {provider}: \"type\" is required (supported: \"oidc\")"),
        }
    }
    Ok(adapters)
}

/// Parses `20mb`, `512kb`, `1gb` or a byte count.
fn parse_size(text: &str) -> Result<usize, String> {
    let lowered = text.trim().to_ascii_lowercase();
    let (digits, multiplier) = if let Some(number) = lowered.strip_suffix("gb") {
        (number, 1024 * 1024 * 1024)
    } else if let Some(number) = lowered.strip_suffix("mb") {
        (number, 1024 * 1024)
    } else if let Some(number) = lowered.strip_suffix("kb") {
        (number, 1024)
    } else if let Some(number) = lowered.strip_suffix('b') {
        (number, 1)
    } else {
        (lowered.as_str(), 1)
    };
    let number: usize = digits.trim().parse().map_err(|_| format!("not a size: {text:?} (use e.g. 20mb)"))?;
    number.checked_mul(multiplier).ok_or_else(|| format!("size too large: {text:?}"))
}

/// `/parse/` and `parse` become `/parse`; `/` becomes the empty mount.
pub(crate) fn normalize_mount_path(mount_path: &str) -> String {
    let trimmed = mount_path.trim().trim_matches('/');
    if trimmed.is_empty() {
        return String::new();
    }
    format!("/{trimmed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20mb"), Ok(20 * 1024 * 1024));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("lots").is_err());
    }

    /// Every boolean flag reads the same way: `--flag` is on, `--flag=false` (or `--flag false`,
    /// `=0`, `=no`, `=off`) is off, and its environment variable takes the same words.
    #[test]
    fn every_boolean_flag_takes_bare_and_explicit_forms() {
        use clap::CommandFactory;
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("serve");
        let booleans: Vec<String> = serve
            .get_arguments()
            .filter(|argument| argument.get_default_values().iter().any(|value| value == "true" || value == "false"))
            .filter_map(|argument| argument.get_long().map(str::to_owned))
            .collect();
        assert!(booleans.len() >= 12, "{booleans:?}");
        for long in &booleans {
            for form in [format!("--{long}"), format!("--{long}=false"), format!("--{long}=on")] {
                let parsed = Cli::try_parse_from(["basalt", "serve", form.as_str(), "--port", "1"]);
                assert!(parsed.is_ok(), "{form}: {:?}", parsed.err());
            }
        }
        let parse = |args: &[&str]| -> Box<ServeArgs> {
            let mut argv = vec!["basalt", "serve"];
            argv.extend_from_slice(args);
            match Cli::try_parse_from(argv).expect("parses").command {
                Command::Serve(serve) => serve,
                _ => panic!("not serve"),
            }
        };
        let on = parse(&["--sync-full", "--enforce-private-users", "--allow-client-class-creation"]);
        assert!(on.sync_full && on.enforce_private_users && on.allow_client_class_creation);
        let off =
            parse(&["--enforce-private-users=false", "--revoke-session-on-password-reset", "no", "--sync-full=0"]);
        assert!(!off.enforce_private_users && !off.revoke_session_on_password_reset && !off.sync_full);
        assert!(parse(&[]).enforce_private_users, "the default stays");
        assert!(Cli::try_parse_from(["basalt", "serve", "--sync-full=maybe"]).is_err());
    }

    #[test]
    fn mount_paths() {
        assert_eq!(normalize_mount_path("/parse/"), "/parse");
        assert_eq!(normalize_mount_path("api"), "/api");
        assert_eq!(normalize_mount_path("/"), "");
    }
}
