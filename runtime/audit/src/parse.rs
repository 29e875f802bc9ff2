//! A record from its line, read without serde's intermediate tree.
//!
//! `Event` is tagged by its `kind` member, and canonical JSON sorts keys,
//! so a call's `kind` comes after half of its members: the derived
//! deserialiser buffers every member it meets before `kind` into a tree of
//! owned values, then builds the event from the tree. Reading a log spends
//! most of its time there. Here the event is first taken as raw JSON text
//! (borrowed, not copied), its `kind` read by itself, and a call built
//! directly from the text. Every other kind takes the derived path.
//!
//! This is a fast path, not a second definition: when it accepts a line,
//! the derived deserialiser gives the same record (a test and the
//! `audit_log` fuzz target hold them equal); when it refuses one, callers
//! read the line again the derived way, which names what is wrong.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::value::RawValue;

use crate::event::{CallEvent, Event, Record};

/// The record on `line` (without its newline), read but not checked: its
/// hash, its place in the chain and its canonical form are what
/// [`crate::verify`] checks. Refuses what the derived deserialiser
/// refuses, and may refuse more (then read it with `serde_json`, which
/// names the fault); what it accepts reads exactly as `serde_json` reads it.
pub fn parse_record(line: &[u8]) -> serde_json::Result<Record> {
    let Line { schema, seq, time, prev, event, hash } = serde_json::from_slice(line)?;
    Ok(Record { schema, seq, time, prev, event: event_of(event.get())?, hash })
}

/// A record whose event is still JSON text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    schema: String,
    seq: u64,
    time: String,
    prev: String,
    #[serde(borrow)]
    event: &'a RawValue,
    hash: String,
}

/// Only the `kind` member of an event; the others are skipped unread.
#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

fn event_of(text: &str) -> serde_json::Result<Event> {
    let Kind { kind } = serde_json::from_str(text)?;
    if kind != "call" {
        return serde_json::from_str(text);
    }
    let mut json = serde_json::Deserializer::from_str(text);
    let call = CallEvent::deserialize(WithoutKind(&mut json))?;
    json.end()?;
    Ok(Event::Call(Box::new(call)))
}

/// Deserialises a struct from a JSON object whose `kind` member (the
/// event's tag, already read) is passed over, as the derived tagged
/// deserialiser removes it before building the variant.
struct WithoutKind<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for WithoutKind<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(Members(visitor))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// Hands the object's members, all but `kind`, to the struct's visitor.
struct Members<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Members<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(SkipKind(map))
    }
}

struct SkipKind<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipKind<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        loop {
            let Some(Key(key)) = self.0.next_key::<Key<'de>>()? else { return Ok(None) };
            if key == "kind" {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            let key: de::value::CowStrDeserializer<'de, Self::Error> = key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Self::Error> {
        self.0.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// A member name, borrowed from the line when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::seal;
    use crate::event::GENESIS;

    fn derived(line: &[u8]) -> serde_json::Result<Record> {
        serde_json::from_slice(line)
    }

    fn sealed(event: serde_json::Value) -> Vec<u8> {
        let event: Event = serde_json::from_value(event).expect("an event");
        let (_, mut line) = seal(0, GENESIS, event).expect("seal");
        line.pop();
        line
    }

    fn call() -> serde_json::Value {
        serde_json::json!({
            "kind": "call", "call_id": "call-1", "transport": "mcp-stdio\u{1}\"\\",
            "principal": {"sub": "agent:\u{1F600}", "iss": "https://i", "act": ["a"],
                "claims": {"repo": "acme/app", "n": 1.5, "big": 18446744073709551615u64, "t": true, "z": null},
                "token_lifetime_s": 300},
            "tool": {"name": "t", "version": "1", "digest": "sha256:00"},
            "input_sha256": "ab",
            "capabilities": [{"action": "fs.read", "resource": "Path::\"/w\"", "allowed": true, "policies": ["p"]}],
            "effects": {"bytes_received": 0, "bytes_sent": 4_294_967_296u64, "redactions": {"K": 2},
                "refusals": ["r\n"], "refusals_dropped": 0, "requests": 1,
                "usage": {"mounts": {"/w": {"read": true, "written": false}}}},
            "outcome": "ok", "error": null, "output_sha256": null, "duration_ms": 3
        })
    }

    #[test]
    fn a_call_reads_as_the_derived_deserialiser_reads_it() {
        let line = sealed(call());
        let fast = parse_record(&line).expect("the fast path reads a sealed call");
        assert!(matches!(fast.event, Event::Call(_)));
        assert_eq!(fast, derived(&line).expect("derived"));
    }

    #[test]
    fn other_kinds_read_as_the_derived_deserialiser_reads_them() {
        let line = sealed(serde_json::json!({"kind": "recovered", "truncated_bytes": 17}));
        assert_eq!(parse_record(&line).expect("fast"), derived(&line).expect("derived"));
    }

    #[test]
    fn what_the_derived_deserialiser_refuses_is_refused() {
        let line = String::from_utf8(sealed(call())).expect("utf-8");
        for (from, to) in [
            // An unknown member, in the call or in the record.
            ("\"call_id\":", "\"extra\":1,\"call_id\":"),
            ("\"event\":", "\"extra\":1,\"event\":"),
            // A duplicate member, a duplicate or unknown kind.
            ("\"call_id\":", "\"transport\":\"x\",\"call_id\":"),
            ("\"kind\":\"call\"", "\"kind\":\"call\",\"kind\":\"call\""),
            ("\"kind\":\"call\"", "\"kind\":\"calls\""),
            ("\"kind\":\"call\",", ""),
            // A wrong type, a missing member.
            ("\"duration_ms\":3", "\"duration_ms\":\"3\""),
            ("\"input_sha256\":\"ab\",", ""),
        ] {
            assert!(line.contains(from), "{from}");
            let changed = line.replacen(from, to, 1);
            assert!(derived(changed.as_bytes()).is_err(), "derived accepts {to}");
            assert!(parse_record(changed.as_bytes()).is_err(), "fast accepts {to}");
        }
    }

    #[test]
    fn escaped_member_names_read_the_same() {
        let line = String::from_utf8(sealed(call())).expect("utf-8");
        let changed = line.replacen("\"call_id\":", "\"call\\u005fid\":", 1);
        assert_eq!(
            parse_record(changed.as_bytes()).expect("fast"),
            derived(changed.as_bytes()).expect("derived")
        );
    }
}
