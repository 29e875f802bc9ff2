//! The audit log reader: any bytes are verified or refused with the
//! sequence number where the chain breaks, never a panic; reading them one
//! line at a time (in parallel batches) gives exactly the answer reading
//! them whole gives; and any change of one byte of a valid log is caught.
//! The fast record reader (`parse_record`, which skips serde's buffering)
//! accepts only what the derived deserialiser accepts, and reads it the
//! same: on the input, and on a valid line with the input spliced in.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use airlock_audit::{
    CallEvent, CapabilityRecord, Effects, Event, GENESIS, MountUse, Outcome, PrincipalRecord, ToolRecord,
    Usage,
};
use libfuzzer_sys::fuzz_target;

/// A valid log long enough to be checked in parallel (a batch is split
/// over threads from 64 lines on): 100 records, five outcomes.
static LOG: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let outcomes = [Outcome::Ok, Outcome::Refused, Outcome::Denied, Outcome::ToolError, Outcome::Limit];
    let (mut seq, mut head, mut log) = (0, GENESIS.to_owned(), Vec::new());
    for n in 0..100u64 {
        let event = Event::Call(Box::new(CallEvent {
            call_id: None,
            transport: "cli".to_owned(),
            principal: Some(PrincipalRecord {
                sub: format!("agent:{}", n % 7),
                iss: "https://fuzz.invalid".to_owned(),
                claims: BTreeMap::from([("repository".to_owned(), "acme/app".into())]),
                act: Vec::new(),
                token_lifetime_s: Some(600),
            }),
            tool: ToolRecord {
                name: "grep".to_owned(),
                version: "1.0.0".to_owned(),
                digest: format!("sha256:{}", "0".repeat(64)),
                source: None,
                signer: None,
            },
            input_sha256: format!("{n:064x}"),
            capabilities: vec![CapabilityRecord {
                action: "fs.read".to_owned(),
                resource: "Path::\"/workspace\"".to_owned(),
                allowed: true,
                policies: vec!["p".to_owned()],
            }],
            effects: Effects {
                usage: Usage {
                    mounts: BTreeMap::from([(
                        "/workspace".to_owned(),
                        MountUse { read: true, written: false },
                    )]),
                    ..Usage::default()
                },
                ..Effects::default()
            },
            outcome: outcomes[n as usize % outcomes.len()],
            error: None,
            output_sha256: None,
            content_sha256: None,
            duration_ms: n,
            approval: None,
            workspace: None,
        }));
        let (record, line) = airlock_audit::seal_next(seq, &head, event).expect("seal");
        log.extend_from_slice(&line);
        (seq, head) = (record.seq, record.hash);
    }
    log
});

/// `parse_record` reads `line` as serde's derived deserialiser does, or
/// refuses it.
fn reads_as_derived(line: &[u8]) {
    if let Ok(fast) = airlock_audit::parse_record(line) {
        let derived: airlock_audit::Record =
            serde_json::from_slice(line).expect("the fast reader accepted what serde refuses");
        assert_eq!(fast, derived);
    }
}

fuzz_target!(|data: &[u8]| {
    reads_as_derived(data);
    // A valid line, its bytes from `at` to `at + cut` replaced by the input.
    if let [a, b, c, ref rest @ ..] = *data {
        let first = LOG.split(|&b| b == b'\n').next().unwrap_or_default();
        let at = u16::from_le_bytes([a, b]) as usize % first.len();
        let cut = (c as usize).min(first.len() - at);
        reads_as_derived(&[&first[..at], rest, &first[at + cut..]].concat());
    }

    // Any bytes: the streamed check agrees with the whole one.
    let whole = airlock_audit::verify(data);
    let streamed = airlock_audit::verify_reader(data, |_| {});
    assert_eq!(whole, streamed);

    // One byte of a valid log changed, where and to what the input says:
    // caught, and named at the record that holds the byte.
    let [a, b, c, d, byte, ..] = *data else { return };
    let mut log = LOG.clone();
    let at = u32::from_le_bytes([a, b, c, d]) as usize % log.len();
    if log[at] == byte {
        return;
    }
    log[at] = byte;
    let record = log[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let error = airlock_audit::verify(&log).expect_err("a changed byte must be caught");
    assert_eq!(error.seq, record, "byte {at} (record {record}): {error}");
    assert_eq!(airlock_audit::verify_reader(&log[..], |_| {}), Err(error));
});
