//! The hash chain: canonical encoding of records, and checking a whole log.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ChainError;
use crate::event::{Event, GENESIS, Record, SCHEMA};
use crate::record::sha256_hex;

/// The record following `prev_seq`/`prev_hash`, sealed: its `hash` set and
/// its canonical line (with the trailing newline) returned with it.
pub(crate) fn seal(
    prev_seq: u64,
    prev_hash: &str,
    event: Event,
) -> Result<(Record, Vec<u8>), serde_json::Error> {
    let mut record = Record {
        schema: SCHEMA.to_owned(),
        seq: prev_seq + 1,
        time: rfc3339_now(),
        prev: prev_hash.to_owned(),
        event,
        hash: String::new(),
    };
    record.hash = record_hash(&record)?;
    let mut line = serde_jcs::to_vec(&record)?;
    line.push(b'\n');
    Ok((record, line))
}

/// SHA-256 over the canonical JSON of `record` without its `hash` key.
fn record_hash(record: &Record) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(record)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("hash");
    }
    Ok(sha256_hex(&serde_jcs::to_vec(&value)?))
}

/// Checks one line against the record before it (`None` for the first):
/// it parses, it is canonical, its hash is its own, it follows on.
pub fn check_line(line: &[u8], previous: Option<(u64, &str)>) -> Result<Record, ChainError> {
    let (expected_seq, expected_prev) = previous.map_or((1, GENESIS), |(seq, hash)| (seq + 1, hash));
    let bad = |reason: String| ChainError { seq: expected_seq, reason };
    let record: Record =
        serde_json::from_slice(line).map_err(|e| bad(format!("not a record of this log: {e}")))?;
    if record.schema != SCHEMA {
        return Err(bad(format!("unknown schema `{}`", record.schema)));
    }
    let hash = record_hash(&record).map_err(|e| bad(e.to_string()))?;
    if hash != record.hash {
        return Err(bad(format!("record {} was altered: its content does not match its hash", record.seq)));
    }
    let canonical = serde_jcs::to_vec(&record).map_err(|e| bad(e.to_string()))?;
    if canonical != line {
        return Err(bad(format!("record {} is not in canonical form (edited by hand?)", record.seq)));
    }
    if record.seq != expected_seq {
        let reason = if record.seq > expected_seq {
            format!("record {expected_seq} is missing (found record {} next)", record.seq)
        } else {
            format!("record {} is out of order or repeated (expected {expected_seq})", record.seq)
        };
        return Err(bad(reason));
    }
    if record.prev != expected_prev {
        return Err(bad(format!(
            "record {expected_seq} does not follow the record before it (its `prev` is not that record's hash): inserted or reordered"
        )));
    }
    Ok(record)
}

/// What a successful check of a whole log found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    /// Records checked.
    pub records: u64,
    /// The last record's hash (the chain head), or [`GENESIS`] when empty.
    pub head: String,
}

/// Checks every line of `log` in order; the first bad record ends the
/// check with its sequence number.
pub fn verify(log: &[u8]) -> Result<ChainSummary, ChainError> {
    walk(log, |_| Ok(()))
}

/// [`verify`], handing every good record to `visit` (which may refuse it).
/// A checkpoint must sign the record just before it.
pub(crate) fn walk(
    log: &[u8],
    mut visit: impl FnMut(&Record) -> Result<(), ChainError>,
) -> Result<ChainSummary, ChainError> {
    let mut previous: Option<(u64, String)> = None;
    let mut rest = log;
    while !rest.is_empty() {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            let seq = previous.as_ref().map_or(1, |(s, _)| s + 1);
            return Err(ChainError { seq, reason: "the last record is incomplete (torn write)".to_owned() });
        };
        let record = check_line(&rest[..end], previous.as_ref().map(|(s, h)| (*s, h.as_str())))?;
        if let Event::Checkpoint(checkpoint) = &record.event
            && (checkpoint.signed_seq + 1 != record.seq || checkpoint.signed_head != record.prev)
        {
            return Err(ChainError {
                seq: record.seq,
                reason: "checkpoint does not sign the record just before it".to_owned(),
            });
        }
        visit(&record)?;
        previous = Some((record.seq, record.hash));
        rest = &rest[end + 1..];
    }
    Ok(match previous {
        Some((records, head)) => ChainSummary { records, head },
        None => ChainSummary { records: 0, head: GENESIS.to_owned() },
    })
}

/// Now as RFC 3339 UTC with milliseconds: `2026-11-29T05:01:02.345Z`.
pub fn rfc3339_now() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(since.as_secs(), since.subsec_millis())
}

/// `secs` since the epoch (and `millis`) as RFC 3339 UTC.
pub fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_795_929_662, 345), "2026-11-29T05:21:02.345Z");
    }
}
