//! Writes a synthetic, verifiable audit log for the `agents` benchmark
//! (`runtime/inventory/bench-one-million.sh`): `synthetic_log DIR RECORDS`.
//!
//! 200 identities of two issuers call eight tools; each call record has
//! the verdicts a real one has (invoke, a mount, a destination, a secret,
//! an env var), a tenth of the calls are refused, and usage varies, so the
//! fold does the work a real log makes it do.

use std::collections::BTreeMap;
use std::io::Write;

use airlock_audit::{
    CallEvent, CapabilityRecord, Effects, Event, GENESIS, MountUse, Outcome, PrincipalRecord, ToolRecord,
    Usage,
};

const IDENTITIES: u64 = 200;
const TOOLS: [&str; 8] =
    ["patch-deps", "osv-query", "grep", "read-file", "http-fetch", "lint", "test-runner", "git-diff"];

fn event(n: u64) -> Event {
    let identity = n % IDENTITIES;
    let tool = TOOLS[(n / IDENTITIES) as usize % TOOLS.len()];
    let refused = n % 10 == 9;
    let capability = |action: &str, resource: String| CapabilityRecord {
        action: action.to_owned(),
        resource,
        allowed: !refused,
        policies: if refused { Vec::new() } else { vec![format!("team-{}", identity % 10)] },
    };
    let mut usage = Usage::default();
    if !refused {
        usage.mounts = BTreeMap::from([(
            "/workspace".to_owned(),
            MountUse { read: true, written: identity.is_multiple_of(3) },
        )]);
        if n.is_multiple_of(2) {
            usage.destinations.insert("https://api.osv.dev:443".to_owned());
            usage.secrets.insert("OSV_TOKEN".to_owned());
        }
    }
    Event::Call(Box::new(CallEvent {
        call_id: None,
        transport: "mcp-http".to_owned(),
        principal: Some(PrincipalRecord {
            sub: format!("repo:acme/app-{identity}:ref:refs/heads/main"),
            iss: if identity.is_multiple_of(2) {
                "https://token.actions.githubusercontent.com"
            } else {
                "https://id.factory.example"
            }
            .to_owned(),
            claims: BTreeMap::from([
                ("repository".to_owned(), format!("acme/app-{}", identity % 50).into()),
                ("agent_class".to_owned(), "fixer".into()),
            ]),
            act: Vec::new(),
            token_lifetime_s: Some(900),
        }),
        tool: ToolRecord {
            name: tool.to_owned(),
            version: "0.1.0".to_owned(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            source: None,
            signer: None,
        },
        input_sha256: "cd".repeat(32),
        capabilities: vec![
            capability("invoke", format!("Tool::\"{tool}\"")),
            capability("fs.read", "Path::\"/workspace\"".to_owned()),
            capability("fs.write", "Path::\"/workspace\"".to_owned()),
            capability("net.connect", "Host::\"https://api.osv.dev\"".to_owned()),
            capability("secret.use", "Secret::\"OSV_TOKEN\" for https://api.osv.dev".to_owned()),
            capability("env.read", "EnvVar::\"LANG\"".to_owned()),
        ],
        effects: Effects { requests: 1, bytes_sent: 512, bytes_received: 8192, usage, ..Effects::default() },
        outcome: if refused { Outcome::Refused } else { Outcome::Ok },
        error: None,
        output_sha256: (!refused).then(|| "ef".repeat(32)),
        content_sha256: None,
        duration_ms: 3,
        approval: None,
        workspace: None,
    }))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(records)) = (args.next(), args.next()) else {
        return Err("usage: synthetic_log DIR RECORDS".into());
    };
    let records: u64 = records.parse()?;
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::File::create(std::path::Path::new(&dir).join(airlock_audit::LOG_FILE))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let (mut seq, mut head) = (0, GENESIS.to_owned());
    for n in 0..records {
        let (record, line) = airlock_audit::seal_next(seq, &head, event(n))?;
        out.write_all(&line)?;
        (seq, head) = (record.seq, record.hash);
    }
    out.flush()?;
    println!("{records} records in {dir}");
    Ok(())
}
