//! Single use of tokens: a record of every `(iss, jti)` accepted, kept until
//! the token could no longer verify anyway.
//!
//! In memory by default; with a file, the record is shared by every airlock
//! process using that file and survives restarts. The file is a text log of
//! `<expiry> <sha256(iss, jti)>` lines behind a header, appended under an
//! exclusive lock on a sibling `.lock` file, so two processes cannot both
//! accept the same token. It is not fsynced per entry: it survives a process
//! crash or restart, not a power loss (tokens live at most minutes).
//! Expired entries are dropped by rewriting the file atomically (write,
//! rename) when they outnumber live ones.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::{TokenError, TrustError};

const HEADER: &str = "airlock-replay-cache v1\n";
/// Compact when the file holds more than this many entries and at least
/// half of them have expired.
const COMPACT_AFTER: usize = 4096;

type Key = [u8; 32];

/// The record of used tokens. See the module documentation.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<Inner>,
    /// A record shared by a fleet (a database), instead of the map and file.
    shared: Option<Box<dyn SharedReplay>>,
}

/// How a second use of a token id is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Any second use is a replay: a token for one run or one launch.
    Never,
    /// The very same token may be presented again until it expires (a
    /// bearer token a load balancer spreads over replicas); a *different*
    /// token with the same `(iss, jti)` is a replay.
    SameToken([u8; 32]),
}

/// A replay record shared by several processes or machines (PostgreSQL),
/// behind [`ReplayCache::shared`]. Keys are SHA-256 digests of the issuer
/// and `jti`; token hashes are SHA-256 digests of the token: no token or
/// claim is ever stored.
pub trait SharedReplay: Send + Sync + std::fmt::Debug {
    /// Records `key` as used until `forget_after` (seconds since the
    /// epoch) by the token hashed `token`, atomically across every
    /// process. `Ok(true)`: the first use, or (with `same_token_allowed`)
    /// a use of the token that was recorded; `Ok(false)`: a replay. `Err`
    /// if the record cannot be reached: the token is then refused.
    fn consume(
        &self,
        key: [u8; 32],
        token: [u8; 32],
        same_token_allowed: bool,
        forget_after: u64,
    ) -> Result<bool, String>;
}

#[derive(Debug, Default)]
struct Inner {
    /// Key → the time after which the entry may be forgotten.
    seen: HashMap<Key, u64>,
    /// In memory, expired entries are dropped when the map reaches this
    /// size; it then doubles, so purging costs O(1) amortised per token.
    purge_at: usize,
    file: Option<Backing>,
}

#[derive(Debug)]
struct Backing {
    path: PathBuf,
    lock: File,
    data: File,
    identity: FileIdentity,
    read_to: u64,
    /// Lines in the file (live or expired).
    entries: usize,
    /// Consider compacting when `entries` reaches this; then it doubles, so
    /// the check costs O(1) amortised per token.
    compact_at: usize,
}

impl ReplayCache {
    /// A cache held in this process only.
    pub fn in_memory() -> Self {
        Self { inner: Mutex::new(Inner { purge_at: COMPACT_AFTER, ..Inner::default() }), shared: None }
    }

    /// A cache kept in `store`, shared by every process using it (a
    /// fleet's database).
    pub fn shared(store: Box<dyn SharedReplay>) -> Self {
        Self { inner: Mutex::new(Inner::default()), shared: Some(store) }
    }

    /// A cache shared through `path` (created, mode 0600, if missing). A file
    /// that is not a replay cache is refused.
    pub fn open(path: &Path) -> Result<Self, TrustError> {
        let fail = |reason: String| TrustError::ReplayCache { path: path.display().to_string(), reason };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| fail(format!("cannot create directory: {e}")))?;
            refuse_shared_dir(dir).map_err(fail)?;
        }
        let lock = private_options()
            .read(true)
            .write(true)
            .truncate(false)
            .open(lock_path(path))
            .map_err(|e| fail(format!("cannot open lock file: {e}")))?;
        lock.lock().map_err(|e| fail(format!("cannot lock: {e}")))?;
        let data = open_data(path).map_err(|e| fail(e.to_string()))?;
        let identity = FileIdentity::of(&data).map_err(|e| fail(e.to_string()))?;
        let mut backing = Backing {
            path: path.to_owned(),
            lock,
            data,
            identity,
            read_to: 0,
            entries: 0,
            compact_at: COMPACT_AFTER,
        };
        let mut seen = HashMap::new();
        let result = backing.load(&mut seen, now());
        backing.lock.unlock().map_err(|e| fail(format!("cannot unlock: {e}")))?;
        result.map_err(fail)?;
        Ok(Self {
            inner: Mutex::new(Inner { seen, purge_at: COMPACT_AFTER, file: Some(backing) }),
            shared: None,
        })
    }

    /// Records `(issuer, jti)` as used until `forget_after` (seconds since
    /// the epoch), or fails with [`TokenError::Replayed`] if it already was.
    pub fn consume(&self, issuer: &str, jti: &str, forget_after: u64) -> Result<(), TokenError> {
        self.consume_as(issuer, jti, Reuse::Never, forget_after)
    }

    /// [`ReplayCache::consume`], judging a second use by `reuse`. Only a
    /// shared record tells tokens apart: in this process the caller keeps
    /// verified bearer tokens itself, so a local record treats every second
    /// use as a replay.
    pub fn consume_as(
        &self,
        issuer: &str,
        jti: &str,
        reuse: Reuse,
        forget_after: u64,
    ) -> Result<(), TokenError> {
        let key = key(issuer, jti);
        if let Some(store) = &self.shared {
            let (token, same_token_allowed) = match reuse {
                Reuse::Never => ([0; 32], false),
                Reuse::SameToken(token) => (token, true),
            };
            return match store.consume(key, token, same_token_allowed, forget_after) {
                Ok(true) => Ok(()),
                Ok(false) => Err(TokenError::Replayed(jti.to_owned())),
                Err(reason) => Err(TokenError::ReplayCache(reason)),
            };
        }
        let now = now();
        let mut inner = self.inner.lock().map_err(|_| TokenError::ReplayCache("lock poisoned".to_owned()))?;
        let Inner { seen, purge_at, file } = &mut *inner;
        match file {
            None => {
                if seen.get(&key).is_some_and(|&until| until >= now) {
                    return Err(TokenError::Replayed(jti.to_owned()));
                }
                if seen.len() >= *purge_at {
                    seen.retain(|_, until| *until >= now);
                    *purge_at = (seen.len() * 2).max(COMPACT_AFTER);
                }
                seen.insert(key, forget_after);
                Ok(())
            }
            Some(backing) => backing.consume(seen, key, forget_after, now).map_err(|e| match e {
                Consume::Replayed => TokenError::Replayed(jti.to_owned()),
                Consume::Io(reason) => TokenError::ReplayCache(reason),
            }),
        }
    }
}

enum Consume {
    Replayed,
    Io(String),
}

impl Backing {
    fn consume(
        &mut self,
        seen: &mut HashMap<Key, u64>,
        key: Key,
        until: u64,
        now: u64,
    ) -> Result<(), Consume> {
        let io = |e: std::io::Error| Consume::Io(e.to_string());
        self.lock.lock().map_err(io)?;
        let result = self.consume_locked(seen, key, until, now);
        self.lock.unlock().map_err(io)?;
        result
    }

    fn consume_locked(
        &mut self,
        seen: &mut HashMap<Key, u64>,
        key: Key,
        until: u64,
        now: u64,
    ) -> Result<(), Consume> {
        // Another process may have replaced the file (compaction) or
        // appended to it since we last looked.
        let io = |e: std::io::Error| Consume::Io(e.to_string());
        if FileIdentity::at(&self.path).ok() != Some(self.identity) {
            self.data = open_data(&self.path).map_err(io)?;
            self.identity = FileIdentity::of(&self.data).map_err(io)?;
            self.read_to = 0;
            self.entries = 0;
            seen.clear();
        }
        self.load(seen, now).map_err(Consume::Io)?;
        if seen.get(&key).is_some_and(|&t| t >= now) {
            return Err(Consume::Replayed);
        }
        let line = format!("{until} {}\n", hex::encode(key));
        self.data.seek(SeekFrom::End(0)).map_err(|e| Consume::Io(e.to_string()))?;
        self.data.write_all(line.as_bytes()).map_err(|e| Consume::Io(e.to_string()))?;
        self.read_to += line.len() as u64;
        self.entries += 1;
        seen.insert(key, until);
        if self.entries >= self.compact_at {
            let expired = self.entries.saturating_sub(seen.values().filter(|&&t| t >= now).count());
            if expired * 2 > self.entries {
                self.compact(seen, now).map_err(|e| Consume::Io(e.to_string()))?;
            }
            self.compact_at = (self.entries * 2).max(COMPACT_AFTER);
        }
        Ok(())
    }

    /// Reads entries appended since the last read. Lines that do not parse
    /// (a write torn by a crash) are skipped.
    fn load(&mut self, seen: &mut HashMap<Key, u64>, now: u64) -> Result<(), String> {
        let len = self.data.metadata().map_err(|e| e.to_string())?.len();
        if len == 0 {
            self.data.write_all(HEADER.as_bytes()).map_err(|e| e.to_string())?;
            self.read_to = HEADER.len() as u64;
            return Ok(());
        }
        if len <= self.read_to {
            return Ok(());
        }
        self.data.seek(SeekFrom::Start(self.read_to)).map_err(|e| e.to_string())?;
        let mut text = String::new();
        (&self.data)
            .take(len - self.read_to)
            .read_to_string(&mut text)
            .map_err(|e| format!("unreadable: {e}"))?;
        let mut body = text.as_str();
        if self.read_to == 0 {
            body = body.strip_prefix(HEADER).ok_or("not an airlock replay cache (wrong header)")?;
        }
        // Only complete lines; a torn tail is completed with a newline so the
        // next append starts a fresh line.
        let complete = body.rfind('\n').map_or(0, |i| i + 1);
        for line in body[..complete].lines() {
            if let Some((until, key)) = parse_line(line) {
                self.entries += 1;
                if until >= now {
                    seen.insert(key, until);
                }
            }
        }
        self.read_to = len;
        if complete < body.len() {
            self.data.write_all(b"\n").map_err(|e| e.to_string())?;
            self.read_to += 1;
        }
        Ok(())
    }

    fn compact(&mut self, seen: &mut HashMap<Key, u64>, now: u64) -> std::io::Result<()> {
        seen.retain(|_, t| *t >= now);
        let tmp = self.path.with_extension("compact");
        let mut out = private_options().write(true).create(true).truncate(true).open(&tmp)?;
        let mut text = String::from(HEADER);
        for (key, until) in seen.iter() {
            text.push_str(&format!("{until} {}\n", hex::encode(key)));
        }
        out.write_all(text.as_bytes())?;
        std::fs::rename(&tmp, &self.path)?;
        self.data = open_data(&self.path)?;
        self.identity = FileIdentity::of(&self.data)?;
        self.read_to = text.len() as u64;
        self.entries = seen.len();
        Ok(())
    }
}

fn parse_line(line: &str) -> Option<(u64, Key)> {
    let (until, key) = line.split_once(' ')?;
    let until = until.parse().ok()?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(key, &mut out).ok()?;
    Some((until, out))
}

fn key(issuer: &str, jti: &str) -> Key {
    let mut hasher = Sha256::new();
    hasher.update((issuer.len() as u64).to_be_bytes());
    hasher.update(issuer.as_bytes());
    hasher.update(jti.as_bytes());
    hasher.finalize().into()
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_data(path: &Path) -> std::io::Result<File> {
    private_options().read(true).append(true).create(true).open(path)
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Anyone who can write the directory can replace the cache and reopen the
/// replay window: refuse a directory group or others can write.
fn refuse_shared_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|e| format!("cannot inspect directory: {e}"))?
            .permissions()
            .mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "directory `{}` is writable by group or others (mode {:o}); use a private directory",
                dir.display(),
                mode & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Which file a handle refers to, to notice a rename over our path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity(u64, u64);

impl FileIdentity {
    #[cfg(unix)]
    fn of(file: &File) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata()?;
        Ok(Self(m.dev(), m.ino()))
    }

    #[cfg(unix)]
    fn at(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(Self(m.dev(), m.ino()))
    }

    #[cfg(not(unix))]
    fn of(_file: &File) -> std::io::Result<Self> {
        Ok(Self(0, 0))
    }

    #[cfg(not(unix))]
    fn at(_path: &Path) -> std::io::Result<Self> {
        Ok(Self(0, 0))
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_refuses_second_use() {
        let cache = ReplayCache::in_memory();
        let later = now() + 600;
        assert_eq!(cache.consume("iss", "a", later), Ok(()));
        assert_eq!(cache.consume("iss", "a", later), Err(TokenError::Replayed("a".into())));
        assert_eq!(cache.consume("other-iss", "a", later), Ok(()), "jti is per issuer");
    }

    #[test]
    fn file_survives_reopen_and_is_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/replay");
        let later = now() + 600;
        let first = ReplayCache::open(&path).expect("open");
        let second = ReplayCache::open(&path).expect("open twice");
        first.consume("iss", "a", later).expect("first use");
        assert_eq!(second.consume("iss", "a", later), Err(TokenError::Replayed("a".into())), "shared");
        drop((first, second));
        let reopened = ReplayCache::open(&path).expect("reopen");
        assert_eq!(reopened.consume("iss", "a", later), Err(TokenError::Replayed("a".into())), "restart");
        assert_eq!(reopened.consume("iss", "b", later), Ok(()));
    }

    #[test]
    #[cfg(unix)]
    fn a_shared_directory_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).expect("mkdir");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = ReplayCache::open(&shared.join("replay")).expect_err("shared dir");
        assert!(err.to_string().contains("writable by group or others"), "{err}");
    }

    #[test]
    fn expired_entries_are_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("replay");
        let cache = ReplayCache::open(&path).expect("open");
        cache.consume("iss", "old", now() - 1).expect("record");
        let reopened = ReplayCache::open(&path).expect("reopen");
        assert_eq!(reopened.consume("iss", "old", now() + 60), Ok(()));
    }

    #[test]
    fn torn_tail_is_skipped_and_foreign_file_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("replay");
        std::fs::write(&path, format!("{HEADER}123 abc")).expect("write");
        let cache = ReplayCache::open(&path).expect("torn tail is tolerated");
        cache.consume("iss", "x", now() + 60).expect("append after torn tail");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("123 abc\n"), "torn line terminated: {text:?}");
        assert_eq!(
            ReplayCache::open(&path).expect("reopen").consume("iss", "x", now() + 60),
            Err(TokenError::Replayed("x".into()))
        );

        let foreign = dir.path().join("foreign");
        std::fs::write(&foreign, "hello\n").expect("write");
        let err = ReplayCache::open(&foreign).expect_err("not a cache");
        assert!(err.to_string().contains("wrong header"), "{err}");
    }

    #[test]
    fn compaction_keeps_live_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("replay");
        let cache = ReplayCache::open(&path).expect("open");
        let other = ReplayCache::open(&path).expect("open");
        for i in 0..COMPACT_AFTER + 10 {
            cache.consume("iss", &format!("old{i}"), now() - 10).expect("old");
        }
        cache.consume("iss", "live", now() + 600).expect("live");
        for i in 0..COMPACT_AFTER {
            cache.consume("iss", &format!("more{i}"), now() - 10).expect("old");
        }
        let size = std::fs::metadata(&path).expect("meta").len();
        assert!(size < (COMPACT_AFTER as u64) * 40, "compacted: {size} bytes");
        assert_eq!(other.consume("iss", "live", now() + 600), Err(TokenError::Replayed("live".into())));
    }
}
