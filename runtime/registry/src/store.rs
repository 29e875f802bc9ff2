//! The local store of pulled components and their manifests: a private
//! directory (0700, checked as the artifact cache's is), one file per
//! digest, and every read hashed again, so a file changed on disk is
//! refused, never run.

use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_seal::PrivateDir;

use crate::sha256;

/// Why the store refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory is not private, or cannot be made.
    #[error("component store `{path}`: {reason}")]
    Untrusted {
        /// The directory.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("component store `{path}`: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// Nothing is stored under this digest.
    #[error("{digest} is not in the component store `{dir}`: pull it first (`airlock pull`)")]
    Missing {
        /// The digest asked for.
        digest: String,
        /// The store.
        dir: PathBuf,
    },
    /// A stored file no longer hashes to its name: changed on disk.
    #[error("`{path}` should hold {expected} but hashes to {found}: changed on disk, refused")]
    Tampered {
        /// The file.
        path: PathBuf,
        /// Its name's digest.
        expected: String,
        /// What it hashes to now.
        found: String,
    },
    /// A digest that is not `sha256:` and 64 lowercase hex digits.
    #[error("`{0}` is not a sha256 digest")]
    BadDigest(String),
}

/// What a store holds: component bytes, or manifests.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Component,
    Manifest,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Self::Component => "components",
            Self::Manifest => "manifests",
        }
    }
}

/// Components and manifests by sha256, in a private directory.
#[derive(Clone, Debug)]
pub struct ComponentStore {
    components: PrivateDir,
    manifests: PrivateDir,
}

impl ComponentStore {
    /// Opens (creating, 0700) the store at `path`. A directory another
    /// account can write is refused: it could swap what runs.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let untrusted = |e: airlock_seal::SealError| StoreError::Untrusted {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let root = PrivateDir::open(path).map_err(untrusted)?;
        Ok(Self {
            components: root.subdir(Kind::Component.dir()).map_err(untrusted)?,
            manifests: root.subdir(Kind::Manifest.dir()).map_err(untrusted)?,
        })
    }

    /// Stores component bytes; returns their digest.
    pub fn put_component(&self, bytes: &[u8]) -> Result<String, StoreError> {
        self.put(Kind::Component, bytes)
    }

    /// Stores manifest bytes; returns their digest.
    pub fn put_manifest(&self, bytes: &[u8]) -> Result<String, StoreError> {
        self.put(Kind::Manifest, bytes)
    }

    /// The component stored under `digest`, hashed again as it is read.
    pub fn component(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        self.get(Kind::Component, digest)
    }

    /// The manifest stored under `digest`, hashed again as it is read.
    pub fn manifest(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        self.get(Kind::Manifest, digest)
    }

    /// Where the component `digest` is (or would be) stored.
    pub fn component_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        self.path(Kind::Component, digest)
    }

    fn dir(&self, kind: Kind) -> &PrivateDir {
        match kind {
            Kind::Component => &self.components,
            Kind::Manifest => &self.manifests,
        }
    }

    fn path(&self, kind: Kind, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .ok_or_else(|| StoreError::BadDigest(digest.to_owned()))?;
        Ok(self.dir(kind).join(hex))
    }

    fn put(&self, kind: Kind, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = sha256(bytes);
        let path = self.path(kind, &digest)?;
        if self.get(kind, &digest).is_ok() {
            return Ok(digest);
        }
        // A reader sees the whole file or none.
        airlock_seal::replace_file(&path, 0o600, |file| file.write_all(bytes))
            .map_err(|error| StoreError::Io { path, error })?;
        Ok(digest)
    }

    fn get(&self, kind: Kind, digest: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(kind, digest)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing {
                    digest: digest.to_owned(),
                    dir: self.dir(kind).path().to_owned(),
                });
            }
            Err(error) => return Err(StoreError::Io { path, error }),
        };
        let found = sha256(&bytes);
        if found != digest {
            return Err(StoreError::Tampered { path, expected: digest.to_owned(), found });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn every_read_is_hashed_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ComponentStore::open(&dir.path().join("store")).expect("store");
        let digest = store.put_component(b"\0asm component").expect("put");
        assert_eq!(store.component(&digest).expect("read"), b"\0asm component");
        let path = store.component_path(&digest).expect("path");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);

        std::fs::write(&path, b"\0asm swapped").expect("tamper");
        let err = store.component(&digest).expect_err("tampered").to_string();
        assert!(err.contains("changed on disk, refused"), "{err}");
        // Putting the real bytes again repairs it.
        store.put_component(b"\0asm component").expect("put again");
        assert!(store.component(&digest).is_ok());

        let missing = format!("sha256:{}", "0".repeat(64));
        let err = store.component(&missing).expect_err("missing").to_string();
        assert!(err.contains("pull it first"), "{err}");
        assert!(
            store
                .component("sha256:../../etc/passwd")
                .expect_err("bad")
                .to_string()
                .contains("not a sha256 digest")
        );
    }

    #[test]
    fn a_store_others_can_write_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = ComponentStore::open(&open).expect_err("refused").to_string();
        assert!(err.contains("lets other accounts write"), "{err}");
    }
}
