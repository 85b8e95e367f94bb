//! The durable task queue, on SQLite and PostgreSQL: a task is claimed only when due, by one
//! claimer at a time; a claim whose lease ran out is taken over, and its old holder can no longer
//! save or finish it; a task survives the store being closed and opened again.

mod common;

use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use basalt_store::{Store, Task};
use serde_json::json;

fn task(id: &str, due_at: i64) -> Task {
    Task { id: id.into(), kind: "push".into(), due_at, state: json!({"sent": 0}) }
}

async fn the_queue_holds(store: &dyn Store) {
    assert_eq!(store.next_task_due().await.expect("next"), None);
    store.add_task(&task("later", 2_000)).await.expect("add");
    store.add_task(&task("sooner", 1_000)).await.expect("add");
    assert_eq!(store.next_task_due().await.expect("next"), Some(1_000));
    // Nothing is due before its time.
    assert_eq!(store.claim_task(999, "a", 10_000).await.expect("claim"), None);

    // The earliest due first; a claimed task is not claimed again while its lease runs.
    let claimed = store.claim_task(1_500, "a", 5_000).await.expect("claim").expect("a due task");
    assert_eq!(claimed, task("sooner", 1_000));
    assert_eq!(store.claim_task(1_600, "b", 5_000).await.expect("claim"), None);
    assert_eq!(store.next_task_due().await.expect("next"), Some(2_000));

    // Progress saved by its holder; the lease runs out and another claimer takes it over.
    let progressed = Task { state: json!({"sent": 10}), ..claimed.clone() };
    assert!(store.save_task(&progressed, "a", 5_000).await.expect("save"));
    let taken = store.claim_task(5_000, "b", 9_000).await.expect("claim").expect("the lapsed task");
    assert_eq!(taken, progressed);
    // The old holder has lost it: it can neither save nor finish it.
    assert!(!store.save_task(&claimed, "a", 12_000).await.expect("save"));
    assert!(!store.finish_task("sooner", "a").await.expect("finish"));

    // Saved with a new due time and no lease: anyone may claim it then, no one before.
    let rescheduled = Task { due_at: 20_000, ..taken };
    assert!(store.save_task(&rescheduled, "b", 0).await.expect("save"));
    let later = store.claim_task(6_000, "c", 16_000).await.expect("claim").expect("the other task");
    assert_eq!(later.id, "later");
    assert!(store.finish_task("later", "c").await.expect("finish"));
    assert_eq!(store.claim_task(19_999, "c", 30_000).await.expect("claim"), None);
    assert_eq!(store.claim_task(20_000, "c", 30_000).await.expect("claim").map(|task| task.id), Some("sooner".into()));
    assert!(store.finish_task("sooner", "c").await.expect("finish"));
    assert_eq!(store.next_task_due().await.expect("next"), None);
}

#[tokio::test]
async fn sqlite_queue() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("basalt.sqlite3");
    let store = SqliteStore::open(SqliteOptions::new(&path)).expect("open");
    the_queue_holds(&store).await;
    store.add_task(&task("kept", 1)).await.expect("add");
    drop(store);
    let store = SqliteStore::open(SqliteOptions::new(&path)).expect("open again");
    assert_eq!(store.claim_task(1, "a", 2).await.expect("claim"), Some(task("kept", 1)));
}

#[test]
fn postgres_queue() {
    let run = common::PostgresRun::start("tasks");
    run.runtime.block_on(the_queue_holds(&run.store));
    // Claims racing from many connections: each task goes to one claimer.
    run.runtime.block_on(async {
        for n in 0..40 {
            run.store.add_task(&task(&format!("t{n}"), 1)).await.expect("add");
        }
        let claims = (0..8).map(|claimer| {
            let store = &run.store;
            async move {
                let mut mine = Vec::new();
                while let Some(task) = store.claim_task(10, &format!("c{claimer}"), 1_000).await.expect("claim") {
                    mine.push(task.id);
                }
                mine
            }
        });
        let mut all: Vec<String> = futures_util::future::join_all(claims).await.into_iter().flatten().collect();
        all.sort();
        let mut expected: Vec<String> = (0..40).map(|n| format!("t{n}")).collect();
        expected.sort();
        assert_eq!(all, expected);
    });
    run.drop_database();
}
