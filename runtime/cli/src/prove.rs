//! `airlock policy diff` and `airlock policy prove`: proofs about policy
//! sets (airlock-prove: Cedar SymCC and cvc5).

use std::path::{Path, PathBuf};

use airlock_policy::authz::{Authorizer, PolicySource};
use airlock_prove::{Prover, Solver, Verdict};
use anyhow::{Context, anyhow};

use crate::args::ProofArgs;
use crate::config;
use crate::exit::{self, Failure};

pub(crate) async fn diff(old: &Path, new: &Path, proof: &ProofArgs) -> Result<(), Failure> {
    let old = policies(std::slice::from_ref(&old.to_path_buf()))?;
    let new = policies(std::slice::from_ref(&new.to_path_buf()))?;
    let prover = prover(proof)?;
    let report = prover.diff(&old, &new).await.map_err(|e| Failure::new(exit::NOT_PROVEN, e))?;
    print!("{report}");
    conclude(report.verdict(), "NEW permits what OLD does not", "the diff is not proven")
}

pub(crate) async fn prove(
    policy_paths: &[PathBuf],
    invariants: &Path,
    proof: &ProofArgs,
) -> Result<(), Failure> {
    let policies = policies(policy_paths)?;
    let invariants = invariant_set(invariants)?;
    let prover = prover(proof)?;
    let report = prover.prove(&policies, &invariants).await.map_err(|e| match e {
        airlock_prove::ProveError::InvariantNotPermit { .. } => Failure::new(exit::CONFIG, e),
        other => Failure::new(exit::NOT_PROVEN, other),
    })?;
    print!("{report}");
    conclude(report.verdict(), "an invariant is violated", "the invariants are not proven")
}

fn conclude(verdict: Verdict, fails: &str, not_proven: &str) -> Result<(), Failure> {
    match verdict {
        Verdict::Proven => Ok(()),
        Verdict::Fails => Err(Failure::new(exit::POLICY_WIDENS, anyhow!("{fails}"))),
        Verdict::NotProven => Err(Failure::new(exit::NOT_PROVEN, anyhow!("{not_proven}"))),
        Verdict::ReplayFailed => Err(Failure::internal(anyhow!(
            "a counterexample did not replay through the real authorizer (a bug; please report it with the output above)"
        ))),
    }
}

fn prover(proof: &ProofArgs) -> Result<Prover, Failure> {
    Solver::locate(proof.timeout).map(Prover::new).map_err(|e| Failure::new(exit::NOT_PROVEN, e))
}

/// One policy set from files, directories of `.cedar` files and
/// configurations (their `policies`).
fn policies(paths: &[PathBuf]) -> Result<Authorizer, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if path.extension().is_some_and(|e| e == "toml") {
            return if paths.len() == 1 {
                config::load_config_policies(path).map_err(|e| Failure::new(exit::CONFIG, e))
            } else {
                Err(Failure::usage(anyhow!(
                    "`{}`: a configuration stands alone; give it, or policy files, not both",
                    path.display()
                )))
            };
        }
        files.extend(cedar_files(path)?);
    }
    config::load_policies(Path::new(""), &files).map_err(|e| Failure::new(exit::CONFIG, e))
}

fn invariant_set(path: &Path) -> Result<Authorizer, Failure> {
    let mut sources = Vec::new();
    for file in cedar_files(path)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read invariants `{}`", file.display()))
            .map_err(Failure::usage)?;
        sources.push(PolicySource { name: file.display().to_string(), text });
    }
    Authorizer::new(&sources).map_err(|e| Failure::new(exit::CONFIG, anyhow!("{e}")))
}

/// `path` itself, or every `.cedar` file directly in it (sorted; not in
/// its subdirectories, so invariants can live beside the policies).
fn cedar_files(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read `{}`", path.display()))
        .map_err(Failure::usage)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(path)
        .with_context(|| format!("cannot read directory `{}`", path.display()))
        .map_err(Failure::usage)?;
    for entry in entries {
        let file = entry
            .with_context(|| format!("cannot read `{}`", path.display()))
            .map_err(Failure::usage)?
            .path();
        if file.extension().is_some_and(|e| e == "cedar") && file.is_file() {
            found.push(file);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(Failure::usage(anyhow!("`{}` holds no .cedar files", path.display())));
    }
    Ok(found)
}
