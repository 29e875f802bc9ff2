//! The per-user key that seals what airlock writes for itself.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{PrivateDir, SealError};

/// The key file's name inside its private directory.
const KEY_FILE: &str = "seal.key";
const KEY_BYTES: usize = 32;
/// The first line of a sealed file: this prefix, then the tag in hex.
const SEAL_PREFIX: &str = "airlock-seal-v1 ";

/// A per-user HMAC-SHA256 key, created on first use in a private directory
/// (`seal.key`, mode 0600, 32 random bytes).
///
/// Security: whoever reads the key can forge sealed files for this user;
/// it never leaves its 0600 file, and a key file another account owns, or
/// that others may read or write, is refused.
#[derive(Clone)]
pub struct SealKey {
    key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// Loads `seal.key` from `dir`, creating it if it does not exist yet.
    ///
    /// A new key is written whole to a temporary file and linked into
    /// place, so processes starting at once on an empty directory all end
    /// up with the one key and none reads a half-written file.
    pub fn load_or_create(dir: &PrivateDir) -> Result<Self, SealError> {
        let path = dir.join(KEY_FILE);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => return Self::load(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SealError::io(&path, &e)),
        }
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key)
            .map_err(|e| SealError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)
            .map_err(|e| SealError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        let staged = dir.join(&format!(".{KEY_FILE}.{}", hex::encode(nonce)));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staged)
            .and_then(|mut file| file.write_all(&key).and_then(|()| file.sync_all()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&staged);
            return Err(SealError::io(&staged, &e));
        }
        // `link` never replaces: whoever links first made the key.
        let linked = std::fs::hard_link(&staged, &path);
        let _ = std::fs::remove_file(&staged);
        match linked {
            Ok(()) => Ok(Self { key }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(&path),
            Err(e) => Err(SealError::io(&path, &e)),
        }
    }

    fn load(path: &Path) -> Result<Self, SealError> {
        let metadata = std::fs::symlink_metadata(path).map_err(|e| SealError::io(path, &e))?;
        let user = rustix::process::geteuid().as_raw();
        if !metadata.is_file() {
            return Err(SealError::untrusted(path, "the key is not a regular file"));
        }
        if metadata.uid() != user {
            return Err(SealError::untrusted(path, format!("the key is owned by uid {}", metadata.uid())));
        }
        if metadata.mode() & 0o077 != 0 {
            let mode = metadata.mode() & 0o7777;
            return Err(SealError::untrusted(path, format!("the key has mode {mode:o}; it must be 0600")));
        }
        let bytes = std::fs::read(path).map_err(|e| SealError::io(path, &e))?;
        let key = <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
            SealError::untrusted(path, format!("the key is {} bytes, not {KEY_BYTES}", bytes.len()))
        })?;
        Ok(Self { key })
    }

    /// A key from bytes (tests and embedders that keep the key elsewhere).
    pub fn from_bytes(key: [u8; KEY_BYTES]) -> Self {
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length: this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
    }

    /// The tag of `bytes` (lowercase hex HMAC-SHA256).
    pub fn tag(&self, bytes: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(bytes);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `tag` is the tag of `bytes` (constant-time comparison).
    pub fn verify(&self, bytes: &[u8], tag: &str) -> bool {
        let Ok(tag) = hex::decode(tag) else { return false };
        let mut mac = self.mac();
        mac.update(bytes);
        mac.verify_slice(&tag).is_ok()
    }

    /// A raw tag (HMAC-SHA256) computed over pieces fed in order, for data
    /// too large to hold in memory at once; the caller separates
    /// variable-length pieces itself.
    pub fn stream(&self) -> SealStream {
        SealStream { mac: self.mac() }
    }

    /// `bytes` with a first line that seals them.
    pub fn seal(&self, bytes: &[u8]) -> Vec<u8> {
        let mut sealed = format!("{SEAL_PREFIX}{}\n", self.tag(bytes)).into_bytes();
        sealed.extend_from_slice(bytes);
        sealed
    }

    /// The bytes a [`SealKey::seal`]ed file holds, if its seal verifies;
    /// `path` names the file in the error.
    pub fn unseal<'a>(&self, sealed: &'a [u8], path: &Path) -> Result<&'a [u8], SealError> {
        let bad = || SealError::BadSeal { path: path.display().to_string() };
        let newline = sealed.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let (line, body) = (&sealed[..newline], &sealed[newline + 1..]);
        let tag = std::str::from_utf8(line).ok().and_then(|l| l.strip_prefix(SEAL_PREFIX)).ok_or_else(bad)?;
        if self.verify(body, tag) { Ok(body) } else { Err(bad()) }
    }
}

/// A tag being computed: see [`SealKey::stream`].
pub struct SealStream {
    mac: Hmac<Sha256>,
}

impl SealStream {
    /// Feeds the next piece.
    pub fn update(&mut self, bytes: &[u8]) {
        self.mac.update(bytes);
    }

    /// The tag of everything fed.
    pub fn finish(self) -> [u8; 32] {
        self.mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of everything fed (constant-time comparison).
    pub fn verifies(self, tag: &[u8]) -> bool {
        self.mac.verify_slice(tag).is_ok()
    }
}
