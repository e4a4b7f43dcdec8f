//! A tool environment's fingerprint: every entry's path, type, size, mode, inode and change time, hashed. Recorded beside the environment when Pleat builds it, compared before each use and after every plain-sandbox process, so a changed environment (a `.pth` a test wrote as root) is rebuilt and never serves a result.
//!
//! The change time (`ctime`) cannot be set by a process: any write, rename, chmod or
//! new entry moves it (or its folder's), so a stat walk sees every change without reading
//! file contents. The cost is one `lstat` per entry (a pytest environment: about 2,000).

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

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
}
