//! The content-addressed store: blobs (small ones in LMDB, large ones as files), the action cache, last-access times and leases for size-capped LRU eviction, and verification of everything read.
//!
//! Layout of a store folder:
//! ```text
//! data.mdb, lock.mdb   LMDB: blobs (small contents), entries (size, kind, last access,
//!                      lease), actions (action digest → ActionResult bytes)
//! large/ab/<hex>       contents of 512 KiB and more, one file each, read-only
//! tmp/                 files being written; renamed into large/ when complete
//! ```
//! Crash safety: a small blob and its entry are written in one LMDB transaction; a large
//! blob is written to `tmp/`, synced, renamed into place, and only then recorded. A kill at
//! any instant leaves at worst an unrecorded file, never an entry without its content.
//!
//! Leases (another process may collect at any time): what this process writes is leased in
//! the transaction that writes it; what it finds already stored and will read (a put of
//! content already held, a read, a cache hit's outputs through [`Store::hold`]) is either
//! leased far enough ahead already or kept in memory ("pinned") until the next commit
//! ([`Store::flush_access`], [`Store::lease`]) leases it — and puts it back if a collection
//! took it meanwhile. A collection decides and deletes inside one write transaction, so it
//! sees every lease committed before it, and a lease committed after it sees the deletion.
//!
//! A full disk (ENOSPC, EDQUOT, `MDB_MAP_FULL`): the write that does not fit leaves nothing
//! behind (its temporary file is removed; LMDB's failed commit leaves the previous
//! snapshot), and the content is kept in this process's memory instead (up to
//! [`SPILL_LIMIT`]), so the run still sees and reports everything it made; action results
//! that cannot be recorded are simply not cached. [`Store::take_reports`] says so once.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use heed::types::Bytes;
use heed::{Database, Env, WithoutTls};

use crate::hash::{Digest, DigestFunction, Hasher};
use crate::lmdb;

/// Contents at least this large live as files (hardlinkable into sandboxes).
pub const LARGE_BLOB: u64 = 512 * 1024;

/// The default size cap.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

/// How long what a run writes or reads stays leased after the commit that records it: a
/// process's default time limit (an hour) and ten minutes more.
pub const RUN_LEASE: Duration = Duration::from_mins(70);

/// Content leased at least this far ahead is read without pinning it in memory.
const LEASE_MARGIN: u64 = 10 * 60;

/// Pinned bytes past which a pin commits the pins at once (one more commit, bounded memory).
const PIN_LIMIT: usize = 64 << 20;

/// How much content a store that cannot write keeps in memory for the rest of the process.
pub const SPILL_LIMIT: u64 = 256 << 20;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub dir: PathBuf,
    pub function: DigestFunction,
    /// Eviction brings the store under this many bytes of content.
    pub max_bytes: u64,
    /// How long what this process writes or reads is leased ([`RUN_LEASE`]).
    pub lease: Duration,
}

impl StoreOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            function: DigestFunction::Blake3,
            max_bytes: DEFAULT_MAX_BYTES,
            lease: RUN_LEASE,
        }
    }
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store in {dir} is unusable ({source}); remove the folder or pick another cache folder")]
    Lmdb { dir: String, source: heed::Error },
    /// A write did not fit (a full disk, a used-up quota, a full LMDB map).
    #[error("{0}")]
    NoSpace(crate::disk::NoSpace),
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
    #[error("digest {digest:?} uses {}, but this store uses {}", digest.function.name(), expected.name())]
    WrongFunction { digest: Digest, expected: DigestFunction },
}

/// Counts, for `pleat cache stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub blobs: u64,
    pub large_blobs: u64,
    pub bytes: u64,
    pub actions: u64,
    pub max_bytes: u64,
}

/// What a garbage collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed: u64,
    pub freed_bytes: u64,
    pub kept_leased: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    large: bool,
    size: u64,
    /// Seconds since the epoch.
    last_access: u64,
    /// Seconds since the epoch; the entry is not evicted before.
    lease_until: u64,
}

impl Entry {
    /// The entry a write records now: accessed now, leased for `lease_secs` from now or
    /// longer if an `existing` entry was leased further ahead.
    fn written(large: bool, size: u64, existing: Option<Entry>, lease_secs: u64) -> Self {
        let now = now_secs();
        Self {
            large,
            size,
            last_access: now,
            lease_until: existing.map_or(0, |e| e.lease_until).max(now + lease_secs),
        }
    }

    fn encode(&self) -> [u8; 25] {
        let mut out = [0u8; 25];
        out[0] = u8::from(self.large);
        out[1..9].copy_from_slice(&self.size.to_le_bytes());
        out[9..17].copy_from_slice(&self.last_access.to_le_bytes());
        out[17..25].copy_from_slice(&self.lease_until.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 25] = bytes.try_into().ok()?;
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        Some(Self { large: bytes[0] == 1, size: word(1), last_access: word(9), lease_until: word(17) })
    }
}

/// Removes the store in `dir` without opening it (a damaged one cannot be opened
/// safely). A process that has it open carries on with the removed files, unseen.
pub fn clear_folder(dir: &Path) -> Result<(), StoreError> {
    let io =
        |action, path: &Path, source| StoreError::Io { action, path: path.display().to_string(), source };
    lmdb::clear_files(dir).map_err(|e| io("clear", dir, e))?;
    for sub in ["large", "tmp"] {
        let path = dir.join(sub);
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("remove", &path, e)),
            _ => {}
        }
    }
    Ok(())
}

/// The store.
pub struct Store {
    env: Env<WithoutTls>,
    blobs: Database<Bytes, Bytes>,
    entries: Database<Bytes, Bytes>,
    actions: Database<Bytes, Bytes>,
    dir: PathBuf,
    function: DigestFunction,
    max_bytes: u64,
    /// Seconds a write or a committed read is leased for.
    lease_secs: u64,
    /// Reads since the last flush: key → time, written in one transaction later.
    accessed: Mutex<HashMap<[u8; 33], u64>>,
    /// Content found stored but not leased far enough ahead, kept until the next commit
    /// leases it (or puts it back when a collection took it meanwhile).
    pins: Mutex<Pins>,
    /// Large files verified by this process (path → size when verified).
    verified: Mutex<HashMap<PathBuf, u64>>,
    /// Corrupt entries found and removed, for the caller to report.
    reports: Mutex<Vec<String>>,
    /// The LMDB map size (for a full map's message).
    map_size: u64,
    /// Content that did not fit on the disk, kept for this process (see the module notes).
    spilled: Mutex<Spill>,
}

/// What a store that could not write kept in memory, and the first write that failed.
#[derive(Default)]
struct Spill {
    blobs: HashMap<[u8; 33], Vec<u8>>,
    bytes: u64,
    /// The first write that did not fit, said once by `take_reports`.
    first: Option<crate::disk::NoSpace>,
    reported: bool,
    /// Action results that could not be recorded.
    unrecorded: u64,
}

/// Pinned contents by key, and their total size.
#[derive(Default)]
struct Pins {
    blobs: HashMap<[u8; 33], (Digest, std::sync::Arc<[u8]>)>,
    bytes: usize,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn key(digest: &Digest) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = match digest.function {
        DigestFunction::Blake3 => 1,
        DigestFunction::Sha256 => 2,
    };
    out[1..].copy_from_slice(&digest.hash);
    out
}

fn digest_of_key(function: DigestFunction, key: &[u8], size: u64) -> Option<Digest> {
    Some(Digest { function, hash: key.get(1..33)?.try_into().ok()?, size })
}

impl Store {
    /// Opens (creating) a store.
    pub fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let dir = options.dir.clone();
        let shown = dir.display().to_string();
        let map_size = (options.max_bytes.saturating_mul(4)).clamp(1 << 30, 64 << 30);
        let lmdb_error = |source| match crate::disk::cause_of_heed(&source, map_size, &dir) {
            Some(cause) => {
                StoreError::NoSpace(crate::disk::NoSpace::new(cause, &dir, "while opening the store"))
            }
            None => StoreError::Lmdb { dir: shown.clone(), source },
        };
        for sub in ["large", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
                Self::write_error(&dir, "create", &dir.join(sub), e, "while opening the store")
            })?;
        }
        let map_bytes = map_size;
        let map_size = usize::try_from(map_size).unwrap_or(usize::MAX);
        let (env, cleared) = lmdb::open_checked(&dir, map_size).map_err(lmdb_error)?;
        if cleared.is_some() {
            // Large files are only reachable through entries: without them they would
            // never be evicted.
            let large = dir.join("large");
            let _ = std::fs::remove_dir_all(&large);
            std::fs::create_dir_all(&large).map_err(|source| StoreError::Io {
                action: "create",
                path: large.display().to_string(),
                source,
            })?;
        }
        let mut txn = env.write_txn().map_err(lmdb_error)?;
        let blobs = env.create_database(&mut txn, Some("blobs")).map_err(lmdb_error)?;
        let entries = env.create_database(&mut txn, Some("entries")).map_err(lmdb_error)?;
        let actions = env.create_database(&mut txn, Some("actions")).map_err(lmdb_error)?;
        lmdb::commit(&env, txn).map_err(lmdb_error)?;
        let store = Self {
            env,
            blobs,
            entries,
            actions,
            dir: dir.clone(),
            function: options.function,
            max_bytes: options.max_bytes,
            lease_secs: options.lease.as_secs(),
            map_size: map_bytes,
            spilled: Mutex::new(Spill::default()),
            accessed: Mutex::new(HashMap::new()),
            pins: Mutex::new(Pins::default()),
            verified: Mutex::new(HashMap::new()),
            reports: Mutex::new(cleared.into_iter().map(|reason| {
                format!("the store in {shown} was cleared and starts empty: {reason}; results will be computed again")
            }).collect()),
        };
        store.sweep_tmp();
        Ok(store)
    }

    pub fn function(&self) -> DigestFunction {
        self.function
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lmdb(&self, source: heed::Error) -> StoreError {
        if let Some(cause) = crate::disk::cause_of_heed(&source, self.map_size, &self.dir) {
            return StoreError::NoSpace(crate::disk::NoSpace::new(
                cause,
                &self.dir,
                "while writing to the store",
            ));
        }
        lmdb::mark_damaged(&self.dir, &source);
        StoreError::Lmdb { dir: self.dir.display().to_string(), source }
    }

    fn io(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { action, path: path.display().to_string(), source }
    }

    /// An error of a write into the store's folder `dir`: [`StoreError::NoSpace`] for a
    /// full disk, naming the store's folder.
    fn write_error(
        dir: &Path,
        action: &'static str,
        path: &Path,
        source: std::io::Error,
        doing: &str,
    ) -> StoreError {
        match crate::disk::NoSpace::from_io(&source, dir, doing) {
            Some(full) => StoreError::NoSpace(full),
            None => Self::io(action, path, source),
        }
    }

    /// Keeps content that did not fit in memory for the rest of the process (the run
    /// still reports it); the first failure is said once by [`Store::take_reports`].
    fn spill(&self, digest: &Digest, bytes: Vec<u8>, full: crate::disk::NoSpace) -> Result<(), StoreError> {
        let Ok(mut spill) = self.spilled.lock() else { return Err(StoreError::NoSpace(full)) };
        let key = key(digest);
        if spill.blobs.contains_key(&key) {
            return Ok(());
        }
        let size = bytes.len() as u64;
        if spill.bytes + size > SPILL_LIMIT {
            return Err(StoreError::NoSpace(full));
        }
        spill.bytes += size;
        spill.blobs.insert(key, bytes);
        spill.first.get_or_insert(full);
        Ok(())
    }

    /// Notes a write that did not fit and was given up (an access time, a lease, an
    /// action result): nothing is lost but what the write would have cached.
    fn note_full(&self, full: crate::disk::NoSpace, unrecorded_action: bool) {
        if let Ok(mut spill) = self.spilled.lock() {
            spill.first.get_or_insert(full);
            spill.unrecorded += u64::from(unrecorded_action);
        }
    }

    fn spilled_copy(&self, digest: &Digest) -> Option<Vec<u8>> {
        self.spilled.lock().ok()?.blobs.get(&key(digest)).cloned()
    }

    /// True when the content is held in this process's memory only (it did not fit).
    pub fn is_spilled(&self, digest: &Digest) -> bool {
        self.spilled.lock().is_ok_and(|s| s.blobs.contains_key(&key(digest)))
    }

    /// Counts a result its caller did not record because its content is in memory only.
    pub fn note_unrecorded(&self) {
        if let Ok(mut spill) = self.spilled.lock() {
            spill.unrecorded += 1;
        }
    }

    /// True when a write of this process did not fit: its results are not (all) cached.
    pub fn could_not_write(&self) -> bool {
        self.spilled.lock().is_ok_and(|s| s.first.is_some())
    }

    fn check(&self, digest: &Digest) -> Result<(), StoreError> {
        if digest.function == self.function {
            Ok(())
        } else {
            Err(StoreError::WrongFunction { digest: *digest, expected: self.function })
        }
    }

    fn large_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir.join("large").join(&hex[..2]).join(hex)
    }

    /// Temporary files older than a day are leftovers of killed writers.
    fn sweep_tmp(&self) {
        let Ok(list) = std::fs::read_dir(self.dir.join("tmp")) else { return };
        let day = Duration::from_hours(24);
        for entry in list.flatten() {
            let old =
                entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|e| e > day));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Stores bytes; returns their digest. Content that does not fit on the disk is kept
    /// in memory for this process (see the module notes).
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(self.function, bytes);
        if self.is_spilled(&digest) {
            return Ok(digest);
        }
        let stored = if digest.size >= LARGE_BLOB {
            let tmp = self.tmp_path();
            let write = || -> std::io::Result<()> {
                let mut file = std::fs::File::create(&tmp)?;
                file.write_all(bytes)?;
                file.sync_all()
            };
            match write() {
                Ok(()) => self.adopt_large(&tmp, digest),
                Err(e) => {
                    // Nothing half-written stays behind.
                    let _ = std::fs::remove_file(&tmp);
                    Err(Self::write_error(&self.dir, "write", &tmp, e, "while writing to the store"))
                }
            }
        } else {
            self.put_small(&digest, bytes)
        };
        match stored {
            Err(StoreError::NoSpace(full)) => {
                self.spill(&digest, bytes.to_vec(), full.needing(digest.size))?;
            }
            other => other?,
        }
        Ok(digest)
    }

    /// Stores a file's content, streaming it (large files never sit in memory whole).
    pub fn put_file(&self, path: &Path) -> Result<Digest, StoreError> {
        let mut file = std::fs::File::open(path).map_err(|e| Self::io("read", path, e))?;
        let size = file.metadata().map_err(|e| Self::io("read", path, e))?.len();
        if size < LARGE_BLOB {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes).map_err(|e| Self::io("read", path, e))?;
            return self.put(&bytes);
        }
        let tmp = self.tmp_path();
        let mut hasher = Hasher::new(self.function);
        let mut copy = || -> std::io::Result<()> {
            let mut out = std::fs::File::create(&tmp)?;
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                out.write_all(&buffer[..n])?;
            }
            out.sync_all()
        };
        if let Err(e) = copy() {
            // Nothing half-written stays behind; a full disk keeps the content in memory.
            let _ = std::fs::remove_file(&tmp);
            return match Self::write_error(&self.dir, "copy", path, e, "while writing to the store") {
                StoreError::NoSpace(full) => self.spill_file(path, full),
                other => Err(other),
            };
        }
        let digest = hasher.finish();
        if digest.size < LARGE_BLOB {
            // The file shrank while being read: store what was read, as a small blob.
            let bytes = std::fs::read(&tmp).map_err(|e| Self::io("read", &tmp, e))?;
            let _ = std::fs::remove_file(&tmp);
            return self.put(&bytes);
        }
        match self.adopt_large(&tmp, digest) {
            Ok(()) => Ok(digest),
            Err(StoreError::NoSpace(full)) => self.spill_file(path, full),
            Err(e) => Err(e),
        }
    }

    /// A file that did not fit in the store, kept in memory (read again from `path`).
    fn spill_file(&self, path: &Path, full: crate::disk::NoSpace) -> Result<Digest, StoreError> {
        let size = std::fs::metadata(path).map_err(|e| Self::io("read", path, e))?.len();
        if size > SPILL_LIMIT {
            return Err(StoreError::NoSpace(full.needing(size)));
        }
        let bytes = std::fs::read(path).map_err(|e| Self::io("read", path, e))?;
        let digest = Digest::of(self.function, &bytes);
        self.spill(&digest, bytes, full.needing(size))?;
        Ok(digest)
    }

    fn tmp_path(&self) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.dir.join("tmp").join(format!("{}-{n}", std::process::id()))
    }

    fn put_small(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        if self.held_small(digest, bytes)? {
            return Ok(());
        }
        let mut txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
        self.write_small(&mut txn, digest, bytes)?;
        lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e))
    }

    /// Stores several blobs, the new small ones in one commit (a batch fetched from a remote
    /// cache: one commit, not one per blob); large ones as [`Store::put`] stores them. The
    /// digests in order.
    pub fn put_many(&self, blobs: &[&[u8]]) -> Result<Vec<Digest>, StoreError> {
        let digests: Vec<Digest> = blobs.iter().map(|b| Digest::of(self.function, b)).collect();
        let mut new: Vec<(&Digest, &[u8])> = Vec::new();
        for (digest, bytes) in digests.iter().zip(blobs) {
            if digest.size >= LARGE_BLOB || self.is_spilled(digest) {
                self.put(bytes)?;
            } else if !self.held_small(digest, bytes)? {
                new.push((digest, bytes));
            }
        }
        if new.is_empty() {
            return Ok(digests);
        }
        let written = self.env.write_txn().map_err(|e| self.lmdb(e)).and_then(|mut txn| {
            for (digest, bytes) in &new {
                self.write_small(&mut txn, digest, bytes)?;
            }
            lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e))
        });
        match written {
            // One at a time then, so what does not fit is kept in memory as `put` keeps it.
            Err(StoreError::NoSpace(_)) => {
                for (_, bytes) in new {
                    self.put(bytes)?;
                }
            }
            other => other?,
        }
        Ok(digests)
    }

    /// Whether a small blob is already held. Content-addressed: a blob already held is this
    /// content (a damaged one is found by its digest when read). Only its access time and
    /// lease change, in the batch `flush_access` writes once, so a cached run does not
    /// commit once per input; until then a blob not leased far enough ahead is pinned, so a
    /// collection meanwhile cannot take what this run goes on to read.
    fn held_small(&self, digest: &Digest, bytes: &[u8]) -> Result<bool, StoreError> {
        let key = key(digest);
        let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
        let held = self.entries.get(&txn, &key).map_err(|e| self.lmdb(e))?.and_then(Entry::decode);
        let Some(entry) = held.filter(|e| !e.large) else { return Ok(false) };
        if self.blobs.get(&txn, &key).map_err(|e| self.lmdb(e))?.is_none_or(|b| b.len() != bytes.len()) {
            return Ok(false);
        }
        drop(txn);
        if entry.lease_until < now_secs() + LEASE_MARGIN {
            self.pin(digest, bytes.into())?;
        }
        self.touch(digest);
        Ok(true)
    }

    /// Writes a small blob and its entry in `txn`.
    fn write_small(
        &self,
        txn: &mut heed::RwTxn<'_>,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let key = key(digest);
        let existing = self.entries.get(txn, &key).map_err(|e| self.lmdb(e))?.and_then(Entry::decode);
        let entry = Entry::written(false, digest.size, existing, self.lease_secs);
        self.blobs.put(txn, &key, bytes).map_err(|e| self.lmdb(e))?;
        self.entries.put(txn, &key, &entry.encode()).map_err(|e| self.lmdb(e))
    }

    /// Moves a complete, synced temporary file into place and records it.
    fn adopt_large(&self, tmp: &Path, digest: Digest) -> Result<(), StoreError> {
        let target = self.large_file(&digest);
        if let Some(parent) = target.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            let _ = std::fs::remove_file(tmp);
            return Err(Self::write_error(&self.dir, "create", parent, e, "while writing to the store"));
        }
        let mut permissions = std::fs::metadata(tmp).map_err(|e| Self::io("read", tmp, e))?.permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(tmp, permissions).map_err(|e| Self::io("protect", tmp, e))?;
        // The file moves in while this process is the store's only writer: a collection
        // removes a large file in a write transaction too, and only when it has no entry,
        // so it cannot delete this one between the move and the commit that records it.
        let key = key(&digest);
        let mut txn = match self.env.write_txn() {
            Ok(txn) => txn,
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                return Err(self.lmdb(e));
            }
        };
        if let Err(e) = std::fs::rename(tmp, &target) {
            let _ = std::fs::remove_file(tmp);
            return Err(Self::write_error(&self.dir, "move", &target, e, "while writing to the store"));
        }
        if let Some(parent) = target.parent()
            && let Ok(dir) = std::fs::File::open(parent)
        {
            let _ = dir.sync_all();
        }
        let mut existing = None;
        let mut record = || {
            existing = self.entries.get(&txn, &key).map_err(|e| self.lmdb(e))?.and_then(Entry::decode);
            let entry = Entry::written(true, digest.size, existing, self.lease_secs);
            self.entries.put(&mut txn, &key, &entry.encode()).map_err(|e| self.lmdb(e))
        };
        let recorded = record().and_then(|()| lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e)));
        if recorded.is_err() && existing.is_none() {
            // Unrecorded, the file would never be evicted: it goes (an entry that already
            // named this content keeps the file, which holds the same bytes).
            let _ = std::fs::remove_file(&target);
        }
        recorded
    }

    fn entry(&self, digest: &Digest) -> Result<Option<Entry>, StoreError> {
        let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
        Ok(self.entries.get(&txn, &key(digest)).map_err(|e| self.lmdb(e))?.and_then(Entry::decode))
    }

    /// True when the store holds the content (a large file must also exist).
    pub fn contains(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.check(digest)?;
        if self.pinned(digest).is_some() || self.is_spilled(digest) {
            return Ok(true);
        }
        Ok(match self.entry(digest)? {
            Some(entry) if entry.large => self.large_file(digest).is_file(),
            Some(_) => true,
            None => false,
        })
    }

    /// The content, verified against its digest. A corrupt entry is removed, reported
    /// (see [`Store::take_reports`]) and treated as missing.
    pub fn get(&self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        self.check(digest)?;
        if let Some(bytes) = self.pinned(digest) {
            self.touch(digest);
            return Ok(Some(bytes.to_vec()));
        }
        if let Some(bytes) = self.spilled_copy(digest) {
            return Ok(Some(bytes));
        }
        let Some(entry) = self.entry(digest)? else { return Ok(None) };
        let bytes = if entry.large {
            match std::fs::read(self.large_file(digest)) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.corrupt(digest, "its file is missing")?;
                    return Ok(None);
                }
                Err(e) => return Err(Self::io("read", &self.large_file(digest), e)),
            }
        } else {
            let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
            if let Some(bytes) = self.blobs.get(&txn, &key(digest)).map_err(|e| self.lmdb(e))? {
                bytes.to_vec()
            } else {
                drop(txn);
                self.corrupt(digest, "its content is missing")?;
                return Ok(None);
            }
        };
        if Digest::of(self.function, &bytes) != *digest {
            self.corrupt(digest, "its content does not match its digest")?;
            return Ok(None);
        }
        if entry.lease_until < now_secs() + LEASE_MARGIN {
            self.pin(digest, bytes.as_slice().into())?;
        }
        self.touch(digest);
        Ok(Some(bytes))
    }

    /// Makes sure every digest stays readable by this process until its next commit and
    /// leased from that commit on: content leased far enough ahead is only touched, the
    /// rest is read, verified and pinned. False when any is missing or damaged (a cache hit
    /// that names it is then a miss).
    pub fn hold(&self, digests: &[Digest]) -> Result<bool, StoreError> {
        let soon = now_secs() + LEASE_MARGIN;
        for digest in digests {
            self.check(digest)?;
            if self.pinned(digest).is_some() {
                self.touch(digest);
                continue;
            }
            match self.entry(digest)? {
                None => return Ok(false),
                Some(entry) if entry.lease_until >= soon => {
                    if entry.large && !self.large_file(digest).is_file() {
                        return Ok(false);
                    }
                    self.touch(digest);
                }
                // `get` verifies and pins what is not leased far enough ahead.
                Some(_) => {
                    if self.get(digest)?.is_none() {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// A pinned content, if this process holds one.
    fn pinned(&self, digest: &Digest) -> Option<std::sync::Arc<[u8]>> {
        let pins = self.pins.lock().ok()?;
        pins.blobs.get(&key(digest)).map(|(_, bytes)| std::sync::Arc::clone(bytes))
    }

    /// Keeps content in memory until the next commit leases it (see [`Store::hold`]).
    fn pin(&self, digest: &Digest, bytes: std::sync::Arc<[u8]>) -> Result<(), StoreError> {
        let over = {
            let Ok(mut pins) = self.pins.lock() else { return Ok(()) };
            let size = bytes.len();
            if pins.blobs.insert(key(digest), (*digest, bytes)).is_none() {
                pins.bytes += size;
            }
            pins.bytes > PIN_LIMIT
        };
        if over { self.flush_access() } else { Ok(()) }
    }

    /// Small blobs in one read transaction, each verified; `None` for a large, missing or
    /// corrupt one (corrupt ones are removed and reported, as with [`Store::get`]).
    pub fn get_small_many(&self, digests: &[Digest]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out = Vec::with_capacity(digests.len());
        let mut corrupt = Vec::new();
        {
            let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
            for digest in digests {
                self.check(digest)?;
                if digest.size >= LARGE_BLOB {
                    out.push(None);
                    continue;
                }
                match self.blobs.get(&txn, &key(digest)).map_err(|e| self.lmdb(e))? {
                    Some(bytes) if Digest::of(self.function, bytes) == *digest => {
                        self.touch(digest);
                        out.push(Some(bytes.to_vec()));
                    }
                    Some(_) => {
                        corrupt.push(*digest);
                        out.push(None);
                    }
                    None => out.push(None),
                }
            }
        }
        for digest in corrupt {
            self.corrupt(&digest, "its content does not match its digest")?;
        }
        Ok(out)
    }

    /// The path of a large blob's file, verified once per process (for hardlinking into
    /// sandboxes without reading it each time). None when absent or corrupt.
    pub fn large_path(&self, digest: &Digest) -> Result<Option<PathBuf>, StoreError> {
        self.check(digest)?;
        match self.entry(digest)? {
            Some(entry) if entry.large => {}
            _ => return Ok(None),
        }
        let path = self.large_file(digest);
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        let known = self.verified.lock().is_ok_and(|v| v.get(&path).copied() == size && size.is_some());
        if !known {
            let matches = std::fs::File::open(&path)
                .and_then(|f| Digest::of_reader(self.function, std::io::BufReader::new(f)))
                .is_ok_and(|d| d == *digest);
            if !matches {
                self.corrupt(digest, "its file is missing or does not match its digest")?;
                return Ok(None);
            }
            if let (Ok(mut v), Some(size)) = (self.verified.lock(), size) {
                v.insert(path.clone(), size);
            }
        }
        self.touch(digest);
        Ok(Some(path))
    }

    fn touch(&self, digest: &Digest) {
        if let Ok(mut accessed) = self.accessed.lock() {
            accessed.insert(key(digest), now_secs());
        }
    }

    fn corrupt(&self, digest: &Digest, why: &str) -> Result<(), StoreError> {
        self.remove(&[*digest])?;
        if let Ok(mut reports) = self.reports.lock() {
            reports.push(format!(
                "removed {digest:?} from the store in {}: {why}; it will be fetched or rebuilt",
                self.dir.display()
            ));
        }
        Ok(())
    }

    /// Corrupt entries found since the last call, and a write that did not fit (once), as
    /// sentences.
    pub fn take_reports(&self) -> Vec<String> {
        let mut reports = self.reports.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
        if let Ok(mut spill) = self.spilled.lock()
            && !spill.reported
            && let Some(full) = &spill.first
        {
            let not_cached = match spill.unrecorded {
                0 => "none of it is cached".to_owned(),
                1 => "1 result was not cached and runs again next time".to_owned(),
                n => format!("{n} results were not cached and run again next time"),
            };
            reports.push(format!(
                "{full}. Every result of this run is reported; what it could not store ({} in {} blobs) was kept in memory only, and {not_cached}",
                crate::disk::human_bytes(spill.bytes),
                spill.blobs.len()
            ));
            spill.reported = true;
        }
        reports
    }

    fn remove(&self, digests: &[Digest]) -> Result<u64, StoreError> {
        let mut freed = 0;
        let mut txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
        for digest in digests {
            let key = key(digest);
            if let Some(entry) =
                self.entries.get(&txn, &key).map_err(|e| self.lmdb(e))?.and_then(Entry::decode)
            {
                freed += entry.size;
            }
            self.entries.delete(&mut txn, &key).map_err(|e| self.lmdb(e))?;
            self.blobs.delete(&mut txn, &key).map_err(|e| self.lmdb(e))?;
        }
        lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e))?;
        self.remove_files(digests)?;
        Ok(freed)
    }

    /// Removes the large files of content whose entries a committed transaction deleted.
    /// After the commit, so an entry never outlives its content; and inside a write
    /// transaction that writes nothing (no sync), so no writer can record the same content
    /// again meanwhile — a file that has an entry again (put back by a run) stays.
    fn remove_files(&self, digests: &[Digest]) -> Result<(), StoreError> {
        let files: Vec<(&Digest, PathBuf)> =
            digests.iter().map(|d| (d, self.large_file(d))).filter(|(_, path)| path.exists()).collect();
        if files.is_empty() {
            return Ok(());
        }
        let txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
        for (digest, path) in files {
            if self.entries.get(&txn, &key(digest)).map_err(|e| self.lmdb(e))?.is_none() {
                let _ = std::fs::remove_file(path);
            }
        }
        txn.abort();
        Ok(())
    }

    /// Protects content from eviction until `until` (for work in progress), in the same
    /// commit as [`Store::flush_access`]'s; returns the digests that are not in the store
    /// (pinned ones are put back first), which the caller cannot read.
    /// On a full disk the lease is not recorded (noted for [`Store::take_reports`]) and
    /// nothing is reported missing.
    pub fn lease(&self, digests: &[Digest], until: SystemTime) -> Result<Vec<Digest>, StoreError> {
        let until = until.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.unless_full(self.commit_leases(digests, until), Vec::new())
    }

    /// Writes the batched last-access times in one transaction, leasing what was read or
    /// pinned since the last commit ([`RUN_LEASE`]) and putting back pinned content that a
    /// collection took meanwhile.
    /// On a full disk they are dropped (they only order eviction and protect from it).
    pub fn flush_access(&self) -> Result<(), StoreError> {
        self.unless_full(self.commit_leases(&[], 0).map(|_| ()), ())
    }

    /// A write that only records bookkeeping (access times, leases): on a full disk it is
    /// given up, noted once for [`Store::take_reports`], and `fallback` returned.
    fn unless_full<T>(&self, result: Result<T, StoreError>, fallback: T) -> Result<T, StoreError> {
        match result {
            Err(StoreError::NoSpace(full)) => {
                self.note_full(full, false);
                Ok(fallback)
            }
            other => other,
        }
    }

    fn commit_leases(&self, extra: &[Digest], extra_until: u64) -> Result<Vec<Digest>, StoreError> {
        let accessed = self.accessed.lock().map(|mut a| std::mem::take(&mut *a)).unwrap_or_default();
        let pins: Vec<([u8; 33], Digest, std::sync::Arc<[u8]>)> = self
            .pins
            .lock()
            .map(|p| p.blobs.iter().map(|(k, (d, b))| (*k, *d, std::sync::Arc::clone(b))).collect())
            .unwrap_or_default();
        if accessed.is_empty() && pins.is_empty() && extra.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_secs();
        let until = now + self.lease_secs;
        let mut missing = Vec::new();
        let mut large_again = Vec::new();
        let mut txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
        let extend = |txn: &mut heed::RwTxn, key: &[u8; 33], time: u64, lease: u64| {
            let Some(mut entry) =
                self.entries.get(txn, key).map_err(|e| self.lmdb(e))?.and_then(Entry::decode)
            else {
                return Ok(false);
            };
            entry.last_access = entry.last_access.max(time);
            entry.lease_until = entry.lease_until.max(lease);
            self.entries.put(txn, key, &entry.encode()).map_err(|e| self.lmdb(e))?;
            Ok::<_, StoreError>(true)
        };
        for (key, time) in &accessed {
            extend(&mut txn, key, *time, until)?;
        }
        for (key, digest, bytes) in &pins {
            if extend(&mut txn, key, now, until)? {
                continue;
            }
            if bytes.len() as u64 >= LARGE_BLOB {
                large_again.push(std::sync::Arc::clone(bytes));
                continue;
            }
            let entry = Entry { large: false, size: digest.size, last_access: now, lease_until: until };
            self.blobs.put(&mut txn, key, bytes).map_err(|e| self.lmdb(e))?;
            self.entries.put(&mut txn, key, &entry.encode()).map_err(|e| self.lmdb(e))?;
        }
        for digest in extra {
            self.check(digest)?;
            let key = key(digest);
            if !extend(&mut txn, &key, 0, extra_until.max(until))? && !pins.iter().any(|(k, _, _)| *k == key)
            {
                missing.push(*digest);
            }
        }
        lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e))?;
        // A large content a collection took is written again (its own commit; rare).
        for bytes in large_again {
            self.put(&bytes)?;
        }
        if let Ok(mut held) = self.pins.lock() {
            for (key, _, bytes) in &pins {
                if held.blobs.get(key).is_some_and(|(_, b)| std::sync::Arc::ptr_eq(b, bytes)) {
                    held.blobs.remove(key);
                    held.bytes = held.bytes.saturating_sub(bytes.len());
                }
            }
        }
        Ok(missing)
    }

    /// Records an action's result (REAPI `ActionResult` bytes). On a full disk it is not
    /// recorded: the error is [`StoreError::NoSpace`], and [`Store::take_reports`] counts it.
    pub fn put_action(&self, action: &Digest, result: &[u8]) -> Result<(), StoreError> {
        self.check(action)?;
        let recorded = (|| {
            let mut txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
            self.actions.put(&mut txn, &key(action), result).map_err(|e| self.lmdb(e))?;
            lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e))
        })();
        if let Err(StoreError::NoSpace(full)) = &recorded {
            self.note_full(full.clone(), true);
        }
        recorded
    }

    /// An action's recorded result, if any.
    pub fn get_action(&self, action: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        self.check(action)?;
        let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
        Ok(self.actions.get(&txn, &key(action)).map_err(|e| self.lmdb(e))?.map(<[u8]>::to_vec))
    }

    /// Forgets an action's result (a cache hit whose outputs are gone).
    pub fn remove_action(&self, action: &Digest) -> Result<(), StoreError> {
        let mut txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
        self.actions.delete(&mut txn, &key(action)).map_err(|e| self.lmdb(e))?;
        lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e))
    }

    fn all_entries(&self) -> Result<Vec<(Digest, Entry)>, StoreError> {
        let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
        self.entries_in(&txn)
    }

    fn entries_in(&self, txn: &heed::RoTxn<WithoutTls>) -> Result<Vec<(Digest, Entry)>, StoreError> {
        let mut out = Vec::new();
        for item in self.entries.iter(txn).map_err(|e| self.lmdb(e))? {
            let (key, value) = item.map_err(|e| self.lmdb(e))?;
            let function = match key.first() {
                Some(1) => DigestFunction::Blake3,
                Some(2) => DigestFunction::Sha256,
                _ => continue,
            };
            if let Some(entry) = Entry::decode(value)
                && let Some(digest) = digest_of_key(function, key, entry.size)
            {
                out.push((digest, entry));
            }
        }
        Ok(out)
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let entries = self.all_entries()?;
        let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
        let actions = self.actions.len(&txn).map_err(|e| self.lmdb(e))?;
        Ok(StoreStats {
            blobs: entries.len() as u64,
            large_blobs: entries.iter().filter(|(_, e)| e.large).count() as u64,
            bytes: entries.iter().map(|(_, e)| e.size).sum(),
            actions,
            max_bytes: self.max_bytes,
        })
    }

    /// Evicts least-recently-used content until the store holds at most `target_bytes`
    /// (default: the size cap); leased content stays, unless the disk is full (less than
    /// [`crate::disk::LOW_SPACE`] free).
    pub fn gc(&self, target_bytes: Option<u64>) -> Result<GcReport, StoreError> {
        self.flush_access()?;
        let target = target_bytes.unwrap_or(self.max_bytes);
        // Decided and deleted in one write transaction: a lease committed before it is
        // seen, one committed after it sees the deletion (writers are serialised).
        let mut txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
        let mut entries = self.entries_in(&txn)?;
        let mut total: u64 = entries.iter().map(|(_, e)| e.size).sum();
        let now = now_secs();
        // On a full disk leases give way: nothing can be written until space is freed (the
        // remedy the full-disk message gives), and a run that then misses an input says so
        // or runs it again, never answers wrong.
        let full = crate::disk::space(&self.dir).is_some_and(|s| s.free < crate::disk::LOW_SPACE);
        entries.sort_by_key(|(_, e)| e.last_access);
        let mut report = GcReport::default();
        let mut victims = Vec::new();
        for (digest, entry) in entries {
            if total <= target {
                break;
            }
            if entry.lease_until > now && !full {
                report.kept_leased += 1;
                continue;
            }
            total -= entry.size;
            report.freed_bytes += entry.size;
            let key = key(&digest);
            self.entries.delete(&mut txn, &key).map_err(|e| self.lmdb(e))?;
            self.blobs.delete(&mut txn, &key).map_err(|e| self.lmdb(e))?;
            victims.push(digest);
        }
        report.removed = victims.len() as u64;
        if victims.is_empty() {
            txn.abort();
            return Ok(report);
        }
        match lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e)) {
            Ok(()) => self.remove_files(&victims)?,
            Err(StoreError::NoSpace(_)) => {
                // LMDB needs room even to delete (its pages are copied on write), so on a
                // full disk the victims' large files go first — they are being evicted —
                // and then the commit. Meanwhile another process that reads such an entry
                // finds its file missing and drops it, which is what eviction does anyway.
                for digest in &victims {
                    let _ = std::fs::remove_file(self.large_file(digest));
                }
                self.remove(&victims)?;
            }
            Err(e) => return Err(e),
        }
        Ok(report)
    }

    /// Removes everything, in the open store (the language server's `pleat.clearCache`);
    /// [`clear_folder`] removes a store without opening it.
    pub fn clear(&self) -> Result<(), StoreError> {
        let mut txn = self.env.write_txn().map_err(|e| self.lmdb(e))?;
        for db in [self.entries, self.blobs, self.actions] {
            db.clear(&mut txn).map_err(|e| self.lmdb(e))?;
        }
        lmdb::commit(&self.env, txn).map_err(|e| self.lmdb(e))?;
        let large = self.dir.join("large");
        std::fs::remove_dir_all(&large).map_err(|e| Self::io("remove", &large, e))?;
        std::fs::create_dir_all(&large).map_err(|e| Self::io("create", &large, e))
    }

    /// Reads every entry back and checks it against its digest; returns the ones that
    /// fail (crash-safety tests, `pleat cache verify`).
    pub fn verify_all(&self) -> Result<Vec<(Digest, String)>, StoreError> {
        let mut bad = Vec::new();
        for (digest, entry) in self.all_entries()? {
            let content = if entry.large {
                std::fs::read(self.large_file(&digest)).map_err(|e| e.to_string())
            } else {
                let txn = self.env.read_txn().map_err(|e| self.lmdb(e))?;
                self.blobs
                    .get(&txn, &key(&digest))
                    .map_err(|e| self.lmdb(e))?
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| "no content".to_owned())
            };
            match content {
                Ok(bytes) if Digest::of(digest.function, &bytes) == digest => {}
                Ok(_) => bad.push((digest, "content does not match the digest".to_owned())),
                Err(e) => bad.push((digest, e)),
            }
        }
        Ok(bad)
    }
}

#[cfg(test)]
mod tests;
