//! One audit chain for a fleet, in a real PostgreSQL (see `replay.rs` for
//! the database used): replicas appending at once never fork it, every
//! acknowledged record is in it, and the lines verify with the file log's
//! own checker.

use std::sync::Arc;

use airlock_audit::{AuditSink, Event, TokensRefusedEvent};
use airlock_state::{Database, PgAudit};
use ed25519_dalek::pkcs8::DecodePrivateKey;

mod common;

use common::fresh;

fn event(n: usize) -> Event {
    Event::TokensRefused(TokensRefusedEvent {
        transport: format!("replica-{n}"),
        reason: "expired".to_owned(),
        count: 1,
    })
}

#[test]
fn replicas_appending_at_once_build_one_unbroken_chain() {
    let Some(fresh) = fresh() else { return };
    let replicas: Vec<Arc<PgAudit>> =
        (0..4).map(|_| Arc::new(PgAudit::new(Arc::new(Database::open(&fresh.0).expect("open"))))).collect();
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let replica = replicas[n % replicas.len()].clone();
            std::thread::spawn(move || {
                (0..25).map(|_| replica.append(event(n)).expect("append").seq).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acknowledged: Vec<u64> = writers.into_iter().flat_map(|w| w.join().expect("writer")).collect();
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, (1..=200).collect::<Vec<u64>>(), "every sequence number once");

    let lines = replicas[0].lines().expect("read");
    let summary = airlock_audit::verify(&lines).expect("one chain, intact");
    assert_eq!(summary.records, 200);
}

#[test]
fn an_edited_record_breaks_the_chain_where_it_was_edited() {
    let Some(fresh) = fresh() else { return };
    let database = Arc::new(Database::open(&fresh.0).expect("open"));
    let log = PgAudit::new(database.clone());
    for n in 0..5 {
        log.append(event(n)).expect("append");
    }
    database
        .run(|client| async move {
            client
                .execute("UPDATE audit SET line = convert_to(replace(convert_from(line, 'UTF8'), 'replica-2', 'replica-9'), 'UTF8') WHERE seq = 3", &[])
                .await
        })
        .expect("tamper");
    let error = airlock_audit::verify(&log.lines().expect("read")).expect_err("tampered").to_string();
    assert!(error.contains('3'), "names the record: {error}");
}

#[test]
fn signed_checkpoints_on_the_shared_chain_verify_with_the_public_key() {
    let Some(fresh) = fresh() else { return };
    let (private, public) = airlock_audit::Checkpointer::generate_pem().expect("key pair");
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&private).expect("private key");
    let log = PgAudit::new(Arc::new(Database::open(&fresh.0).expect("open")))
        .with_checkpoints(airlock_audit::Checkpointer::new(key, 5));
    for n in 0..12 {
        log.append(event(n)).expect("append");
    }
    // Records 5 and 10 are each followed by a checkpoint (6 and 12 in the chain).
    let signed = log.checkpoint().expect("sign now").expect("a checkpoint after the last record");
    assert!(log.checkpoint().expect("again").is_none(), "the chain already ends signed");
    let verifying = airlock_audit::public_key_from_pem(&public).expect("public key");
    let summary =
        airlock_audit::verify_signed(&log.lines().expect("read"), &verifying).expect("signed chain");
    assert_eq!(summary.checkpoints, 3);
    assert_eq!(summary.signed_through + 1, signed.seq, "the whole chain is signed");
}

/// Many callers of one replica: their records are committed in groups,
/// each caller gets its own receipt, and the chain is whole.
#[test]
fn thirty_two_callers_of_one_replica_are_committed_in_groups_without_a_gap() {
    let Some(fresh) = fresh() else { return };
    let log = Arc::new(PgAudit::new(Arc::new(Database::open(&fresh.0).expect("open"))));
    let callers: Vec<_> = (0..32)
        .map(|n| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..10).map(|_| log.append(event(n)).expect("append").seq).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = callers.into_iter().flat_map(|c| c.join().expect("caller")).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=320).collect::<Vec<u64>>(), "one receipt per record, no gap, no repeat");
    assert_eq!(airlock_audit::verify(&log.lines().expect("read")).expect("intact").records, 320);
}
