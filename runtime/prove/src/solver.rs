//! The SMT solver: cvc5, a separate program, found on `PATH` or through
//! the `CVC5` environment variable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cedar_policy_symcc::solver::LocalSolver;

use crate::ProveError;

/// How to install the solver, named in every error about it.
pub const INSTALL_HINT: &str = "install cvc5 (Debian/Ubuntu: `apt-get install cvc5`; or a release from https://github.com/cvc5/cvc5/releases) \
     and put it on PATH, or set CVC5 to its path";

/// A located cvc5 and the time each check may take.
#[derive(Clone, Debug)]
pub struct Solver {
    program: PathBuf,
    version: String,
    timeout: Duration,
}

impl Solver {
    /// Finds cvc5: `$CVC5` when set, otherwise `cvc5` on `PATH`. It is run
    /// once (`--version`) to check that it is cvc5 and works. `timeout`
    /// bounds each check; a check that runs out is reported as not proven,
    /// never as proven.
    pub fn locate(timeout: Duration) -> Result<Self, ProveError> {
        let program = match std::env::var_os("CVC5") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => find_on_path("cvc5").ok_or_else(|| ProveError::SolverMissing {
                detail: "`cvc5` is not on PATH and CVC5 is not set".into(),
            })?,
        };
        Self::at(program, timeout)
    }

    /// The cvc5 at `program`, checked as [`Solver::locate`] does.
    pub fn at(program: PathBuf, timeout: Duration) -> Result<Self, ProveError> {
        let output = std::process::Command::new(&program).arg("--version").output().map_err(|e| {
            ProveError::SolverMissing { detail: format!("cannot run `{}`: {e}", program.display()) }
        })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version = text
            .lines()
            .find_map(|line| line.strip_prefix("This is cvc5 version "))
            .map(|v| v.split_whitespace().next().unwrap_or(v).to_owned())
            .filter(|_| output.status.success())
            .ok_or_else(|| ProveError::SolverMissing {
                detail: format!("`{} --version` does not report a cvc5 version", program.display()),
            })?;
        Ok(Self { program, version, timeout })
    }

    /// The cvc5 version, e.g. `1.0.3`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The solver program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Starts one solver process; it answers the checks given to it in turn.
    pub(crate) fn start(&self) -> Result<LocalSolver, ProveError> {
        let limit = format!("--tlimit-per={}", self.timeout.as_millis().max(1));
        LocalSolver::from_command(tokio::process::Command::new(&self.program).args([
            "--lang",
            "smt",
            "--strings-exp",
            &limit,
        ]))
        .map_err(|e| ProveError::SolverMissing {
            detail: format!("cannot start `{}`: {e}", self.program.display()),
        })
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}
