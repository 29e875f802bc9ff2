//! `airlock demo`: the built-in tools on a scratch project, called by
//! agents with verified tokens under the shipped example policies. Two
//! agents get different grants, a third is refused, escapes out of the mount
//! are denied, requests for the cloud metadata address are refused before
//! any connection, a replayed token is refused. Exits non-zero if any
//! expectation fails.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_approval::{ApprovalGate, Approvers, HumanRule};
use airlock_audit::{Durability, FileLog};
use airlock_gateway::{CallRequest, Caller, Callers, Credential, Ended, Gateway, ToolRef};
use airlock_host::{LoadedTool, Runtime, ToolError};
use airlock_identity::{
    JwksKeys, LocalKey, MintRequest, ReplayCache, TokenError, TrustStore, Verifier, VerifierSettings,
};
use airlock_policy::authz::{Authorizer, PolicySource};
use airlock_policy::{Access, GuestPath, Offer, OfferedMount};
use anyhow::{Context, anyhow};
use serde_json::{Map, Value, json};

use crate::args::CacheArgs;
use crate::exit::Failure;
use crate::runtime;

const SECRET: &str = "AWS_SECRET_ACCESS_KEY=demo-not-a-real-secret";
const AUDIENCE: &str = "https://airlock.local/runtime";
const LOCAL_ISSUER: &str = "https://airlock.local";
const FACTORY_ISSUER: &str = "https://id.factory.example";
const POLICIES: [(&str, &str); 3] = [
    ("examples/policies/local-session.cedar", include_str!("../../../examples/policies/local-session.cedar")),
    ("examples/policies/triage-agent.cedar", include_str!("../../../examples/policies/triage-agent.cedar")),
    ("examples/policies/fixer-agent.cedar", include_str!("../../../examples/policies/fixer-agent.cedar")),
];

/// The demo's identity service: two issuers with fresh keys, one verifier.
struct Identities {
    local: LocalKey,
    factory: LocalKey,
    /// Verifies tokens (through the gateway's `Callers`).
    verifier: Arc<Verifier>,
    /// The demo's audit log, in the scratch directory.
    log: Arc<FileLog>,
    /// Every call goes through it: the demo's policies, approvals (humans
    /// are the local issuer's `human:*`; the store is in the scratch
    /// directory) and the log.
    gateway: Gateway,
}

impl Identities {
    fn new(scratch: &Path) -> anyhow::Result<Self> {
        let local = LocalKey::generate()?;
        let factory = LocalKey::generate()?;
        let mut trust = TrustStore::new();
        for (issuer, key) in [(LOCAL_ISSUER, &local), (FACTORY_ISSUER, &factory)] {
            trust.add(issuer, Box::new(JwksKeys::from_json(issuer, &key.jwks().to_string())?))?;
        }
        let verifier = Verifier::new(trust, VerifierSettings::new(AUDIENCE), ReplayCache::in_memory())?;
        let sources: Vec<PolicySource> = POLICIES
            .iter()
            .map(|(name, text)| PolicySource { name: (*name).into(), text: (*text).into() })
            .collect();
        let authorizer = Authorizer::new(&sources).map_err(|e| anyhow!("{e}"))?;
        let log = Arc::new(FileLog::open(&scratch.join("audit"), Durability::EveryRecord)?);
        let humans = vec![HumanRule { iss: LOCAL_ISSUER.into(), sub_prefix: "human:".into() }];
        let approvals =
            ApprovalGate::new(Some(scratch.join("approvals")), Approvers::new(humans, Vec::new()));
        let gateway = Gateway::new(authorizer, approvals, log.clone());
        Ok(Self { local, factory, verifier: Arc::new(verifier), log, gateway })
    }

    /// The caller `token` names, verified as `airlock run` does it: each
    /// call a new process, so a token presented twice is a replay.
    fn caller(&self, token: &str) -> Result<Arc<Caller>, TokenError> {
        Callers::new(self.verifier.clone()).caller(token)
    }

    fn mint(&self, key: &LocalKey, issuer: &str, sub: &str, claims: Value) -> anyhow::Result<String> {
        let claims: Map<String, Value> = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let request = MintRequest {
            issuer: issuer.into(),
            audience: AUDIENCE.into(),
            subject: sub.into(),
            ttl: Duration::from_secs(300),
            claims,
        };
        Ok(key.mint(&request)?)
    }

    fn alice(&self) -> anyhow::Result<String> {
        self.human("human:alice")
    }

    fn human(&self, sub: &str) -> anyhow::Result<String> {
        self.mint(&self.local, LOCAL_ISSUER, sub, json!({}))
    }

    fn fixer(&self) -> anyhow::Result<String> {
        let claims = json!({"agent_class": "fixer", "owner": "human:alice"});
        self.mint(&self.factory, FACTORY_ISSUER, "spiffe://factory.example/agent/fixer/i-1", claims)
    }

    fn triage_bot(&self, env: &str) -> anyhow::Result<String> {
        let claims = json!({"agent_class": "triage-bot", "env": env, "owner": "team:support"});
        self.mint(&self.factory, FACTORY_ISSUER, "spiffe://factory.example/agent/triage-bot/i-1", claims)
    }
}

/// What one demo call came to.
enum Outcome {
    Ran(Result<String, ToolError>),
    Refused(String),
    /// Policy allows it only with a human's approval: filed, not run.
    Filed {
        id: String,
        message: String,
    },
}

pub(crate) async fn demo(cache: CacheArgs) -> Result<(), Failure> {
    let scratch =
        tempfile::tempdir().context("cannot create a scratch directory").map_err(Failure::internal)?;
    let project = scratch.path().join("project");
    make_project(scratch.path(), &project).map_err(Failure::internal)?;
    let ids = Identities::new(scratch.path()).map_err(Failure::internal)?;
    let rt = runtime::runtime(&cache)?;
    let grep = load(&rt, airlock_tools::GREP).await?;
    let read_file = load(&rt, airlock_tools::READ_FILE).await?;
    let http_fetch = load(&rt, airlock_tools::HTTP_FETCH).await?;
    println!("airlock demo: scratch project at {}", project.display());
    println!("  bound at /workspace; a secret sits next to it, outside. Policies:");
    for (name, _) in POLICIES {
        println!("  - {name}");
    }
    println!();

    let workspace = GuestPath::new("/workspace").map_err(Failure::internal)?;
    let mount = OfferedMount { host: project.clone(), guest: workspace, access: Access::ReadOnly };
    let offer = Offer { mounts: vec![mount], ..Offer::default() };
    let mut failures = Vec::new();
    let mint = |token: anyhow::Result<String>| token.map_err(Failure::internal);

    let search = json!({ "pattern": "TODO", "include": ["*.rs"] }).to_string();
    println!("1. human:alice (local session) runs grep {search}");
    expect_allowed(
        call(&ids, &grep, &offer, &mint(ids.alice())?, &search).await?,
        &mut failures,
        "alice's search",
    );

    println!("2. the triage bot (prod) runs the same grep");
    let prod = mint(ids.triage_bot("prod"))?;
    expect_allowed(
        call(&ids, &grep, &offer, &prod, &search).await?,
        &mut failures,
        "the triage bot's search",
    );

    println!("3. the same triage bot with a staging identity runs the same grep");
    match call(&ids, &grep, &offer, &mint(ids.triage_bot("staging"))?, &search).await? {
        Outcome::Refused(why) => println!("   DENIED by policy before the tool runs:\n{}", indent(&why)),
        Outcome::Ran(_) | Outcome::Filed { .. } => failures.push("a staging identity was allowed"),
    }

    let host_path = scratch.path().join("outside/credentials.txt").display().to_string();
    for (n, path, how) in [
        (4, "/workspace/../outside/credentials.txt", "`..` out of the mount"),
        (5, "/workspace/escape", "a symlink pointing out of the mount"),
        (6, host_path.as_str(), "the host path itself"),
    ] {
        let input = json!({ "path": path }).to_string();
        println!("{n}. human:alice runs read-file {input}  ({how})");
        match call(&ids, &read_file, &offer, &mint(ids.alice())?, &input).await? {
            Outcome::Ran(Err(e)) => println!("   DENIED: {e}\n"),
            Outcome::Ran(Ok(output)) => {
                println!("   ALLOWED (this is a sandbox failure): {output}\n");
                failures.push(how);
            }
            Outcome::Refused(why) | Outcome::Filed { message: why, .. } => {
                println!("   unexpected refusal: {why}\n");
                failures.push(how);
            }
        }
    }

    println!("7. the triage bot's token from step 2 is presented again");
    match call(&ids, &grep, &offer, &prod, &search).await? {
        Outcome::Refused(why) => println!("   REFUSED: {why}\n"),
        Outcome::Ran(_) | Outcome::Filed { .. } => failures.push("a replayed token"),
    }

    // The local-session policy grants alice's http-fetch any public HTTPS
    // name (GET/HEAD); an address is reachable only through a grant that
    // names it. Both requests are refused before any DNS lookup or connect.
    for (n, url) in
        [(8, "http://169.254.169.254/latest/meta-data/"), (9, "https://169.254.169.254/latest/meta-data/")]
    {
        let input = json!({ "url": url }).to_string();
        println!("{n}. human:alice runs http-fetch {input}  (the cloud metadata address)");
        match call(&ids, &http_fetch, &Offer::default(), &mint(ids.alice())?, &input).await? {
            Outcome::Ran(Err(e @ ToolError::Denied(_))) => println!("   DENIED before any connection: {e}\n"),
            Outcome::Ran(other) => {
                println!("   NOT DENIED (this is a sandbox failure): {other:?}\n");
                failures.push("a request for the metadata address");
            }
            Outcome::Refused(why) | Outcome::Filed { message: why, .. } => {
                println!("   unexpected refusal: {why}\n");
                failures.push("a request for the metadata address");
            }
        }
    }

    let etc = OfferedMount {
        host: "/etc".into(),
        guest: GuestPath::new("/etc").map_err(Failure::internal)?,
        access: Access::ReadOnly,
    };
    let greedy = Offer { mounts: vec![etc], ..offer.clone() };
    println!("10. an operator binds /etc for read-file, which never asked for it");
    match call(&ids, &read_file, &greedy, &mint(ids.alice())?, r#"{"path":"passwd"}"#).await? {
        Outcome::Refused(e) => println!("   REFUSED before the tool runs: {e}\n"),
        _ => failures.push("an unrequested mount"),
    }

    approval_steps(&ids, &read_file, &offer, &mut failures).await?;

    let log = std::fs::read(ids.log.path()).map_err(Failure::internal)?;
    match airlock_audit::verify(&log) {
        Ok(summary) => println!(
            "Audit: every call above is a record in the demo's log ({} records, chain verified).\n",
            summary.records
        ),
        Err(e) => {
            println!("Audit: the log does not verify: {e}\n");
            failures.push("the audit chain");
        }
    }

    if failures.is_empty() {
        println!(
            "All expectations held: grants followed identity, every escape was denied, the gated call ran once on a human's approval."
        );
        Ok(())
    } else {
        Err(Failure::internal(anyhow!("demo expectations failed: {}", failures.join(", "))))
    }
}

/// Steps 11–15: a call policy allows only with a human's approval.
async fn approval_steps(
    ids: &Identities,
    read_file: &LoadedTool,
    offer: &Offer,
    failures: &mut Vec<&'static str>,
) -> Result<(), Failure> {
    let mint = |token: anyhow::Result<String>| token.map_err(Failure::internal);
    let input = json!({ "path": "README.md" }).to_string();
    println!(
        "11. the fixer bot (owner human:alice) runs read-file {input}  (its policy: only with a human's approval)"
    );
    let id = match call_approved(ids, read_file, offer, &mint(ids.fixer())?, &input, None).await? {
        Outcome::Filed { id, message } => {
            println!("   APPROVAL REQUIRED, nothing ran:\n{}", indent(&message));
            id
        }
        _ => {
            failures.push("a gated call was not filed for approval");
            return Ok(());
        }
    };
    println!("12. human:alice, the bot's owner, tries to approve {id}");
    match approve_as(ids, &mint(ids.alice())?, &id) {
        Err(failure) => println!("   REFUSED: {:#}\n", failure.error),
        Ok(()) => failures.push("the owner approved its own agent's request"),
    }
    println!("13. human:bob approves {id}");
    if let Err(failure) = approve_as(ids, &mint(ids.human("human:bob"))?, &id) {
        println!("   unexpected refusal: {:#}\n", failure.error);
        failures.push("bob's approval");
        return Ok(());
    }
    println!();
    println!("14. the fixer bot sends the same call again with the approval id");
    expect_allowed(
        call_approved(ids, read_file, offer, &mint(ids.fixer())?, &input, Some(&id)).await?,
        failures,
        "the approved call",
    );
    println!("15. ... and once more with the same approval id");
    match call_approved(ids, read_file, offer, &mint(ids.fixer())?, &input, Some(&id)).await? {
        Outcome::Filed { message, .. } => {
            let first = message.lines().next().unwrap_or_default().to_owned();
            println!("   REFUSED, filed anew: {first}\n");
        }
        _ => failures.push("an approval was used twice"),
    }
    Ok(())
}

/// `airlock approve ID` as the holder of `token`; a refusal is recorded.
fn approve_as(ids: &Identities, token: &str, id: &str) -> Result<(), Failure> {
    let verified = ids.caller(token).map_err(|e| Failure::new(crate::exit::for_token(&e), e))?;
    let result =
        crate::approve::grant(ids.gateway.approvals(), &*ids.log, verified.principal(), id, Some("demo"));
    if let Err(failure) = &result {
        crate::approve::record_refusal(&*ids.log, verified.principal(), id, failure)?;
    }
    result
}

fn expect_allowed(outcome: Outcome, failures: &mut Vec<&'static str>, what: &'static str) {
    match outcome {
        Outcome::Ran(Ok(output)) => println!("   ALLOWED: {output}\n"),
        Outcome::Ran(Err(e)) => {
            println!("   unexpected failure: {e}\n");
            failures.push(what);
        }
        Outcome::Refused(why) | Outcome::Filed { message: why, .. } => {
            println!("   unexpected refusal: {why}\n");
            failures.push(what);
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}")).collect::<Vec<_>>().join("\n") + "\n"
}

async fn load(rt: &Runtime, bytes: &[u8]) -> Result<LoadedTool, Failure> {
    rt.load_bytes(bytes).await.map_err(runtime::load_failure)
}

/// Verifies the token, decides, and runs one call. A refused token or a
/// policy denial is an outcome here; a result containing the secret counts
/// as an escape.
async fn call(
    ids: &Identities,
    tool: &LoadedTool,
    offer: &Offer,
    token: &str,
    input: &str,
) -> Result<Outcome, Failure> {
    call_approved(ids, tool, offer, token, input, None).await
}

/// [`call`], re-submitted with an approval id when one is `presented`.
async fn call_approved(
    ids: &Identities,
    tool: &LoadedTool,
    offer: &Offer,
    token: &str,
    input: &str,
    presented: Option<&str>,
) -> Result<Outcome, Failure> {
    let caller = match ids.caller(token) {
        Ok(caller) => caller,
        Err(e) => return Ok(Outcome::Refused(e.to_string())),
    };
    let identity = airlock_gateway::identity_of(tool);
    let request = CallRequest {
        transport: "cli",
        credential: Credential::Caller(&caller),
        tool: ToolRef { loaded: tool, identity: &identity },
        input,
        parsed_input: None,
        approval: presented.map(str::to_owned),
        resubmit: "the approval id",
        hosts: &[],
        workspace: None,
        watcher: None,
    };
    let offer = offer.clone();
    let report = ids.gateway.call(request, move |_| Ok(offer), std::future::pending()).await;
    report.recorded.map_err(|e| Failure::internal(anyhow!("{e}")))?;
    crate::approve::note(&report.clearance, presented.is_some());
    match report.ended {
        Ended::NotInvocable => {
            Ok(Outcome::Refused(report.decision.map(|d| d.to_string()).unwrap_or_default()))
        }
        Ended::NotPrepared(error) => Ok(Outcome::Refused(error)),
        Ended::ApprovalRequired(message) => match report.approval {
            Some(record) => Ok(Outcome::Filed { id: record.id, message }),
            None => Err(Failure::internal(anyhow!("{message}"))),
        },
        Ended::Ran(result) => {
            let outcome =
                (*result).map_err(|e| Failure::internal(anyhow!("tool `{}`: {e}", identity.name)))?;
            Ok(Outcome::Ran(
                outcome
                    .result
                    .map(|out| if out.contains(SECRET) { format!("LEAKED THE SECRET: {out}") } else { out }),
            ))
        }
        other => Err(Failure::internal(anyhow!("the call to `{}` did not run: {other:?}", identity.name))),
    }
}

fn make_project(scratch: &Path, project: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::create_dir_all(scratch.join("outside"))?;
    std::fs::write(scratch.join("outside/credentials.txt"), format!("{SECRET}\n"))?;
    std::fs::write(project.join("README.md"), "# demo\nTODO: write docs\n")?;
    std::fs::write(
        project.join("src/main.rs"),
        "fn main() {\n    // TODO: handle errors\n    println!(\"hi\");\n}\n",
    )?;
    std::fs::write(project.join("src/lib.rs"), "//! Demo library.\n// TODO: add tests\npub fn f() {}\n")?;
    #[cfg(unix)]
    std::os::unix::fs::symlink("../outside/credentials.txt", project.join("escape"))?;
    Ok(())
}
