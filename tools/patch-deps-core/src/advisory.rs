//! OSV advisories: the records, where they come from (a directory of JSON
//! files), and the question the tool asks them: is this version affected,
//! and what is the lowest version that no advisory affects?

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use airlock_sdk::ToolError;
use serde::Deserialize;

use crate::version::{Ecosystem, Version};

/// Largest advisory file read.
const MAX_RECORD_BYTES: u64 = 1 << 20;
/// Most advisory files read from a directory tree.
const MAX_RECORDS: usize = 100_000;
/// Deepest directory descended into.
const MAX_DEPTH: usize = 8;
/// Most successive fixed versions tried before giving up on a package.
const MAX_STEPS: usize = 32;

/// One OSV record: only the fields the tool uses (unknown ones are
/// ignored, since the OSV schema grows).
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// `RUSTSEC-…`, `GHSA-…`, `PYSEC-…`.
    pub id: String,
    /// Set when the advisory was retracted; such records are ignored.
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    affected: Vec<Affected>,
}

#[derive(Debug, Clone, Deserialize)]
struct Affected {
    package: Option<PackageRef>,
    #[serde(default)]
    ranges: Vec<Range>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct PackageRef {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Debug, Clone, Deserialize)]
struct Event {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
}

/// The advisories loaded for one run.
#[derive(Debug, Default)]
pub struct Advisories {
    records: Vec<Record>,
    /// Set for a census: every version asked about is remembered.
    census: Option<RefCell<BTreeSet<Query>>>,
}

/// One installed version the tool asked about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Query {
    /// The package's ecosystem.
    pub ecosystem: Ecosystem,
    /// The package's name, as the manifest spells it.
    pub name: String,
    /// The installed version.
    pub version: String,
}

/// What the advisories say about one installed version.
#[derive(Debug, PartialEq, Eq)]
pub enum Remedy {
    /// Not affected by any advisory.
    Clean,
    /// Raise it.
    Upgrade {
        /// The lowest version above the installed one that no advisory affects.
        to: Version,
        /// The advisories the installed version is hit by.
        advisories: Vec<String>,
    },
    /// No version fixes it.
    Unfixable {
        /// The advisories the installed version is hit by.
        advisories: Vec<String>,
        /// Which advisory has no fix, and above which version.
        reason: String,
    },
}

impl Advisories {
    /// Advisories from records already parsed.
    pub fn new(records: Vec<Record>) -> Self {
        let mut advisories = Self::default();
        advisories.extend(records);
        advisories
    }

    /// No advisories, but every installed version asked about is
    /// remembered: a run against a census finds what to look up.
    pub fn census() -> Self {
        Self { records: Vec::new(), census: Some(RefCell::default()) }
    }

    /// The versions a census was asked about.
    pub fn asked(self) -> Vec<Query> {
        self.census.map(|c| c.into_inner().into_iter().collect()).unwrap_or_default()
    }

    /// Adds records (withdrawn ones are dropped).
    pub fn extend(&mut self, records: Vec<Record>) {
        self.records.extend(records.into_iter().filter(|r| r.withdrawn.is_none()));
    }

    /// Reads every `*.json` file under `dir` (one OSV record per file, as
    /// OSV's own exports are laid out). A file that is not an OSV record is
    /// an error naming it: a silently skipped advisory is a missed fix.
    pub fn from_dir(dir: &Path) -> Result<Self, ToolError> {
        let mut records = Vec::new();
        read_tree(dir, 0, &mut records)?;
        Ok(Self::new(records))
    }

    /// How many records are in force.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no record is in force.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether any advisory names the package at all.
    pub fn mentions(&self, ecosystem: Ecosystem, name: &str) -> bool {
        let name = ecosystem.normalize(name);
        self.records.iter().any(|r| self.entries(r, ecosystem, &name).next().is_some())
    }

    /// Ids of the advisories affecting `name` at `version`.
    pub fn affecting(&self, ecosystem: Ecosystem, name: &str, version: &Version) -> Vec<String> {
        if let Some(census) = &self.census {
            let query = Query { ecosystem, name: name.to_owned(), version: version.to_string() };
            census.borrow_mut().insert(query);
        }
        let name = ecosystem.normalize(name);
        let mut ids = BTreeSet::new();
        for record in &self.records {
            if self.entries(record, ecosystem, &name).any(|a| a.affects(ecosystem, version)) {
                ids.insert(record.id.clone());
            }
        }
        ids.into_iter().collect()
    }

    /// The lowest version above `installed` that no advisory affects,
    /// following fixed versions until none applies (a fix for one advisory
    /// may still be hit by another).
    pub fn remedy(&self, ecosystem: Ecosystem, name: &str, installed: &Version) -> Remedy {
        let advisories = self.affecting(ecosystem, name, installed);
        if advisories.is_empty() {
            return Remedy::Clean;
        }
        let key = ecosystem.normalize(name);
        let mut candidate = installed.clone();
        for _ in 0..MAX_STEPS {
            let mut next: Option<Version> = None;
            for record in &self.records {
                for affected in self.entries(record, ecosystem, &key) {
                    if !affected.affects(ecosystem, &candidate) {
                        continue;
                    }
                    let Some(fixed) = affected.lowest_fix_above(ecosystem, &candidate) else {
                        let reason = format!("{} has no fixed version above {candidate}", record.id);
                        return Remedy::Unfixable { advisories, reason };
                    };
                    next = Some(next.map_or(fixed.clone(), |n| n.max(fixed)));
                }
            }
            match next {
                None => return Remedy::Upgrade { to: candidate, advisories },
                Some(n) => candidate = n,
            }
        }
        let reason = format!("no unaffected version found within {MAX_STEPS} fixed versions");
        Remedy::Unfixable { advisories, reason }
    }

    fn entries<'a>(
        &'a self,
        record: &'a Record,
        ecosystem: Ecosystem,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Affected> + 'a {
        record.affected.iter().filter(move |a| {
            a.package.as_ref().is_some_and(|p| {
                Ecosystem::from_osv(&p.ecosystem) == Some(ecosystem) && ecosystem.normalize(&p.name) == name
            })
        })
    }
}

impl Affected {
    /// OSV's rule: listed explicitly, or inside a SEMVER/ECOSYSTEM range
    /// (introduced ≤ v < fixed, or ≤ last_affected). GIT ranges name
    /// commits, not versions, and are ignored.
    fn affects(&self, ecosystem: Ecosystem, version: &Version) -> bool {
        let listed = self.versions.iter().any(|v| ecosystem.parse(v).as_ref() == Some(version));
        listed || self.version_ranges().any(|r| r.affects(ecosystem, version))
    }

    fn lowest_fix_above(&self, ecosystem: Ecosystem, version: &Version) -> Option<Version> {
        self.version_ranges()
            .filter(|r| r.affects(ecosystem, version))
            .flat_map(|r| r.events.iter().filter_map(|e| e.fixed.as_deref()))
            .filter_map(|f| ecosystem.parse(f))
            .filter(|f| f > version)
            .min()
    }

    fn version_ranges(&self) -> impl Iterator<Item = &Range> {
        self.ranges.iter().filter(|r| r.kind == "SEMVER" || r.kind == "ECOSYSTEM")
    }
}

impl Range {
    fn affects(&self, ecosystem: Ecosystem, version: &Version) -> bool {
        // Events in version order; "introduced: 0" is below everything.
        let mut events: Vec<(Option<Version>, &Event)> = self
            .events
            .iter()
            .map(|e| {
                let text = e.introduced.as_deref().or(e.fixed.as_deref()).or(e.last_affected.as_deref());
                let at = match text {
                    Some("0") | None => None,
                    Some(t) => ecosystem.parse(t),
                };
                (at, e)
            })
            .collect();
        events.sort_by(|a, b| a.0.cmp(&b.0));
        let mut affected = false;
        for (at, event) in events {
            let reached = at.as_ref().is_none_or(|at| version >= at);
            if event.introduced.is_some() {
                if reached {
                    affected = true;
                }
            } else if event.fixed.is_some() {
                if reached {
                    affected = false;
                }
            } else if event.last_affected.is_some() && at.as_ref().is_some_and(|at| version > at) {
                affected = false;
            }
        }
        affected
    }
}

fn read_tree(dir: &Path, depth: usize, records: &mut Vec<Record>) -> Result<(), ToolError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ToolError::from_io(format!("advisories: read {}", dir.display()), &e))?;
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    paths.sort_by_key(|e| e.file_name());
    for entry in paths {
        let path = entry.path();
        let kind =
            entry.file_type().map_err(|e| ToolError::from_io(format!("stat {}", path.display()), &e))?;
        if kind.is_dir() {
            read_tree(&path, depth + 1, records)?;
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "json") {
            if records.len() >= MAX_RECORDS {
                return Err(ToolError::invalid_input(format!("more than {MAX_RECORDS} advisory files")));
            }
            records.push(read_record(&path)?);
        }
    }
    Ok(())
}

fn read_record(path: &Path) -> Result<Record, ToolError> {
    let size = std::fs::metadata(path)
        .map_err(|e| ToolError::from_io(format!("stat {}", path.display()), &e))?
        .len();
    if size > MAX_RECORD_BYTES {
        return Err(ToolError::invalid_input(format!(
            "advisory {} is {size} bytes, over the {MAX_RECORD_BYTES}-byte limit",
            path.display()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| ToolError::from_io(format!("read {}", path.display()), &e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ToolError::invalid_input(format!("advisory {} is not an OSV record: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: serde_json::Value) -> Record {
        serde_json::from_value(json).expect("test record")
    }

    fn db(records: Vec<serde_json::Value>) -> Advisories {
        Advisories::new(records.into_iter().map(record).collect())
    }

    fn semver_range(name: &str, eco: &str, events: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "SEMVER", "events": events}]
        })
    }

    fn cargo(text: &str) -> Version {
        Ecosystem::CratesIo.parse(text).expect("version")
    }

    #[test]
    fn two_ranges_pick_the_fix_of_the_range_the_version_is_in() {
        let db = db(vec![serde_json::json!({
            "id": "RUSTSEC-2021-0003",
            "affected": [semver_range("smallvec", "crates.io", serde_json::json!([
                {"introduced": "0.6.3"}, {"fixed": "0.6.14"}, {"introduced": "1.0.0"}, {"fixed": "1.6.1"}
            ]))]
        })]);
        let upgrade = |v| match db.remedy(Ecosystem::CratesIo, "smallvec", &cargo(v)) {
            Remedy::Upgrade { to, .. } => to.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(upgrade("1.4.0"), "1.6.1");
        assert_eq!(upgrade("0.6.5"), "0.6.14");
        assert_eq!(db.remedy(Ecosystem::CratesIo, "smallvec", &cargo("0.6.2")), Remedy::Clean);
        assert_eq!(db.remedy(Ecosystem::CratesIo, "smallvec", &cargo("1.6.1")), Remedy::Clean);
        assert_eq!(db.remedy(Ecosystem::CratesIo, "other", &cargo("1.4.0")), Remedy::Clean);
    }

    #[test]
    fn the_fix_must_satisfy_every_advisory() {
        let db = db(vec![
            serde_json::json!({"id": "GHSA-a", "affected": [semver_range("lodash", "npm",
                serde_json::json!([{"introduced": "0"}, {"fixed": "4.17.19"}]))]}),
            serde_json::json!({"id": "GHSA-b", "affected": [semver_range("lodash", "npm",
                serde_json::json!([{"introduced": "4.17.0"}, {"fixed": "4.17.21"}]))]}),
        ]);
        let v = Ecosystem::Npm.parse("4.17.15").expect("version");
        match db.remedy(Ecosystem::Npm, "lodash", &v) {
            Remedy::Upgrade { to, advisories } => {
                assert_eq!(to.to_string(), "4.17.21");
                assert_eq!(advisories, ["GHSA-a", "GHSA-b"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fix_hit_by_another_advisory_is_followed_further() {
        let db = db(vec![
            serde_json::json!({"id": "A", "affected": [semver_range("x", "crates.io",
                serde_json::json!([{"introduced": "1.0.0"}, {"fixed": "1.1.0"}]))]}),
            serde_json::json!({"id": "B", "affected": [semver_range("x", "crates.io",
                serde_json::json!([{"introduced": "1.1.0"}, {"fixed": "1.2.0"}]))]}),
        ]);
        match db.remedy(Ecosystem::CratesIo, "x", &cargo("1.0.5")) {
            Remedy::Upgrade { to, advisories } => {
                assert_eq!(to.to_string(), "1.2.0");
                assert_eq!(advisories, ["A"], "only A hits the installed version");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_fixed_version_is_unfixable_and_last_affected_is_inclusive() {
        let db = db(vec![serde_json::json!({"id": "RUSTSEC-2021-0139", "affected": [semver_range(
            "ansi_term", "crates.io", serde_json::json!([{"introduced": "0"}, {"last_affected": "0.12.1"}]))]})]);
        match db.remedy(Ecosystem::CratesIo, "ansi_term", &cargo("0.12.1")) {
            Remedy::Unfixable { advisories, reason } => {
                assert_eq!(advisories, ["RUSTSEC-2021-0139"]);
                assert!(reason.contains("no fixed version"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(db.remedy(Ecosystem::CratesIo, "ansi_term", &cargo("0.12.2")), Remedy::Clean);
    }

    #[test]
    fn pypi_ecosystem_ranges_explicit_versions_names_and_withdrawn() {
        let db = db(vec![
            serde_json::json!({"id": "PYSEC-2018-28", "affected": [{
                "package": {"ecosystem": "PyPI", "name": "requests"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
            }]}),
            serde_json::json!({"id": "PYSEC-X", "affected": [{
                "package": {"ecosystem": "PyPI", "name": "Jinja2"}, "versions": ["2.10"],
            }]}),
            serde_json::json!({"id": "WITHDRAWN", "withdrawn": "2020-01-01T00:00:00Z", "affected": [{
                "package": {"ecosystem": "PyPI", "name": "requests"}, "versions": ["2.20.0"],
            }]}),
        ]);
        let py = |t| Ecosystem::PyPi.parse(t).expect("version");
        assert_eq!(db.affecting(Ecosystem::PyPi, "requests", &py("2.19.1")), ["PYSEC-2018-28"]);
        assert!(db.affecting(Ecosystem::PyPi, "requests", &py("2.20.0")).is_empty());
        assert_eq!(db.affecting(Ecosystem::PyPi, "jinja2", &py("2.10.0")), ["PYSEC-X"]);
        assert_eq!(db.len(), 2);
    }

    #[test]
    fn a_file_that_is_not_a_record_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("good.json"), r#"{"id": "A", "affected": []}"#).expect("write");
        std::fs::write(dir.path().join("bad.json"), "{not json").expect("write");
        std::fs::write(dir.path().join("README.md"), "ignored").expect("write");
        let err = Advisories::from_dir(dir.path()).expect_err("bad record").to_string();
        assert!(err.contains("bad.json") && err.contains("not an OSV record"), "{err}");
        std::fs::remove_file(dir.path().join("bad.json")).expect("rm");
        assert_eq!(Advisories::from_dir(dir.path()).expect("loads").len(), 1);
    }
}
