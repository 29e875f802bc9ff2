//! The embedded default store: one age-encrypted JSON file and its key.
//!
//! ```text
//! DIR/            0700
//!   key.txt       0600  the age X25519 identity (AGE-SECRET-KEY-1...)
//!   secrets.age   0600  {"version":1,"secrets":{NAME:{value,created,updated}}}, encrypted to the key
//! ```
//!
//! Without `key.txt` the store is an opaque age file. Every change rewrites
//! the whole file (a temporary file in the same directory, fsynced, renamed
//! over the old one), so a crash leaves the old or the new store, never a
//! mix. Plaintext exists only while encrypting or decrypting, in buffers that
//! are zeroed afterwards.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use age::x25519::Identity;
use secrecy::zeroize::{Zeroize, Zeroizing};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::{SecretInfo, SecretStore, StoreError, validate_name};

/// The key file's name inside the store directory.
pub const KEY_FILE: &str = "key.txt";
/// The encrypted store's name inside the store directory.
pub const STORE_FILE: &str = "secrets.age";
const FORMAT_VERSION: u32 = 1;

/// An age-encrypted file store. Opened once, it holds the decrypted values
/// in memory (as [`SecretString`]s) until dropped.
pub struct AgeFileStore {
    dir: PathBuf,
    identity: Identity,
    entries: BTreeMap<String, Entry>,
}

struct Entry {
    value: SecretString,
    created: u64,
    updated: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    version: u32,
    secrets: BTreeMap<String, StoredEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEntry {
    value: String,
    created: u64,
    updated: u64,
}

impl std::fmt::Debug for AgeFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeFileStore").field("dir", &self.dir).field("secrets", &self.entries.len()).finish()
    }
}

impl AgeFileStore {
    /// Creates a store in `dir` (made 0700 if new): a fresh key (0600) and
    /// an empty encrypted file. Refuses to touch an existing key.
    pub fn init(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        let key_path = dir.join(KEY_FILE);
        let identity = Identity::generate();
        let mut key = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&key_path).map_err(
            |source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => StoreError::Exists(key_path.clone()),
                _ => StoreError::Io { path: key_path.clone(), source },
            },
        )?;
        let text = Zeroizing::new(format!(
            "# airlock secret store key: whoever reads this file can read every secret\n{}\n",
            identity.to_string().expose_secret()
        ));
        key.write_all(text.as_bytes()).and_then(|()| key.sync_all()).map_err(io(&key_path))?;
        let store = Self { dir: dir.to_owned(), identity, entries: BTreeMap::new() };
        store.save()?;
        Ok(store)
    }

    /// Opens the store in `dir`. The key and the directory must not be
    /// accessible to group or others.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let key_path = dir.join(KEY_FILE);
        let store_path = dir.join(STORE_FILE);
        if !key_path.exists() {
            return Err(StoreError::NotInitialised(dir.to_owned()));
        }
        private(dir, 0o700)?;
        private(&key_path, 0o600)?;
        let text = Zeroizing::new(
            fs::read_to_string(&key_path)
                .map_err(|source| StoreError::Io { path: key_path.clone(), source })?,
        );
        let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
        let identity: Identity = line.parse().map_err(|_| StoreError::BadKey { path: key_path.clone() })?;
        let ciphertext =
            fs::read(&store_path).map_err(|source| StoreError::Io { path: store_path.clone(), source })?;
        let plaintext = Zeroizing::new(age::decrypt(&identity, &ciphertext).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                StoreError::WrongKey { key: key_path.clone(), store: store_path.clone() }
            }
            other => StoreError::Corrupt { store: store_path.clone(), reason: other.to_string() },
        })?);
        let stored: Stored = serde_json::from_slice(&plaintext)
            .map_err(|e| StoreError::Corrupt { store: store_path.clone(), reason: e.to_string() })?;
        if stored.version != FORMAT_VERSION {
            return Err(StoreError::Corrupt {
                store: store_path,
                reason: format!("format version {} (this airlock reads {FORMAT_VERSION})", stored.version),
            });
        }
        let entries = stored
            .secrets
            .into_iter()
            .map(|(name, e)| {
                (name, Entry { value: SecretString::from(e.value), created: e.created, updated: e.updated })
            })
            .collect();
        Ok(Self { dir: dir.to_owned(), identity, entries })
    }

    /// Encrypts every entry to the store's key and replaces the file.
    fn save(&self) -> Result<(), StoreError> {
        let store_path = self.dir.join(STORE_FILE);
        let mut stored = Stored {
            version: FORMAT_VERSION,
            secrets: self
                .entries
                .iter()
                .map(|(name, e)| {
                    let value = e.value.expose_secret().to_owned();
                    (name.clone(), StoredEntry { value, created: e.created, updated: e.updated })
                })
                .collect(),
        };
        let plaintext = serde_json::to_vec(&stored).map(Zeroizing::new);
        for entry in stored.secrets.values_mut() {
            entry.value.zeroize();
        }
        let plaintext = plaintext
            .map_err(|e| StoreError::Corrupt { store: store_path.clone(), reason: e.to_string() })?;
        let ciphertext = age::encrypt(&self.identity.to_public(), &plaintext)
            .map_err(|e| StoreError::Corrupt { store: store_path.clone(), reason: e.to_string() })?;
        airlock_seal::replace_file(&store_path, 0o600, |file| file.write_all(&ciphertext))
            .map_err(io(&store_path))
    }
}

impl SecretStore for AgeFileStore {
    fn get(&self, name: &str) -> Result<Option<SecretString>, StoreError> {
        Ok(self.entries.get(name).map(|e| e.value.clone()))
    }

    fn list(&self) -> Result<Vec<SecretInfo>, StoreError> {
        Ok(self
            .entries
            .iter()
            .map(|(name, e)| SecretInfo {
                name: name.clone(),
                created: e.created,
                updated: e.updated,
                bytes: e.value.expose_secret().len(),
            })
            .collect())
    }

    fn set(&mut self, name: &str, value: SecretString) -> Result<(), StoreError> {
        validate_name(name)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let created = self.entries.get(name).map_or(now, |e| e.created);
        self.entries.insert(name.to_owned(), Entry { value, created, updated: now });
        self.save()
    }

    fn remove(&mut self, name: &str) -> Result<bool, StoreError> {
        let removed = self.entries.remove(name).is_some();
        if removed {
            self.save()?;
        }
        Ok(removed)
    }
}

/// Wraps an I/O error with the file it is about.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// Refuses a file or directory that group or others can access.
fn private(path: &Path, wanted: u32) -> Result<(), StoreError> {
    let mode = fs::metadata(path)
        .map_err(|source| StoreError::Io { path: path.to_owned(), source })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Exposed { path: path.to_owned(), mode, wanted });
    }
    Ok(())
}
