//! What a run changed and what it could not fix.

use schemars::JsonSchema;
use serde::Serialize;

use crate::version::Ecosystem;

/// One dependency raised in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct Change {
    /// The file edited, relative to /workspace.
    pub file: String,
    /// The package's ecosystem.
    pub ecosystem: Ecosystem,
    /// The package.
    pub package: String,
    /// The vulnerable version (installed, per the lock file).
    pub from: String,
    /// The version now required.
    pub to: String,
    /// The advisories the old version is affected by.
    pub advisories: Vec<String>,
}

/// A vulnerable dependency left as it was, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct Unfixed {
    /// The file it was found in, relative to /workspace.
    pub file: String,
    /// The package's ecosystem.
    pub ecosystem: Ecosystem,
    /// The package.
    pub package: String,
    /// The vulnerable version.
    pub version: String,
    /// The advisories it is affected by.
    pub advisories: Vec<String>,
    /// Why it was not fixed, and what would fix it where something would.
    pub reason: String,
}

/// Output of `patch-deps`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// Every edit made, one per dependency per file.
    pub changed: Vec<Change>,
    /// Every vulnerable dependency not fixed.
    pub unfixed: Vec<Unfixed>,
    /// The files examined, relative to /workspace.
    pub files: Vec<String>,
    /// How many advisory records were in force.
    pub advisories: usize,
    /// Remarks about the run (a lock file missing, a lock left to the
    /// package manager).
    pub notes: Vec<String>,
}

/// Collects a run's findings.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) changed: Vec<Change>,
    pub(crate) unfixed: Vec<Unfixed>,
    pub(crate) files: Vec<String>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub(crate) fn finish(mut self, advisories: usize) -> Output {
        self.changed.sort();
        self.changed.dedup();
        self.unfixed.sort();
        self.unfixed.dedup();
        Output {
            changed: self.changed,
            unfixed: self.unfixed,
            files: self.files,
            advisories,
            notes: self.notes,
        }
    }
}
