//! The hash chain: canonical encoding of records, and checking a whole log.

use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{AuditError, ChainError};
use crate::event::{Event, GENESIS, Record, SCHEMA};
use sha2::{Digest, Sha256};

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
    let event = serde_jcs::to_vec(&record.event)?;
    record.hash = sha256_hex(&canonical(&record, &event, None)?);
    let mut line = canonical(&record, &event, Some(&record.hash))?;
    line.push(b'\n');
    Ok((record, line))
}

/// Seals `event` as the record after `prev_seq`/`prev_hash`: for a sink
/// that keeps the chain elsewhere (a database), which assigns the place in
/// the chain itself, atomically. Returns the record and its canonical line
/// (with the trailing newline), byte for byte what a file log writes.
pub fn seal_next(prev_seq: u64, prev_hash: &str, event: Event) -> Result<(Record, Vec<u8>), AuditError> {
    seal(prev_seq, prev_hash, event).map_err(AuditError::from)
}

/// The RFC 8785 canonical JSON of `record`, whose event's canonical JSON
/// is `event`: with its `hash` key (`Some`, the line written) or without
/// it (`None`, what the hash covers).
///
/// The same bytes `serde_jcs` gives for the whole record (a test holds
/// them equal), in one pass: JCS orders keys by UTF-16 code units, and the
/// record's own keys are ASCII, so their order is fixed (`event`, `hash`,
/// `prev`, `schema`, `seq`, `time`); only the event needs the general
/// encoder, and it is encoded once for both forms.
fn canonical(record: &Record, event: &[u8], hash: Option<&str>) -> Result<Vec<u8>, serde_json::Error> {
    // Every field named: a new one fails to compile here until it is placed.
    let Record { schema, seq, time, prev, event: _, hash: _ } = record;
    let mut out = Vec::with_capacity(event.len() + 256);
    out.extend_from_slice(b"{\"event\":");
    out.extend_from_slice(event);
    if let Some(hash) = hash {
        out.extend_from_slice(b",\"hash\":");
        serde_jcs::to_writer(&mut out, hash)?;
    }
    out.extend_from_slice(b",\"prev\":");
    serde_jcs::to_writer(&mut out, prev)?;
    out.extend_from_slice(b",\"schema\":");
    serde_jcs::to_writer(&mut out, schema)?;
    out.extend_from_slice(b",\"seq\":");
    serde_jcs::to_writer(&mut out, seq)?;
    out.extend_from_slice(b",\"time\":");
    serde_jcs::to_writer(&mut out, time)?;
    out.push(b'}');
    Ok(out)
}

/// Checks one line against the record before it (`None` for the first):
/// it parses, it is canonical, its hash is its own, it follows on.
pub fn check_line(line: &[u8], previous: Option<(u64, &str)>) -> Result<Record, ChainError> {
    let expected_seq = previous.map_or(1, |(seq, _)| seq + 1);
    let bad = |reason: String| ChainError { seq: expected_seq, reason };
    let record: Record =
        serde_json::from_slice(line).map_err(|e| bad(format!("not a record of this log: {e}")))?;
    if record.schema != SCHEMA {
        return Err(bad(format!("unknown schema `{}`", record.schema)));
    }
    let event = serde_jcs::to_vec(&record.event).map_err(|e| bad(e.to_string()))?;
    let hash = canonical(&record, &event, None).map(|unhashed| sha256_hex(&unhashed));
    if hash.map_err(|e| bad(e.to_string()))? != record.hash {
        return Err(bad(format!("record {} was altered: its content does not match its hash", record.seq)));
    }
    if canonical(&record, &event, Some(&record.hash)).map_err(|e| bad(e.to_string()))? != line {
        return Err(bad(format!("record {} is not in canonical form (edited by hand?)", record.seq)));
    }
    link(&record, previous)?;
    Ok(record)
}

/// Checks that `record` follows the record before it (`None` for the
/// first): the next sequence number, and that record's hash as `prev`.
fn link(record: &Record, previous: Option<(u64, &str)>) -> Result<(), ChainError> {
    let (expected_seq, expected_prev) = previous.map_or((1, GENESIS), |(seq, hash)| (seq + 1, hash));
    let bad = |reason: String| ChainError { seq: expected_seq, reason };
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
    Ok(())
}

/// The record on `line` when it is whole by itself: it parses, has this
/// log's schema, and its hash is the SHA-256 of the line without its
/// `hash` member, that is of exactly the bytes the writer hashed (it hashes
/// the canonical line it then writes). Any other line is `None`, and
/// [`check_line`] names what is wrong with it. Independent of the records
/// around it, so lines can be checked in parallel.
fn whole(line: &[u8]) -> Option<Record> {
    let record = crate::parse::parse_record(line).ok()?;
    if record.schema != SCHEMA {
        return None;
    }
    // The hash member is the last `,"hash":"…"` in the line: only `prev`,
    // `schema`, `seq` and `time` follow it, and none can hold that text.
    let member = format!(",\"hash\":\"{}\"", record.hash);
    let at = line.windows(member.len()).rposition(|w| w == member.as_bytes())?;
    let mut hasher = Sha256::new();
    hasher.update(&line[..at]);
    hasher.update(&line[at + member.len()..]);
    (hex::encode(hasher.finalize()) == record.hash).then_some(record)
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
    walk_reader(log, |_| Ok(()))
}

/// [`verify`] over a reader, one line at a time, handing every good record
/// to `visit` as it is checked: memory does not grow with the log. A
/// caller must not act on what it was handed until this returns `Ok`: a
/// bad record further on fails the whole log.
pub fn verify_reader(
    reader: impl BufRead,
    mut visit: impl FnMut(&Record),
) -> Result<ChainSummary, ChainError> {
    walk_reader(reader, |record| {
        visit(record);
        Ok(())
    })
}

/// Lines read and checked at a time.
const BATCH: usize = 4096;

/// Checks every line `reader` gives in order, handing every good record to
/// `visit` (which may refuse it). A checkpoint must sign the record just
/// before it.
pub(crate) fn walk_reader(
    mut reader: impl BufRead,
    mut visit: impl FnMut(&Record) -> Result<(), ChainError>,
) -> Result<ChainSummary, ChainError> {
    let mut previous: Option<(u64, String)> = None;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    loop {
        let torn = read_batch(&mut reader, &mut lines, previous.as_ref().map_or(0, |(s, _)| *s))?;
        // Each line by itself, in parallel; then in order, each against
        // the one before it. A line that is not whole by itself is checked
        // again in order, so the error names it exactly as `verify` does.
        let checked = check_all(&lines, threads);
        for (line, record) in lines.iter().zip(checked) {
            let previous_ref = previous.as_ref().map(|(s, h)| (*s, h.as_str()));
            let record = match record {
                Some(record) => {
                    link(&record, previous_ref)?;
                    record
                }
                None => check_line(line, previous_ref)?,
            };
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
        }
        if torn {
            let seq = previous.as_ref().map_or(1, |(s, _)| s + 1);
            return Err(ChainError { seq, reason: "the last record is incomplete (torn write)".to_owned() });
        }
        if lines.len() < BATCH {
            break;
        }
    }
    Ok(match previous {
        Some((records, head)) => ChainSummary { records, head },
        None => ChainSummary { records: 0, head: GENESIS.to_owned() },
    })
}

/// Reads up to [`BATCH`] lines into `lines` (without their newlines).
/// Returns whether the log ended in a line without its newline (a torn
/// write), which is left out. `last_seq` names the record in errors.
fn read_batch(
    reader: &mut impl BufRead,
    lines: &mut Vec<Vec<u8>>,
    last_seq: u64,
) -> Result<bool, ChainError> {
    let mut spare: Vec<Vec<u8>> = std::mem::take(lines);
    while lines.len() < BATCH {
        let mut line = spare.pop().unwrap_or_default();
        line.clear();
        let seq = last_seq + lines.len() as u64 + 1;
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ChainError { seq, reason: format!("cannot read the log: {e}") })?;
        if read == 0 {
            break;
        }
        if line.pop() != Some(b'\n') {
            return Ok(true);
        }
        lines.push(line);
    }
    Ok(false)
}

/// [`whole`] for every line, on up to `threads` threads.
fn check_all(lines: &[Vec<u8>], threads: usize) -> Vec<Option<Record>> {
    if threads < 2 || lines.len() < 64 {
        return lines.iter().map(|line| whole(line)).collect();
    }
    let chunk = lines.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|line| whole(line)).collect::<Vec<_>>()))
            .collect();
        // A worker that panicked checked nothing: its lines are checked
        // again in order (and fail there with their reason).
        handles
            .into_iter()
            .zip(lines.chunks(chunk))
            .flat_map(|(handle, part)| handle.join().unwrap_or_else(|_| vec![None; part.len()]))
            .collect()
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

    /// The definition `canonical` must keep: the hash over the canonical
    /// JSON of the record without `hash`, the line the canonical JSON of
    /// the whole record; so logs written before it verify after it.
    fn by_definition(record: &Record) -> (String, Vec<u8>) {
        let mut value = serde_json::to_value(record).expect("to value");
        value.as_object_mut().expect("object").remove("hash");
        let hash = sha256_hex(&serde_jcs::to_vec(&value).expect("jcs"));
        (hash, serde_jcs::to_vec(record).expect("jcs"))
    }

    #[test]
    fn a_sealed_record_is_byte_for_byte_its_canonical_json_by_definition() {
        // Keys JCS orders by UTF-16 code units, not bytes (U+FF61 after
        // U+1F600 in UTF-16, before it in UTF-8), escapes, numbers.
        let call = serde_json::json!({
            "kind": "call", "transport": "mcp-stdio\u{1}\"\\\u{7f}\u{2028}",
            "principal": {"sub": "agent:\u{1F600}", "iss": "https://i", "act": ["a", "\u{FF61}"],
                "claims": {"\u{FF61}": "x", "\u{1F600}": "y", "a": 1, "Z": true, "\u{e9}": null}},
            "tool": {"name": "t", "version": "1", "digest": "sha256:00"},
            "input_sha256": "ab", "capabilities": [], "effects": {"bytes_received": 0, "bytes_sent": 4_294_967_296u64,
                "redactions": {}, "refusals": ["r\n"], "refusals_dropped": 0, "requests": 1},
            "outcome": "ok", "error": null, "output_sha256": null, "duration_ms": 3
        });
        let events: Vec<Event> = vec![
            serde_json::from_value(call).expect("a call event"),
            Event::Recovered { truncated_bytes: 17 },
        ];
        let mut prev = (0, GENESIS.to_owned());
        for event in events {
            let (record, line) = seal(prev.0, &prev.1, event).expect("seal");
            let (hash, whole) = by_definition(&record);
            assert_eq!(record.hash, hash);
            assert_eq!(&line[..line.len() - 1], &whole[..], "{}", String::from_utf8_lossy(&line));
            let checked =
                check_line(&line[..line.len() - 1], (prev.0 > 0).then_some((prev.0, prev.1.as_str())));
            assert_eq!(checked.expect("verifies"), record);
            prev = (record.seq, record.hash);
        }
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_795_929_662, 345), "2026-11-29T05:21:02.345Z");
    }
}
