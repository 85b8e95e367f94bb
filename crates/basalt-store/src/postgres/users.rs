//! `_User` secrets in internal columns (never selected by a find, which reads only schema
//! fields), one-time tokens, and the role closure of a user.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::table_exists;
use crate::error::{StoreError, StoreErrorKind, StoreResult};
use crate::{TokenKind, UserSecrets};

const SECRET_COLUMNS: &str = "\"_hashed_password\", \"_failed_login_count\", \"_account_lockout_expires_at\", \"_password_changed_at\", \"_password_history\", \"_email_verify_token\", \"_email_verify_token_expires_at\", \"_perishable_token\", \"_perishable_token_expires_at\"";

fn secrets_of(row: &Row) -> StoreResult<UserSecrets> {
    let history: Option<serde_json::Value> = row.try_get(4)?;
    Ok(UserSecrets {
        hashed_password: row.try_get(0)?,
        failed_login_count: row.try_get::<_, Option<i64>>(1)?.unwrap_or(0),
        lockout_expires_at: row.try_get(2)?,
        password_changed_at: row.try_get(3)?,
        password_history: history.and_then(|history| serde_json::from_value(history).ok()).unwrap_or_default(),
        email_verify_token: row.try_get(5)?,
        email_verify_token_expires_at: row.try_get(6)?,
        reset_token: row.try_get(7)?,
        reset_token_expires_at: row.try_get(8)?,
    })
}

pub(crate) async fn secrets(client: &impl GenericClient, user_id: &str) -> StoreResult<Option<UserSecrets>> {
    if !table_exists(client, "_User").await? {
        return Ok(None);
    }
    let statement =
        client.prepare_cached(&format!("SELECT {SECRET_COLUMNS} FROM \"_User\" WHERE \"objectId\" = $1::text")).await?;
    client.query_opt(&statement, &[&user_id]).await?.map(|row| secrets_of(&row)).transpose()
}

pub(crate) async fn put_secrets(
    client: &impl GenericClient,
    user_id: &str,
    secrets: &UserSecrets,
) -> StoreResult<UserSecrets> {
    let history = serde_json::json!(secrets.password_history);
    let statement = client
        .prepare_cached(
            "UPDATE \"_User\" SET \"_hashed_password\" = $1::text, \"_failed_login_count\" = $2::int8, \"_account_lockout_expires_at\" = $3::int8, \"_password_changed_at\" = $4::int8, \"_password_history\" = $5::jsonb, \"_email_verify_token\" = $6::text, \"_email_verify_token_expires_at\" = $7::int8, \"_perishable_token\" = $8::text, \"_perishable_token_expires_at\" = $9::int8 WHERE \"objectId\" = $10::text",
        )
        .await?;
    let changed = client
        .execute(
            &statement,
            &[
                &secrets.hashed_password,
                &secrets.failed_login_count,
                &secrets.lockout_expires_at,
                &secrets.password_changed_at,
                &history,
                &secrets.email_verify_token,
                &secrets.email_verify_token_expires_at,
                &secrets.reset_token,
                &secrets.reset_token_expires_at,
                &user_id,
            ],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::not_found());
    }
    Ok(secrets.clone())
}

/// One statement: the row lock makes concurrent failures count one by one.
pub(crate) async fn record_login_failure(
    client: &impl GenericClient,
    user_id: &str,
    threshold: i64,
    lock_until: i64,
) -> StoreResult<UserSecrets> {
    let statement = client
        .prepare_cached(&format!(
            "UPDATE \"_User\" SET
                \"_failed_login_count\" = CASE WHEN COALESCE(\"_failed_login_count\", 0) + 1 >= $2::int8 THEN 0 ELSE COALESCE(\"_failed_login_count\", 0) + 1 END,
                \"_account_lockout_expires_at\" = CASE WHEN COALESCE(\"_failed_login_count\", 0) + 1 >= $2::int8 THEN $3::int8 ELSE \"_account_lockout_expires_at\" END
             WHERE \"objectId\" = $1::text RETURNING {SECRET_COLUMNS}"
        ))
        .await?;
    let row = client.query_opt(&statement, &[&user_id, &threshold, &lock_until]).await?;
    match row {
        Some(row) => secrets_of(&row),
        None => Err(StoreError::not_found()),
    }
}

fn token_columns(kind: TokenKind) -> (&'static str, &'static str) {
    match kind {
        TokenKind::EmailVerification => ("\"_email_verify_token\"", "\"_email_verify_token_expires_at\""),
        TokenKind::PasswordReset => ("\"_perishable_token\"", "\"_perishable_token_expires_at\""),
    }
}

pub(crate) async fn user_for_token(
    client: &impl GenericClient,
    kind: TokenKind,
    token: &str,
    now: i64,
) -> StoreResult<Option<String>> {
    if !table_exists(client, "_User").await? {
        return Ok(None);
    }
    let (token_column, expiry_column) = token_columns(kind);
    let statement = client
        .prepare_cached(&format!(
            "SELECT \"objectId\" FROM \"_User\" WHERE {token_column} = $1::text AND ({expiry_column} IS NULL OR {expiry_column} > $2::int8)"
        ))
        .await?;
    let row = client.query_opt(&statement, &[&token, &now]).await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Clears a current token and answers its user, in one statement: two concurrent requests
/// cannot both take it.
pub(crate) async fn take_token(
    client: &impl GenericClient,
    kind: TokenKind,
    token: &str,
    now: i64,
) -> StoreResult<Option<String>> {
    let invalid = || StoreError::driver(StoreErrorKind::InvalidToken, "invalid or expired token");
    if !table_exists(client, "_User").await? {
        return Err(invalid());
    }
    let (token_column, expiry_column) = token_columns(kind);
    let statement = client
        .prepare_cached(&format!(
            "UPDATE \"_User\" SET {token_column} = NULL, {expiry_column} = NULL WHERE {token_column} = $1::text AND ({expiry_column} IS NULL OR {expiry_column} > $2::int8) RETURNING \"objectId\""
        ))
        .await?;
    match client.query_opt(&statement, &[&token, &now]).await? {
        Some(row) => Ok(Some(row.try_get(0)?)),
        None => Err(invalid()),
    }
}

pub(crate) async fn role_names(client: &impl GenericClient, user_id: &str) -> StoreResult<Vec<String>> {
    if !table_exists(client, "_Join:users:_Role").await? || !table_exists(client, "_Role").await? {
        return Ok(Vec::new());
    }
    let inherits = table_exists(client, "_Join:roles:_Role").await?;
    // UNION (not UNION ALL) drops rows already found, so a cycle of roles ends the recursion.
    let sql = if inherits {
        "WITH RECURSIVE held(id) AS (
             SELECT \"owningId\" FROM \"_Join:users:_Role\" WHERE \"relatedId\" = $1::text
             UNION
             SELECT j.\"owningId\" FROM \"_Join:roles:_Role\" j JOIN held ON j.\"relatedId\" = held.id
         )
         SELECT \"name\" FROM \"_Role\" WHERE \"objectId\" IN (SELECT id FROM held) AND \"name\" IS NOT NULL"
    } else {
        "SELECT \"name\" FROM \"_Role\" WHERE \"objectId\" IN (SELECT \"owningId\" FROM \"_Join:users:_Role\" WHERE \"relatedId\" = $1::text) AND \"name\" IS NOT NULL"
    };
    let statement = client.prepare_cached(sql).await?;
    let rows = client.query(&statement, &[&user_id]).await?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}
