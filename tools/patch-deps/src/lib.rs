//! `patch-deps`: raises vulnerable dependencies in /workspace to the lowest
//! versions OSV advisories say are fixed, preserving formatting and
//! comments, and reports what it changed and what it could not fix. The
//! work is done by `airlock-patch-deps` (`tools/patch-deps-core`); this
//! crate is the component.
#![deny(unsafe_code)]

use airlock_patch_deps::{Input, Output};
use airlock_sdk::{Capabilities, Tool, ToolError};

/// The tool.
pub struct PatchDeps;

impl Tool for PatchDeps {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "patch-deps";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Raises vulnerable dependencies in /workspace (Cargo.toml/Cargo.lock, package.json/package-lock.json, requirements.txt) to the lowest versions OSV advisories say are fixed, preserving formatting and comments; reports each change and each vulnerability it could not fix. Advisories: OSV records mounted at /advisories (or a directory named by `advisories`), or an OSV API named by `osv_api`.";

    fn capabilities() -> Capabilities {
        airlock_patch_deps::capabilities()
    }

    fn run(input: Input) -> Result<Output, ToolError> {
        airlock_patch_deps::run(&input)
    }
}

airlock_sdk::export_tool!(PatchDeps);
