//! The embedded sink: an append-only file of canonical records in a
//! private directory, shared safely by every airlock process on the host.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::chain::{check_line, seal};
use crate::checkpoint::Checkpointer;
use crate::error::AuditError;
use crate::event::{Event, GENESIS, Record};
use crate::sink::{AuditSink, Receipt};

/// The log file inside the directory.
pub const LOG_FILE: &str = "audit.jsonl";
const LOCK_FILE: &str = "audit.lock";
/// A record is never longer than this (free text is bounded); the tail
/// read on append looks no further back.
const MAX_RECORD: u64 = 256 * 1024;

/// When appended records reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every record is on disk (`fdatasync`) before its append returns: a
    /// crash of the machine loses no acknowledged record. The default.
    /// Appends running at once share one `fdatasync` (group commit: the
    /// first to wait syncs everything written so far, and the others find
    /// their record already covered), so throughput grows with
    /// concurrency while each append still waits for its own record.
    EveryRecord,
    /// `fdatasync` after every `n`th record of this process (and when the
    /// log is dropped): a machine crash loses at most `n - 1` acknowledged
    /// records. A crash of airlock alone loses none: written records are in
    /// the kernel's page cache.
    Group(u32),
}

/// The log in a directory: `audit.jsonl` (0600) and a lock file, in a
/// directory created 0700. Every append takes an exclusive lock, reads the
/// chain head from the file's tail, and writes one line, so several
/// processes append to one chain.
pub struct FileLog {
    path: PathBuf,
    lock_path: PathBuf,
    durability: Durability,
    checkpoints: Option<Checkpointer>,
    state: Mutex<State>,
    /// Records this handle has written (under `state`), in file order.
    written: AtomicU64,
    /// Group commit: how far this handle's records are known synced.
    commit: Mutex<Commit>,
    /// Signalled whenever a sync ends: wakes every append waiting on it at
    /// once, not one after another.
    committed: Condvar,
    /// This handle's own descriptor of the log, for syncs: a sync never
    /// waits for the write lock, and holds no lock while the disk works.
    sync_file: File,
}

/// The group-commit side of a handle: how many of this handle's records
/// are on disk, and whether a sync is running.
struct Commit {
    synced: u64,
    syncing: bool,
}

/// The open file and what this handle last knew of the chain head.
struct State {
    file: File,
    lock: File,
    /// The file length when `head` was read or written; if the file has
    /// another length now, another writer appended and the tail is re-read.
    known_len: u64,
    head: (u64, String),
    /// Whether the head record is a checkpoint (none follows a checkpoint).
    head_is_checkpoint: bool,
    unsynced: u32,
}

impl FileLog {
    /// Opens (creating) the log in `dir`. A tail torn by a crash is cut
    /// off and the cut recorded as a [`Event::Recovered`] record. Refuses a
    /// directory that group or others can write, and a log whose last
    /// complete record does not verify.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, AuditError> {
        let io =
            |path: &Path, e: std::io::Error| AuditError::Io { path: path.to_owned(), reason: e.to_string() };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io(dir, e))?;
        let mode = std::fs::metadata(dir).map_err(|e| io(dir, e))?.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(AuditError::Io {
                path: dir.to_owned(),
                reason: format!(
                    "the directory is writable by group or others (mode {:o}): anyone who can replace the log can rewrite history",
                    mode & 0o777
                ),
            });
        }
        let path = dir.join(LOG_FILE);
        let lock_path = dir.join(LOCK_FILE);
        let lock = open_lock(&lock_path)?;
        let file = open_log(&path)?;
        let state = State {
            file,
            lock,
            known_len: u64::MAX,
            head: (0, GENESIS.to_owned()),
            head_is_checkpoint: false,
            unsynced: 0,
        };
        let sync_file = state.file.try_clone().map_err(|e| io(&path, e))?;
        let log = Self {
            path,
            lock_path,
            durability,
            checkpoints: None,
            state: Mutex::new(state),
            written: AtomicU64::new(0),
            commit: Mutex::new(Commit { synced: 0, syncing: false }),
            committed: Condvar::new(),
            sync_file,
        };
        log.durable(|_| Ok(()))?;
        Ok(log)
    }

    /// Runs `body` holding this handle's mutex and the log's exclusive file
    /// lock, after bringing the chain head up to date.
    fn locked<T>(&self, body: impl FnOnce(&mut State) -> Result<T, AuditError>) -> Result<T, AuditError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.lock.lock().map_err(|e| self.io_at(&self.lock_path, e))?;
        let result = self.sync_head(&mut state).and_then(|()| body(&mut state));
        let _ = state.lock.unlock();
        result
    }

    /// [`FileLog::locked`], then (with [`Durability::EveryRecord`]) waits
    /// until every record it wrote is on disk.
    fn durable<T>(&self, body: impl FnOnce(&mut State) -> Result<T, AuditError>) -> Result<T, AuditError> {
        let value = self.locked(body)?;
        if self.durability == Durability::EveryRecord {
            self.commit_through(self.written.load(Ordering::SeqCst))?;
        }
        Ok(value)
    }

    /// Returns once this handle's first `mine` records are on disk: an
    /// append that finds no sync running syncs everything written so far
    /// (without holding any lock while the disk works); appends that find
    /// one running wait for it, and return if it covered their record, or
    /// else the first of them syncs next. A failed sync covers nothing.
    fn commit_through(&self, mine: u64) -> Result<(), AuditError> {
        let mut commit = self.commit.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if commit.synced >= mine {
                return Ok(());
            }
            if !commit.syncing {
                break;
            }
            commit = self.committed.wait(commit).unwrap_or_else(PoisonError::into_inner);
        }
        commit.syncing = true;
        drop(commit);
        // Every record counted here is already written to the file.
        let target = self.written.load(Ordering::SeqCst);
        let synced = self.sync_file.sync_data();
        let mut commit = self.commit.lock().unwrap_or_else(PoisonError::into_inner);
        commit.syncing = false;
        if synced.is_ok() {
            commit.synced = commit.synced.max(target);
        }
        drop(commit);
        self.committed.notify_all();
        synced.map_err(|e| self.io_at(&self.path, e))
    }

    /// Brings this handle's view of the chain head up to date: unchanged
    /// if the file is as this handle left it; otherwise a torn tail (a
    /// writer killed mid-append, here or in another process) is cut off and
    /// the cut recorded, and the head is read from the file.
    fn sync_head(&self, state: &mut State) -> Result<(), AuditError> {
        let len = self.len(&state.file)?;
        if len == state.known_len {
            return Ok(());
        }
        let torn = self.torn_tail(&mut state.file, len)?;
        if torn > 0 {
            state.file.set_len(len - torn).map_err(|e| self.io_at(&self.path, e))?;
            state.file.sync_data().map_err(|e| self.io_at(&self.path, e))?;
            self.refresh_head(state)?;
            self.write_record(state, Event::Recovered { truncated_bytes: torn })?;
        } else {
            self.refresh_head(state)?;
        }
        Ok(())
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn len(&self, file: &File) -> Result<u64, AuditError> {
        Ok(file.metadata().map_err(|e| self.io_at(&self.path, e))?.len())
    }

    fn io_at(&self, path: &Path, e: std::io::Error) -> AuditError {
        AuditError::Io { path: path.to_owned(), reason: e.to_string() }
    }

    /// Bytes after the last newline: a record whose write was cut short.
    fn torn_tail(&self, file: &mut File, len: u64) -> Result<u64, AuditError> {
        match self.read_back(file, len, len, |chunk| chunk.iter().rposition(|&b| b == b'\n'))? {
            Some(newline) => Ok(len - newline - 1),
            // No record was ever completed.
            None if len <= MAX_RECORD + 1 => Ok(len),
            None => Err(AuditError::Io {
                path: self.path.clone(),
                reason: format!(
                    "no record ends in the last {MAX_RECORD} bytes: not a torn write; run `airlock audit verify`"
                ),
            }),
        }
    }

    /// Scans backwards from `end` in small chunks (never more than
    /// `MAX_RECORD` bytes) for the offset `find` reports in a chunk.
    fn read_back(
        &self,
        file: &mut File,
        end: u64,
        len: u64,
        find: impl Fn(&[u8]) -> Option<usize>,
    ) -> Result<Option<u64>, AuditError> {
        const CHUNK: u64 = 4096;
        let floor = len.saturating_sub(MAX_RECORD + 1);
        let mut stop = end;
        let mut buf = vec![0u8; CHUNK as usize];
        while stop > floor {
            let start = stop.saturating_sub(CHUNK).max(floor);
            let chunk = &mut buf[..(stop - start) as usize];
            file.seek(SeekFrom::Start(start)).map_err(|e| self.io_at(&self.path, e))?;
            file.read_exact(chunk).map_err(|e| self.io_at(&self.path, e))?;
            if let Some(at) = find(chunk) {
                return Ok(Some(start + at as u64));
            }
            stop = start;
        }
        Ok(None)
    }

    /// The line number (from 1) of the line starting at byte `offset`: the
    /// sequence number a record there should have. Reads the file up to
    /// it, so only for reporting a broken log.
    fn line_number_at(&self, file: &mut File, offset: u64) -> Result<u64, AuditError> {
        file.seek(SeekFrom::Start(0)).map_err(|e| self.io_at(&self.path, e))?;
        let mut before = Vec::new();
        file.take(offset).read_to_end(&mut before).map_err(|e| self.io_at(&self.path, e))?;
        Ok(before.iter().filter(|&&b| b == b'\n').count() as u64 + 1)
    }

    /// Reads the last record (the file ends with a newline) and checks it is
    /// a record of this log; remembers its sequence number and hash.
    fn refresh_head(&self, state: &mut State) -> Result<(), AuditError> {
        let len = self.len(&state.file)?;
        if len == 0 {
            state.head = (0, GENESIS.to_owned());
            state.known_len = 0;
            return Ok(());
        }
        let body_end = len - 1;
        let start =
            match self.read_back(&mut state.file, body_end, len, |c| c.iter().rposition(|&b| b == b'\n'))? {
                Some(newline) => newline + 1,
                None if len <= MAX_RECORD + 1 => 0,
                None => {
                    return Err(AuditError::Io {
                        path: self.path.clone(),
                        reason: "the last record is too long".into(),
                    });
                }
            };
        let mut line = vec![0u8; (body_end - start) as usize];
        state.file.seek(SeekFrom::Start(start)).map_err(|e| self.io_at(&self.path, e))?;
        state.file.read_exact(&mut line).map_err(|e| self.io_at(&self.path, e))?;
        let corrupt = |source| AuditError::Corrupt { path: self.path.clone(), source };
        let last: Record = match serde_json::from_slice(&line) {
            Ok(last) => last,
            Err(e) => {
                // Named by its line, as `audit verify` names it.
                let seq = self.line_number_at(&mut state.file, start)?;
                let reason = format!("the last record does not parse: {e}");
                return Err(corrupt(crate::ChainError { seq, reason }));
            }
        };
        // The last record must be intact in itself (its own hash); its
        // place in the chain is `audit verify`'s job.
        let previous = (last.seq > 1).then(|| (last.seq - 1, last.prev.as_str()));
        check_line(&line, previous).map_err(corrupt)?;
        state.head_is_checkpoint = matches!(last.event, Event::Checkpoint(_));
        state.head = (last.seq, last.hash);
        state.known_len = len;
        Ok(())
    }

    /// The same log, writing a signed checkpoint after every record whose
    /// sequence number is due by `checkpoints`.
    pub fn with_checkpoints(mut self, checkpoints: Checkpointer) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }

    /// Signs the chain head now (an operator closing a shift, or before
    /// copying the log elsewhere). Nothing is written if the log is empty
    /// or already ends with a checkpoint; `None` then.
    pub fn checkpoint(&self) -> Result<Option<Receipt>, AuditError> {
        let Some(checkpoints) = &self.checkpoints else { return Ok(None) };
        self.durable(|state| {
            let (seq, head) = state.head.clone();
            if seq == 0 || state.head_is_checkpoint {
                return Ok(None);
            }
            self.write_record(state, checkpoints.sign(seq, &head)).map(Some)
        })
    }

    /// Seals `event` after the known head and writes it in one `write`,
    /// followed by a signed checkpoint when one is due.
    fn write_record(&self, state: &mut State, event: Event) -> Result<Receipt, AuditError> {
        let receipt = self.write_one(state, event)?;
        if let Some(checkpoints) = &self.checkpoints
            && !state.head_is_checkpoint
            && checkpoints.due(receipt.seq)
        {
            self.write_one(state, checkpoints.sign(receipt.seq, &receipt.hash))?;
        }
        Ok(receipt)
    }

    fn write_one(&self, state: &mut State, event: Event) -> Result<Receipt, AuditError> {
        let is_checkpoint = matches!(event, Event::Checkpoint(_));
        let (seq, prev) = &state.head;
        let (record, line) = seal(*seq, prev, event)?;
        state.file.write_all(&line).map_err(|e| self.io_at(&self.path, e))?;
        state.known_len += line.len() as u64;
        self.written.fetch_add(1, Ordering::SeqCst);
        // `EveryRecord` syncs in `durable`, after the write lock is let go.
        if let Durability::Group(n) = self.durability {
            state.unsynced += 1;
            if state.unsynced >= n.max(1) {
                state.file.sync_data().map_err(|e| self.io_at(&self.path, e))?;
                state.unsynced = 0;
            }
        }
        state.head = (record.seq, record.hash.clone());
        state.head_is_checkpoint = is_checkpoint;
        Ok(Receipt { seq: record.seq, hash: record.hash })
    }

    /// Forces unsynced records to disk.
    pub fn sync(&self) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.file.sync_data().map_err(|e| self.io_at(&self.path, e))?;
        state.unsynced = 0;
        Ok(())
    }
}

impl AuditSink for FileLog {
    fn append(&self, event: Event) -> Result<Receipt, AuditError> {
        self.durable(|state| self.write_record(state, event))
    }

    /// With [`Durability::EveryRecord`], every append waits for its sync;
    /// with [`Durability::Group`], one append in a group does.
    fn waits(&self) -> bool {
        self.durability == Durability::EveryRecord
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if state.unsynced > 0 {
            let _ = state.file.sync_data();
        }
    }
}

fn open_lock(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| AuditError::Io { path: path.to_owned(), reason: e.to_string() })
}

fn open_log(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AuditError::Io { path: path.to_owned(), reason: e.to_string() })
}
