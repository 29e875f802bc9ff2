//! The test database: `AIRLOCK_TEST_DATABASE_URL`, default
//! `postgres://root@127.0.0.1:5432/test` (what `.ci/postgres` starts), and
//! a fresh schema per test, dropped after it.
#![allow(dead_code, reason = "each test file uses part of it")]

use std::ops::Deref;

use airlock_state::{Database, DatabaseSettings, migrate};

pub(crate) fn url() -> String {
    std::env::var("AIRLOCK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// A migrated schema of the test database for one test, dropped after it.
pub(crate) struct Fresh(pub(crate) DatabaseSettings);

impl Deref for Fresh {
    type Target = DatabaseSettings;
    fn deref(&self) -> &DatabaseSettings {
        &self.0
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        drop_schema(&self.0.schema);
    }
}

/// Drops `schema` from the test database, if it can.
pub(crate) fn drop_schema(schema: &str) {
    let Ok(database) = Database::open(&DatabaseSettings::new(&url())) else { return };
    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let _ = database.run(move |client| async move { client.batch_execute(&sql).await });
}

/// A fresh migrated schema, or `None` (the test is skipped) when no
/// database runs here and `AIRLOCK_REQUIRE_POSTGRES` is not set.
pub(crate) fn fresh() -> Option<Fresh> {
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("random");
    let mut settings = DatabaseSettings::new(&url());
    settings.schema = format!("t_{}", hex::encode(suffix));
    match migrate(&Database::open(&settings).expect("settings")) {
        Ok(_) => Some(Fresh(settings)),
        Err(error) if std::env::var_os("AIRLOCK_REQUIRE_POSTGRES").is_none() => {
            eprintln!("skipped: no PostgreSQL ({error}); run .ci/postgres");
            None
        }
        Err(error) => panic!("PostgreSQL is required (AIRLOCK_REQUIRE_POSTGRES): {error}"),
    }
}
