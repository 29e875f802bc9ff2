//! The engine of the `patch-deps` tool (`tools/patch-deps`): raises
//! vulnerable dependency versions in a checkout to the lowest versions that
//! OSV advisories say are fixed, editing the manifests in place without
//! disturbing their formatting or comments, and reports what it changed and
//! what it could not fix. A plain library (no component exports), so the
//! tests' compromised variant of the tool can link the same code.
//!
//! Supported: Cargo (`Cargo.toml` + `Cargo.lock`, workspace members
//! included), npm (`package.json` + `package-lock.json` v2/v3) and pip
//! (`requirements.txt` with `==` pins). The lock file says which version
//! is installed; the manifest is where the fix is written. Only direct
//! dependencies can be raised by a manifest edit: a vulnerable transitive
//! dependency is reported with the command that fixes it.
#![deny(unsafe_code)]

pub mod advisory;
mod cargo;
mod npm;
mod osv_api;
mod python;
mod report;
mod requirement;
pub mod version;

use std::path::{Path, PathBuf};

use airlock_sdk::{Access, Capabilities, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;

pub use advisory::Advisories;
pub use report::{Change, Output, Unfixed};

/// Where the checkout is mounted.
pub const WORKSPACE: &str = "/workspace";
/// Where a directory of OSV records is mounted, when the operator offers one.
pub const ADVISORIES: &str = "/advisories";
/// The public OSV API.
pub const OSV_API: &str = "https://api.osv.dev";

/// Input of `patch-deps`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Directory of OSV advisory records (`*.json`, one record per file):
    /// a path relative to /workspace, or absolute (default `/advisories`,
    /// the read-only mount the operator may offer).
    pub advisories: Option<String>,
    /// Base URL of an OSV-compatible API to fetch the advisories from
    /// instead (`https://api.osv.dev`, or a mirror), for the versions the
    /// checkout installs; the operator must grant the destination. With
    /// `advisories` too, both are used.
    pub osv_api: Option<String>,
    /// Directories of the checkout to patch, relative to /workspace
    /// (default: the checkout's root).
    #[schemars(length(min = 1, max = 256))]
    pub directories: Option<Vec<String>>,
}

/// One directory of the checkout being patched.
pub(crate) struct Project {
    /// Guest path of the directory.
    dir: PathBuf,
    /// The directory relative to /workspace, with a trailing `/` (empty
    /// for the root): prefixes file names in the report.
    prefix: String,
}

impl Project {
    fn new(root: &Path, relative: &str) -> Result<Self, ToolError> {
        let relative = relative.trim_matches('/');
        let clean = Path::new(relative)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if !clean {
            return Err(ToolError::invalid_input(format!(
                "directory `{relative}` must be relative to /workspace, without `..`"
            )));
        }
        let prefix = match relative {
            "" | "." => String::new(),
            r => format!("{r}/"),
        };
        Ok(Self { dir: root.join(relative), prefix })
    }

    /// Guest path of a file of this project.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The file's name as the report shows it (relative to /workspace).
    pub(crate) fn display(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The file's text, or `None` when it does not exist.
    pub(crate) fn read(&self, name: &str) -> Result<Option<String>, ToolError> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| ToolError::invalid_input(format!("{} is not UTF-8", self.display(name)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ToolError::from_io(format!("read {}", self.display(name)), &e)),
        }
    }

    /// A manifest and the lock file beside it, or `None` when there is no
    /// manifest, or no lock to say what is installed (noted in the report).
    pub(crate) fn manifest_and_lock(
        &self,
        manifest: &str,
        lock: &str,
        report: &mut report::Report,
    ) -> Result<Option<(String, String)>, ToolError> {
        let Some(manifest_text) = self.read(manifest)? else { return Ok(None) };
        let Some(lock_text) = self.read(lock)? else {
            report.note(format!(
                "{}: no {lock} beside it, so the installed versions are unknown; not checked",
                self.display(manifest)
            ));
            return Ok(None);
        };
        Ok(Some((manifest_text, lock_text)))
    }

    /// The error for a file that does not parse.
    pub(crate) fn unparsable(&self, name: &str, error: impl std::fmt::Display) -> ToolError {
        ToolError::invalid_input(format!("{} does not parse: {error}", self.display(name)))
    }

    /// Replaces the file's text (only called when it changed).
    pub(crate) fn write(&self, name: &str, text: &str) -> Result<(), ToolError> {
        std::fs::write(self.path(name), text)
            .map_err(|e| ToolError::from_io(format!("write {}", self.display(name)), &e))
    }
}

/// Patches every supported manifest of the input's directories of the
/// checkout at `root` (`/workspace` in the sandbox) against `advisories`.
pub fn patch(root: &Path, input: &Input, advisories: &Advisories) -> Result<Output, ToolError> {
    let directories = input.directories.clone().unwrap_or_else(|| vec![String::from(".")]);
    let mut report = report::Report::default();
    for directory in &directories {
        let project = Project::new(root, directory)?;
        if !project.dir.is_dir() {
            return Err(ToolError::invalid_input(format!("directory `{directory}` is not in the checkout")));
        }
        cargo::patch(&project, advisories, &mut report)?;
        npm::patch(&project, advisories, &mut report)?;
        python::patch(&project, advisories, &mut report)?;
    }
    Ok(report.finish(advisories.len()))
}

/// The advisories the input names: the records in a directory, and those
/// an OSV API has for the versions the checkout at `root` installs.
pub fn advisories_for(root: &Path, input: &Input) -> Result<Advisories, ToolError> {
    let Some(api) = input.osv_api.as_deref() else { return load_advisories(root, input) };
    let census = Advisories::census();
    patch(root, input, &census)?;
    let mut advisories = match input.advisories {
        Some(_) => load_advisories(root, input)?,
        None => Advisories::default(),
    };
    advisories.extend(osv_api::fetch(api, &census.asked())?);
    Ok(advisories)
}

/// Loads the records of the input's advisory directory; a relative path is
/// inside the checkout at `root`.
pub fn load_advisories(root: &Path, input: &Input) -> Result<Advisories, ToolError> {
    let dir = match input.advisories.as_deref() {
        None => PathBuf::from(ADVISORIES),
        Some(p) if p.starts_with('/') => PathBuf::from(p),
        Some(p) => root.join(p),
    };
    if !dir.is_dir() {
        return Err(ToolError::invalid_input(format!(
            "no advisories at `{}`: mount a directory of OSV records at {ADVISORIES}, name one in the checkout with `advisories`, or give `osv_api`",
            dir.display()
        )));
    }
    Advisories::from_dir(&dir)
}

/// What patching needs from the sandbox: the checkout read-write, the
/// advisory directory read-only, and (only when the input names an API)
/// an OSV-compatible API.
pub fn capabilities() -> Capabilities {
    Capabilities::none()
        .mount(WORKSPACE, Access::ReadWrite, "the checkout whose manifests are patched")
        .mount(ADVISORIES, Access::ReadOnly, "OSV advisory records")
        .host_methods(OSV_API, &["POST", "GET"], "the public OSV API, when the input names it")
        .host_methods("https://*:1-65535", &["POST", "GET"], "an OSV-compatible mirror the operator grants")
        .host_methods("http://*:1-65535", &["POST", "GET"], "an OSV-compatible mirror the operator grants")
}

/// One run inside the sandbox: the advisories the input names, then the
/// patch of the checkout at /workspace.
pub fn run(input: &Input) -> Result<Output, ToolError> {
    let root = Path::new(WORKSPACE);
    let advisories = advisories_for(root, input)?;
    patch(root, input, &advisories)
}
