//! The secret store: named values the host uses on a tool's behalf and
//! never hands to it.
//!
//! [`SecretStore`] is the interface every backend implements; callers (the
//! CLI, the MCP server) hold a `Box<dyn SecretStore>`. The embedded default,
//! [`AgeFileStore`], needs no outside service: one age-encrypted file and the
//! X25519 key that opens it, in a private directory. A Vault or OpenBao
//! backend fits behind the same trait (read-only backends answer
//! [`StoreError::ReadOnly`] to `set` and `remove`).
//!
//! Values are [`SecretString`]s: readable only through
//! [`ExposeSecret::expose_secret`], `Debug` prints no value, and the memory is
//! zeroed on drop.
#![forbid(unsafe_code)]

mod error;
mod file;
mod name;

pub use error::StoreError;
pub use file::{AgeFileStore, KEY_FILE, STORE_FILE};
pub use name::validate_name;
pub use secrecy::{ExposeSecret, SecretString};

/// What `list` shows of a secret: never its value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecretInfo {
    /// The name tools request it by.
    pub name: String,
    /// When it was first set, in seconds since the Unix epoch.
    pub created: u64,
    /// When it was last set, in seconds since the Unix epoch.
    pub updated: u64,
    /// Length of the value in bytes.
    pub bytes: usize,
}

/// A backend that holds secrets.
pub trait SecretStore: Send + Sync {
    /// The value of `name`, or `None` if the store has no such secret.
    fn get(&self, name: &str) -> Result<Option<SecretString>, StoreError>;

    /// Every secret's name and metadata, sorted by name.
    fn list(&self) -> Result<Vec<SecretInfo>, StoreError>;

    /// Sets `name` to `value`, creating or replacing it, and persists.
    fn set(&mut self, name: &str, value: SecretString) -> Result<(), StoreError>;

    /// Removes `name` and persists; false if there was no such secret.
    fn remove(&mut self, name: &str) -> Result<bool, StoreError>;
}
