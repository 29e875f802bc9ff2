//! Ecosystems and their version orders: semver for crates.io and npm,
//! PEP 440 for PyPI.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Serialize;

/// A package ecosystem, spelled as OSV spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
pub enum Ecosystem {
    /// Rust crates (`Cargo.toml` / `Cargo.lock`).
    #[serde(rename = "crates.io")]
    CratesIo,
    /// npm packages (`package.json` / `package-lock.json`).
    #[serde(rename = "npm")]
    Npm,
    /// Python packages (`requirements.txt`).
    #[serde(rename = "PyPI")]
    PyPi,
}

impl Ecosystem {
    /// The OSV name of the ecosystem.
    pub fn osv_name(self) -> &'static str {
        match self {
            Self::CratesIo => "crates.io",
            Self::Npm => "npm",
            Self::PyPi => "PyPI",
        }
    }

    /// The ecosystem an OSV `package.ecosystem` names, if supported.
    /// OSV may suffix a release (`PyPI:3.11`); the suffix is ignored.
    pub fn from_osv(name: &str) -> Option<Self> {
        match name.split(':').next().unwrap_or(name) {
            "crates.io" => Some(Self::CratesIo),
            "npm" => Some(Self::Npm),
            "PyPI" => Some(Self::PyPi),
            _ => None,
        }
    }

    /// The name under which the ecosystem compares package names: PyPI
    /// names are case-insensitive and treat `-`, `_` and `.` alike (PEP 503).
    pub fn normalize(self, name: &str) -> String {
        match self {
            Self::PyPi => {
                let mut out = String::with_capacity(name.len());
                for c in name.chars() {
                    let c = if matches!(c, '_' | '.') { '-' } else { c.to_ascii_lowercase() };
                    if !(c == '-' && out.ends_with('-')) {
                        out.push(c);
                    }
                }
                out
            }
            Self::CratesIo | Self::Npm => name.to_owned(),
        }
    }

    /// Parses a version in this ecosystem's scheme.
    pub fn parse(self, text: &str) -> Option<Version> {
        let text = text.trim();
        match self {
            Self::CratesIo | Self::Npm => {
                semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).ok().map(Version::Semver)
            }
            Self::PyPi => pep440_rs::Version::from_str(text).ok().map(Version::Pep440),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

/// A version of one ecosystem. Versions of different schemes never compare
/// equal; ordering them is meaningless and puts semver first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// crates.io and npm.
    Semver(semver::Version),
    /// PyPI.
    Pep440(pep440_rs::Version),
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Semver(a), Self::Semver(b)) => a.cmp(b),
            (Self::Pep440(a), Self::Pep440(b)) => a.cmp(b),
            (Self::Semver(_), Self::Pep440(_)) => Ordering::Less,
            (Self::Pep440(_), Self::Semver(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Semver(v) => v.fmt(f),
            Self::Pep440(v) => v.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(eco: Ecosystem, text: &str) -> Version {
        eco.parse(text).unwrap_or_else(|| panic!("{text} does not parse"))
    }

    #[test]
    fn semver_and_pep440_orders() {
        assert!(v(Ecosystem::CratesIo, "1.6.1") > v(Ecosystem::CratesIo, "1.6.0"));
        assert!(v(Ecosystem::CratesIo, "0.0.0-0") < v(Ecosystem::CratesIo, "0.0.1"));
        assert!(v(Ecosystem::Npm, "4.17.21") > v(Ecosystem::Npm, "4.17.19"));
        assert!(v(Ecosystem::PyPi, "2.20.0") > v(Ecosystem::PyPi, "2.19.1"));
        assert!(v(Ecosystem::PyPi, "2.10") == v(Ecosystem::PyPi, "2.10.0"));
        assert!(v(Ecosystem::PyPi, "1.0rc1") < v(Ecosystem::PyPi, "1.0"));
        assert!(Ecosystem::PyPi.parse("not a version").is_none());
        assert!(Ecosystem::Npm.parse("^1.2.3").is_none());
    }

    #[test]
    fn pypi_names_are_normalized() {
        assert_eq!(Ecosystem::PyPi.normalize("Jinja2"), "jinja2");
        assert_eq!(Ecosystem::PyPi.normalize("zope.interface"), "zope-interface");
        assert_eq!(Ecosystem::PyPi.normalize("Foo__Bar"), "foo-bar");
        assert_eq!(Ecosystem::Npm.normalize("@Scope/x"), "@Scope/x");
        assert_eq!(Ecosystem::from_osv("PyPI:3.11"), Some(Ecosystem::PyPi));
        assert_eq!(Ecosystem::from_osv("Go"), None);
    }
}
