//! `airlock.toml`: generated configurations, and any text, loaded by the
//! real loader (`airlock_gateway::config::load`) from a directory holding
//! the files a configuration may name (a valid and an invalid policy, a
//! JWKS, a cosign key, a Fulcio root, a checkpoint key).
//!
//! - Never a panic.
//! - A refusal names where the problem is: a key (`config \`…\``), the
//!   file, or the file it names. (It may quote the file, control
//!   characters included: the CLI escapes every error it prints.)
//! - Loading is deterministic: the same text loads twice the same way.
//! - A loaded configuration trusts exactly the issuers it lists, with the
//!   audience it names.
//!
//! So that a run touches nothing outside its directory and waits on no
//! network, a configuration is kept from naming the default state paths
//! (`replay_cache` and `approvals.dir` are set inside the directory when
//! absent or pointing elsewhere), `[state]` is dropped, and keys fetched
//! over HTTP point at a loopback port that refuses.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use toml::{Table, Value};

const REFUSING: &str = "http://127.0.0.1:1/jwks";

struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_owned();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/config");
    for name in ["policy.cedar", "invalid.cedar", "cosign.pub", "fulcio.pem"] {
        std::fs::copy(fixtures.join(name), root.join(name)).expect("fixture");
    }
    let key = airlock_identity::LocalKey::generate().expect("key");
    std::fs::write(root.join("jwks.json"), key.jwks().to_string()).expect("jwks");
    std::fs::write(root.join("empty.json"), "{}").expect("empty");
    let (private, _public) = airlock_audit::Checkpointer::generate_pem().expect("checkpoint key");
    let checkpoint = root.join("checkpoint.key");
    std::fs::write(&checkpoint, private).expect("checkpoint key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&checkpoint, std::fs::Permissions::from_mode(0o600)).expect("mode");
    std::fs::create_dir(root.join("tools")).expect("tools dir");
    Sandbox { _dir: dir, root }
});

/// Strings that mean something somewhere in a configuration.
const WORDS: &[&str] = &[
    "policy.cedar",
    "invalid.cedar",
    "missing.cedar",
    "jwks.json",
    "empty.json",
    "cosign.pub",
    "fulcio.pem",
    "checkpoint.key",
    "tools",
    "replay",
    "approvals",
    "audit",
    "secrets",
    "../policy.cedar",
    "/dev/null",
    "",
    "https://issuer.example",
    "https://aud.example/mcp",
    "http://127.0.0.1:1/jwks",
    "15m",
    "0s",
    "1h",
    "61s",
    "30s",
    "9999999999999999h",
    "1MiB",
    "8MiB",
    "0",
    "1KiB",
    "10GB",
    "-1",
    "fsync",
    "group",
    "human:",
    "oci://registry.example/tools/echo@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "oci://registry.example/tools/echo:1.0",
    "oci://",
    "key",
    "mail@example.com",
    "x.wasm",
];

/// Keys, by where they go: top level, then each table's.
const TOP: &[&str] = &[
    "audience",
    "policies",
    "issuer",
    "replay_cache",
    "max_token_lifetime",
    "clock_skew",
    "limits",
    "network",
    "secrets",
    "tools",
    "audit",
    "approvals",
    "tool_signers",
    "sigstore",
    "unknown",
];
const ISSUER: &[&str] = &[
    "iss",
    "jwks",
    "jwks_uri",
    "ca",
    "refresh_min",
    "refresh_max",
    "refetch_interval",
    "max_stale",
    "fetch_timeout",
];
const LIMITS: &[&str] = &[
    "timeout",
    "memory",
    "max_output",
    "max_stdio",
    "max_log_lines",
    "max_log_bytes",
    "max_handles",
    "max_open_files",
];
const NETWORK: &[&str] = &[
    "max_requests",
    "max_request_bytes",
    "max_response_bytes",
    "connect_timeout",
    "response_timeout",
    "max_header_bytes",
];
const AUDIT: &[&str] = &["dir", "durability", "group_size", "checkpoint_key", "checkpoint_every"];
const APPROVALS: &[&str] = &["dir", "expiry", "request_expiry", "break_glass", "human"];
const HUMAN: &[&str] = &["iss", "sub_prefix"];
const SIGNER: &[&str] = &["name", "key", "issuer", "identity"];
const SIGSTORE: &[&str] = &["fulcio_roots", "rekor_keys"];
const TOOL: &[&str] = &["ref", "allow_tag", "signer"];

fn word(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.ratio(7, 8)? { Ok((*u.choose(WORDS)?).to_owned()) } else { u.arbitrary() }
}

/// Any TOML value, leaning to the words above.
fn value(u: &mut Unstructured<'_>, depth: u8) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=if depth == 0 { 3 } else { 5 })? {
        0 | 1 => Value::String(word(u)?),
        2 => Value::Integer(*u.choose(&[0, 1, 64, 100, -1, i64::MAX])?),
        3 => Value::Boolean(u.arbitrary()?),
        4 => {
            Value::Array((0..u.int_in_range(0..=3)?).map(|_| value(u, depth - 1)).collect::<Result<_, _>>()?)
        }
        _ => Value::Table(table(u, &[], depth - 1)?),
    })
}

/// A table of keys from `keys` (and now and then another), each with a
/// value that fits it or not.
fn table(u: &mut Unstructured<'_>, keys: &[&str], depth: u8) -> arbitrary::Result<Table> {
    let mut table = Table::new();
    for _ in 0..u.int_in_range(0..=keys.len().max(2))? {
        let key = match keys {
            [] => word(u)?,
            keys if u.ratio(15, 16)? => (*u.choose(keys)?).to_owned(),
            _ => word(u)?,
        };
        let value = fitting(u, &key, depth)?;
        table.insert(key, value);
    }
    Ok(table)
}

/// A value for `key`, usually of the shape it takes.
fn fitting(u: &mut Unstructured<'_>, key: &str, depth: u8) -> arbitrary::Result<Value> {
    if depth == 0 || u.ratio(1, 8)? {
        return value(u, depth.min(1));
    }
    let tables = |u: &mut Unstructured<'_>, keys: &[&str]| -> arbitrary::Result<Value> {
        let n = u.int_in_range(0..=3)?;
        Ok(Value::Array(
            (0..n).map(|_| table(u, keys, depth - 1).map(Value::Table)).collect::<Result<_, _>>()?,
        ))
    };
    let words = |u: &mut Unstructured<'_>| -> arbitrary::Result<Value> {
        let n = u.int_in_range(0..=3)?;
        Ok(Value::Array((0..n).map(|_| word(u).map(Value::String)).collect::<Result<_, _>>()?))
    };
    Ok(match key {
        "issuer" => tables(u, ISSUER)?,
        "tool_signers" => tables(u, SIGNER)?,
        "human" => tables(u, HUMAN)?,
        "limits" => Value::Table(table(u, LIMITS, depth - 1)?),
        "network" => Value::Table(table(u, NETWORK, depth - 1)?),
        "audit" => Value::Table(table(u, AUDIT, depth - 1)?),
        "approvals" => Value::Table(table(u, APPROVALS, depth - 1)?),
        "sigstore" => Value::Table(table(u, SIGSTORE, depth - 1)?),
        "policies" | "break_glass" | "rekor_keys" => words(u)?,
        "tools" => {
            let n = u.int_in_range(0..=3)?;
            Value::Array(
                (0..n)
                    .map(|_| {
                        if u.arbitrary()? {
                            word(u).map(Value::String)
                        } else {
                            table(u, TOOL, depth - 1).map(Value::Table)
                        }
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        "allow_tag" => Value::Boolean(u.arbitrary()?),
        "group_size" | "checkpoint_every" | "max_log_lines" | "max_handles" | "max_open_files"
        | "max_requests" => Value::Integer(*u.choose(&[0, 1, 64, 100, 4_294_967_296, -1])?),
        _ => Value::String(word(u)?),
    })
}

#[derive(Debug)]
enum Input {
    /// A configuration built from the keys above.
    Built(Table),
    /// Any text.
    Text(String),
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.ratio(1, 4)? {
            return Ok(Input::Text(u.arbitrary()?));
        }
        let mut top = table(u, TOP, 3)?;
        // Most generated files get the two keys every configuration needs.
        if u.ratio(3, 4)? {
            top.entry("audience").or_insert_with(|| Value::String("https://aud.example/mcp".into()));
            top.entry("policies").or_insert_with(|| Value::Array(vec![Value::String("policy.cedar".into())]));
        }
        Ok(Input::Built(top))
    }
}

/// Keeps a configuration inside the sandbox and off the network (see the
/// module comment).
fn confine(mut top: Table) -> Table {
    let inside = |value: Option<&Value>| {
        value.and_then(Value::as_str).is_some_and(|p| !p.is_empty() && !p.contains('/') && !p.contains(".."))
    };
    if !inside(top.get("replay_cache")) {
        top.insert("replay_cache".into(), Value::String("replay".into()));
    }
    top.remove("state");
    match top.get_mut("approvals") {
        Some(Value::Table(approvals)) => {
            if !inside(approvals.get("dir")) {
                approvals.insert("dir".into(), Value::String("approvals".into()));
            }
        }
        // A non-table `approvals` is refused when read.
        Some(_) => {}
        None => {
            let mut approvals = Table::new();
            approvals.insert("dir".into(), Value::String("approvals".into()));
            top.insert("approvals".into(), Value::Table(approvals));
        }
    }
    if let Some(Value::Array(issuers)) = top.get_mut("issuer") {
        for issuer in issuers.iter_mut().filter_map(Value::as_table_mut) {
            // Fetched keys (by `jwks_uri`, or by discovery from `iss`) come
            // from a port that refuses.
            if issuer.contains_key("jwks_uri") || !issuer.contains_key("jwks") {
                issuer.insert("jwks_uri".into(), Value::String(REFUSING.into()));
            }
        }
    }
    top
}

/// A configuration using every fixture, which must load: the properties
/// above are not checked against a sandbox in which nothing could.
const EVERY_FIXTURE: &str = r#"
audience = "https://aud.example/mcp"
policies = ["policy.cedar"]
replay_cache = "replay"
tools = ["tools", { ref = "oci://registry.example/tools/echo:1.0", allow_tag = true, signer = "release" }]

[[issuer]]
iss = "https://issuer.example"
jwks = "jwks.json"

[[tool_signers]]
name = "release"
key = "cosign.pub"

[[tool_signers]]
name = "ci"
issuer = "https://token.actions.githubusercontent.com"
identity = "https://github.com/example/tools/.github/workflows/release.yml@refs/heads/main"

[sigstore]
fulcio_roots = "fulcio.pem"
rekor_keys = ["cosign.pub"]

[audit]
durability = "group"
checkpoint_key = "checkpoint.key"

[approvals]
dir = "approvals"
expiry = "15m"
"#;

static SELF_CHECK: std::sync::Once = std::sync::Once::new();

fn self_check(sandbox: &Sandbox) {
    let path = sandbox.root.join("airlock.toml");
    std::fs::write(&path, EVERY_FIXTURE).expect("write the configuration");
    if let Err(error) = airlock_gateway::config::load(&path) {
        panic!("the configuration using every fixture is refused: {error}");
    }
}

fuzz_target!(|input: Input| {
    let sandbox = &*SANDBOX;
    SELF_CHECK.call_once(|| self_check(sandbox));
    let text = match input {
        Input::Built(table) => confine(table).to_string(),
        Input::Text(text) => match text.parse::<Table>() {
            Ok(table) => confine(table).to_string(),
            Err(_) => text,
        },
    };
    let path = sandbox.root.join("airlock.toml");
    std::fs::write(&path, &text).expect("write the configuration");
    let first = airlock_gateway::config::load(&path);
    let second = airlock_gateway::config::load(&path);
    match (&first, &second) {
        (Ok(config), Ok(again)) => {
            assert_eq!(config.issuers, again.issuers);
            let table: Table = text.parse().expect("a loaded configuration is TOML");
            let listed: Vec<&str> = table
                .get("issuer")
                .and_then(Value::as_array)
                .map(|issuers| issuers.iter().filter_map(|i| i.get("iss")?.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(config.issuers, listed, "trusts exactly the issuers listed");
            assert_eq!(config.verifier.trust().issuers(), listed);
            assert_eq!(
                Some(config.verifier.settings().audience.as_str()),
                table.get("audience").and_then(Value::as_str)
            );
        }
        (Err(error), Err(again)) => {
            let message = error.to_string();
            assert_eq!(message, again.to_string(), "the same text is refused the same way");
            check_refusal(&message, &path);
        }
        _ => panic!("the same text loaded once and was refused once: {text:?}"),
    }
});

/// A refusal names the key or file at fault.
fn check_refusal(message: &str, path: &Path) {
    let sandbox = SANDBOX.root.to_string_lossy();
    assert!(
        message.contains("config `")
            || message.contains(&*path.to_string_lossy())
            || message.contains(&*sandbox)
            || message.contains("policy files")
            || message.contains("issuer `"),
        "a refusal that names neither a key nor a file: {message}"
    );
}
