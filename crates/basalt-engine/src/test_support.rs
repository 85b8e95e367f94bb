//! What the engine's unit tests share: an engine over a temporary SQLite store with a clock the
//! test moves, and small builders.

use std::sync::Arc;

use basalt_store::sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Map, Value};

use crate::{Caller, Engine, EngineConfig, EngineParts, ManualClock};

/// An engine and its clock; the store lives in `dir`, removed when this is dropped.
pub(crate) struct TestEngine {
    pub(crate) engine: Engine,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) dir: tempfile::TempDir,
}

/// An engine with the default settings.
pub(crate) async fn test_engine() -> TestEngine {
    test_engine_with(|_| {}, EngineParts::default()).await
}

/// An engine with the default settings as `adjust` leaves them, and `parts`.
pub(crate) async fn test_engine_with(adjust: impl FnOnce(&mut EngineConfig), parts: EngineParts) -> TestEngine {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("basalt.sqlite3"))).expect("open store");
    let clock = Arc::new(ManualClock::starting_now());
    let mut config = EngineConfig {
        allow_client_class_creation: false,
        files_url_prefix: "http://localhost/parse/files/app/".into(),
        limits: basalt_core::Limits::default(),
        auth: Default::default(),
        clock: clock.clone(),
        email: Default::default(),
        files: None,
        webhook_key: None,
    };
    adjust(&mut config);
    let engine = Engine::start(Arc::new(store), config, parts).await.expect("engine");
    TestEngine { engine, clock, dir }
}

/// A JSON object literal as a body.
pub(crate) fn body(value: Value) -> Map<String, Value> {
    value.as_object().expect("object").clone()
}

/// A class name written in a test.
pub(crate) fn class(name: &str) -> basalt_core::ClassName {
    basalt_core::ClassName::parse(name).expect("class name")
}

/// A logged-in user without roles.
pub(crate) fn user(id: &str) -> Caller {
    Caller { user_id: Some(id.into()), ..Caller::default() }
}
