//! A tool environment's fingerprint: every entry's path, type, size, mode, inode and change time, hashed. Recorded beside the environment when Pleat builds it, walked again before the first process of a goal run starts from it and after every plain-sandbox process, so a changed environment (a `.pth` a test wrote as root) is rebuilt and never serves a result.
//!
//! The change time (`ctime`) cannot be set by a process: any write, rename, chmod or
//! new entry moves it (or its folder's), so a stat walk sees every change without reading
//! file contents. The cost is one `lstat` per entry (a pytest environment: 2,000 to 4,000),
//! which is why a run answered from the cache alone never walks: a cached result does not
//! depend on the environment as it is now, only a process that starts from it does.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::hash::{Digest, DigestFunction, Hasher};

/// The fingerprint of the tree under `root` as it is now.
pub fn of(root: &Path) -> Digest {
    let mut hasher = Hasher::new(DigestFunction::Blake3);
    let mut stack = vec![(PathBuf::new(), root.to_owned())];
    while let Some((rel, path)) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            hasher.update(format!("{}\0gone\n", rel.display()).as_bytes());
            continue;
        };
        hasher.update(
            format!(
                "{}\0{:o}\0{}\0{}\0{}.{}\0{}.{}\n",
                rel.display(),
                meta.mode(),
                meta.len(),
                meta.ino(),
                meta.ctime(),
                meta.ctime_nsec(),
                meta.mtime(),
                meta.mtime_nsec()
            )
            .as_bytes(),
        );
        if meta.is_dir() {
            let Ok(list) = std::fs::read_dir(&path) else { continue };
            let mut names: Vec<_> = list.flatten().map(|e| e.file_name()).collect();
            // Popped in reverse: the walk order, and so the digest, is the sorted order.
            names.sort_unstable_by(|a, b| b.cmp(a));
            stack.extend(names.into_iter().map(|name| (rel.join(&name), path.join(&name))));
        }
    }
    hasher.finish()
}

/// Where the fingerprint of the environment at `root` is recorded: beside it, outside the
/// folder a process may be given.
pub fn record_path(root: &Path) -> PathBuf {
    root.with_extension("fingerprint")
}

/// Records the fingerprint of `root` as it is now, and returns it.
pub fn record(root: &Path) -> std::io::Result<Digest> {
    let digest = of(root);
    let path = record_path(root);
    let tmp = path.with_extension(format!("fingerprint.tmp{}", std::process::id()));
    std::fs::write(&tmp, format!("{} {}\n", digest.hex(), digest.size))?;
    std::fs::rename(&tmp, &path)?;
    Ok(digest)
}

/// The recorded fingerprint of `root`, if there is one.
pub fn recorded(root: &Path) -> Option<Digest> {
    let text = std::fs::read_to_string(record_path(root)).ok()?;
    let (hex, size) = text.trim().split_once(' ')?;
    Digest::from_hex(DigestFunction::Blake3, hex, size.parse().ok()?)
}

/// Removes the record of `root` when it still says `digest`: the environment was found
/// changed, and the next `ToolEnvs::ensure` (which reads the record, never walks) rebuilds it.
pub fn forget(root: &Path, digest: Digest) {
    if recorded(root) == Some(digest) {
        let _ = std::fs::remove_file(record_path(root));
    }
}

/// What an environment's files must be, as the processes of one goal run share it: walked
/// at most once before the first of them starts (not at all when every answer comes from
/// the cache), and again after each plain-sandbox run. Equal when the digests are.
#[derive(Debug, Clone)]
pub struct Expected {
    pub digest: Digest,
    /// `None` until walked; then whether the files matched (false stays false).
    walked: Arc<Mutex<Option<bool>>>,
}

impl PartialEq for Expected {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for Expected {}

impl Expected {
    /// Not walked yet.
    pub fn new(digest: Digest) -> Self {
        Self { digest, walked: Arc::new(Mutex::new(None)) }
    }

    /// Whether the tree at `root` is what was recorded: walked on the first call (one
    /// caller walks, the others wait for its answer), remembered after. A tree found
    /// changed loses its record ([`forget`]).
    pub fn intact(&self, root: &Path) -> bool {
        let mut walked = self.walked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let intact = *walked.get_or_insert_with(|| of(root) == self.digest);
        if !intact {
            forget(root, self.digest);
        }
        intact
    }

    /// Whether the tree at `root` is what was recorded now (walked every time): after a
    /// process that could have written there. A change is remembered and loses the record.
    pub fn still_intact(&self, root: &Path) -> bool {
        let intact = of(root) == self.digest;
        if !intact {
            *self.walked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(false);
            forget(root, self.digest);
        }
        intact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_new_or_changed_entry_changes_the_fingerprint_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("env");
        std::fs::create_dir_all(root.join("lib/site-packages")).unwrap();
        std::fs::write(root.join("lib/site-packages/mod.py"), "X = 1\n").unwrap();
        let first = record(&root).unwrap();
        assert_eq!(recorded(&root), Some(first));
        assert_eq!(of(&root), first, "a second walk of an unchanged tree");
        std::fs::write(root.join("lib/site-packages/evil.pth"), "import os\n").unwrap();
        let added = of(&root);
        assert_ne!(added, first);
        std::fs::remove_file(root.join("lib/site-packages/evil.pth")).unwrap();
        assert_ne!(of(&root), first, "removing it again leaves the folder's change time moved");
        record(&root).unwrap();
        // Same size, same modification time: the change time still moves.
        let file = root.join("lib/site-packages/mod.py");
        let before = of(&root);
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, "X = 2\n").unwrap();
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
        assert_ne!(of(&root), before);
    }

    /// One walk answers every process of a run; a change found loses the record, so the
    /// next `ensure` rebuilds.
    #[test]
    fn an_expected_fingerprint_is_walked_once_and_a_change_forgets_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("env");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("mod.py"), "X = 1\n").unwrap();
        let expected = Expected::new(record(&root).unwrap());
        let shared = expected.clone();
        assert!(expected.intact(&root));
        std::fs::write(root.join("evil.pth"), "import os\n").unwrap();
        assert!(shared.intact(&root), "remembered from the first walk: no second one");
        assert_eq!(recorded(&root), Some(expected.digest));
        assert!(!shared.still_intact(&root), "walked again after a run");
        assert!(!expected.intact(&root), "and remembered as changed");
        assert_eq!(recorded(&root), None, "the record is gone");
        // A fresh expectation walks again.
        std::fs::remove_file(root.join("evil.pth")).unwrap();
        let fresh = Expected::new(record(&root).unwrap());
        std::fs::write(root.join("evil.pth"), "import os\n").unwrap();
        assert!(!fresh.intact(&root));
        assert_eq!(recorded(&root), None);
    }
}
