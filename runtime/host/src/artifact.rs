//! Content-addressed cache of compiled components.
//!
//! Key: sha256 of the component bytes plus a sha256 of the engine's
//! `precompile_compatibility_hash()` (compiler version, target, every setting
//! that changes code generation). File: `<component>-<engine>.cwasm`, holding
//! the artifact followed by a sha256 over the component digest, the engine
//! key and the artifact, which binds the artifact to the component it was
//! compiled from. On load the trailer is checked before the artifact is
//! handed to wasmtime; a missing, truncated, corrupted, swapped or
//! incompatible artifact is recompiled and rewritten, never run.
//!
//! This module holds the one `unsafe` block in the host: deserialising an
//! artifact trusts it to be code this runtime compiled.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{LoadError, RuntimeError};

const TRAILER: usize = 32;

/// Where compiled artifacts live, if anywhere.
pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained, for diagnostics and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Loaded from a verified cached artifact.
    Cache,
    /// Compiled now (and written to the cache, if there is one).
    Compiled,
}

impl ArtifactCache {
    pub(crate) fn open(dir: Option<PathBuf>, engine: &Engine) -> Result<Self, RuntimeError> {
        if let Some(dir) = &dir {
            prepare_dir(dir).map_err(|reason| RuntimeError::Cache { path: dir.clone(), reason })?;
        }
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
        let Some(dir) = &self.dir else {
            return Ok((compile(engine, wasm)?, Source::Compiled));
        };
        let path = dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        let seal = Seal { digest, engine_key: &self.engine_key };
        if let Some(component) = load_verified(engine, &path, &seal) {
            return Ok((component, Source::Cache));
        }
        let artifact = engine.precompile_component(wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        // A cache write failure is not fatal: the tool still runs, compiled.
        if let Err(e) = store(dir, &path, &artifact, &seal) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compiled artifact");
        }
        Ok((deserialize(engine, &artifact).map_err(LoadError::Invalid)?, Source::Compiled))
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, LoadError> {
    Component::new(engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))
}

/// What an artifact is bound to: the component it was compiled from and the
/// engine settings it was compiled for.
struct Seal<'a> {
    digest: &'a str,
    engine_key: &'a str,
}

impl Seal<'_> {
    fn over(&self, artifact: &[u8]) -> [u8; TRAILER] {
        let mut h = Sha256::new();
        h.update(b"airlock-artifact-v1\0");
        h.update(self.digest.as_bytes());
        h.update(b"\0");
        h.update(self.engine_key.as_bytes());
        h.update(b"\0");
        h.update(artifact);
        h.finalize().into()
    }
}

/// Reads and verifies a cached artifact; `None` means "recompile".
fn load_verified(engine: &Engine, path: &Path, seal: &Seal<'_>) -> Option<Component> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() <= TRAILER {
        tracing::warn!(path = %path.display(), "cached artifact is truncated; recompiling");
        return None;
    }
    let (artifact, trailer) = bytes.split_at(bytes.len() - TRAILER);
    if seal.over(artifact).as_slice() != trailer {
        tracing::warn!(path = %path.display(), "cached artifact does not match its seal; recompiling");
        return None;
    }
    match deserialize(engine, artifact) {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cached artifact rejected; recompiling");
            None
        }
    }
}

/// The one audited `unsafe` site of the host.
#[allow(unsafe_code, reason = "wasmtime requires unsafe to load precompiled code; see SAFETY")]
fn deserialize(engine: &Engine, artifact: &[u8]) -> Result<Component, String> {
    if Engine::detect_precompiled(artifact) != Some(wasmtime::Precompiled::Component) {
        return Err("not a precompiled component".to_owned());
    }
    // SAFETY: `artifact` is either bytes this process just produced with
    // `Engine::precompile_component`, or bytes read from a cache directory
    // that only this user can write (checked by `prepare_dir`) whose seal
    // (sha256 over component digest, engine key and artifact) matched. wasmtime additionally checks the engine compatibility
    // header and rejects artifacts built with other settings.
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

/// Creates the cache directory (mode 0700) and refuses one that other users
/// can write to: whoever can write an artifact can run native code here.
fn prepare_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| format!("cannot create: {e}"))?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.is_dir() {
        return Err("not a directory".to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "is writable by group or others (mode {:o}); run `chmod go-w` on it",
                mode & 0o777
            ));
        }
    }
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
