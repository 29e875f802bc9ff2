//! Refused tokens, recorded without letting a flood fill the log.
//!
//! A server refuses tokens before any call exists (forged, expired,
//! replayed, missing). Each refusal matters, a stream of them more so, but
//! one record per refused request would let anyone who can reach the port
//! grow the log without bound. [`RefusalLog`] writes the first refusal of
//! each kind (per transport) at once, counts the others of that kind for a
//! window, and writes them as one record, with how many it stands for, at
//! the next refusal of that kind after the window, at [`RefusalLog::flush`]
//! or when it is dropped. Kinds are a fixed set of names the caller
//! chooses (the verifier's error kinds), so a flood cannot make the table
//! itself grow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{AuditError, AuditSink, Event, TokensRefusedEvent, bounded};

/// The window of [`RefusalLog::new`] by default: at most one record per
/// kind of refusal and transport a minute.
pub const DEFAULT_REFUSAL_WINDOW: Duration = Duration::from_secs(60);

/// Rate-limited records of refused tokens (see the module docs).
pub struct RefusalLog {
    sink: Arc<dyn AuditSink>,
    window: Duration,
    kinds: Mutex<HashMap<(&'static str, &'static str), Pending>>,
}

/// Refusals of one kind since its last record.
struct Pending {
    since: Instant,
    suppressed: u64,
    reason: String,
}

impl RefusalLog {
    /// Records into `sink`, at most one record per kind and transport per
    /// `window` (plus the one that carries the count of the rest).
    pub fn new(sink: Arc<dyn AuditSink>, window: Duration) -> Self {
        Self { sink, window, kinds: Mutex::default() }
    }

    /// Notes one refused token: `transport` (`mcp-http`, `mcp-stdio`),
    /// `kind` (a fixed name such as `expired`) and `reason` (the message,
    /// never the token; cut to [`crate::MAX_TEXT`]). Writes a record when
    /// this is the first of its kind in the window; an error only when that
    /// write fails.
    pub fn refused(
        &self,
        transport: &'static str,
        kind: &'static str,
        reason: &str,
    ) -> Result<(), AuditError> {
        let now = Instant::now();
        let count = {
            let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
            match kinds.get_mut(&(transport, kind)) {
                Some(pending) if now.duration_since(pending.since) < self.window => {
                    pending.suppressed += 1;
                    pending.reason = bounded(reason);
                    return Ok(());
                }
                Some(pending) => {
                    let count = pending.suppressed + 1;
                    *pending = Pending { since: now, suppressed: 0, reason: String::new() };
                    count
                }
                None => {
                    kinds.insert(
                        (transport, kind),
                        Pending { since: now, suppressed: 0, reason: String::new() },
                    );
                    1
                }
            }
        };
        self.write(transport, reason, count)
    }

    /// Writes a record for every kind with refusals not yet written.
    pub fn flush(&self) -> Result<(), AuditError> {
        let pending: Vec<(&'static str, String, u64)> = {
            let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
            kinds
                .iter_mut()
                .filter(|(_, p)| p.suppressed > 0)
                .map(|((transport, _), p)| {
                    let count = std::mem::take(&mut p.suppressed);
                    (*transport, std::mem::take(&mut p.reason), count)
                })
                .collect()
        };
        for (transport, reason, count) in pending {
            self.write(transport, &reason, count)?;
        }
        Ok(())
    }

    fn write(&self, transport: &str, reason: &str, count: u64) -> Result<(), AuditError> {
        let event = TokensRefusedEvent { transport: transport.to_owned(), reason: bounded(reason), count };
        self.sink.append(Event::TokensRefused(event)).map(|_| ())
    }
}

impl Drop for RefusalLog {
    fn drop(&mut self) {
        // Best effort: a process that is ending cannot report it elsewhere.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Receipt;

    /// A sink that keeps what it is given.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Event>>);

    impl AuditSink for Kept {
        fn append(&self, event: Event) -> Result<Receipt, AuditError> {
            let mut events = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            events.push(event);
            Ok(Receipt { seq: events.len() as u64, hash: String::new() })
        }
    }

    fn counts(kept: &Kept) -> Vec<(String, u64)> {
        let events = kept.0.lock().unwrap_or_else(PoisonError::into_inner);
        events
            .iter()
            .map(|e| match e {
                Event::TokensRefused(t) => (t.reason.clone(), t.count),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_flood_is_one_record_per_kind_and_window_and_every_refusal_is_counted() {
        let kept = Arc::new(Kept::default());
        let log = RefusalLog::new(kept.clone(), Duration::from_millis(200));
        for _ in 0..10_000 {
            log.refused("mcp-http", "bad_signature", "bad signature").expect("noted");
        }
        log.refused("mcp-http", "expired", "token expired").expect("noted");
        assert_eq!(counts(&kept), [("bad signature".into(), 1), ("token expired".into(), 1)]);
        std::thread::sleep(Duration::from_millis(250));
        log.refused("mcp-http", "bad_signature", "bad signature").expect("noted");
        assert_eq!(counts(&kept)[2], ("bad signature".into(), 10_000), "9,999 suppressed and this one");
        log.refused("mcp-http", "bad_signature", "bad signature").expect("noted");
        drop(log);
        assert_eq!(counts(&kept).len(), 4, "dropping the log writes what is pending");
        assert_eq!(counts(&kept)[3].1, 1);
        let total: u64 = counts(&kept).iter().map(|(_, n)| n).sum();
        assert_eq!(total, 10_003, "every refusal is counted exactly once");
    }

    #[test]
    fn a_long_reason_is_cut_and_never_grows_the_record() {
        let kept = Arc::new(Kept::default());
        let log = RefusalLog::new(kept.clone(), DEFAULT_REFUSAL_WINDOW);
        log.refused("mcp-http", "malformed", &"x".repeat(5_000_000)).expect("noted");
        let (reason, _) = &counts(&kept)[0];
        assert!(reason.len() <= crate::MAX_TEXT + 32, "{}", reason.len());
    }
}
