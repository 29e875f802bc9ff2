//! Establishing who calls: a bearer token per HTTP request, or a token file
//! fixed at launch for stdio.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use airlock_gateway::{Caller, Callers};
use airlock_identity::Verifier;
use sha2::{Digest, Sha256};

use crate::error::IdentityError;

/// Verifies the bearer token of each HTTP request: the gateway's
/// [`Callers`] (each token verified in full once, then remembered by hash
/// until it expires).
pub type BearerTokens = Callers;

/// The stdio identity: a token file read at launch and re-read when it
/// changes (rotation by rename or in-place write), so a long session
/// outlives its short-lived tokens. The client never names the identity.
///
/// A rotated token that fails verification is an error for every call
/// until the file holds a good one: there is no fallback to the old token.
pub struct TokenFile {
    path: PathBuf,
    callers: Callers,
    current: Mutex<Option<Loaded>>,
}

/// The verified token the file held when last read.
struct Loaded {
    stamp: FileStamp,
    token_hash: [u8; 32],
    caller: Arc<Caller>,
}

/// What tells a rewritten file apart: inode, length, modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl TokenFile {
    /// Reads and verifies the token in `path` now, so a bad token fails the
    /// launch instead of the first call.
    pub fn open(path: &Path, verifier: Arc<Verifier>) -> Result<Self, IdentityError> {
        let file = Self { path: path.to_owned(), callers: Callers::new(verifier), current: Mutex::new(None) };
        file.caller()?;
        Ok(file)
    }

    /// Verifies with `verifier` from now on (a reloaded trust
    /// configuration): the token loaded stays valid only while its issuer
    /// and key are still trusted.
    pub fn replace_verifier(&self, verifier: Arc<Verifier>) {
        self.callers.replace_verifier(verifier);
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The caller the file currently names.
    pub fn caller(&self) -> Result<Arc<Caller>, IdentityError> {
        let stamp = self.stamp()?;
        let skew = self.callers.verifier().settings().clock_skew.as_secs();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loaded) = current.as_mut()
            && loaded.stamp != stamp
        {
            // Touched or rewritten: the same token keeps its caller (it was
            // verified, and verifying again would be refused as a replay).
            let text = self.read()?;
            if token_hash(text.trim()) != loaded.token_hash {
                *current = None;
            } else {
                loaded.stamp = stamp;
            }
        }
        if let Some(loaded) = current.as_ref() {
            if loaded.caller.expired(skew) {
                return Err(IdentityError::Expired(self.path.clone()));
            }
            self.callers.still_valid(&loaded.caller)?;
            return Ok(loaded.caller.clone());
        }
        let text = self.read()?;
        let token = text.trim();
        let caller = self.callers.caller(token)?;
        tracing::info!(file = %self.path.display(), sub = %caller.principal().sub(), "stdio identity token loaded");
        *current = Some(Loaded { stamp, token_hash: token_hash(token), caller: caller.clone() });
        Ok(caller)
    }

    fn read(&self) -> Result<String, IdentityError> {
        std::fs::read_to_string(&self.path)
            .map_err(|source| IdentityError::TokenFile { path: self.path.clone(), source })
    }

    fn stamp(&self) -> Result<FileStamp, IdentityError> {
        let meta = std::fs::metadata(&self.path)
            .map_err(|source| IdentityError::TokenFile { path: self.path.clone(), source })?;
        Ok(FileStamp { inode: inode(&meta), len: meta.len(), modified: meta.modified().ok() })
    }
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use airlock_identity::{JwksKeys, LocalKey, ReplayCache, TrustStore, VerifierSettings};
    use serde_json::json;

    use airlock_identity::TokenError;

    use super::*;

    const ISSUER: &str = "https://issuer.test";
    const AUDIENCE: &str = "https://airlock.test/mcp";

    fn verifier(key: &LocalKey) -> Arc<Verifier> {
        let mut trust = TrustStore::new();
        trust
            .add(ISSUER, Box::new(JwksKeys::from_json(ISSUER, &key.jwks().to_string()).expect("jwks")))
            .expect("add");
        Arc::new(
            Verifier::new(trust, VerifierSettings::new(AUDIENCE), ReplayCache::in_memory())
                .expect("verifier"),
        )
    }

    fn token(key: &LocalKey, sub: &str, jti: &str) -> String {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        key.sign(
            &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300, "jti": jti}),
        )
        .expect("sign")
    }

    #[test]
    fn a_bearer_token_is_reusable_but_its_jti_is_not() {
        let key = LocalKey::generate().expect("key");
        let tokens = BearerTokens::new(verifier(&key));
        let first = token(&key, "agent:a", "jti-1");
        let caller = tokens.caller(&first).expect("first use");
        let again = tokens.caller(&first).expect("same token again");
        assert!(Arc::ptr_eq(&caller, &again), "the verified caller (and its decisions) is reused");
        let forged = token(&key, "agent:b", "jti-1");
        assert!(matches!(tokens.caller(&forged), Err(TokenError::Replayed(_))));
        assert!(matches!(tokens.caller("garbage"), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn a_token_file_follows_rotation_and_survives_a_touch() {
        let key = LocalKey::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, token(&key, "agent:a", "a")).expect("write");
        let file = TokenFile::open(&path, verifier(&key)).expect("open");
        assert_eq!(file.caller().expect("caller").principal().sub(), "agent:a");
        let same = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, format!("{same}\n")).expect("touch");
        assert_eq!(file.caller().expect("same token").principal().sub(), "agent:a");
        std::fs::write(&path, token(&key, "agent:b", "b")).expect("rotate");
        assert_eq!(file.caller().expect("rotated").principal().sub(), "agent:b");
        std::fs::write(&path, "not a token").expect("break");
        assert!(matches!(file.caller(), Err(IdentityError::Token(TokenError::Malformed(_)))));
        std::fs::remove_file(&path).expect("remove");
        let error = file.caller().expect_err("no file");
        assert!(error.to_string().starts_with("cannot read the token file"), "{error}");
    }
}
