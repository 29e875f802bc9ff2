//! Embedding airlock: load an `airlock.toml`, build the gateway once, and
//! make one call with an agent's token. Every step of the call (policy,
//! approval, the sandbox, the audit record) happens inside
//! `Gateway::call`; this program only prints how the call ended.
//!
//! Run it: `cargo run -p airlock-gateway --example embed` (it makes its
//! own issuer key, policy and configuration in a temporary directory).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_audit::{Durability, FileLog};
use airlock_gateway::{CallRequest, Callers, Credential, Ended, Gateway, ToolRef, identity_of};
use airlock_host::{Runtime, RuntimeConfig};
use airlock_identity::{LocalKey, MintRequest};
use airlock_policy::{Access, GuestPath, Offer, OfferedMount};

fn main() -> anyhow::Result<()> {
    println!("{}", run_example()?);
    Ok(())
}

/// Sets up, calls, and says how the call ended.
pub(crate) fn run_example() -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let token = setup(dir.path())?;
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    tokio.block_on(call(dir.path(), &token))
}

/// The embedding itself: configuration, gateway, tool, one call.
async fn call(dir: &Path, token: &str) -> anyhow::Result<String> {
    let config = airlock_gateway::config::load(&dir.join("airlock.toml"))?;
    let audit = Arc::new(FileLog::open(&dir.join("audit"), Durability::EveryRecord)?);
    let gateway = Gateway::new(config.authorizer, config.approvals, audit);
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let tool = runtime.load_bytes(airlock_tools::GREP).await?;
    let identity = identity_of(&tool);
    let caller = Callers::new(config.verifier).caller(token)?;
    let input = r#"{"pattern":"TODO"}"#;
    let request =
        CallRequest::new("embedded", Credential::Caller(&caller), ToolRef::new(&tool, &identity), input);
    let report = gateway.call(request, |_| Ok(offer(dir)), std::future::pending()).await;
    report.recorded.map_err(anyhow::Error::msg)?;
    Ok(match report.ended {
        Ended::Ran(result) => format!("ran: {:?}", result.map(|outcome| outcome.result)),
        other => format!("did not run: {other:?}"),
    })
}

/// What the operator binds to the call: the project at `/workspace`.
fn offer(dir: &Path) -> Offer {
    let project = OfferedMount {
        host: dir.join("project"),
        guest: GuestPath::new("/workspace").expect("an absolute, normalised path"),
        access: Access::ReadOnly,
    };
    Offer { mounts: vec![project], ..Offer::default() }
}

/// A project, an issuer key, a policy letting `agent:triage` do anything
/// (here: run `grep` over the project), and the configuration trusting
/// them; returns a token for
/// `agent:triage`.
fn setup(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir.join("project"))?;
    std::fs::write(dir.join("project/README.md"), "# project\nTODO: write docs\n")?;
    let key = LocalKey::generate()?;
    std::fs::write(dir.join("issuer.jwks.json"), key.jwks().to_string())?;
    std::fs::write(
        dir.join("policy.cedar"),
        r#"permit (principal, action, resource) when { principal.sub == "agent:triage" };"#,
    )?;
    std::fs::write(
        dir.join("airlock.toml"),
        "audience = \"https://airlock.example\"\npolicies = [\"policy.cedar\"]\nreplay_cache = \"replay\"\n\n[[issuer]]\niss = \"https://issuer.example\"\njwks = \"issuer.jwks.json\"\n",
    )?;
    let request = MintRequest {
        issuer: "https://issuer.example".into(),
        audience: "https://airlock.example".into(),
        subject: "agent:triage".into(),
        ttl: Duration::from_secs(300),
        claims: serde_json::Map::new(),
    };
    Ok(key.mint(&request)?)
}
