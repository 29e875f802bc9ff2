//! The gateway embedded directly, as an embedder would (no CLI, no MCP): a
//! permitted call runs, a denied call, an approval-gated call and a crash
//! are each recorded in the audit log, and a replayed token is refused.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_audit::{Durability, FileLog};
use airlock_gateway::{
    CallReport, CallRequest, Caller, Callers, Config, Credential, Ended, Gateway, ToolRef,
};
use airlock_host::{CallError, LoadedTool, Runtime, RuntimeConfig};
use airlock_identity::{LocalKey, MintRequest, Verifier};
use airlock_policy::Offer;
use airlock_policy::authz::ToolIdentity;
use airlock_test_artifacts as programs;
use serde_json::{Map, Value};

mod common;

const AUDIENCE: &str = "https://airlock.test";
const ISSUER: &str = "https://issuer.test";

/// alice may call anything; the fixer may call echo only with a human's
/// approval; the bot nothing.
const POLICY: &str = r#"
@id("alice-everything")
permit (principal, action, resource) when { principal.sub == "human:alice" };

@id("fixer-echo-needs-a-human") @approval("human")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:fixer" && resource.name == "echo" };
"#;

struct Embedded {
    dir: tempfile::TempDir,
    key: LocalKey,
    verifier: Arc<Verifier>,
    gateway: Gateway,
    runtime: Runtime,
}

impl Embedded {
    fn new() -> Self {
        let config = format!(
            "audience = \"{AUDIENCE}\"\npolicies = [\"policy.cedar\"]\nreplay_cache = \"replay\"\n\n[approvals]\ndir = \"approvals\"\n\n[[approvals.human]]\niss = \"{ISSUER}\"\nsub_prefix = \"human:\"\n"
        );
        let (dir, key) = common::operator_dir(POLICY, ISSUER, &config);
        let Config { verifier, authorizer, approvals, .. } =
            airlock_gateway::config::load(&dir.path().join("airlock.toml")).expect("config loads");
        let log = FileLog::open(&dir.path().join("audit"), Durability::EveryRecord).expect("audit log");
        let gateway = Gateway::new(authorizer, approvals, Arc::new(log));
        let runtime =
            Runtime::new(RuntimeConfig { cache_dir: None, ..RuntimeConfig::default() }).expect("runtime");
        Self { dir, key, verifier, gateway, runtime }
    }

    fn token(&self, sub: &str) -> String {
        let request = MintRequest {
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            subject: sub.to_owned(),
            ttl: Duration::from_secs(300),
            claims: Map::new(),
        };
        self.key.mint(&request).expect("mint")
    }

    fn caller(&self, sub: &str) -> Arc<Caller> {
        Callers::new(self.verifier.clone()).caller(&self.token(sub)).expect("verifies")
    }

    async fn load(&self, path: &str) -> LoadedTool {
        self.runtime.load(Path::new(path)).await.expect("load")
    }

    async fn call(&self, caller: &Caller, tool: &LoadedTool, input: &str) -> CallReport {
        let identity =
            ToolIdentity::file(&tool.info().name, &tool.info().version, &tool.digest().to_string());
        let request = CallRequest {
            transport: "embedded",
            credential: Credential::Caller(caller),
            tool: ToolRef { loaded: tool, identity: &identity },
            input,
            parsed_input: None,
            approval: None,
            resubmit: "the request id",
            hosts: &[],
            workspace: None,
            watcher: None,
        };
        self.gateway.call(request, |_| Ok(Offer::default()), std::future::pending()).await
    }

    /// `(outcome, tool, sub)` of every call in the audit log.
    fn audited(&self) -> Vec<(String, String, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("audit/audit.jsonl")).expect("audit log");
        log.lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("record"))
            .filter(|record| record["event"]["kind"] == "call")
            .map(|record| {
                let event = &record["event"];
                let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
                (text(&event["outcome"]), text(&event["tool"]["name"]), text(&event["principal"]["sub"]))
            })
            .collect()
    }
}

#[tokio::test]
async fn every_way_a_call_ends_is_recorded_and_a_replayed_token_is_refused() {
    let embedded = Embedded::new();
    let echo = embedded.load(programs::ECHO).await;
    let trap = embedded.load(programs::TRAP_IN_INVOKE).await;

    let alice = embedded.caller("human:alice");
    let report = embedded.call(&alice, &echo, r#"{"x":1}"#).await;
    assert_eq!(report.recorded, Ok(()));
    match report.ended {
        Ended::Ran(ran) => assert_eq!(ran.expect("ran").result.as_deref(), Ok(r#"{"x":1}"#)),
        other => panic!("alice's call should run: {other:?}"),
    }

    let bot = embedded.caller("agent:bot");
    let report = embedded.call(&bot, &echo, "{}").await;
    assert!(matches!(report.ended, Ended::NotInvocable), "{:?}", report.ended);

    let fixer = embedded.caller("agent:fixer");
    let report = embedded.call(&fixer, &echo, "{}").await;
    match &report.ended {
        Ended::ApprovalRequired(message) => assert!(message.contains("approval required"), "{message}"),
        other => panic!("the fixer's call should be filed: {other:?}"),
    }
    assert!(report.approval.is_some_and(|a| a.id.starts_with("apr-")), "filed with an id");

    let report = embedded.call(&alice, &trap, "{}").await;
    assert!(
        matches!(&report.ended, Ended::Ran(ran) if matches!(**ran, Err(CallError::Trap(_)))),
        "{:?}",
        report.ended
    );

    // Two processes (two `Callers`) presenting the same token: the second
    // is refused by the shared replay cache.
    let token = embedded.token("human:alice");
    Callers::new(embedded.verifier.clone()).caller(&token).expect("first use");
    let replayed = Callers::new(embedded.verifier.clone()).caller(&token).expect_err("second use");
    assert_eq!(replayed.kind(), "replayed");

    let audited = embedded.audited();
    let expected = [
        ("ok", "echo", "human:alice"),
        ("refused", "echo", "agent:bot"),
        ("approval_required", "echo", "agent:fixer"),
        ("trap", "trap-in-invoke", "human:alice"),
    ];
    let audited: Vec<(&str, &str, &str)> =
        audited.iter().map(|(o, t, s)| (o.as_str(), t.as_str(), s.as_str())).collect();
    assert_eq!(audited, expected);
}

/// An input that fails the tool's schema is refused on the host, before
/// any instance exists: the witness, which records every run in its
/// mount, never ran; a valid input runs it once. The refusal is recorded.
#[tokio::test]
async fn an_invalid_input_never_runs_the_tool() {
    let embedded = Embedded::new();
    let witness = embedded.load(programs::INSTANTIATION_WITNESS).await;
    let identity = airlock_gateway::identity_of(&witness);
    let workspace = tempfile::tempdir().expect("tempdir");
    let offer = workspace_offer(workspace.path());
    let alice = embedded.caller("human:alice");
    let call = |input: &'static str| {
        let request = CallRequest::new(
            "embedded",
            Credential::Caller(&alice),
            ToolRef::new(&witness, &identity),
            input,
        );
        let offer = offer.clone();
        embedded.gateway.call(request, move |_| Ok(offer), std::future::pending())
    };
    for (bad, named) in [
        (r#"{"n":"five"}"#, "`/n` violates `type` at schema `/properties/n/type`"),
        (r#"{}"#, "the arguments violates `required` at schema `/required` (missing \"n\")"),
        ("not json", "the input is not JSON"),
    ] {
        let report = call(bad).await;
        match &report.ended {
            Ended::InvalidInput(problems) => {
                assert!(problems.contains(named), "{bad}: {problems}");
                assert!(!problems.contains("five"), "the value is quoted: {problems}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let runs = workspace.path().join("invocations");
    assert!(!runs.exists(), "the tool ran for an invalid input");
    let report = call(r#"{"n":5}"#).await;
    assert!(matches!(report.ended, Ended::Ran(_)), "{:?}", report.ended);
    assert_eq!(std::fs::read_to_string(&runs).expect("one run"), "{\"n\":5}\n");
    let outcomes: Vec<String> = embedded.audited().into_iter().map(|(outcome, ..)| outcome).collect();
    assert_eq!(outcomes, ["invalid_input", "invalid_input", "invalid_input", "ok"]);
}

/// An audit store that cannot be reached (a shared database gone away).
struct Unreachable;

impl airlock_audit::AuditSink for Unreachable {
    fn append(&self, _: airlock_audit::Event) -> Result<airlock_audit::Receipt, airlock_audit::AuditError> {
        Err(airlock_audit::AuditError::Io {
            path: "state database".into(),
            reason: "connection refused".into(),
        })
    }

    fn ready(&self) -> Result<(), airlock_audit::AuditError> {
        self.append(airlock_audit::Event::Recovered { truncated_bytes: 0 }).map(drop)
    }
}

/// A call whose record cannot be written never runs: the witness, which
/// records every run in its mount, did not run, and the door is told the
/// record failed.
#[tokio::test]
async fn a_call_never_runs_when_its_audit_record_cannot_be_written() {
    let embedded = Embedded::new();
    let config = airlock_gateway::config::load(&embedded.dir.path().join("airlock.toml")).expect("config");
    let gateway = Gateway::new(config.authorizer, config.approvals, Arc::new(Unreachable));
    let witness = embedded.load(programs::INSTANTIATION_WITNESS).await;
    let identity = airlock_gateway::identity_of(&witness);
    let workspace = tempfile::tempdir().expect("tempdir");
    let offer = workspace_offer(workspace.path());
    let alice = embedded.caller("human:alice");
    let request = CallRequest::new(
        "embedded",
        Credential::Caller(&alice),
        ToolRef::new(&witness, &identity),
        r#"{"n":5}"#,
    );
    let report = gateway.call(request, move |_| Ok(offer), std::future::pending()).await;
    match &report.ended {
        Ended::NotPrepared(message) => assert!(message.contains("audit log cannot be reached"), "{message}"),
        other => panic!("the call must not run: {other:?}"),
    }
    assert!(report.recorded.is_err(), "the door is told the record failed");
    assert!(!workspace.path().join("invocations").exists(), "the tool ran without an audit record");
}

/// An offer of `host` read-write at `/workspace` (where the witness
/// records its runs).
fn workspace_offer(host: &Path) -> Offer {
    Offer {
        mounts: vec![airlock_policy::OfferedMount {
            host: host.to_owned(),
            guest: airlock_policy::GuestPath::new("/workspace").expect("guest path"),
            access: airlock_policy::Access::ReadWrite,
        }],
        ..Offer::default()
    }
}
