//! Opening LMDB environments (heed) safely: one place for the unsafe open and the map size, the check of a data file before LMDB maps it (`check`), clearing a damaged one, and the mark that makes the next open clear it.

pub mod check;

use std::path::Path;

use heed::{Env, EnvOpenOptions, MdbError, WithoutTls};

/// Opens (creating) the environment in `dir` with room for a few named databases.
pub fn open_env(dir: &Path, map_size: usize) -> Result<Env<WithoutTls>, heed::Error> {
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

/// Opens the environment in `dir` after checking its data file page by page without
/// mapping it (`check::check_file`): a file that is damaged, marked damaged by an earlier
/// run (`mark_damaged`), or that LMDB refuses, is removed and the environment starts
/// empty. Returns why it was cleared, as a phrase, when it was.
pub fn open_checked(dir: &Path, map_size: usize) -> Result<(Env<WithoutTls>, Option<String>), heed::Error> {
    let data = dir.join("data.mdb");
    let mut cleared = None;
    if dir.join(DAMAGED).exists() {
        cleared = Some("an earlier run found it damaged".to_owned());
    } else if data.exists() {
        // A writer in another process may move on while the walk reads; a finding counts
        // only when the snapshot stayed the newest one throughout.
        for _ in 0..3 {
            let before = check::newest_txnid(&data);
            match check::check_file(&data) {
                Ok(_) => {
                    cleared = None;
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
    for name in ["data.mdb", "lock.mdb", DAMAGED] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
