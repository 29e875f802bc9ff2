//! Signed checkpoints: an Ed25519 signature over the chain head, written
//! into the chain every N records, so a log copied elsewhere can be checked
//! against its signer's public key. Without them, whoever can rewrite the
//! file and recompute every hash can forge a consistent chain; with them,
//! they must also hold the private key.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ChainSummary;
use crate::chain::walk_reader;
use crate::error::{AuditError, ChainError};
use crate::event::{CheckpointEvent, Event};

/// What a checkpoint signs: a domain tag, the sequence number and the
/// record hash, one per line.
pub fn checkpoint_message(seq: u64, head: &str) -> Vec<u8> {
    format!("airlock.audit.checkpoint/v1\n{seq}\n{head}").into_bytes()
}

/// The first 16 hex digits of SHA-256 over an Ed25519 public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Signs the chain head after every record whose sequence number is a
/// multiple of `every` (and on demand, [`crate::FileLog::checkpoint`]).
#[derive(Clone)]
pub struct Checkpointer {
    key: SigningKey,
    key_id: String,
    every: u64,
}

impl fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpointer").field("key_id", &self.key_id).field("every", &self.every).finish()
    }
}

impl Checkpointer {
    /// Default interval: a checkpoint after every 100th record.
    pub const DEFAULT_EVERY: u64 = 100;

    /// Signs with `key` after every `every`th record (at least 1).
    pub fn new(key: SigningKey, every: u64) -> Self {
        let key_id = key_id(&key.verifying_key());
        Self { key, key_id, every: every.max(1) }
    }

    /// Reads a PKCS#8 PEM private key. The file must be readable by its
    /// owner only: a signing key others can read signs nothing.
    pub fn from_file(path: &Path, every: u64) -> Result<Self, AuditError> {
        let bad = |reason: String| AuditError::Io { path: path.to_owned(), reason };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "the checkpoint key is readable or writable by group or others (mode {:o}): chmod 600 it",
                    mode & 0o777
                )));
            }
        }
        let pem = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let key = SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| bad(format!("not an Ed25519 private key (PKCS#8 PEM): {e}")))?;
        Ok(Self::new(key, every))
    }

    /// A fresh key from the operating system's randomness, as (private
    /// PKCS#8 PEM, public SPKI PEM).
    pub fn generate_pem() -> Result<(String, String), AuditError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| AuditError::Key(format!("no randomness: {e}")))?;
        let key = SigningKey::from_bytes(&seed);
        let private =
            key.to_pkcs8_pem(LineEnding::LF).map_err(|e| AuditError::Key(e.to_string()))?.to_string();
        let public = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| AuditError::Key(e.to_string()))?;
        Ok((private, public))
    }

    /// The signing key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether a checkpoint follows the record `seq`.
    pub fn due(&self, seq: u64) -> bool {
        seq.is_multiple_of(self.every)
    }

    /// The checkpoint for record `seq` with hash `head` (for a sink that
    /// keeps the chain elsewhere: it appends the event after that record).
    pub fn sign(&self, seq: u64, head: &str) -> Event {
        let signature = self.key.sign(&checkpoint_message(seq, head));
        Event::Checkpoint(CheckpointEvent {
            signed_seq: seq,
            signed_head: head.to_owned(),
            key_id: self.key_id.clone(),
            signature: hex::encode(signature.to_bytes()),
        })
    }
}

/// Reads an Ed25519 public key (SPKI PEM, as `airlock audit keygen` writes).
pub fn public_key_from_pem(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| format!("not an Ed25519 public key (SPKI PEM): {e}"))
}

/// What checking a log against its signer found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedSummary {
    /// The chain itself.
    pub chain: ChainSummary,
    /// Checkpoints found, all verified.
    pub checkpoints: u64,
    /// The last record a checkpoint covers (0: none).
    pub signed_through: u64,
}

/// [`crate::verify`], and every checkpoint's signature checked with `key`.
/// A log with no checkpoint at all is refused: whoever rewrote it could
/// simply have left them out.
pub fn verify_signed(log: &[u8], key: &VerifyingKey) -> Result<SignedSummary, ChainError> {
    verify_signed_reader(log, key)
}

/// [`verify_signed`] over a reader, one line at a time (memory does not
/// grow with the log).
pub fn verify_signed_reader(
    log: impl std::io::BufRead,
    key: &VerifyingKey,
) -> Result<SignedSummary, ChainError> {
    let expected_id = key_id(key);
    let mut checkpoints = 0;
    let mut signed_through = 0;
    let chain = walk_reader(log, |record| {
        let Event::Checkpoint(checkpoint) = &record.event else { return Ok(()) };
        let bad = |reason: String| ChainError { seq: record.seq, reason };
        if checkpoint.key_id != expected_id {
            return Err(bad(format!(
                "checkpoint signed by key {}, not by the key given ({expected_id})",
                checkpoint.key_id
            )));
        }
        let signature = hex::decode(&checkpoint.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or_else(|| bad("checkpoint signature is malformed".into()))?;
        key.verify(&checkpoint_message(checkpoint.signed_seq, &checkpoint.signed_head), &signature).map_err(
            |_| bad("checkpoint signature does not verify: the records before it were rewritten".into()),
        )?;
        checkpoints += 1;
        signed_through = checkpoint.signed_seq;
        Ok(())
    })?;
    if checkpoints == 0 {
        return Err(ChainError {
            seq: chain.records.max(1),
            reason: "no signed checkpoint in the log: nothing in it is signed".into(),
        });
    }
    Ok(SignedSummary { chain, checkpoints, signed_through })
}
