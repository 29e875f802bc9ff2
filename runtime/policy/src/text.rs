//! Characters that make text read differently from what it is.
//!
//! A terminal obeys C0/C1 control characters (escape sequences, carriage
//! returns, newlines) and renders Unicode bidirectional overrides by
//! reordering what follows, so a name holding either can show a human
//! something else than the bytes a policy matched. Identities refuse them
//! ([`Principal::from_claims`](crate::Principal::from_claims)); everything
//! printed escapes them ([`printable`]).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is a C0 or C1 control character, DEL, or a Unicode
/// bidirectional embedding, override, isolate or mark: a character that
/// changes how the text around it is shown rather than showing itself.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `text` holds a character for which [`is_unprintable`] holds.
pub fn has_unprintable(text: &str) -> bool {
    text.chars().any(is_unprintable)
}

/// `text` with every unprintable character ([`is_unprintable`]: newlines
/// and tabs included) written as `\n`, `\t`, `\r` or `\u{…}`, and every
/// backslash doubled so an escape cannot be forged; unchanged (and not
/// copied) when there is none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unprintable(c) || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unprintable(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`printable`] for text that is meant to span lines: newlines are kept,
/// every other control character is escaped.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| (is_unprintable(c) && c != '\n') || c == '\\') {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(printable).collect();
    Cow::Owned(lines.join("\n"))
}

/// [`printable`], cut to at most `max_chars` characters of the original
/// (then ending in `…`): for names an attacker may make arbitrarily long.
pub fn excerpt(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => printable(text),
        Some((cut, _)) => Cow::Owned(format!("{}…", printable(&text[..cut]))),
    }
}

/// JSON text with DEL, the C1 control characters and bidirectional
/// overrides (which JSON allows raw, and terminals obey) written as `\u`
/// escapes: the same JSON value, safe to print. Raw C0 characters cannot
/// occur in a string of valid JSON and layout whitespace is kept.
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    let escaped = |c: char| is_unprintable(c) && !(c.is_ascii_control() && c != '\u{7f}');
    if !json.chars().any(escaped) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escaped(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_unprintable_and_text_is_not() {
        for c in ['\0', '\n', '\r', '\x1b', '\x7f', '\u{85}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200f}'] {
            assert!(is_unprintable(c), "{:x}", c as u32);
        }
        assert!(!has_unprintable("ci-bot@example.com/acme app ✓ ünï 日本 👍"));
    }

    #[test]
    fn escape_sequences_newlines_and_c1_controls_are_shown_not_obeyed() {
        let forged = "bot\x1b]0;pwned\x07\n     9  2026-01-01  ok  admin\u{9b}2J\r\\u{1b}";
        let shown = printable(forged);
        assert!(!has_unprintable(&shown), "{shown}");
        assert_eq!(shown, "bot\\u{1b}]0;pwned\\u{7}\\n     9  2026-01-01  ok  admin\\u{9b}2J\\r\\\\u{1b}");
        assert!(matches!(printable("ci-bot@example/repo"), Cow::Borrowed(_)));
        assert_eq!(printable("ünïcode ✓"), "ünïcode ✓");
        assert_eq!(printable("admin\u{202e}txt.exe"), "admin\\u{202e}txt.exe");
    }

    #[test]
    fn excerpts_are_cut_on_a_character_boundary_and_escaped() {
        assert_eq!(excerpt("short", 8), "short");
        assert_eq!(excerpt("ünïcode\x1b[2J", 8), "ünïcode\\u{1b}…");
        assert_eq!(excerpt(&"m".repeat(2_000_000), 64).chars().count(), 65);
    }

    #[test]
    fn lines_keep_their_newlines_and_json_keeps_its_value() {
        assert_eq!(printable_lines("a\x1b[2K\nb\r"), "a\\u{1b}[2K\nb\\r");
        let json = serde_json::to_string(&"x\u{9b}31m\u{7f}\u{2067}").expect("json");
        let safe = json_for_terminal(&json);
        assert!(!has_unprintable(&safe), "{safe}");
        assert_eq!(serde_json::from_str::<String>(&safe).expect("still JSON"), "x\u{9b}31m\u{7f}\u{2067}");
        assert_eq!(json_for_terminal("{\n  \"a\": 1\n}"), "{\n  \"a\": 1\n}");
    }
}
