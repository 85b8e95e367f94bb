//! What the store's integration tests share: a PostgreSQL database of their own.

use basalt_store::postgres::PgStore;

/// A PostgreSQL database for one test, on a runtime that outlives it (the pool's connections
/// run on that runtime); `drop_database` removes it.
pub(crate) struct PostgresRun {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) store: PgStore,
    server: String,
    database: String,
}

impl PostgresRun {
    pub(crate) fn start(purpose: &str) -> PostgresRun {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let server =
            std::env::var("BASALT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
        let prefix = std::env::var("BASALT_TEST_DATABASE_PREFIX").unwrap_or_else(|_| "basalt_test_".into());
        let database = format!("{prefix}{purpose}_{}_{nanos}", std::process::id());
        // A database whose default collation is not byte order (ICU's English, as many servers
        // are set up): Basalt's comparisons and orders must not depend on it.
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            let create = format!(
                "CREATE DATABASE \"{database}\" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            );
            client.batch_execute(&create).await.expect("create a database with ICU's en-US collation");
        });
        let store = runtime.block_on(PgStore::connect(&format!("{server}/{database}"))).expect("connect to PostgreSQL");
        PostgresRun { runtime, store, server, database }
    }

    pub(crate) fn drop_database(self) {
        let PostgresRun { runtime, store, server, database } = self;
        drop(store);
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            client.batch_execute(&format!("DROP DATABASE \"{database}\" WITH (FORCE)")).await.expect("drop database");
        });
    }
}
