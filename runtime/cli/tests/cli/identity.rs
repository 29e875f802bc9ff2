//! Grants from identity, end to end: keygen, mint, a runtime config, two
//! agents with different grants, every token refusal with its exit code,
//! `policy check` and `policy explain`.

use std::path::PathBuf;

use airlock_identity::LocalKey;
use serde_json::{Value, json};

use super::{Run, airlock, airlock_with_env, programs};

const AUDIENCE: &str = "https://airlock.local/runtime";
const ISSUER: &str = "https://airlock.local";
const CANARY: &str = "IDENTITY-CANARY-51c2";

/// Alice may do everything; the bot may invoke tools but read nothing.
const POLICY: &str = r#"
@id("alice-everything")
permit (principal, action, resource) when { principal.sub == "human:alice" };

@id("bot-invoke-only")
permit (principal, action == Action::"invoke", resource) when { principal.sub == "agent:bot" };
"#;

/// An operator's setup in a temporary directory.
struct Operator {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Operator {
    fn new() -> Self {
        let op =
            Self { dir: tempfile::tempdir().expect("tempdir"), cache: tempfile::tempdir().expect("tempdir") };
        let keys = op.path("keys").display().to_string();
        let r = op.airlock(&["identity", "keygen", "--out", &keys]);
        assert_eq!(r.code, 0, "keygen: {}", r.stderr);
        std::fs::write(op.path("policy.cedar"), POLICY).expect("policy");
        op.write_config(&format!(
            "audience = \"{AUDIENCE}\"\npolicies = [\"policy.cedar\"]\nreplay_cache = \"state/replay\"\n\n[[issuer]]\niss = \"{ISSUER}\"\njwks = \"keys/issuer.jwks.json\"\n"
        ));
        std::fs::create_dir_all(op.path("ws")).expect("mkdir");
        std::fs::write(op.path("ws/notes.txt"), format!("{CANARY}\n")).expect("write");
        op
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.path("airlock.toml"), text).expect("config");
    }

    fn config(&self) -> String {
        self.path("airlock.toml").display().to_string()
    }

    fn airlock(&self, args: &[&str]) -> Run {
        airlock(self.cache.path(), args)
    }

    fn key(&self) -> LocalKey {
        let pem = std::fs::read_to_string(self.path("keys/issuer.key")).expect("key");
        LocalKey::from_pem(&pem).expect("pem")
    }

    fn mint(&self, sub: &str) -> String {
        let key = self.path("keys/issuer.key").display().to_string();
        let r = self.airlock(&["identity", "mint", "--key", &key, "--sub", sub, "--claim", "team=qa"]);
        assert_eq!(r.code, 0, "mint: {}", r.stderr);
        r.stdout.trim().to_owned()
    }

    /// `read-file notes.txt` as the holder of `token`.
    fn read_notes(&self, token: &str) -> Run {
        let mount = format!("{}:/workspace", self.path("ws").display());
        let config = self.config();
        self.airlock(&[
            "run",
            airlock_tools::READ_FILE_PATH,
            "--config",
            &config,
            "--token",
            token,
            "-m",
            &mount,
            "-i",
            r#"{"path":"notes.txt"}"#,
        ])
    }
}

fn claims(changes: Value) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut base = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "human:alice", "iat": now, "nbf": now,
                          "exp": now + 300, "jti": format!("{now}-{}", changes)});
    if let (Value::Object(base), Value::Object(changes)) = (&mut base, changes) {
        for (k, v) in changes {
            base.insert(k, v);
        }
    }
    base
}

/// The same base64url text with its first character changed.
fn flip_first(text: &str) -> String {
    let replacement = if text.starts_with('A') { "B" } else { "A" };
    format!("{replacement}{}", &text[1..])
}

#[test]
fn two_agents_calling_the_same_tool_get_different_grants() {
    let op = Operator::new();
    let alice = op.read_notes(&op.mint("human:alice"));
    assert_eq!(alice.code, 0, "{}", alice.stderr);
    assert!(alice.stdout.contains(CANARY), "alice reads the file: {}", alice.stdout);

    let bot = op.read_notes(&op.mint("agent:bot"));
    assert_ne!(bot.code, 0, "the bot must not read the file: {}", bot.stdout);
    assert!(
        !bot.stdout.contains(CANARY) && !bot.stderr.contains(CANARY),
        "leaked: {}{}",
        bot.stdout,
        bot.stderr
    );
    assert!(bot.stderr.contains("policy denied part of what `read-file` requested"), "{}", bot.stderr);
    assert!(bot.stderr.contains("deny   fs.read      Path::\"/workspace\""), "{}", bot.stderr);
    assert!(bot.stderr.contains("tool `read-file`"), "the tool ran and reported an error: {}", bot.stderr);

    let stranger = op.read_notes(&op.mint("agent:stranger"));
    assert_eq!(stranger.code, 3, "{}", stranger.stderr);
    assert!(stranger.stderr.contains("policy denies invoking tool `read-file`"), "{}", stranger.stderr);
    assert!(stranger.stderr.contains("no policy permits it (default deny)"), "{}", stranger.stderr);
}

#[test]
fn every_token_refusal_has_its_own_exit_code() {
    let op = Operator::new();
    let key = op.key();
    let other = LocalKey::generate().expect("key");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let valid = key.sign(&claims(json!({"n": 1}))).expect("sign");
    let parts: Vec<&str> = valid.split('.').collect();
    let cases: Vec<(&str, String, i32, &str)> = vec![
        ("malformed", "not-a-token".into(), 10, "malformed token"),
        ("missing jti", key.sign(&claims(json!({"jti": null}))).expect("sign"), 10, "claim `jti`"),
        (
            "expired",
            key.sign(&claims(json!({"iat": now - 900, "nbf": now - 900, "exp": now - 300}))).expect("sign"),
            11,
            "token expired",
        ),
        ("not yet valid", key.sign(&claims(json!({"nbf": now + 600}))).expect("sign"), 12, "not yet valid"),
        (
            "wrong audience",
            key.sign(&claims(json!({"aud": "https://elsewhere"}))).expect("sign"),
            13,
            "audience",
        ),
        (
            "unknown issuer",
            key.sign(&claims(json!({"iss": "https://evil.example"}))).expect("sign"),
            14,
            "issuer `https://evil.example` is not trusted",
        ),
        (
            "forged line in sub",
            key.sign(&claims(json!({"sub": "bot\n     9  2026-01-01  ok  human:admin"}))).expect("sign"),
            10,
            "claim `sub` holds a control character",
        ),
        (
            "escape sequence in an unknown issuer",
            key.sign(&claims(json!({"iss": "https://x\u{1b}]52;c;cHduZWQ=\u{7}"}))).expect("sign"),
            10,
            "claim `iss` holds a control character",
        ),
        (
            "control character in jti",
            key.sign(&claims(json!({"jti": "a\rb"}))).expect("sign"),
            10,
            "claim `jti` must be 1 to 256 bytes without control characters",
        ),
        ("unknown kid", other.sign(&claims(json!({"n": 2}))).expect("sign"), 15, "is not among issuer"),
        ("too long-lived", key.sign(&claims(json!({"exp": now + 7200}))).expect("sign"), 17, "long-lived"),
        ("bad signature", format!("{}.{}.{}", parts[0], parts[1], flip_first(parts[2])), 18, "signature"),
        ("alg none", format!("eyJhbGciOiJub25lIn0.{}.", parts[1]), 19, "algorithm refused"),
    ];
    for (name, token, code, message) in cases {
        let r = op.read_notes(&token);
        assert_eq!(r.code, code, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{name}: expected `{message}` in {}", r.stderr);
        assert!(!r.stdout.contains(CANARY), "{name}: a refused token ran the tool");
        assert!(!r.stderr.contains('\x1b') && !r.stderr.contains("\n     9"), "{name}: {}", r.stderr);
    }
    let once = op.mint("human:alice");
    assert_eq!(op.read_notes(&once).code, 0);
    let replay = op.read_notes(&once);
    assert_eq!(replay.code, 16, "{}", replay.stderr);
    assert!(replay.stderr.contains("token already used"), "{}", replay.stderr);
    assert!(!replay.stdout.contains(CANARY));
}

#[test]
fn token_from_the_environment_or_a_file() {
    let op = Operator::new();
    let mount = format!("{}:/workspace", op.path("ws").display());
    let config = op.config();
    let token = op.mint("human:alice");
    let args = ["run", airlock_tools::READ_FILE_PATH, "-m", &mount, "-i", r#"{"path":"notes.txt"}"#];
    let r =
        airlock_with_env(op.cache.path(), &args, &[("AIRLOCK_TOKEN", &token), ("AIRLOCK_CONFIG", &config)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(CANARY));

    let file = op.path("token");
    std::fs::write(&file, format!("{}\n", op.mint("human:alice"))).expect("write");
    let at = format!("@{}", file.display());
    let r = op.airlock(&[&args[..], &["--config", &config, "--token", &at]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn explain_prints_every_capability_and_does_not_consume_the_token() {
    let op = Operator::new();
    let config = op.config();
    let token = op.mint("agent:bot");
    let args = [
        "policy",
        "explain",
        "--config",
        &config,
        "--token",
        &token,
        "--tool",
        airlock_tools::READ_FILE_PATH,
    ];
    let r = op.airlock(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("principal Agent::\"agent:bot\", tool read-file"), "{}", r.stdout);
    assert!(r.stdout.contains("allow  invoke       Tool::\"read-file\""), "{}", r.stdout);
    assert!(r.stdout.contains("permitted by bot-invoke-only"), "{}", r.stdout);
    assert!(r.stdout.contains("deny   fs.read"), "{}", r.stdout);
    // Explaining twice works, and the token is still good for one call.
    assert_eq!(op.airlock(&args).code, 0);
    let run = op.read_notes(&token);
    assert!(run.stderr.contains("policy denied part"), "the token was still usable: {}", run.stderr);

    let stranger = op.mint("agent:stranger");
    let r = op.airlock(&[
        "policy",
        "explain",
        "--config",
        &config,
        "--token",
        &stranger,
        "--tool",
        airlock_tools::GREP_PATH,
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stdout.contains("deny   invoke"), "{}", r.stdout);

    // Offered destinations are explained too.
    let r = op.airlock(&[
        "policy",
        "explain",
        "--config",
        &config,
        "--token",
        &token,
        "--tool",
        airlock_tools::HTTP_FETCH_PATH,
        "--net",
        "GET=https://api.osv.dev",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("deny   net.connect  Host::\"https://api.osv.dev\""), "{}", r.stdout);
}

#[test]
fn policy_check_names_file_line_and_column() {
    let op = Operator::new();
    let bad = op.path("bad.cedar");
    std::fs::write(&bad, "permit (principal, action == Action::\"invoke\", resource)\n  when { principal.nickname == \"x\" };\n").expect("write");
    let bad_arg = bad.display().to_string();
    let r = op.airlock(&["policy", "check", &bad_arg]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{bad_arg}:2:10:")), "{}", r.stderr);
    assert!(r.stderr.contains("attribute `nickname` on entity type `Agent` not found"), "{}", r.stderr);

    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let files: Vec<String> =
        ["github-actions-remediation.cedar", "triage-agent.cedar", "local-session.cedar"]
            .iter()
            .map(|f| examples.join(f).display().to_string())
            .collect();
    let mut args = vec!["policy", "check"];
    args.extend(files.iter().map(String::as_str));
    let r = op.airlock(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("policies in 3 file(s) validate"), "{}", r.stdout);

    let config = op.config();
    let r = op.airlock(&["policy", "check", "--config", &config]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_bad_config_runs_nothing_and_says_why() {
    let op = Operator::new();
    let token = op.mint("human:alice");
    let issuer = format!("[[issuer]]\niss = \"{ISSUER}\"\njwks = \"keys/issuer.jwks.json\"\n");
    let cases = [
        (format!("policies = [\"policy.cedar\"]\n{issuer}"), "missing field `audience`"),
        (
            format!("audience = \"a\"\npolicies = [\"policy.cedar\"]\ncolour = \"red\"\n{issuer}"),
            "unknown field `colour`",
        ),
        (format!("audience = \"a\"\npolicies = [\"missing.cedar\"]\n{issuer}"), "cannot read policy file"),
        (format!("audience = \"a\"\npolicies = []\n{issuer}"), "no policy files"),
        ("audience = \"a\"\npolicies = [\"policy.cedar\"]\n".to_owned(), "no [[issuer]] is trusted"),
        (
            format!("audience = \"a\"\npolicies = [\"policy.cedar\"]\nclock_skew = \"5m\"\n{issuer}"),
            "clock skew 300s exceeds the maximum of 60s",
        ),
        (
            format!(
                "audience = \"a\"\npolicies = [\"policy.cedar\"]\n{issuer}[network]\nmax_requests = 3\nretries = 2\n"
            ),
            "unknown field `retries`",
        ),
        (
            format!(
                "audience = \"a\"\npolicies = [\"policy.cedar\"]\n{issuer}[network]\nmax_response_bytes = \"lots\"\n"
            ),
            "config `network.max_response_bytes`: `lots` is not a size",
        ),
        (
            format!("audience = \"a\"\npolicies = [\"policy.cedar\"]\n{issuer}[limits]\nmax_files = 3\n"),
            "unknown field `max_files`",
        ),
        (
            format!(
                "audience = \"a\"\npolicies = [\"policy.cedar\"]\n{issuer}[limits]\nmax_open_files = 0\n"
            ),
            "config `[limits]`: invalid limits: open_files limit 0 is outside the allowed range 1..=4096 (--max-open-files, `[limits] max_open_files`)",
        ),
        (
            format!(
                "audience = \"a\"\npolicies = [\"policy.cedar\"]\n{issuer}[network]\nmax_header_bytes = \"1GiB\"\n"
            ),
            "invalid limits: header_bytes limit 1073741824 is outside the allowed range 1024..=67108864 (`[network] max_header_bytes`)",
        ),
        (
            "audience = \"a\"
policies = [\"policy.cedar\"]
[[issuer]]
iss = \"x\"
jwks = \"policy.cedar\"
"
            .to_owned(),
            "JWKS for issuer `x`: not JSON",
        ),
        (
            format!("audience = \"a\"\npolicies = [\"policy.cedar\"]\n{issuer}jwks_uri = \"https://keys.test/jwks\"\n"),
            "config `issuer[0]` (`https://airlock.local`): set `jwks` (a file) or `jwks_uri`, not both",
        ),
        (
            format!("audience = \"a\"\npolicies = [\"policy.cedar\"]\n{issuer}refresh_min = \"1m\"\n"),
            "config `issuer[0].refresh_min` (`https://airlock.local`): applies to fetched keys only",
        ),
        (
            "audience = \"a\"\npolicies = [\"policy.cedar\"]\n[[issuer]]\niss = \"agent-issuer\"\n".to_owned(),
            "OIDC discovery needs an https:// `iss`",
        ),
        (
            "audience = \"a\"\npolicies = [\"policy.cedar\"]\n[[issuer]]\niss = \"x\"\njwks_uri = \"http://keys.test/jwks\"\n".to_owned(),
            "`http://keys.test/jwks` is not an https:// URL",
        ),
        (
            "audience = \"a\"\npolicies = [\"policy.cedar\"]\n[[issuer]]\niss = \"x\"\njwks_uri = \"https://keys.test/jwks\"\nmax_stale = \"1m\"\n".to_owned(),
            "`max_stale` is shorter than `refresh_max`",
        ),
    ];
    for (text, message) in cases {
        op.write_config(&text);
        let r = op.read_notes(&token);
        assert_eq!(r.code, 7, "{message}: {}", r.stderr);
        assert!(r.stderr.contains(message), "expected `{message}` in {}", r.stderr);
    }
    std::fs::write(op.path("policy.cedar"), "permit (principal, action, resource) when { oops };")
        .expect("write");
    op.write_config(&format!(
        "audience = \"{AUDIENCE}\"\npolicies = [\"policy.cedar\"]\nreplay_cache = \"state/replay\"\n{issuer}"
    ));
    let r = op.read_notes(&token);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("policy.cedar:1:"), "{}", r.stderr);

    // A refusal quotes what it refuses (a TOML error shows the line, a
    // policy error the text): escaped, never obeyed by the terminal.
    let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}";
    op.write_config(&format!("{hostile} = 1\n"));
    let r = op.read_notes(&token);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("\\u{1b}]0;owned\\u{7}"), "{}", r.stderr);
    let policy = op.path("bad.cedar");
    std::fs::write(&policy, format!("permit (principal, action, resource) when {{ {hostile} }};"))
        .expect("write");
    let r = op.airlock(&["policy", "check", &policy.display().to_string()]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    for r in [&r, &op.read_notes(&token)] {
        assert!(
            !r.stderr.chars().any(|c| airlock_policy::text::is_unprintable(c) && c != '\n'),
            "{:?}",
            r.stderr
        );
    }
}

#[test]
fn keygen_never_overwrites_and_mint_refuses_registered_and_unprintable_claims() {
    let op = Operator::new();
    let keys = op.path("keys").display().to_string();
    let r = op.airlock(&["identity", "keygen", "--out", &keys]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("never overwritten"), "{}", r.stderr);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(op.path("keys/issuer.key")).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let key = op.path("keys/issuer.key").display().to_string();
    let r = op.airlock(&["identity", "mint", "--key", &key, "--sub", "a", "--claim", "exp=1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`exp` is set by its own flag or by airlock"), "{}", r.stderr);
    for (sub, claim) in
        [("bot\n  9  ok  human:admin", "sub"), ("bot\u{202e}nimda", "sub"), ("a\u{1b}[2J", "sub")]
    {
        let r = op.airlock(&["identity", "mint", "--key", &key, "--sub", sub]);
        assert_eq!(r.code, 2, "{sub:?}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("claim `{claim}` holds a control character")), "{}", r.stderr);
        assert!(r.stdout.is_empty(), "a token was printed: {}", r.stdout);
    }
    let not_a_key = op.path("policy.cedar").display().to_string();
    let r = op.airlock(&["identity", "mint", "--key", &not_a_key, "--sub", "a"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not an Ed25519 private key"), "{}", r.stderr);
}

#[test]
fn minted_claims_reach_the_policy() {
    let op = Operator::new();
    std::fs::write(
        op.path("policy.cedar"),
        "permit (principal, action, resource) when { principal.hasTag(\"team\") && principal.getTag(\"team\") == \"qa\" };",
    )
    .expect("policy");
    let r = op.read_notes(&op.mint("agent:anyone"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(CANARY));
}

#[test]
fn the_token_never_reaches_the_tool() {
    let op = Operator::new();
    let token = op.mint("human:alice");
    let config = op.config();
    let args = ["run", programs::ENV_READ, "-i", "{}", "-e", "AIRLOCK_TEST_GRANTED=yes", "--show-output"];
    let r =
        airlock_with_env(op.cache.path(), &args, &[("AIRLOCK_TOKEN", &token), ("AIRLOCK_CONFIG", &config)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(out["vars"], json!([["AIRLOCK_TEST_GRANTED", "yes"]]), "only the granted variable");
    assert_eq!(out["stdin"], "", "stdin is closed");
    // No part of the token (its signature is unique) appears anywhere.
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(!r.stdout.contains(signature) && !r.stderr.contains(signature), "{}{}", r.stdout, r.stderr);
}

/// `[limits]` in the config sets a call's limits; a flag overrides the
/// key of the same name.
#[test]
fn config_limits_apply_and_flags_override_them() {
    let op = Operator::new();
    let base = std::fs::read_to_string(op.path("airlock.toml")).expect("config");
    op.write_config(&format!("{base}\n[limits]\nmax_output = \"16\"\n"));
    let r = op.read_notes(&op.mint("human:alice"));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("output limit 16 bytes exceeded"), "{}", r.stderr);

    let mount = format!("{}:/workspace", op.path("ws").display());
    let (config, token) = (op.config(), op.mint("human:alice"));
    let r = op.airlock(&[
        "run",
        airlock_tools::READ_FILE_PATH,
        "--config",
        &config,
        "--token",
        &token,
        "-m",
        &mount,
        "-i",
        r#"{"path":"notes.txt"}"#,
        "--max-output",
        "1MiB",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(CANARY), "{}", r.stdout);
}
