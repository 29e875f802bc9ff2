//! `airlock.lock`: for each registry tool a configuration names, the
//! manifest digest it was locked to, the component that manifest names,
//! and the trusted signer whose signature verified (or none). Written by
//! `airlock pull --config`, read by every load of that configuration, so
//! every machine of a fleet runs the same digests, signed by the same
//! signers. A locked tool whose signer changes is refused until the
//! operator accepts the change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::OciReference;

/// The lockfile's name, beside the configuration it locks.
pub const LOCKFILE_NAME: &str = "airlock.lock";

/// The only format version this build reads and writes.
const VERSION: u32 = 1;

const HEADER: &str = "# airlock.lock: the registry tools of airlock.toml, locked by `airlock pull --config`.\n\
# Commit it. Each tool runs exactly this digest, and only if signed by this signer.\n";

/// One locked tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedTool {
    /// The tool's name: its reference without a digest
    /// (`oci://REGISTRY/REPOSITORY:TAG`, or without the tag when none was
    /// written).
    pub name: String,
    /// The manifest digest it is locked to.
    pub digest: String,
    /// The component digest that manifest names.
    pub component: String,
    /// The trusted signer whose signature verified; absent: unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

impl LockedTool {
    /// The reference that runs: the name pinned to the locked digest.
    pub fn pinned(&self) -> Result<OciReference, LockError> {
        let reference: OciReference = self.name.parse().map_err(|e| LockError::Invalid {
            name: self.name.clone(),
            reason: format!("not a reference: {e}"),
        })?;
        Ok(reference.pinned(&self.digest))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockfileText {
    version: u32,
    #[serde(default, rename = "tool")]
    tools: Vec<LockedTool>,
}

/// What [`Lockfile::record`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The tool was not locked before.
    Added,
    /// Locked before, to the same digest and signer.
    Unchanged,
    /// Locked before to another digest, or its signer changed and the
    /// change was accepted.
    Updated {
        /// What was locked before.
        previous: LockedTool,
    },
}

/// Why a lockfile was refused, or a change to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The file could not be read or written.
    #[error("lockfile `{path}`: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The file is not a lockfile this build reads.
    #[error("lockfile `{path}`: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where TOML says.
        reason: String,
    },
    /// An entry is not valid.
    #[error("lockfile entry `{name}`: {reason}")]
    Invalid {
        /// The entry's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An update would change who signed a locked tool.
    #[error(
        "`{name}`: signed by {} now, but airlock.lock records {}: refused. Check who publishes it now; accept the change with `airlock pull --config … --accept-signer`",
        signer_text(.found),
        signer_text(.recorded)
    )]
    SignerChanged {
        /// The tool.
        name: String,
        /// The signer the lockfile records.
        recorded: Option<String>,
        /// The signer that verified now.
        found: Option<String>,
    },
}

fn signer_text(signer: &Option<String>) -> String {
    signer.as_ref().map_or_else(|| "no trusted signer (unsigned)".to_owned(), |name| format!("`{name}`"))
}

/// The locked tools, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lockfile {
    tools: BTreeMap<String, LockedTool>,
}

impl Lockfile {
    /// Reads the lockfile at `path`: `Ok(None)` when there is none. A file
    /// that is not a valid lockfile is refused, naming the problem: a tool
    /// is never run unlocked because its lock could not be read.
    pub fn read(path: &Path) -> Result<Option<Self>, LockError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(LockError::Io { path: path.to_owned(), error }),
        };
        Self::parse(&text).map(Some).map_err(|reason| LockError::Parse { path: path.to_owned(), reason })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let file: LockfileText = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.version != VERSION {
            return Err(format!(
                "version {} is not one this airlock reads (it reads {VERSION})",
                file.version
            ));
        }
        let mut tools = BTreeMap::new();
        for tool in file.tools {
            check(&tool).map_err(|e| e.to_string())?;
            let name = tool.name.clone();
            if tools.insert(name.clone(), tool).is_some() {
                return Err(format!("`{name}` is locked twice"));
            }
        }
        Ok(Self { tools })
    }

    /// The entry locking `name` (a reference without its digest).
    pub fn get(&self, name: &str) -> Option<&LockedTool> {
        self.tools.get(name)
    }

    /// Every locked tool, by name.
    pub fn tools(&self) -> impl Iterator<Item = &LockedTool> {
        self.tools.values()
    }

    /// Locks `tool`. A tool locked before with another signer (signed to
    /// unsigned, unsigned to signed, one signer to another) is refused
    /// unless `accept_signer`.
    pub fn record(&mut self, tool: LockedTool, accept_signer: bool) -> Result<Recorded, LockError> {
        check(&tool)?;
        let Some(previous) = self.tools.get(&tool.name) else {
            self.tools.insert(tool.name.clone(), tool);
            return Ok(Recorded::Added);
        };
        if previous.signer != tool.signer && !accept_signer {
            return Err(LockError::SignerChanged {
                name: tool.name,
                recorded: previous.signer.clone(),
                found: tool.signer,
            });
        }
        if previous == &tool {
            return Ok(Recorded::Unchanged);
        }
        let previous = previous.clone();
        self.tools.insert(tool.name.clone(), tool);
        Ok(Recorded::Updated { previous })
    }

    /// Drops every entry whose name `keep` refuses; returns the dropped.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) -> Vec<LockedTool> {
        let dropped: Vec<String> = self.tools.keys().filter(|name| !keep(name)).cloned().collect();
        dropped.iter().filter_map(|name| self.tools.remove(name)).collect()
    }

    /// The file's text: sorted by name, so the same tools always give the
    /// same bytes.
    pub fn to_text(&self) -> String {
        let file = LockfileText { version: VERSION, tools: self.tools.values().cloned().collect() };
        // Serialising plain strings and integers cannot fail.
        let body = toml::to_string(&file).unwrap_or_default();
        format!("{HEADER}\n{body}")
    }

    /// Writes the lockfile to `path`: beside it first, then renamed, so a
    /// reader sees the old file or the new one, never half of one.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        airlock_seal::replace_file(path, 0o644, |file| file.write_all(self.to_text().as_bytes()))
            .map_err(|error| LockError::Io { path: path.to_owned(), error })
    }
}

/// An entry's name is a reference with no digest; its digests are sha256.
fn check(tool: &LockedTool) -> Result<(), LockError> {
    let invalid = |reason: String| LockError::Invalid { name: tool.name.clone(), reason };
    let reference: OciReference =
        tool.name.parse().map_err(|e| invalid(format!("the name is not a reference: {e}")))?;
    if reference.digest().is_some() {
        return Err(invalid("the name must not carry a digest (it goes in `digest`)".into()));
    }
    for (field, digest) in [("digest", &tool.digest), ("component", &tool.component)] {
        if !is_sha256(digest) {
            return Err(invalid(format!("`{field}` is `{digest}`, not sha256: and 64 lowercase hex digits")));
        }
    }
    if tool.signer.as_deref() == Some("") {
        return Err(invalid("`signer` is empty".into()));
    }
    Ok(())
}

fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(tag: &str, digit: char, signer: Option<&str>) -> LockedTool {
        LockedTool {
            name: format!("oci://registry.example/tools/count:{tag}"),
            digest: format!("sha256:{}", digit.to_string().repeat(64)),
            component: format!("sha256:{}", "c".repeat(64)),
            signer: signer.map(str::to_owned),
        }
    }

    #[test]
    fn a_lockfile_round_trips_and_is_sorted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOCKFILE_NAME);
        assert_eq!(Lockfile::read(&path).expect("missing is fine"), None);
        let mut lock = Lockfile::default();
        assert_eq!(lock.record(tool("2.0", 'b', None), false).expect("add"), Recorded::Added);
        assert_eq!(lock.record(tool("1.0", 'a', Some("release")), false).expect("add"), Recorded::Added);
        lock.write(&path).expect("write");
        let read = Lockfile::read(&path).expect("read").expect("present");
        assert_eq!(read, lock);
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(text.find("count:1.0").expect("1.0") < text.find("count:2.0").expect("2.0"), "{text}");
        assert_eq!(text, read.to_text(), "the same tools give the same bytes");
    }

    #[test]
    fn a_signer_change_needs_acceptance() {
        let mut lock = Lockfile::default();
        lock.record(tool("1.0", 'a', Some("release")), false).expect("add");
        assert_eq!(lock.record(tool("1.0", 'a', Some("release")), false).expect("same"), Recorded::Unchanged);
        let updated = lock.record(tool("1.0", 'b', Some("release")), false).expect("new digest, same signer");
        assert!(matches!(updated, Recorded::Updated { .. }));

        for signer in [None, Some("other")] {
            let err = lock.record(tool("1.0", 'c', signer), false).expect_err("changed signer").to_string();
            assert!(err.contains("airlock.lock records `release`"), "{err}");
            assert!(err.contains("--accept-signer"), "{err}");
            assert_eq!(
                lock.get(&tool("1.0", 'a', None).name).expect("kept").digest,
                tool("1.0", 'b', None).digest
            );
        }
        lock.record(tool("1.0", 'c', None), true).expect("accepted");
        let err = lock.record(tool("1.0", 'c', Some("release")), false).expect_err("unsigned to signed");
        assert!(err.to_string().contains("signed by `release` now"), "{err}");
    }

    #[test]
    fn a_bad_lockfile_is_refused_naming_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOCKFILE_NAME);
        let good = tool("1.0", 'a', None);
        let cases = [
            ("version = 2\n", "version 2"),
            ("version = 1\n[[tool]]\nname = \"x\"\n", "missing field"),
            ("version = 1\nextra = true\n", "unknown field"),
            (
                &format!(
                    "version = 1\n[[tool]]\nname = \"{}@{}\"\ndigest = \"{}\"\ncomponent = \"{}\"\n",
                    good.name, good.digest, good.digest, good.component
                ),
                "must not carry a digest",
            ),
            (
                &format!(
                    "version = 1\n[[tool]]\nname = \"{}\"\ndigest = \"sha256:ABC\"\ncomponent = \"{}\"\n",
                    good.name, good.component
                ),
                "`digest` is `sha256:ABC`",
            ),
            (
                &format!(
                    "version = 1\n[[tool]]\nname = \"{n}\"\ndigest = \"{d}\"\ncomponent = \"{c}\"\n[[tool]]\nname = \"{n}\"\ndigest = \"{d}\"\ncomponent = \"{c}\"\n",
                    n = good.name,
                    d = good.digest,
                    c = good.component
                ),
                "locked twice",
            ),
            (
                "version = 1\n[[tool]]\nname = \"https://x/y\"\ndigest = \"\"\ncomponent = \"\"\n",
                "not a reference",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, text).expect("write");
            let err = Lockfile::read(&path).expect_err(text).to_string();
            assert!(err.contains(expected) && err.contains("airlock.lock"), "{text}: {err}");
        }
    }
}
