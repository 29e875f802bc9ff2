//! `airlock push`, `airlock pull` and running a tool by a pinned registry
//! reference, against a real registry on loopback.

use std::path::Path;

use airlock_test_registry::TestRegistry;

use super::{Run, airlock_with_env, programs};

struct Setup {
    registry: TestRegistry,
    home: tempfile::TempDir,
}

impl Setup {
    fn new() -> Option<Self> {
        Some(Self { registry: TestRegistry::start()?, home: tempfile::tempdir().expect("tempdir") })
    }

    fn components(&self) -> String {
        self.home.path().join("components").display().to_string()
    }

    fn airlock(&self, args: &[&str]) -> Run {
        let components = self.components();
        let docker = self.home.path().join("docker").display().to_string();
        airlock_with_env(
            self.home.path(),
            args,
            &[("AIRLOCK_COMPONENTS", components.as_str()), ("DOCKER_CONFIG", docker.as_str())],
        )
    }

    fn push(&self, file: &str, repository: &str, tag: &str) -> String {
        let r = self.airlock(&["push", file, &self.registry.reference(repository, tag)]);
        assert_eq!(r.code, 0, "push: {}", r.stderr);
        r.stdout.trim().to_owned()
    }

    fn run(&self, tool: &str, input: &str) -> Run {
        self.airlock(&["run", "--operator-override", tool, "--input", input])
    }
}

/// Starts `airlock serve --stdio` on `server`'s configuration with a fresh
/// token (`jwt`, `human:alice`) and stdin closed, so it stops as soon as it
/// has loaded its tools or refused to: its exit code and stderr.
fn serve_until_loaded(server: &super::mcp::Setup, jwt: &str, components: &str) -> (Option<i32>, String) {
    let token = server.write_token(jwt, "human:alice");
    let mut command = server.command(&["--stdio", "--token-file"]);
    let out = command
        .arg(&token)
        .args(["--components", components])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("serve");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_pushed_tool_runs_by_its_pin_and_a_tag_is_refused() {
    let Some(s) = Setup::new() else { return };
    let pinned = s.push(programs::ECHO, "tools/echo", "1.0");
    assert!(
        pinned.starts_with(&format!("oci://{}/tools/echo:1.0@sha256:", s.registry.address())),
        "{pinned}"
    );

    let r = s.airlock(&["pull", &s.registry.reference("tools/echo", "1.0")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with(&format!("pulled {pinned} (component sha256:")), "{}", r.stdout);
    assert!(r.stderr.contains(&format!("pin it: {pinned}")), "{}", r.stderr);

    let r = s.run(&pinned, r#"{"hello":"registry"}"#);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("registry"), "{}", r.stdout);

    let r = s.run(&s.registry.reference("tools/echo", "1.0"), "{}");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not pinned: a tag can move to other code"), "{}", r.stderr);
    assert!(r.stderr.contains("airlock pull"), "{}", r.stderr);
}

#[test]
fn a_pin_is_pulled_by_digest_when_missing_and_a_moved_tag_changes_nothing() {
    let Some(s) = Setup::new() else { return };
    let pinned = s.push(programs::ECHO, "tools/t", "stable");
    // The tag moves to other code; the pin still names the echo tool, and
    // the store is empty, so it is pulled by digest.
    s.push(programs::ENV_READ, "tools/t", "stable");
    let r = s.run(&pinned, r#"{"still":"echo"}"#);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("still"), "{}", r.stdout);
    let r = s.airlock(&["inspect", &pinned]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"name\""), "{}", r.stdout);
}

#[test]
fn a_component_changed_in_the_store_is_refused() {
    let Some(s) = Setup::new() else { return };
    let pinned = s.push(programs::ECHO, "tools/echo", "1");
    assert_eq!(s.airlock(&["pull", &pinned]).code, 0);
    let dir = Path::new(&s.components()).join("components");
    let stored = std::fs::read_dir(&dir).expect("store").next().expect("one file").expect("entry").path();
    std::fs::write(&stored, std::fs::read(programs::ENV_READ).expect("other tool")).expect("swap");
    let r = s.run(&pinned, "{}");
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("changed on disk, refused"), "{}", r.stderr);
}

#[test]
fn only_tools_are_pushed_and_bad_references_are_named() {
    let Some(s) = Setup::new() else { return };
    let junk = s.home.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").expect("write");
    let r = s.airlock(&["push", &junk.display().to_string(), &s.registry.reference("tools/junk", "1")]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    let r = s.airlock(&["pull", &s.registry.reference("tools/junk", "1")]);
    assert_ne!(r.code, 0, "nothing was pushed: {}", r.stdout);

    for (reference, why) in [
        ("oci://ghcr.io/acme/grep", "no default tag"),
        ("docker.io/grep:1", "expected oci://"),
        ("oci://ghcr.io/acme/grep@sha256:abc", "64 lowercase hex"),
    ] {
        let r = s.airlock(&["pull", reference]);
        assert_eq!(r.code, 2, "{reference}: {}", r.stderr);
        assert!(r.stderr.contains(why), "{reference}: {}", r.stderr);
    }
}

/// `serve` with registry tools: a pinned reference in `--tools`, and a
/// configured tag the operator allowed, resolved and recorded.
#[tokio::test(flavor = "multi_thread")]
async fn serve_offers_pinned_registry_tools_and_records_an_allowed_tag() {
    use serde_json::json;

    use super::mcp::{Setup as Server, call, text};

    let Some(s) = Setup::new() else { return };
    let pinned = s.push(programs::ECHO, "tools/echo", "stable");
    let server = Server::new();
    let components = s.components();
    let token = server.write_token("bot.jwt", "agent:bot");

    let bot = server.stdio_client(&token, &["--tools", &pinned, "--components", &components], ()).await;
    let listed: Vec<String> =
        bot.list_all_tools().await.expect("list").into_iter().map(|t| t.name.to_string()).collect();
    assert_eq!(listed, ["echo"], "only the registry tool is served");
    let echoed = bot.call_tool(call("echo", json!({"from": "registry"}))).await.expect("call");
    assert_eq!(echoed.is_error, Some(false), "{}", text(&echoed));
    bot.cancel().await.expect("close");

    // An unpinned reference in --tools is refused before anything loads.
    let mut command = server.command(&["--stdio", "--token-file"]);
    command.arg(&token).args(["--tools", &s.registry.reference("tools/echo", "stable")]);
    let out = command.env("AIRLOCK_COMPONENTS", &components).output().expect("serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not pinned"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // In the configuration: a tag is refused unless its entry allows it.
    let config = server.path("airlock.toml");
    let original = std::fs::read_to_string(&config).expect("config");
    let tagged = s.registry.reference("tools/echo", "stable");
    std::fs::write(&config, original.replace("tools = [\"tools\"]", &format!("tools = [\"{tagged}\"]")))
        .expect("write");
    let r = s.airlock(&["policy", "check", "--config", &config.display().to_string()]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("config `tools[0]`"), "{}", r.stderr);
    assert!(r.stderr.contains("allow_tag = true"), "{}", r.stderr);

    std::fs::write(
        &config,
        original
            .replace("tools = [\"tools\"]", &format!("tools = [{{ ref = \"{tagged}\", allow_tag = true }}]")),
    )
    .expect("write");
    // Each session takes a fresh token: a token is used once.
    let token = server.write_token("bot-2.jwt", "agent:bot");
    let bot = server.stdio_client(&token, &["--components", &components], ()).await;
    let echoed = bot.call_tool(call("echo", json!({"tag": "allowed"}))).await.expect("call");
    assert_eq!(echoed.is_error, Some(false), "{}", text(&echoed));
    bot.cancel().await.expect("close");
    let log = std::fs::read_to_string(server.path("audit/audit.jsonl")).expect("audit log");
    let digest = pinned.rsplit_once('@').expect("pinned").1;
    let resolved: Vec<&str> = log.lines().filter(|l| l.contains("\"kind\":\"tool_resolved\"")).collect();
    assert_eq!(resolved.len(), 1, "{log}");
    assert!(resolved[0].contains(&format!("\"manifest_digest\":\"{digest}\"")), "{}", resolved[0]);
    assert!(resolved[0].contains(&format!("\"reference\":\"{tagged}\"")), "{}", resolved[0]);

    std::fs::write(
        &config,
        original.replace(
            "tools = [\"tools\"]",
            &format!("tools = [{{ ref = \"{tagged}\", allow_tags = true }}]"),
        ),
    )
    .expect("write");
    let r = s.airlock(&["policy", "check", "--config", &config.display().to_string()]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("unknown field `allow_tags`"), "{}", r.stderr);
}

/// `[[tool_signers]]` and a `tools` entry that names its signer: a tool
/// signed by that key is served; unsigned, or signed by another key, the
/// server refuses to start, saying which.
#[tokio::test(flavor = "multi_thread")]
async fn serve_requires_the_named_signer_and_refuses_unsigned_or_foreign_signatures() {
    use serde_json::json;

    use super::mcp::{POLICY, Setup as Server, call, text};

    let Some(s) = Setup::new() else { return };
    let key = s.home.path().join("release.key");
    let r = s.airlock(&["sign", "--generate-key", &key.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let public = r.stdout.trim().to_owned();
    let stranger = s.home.path().join("stranger.key");
    assert_eq!(s.airlock(&["sign", "--generate-key", &stranger.display().to_string()]).code, 0);

    let signed = s.push(programs::ECHO, "tools/echo", "1");
    let r = s.airlock(&["sign", &signed, "--key", &key.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), format!("signed {signed}"));
    let unsigned = s.push(programs::ENV_READ, "tools/env", "1");
    let foreign = s.push(programs::LOG_LINES, "tools/log", "1");
    assert_eq!(s.airlock(&["sign", &foreign, "--key", &stranger.display().to_string()]).code, 0);

    let server =
        Server::with(POLICY, &format!("\n[[tool_signers]]\nname = \"acme-release\"\nkey = \"{public}\"\n"));
    let config = server.path("airlock.toml");
    let original = std::fs::read_to_string(&config).expect("config");
    let with_tool = |reference: &str| {
        let entry = format!("tools = [{{ ref = \"{reference}\", signer = \"acme-release\" }}]");
        std::fs::write(&config, original.replace("tools = [\"tools\"]", &entry)).expect("write");
    };
    let components = s.components();

    with_tool(&signed);
    let token = server.write_token("bot.jwt", "agent:bot");
    let bot = server.stdio_client(&token, &["--components", &components], ()).await;
    let echoed = bot.call_tool(call("echo", json!({"signed": true}))).await.expect("call");
    assert_eq!(echoed.is_error, Some(false), "{}", text(&echoed));
    bot.cancel().await.expect("close");
    // The call record says where the tool came from and who signed it.
    let log = std::fs::read_to_string(server.path("audit/audit.jsonl")).expect("audit log");
    let record = log.lines().find(|l| l.contains("\"kind\":\"call\"")).expect("a call record");
    assert!(record.contains(&format!("\"source\":\"{signed}\"")), "{record}");
    assert!(record.contains("\"signer\":\"acme-release\""), "{record}");
    let r = s.airlock(&["audit", "verify", "--log", &server.path("audit").display().to_string()]);
    assert_eq!(r.code, 0, "the chain verifies with the new fields: {}", r.stderr);

    for (reference, why) in [
        (&unsigned, "is not signed: no cosign signature for"),
        (&foreign, "none made by a trusted signer's key (acme-release)"),
    ] {
        with_tool(reference);
        let (code, stderr) = serve_until_loaded(&server, "bot-again.jwt", &components);
        assert_eq!(code, Some(5), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(stderr.contains("the entry requires signer `acme-release`"), "{stderr}");
    }

    // A signer name no [[tool_signers]] defines, and a key that is not one.
    let entry = format!("tools = [{{ ref = \"{signed}\", signer = \"nobody\" }}]");
    std::fs::write(&config, original.replace("tools = [\"tools\"]", &entry)).expect("write");
    let r = s.airlock(&["policy", "check", "--config", &config.display().to_string()]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("signer `nobody` is not a [[tool_signers]] name"), "{}", r.stderr);
    std::fs::write(&public, "not a key").expect("spoil the key");
    let r = s.airlock(&["policy", "check", "--config", &config.display().to_string()]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("config `tool_signers[0]`"), "{}", r.stderr);
}

/// Provenance in policy: `resource.source` and `resource.signer`. A policy
/// that lets the agent invoke only tools signed by `acme-release` serves it
/// the signed registry tool and not the file tool beside it; `policy
/// explain` shows where a registry tool came from.
#[tokio::test(flavor = "multi_thread")]
async fn policy_can_require_a_signer_and_explain_shows_the_source() {
    use serde_json::json;

    use super::mcp::{Setup as Server, call, text};

    let Some(s) = Setup::new() else { return };
    let key = s.home.path().join("release.key");
    let r = s.airlock(&["sign", "--generate-key", &key.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let public = r.stdout.trim().to_owned();
    let signed = s.push(programs::LOG_LINES, "tools/log-lines", "1");
    assert_eq!(s.airlock(&["sign", &signed, "--key", &key.display().to_string()]).code, 0);

    let policy = r#"
        @id("signed-tools-only")
        permit (principal, action == Action::"invoke", resource)
        when { principal.sub == "agent:bot" && resource has signer && resource.signer == "acme-release"
               && resource.source like "oci://*" };
    "#;
    let server =
        Server::with(policy, &format!("\n[[tool_signers]]\nname = \"acme-release\"\nkey = \"{public}\"\n"));
    let config = server.path("airlock.toml");
    let original = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        original.replace("tools = [\"tools\"]", &format!("tools = [\"tools\", \"{signed}\"]")),
    )
    .expect("write");
    let components = s.components();
    let token = server.write_token("bot.jwt", "agent:bot");
    let bot = server.stdio_client(&token, &["--components", &components], ()).await;
    let listed: Vec<String> =
        bot.list_all_tools().await.expect("list").into_iter().map(|t| t.name.to_string()).collect();
    assert_eq!(listed, ["log-lines"], "only the signed registry tool is invocable");
    let ran = bot.call_tool(call("log-lines", json!({"lines": 1}))).await.expect("call");
    assert_eq!(ran.is_error, Some(false), "{}", text(&ran));
    let file_tool = bot.call_tool(call("echo", json!({}))).await.expect("call");
    assert_eq!(file_tool.is_error, Some(true));
    bot.cancel().await.expect("close");

    // The command line checks signatures too, with the config's
    // [[tool_signers]]: explain shows the source and the signer, and the
    // signed tool is allowed; an unsigned one is denied, with why.
    let explain = |tool: &str| {
        let token = server.token("agent:bot");
        s.airlock(&[
            "policy",
            "explain",
            "--config",
            &config.display().to_string(),
            "--token",
            &token,
            "--tool",
            tool,
        ])
    };
    let r = explain(&signed);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("from {signed}, signed by acme-release")), "{}", r.stdout);
    let unsigned = s.push(programs::ECHO, "tools/echo", "unsigned");
    let r = explain(&unsigned);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("from {unsigned}, unsigned")), "{}", r.stdout);
    assert!(r.stderr.contains("is not signed: no cosign signature for"), "{}", r.stderr);

    let token = server.token("agent:bot");
    let r = s.airlock(&[
        "run",
        "--config",
        &config.display().to_string(),
        "--token",
        &token,
        &signed,
        "--input",
        "{\"lines\": 1}",
    ]);
    assert_eq!(r.code, 0, "run of the signed tool: {}", r.stderr);
}

/// `airlock.lock`: `airlock pull --config` locks each registry tool's
/// digest and signer; every load runs exactly that, even after the tag
/// moves; a tag moved to code signed by someone else is refused until the
/// operator accepts the new signer, and the lockfile is left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_lockfile_pins_what_runs_and_a_changed_signer_needs_acceptance() {
    use super::mcp::{POLICY, Setup as Server};

    let Some(s) = Setup::new() else { return };
    let mut publics = Vec::new();
    for name in ["release", "other"] {
        let key = s.home.path().join(format!("{name}.key"));
        let r = s.airlock(&["sign", "--generate-key", &key.display().to_string()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        publics.push((key, r.stdout.trim().to_owned()));
    }
    let sign = |pinned: &str, key: &Path| {
        let r = s.airlock(&["sign", pinned, "--key", &key.display().to_string()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    };
    let first = s.push(programs::ECHO, "tools/echo", "stable");
    sign(&first, &publics[0].0);
    let tagged = s.registry.reference("tools/echo", "stable");

    let signers = format!(
        "\n[[tool_signers]]\nname = \"acme-release\"\nkey = \"{}\"\n\n[[tool_signers]]\nname = \"other\"\nkey = \"{}\"\n",
        publics[0].1, publics[1].1
    );
    let server = Server::with(POLICY, &signers);
    let config = server.path("airlock.toml");
    let config_arg = config.display().to_string();
    let original = std::fs::read_to_string(&config).expect("config");
    let with_tools = |tools: &str| {
        std::fs::write(&config, original.replace("tools = [\"tools\"]", &format!("tools = [{tools}]")))
            .expect("write");
    };
    with_tools(&format!("{{ ref = \"{tagged}\", allow_tag = true }}"));
    let components = s.components();
    // Alice may call every tool, so she is offered every tool served.
    let served = |jwt: &str| {
        let token = server.write_token(jwt, "human:alice");
        let components = components.clone();
        let server = &server;
        async move {
            let bot = server.stdio_client(&token, &["--components", &components], ()).await;
            let tools: Vec<String> =
                bot.list_all_tools().await.expect("list").into_iter().map(|t| t.name.to_string()).collect();
            bot.cancel().await.expect("close");
            tools
        }
    };
    let serve_refused = |jwt: &str| serve_until_loaded(&server, jwt, &components);

    let r = s.airlock(&["pull", "--config", &config_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with(&format!("locked {first} (component sha256:")), "{}", r.stdout);
    assert!(r.stdout.contains("signed by acme-release"), "{}", r.stdout);
    let lock_path = server.path("airlock.lock");
    let locked = std::fs::read_to_string(&lock_path).expect("airlock.lock written");
    let first_digest = first.rsplit_once('@').expect("pinned").1;
    assert!(locked.contains(&format!("name = \"{tagged}\"")), "{locked}");
    assert!(locked.contains(&format!("digest = \"{first_digest}\"")), "{locked}");
    assert!(locked.contains("signer = \"acme-release\""), "{locked}");

    // The tag moves to other code, signed by the other trusted key: the
    // server still runs the locked digest, and resolves no tag.
    let moved = s.push(programs::LOG_LINES, "tools/echo", "stable");
    sign(&moved, &publics[1].0);
    assert_eq!(served("bot-1.jwt").await, ["echo"]);
    let log = std::fs::read_to_string(server.path("audit/audit.jsonl")).expect("audit log");
    assert!(!log.contains("\"kind\":\"tool_resolved\""), "a locked tag is not resolved: {log}");

    // Updating the lock: the new signer is refused, nothing changes...
    let r = s.airlock(&["pull", "--config", &config_arg]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("signed by `other` now, but airlock.lock records `acme-release`: refused"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--accept-signer"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&lock_path).expect("lock"), locked, "the lockfile is unchanged");
    // ... until the operator accepts it.
    let r = s.airlock(&["pull", "--config", &config_arg, "--accept-signer"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("locked {moved} ")), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("was {first_digest}")), "{}", r.stdout);
    assert!(r.stdout.contains("signer changed from acme-release: accepted"), "{}", r.stdout);
    assert_eq!(served("bot-2.jwt").await, ["log-lines"]);

    // A lockfile edited to claim the old signer: the load is refused.
    let accepted = std::fs::read_to_string(&lock_path).expect("lock");
    std::fs::write(&lock_path, accepted.replace("signer = \"other\"", "signer = \"acme-release\""))
        .expect("edit");
    let (code, stderr) = serve_refused("bot-3.jwt");
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("signed by `other` now, but airlock.lock records `acme-release`"), "{stderr}");
    std::fs::write(&lock_path, &accepted).expect("restore");

    // A pin that differs from the lock, and a tool the lock does not have.
    with_tools(&format!("\"{first}\""));
    let (code, stderr) = serve_refused("bot-4.jwt");
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains(&format!("the configuration pins {first_digest}")), "{stderr}");
    let other = s.push(programs::ENV_READ, "tools/env", "1");
    with_tools(&format!("{{ ref = \"{tagged}\", allow_tag = true }}, \"{other}\""));
    let (code, stderr) = serve_refused("bot-5.jwt");
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("tools/env:1` is not in"), "{stderr}");
    assert!(stderr.contains("airlock pull --config"), "{stderr}");
    // Locking one tool by name adds it; the other stays as locked.
    let r = s.airlock(&["pull", "--config", &config_arg, &s.registry.reference("tools/env", "1")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("unsigned"), "{}", r.stdout);
    assert_eq!(served("bot-6.jwt").await.len(), 2);
    let r = s.airlock(&["pull", "--config", &config_arg, &s.registry.reference("tools/nope", "1")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not a registry tool of"), "{}", r.stderr);

    // A tool dropped from the configuration is dropped from the lock.
    with_tools(&format!("\"{other}\""));
    let r = s.airlock(&["pull", "--config", &config_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("unlocked {tagged} (no longer in the configuration)")),
        "{}",
        r.stdout
    );
    assert!(!std::fs::read_to_string(&lock_path).expect("lock").contains("tools/echo"));

    // A lockfile that is not one refuses the configuration, naming it.
    std::fs::write(&lock_path, "version = 1\n[[tool]]\nname = \"oops\"\n").expect("spoil");
    let r = s.airlock(&["policy", "check", "--config", &config_arg]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("airlock.lock") && r.stderr.contains("missing field"), "{}", r.stderr);
}

/// Keyless signers from the configuration: `[sigstore]` names the offline
/// roots (a Fulcio certificate and a Rekor key, played by the test), a
/// `[[tool_signers]]` entry an issuer and identity. A tool signed keyless
/// by that identity is locked as signed by it; by another identity it is
/// refused; configuration mistakes are named.
#[tokio::test(flavor = "multi_thread")]
async fn a_keyless_signer_is_checked_against_the_configured_roots() {
    use airlock_test_registry::sigstore::{Fulcio, LOGGED_AT, Rekor, keyless, payload, store_signatures};

    use super::mcp::{POLICY, Setup as Server};

    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    const IDENTITY: &str = "https://github.com/acme/tools/.github/workflows/release.yml@refs/tags/v1";
    let Some(s) = Setup::new() else { return };
    let (fulcio, rekor) = (Fulcio::new(), Rekor::new());
    let address = s.registry.address().to_owned();
    let sign = |pinned: &str, identity: &str| {
        let digest = pinned.rsplit_once('@').expect("pinned").1.to_owned();
        let repository =
            pinned.split_once(&format!("{address}/")).expect("ours").1.split(':').next().expect("repo");
        let signature =
            keyless(payload(&address, repository, &digest), identity, ISSUER, &fulcio, &rekor, LOGGED_AT);
        let repository = repository.to_owned();
        let address = address.clone();
        async move { store_signatures(&address, &repository, &digest, &[signature]).await }
    };
    let by_ci = s.push(programs::ECHO, "tools/echo", "1");
    sign(&by_ci, IDENTITY).await;
    let by_someone = s.push(programs::ENV_READ, "tools/env", "1");
    sign(&by_someone, "https://github.com/someone/fork/.github/workflows/release.yml@refs/tags/v1").await;

    let sigstore = "[sigstore]\nfulcio_roots = \"fulcio.pem\"\nrekor_keys = [\"rekor.pub\"]\n";
    let signer =
        format!("[[tool_signers]]\nname = \"acme-ci\"\nissuer = \"{ISSUER}\"\nidentity = \"{IDENTITY}\"\n");
    let server = Server::with(POLICY, &format!("\n{sigstore}\n{signer}"));
    std::fs::write(server.path("fulcio.pem"), &fulcio.pem).expect("write");
    std::fs::write(server.path("rekor.pub"), rekor.public_key_pem()).expect("write");
    let config = server.path("airlock.toml");
    let config_arg = config.display().to_string();
    let original = std::fs::read_to_string(&config).expect("config");
    let with_tool = |pinned: &str| {
        let entry = format!("tools = [{{ ref = \"{pinned}\", signer = \"acme-ci\" }}]");
        std::fs::write(&config, original.replace("tools = [\"tools\"]", &entry)).expect("write");
    };

    with_tool(&by_ci);
    let r = s.airlock(&["pull", "--config", &config_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("signed by acme-ci"), "{}", r.stdout);
    assert!(
        std::fs::read_to_string(server.path("airlock.lock")).expect("lock").contains("signer = \"acme-ci\"")
    );

    std::fs::remove_file(server.path("airlock.lock")).expect("unlock");
    with_tool(&by_someone);
    let r = s.airlock(&["pull", "--config", &config_arg]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("none made by a trusted signer"), "{}", r.stderr);
    assert!(r.stderr.contains("the entry requires signer `acme-ci`"), "{}", r.stderr);

    // Mistakes in the configuration, each named.
    let check = |text: &str, expected: &str| {
        std::fs::write(&config, text).expect("write");
        let r = s.airlock(&["policy", "check", "--config", &config_arg]);
        assert_eq!(r.code, 7, "{text}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{text}: {}", r.stderr);
    };
    check(
        &original.replace(sigstore, ""),
        "a keyless signer (issuer and identity) is checked against [sigstore]",
    );
    check(
        &original.replace(&signer, &format!("{signer}key = \"rekor.pub\"\n")),
        "give either `key` (a public key file) or both `issuer` and `identity`",
    );
    check(&original.replace(&signer, &signer.replace(IDENTITY, "")), "give either `key`");
    std::fs::write(server.path("fulcio.pem"), "not a certificate").expect("spoil");
    check(&original, "config `sigstore`");
    check(&original.replace("rekor_keys", "rekor_key"), "unknown field `rekor_key`");
}
