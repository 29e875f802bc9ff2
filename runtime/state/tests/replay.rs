//! The shared replay record against a real PostgreSQL (started by
//! `.ci/postgres`; `AIRLOCK_TEST_DATABASE_URL`, default
//! `postgres://root@127.0.0.1:5432/test`), each test in a fresh schema:
//! replicas racing for one token id, bearer reuse of the same token,
//! another token with the same id, expiry, migrations, and a database that
//! is down failing closed with a clear error.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use airlock_identity::{ReplayCache, Reuse, TokenError};
use airlock_state::{Database, DatabaseSettings, MIGRATIONS, PgReplay, StateError, migrate, status};

mod common;

use common::{drop_schema, fresh};

/// A replica's record: its own pool on the shared schema.
fn replica(settings: &DatabaseSettings) -> ReplayCache {
    let database = Arc::new(Database::open(settings).expect("open"));
    ReplayCache::shared(Box::new(PgReplay::new(database)))
}

fn later() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) + 600
}

#[test]
fn twenty_replicas_racing_for_one_token_id_accept_it_once() {
    let Some(settings) = fresh() else { return };
    let replicas: Vec<Arc<ReplayCache>> = (0..20).map(|_| Arc::new(replica(&settings))).collect();
    let start = Arc::new(Barrier::new(replicas.len()));
    let racers: Vec<_> = replicas
        .into_iter()
        .map(|cache| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                cache.consume("https://issuer.test", "jti-race", later())
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().expect("racer")).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(TokenError::Replayed(_)))));
}

#[test]
fn a_bearer_token_is_good_on_every_replica_and_another_token_with_its_id_on_none() {
    let Some(settings) = fresh() else { return };
    let (a, b) = (replica(&settings), replica(&settings));
    let (token, other) = ([7u8; 32], [8u8; 32]);
    a.consume_as("https://issuer.test", "jti-1", Reuse::SameToken(token), later()).expect("first use");
    b.consume_as("https://issuer.test", "jti-1", Reuse::SameToken(token), later())
        .expect("the same token, elsewhere");
    for cache in [&a, &b] {
        let refused = cache.consume_as("https://issuer.test", "jti-1", Reuse::SameToken(other), later());
        assert!(matches!(refused, Err(TokenError::Replayed(_))), "{refused:?}");
        let single = cache.consume("https://issuer.test", "jti-1", later());
        assert!(matches!(single, Err(TokenError::Replayed(_))), "single use: {single:?}");
    }
    // A single-use token is refused everywhere the second time.
    a.consume("https://issuer.test", "jti-2", later()).expect("first");
    assert!(matches!(b.consume("https://issuer.test", "jti-2", later()), Err(TokenError::Replayed(_))));
    // The same jti from another issuer is another token.
    b.consume("https://other.test", "jti-2", later()).expect("another issuer");
}

#[test]
fn expired_ids_may_be_used_again_and_are_purged() {
    let Some(settings) = fresh() else { return };
    let database = Arc::new(Database::open(&settings).expect("open"));
    let record = PgReplay::new(database.clone());
    let cache = ReplayCache::shared(Box::new(PgReplay::new(database)));
    cache.consume("https://issuer.test", "old", 1).expect("an id long expired");
    cache.consume("https://issuer.test", "old", later()).expect("expired: may be recorded again");
    cache.consume("https://issuer.test", "gone", 2).expect("record");
    assert_eq!(record.purge(later() - 600).expect("purge"), 1, "the expired row goes");
}

#[test]
fn migrations_apply_once_and_status_says_so() {
    let Some(settings) = fresh() else { return };
    let database = Database::open(&settings).expect("open");
    let known: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(status(&database).expect("status").applied, known);
    assert!(migrate(&database).expect("again").is_empty(), "nothing left to apply");

    let mut unmigrated = settings.0.clone();
    unmigrated.schema = format!("{}_new", settings.schema);
    let fresh_db = Database::open(&unmigrated).expect("open");
    let pending = status(&fresh_db).expect("status");
    assert_eq!((pending.applied.len(), pending.pending), (0, known));
    drop_schema(&unmigrated.schema);
}

#[test]
fn a_database_that_is_down_refuses_tokens_with_a_clear_error() {
    // Nothing listens on port 1.
    let mut settings = DatabaseSettings::new("postgres://airlock:s3cret-pw@127.0.0.1:1/state");
    settings.timeout = Duration::from_secs(2);
    let database = Arc::new(Database::open(&settings).expect("settings are fine"));
    let cache = ReplayCache::shared(Box::new(PgReplay::new(database)));
    let refused = cache.consume("https://issuer.test", "jti", later());
    let Err(TokenError::ReplayCache(reason)) = refused else { panic!("fail closed: {refused:?}") };
    assert!(reason.contains("127.0.0.1:1/state"), "names the database: {reason}");
    assert!(!reason.contains("s3cret-pw"), "never the password: {reason}");
}

#[test]
fn bad_settings_are_refused_naming_the_problem() {
    let mut settings = DatabaseSettings::new("postgres://root@127.0.0.1/test");
    settings.schema = "airlock; DROP TABLE x".to_owned();
    let error = Database::open(&settings).expect_err("schema").to_string();
    assert!(error.contains("not a plain lowercase identifier"), "{error}");
    let error = Database::open(&DatabaseSettings::new("mysql://nope")).expect_err("url").to_string();
    assert!(error.contains("does not parse"), "{error}");
    let error =
        Database::open(&DatabaseSettings::new("postgres://root@127.0.0.1")).expect_err("db").to_string();
    assert!(error.contains("names no database"), "{error}");
    let _: Option<StateError> = None;
}
