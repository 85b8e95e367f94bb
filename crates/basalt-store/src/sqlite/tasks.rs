//! The durable task queue on SQLite: a `_basalt_task` table written on the writer thread, so a
//! claim and the check before it are one step.

use rusqlite::{Connection, OptionalExtension, params};

use crate::Task;
use crate::error::{StoreError, StoreResult};

pub(crate) fn create_table(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS \"_basalt_task\" (\"id\" TEXT PRIMARY KEY NOT NULL, \"kind\" TEXT NOT NULL, \
         \"dueAt\" INTEGER NOT NULL, \"state\" TEXT NOT NULL, \"owner\" TEXT, \"leaseUntil\" INTEGER NOT NULL DEFAULT 0); \
         CREATE INDEX IF NOT EXISTS \"_basalt_task_due\" ON \"_basalt_task\" (\"dueAt\");",
    )
}

fn state_text(task: &Task) -> String {
    task.state.to_string()
}

pub(crate) fn add(connection: &Connection, task: &Task) -> StoreResult<()> {
    connection.execute(
        "INSERT INTO \"_basalt_task\" (\"id\", \"kind\", \"dueAt\", \"state\") VALUES (?1, ?2, ?3, ?4)",
        params![task.id, task.kind, task.due_at, state_text(task)],
    )?;
    Ok(())
}

pub(crate) fn claim(connection: &Connection, now: i64, owner: &str, lease_until: i64) -> StoreResult<Option<Task>> {
    let found = connection
        .query_row(
            "SELECT \"id\", \"kind\", \"dueAt\", \"state\" FROM \"_basalt_task\" \
             WHERE \"dueAt\" <= ?1 AND \"leaseUntil\" <= ?1 ORDER BY \"dueAt\" LIMIT 1",
            params![now],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((id, kind, due_at, state)) = found else { return Ok(None) };
    connection.execute(
        "UPDATE \"_basalt_task\" SET \"owner\" = ?2, \"leaseUntil\" = ?3 WHERE \"id\" = ?1",
        params![id, owner, lease_until],
    )?;
    let state =
        serde_json::from_str(&state).map_err(|error| StoreError::internal(format!("corrupt task {id}: {error}")))?;
    Ok(Some(Task { id, kind, due_at, state }))
}

pub(crate) fn save(connection: &Connection, task: &Task, owner: &str, lease_until: i64) -> StoreResult<bool> {
    let changed = connection.execute(
        "UPDATE \"_basalt_task\" SET \"dueAt\" = ?3, \"state\" = ?4, \"leaseUntil\" = ?5, \
         \"owner\" = CASE WHEN ?5 = 0 THEN NULL ELSE ?2 END WHERE \"id\" = ?1 AND \"owner\" = ?2",
        params![task.id, owner, task.due_at, state_text(task), lease_until],
    )?;
    Ok(changed == 1)
}

pub(crate) fn finish(connection: &Connection, id: &str, owner: &str) -> StoreResult<bool> {
    let changed =
        connection.execute("DELETE FROM \"_basalt_task\" WHERE \"id\" = ?1 AND \"owner\" = ?2", params![id, owner])?;
    Ok(changed == 1)
}

pub(crate) fn next_due(connection: &Connection) -> StoreResult<Option<i64>> {
    // A task under a claim is due again when its lease runs out (its node may have died).
    Ok(connection.query_row("SELECT MIN(MAX(\"dueAt\", \"leaseUntil\")) FROM \"_basalt_task\"", [], |row| {
        row.get::<_, Option<i64>>(0)
    })?)
}
