//! Content-addressed cache of compiled components.
//!
//! Key: sha256 of the component bytes plus a sha256 of the engine's
//! `precompile_compatibility_hash()` (compiler version, target, every setting
//! that changes code generation). File: `<component>-<engine>.cwasm`, holding
//! the artifact followed by a seal: HMAC-SHA256, keyed with the running
//! user's secret (`seal.key`, 0600, in the cache directory), over the
//! component digest, the engine key and the artifact. It binds the artifact
//! to the component it was compiled from, and only someone holding the key
//! can make one: an artifact the public inputs were simply re-hashed for is
//! refused. On load the seal is checked before the artifact is handed to
//! wasmtime; a missing, truncated, corrupted, swapped, foreign or
//! incompatible artifact is recompiled and rewritten, never run, and the
//! loaded tool carries a note saying so for the operator.
//!
//! The directory must be private (`airlock_seal::PrivateDir`: owned by the
//! user, not writable by others, nor any directory above it but sticky
//! ones such as `/tmp`): whoever can write there could swap native code.
//!
//! This module holds the one `unsafe` block in the host: deserialising an
//! artifact trusts it to be code this runtime compiled.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_seal::{PrivateDir, SealKey};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{LoadError, RuntimeError};

/// Bytes of the seal after the artifact (one HMAC-SHA256 tag).
const SEAL_BYTES: usize = 32;
/// Domain separation: a tag made for anything else never seals an artifact.
const SEAL_DOMAIN: &[u8] = b"airlock-artifact-v2\0";

/// Where compiled artifacts live, if anywhere.
pub(crate) struct ArtifactCache {
    dir: Option<SealedDir>,
    engine_key: String,
}

/// A private cache directory and the key that seals what is in it.
struct SealedDir {
    dir: PrivateDir,
    key: SealKey,
}

/// How a component was obtained, for diagnostics and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Loaded from a verified cached artifact.
    Cache,
    /// Compiled now (and written to the cache, if there is one).
    Compiled,
    /// Compiled now although the cache held something under its name, or
    /// the artifact could not be written: why, for the operator.
    CompiledWithNote(String),
}

impl Source {
    /// What the operator should be told, if anything.
    pub(crate) fn note(&self) -> Option<&str> {
        match self {
            Self::CompiledWithNote(note) => Some(note),
            Self::Cache | Self::Compiled => None,
        }
    }
}

impl ArtifactCache {
    pub(crate) fn open(dir: Option<PathBuf>, engine: &Engine) -> Result<Self, RuntimeError> {
        let dir = dir
            .map(|path| {
                let refused = |e: airlock_seal::SealError| RuntimeError::Cache {
                    path: path.clone(),
                    reason: e.to_string(),
                };
                let dir = PrivateDir::open(&path).map_err(refused)?;
                let key = SealKey::load_or_create(&dir).map_err(refused)?;
                Ok::<_, RuntimeError>(SealedDir { dir, key })
            })
            .transpose()?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..16]);
        Ok(Self { dir, engine_key })
    }

    /// Returns the compiled component for `wasm` (whose sha256 is `digest`).
    pub(crate) fn get(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &str,
    ) -> Result<(Component, Source), LoadError> {
        let Some(sealed) = &self.dir else {
            return Ok((compile(engine, wasm)?, Source::Compiled));
        };
        let path = sealed.dir.join(&format!("{digest}-{}.cwasm", self.engine_key));
        let seal = Seal { key: &sealed.key, digest, engine_key: &self.engine_key };
        let refused = match load_verified(engine, &path, &seal) {
            Ok(component) => return Ok((component, Source::Cache)),
            Err(refused) => refused,
        };
        let artifact = engine.precompile_component(wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        // A cache write failure is not fatal: the tool still runs, compiled.
        let unwritten = store(sealed.dir.path(), &path, &artifact, &seal)
            .err()
            .map(|e| format!("cannot write compiled artifact `{}`: {e}", path.display()));
        let component = deserialize(engine, &artifact).map_err(LoadError::Invalid)?;
        let note = [refused, unwritten].into_iter().flatten().collect::<Vec<_>>().join("; ");
        let source = if note.is_empty() { Source::Compiled } else { Source::CompiledWithNote(note) };
        Ok((component, source))
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, LoadError> {
    Component::new(engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))
}

/// What an artifact is bound to: the component it was compiled from, the
/// engine settings it was compiled for, and the user's key.
struct Seal<'a> {
    key: &'a SealKey,
    digest: &'a str,
    engine_key: &'a str,
}

impl Seal<'_> {
    fn parts<'b>(&'b self, artifact: &'b [u8]) -> [&'b [u8]; 6] {
        [SEAL_DOMAIN, self.digest.as_bytes(), b"\0", self.engine_key.as_bytes(), b"\0", artifact]
    }

    fn over(&self, artifact: &[u8]) -> [u8; SEAL_BYTES] {
        self.key.tag_parts(&self.parts(artifact))
    }

    fn verifies(&self, artifact: &[u8], tag: &[u8]) -> bool {
        self.key.verify_parts(&self.parts(artifact), tag)
    }
}

/// Reads and verifies a cached artifact. `Err(None)`: there is none;
/// `Err(Some(why))`: there is one, and it is not used (recompile, tell the
/// operator).
fn load_verified(engine: &Engine, path: &Path, seal: &Seal<'_>) -> Result<Component, Option<String>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(e) => {
            return Err(Some(format!("cannot read cached artifact `{}` ({e}); recompiled", path.display())));
        }
    };
    let bad = |why: &str| Some(format!("cached artifact `{}` {why}; recompiled", path.display()));
    if bytes.len() <= SEAL_BYTES {
        return Err(bad("is truncated"));
    }
    let (artifact, tag) = bytes.split_at(bytes.len() - SEAL_BYTES);
    if !seal.verifies(artifact, tag) {
        return Err(bad(
            "is not sealed by this user's key for this component (altered, swapped or written by someone else)",
        ));
    }
    deserialize(engine, artifact).map_err(|e| bad(&format!("was rejected by wasmtime ({e})")))
}

/// The one audited `unsafe` site of the host.
#[allow(unsafe_code, reason = "wasmtime requires unsafe to load precompiled code; see SAFETY")]
fn deserialize(engine: &Engine, artifact: &[u8]) -> Result<Component, String> {
    if Engine::detect_precompiled(artifact) != Some(wasmtime::Precompiled::Component) {
        return Err("not a precompiled component".to_owned());
    }
    // SAFETY: `artifact` is either bytes this process just produced with
    // `Engine::precompile_component`, or bytes read from a private cache
    // directory (owned by this user, writable by no other account, checked
    // by `PrivateDir::open`) whose seal, an HMAC under this user's secret key
    // over component digest, engine key and artifact, verified: only this
    // user's airlock can have written it. wasmtime additionally checks the
    // engine compatibility header and rejects artifacts built with other
    // settings.
    unsafe { Component::deserialize(engine, artifact) }.map_err(|e| format!("{e:#}"))
}

/// Writes `<artifact><seal>` atomically (temp file + rename).
fn store(dir: &Path, path: &Path, artifact: &[u8], seal: &Seal<'_>) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(artifact)?;
    tmp.write_all(&seal.over(artifact))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Feeds `Hash` output into sha256, so the engine key is stable across
/// processes (unlike `DefaultHasher`'s contract).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
