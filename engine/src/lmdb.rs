//! Opening LMDB environments (heed) safely: one place for the unsafe open, the map size, and the check that a data file is not shorter than its pages.

use std::path::Path;

use heed::{Env, EnvOpenOptions, WithoutTls};

/// Opens (creating) the environment in `dir` with room for a few named databases.
pub fn open_env(dir: &Path, map_size: usize) -> Result<Env<WithoutTls>, heed::Error> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(map_size).max_dbs(8);
    // SAFETY: heed requires that an environment is not opened twice in one process and
    // that its files are not changed behind LMDB's back. Pleat opens each environment once
    // per process; damage from outside is detected where it can be (`is_truncated`, and the
    // parse cache's in-use markers) and the files cleared before anything reads them.
    #[allow(unsafe_code)]
    let env = unsafe { options.open(dir) }?;
    Ok(env)
}

/// True when the data file is shorter than the last page LMDB's meta page names: reading
/// those pages would fault (SIGBUS).
pub fn is_truncated(env: &Env<WithoutTls>, dir: &Path) -> bool {
    let page = u64::from(env.stat().page_size);
    let last = env.info().last_page_number as u64;
    std::fs::metadata(dir.join("data.mdb")).is_ok_and(|m| (last + 1) * page > m.len())
}

/// Removes an environment's files (the folder and anything else in it stay).
pub fn clear_files(dir: &Path) -> std::io::Result<()> {
    for name in ["data.mdb", "lock.mdb"] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
