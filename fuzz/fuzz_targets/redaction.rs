//! Redaction: a granted secret's value never reaches what a call emits,
//! whatever surrounds it, however it is encoded among the forms searched,
//! and however a stream is cut into chunks.
//!
//! Values are drawn from lowercase letters and digits and names are
//! uppercase, so no value can be spelled across the `[REDACTED:NAME]`
//! marker itself: any occurrence of a value in the output is a leak.
//!
//! - Text, bytes and JSON output hold no value (and no lowercase hex form).
//! - A redacting stream, cut where the input says, emits exactly what
//!   redacting the whole at once emits.
//! - A refusing stream fails exactly when the whole holds a form of a
//!   value, and otherwise passes the bytes through unchanged.
#![no_main]

use std::sync::Arc;

use airlock_host::{Redactor, Streaming};
use airlock_policy::SecretGrant;
use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

#[derive(Debug)]
struct Input {
    values: Vec<String>,
    pieces: Vec<Piece>,
    cuts: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Piece {
    Text(Vec<u8>),
    /// Value `n` (modulo their number) in form `form`.
    Secret {
        n: u8,
        form: u8,
    },
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let count = u.int_in_range(1..=3)?;
        let mut values = Vec::new();
        for _ in 0..count {
            let len = u.int_in_range(1..=24)?;
            let value: arbitrary::Result<String> =
                (0..len).map(|_| Ok(char::from(*u.choose(ALPHABET)?))).collect();
            values.push(value?);
        }
        Ok(Self { values, pieces: u.arbitrary()?, cuts: u.arbitrary()? })
    }
}

/// Value `value` in one of the forms the redactor searches for.
fn form(value: &str, form: u8) -> Vec<u8> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let bytes = value.as_bytes();
    match form % 6 {
        0 => bytes.to_vec(),
        1 => STANDARD.encode(bytes).into_bytes(),
        2 => URL_SAFE_NO_PAD.encode(bytes).into_bytes(),
        3 => hex::encode(bytes).into_bytes(),
        4 => hex::encode_upper(bytes).into_bytes(),
        _ => bytes.iter().flat_map(|b| format!("%{b:02X}").into_bytes()).collect(),
    }
}

fn leaks(output: &[u8], values: &[String]) -> Option<String> {
    values.iter().find_map(|value| {
        [value.as_bytes().to_vec(), hex::encode(value).into_bytes()]
            .into_iter()
            .find(|needle| output.windows(needle.len()).any(|w| w == needle.as_slice()))
            .map(|needle| String::from_utf8_lossy(&needle).into_owned())
    })
}

fuzz_target!(|input: Input| {
    let grants: Vec<SecretGrant> = input
        .values
        .iter()
        .enumerate()
        .map(|(i, value)| SecretGrant {
            name: ["A", "B", "C"][i].to_owned(),
            destinations: Vec::new(),
            reveal: false,
            value: SecretString::from(value.clone()),
        })
        .collect();
    let redactor = Arc::new(Redactor::new(&grants).expect("non-empty values"));
    let whole: Vec<u8> = input
        .pieces
        .iter()
        .flat_map(|piece| match piece {
            Piece::Text(text) => text.clone(),
            Piece::Secret { n, form: f } => form(&input.values[*n as usize % input.values.len()], *f),
        })
        .collect();

    let redacted = redactor.bytes(&whole);
    assert_eq!(leaks(&redacted, &input.values), None, "bytes: {}", String::from_utf8_lossy(&redacted));
    let text = String::from_utf8_lossy(&whole);
    let redacted_text = redactor.text(&text);
    assert_eq!(leaks(redacted_text.as_bytes(), &input.values), None, "text: {redacted_text}");
    let redacted_json = redactor.json(&text);
    assert_eq!(leaks(redacted_json.as_bytes(), &input.values), None, "json: {redacted_json}");
    let cut = redactor.bytes_cut(&whole);
    assert_eq!(leaks(&cut, &input.values), None, "bytes_cut: {}", String::from_utf8_lossy(&cut));

    // The same bytes as a stream, cut where the input says.
    let mut chunks = Vec::new();
    let mut rest = whole.as_slice();
    for &cut in &input.cuts {
        let (chunk, tail) = rest.split_at((cut as usize).min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks.push(rest);

    let mut stream = Streaming::redacting(Arc::clone(&redactor));
    let mut streamed = Vec::new();
    for chunk in &chunks {
        streamed.extend(stream.push(chunk).expect("a redacting stream never refuses"));
    }
    streamed.extend(stream.finish().expect("a redacting stream never refuses"));
    assert_eq!(streamed, redacted, "chunked: {chunks:?}");

    let mut stream = Streaming::refusing(Arc::clone(&redactor));
    let mut passed = Vec::new();
    let refused = chunks.iter().try_for_each(|chunk| stream.push(chunk).map(|out| passed.extend(out)));
    let refused = refused.and_then(|()| stream.finish().map(|out| passed.extend(out)));
    match refused {
        Ok(()) => {
            assert_eq!(redactor.find(&whole), None, "a refusing stream passed a value");
            assert_eq!(passed, whole);
        }
        Err(_) => {
            assert!(redactor.find(&whole).is_some(), "a refusing stream refused nothing");
            assert_eq!(leaks(&passed, &input.values), None, "passed before refusing");
        }
    }
});
