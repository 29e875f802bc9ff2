//! Approval requests: what a human approves is bound by the hash of the
//! request's canonical JSON, so that hash must not depend on how the
//! request was spelled, and two different requests must never share it.
//!
//! - The canonical form reads back as the same request, and re-serialising
//!   that (in any spelling serde_json writes: compact, pretty, keys as
//!   declared) and reading it back gives the same canonical bytes and hash.
//! - Two requests hash alike only when they are equal.
//! - Any bytes presented as a stored request are read or refused, never a
//!   panic; what is read canonicalises to a fixed point.
#![no_main]

use airlock_approval::{CallRequest, GrantLine, Requester, ToolLine};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    a: Request,
    b: Request,
    stored: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Request {
    sub: String,
    iss: String,
    owner: Option<String>,
    act: Vec<String>,
    tool: (String, String, String),
    input_sha256: String,
    grants: Vec<(String, String, bool)>,
    bindings: Vec<String>,
}

impl Request {
    fn build(self) -> CallRequest {
        CallRequest {
            requester: Requester { sub: self.sub, iss: self.iss, owner: self.owner, act: self.act },
            tool: ToolLine { name: self.tool.0, version: self.tool.1, digest: self.tool.2 },
            input_sha256: self.input_sha256,
            grants: self
                .grants
                .into_iter()
                .map(|(action, resource, needs_approval)| GrantLine { action, resource, needs_approval })
                .collect(),
            bindings: self.bindings,
        }
    }
}

/// Reads `text` as a request; checks it is a fixed point of canonicalising.
fn stable(text: &str) -> Option<CallRequest> {
    let request: CallRequest = serde_json::from_str(text).ok()?;
    let canonical = request.canonical();
    let again: CallRequest = serde_json::from_str(&canonical).expect("canonical JSON reads back");
    assert_eq!(again, request);
    assert_eq!(again.canonical(), canonical);
    Some(request)
}

fuzz_target!(|input: Input| {
    let a = input.a.build();
    let b = input.b.build();
    for request in [&a, &b] {
        let canonical = request.canonical();
        assert_eq!(stable(&canonical).as_ref(), Some(request));
        for spelling in [
            serde_json::to_string(request).expect("compact"),
            serde_json::to_string_pretty(request).expect("pretty"),
        ] {
            let read = stable(&spelling).expect("serde_json's spelling reads back");
            assert_eq!(read.canonical(), canonical);
            assert_eq!(read.hash(), request.hash());
        }
    }
    assert_eq!(a == b, a.hash() == b.hash(), "{a:?}\n{b:?}");
    stable(&String::from_utf8_lossy(&input.stored));
});
