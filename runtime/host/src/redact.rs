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

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, MatchKind};
use airlock_policy::SecretGrant;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;

/// A call's redactor: its patterns and which secret each belongs to. The
/// runtime builds one per call from the call's secret grants; it is public
/// for embedders that emit other output (and for the benchmark).
pub struct Redactor {
    automaton: AhoCorasick,
    names: Vec<String>,
    /// Hits per secret name.
    pub counts: BTreeMap<String, u64>,
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
        Some(Self { automaton, names, counts })
    }

    /// `text` with every hit replaced.
    pub fn text(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let names = &self.names;
        let counts = &mut self.counts;
        self.automaton.replace_all_with(text, &mut out, |hit, _, out| {
            let name = &names[hit.pattern().as_usize()];
            *counts.entry(name.clone()).or_default() += 1;
            out.push_str("[REDACTED:");
            out.push_str(name);
            out.push(']');
            true
        });
        out
    }

    /// `bytes` with every hit replaced.
    pub fn bytes(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let names = &self.names;
        let counts = &mut self.counts;
        self.automaton.replace_all_with_bytes(bytes, &mut out, |hit, _, out| {
            let name = &names[hit.pattern().as_usize()];
            *counts.entry(name.clone()).or_default() += 1;
            out.extend_from_slice(b"[REDACTED:");
            out.extend_from_slice(name.as_bytes());
            out.push(b']');
            true
        });
        out
    }
}

/// The value and its encodings.
fn forms(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let text = |s: String| Zeroizing::new(s.into_bytes());
    vec![
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
    ]
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
        let mut r = Redactor::new(&[grant("T", value)]).expect("redactor");
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
        assert_eq!(r.counts["T"], 6);
        assert_eq!(r.bytes(format!("x{value}x").as_bytes()), b"x[REDACTED:T]x");
    }

    #[test]
    fn nothing_to_hide_means_no_redactor() {
        assert!(Redactor::new(&[]).is_none());
        assert!(Redactor::new(&[grant("E", "")]).is_none());
    }
}
