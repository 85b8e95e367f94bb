//! The durable task queue on PostgreSQL: a `_basalt_task` table every node shares. A claim is one
//! statement that skips rows another node is claiming at that moment, so one node holds a task.

use deadpool_postgres::GenericClient;

use crate::Task;
use crate::error::StoreResult;

/// Created with the store's other tables.
pub(crate) const SETUP_SQL: &str = r#"
CREATE TABLE IF NOT EXISTS "_basalt_task" ("id" text COLLATE "C" PRIMARY KEY, "kind" text NOT NULL, "dueAt" int8 NOT NULL, "state" jsonb NOT NULL, "owner" text, "leaseUntil" int8 NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS "_basalt_task_due" ON "_basalt_task" ("dueAt");
"#;

pub(crate) async fn add(client: &impl GenericClient, task: &Task) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO \"_basalt_task\" (\"id\", \"kind\", \"dueAt\", \"state\") VALUES ($1, $2, $3, $4)",
            &[&task.id, &task.kind, &task.due_at, &task.state],
        )
        .await?;
    Ok(())
}

pub(crate) async fn claim(
    client: &impl GenericClient,
    now: i64,
    owner: &str,
    lease_until: i64,
) -> StoreResult<Option<Task>> {
    let row = client
        .query_opt(
            "UPDATE \"_basalt_task\" SET \"owner\" = $2, \"leaseUntil\" = $3 WHERE \"id\" = ( \
               SELECT \"id\" FROM \"_basalt_task\" WHERE \"dueAt\" <= $1 AND \"leaseUntil\" <= $1 \
               ORDER BY \"dueAt\" LIMIT 1 FOR UPDATE SKIP LOCKED) \
             AND \"leaseUntil\" <= $1 \
             RETURNING \"id\", \"kind\", \"dueAt\", \"state\"",
            &[&now, &owner, &lease_until],
        )
        .await?;
    Ok(match row {
        Some(row) => {
            Some(Task { id: row.try_get(0)?, kind: row.try_get(1)?, due_at: row.try_get(2)?, state: row.try_get(3)? })
        }
        None => None,
    })
}

pub(crate) async fn save(client: &impl GenericClient, task: &Task, owner: &str, lease_until: i64) -> StoreResult<bool> {
    let changed = client
        .execute(
            "UPDATE \"_basalt_task\" SET \"dueAt\" = $3::int8, \"state\" = $4, \"leaseUntil\" = $5::int8, \
             \"owner\" = CASE WHEN $5::int8 = 0 THEN NULL ELSE $2::text END WHERE \"id\" = $1 AND \"owner\" = $2::text",
            &[&task.id, &owner, &task.due_at, &task.state, &lease_until],
        )
        .await?;
    Ok(changed == 1)
}

pub(crate) async fn finish(client: &impl GenericClient, id: &str, owner: &str) -> StoreResult<bool> {
    let changed =
        client.execute("DELETE FROM \"_basalt_task\" WHERE \"id\" = $1 AND \"owner\" = $2", &[&id, &owner]).await?;
    Ok(changed == 1)
}

pub(crate) async fn next_due(client: &impl GenericClient) -> StoreResult<Option<i64>> {
    // A task under a claim is due again when its lease runs out (its node may have died).
    let row = client.query_one("SELECT MIN(GREATEST(\"dueAt\", \"leaseUntil\")) FROM \"_basalt_task\"", &[]).await?;
    Ok(row.try_get(0)?)
}
