//! `airlock policy`: check policy files, explain decisions.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::args::{ExplainArgs, PolicyCommand};
use crate::authorize;
use crate::config;
use crate::exit::{self, Failure};
use crate::prove;
use crate::runtime;

pub(crate) async fn policy(command: PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Check { files, config } => check(&files, config.config.as_deref()),
        PolicyCommand::Explain(args) => explain(args).await,
        PolicyCommand::Diff { old, new, proof } => prove::diff(&old, &new, &proof).await,
        PolicyCommand::Suggest(args) => crate::suggest::suggest(args),
        PolicyCommand::Prove { policies, invariants, proof } => {
            prove::prove(&policies, &invariants, &proof).await
        }
    }
}

fn check(files: &[PathBuf], config_path: Option<&Path>) -> Result<(), Failure> {
    if files.is_empty() {
        // The whole configuration: issuers and policies.
        let loaded = config::load(config_path)?;
        println!("ok: {} policies validate against the airlock schema", loaded.authorizer.policy_count());
        return Ok(());
    }
    let authorizer =
        config::load_policies(Path::new(""), files).map_err(|e| Failure::new(exit::CONFIG, e))?;
    println!(
        "ok: {} policies in {} file(s) validate against the airlock schema",
        authorizer.policy_count(),
        files.len()
    );
    Ok(())
}

async fn explain(args: ExplainArgs) -> Result<(), Failure> {
    let (config, token) = authorize::config_and_token(&args.identity)?;
    let verified = config.verifier.inspect(&token).map_err(|e| Failure::new(exit::for_token(&e), e))?;
    let rt = runtime::runtime(&args.cache)?;
    let tool = runtime::load(&rt, &args.tool, &args.cache).await?;
    let offered = args
        .net
        .iter()
        .map(|n| crate::args::parse_net(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    let mut identity = crate::authorize::tool_identity(&tool, &args.tool);
    identity.signer = crate::registry::signer_of(&args.tool, &config.tool_signers).await;
    let tool_ref = airlock_gateway::ToolRef::new(&tool, &identity);
    let decided =
        airlock_gateway::decision(&config.authorizer, &verified.principal, tool_ref, &offered, None);
    let decision = match decided {
        Ok((_, decision)) => decision,
        Err(airlock_gateway::Ended::BadRequest(error)) => return Err(Failure::usage(anyhow!("{error}"))),
        Err(other) => return Err(Failure::internal(anyhow!("{other:?}"))),
    };
    // Resources and reasons come from the tool's self-description.
    print!("{}", airlock_policy::text::printable_lines(&decision.to_string()));
    if decision.invoke_allowed() {
        Ok(())
    } else {
        Err(Failure::new(exit::DENIED, anyhow!("policy denies invoking tool `{}`", tool.info().name)))
    }
}
