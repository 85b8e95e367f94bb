//! The app id and master key: from flags/env, or generated on first start and kept in the data
//! directory (`keys.json`, readable by the owner only) so `basalt serve` alone gives a working
//! server that keeps its keys across restarts.

use std::path::Path;

use anyhow::Context;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::json;

pub(crate) struct Credentials {
    pub(crate) app_id: String,
    pub(crate) master_key: String,
}

fn random_key(length: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(length).map(char::from).collect()
}

pub(crate) fn resolve(
    data_dir: &Path,
    app_id: Option<String>,
    master_key: Option<String>,
) -> anyhow::Result<Credentials> {
    if let (Some(app_id), Some(master_key)) = (&app_id, &master_key) {
        return Ok(Credentials { app_id: app_id.clone(), master_key: master_key.clone() });
    }
    let path = data_dir.join("keys.json");
    let stored: Option<serde_json::Value> = match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let stored_field =
        |name: &str| stored.as_ref().and_then(|stored| stored.get(name)).and_then(|v| v.as_str()).map(str::to_owned);
    let generated = stored.is_none();
    let credentials = Credentials {
        app_id: app_id.or_else(|| stored_field("appId")).unwrap_or_else(|| random_key(20)),
        master_key: master_key.or_else(|| stored_field("masterKey")).unwrap_or_else(|| random_key(40)),
    };
    if generated {
        let document = json!({"appId": credentials.app_id, "masterKey": credentials.master_key});
        write_private(&path, &serde_json::to_string_pretty(&document)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("basalt generated credentials, stored in {}:", path.display());
        println!("  app id:     {}", credentials.app_id);
        println!("  master key: {}", credentials.master_key);
    }
    Ok(credentials)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
