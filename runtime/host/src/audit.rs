//! How a call's result reads in the audit log.

use std::time::Duration;

use airlock_audit::{Effects, Ending, MAX_REFUSALS, Outcome, bounded, sha256_hex};

use crate::call::{CallOutcome, ToolError};
use crate::capability::content::{ContentBlock, ResourceBody};
use crate::error::CallError;

/// The audit ending of a call that took `elapsed` (as the caller measured
/// it) and `used` what it used of its grants: its outcome and message, the
/// output's hash, what it did on the network and what was redacted (names
/// and counts).
pub fn ending(result: &Result<CallOutcome, CallError>, used: &crate::Usage, elapsed: Duration) -> Ending {
    let duration_ms = elapsed.as_millis().try_into().unwrap_or(u64::MAX);
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            let kind = match error {
                CallError::Limit(_) => Outcome::Limit,
                CallError::Trap(_) => Outcome::Trap,
                _ => Outcome::Internal,
            };
            let ended = Ending::before_start(kind, &error.to_string());
            let effects = Effects { usage: usage(used), ..ended.effects.clone() };
            return Ending { duration_ms, effects, ..ended };
        }
    };
    let (kind, error, output) = match &outcome.result {
        Ok(output) => (Outcome::Ok, None, Some(sha256_hex(output.as_bytes()))),
        Err(e @ ToolError::Denied(_)) => (Outcome::Denied, Some(bounded(&e.to_string())), None),
        Err(e) => (Outcome::ToolError, Some(bounded(&e.to_string())), None),
    };
    let network = &outcome.network;
    let listed = network.refusals.len().min(MAX_REFUSALS);
    let effects = Effects {
        requests: network.requests,
        bytes_sent: network.bytes_sent,
        bytes_received: network.bytes_received,
        refusals: network.refusals[..listed].iter().map(|r| bounded(r)).collect(),
        refusals_dropped: network.refusals_dropped + (network.refusals.len() - listed) as u64,
        redactions: outcome.redactions.clone(),
        usage: usage(used),
    };
    let content = (!outcome.content.is_empty()).then(|| content_sha256(&outcome.content));
    Ending { outcome: kind, error, output_sha256: output, content_sha256: content, effects, duration_ms }
}

/// The call's use of its grants, as the audit log records it.
fn usage(used: &crate::Usage) -> airlock_audit::Usage {
    airlock_audit::Usage {
        mounts: used
            .mounts
            .iter()
            .map(|(guest, m)| (guest.clone(), airlock_audit::MountUse { read: m.read, written: m.written }))
            .collect(),
        destinations: used.destinations.clone(),
        secrets: used.secrets.clone(),
        env: used.env.clone(),
    }
}

/// SHA-256 over one line per block: `KIND\tMIME\tSHA-256 of its payload\n`
/// (a link's payload is its URI, name and description, tab-separated).
fn content_sha256(blocks: &[ContentBlock]) -> String {
    let mut lines = String::new();
    for block in blocks {
        let none = String::new();
        let (kind, mime, payload) = match block {
            ContentBlock::Text(text) => ("text", &none, sha256_hex(text.as_bytes())),
            ContentBlock::Image { mime_type, data } => ("image", mime_type, sha256_hex(data)),
            ContentBlock::Audio { mime_type, data } => ("audio", mime_type, sha256_hex(data)),
            ContentBlock::ResourceLink { uri, name, mime_type, description } => {
                let link = format!("{uri}\t{name}\t{}", description.as_deref().unwrap_or(""));
                ("resource_link", mime_type.as_ref().unwrap_or(&none), sha256_hex(link.as_bytes()))
            }
            ContentBlock::Resource { mime_type, body, .. } => {
                let payload = match body {
                    ResourceBody::Text(text) => sha256_hex(text.as_bytes()),
                    ResourceBody::Blob(data) => sha256_hex(data),
                };
                ("resource", mime_type.as_ref().unwrap_or(&none), payload)
            }
        };
        lines.push_str(&format!("{kind}\t{mime}\t{payload}\n"));
    }
    sha256_hex(lines.as_bytes())
}
