//! Redaction: every byte a call returns is scanned for the values of the
//! secrets granted to it, and each hit is replaced by `[REDACTED:NAME]`.
//!
//! Each value is searched for as it is and in the encodings a tool could
//! trivially apply to smuggle it out: base64 and base64url (padded and
//! not), lowercase and uppercase hex, and percent-encoding (RFC 3986, and
//! every byte encoded, in either case). An encoding is
//! matched only when it encodes the value on its own (base64 of a longer
//! text that contains the value is not aligned and is not caught: redaction
//! is the second line of defence, keeping values out of the tool is the
//! first). One Aho-Corasick automaton per call, leftmost-longest, so the
//! longest form wins where forms overlap.
//!
//! Redaction runs on what is finally emitted, and before anything is cut:
//! a JSON result is redacted string by string after decoding (so `\u`
//! escapes and a value holding `"` or `\` are caught) as well as as text;
//! the value's JSON-escaped form is one of the forms searched; log lines
//! are redacted before they are cut to size, and where a cut could not be
//! avoided (the stdout/stderr cap), a partial value at the cut is masked.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, MatchKind};
use airlock_policy::SecretGrant;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;

/// A call's redactor: its patterns and which secret each belongs to. The
/// runtime builds one per call from the call's secret grants and shares it
/// (log lines, response streams, the outcome); it is public for embedders
/// that emit other output (and for the benchmark).
pub struct Redactor {
    automaton: AhoCorasick,
    /// Every form searched for (kept to mask a value cut in half).
    patterns: Vec<Zeroizing<Vec<u8>>>,
    names: Vec<String>,
    /// Hits per secret name, wherever they were made.
    counts: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Redactor {
    /// A redactor for `secrets`, or `None` when there is nothing to hide.
    pub fn new(secrets: &[SecretGrant]) -> Option<Self> {
        let mut patterns: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut names = Vec::new();
        for secret in secrets {
            let value = secret.value.expose_secret().as_bytes();
            if value.is_empty() {
                continue;
            }
            for form in forms(value) {
                if !patterns.iter().any(|p| **p == *form) {
                    patterns.push(form);
                    names.push(secret.name.clone());
                }
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(|p| p.as_slice()))
            .ok()?;
        let counts = secrets.iter().map(|s| (s.name.clone(), 0)).collect();
        Some(Self { automaton, patterns, names, counts: std::sync::Mutex::new(counts) })
    }

    /// JSON text with every hit replaced: each string and key is redacted
    /// after decoding (a value spelled with `\u` escapes, or holding `"` or
    /// `\`, is caught), then the whole text as text. Text that is not JSON
    /// is redacted as text.
    pub fn json(&self, text: &str) -> String {
        if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text)
            && self.redact_value(&mut value)
            && let Ok(redacted) = serde_json::to_string(&value)
        {
            return self.text(&redacted);
        }
        self.text(text)
    }

    /// Redacts every string and key of `value` in place; true when any
    /// changed.
    fn redact_value(&self, value: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        match value {
            Value::String(text) => {
                let redacted = self.text(text);
                let changed = redacted != *text;
                *text = redacted;
                changed
            }
            Value::Array(items) => {
                // Every item, not just up to the first hit.
                let mut changed = false;
                for item in items {
                    changed |= self.redact_value(item);
                }
                changed
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                let mut changed = false;
                for (key, mut item) in entries {
                    let new_key = self.text(&key);
                    changed |= new_key != key;
                    changed |= self.redact_value(&mut item);
                    map.insert(new_key, item);
                }
                changed
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }

    /// `bytes` that were cut after their end (a capped capture): every hit
    /// replaced, and a trailing piece that could be the start of a value
    /// (4 bytes or more of one of its forms) masked too.
    pub fn bytes_cut(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = self.bytes(bytes);
        let partial = self
            .patterns
            .iter()
            .enumerate()
            .filter_map(|(i, pattern)| {
                (MIN_PARTIAL..pattern.len()).rev().find(|&k| out.ends_with(&pattern[..k])).map(|k| (k, i))
            })
            .max();
        if let Some((k, i)) = partial {
            out.truncate(out.len() - k);
            let name = &self.names[i];
            self.count(name);
            out.extend_from_slice(format!("[REDACTED:{name}]").as_bytes());
        }
        out
    }

    /// `text` with every hit replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        self.automaton.replace_all_with(text, &mut out, |hit, _, out| {
            let name = &self.names[hit.pattern().as_usize()];
            self.count(name);
            out.push_str("[REDACTED:");
            out.push_str(name);
            out.push(']');
            true
        });
        out
    }

    /// Hits so far, per secret name (every granted name, 0 when none).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn count(&self, name: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(name.to_owned()).or_default() += 1;
    }

    /// The longest form searched for, in bytes.
    pub(crate) fn longest(&self) -> usize {
        self.patterns.iter().map(|p| p.len()).max().unwrap_or(0)
    }

    /// The name of the first secret any form of which occurs in `bytes`
    /// (not counted as a redaction).
    pub fn find(&self, bytes: &[u8]) -> Option<&str> {
        self.automaton.find(bytes).map(|hit| self.names[hit.pattern().as_usize()].as_str())
    }

    /// `bytes` with every hit replaced.
    pub fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        self.automaton.replace_all_with_bytes(bytes, &mut out, |hit, _, out| {
            let name = &self.names[hit.pattern().as_usize()];
            self.count(name);
            out.extend_from_slice(b"[REDACTED:");
            out.extend_from_slice(name.as_bytes());
            out.push(b']');
            true
        });
        out
    }
}

/// A [`Redactor`] applied to a stream of chunks (an HTTP body): a value
/// split across chunks is still found, because the last `longest - 1`
/// bytes of each chunk are held back until the next one (or the end).
/// Public for the benchmark and for embedders that stream other output.
pub struct Streaming {
    redactor: std::sync::Arc<Redactor>,
    /// What a hit does: replaced, or the stream refused.
    refuse: bool,
    carry: Vec<u8>,
}

impl Streaming {
    /// Replaces every hit with `[REDACTED:NAME]` (a response to the guest).
    pub fn redacting(redactor: std::sync::Arc<Redactor>) -> Self {
        Self { redactor, refuse: false, carry: Vec::new() }
    }

    /// Fails at the first hit, naming the secret (a request body going
    /// where that secret is not bound): nothing from the chunk holding it,
    /// nor the held-back start of it, is passed on.
    pub fn refusing(redactor: std::sync::Arc<Redactor>) -> Self {
        Self { redactor, refuse: true, carry: Vec::new() }
    }

    /// The next chunk in; what may be passed on now out.
    ///
    /// # Errors
    /// For a refusing stream, the name of the secret found.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, String> {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(data);
        let hold = self.redactor.longest().saturating_sub(1);
        let safe_end = buf.len().saturating_sub(hold);
        let mut out = Vec::with_capacity(buf.len());
        let mut pos = 0;
        for hit in self.redactor.automaton.find_iter(&buf) {
            if hit.start() >= safe_end {
                break;
            }
            let name = &self.redactor.names[hit.pattern().as_usize()];
            if self.refuse {
                return Err(name.clone());
            }
            out.extend_from_slice(&buf[pos..hit.start()]);
            out.extend_from_slice(format!("[REDACTED:{name}]").as_bytes());
            self.redactor.count(name);
            pos = hit.end();
        }
        let cut = pos.max(safe_end);
        out.extend_from_slice(&buf[pos..cut]);
        self.carry = buf[cut..].to_vec();
        Ok(out)
    }

    /// The end of the stream: what was held back, checked in full.
    ///
    /// # Errors
    /// For a refusing stream, the name of the secret found.
    pub fn finish(&mut self) -> Result<Vec<u8>, String> {
        let carry = std::mem::take(&mut self.carry);
        if let Some(hit) = self.redactor.automaton.find(&carry) {
            let name = &self.redactor.names[hit.pattern().as_usize()];
            if self.refuse {
                return Err(name.clone());
            }
        }
        Ok(self.redactor.bytes(&carry))
    }
}

/// Shortest start of a value masked where output was cut.
const MIN_PARTIAL: usize = 4;

/// The value and its encodings.
fn forms(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let text = |s: String| Zeroizing::new(s.into_bytes());
    // As it appears inside a JSON string (quotes, backslashes and control
    // characters escaped), when that differs from the value itself.
    let json_escaped = std::str::from_utf8(value)
        .ok()
        .and_then(|v| serde_json::to_string(v).ok())
        .map(|quoted| Zeroizing::new(quoted.as_bytes()[1..quoted.len() - 1].to_vec()))
        .filter(|escaped| **escaped != *value);
    let mut all = vec![
        Zeroizing::new(value.to_vec()),
        text(STANDARD.encode(value)),
        text(STANDARD_NO_PAD.encode(value)),
        text(URL_SAFE.encode(value)),
        text(URL_SAFE_NO_PAD.encode(value)),
        text(hex::encode(value)),
        text(hex::encode_upper(value)),
        text(percent_encode(value)),
        text(value.iter().map(|b| format!("%{b:02X}")).collect()),
        text(value.iter().map(|b| format!("%{b:02x}")).collect()),
    ];
    all.extend(json_escaped);
    all
}

/// RFC 3986 percent-encoding: unreserved characters kept, everything else
/// `%XX` (uppercase).
fn percent_encode(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use airlock_policy::SecretGrant;
    use secrecy::SecretString;

    use super::*;

    fn grant(name: &str, value: &str) -> SecretGrant {
        SecretGrant {
            name: name.into(),
            destinations: vec![],
            reveal: false,
            value: SecretString::from(value),
        }
    }

    #[test]
    fn every_form_is_redacted_and_counted() {
        let value = "tok/en+with space?&=";
        let r = Redactor::new(&[grant("T", value)]).expect("redactor");
        let b = value.as_bytes();
        let input = format!(
            "raw {value} b64 {} url {} hex {} HEX {} pct {} end",
            STANDARD.encode(b),
            URL_SAFE_NO_PAD.encode(b),
            hex::encode(b),
            hex::encode_upper(b),
            percent_encode(b)
        );
        let out = r.text(&input);
        assert_eq!(
            out,
            "raw [REDACTED:T] b64 [REDACTED:T] url [REDACTED:T] hex [REDACTED:T] HEX [REDACTED:T] pct [REDACTED:T] end"
        );
        assert_eq!(r.counts()["T"], 6);
        assert_eq!(r.bytes(format!("x{value}x").as_bytes()), b"x[REDACTED:T]x");
        assert_eq!(r.find(format!("key = \"{}\"", hex::encode(b)).as_bytes()), Some("T"));
        assert_eq!(r.find(b"nothing here"), None);
    }

    #[test]
    fn json_is_redacted_after_decoding_and_a_quoted_value_is_found() {
        let r = Redactor::new(&[grant("T", "s3cr3t-value"), grant("Q", "a\"b\\c-pem")]).expect("redactor");
        // The same value spelled with \u escapes, as a key, and a value
        // holding a quote and a backslash.
        let out =
            r.json(r#"{"a":"\u0073\u0033cr3t-value","s3cr3t-value":1,"q":"a\"b\\c-pem","n":[1.5,"x"]}"#);
        assert_eq!(out, r#"{"a":"[REDACTED:T]","[REDACTED:T]":1,"q":"[REDACTED:Q]","n":[1.5,"x"]}"#);
        // Text that is JSON-escaped elsewhere (a log line holding JSON).
        assert_eq!(r.text(r#"log {"q":"a\"b\\c-pem"}"#), r#"log {"q":"[REDACTED:Q]"}"#);
        // Not JSON: redacted as text; JSON without a hit is left as it was.
        assert_eq!(r.json("plain s3cr3t-value"), "plain [REDACTED:T]");
        assert_eq!(r.json("{ \"kept\" : 1 }"), "{ \"kept\" : 1 }");
    }

    #[test]
    fn a_value_cut_in_half_at_the_end_is_masked() {
        let r = Redactor::new(&[grant("T", "s3cr3t-value")]).expect("redactor");
        assert_eq!(r.bytes_cut(b"out: s3cr3t-va"), b"out: [REDACTED:T]");
        assert_eq!(r.bytes_cut(b"out: s3c"), b"out: s3c", "three bytes are not masked");
        assert_eq!(r.bytes_cut(b"whole s3cr3t-value end"), b"whole [REDACTED:T] end");
    }

    #[test]
    fn a_value_split_across_chunks_is_redacted_or_refused() {
        let redactor = std::sync::Arc::new(Redactor::new(&[grant("T", "s3cr3t-value")]).expect("redactor"));
        let text = b"head s3cr3t-value mid 73336372337420 s3cr3t-value tail";
        for size in [1, 2, 3, 5, 7, 11, text.len()] {
            let mut stream = Streaming::redacting(redactor.clone());
            let mut out = Vec::new();
            for chunk in text.chunks(size) {
                out.extend(stream.push(chunk).expect("redacting never refuses"));
            }
            out.extend(stream.finish().expect("end"));
            assert_eq!(
                String::from_utf8(out).expect("utf-8"),
                "head [REDACTED:T] mid 73336372337420 [REDACTED:T] tail",
                "chunks of {size}"
            );
            let mut refusing = Streaming::refusing(redactor.clone());
            let mut passed = Vec::new();
            let refused = text.chunks(size).find_map(|chunk| match refusing.push(chunk) {
                Ok(out) => {
                    passed.extend(out);
                    None
                }
                Err(name) => Some(name),
            });
            assert_eq!(refused.as_deref(), Some("T"), "chunks of {size}");
            assert!(!String::from_utf8_lossy(&passed).contains("s3cr"), "part of the value was passed on");
        }
        let mut clean = Streaming::refusing(redactor.clone());
        let text = "nothing secret here, ".repeat(10);
        let mut passed = clean.push(text.as_bytes()).expect("pass");
        assert_eq!(
            passed.len(),
            text.len() - (redactor.longest() - 1),
            "only the possible start of a value is held"
        );
        passed.extend(clean.finish().expect("pass"));
        assert_eq!(passed, text.as_bytes());
    }

    #[test]
    fn nothing_to_hide_means_no_redactor() {
        assert!(Redactor::new(&[]).is_none());
        assert!(Redactor::new(&[grant("E", "")]).is_none());
    }
}
