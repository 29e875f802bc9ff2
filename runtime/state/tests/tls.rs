//! TLS to the state database: with `sslmode=require` the server's
//! certificate is verified against the configured CA (the test CA
//! `.ci/postgres` makes in /var/lib/postgresql/airlock-test-tls,
//! `AIRLOCK_TEST_DATABASE_CA`), a server the CA did
//! not sign is refused, and a database on another machine without TLS is
//! refused before anything connects.

use std::time::Duration;

use airlock_state::{Database, DatabaseSettings};

mod common;

fn ca() -> Option<Vec<u8>> {
    let path = std::env::var("AIRLOCK_TEST_DATABASE_CA")
        .unwrap_or_else(|_| "/var/lib/postgresql/airlock-test-tls/ca.pem".to_owned());
    match std::fs::read(&path) {
        Ok(pem) => Some(pem),
        Err(error) if std::env::var_os("AIRLOCK_REQUIRE_POSTGRES").is_none() => {
            eprintln!("skipped: no test CA at {path} ({error}); run .ci/postgres");
            None
        }
        Err(error) => panic!("the test CA is required (AIRLOCK_REQUIRE_POSTGRES): {path}: {error}"),
    }
}

fn encrypted(settings: &DatabaseSettings) -> Result<bool, airlock_state::StateError> {
    Database::open(settings)?.run(|client| async move {
        let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await?;
        Ok(row.get::<_, bool>(0))
    })
}

#[test]
fn sslmode_require_verifies_the_server_against_the_configured_ca() {
    let Some(pem) = ca() else { return };
    let url = format!("{}?sslmode=require", common::url());
    let mut settings = DatabaseSettings::new(&url);
    settings.ca_pem = Some(pem);
    assert!(encrypted(&settings).expect("TLS with the test CA"), "the session is encrypted");

    // The webpki roots do not know the test CA: refused, never plaintext.
    let mut untrusted = DatabaseSettings::new(&url);
    untrusted.timeout = Duration::from_secs(3);
    let error = encrypted(&untrusted).expect_err("an unknown CA").to_string();
    assert!(error.contains("certificate") || error.contains("TLS") || error.contains("tls"), "{error}");
}

#[test]
fn a_database_on_another_machine_without_tls_is_refused_before_connecting() {
    let error = Database::open(&DatabaseSettings::new("postgres://airlock:pw@db.internal:5432/state"))
        .expect_err("plaintext over the network")
        .to_string();
    assert!(error.contains("needs TLS") && error.contains("sslmode=require"), "{error}");
    assert!(!error.contains(":pw@"), "no password: {error}");
    let mut settings = DatabaseSettings::new("postgres://root@127.0.0.1/test?sslmode=require");
    settings.ca_pem = Some(b"not a certificate".to_vec());
    let error = Database::open(&settings).expect_err("bad CA").to_string();
    assert!(error.contains("`ca`"), "{error}");
}
