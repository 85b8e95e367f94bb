//! What system classes keep beyond their fields: `_User` secrets in internal columns (never
//! selected by a find, which reads only schema fields), unique indexes for user names, emails,
//! session tokens and role names, and the role closure of a user.

use rusqlite::{Connection, OptionalExtension, params};

use crate::TokenKind;
use crate::UserSecrets;
use crate::error::{StoreError, StoreErrorKind, StoreResult};
use basalt_core::ClassName;

/// Internal columns of `_User`. Parse Server's names, so a migrated database reads the same.
const USER_SECRET_COLUMNS: &str = "\"_hashed_password\", \"_failed_login_count\", \"_account_lockout_expires_at\", \"_password_changed_at\", \"_password_history\", \"_email_verify_token\", \"_email_verify_token_expires_at\", \"_perishable_token\", \"_perishable_token_expires_at\"";

/// Adds the internal columns and unique indexes of a system class when it is created.
/// Indexes an `_Installation` table made before Basalt indexed it.
pub(crate) fn index_existing_installations(connection: &Connection) -> StoreResult<()> {
    if table_exists(connection, "_Installation")? {
        connection.execute_batch(crate::sql::INSTALLATION_INDEXES)?;
    }
    Ok(())
}

pub(crate) fn create_system_storage(connection: &Connection, class_name: &ClassName) -> StoreResult<()> {
    match class_name.as_str() {
        "_User" => connection.execute_batch(
            "ALTER TABLE \"_User\" ADD COLUMN \"_hashed_password\" TEXT;
             ALTER TABLE \"_User\" ADD COLUMN \"_failed_login_count\" INTEGER;
             ALTER TABLE \"_User\" ADD COLUMN \"_account_lockout_expires_at\" INTEGER;
             ALTER TABLE \"_User\" ADD COLUMN \"_password_changed_at\" INTEGER;
             ALTER TABLE \"_User\" ADD COLUMN \"_password_history\" TEXT;
             ALTER TABLE \"_User\" ADD COLUMN \"_email_verify_token\" TEXT;
             ALTER TABLE \"_User\" ADD COLUMN \"_email_verify_token_expires_at\" INTEGER;
             ALTER TABLE \"_User\" ADD COLUMN \"_perishable_token\" TEXT;
             ALTER TABLE \"_User\" ADD COLUMN \"_perishable_token_expires_at\" INTEGER;
             CREATE UNIQUE INDEX IF NOT EXISTS \"_User:username_unique\" ON \"_User\" (lower(\"username\"));
             CREATE UNIQUE INDEX IF NOT EXISTS \"_User:email_unique\" ON \"_User\" (lower(\"email\"));
             CREATE INDEX IF NOT EXISTS \"_User:email_verify_token\" ON \"_User\" (\"_email_verify_token\");
             CREATE INDEX IF NOT EXISTS \"_User:perishable_token\" ON \"_User\" (\"_perishable_token\");",
        )?,
        "_Session" => connection.execute_batch(
            "CREATE UNIQUE INDEX IF NOT EXISTS \"_Session:sessionToken_unique\" ON \"_Session\" (\"sessionToken\");
             CREATE INDEX IF NOT EXISTS \"_Session:user\" ON \"_Session\" (\"user\");",
        )?,
        "_Role" => connection
            .execute_batch("CREATE UNIQUE INDEX IF NOT EXISTS \"_Role:name_unique\" ON \"_Role\" (\"name\");")?,
        "_Installation" => connection.execute_batch(crate::sql::INSTALLATION_INDEXES)?,
        _ => {}
    }
    Ok(())
}

fn table_exists(connection: &Connection, table: &str) -> StoreResult<bool> {
    let found: Option<i64> = connection
        .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table], |row| row.get(0))
        .optional()?;
    Ok(found.is_some())
}

pub(crate) fn secrets(connection: &Connection, user_id: &str) -> StoreResult<Option<UserSecrets>> {
    if !table_exists(connection, "_User")? {
        return Ok(None);
    }
    let sql = format!("SELECT {USER_SECRET_COLUMNS} FROM \"_User\" WHERE \"objectId\" = ?");
    let mut statement = connection.prepare_cached(&sql)?;
    let found = statement
        .query_row([user_id], |row| {
            let history: Option<String> = row.get(4)?;
            Ok(UserSecrets {
                hashed_password: row.get(0)?,
                failed_login_count: row.get::<_, Option<i64>>(1)?.unwrap_or(0),
                lockout_expires_at: row.get(2)?,
                password_changed_at: row.get(3)?,
                password_history: history.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default(),
                email_verify_token: row.get(5)?,
                email_verify_token_expires_at: row.get(6)?,
                reset_token: row.get(7)?,
                reset_token_expires_at: row.get(8)?,
            })
        })
        .optional()?;
    Ok(found)
}

pub(crate) fn put_secrets(connection: &Connection, user_id: &str, secrets: &UserSecrets) -> StoreResult<UserSecrets> {
    let history = serde_json::to_string(&secrets.password_history).unwrap_or_else(|_| "[]".into());
    let changed = connection.prepare_cached(
        "UPDATE \"_User\" SET \"_hashed_password\" = ?, \"_failed_login_count\" = ?, \"_account_lockout_expires_at\" = ?, \"_password_changed_at\" = ?, \"_password_history\" = ?, \"_email_verify_token\" = ?, \"_email_verify_token_expires_at\" = ?, \"_perishable_token\" = ?, \"_perishable_token_expires_at\" = ? WHERE \"objectId\" = ?",
    )?
    .execute(params![
        secrets.hashed_password,
        secrets.failed_login_count,
        secrets.lockout_expires_at,
        secrets.password_changed_at,
        history,
        secrets.email_verify_token,
        secrets.email_verify_token_expires_at,
        secrets.reset_token,
        secrets.reset_token_expires_at,
        user_id
    ])?;
    if changed == 0 {
        return Err(StoreError::not_found());
    }
    Ok(secrets.clone())
}

pub(crate) fn record_login_failure(
    connection: &Connection,
    user_id: &str,
    threshold: i64,
    lock_until: i64,
) -> StoreResult<UserSecrets> {
    connection
        .prepare_cached(
            "UPDATE \"_User\" SET \"_failed_login_count\" = COALESCE(\"_failed_login_count\", 0) + 1 WHERE \"objectId\" = ?",
        )?
        .execute([user_id])?;
    connection
        .prepare_cached(
            "UPDATE \"_User\" SET \"_account_lockout_expires_at\" = ?, \"_failed_login_count\" = 0 WHERE \"objectId\" = ? AND \"_failed_login_count\" >= ?",
        )?
        .execute(params![lock_until, user_id, threshold])?;
    secrets(connection, user_id)?.ok_or_else(StoreError::not_found)
}

fn token_columns(kind: TokenKind) -> (&'static str, &'static str) {
    match kind {
        TokenKind::EmailVerification => ("\"_email_verify_token\"", "\"_email_verify_token_expires_at\""),
        TokenKind::PasswordReset => ("\"_perishable_token\"", "\"_perishable_token_expires_at\""),
    }
}

pub(crate) fn user_for_token(
    connection: &Connection,
    kind: TokenKind,
    token: &str,
    now: i64,
) -> StoreResult<Option<String>> {
    if !table_exists(connection, "_User")? {
        return Ok(None);
    }
    let (token_column, expiry_column) = token_columns(kind);
    let user_id = connection
        .prepare_cached(&format!(
            "SELECT \"objectId\" FROM \"_User\" WHERE {token_column} = ? AND ({expiry_column} IS NULL OR {expiry_column} > ?)"
        ))?
        .query_row(params![token, now], |row| row.get(0))
        .optional()?;
    Ok(user_id)
}

pub(crate) fn take_token(
    connection: &Connection,
    kind: TokenKind,
    token: &str,
    now: i64,
) -> StoreResult<Option<String>> {
    let Some(user_id) = user_for_token(connection, kind, token, now)? else {
        return Err(StoreError::driver(StoreErrorKind::InvalidToken, "invalid or expired token"));
    };
    let (token_column, expiry_column) = token_columns(kind);
    connection
        .prepare_cached(&format!(
            "UPDATE \"_User\" SET {token_column} = NULL, {expiry_column} = NULL WHERE \"objectId\" = ?"
        ))?
        .execute([user_id.as_str()])?;
    Ok(Some(user_id))
}

pub(crate) fn role_names(connection: &Connection, user_id: &str) -> StoreResult<Vec<String>> {
    if !table_exists(connection, "_Join:users:_Role")? || !table_exists(connection, "_Role")? {
        return Ok(Vec::new());
    }
    let inherits = table_exists(connection, "_Join:roles:_Role")?;
    // UNION (not UNION ALL) drops rows already found, so a cycle of roles ends the recursion.
    let sql = if inherits {
        "WITH RECURSIVE held(id) AS (
             SELECT \"owningId\" FROM \"_Join:users:_Role\" WHERE \"relatedId\" = ?
             UNION
             SELECT j.\"owningId\" FROM \"_Join:roles:_Role\" j JOIN held ON j.\"relatedId\" = held.id
         )
         SELECT \"name\" FROM \"_Role\" WHERE \"objectId\" IN (SELECT id FROM held) AND \"name\" IS NOT NULL"
    } else {
        "SELECT \"name\" FROM \"_Role\" WHERE \"objectId\" IN (SELECT \"owningId\" FROM \"_Join:users:_Role\" WHERE \"relatedId\" = ?) AND \"name\" IS NOT NULL"
    };
    let mut statement = connection.prepare_cached(sql)?;
    let names = statement.query_map([user_id], |row| row.get::<_, String>(0))?;
    let mut out = Vec::new();
    for name in names {
        out.push(name?);
    }
    Ok(out)
}
