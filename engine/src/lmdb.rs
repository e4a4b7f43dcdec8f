//! Opening LMDB environments (heed) safely: one place for the unsafe open and the map size, the check of a data file before LMDB maps it (`check`, skipped while the file is in the state a check or Pleat's own last commit recorded), clearing a damaged one, and the mark that makes the next open clear it.

pub mod check;

use std::path::Path;

use heed::{Env, EnvOpenOptions, MdbError, RwTxn, WithoutTls};

/// Opens (creating) the environment in `dir` with room for a few named databases.
pub fn open_env(dir: &Path, map_size: usize) -> Result<Env<WithoutTls>, heed::Error> {
    reserve_lock_file(dir)?;
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(map_size).max_dbs(8);
    // SAFETY: heed requires that an environment is not opened twice in one process and
    // that its files are not changed behind LMDB's back. Pleat opens each environment once
    // per process; `open_checked` checks the file before LMDB maps it, and clears it when
    // it is damaged.
    #[allow(unsafe_code)]
    let env = unsafe { options.open(dir) }?;
    Ok(env)
}

/// The size LMDB gives `lock.mdb` with its default 126 readers.
const LOCK_FILE_SIZE: u64 = 8192;

/// LMDB writes its reader table through a shared map of `lock.mdb`, a file it only
/// extends with `ftruncate`: on a full filesystem the first page touched has no block
/// behind it and the process dies of SIGBUS (seen on a full tmpfs with a fresh cache
/// folder). Allocating the file's blocks first (`fallocate`, which never changes bytes
/// already there, so a process that has it open is not disturbed) turns that into
/// ENOSPC here. Filesystems without `fallocate` are left to LMDB.
fn reserve_lock_file(dir: &Path) -> Result<(), heed::Error> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join("lock.mdb"))
    else {
        return Ok(()); // LMDB reports what is wrong with the folder
    };
    let size = file.metadata().map_or(0, |m| m.len()).max(LOCK_FILE_SIZE);
    let size = libc::off_t::try_from(size).unwrap_or(libc::off_t::MAX);
    // SAFETY: a valid descriptor; mode 0 only allocates (and extends) the range.
    #[allow(unsafe_code)]
    let result = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size) };
    if result != 0 {
        let error = std::io::Error::last_os_error();
        if crate::disk::is_no_space(&error) {
            return Err(heed::Error::Io(error));
        }
    }
    Ok(())
}

/// Opens the environment in `dir` after checking its data file page by page without
/// mapping it (`check::check_file`): a file that is damaged, marked damaged by an earlier
/// run (`mark_damaged`), or that LMDB refuses, is removed and the environment starts
/// empty. Returns why it was cleared, as a phrase, when it was.
pub fn open_checked(dir: &Path, map_size: usize) -> Result<(Env<WithoutTls>, Option<String>), heed::Error> {
    let data = dir.join("data.mdb");
    let mut cleared = None;
    if dir.join(DAMAGED).exists() {
        cleared = Some("an earlier run found it damaged".to_owned());
    } else if data.exists() && !verified(dir) {
        // A writer in another process may move on while the walk reads; a finding counts
        // only when the snapshot stayed the newest one throughout.
        for _ in 0..3 {
            let before = check::newest_txnid(&data);
            match check::check_file(&data) {
                Ok(_) => {
                    cleared = None;
                    note_verified(dir);
                    break;
                }
                Err(what) => cleared = Some(format!("its file is damaged: {what}")),
            }
            if check::newest_txnid(&data) == before {
                break;
            }
        }
    }
    if cleared.is_some() {
        clear_files(dir)?;
    }
    match open_env(dir, map_size) {
        Ok(env) => Ok((env, cleared)),
        Err(e) if cleared.is_none() && !matches!(e, heed::Error::Io(_)) => {
            clear_files(dir)?;
            Ok((open_env(dir, map_size)?, Some(format!("LMDB could not open it ({e})"))))
        }
        Err(e) => Err(e),
    }
}

/// The file whose presence makes the next `open_checked` clear the environment.
const DAMAGED: &str = "damaged";

/// The state (newest transaction, size, modification time) of the data file as a check or
/// Pleat's own last commit left it: a file still in that state needs no page walk. A
/// change by anything but an LMDB writer (a bad disk, another program) changes the time.
const VERIFIED: &str = "verified";

/// Commits, then records the data file's state as one LMDB itself wrote ([`VERIFIED`]):
/// the next open skips the page walk while nothing else touches the file.
pub fn commit(env: &Env<WithoutTls>, txn: RwTxn<'_>) -> Result<(), heed::Error> {
    txn.commit()?;
    note_verified(env.path());
    Ok(())
}

fn file_state(data: &Path) -> Option<String> {
    let meta = std::fs::metadata(data).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("{} {} {modified}", check::newest_txnid(data)?, meta.len()))
}

fn note_verified(dir: &Path) {
    if let Some(state) = file_state(&dir.join("data.mdb")) {
        let path = dir.join(VERIFIED);
        // A commit that wrote nothing (every open's transaction naming databases that exist)
        // leaves the state as noted: reading is cheaper than truncating and writing.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(state.as_str()) {
            let _ = std::fs::write(path, state);
        }
    }
}

fn verified(dir: &Path) -> bool {
    let noted = std::fs::read_to_string(dir.join(VERIFIED)).ok();
    noted.is_some() && noted == file_state(&dir.join("data.mdb"))
}

/// Marks the environment in `dir` for clearing when `error` says its pages are damaged:
/// this process has it mapped and cannot clear it, the next one will.
pub fn mark_damaged(dir: &Path, error: &heed::Error) {
    if matches!(
        error,
        heed::Error::Mdb(
            MdbError::Corrupted | MdbError::PageNotFound | MdbError::Invalid | MdbError::VersionMismatch
        )
    ) {
        let _ = std::fs::write(dir.join(DAMAGED), b"");
    }
}

/// Removes an environment's files and its damage mark (the folder and anything else in
/// it stay); LMDB is not opened.
pub fn clear_files(dir: &Path) -> std::io::Result<()> {
    for name in ["data.mdb", "lock.mdb", DAMAGED, VERIFIED] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as Pleat's own commit left it is not walked again; any other change to it is.
    #[test]
    fn the_page_walk_is_skipped_only_for_the_state_a_commit_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (env, cleared) = open_checked(dir.path(), 1 << 20).unwrap();
        assert!(cleared.is_none());
        let mut txn = env.write_txn().unwrap();
        let db: heed::Database<heed::types::Bytes, heed::types::Bytes> =
            env.create_database(&mut txn, Some("d")).unwrap();
        db.put(&mut txn, b"k", b"v").unwrap();
        commit(&env, txn).unwrap();
        assert!(verified(dir.path()), "the commit recorded the file's state");
        drop(env);
        // Another program writes the same bytes back: the time changes, so the next open walks it.
        let data = dir.path().join("data.mdb");
        // File times move in clock ticks (a few milliseconds), not nanoseconds.
        std::thread::sleep(std::time::Duration::from_millis(30));
        std::fs::write(&data, std::fs::read(&data).unwrap()).unwrap();
        assert!(!verified(dir.path()));
        let (_env, cleared) = open_checked(dir.path(), 1 << 20).unwrap();
        assert!(cleared.is_none(), "an intact file passes the walk");
        assert!(verified(dir.path()), "and the walk records it");
    }

    /// A commit that changes nothing leaves the record as it is (not written again); one
    /// that changes the file records its new state.
    #[test]
    fn a_commit_that_writes_nothing_does_not_rewrite_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let (env, _) = open_checked(dir.path(), 1 << 20).unwrap();
        let mut txn = env.write_txn().unwrap();
        let db: heed::Database<heed::types::Bytes, heed::types::Bytes> =
            env.create_database(&mut txn, Some("d")).unwrap();
        commit(&env, txn).unwrap();
        let record = dir.path().join(VERIFIED);
        let inode_and_time = || {
            use std::os::unix::fs::MetadataExt as _;
            let meta = std::fs::metadata(&record).unwrap();
            (meta.ino(), meta.ctime(), meta.ctime_nsec())
        };
        let before = inode_and_time();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let txn = env.write_txn().unwrap();
        commit(&env, txn).unwrap();
        assert_eq!(inode_and_time(), before, "nothing written: the record untouched");
        assert!(verified(dir.path()));
        let mut txn = env.write_txn().unwrap();
        db.put(&mut txn, b"k", b"v").unwrap();
        commit(&env, txn).unwrap();
        assert_ne!(inode_and_time(), before);
        assert!(verified(dir.path()), "a real commit is recorded");
    }
}
