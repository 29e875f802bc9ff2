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
//! refused. On load the file is read once, into the seal check and into a
//! private copy (a sealed memfd on Linux, which wasmtime maps without
//! copying again), and only a copy whose seal verified is handed to
//! wasmtime: changing the file afterwards reaches nothing running. A
//! missing, truncated, corrupted, swapped, foreign or
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

use airlock_seal::{PrivateDir, SealKey, SealStream};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{LoadError, RuntimeError};

/// Bytes of the seal after the artifact (one HMAC-SHA256 tag).
const SEAL_BYTES: usize = 32;
/// How much of an artifact is read at once to check its seal.
const READ_PIECE: usize = 1 << 20;
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
        let unwritten = store(&path, &artifact, &seal)
            .err()
            .map(|e| format!("cannot write compiled artifact `{}`: {e}", path.display()));
        let component = deserialize(engine, Artifact::Bytes(&artifact)).map_err(LoadError::Invalid)?;
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
    /// A seal stream that has taken in what the artifact is bound to; the
    /// artifact's bytes follow.
    fn stream(&self) -> SealStream {
        let mut stream = self.key.stream();
        for part in [SEAL_DOMAIN, self.digest.as_bytes(), b"\0", self.engine_key.as_bytes(), b"\0"] {
            stream.update(part);
        }
        stream
    }

    fn over(&self, artifact: &[u8]) -> [u8; SEAL_BYTES] {
        let mut stream = self.stream();
        stream.update(artifact);
        stream.finish()
    }

    /// Copies the first `artifact_len` bytes of `file` into a
    /// [`PrivateCopy`], and says whether the tag that follows them seals
    /// exactly those bytes.
    fn copy_verified(
        &self,
        mut file: std::fs::File,
        artifact_len: u64,
    ) -> std::io::Result<(PrivateCopy, bool)> {
        use std::io::Read;
        let mut stream = self.stream();
        let mut copy = PrivateCopy::new(artifact_len)?;
        let mut piece = vec![0u8; READ_PIECE];
        let mut offset = 0;
        while offset < artifact_len {
            let n = usize::try_from(artifact_len - offset).map_or(READ_PIECE, |left| left.min(READ_PIECE));
            file.read_exact(&mut piece[..n])?;
            stream.update(&piece[..n]);
            copy.append(offset, &piece[..n])?;
            offset += n as u64;
        }
        let mut tag = [0u8; SEAL_BYTES];
        file.read_exact(&mut tag)?;
        Ok((copy, stream.verifies(&tag)))
    }
}

/// Reads and verifies a cached artifact. `Err(None)`: there is none;
/// `Err(Some(why))`: there is one, and it is not used (recompile, tell the
/// operator).
///
/// The file is read once, in pieces: each piece goes into the seal check
/// and into a private copy ([`PrivateCopy`]), and only a copy whose seal
/// verified is handed to wasmtime. Nothing later done to the file (a
/// rewrite in place, a truncation) can reach code that is running.
fn load_verified(engine: &Engine, path: &Path, seal: &Seal<'_>) -> Result<Component, Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(e) => {
            return Err(Some(format!("cannot read cached artifact `{}` ({e}); recompiled", path.display())));
        }
    };
    let bad = |why: &str| Some(format!("cached artifact `{}` {why}; recompiled", path.display()));
    let unreadable = |e: std::io::Error| bad(&format!("cannot be read ({e})"));
    let len = file.metadata().map_err(unreadable)?.len();
    let Some(artifact_len) = len.checked_sub(SEAL_BYTES as u64).filter(|&n| n > 0) else {
        return Err(bad("is truncated"));
    };
    let (copy, verified) = seal.copy_verified(file, artifact_len).map_err(unreadable)?;
    if !verified {
        return Err(bad(
            "is not sealed by this user's key for this component (altered, swapped or written by someone else)",
        ));
    }
    copy.deserialize(engine).map_err(|e| bad(&format!("was rejected by wasmtime ({e})")))
}

/// A copy of an artifact that only this process holds. On Linux an
/// anonymous memory file (`memfd`), sealed against any change once
/// written, which wasmtime maps instead of copying again (its memory images
/// then come from it too); elsewhere, or without `/proc`, bytes in memory.
enum PrivateCopy {
    #[cfg(target_os = "linux")]
    Memfd(std::fs::File),
    Bytes(Vec<u8>),
}

impl PrivateCopy {
    fn new(len: u64) -> std::io::Result<Self> {
        // wasmtime maps a memfd by its `/proc/self/fd` path.
        #[cfg(target_os = "linux")]
        if Path::new("/proc/self/fd").is_dir() {
            use rustix::fs::{MemfdFlags, memfd_create};
            let fd = memfd_create("airlock-artifact", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
            let file = std::fs::File::from(fd);
            file.set_len(len)?;
            return Ok(Self::Memfd(file));
        }
        Ok(Self::Bytes(Vec::with_capacity(usize::try_from(len).unwrap_or(0))))
    }

    fn append(&mut self, offset: u64, piece: &[u8]) -> std::io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Memfd(file) => std::os::unix::fs::FileExt::write_all_at(file, piece, offset),
            Self::Bytes(bytes) => {
                bytes.extend_from_slice(piece);
                Ok(())
            }
        }
    }

    /// Hands the copy to wasmtime (after sealing a memfd: its size and
    /// bytes can no longer change, whoever holds it).
    fn deserialize(self, engine: &Engine) -> Result<Component, String> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Memfd(file) => {
                use rustix::fs::{SealFlags, fcntl_add_seals};
                use std::os::fd::AsRawFd;
                // Defence in depth: the memfd is this process's alone. The
                // kernel can refuse the write seal while it still holds
                // references to pages just written (EBUSY); the copy is then
                // used unsealed rather than not at all.
                let _ = fcntl_add_seals(
                    &file,
                    SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
                );
                deserialize(engine, Artifact::File(Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd()))))
            }
            Self::Bytes(bytes) => deserialize(engine, Artifact::Bytes(&bytes)),
        }
    }
}

/// What wasmtime is handed.
enum Artifact<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// A file to map (`/proc/self/fd/N` of a sealed private copy).
    File(&'a Path),
}

/// The one audited `unsafe` site of the host.
#[allow(unsafe_code, reason = "wasmtime requires unsafe to load precompiled code; see SAFETY")]
fn deserialize(engine: &Engine, artifact: Artifact<'_>) -> Result<Component, String> {
    let kind = match artifact {
        Artifact::Bytes(bytes) => Engine::detect_precompiled(bytes),
        Artifact::File(path) => Engine::detect_precompiled_file(path).ok().flatten(),
    };
    if kind != Some(wasmtime::Precompiled::Component) {
        return Err("not a precompiled component".to_owned());
    }
    // SAFETY: the artifact is either bytes this process just produced with
    // `Engine::precompile_component`, or read from a private cache
    // directory (owned by this user, writable by no other account, checked
    // by `PrivateDir::open`) whose seal, an HMAC under this user's secret key
    // over component digest, engine key and artifact, verified: only this
    // user's airlock can have written it. A mapped file is this process's
    // private copy of exactly the bytes the seal was verified over (a memfd
    // no other process holds, sealed against writes unless the kernel was
    // busy), never the cache file. wasmtime additionally checks the engine
    // compatibility header and rejects artifacts built with other settings.
    let component = unsafe {
        match artifact {
            Artifact::Bytes(bytes) => Component::deserialize(engine, bytes),
            Artifact::File(path) => Component::deserialize_file(engine, path),
        }
    };
    component.map_err(|e| format!("{e:#}"))
}

/// Writes `<artifact><seal>` atomically (temp file + rename).
fn store(path: &Path, artifact: &[u8], seal: &Seal<'_>) -> std::io::Result<()> {
    airlock_seal::replace_file(path, 0o600, |file| {
        file.write_all(artifact)?;
        file.write_all(&seal.over(artifact))
    })
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
