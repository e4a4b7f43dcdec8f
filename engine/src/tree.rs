//! Merkle trees in the store: REAPI `Directory` messages built from files, read back as flat listings, merged, re-rooted and filtered — without touching the workspace.
//!
//! Every directory is stored as the encoding of a canonical `Directory` (entries sorted by
//! name), so equal trees have equal digests here and on any REAPI server using the same
//! digest function.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message as _;

use crate::hash::Digest;
use crate::reapi;
use crate::store::{Store, StoreError};

/// What sits at a path of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    File { digest: Digest, executable: bool },
    Symlink { target: String },
}

/// A tree operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{path}` is in two trees with different contents; rename one of them or keep one")]
    Conflict { path: String },
    #[error("the store has no directory {digest:?}; it may have been evicted: run again to rebuild it")]
    Missing { digest: Digest },
    #[error(
        "the directory {digest:?} in the store does not decode ({reason}); `pleat cache clear` rebuilds it"
    )]
    Corrupt { digest: Digest, reason: String },
    #[error("`{path}` is not a usable path in a tree: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Checks a tree path: relative, `/`-separated, no `.`/`..`/empty parts.
fn check_path(path: &str) -> Result<(), TreeError> {
    let bad = |reason| Err(TreeError::BadPath { path: path.to_owned(), reason });
    if path.is_empty() {
        return bad("it is empty");
    }
    if path.starts_with('/') {
        return bad("it is absolute");
    }
    if path.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
        return bad("it has an empty, `.` or `..` part");
    }
    Ok(())
}

/// Stores the files at `paths` (relative to `root`) and returns the tree's digest.
/// Symlinks are kept as symlinks; executability is kept.
pub fn snapshot(store: &Store, root: &Path, paths: &[String]) -> Result<Digest, TreeError> {
    from_entries(store, &nodes(store, root, paths)?)
}

/// How many bytes of small files [`nodes`] holds before it stores them together.
const NODES_BATCH: usize = 16 << 20;

/// Stores the files at `paths` (relative to `root`) and returns what each path holds, for
/// callers that build several trees from one set of files (each file is read once).
pub fn nodes(store: &Store, root: &Path, paths: &[String]) -> Result<BTreeMap<String, Node>, TreeError> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries = BTreeMap::new();
    // Small files are read and stored in batches of up to 16 MiB (one commit each on a
    // fresh store, not one per file); large ones stream in on their own.
    let mut small: Vec<(&String, Vec<u8>, bool)> = Vec::new();
    let mut held = 0;
    let flush = |small: &mut Vec<(&String, Vec<u8>, bool)>, entries: &mut BTreeMap<String, Node>| {
        let blobs: Vec<&[u8]> = small.iter().map(|(_, bytes, _)| bytes.as_slice()).collect();
        let digests = store.put_many(&blobs)?;
        for ((path, _, executable), digest) in small.drain(..).zip(digests) {
            entries.insert(path.clone(), Node::File { digest, executable });
        }
        Ok::<(), TreeError>(())
    };
    for path in paths {
        check_path(path)?;
        let full = root.join(path);
        let io = |source| TreeError::Io { path: full.display().to_string(), source };
        let meta = std::fs::symlink_metadata(&full).map_err(io)?;
        let executable = meta.permissions().mode() & 0o111 != 0;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full).map_err(io)?;
            entries.insert(path.clone(), Node::Symlink { target: target.to_string_lossy().into_owned() });
        } else if meta.is_file() && meta.len() < crate::store::LARGE_BLOB {
            let bytes = std::fs::read(&full).map_err(io)?;
            held += bytes.len();
            small.push((path, bytes, executable));
            if held >= NODES_BATCH {
                flush(&mut small, &mut entries)?;
                held = 0;
            }
        } else {
            entries.insert(path.clone(), Node::File { digest: store.put_file(&full)?, executable });
        }
    }
    flush(&mut small, &mut entries)?;
    Ok(entries)
}

/// Builds and stores the directories of a flat listing; returns the root's digest.
pub fn from_entries(store: &Store, entries: &BTreeMap<String, Node>) -> Result<Digest, TreeError> {
    Ok(from_listings(store, std::slice::from_ref(entries))?[0])
}

/// [`from_entries`] for several listings, every directory of all of them stored in one
/// commit (a goal's process trees: one commit, not one per process); the roots in order.
pub fn from_listings(store: &Store, listings: &[BTreeMap<String, Node>]) -> Result<Vec<Digest>, TreeError> {
    let mut messages = Vec::new();
    let mut roots = Vec::with_capacity(listings.len());
    for entries in listings {
        roots.push(encode_dir(store.function(), &build(entries)?, &mut messages));
    }
    messages.sort();
    messages.dedup();
    let blobs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    store.put_many(&blobs)?;
    Ok(roots)
}

/// The folder a flat listing describes; a path that is both a file and a folder is a conflict.
fn build(entries: &BTreeMap<String, Node>) -> Result<Dir, TreeError> {
    let mut root = Dir::default();
    for (path, node) in entries {
        check_path(path)?;
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        let mut dir = &mut root;
        for part in parts {
            if dir.files.contains_key(part) {
                return Err(TreeError::Conflict { path: path.clone() });
            }
            dir = dir.dirs.entry(part.to_owned()).or_default();
        }
        if dir.dirs.contains_key(name) {
            return Err(TreeError::Conflict { path: path.clone() });
        }
        dir.files.insert(name.to_owned(), node.clone());
    }
    Ok(root)
}

/// A folder being built: its files and symlinks, and its subfolders.
#[derive(Default)]
struct Dir {
    files: BTreeMap<String, Node>,
    dirs: BTreeMap<String, Dir>,
}

/// A directory's `Directory` message and those below it, appended to `out`; its digest.
fn encode_dir(function: crate::hash::DigestFunction, dir: &Dir, out: &mut Vec<Vec<u8>>) -> Digest {
    let mut message = reapi::Directory::default();
    for (name, node) in &dir.files {
        match node {
            Node::File { digest, executable } => message.files.push(reapi::FileNode {
                name: name.clone(),
                digest: Some(reapi::Digest::from_content(digest)),
                is_executable: *executable,
            }),
            Node::Symlink { target } => {
                message.symlinks.push(reapi::SymlinkNode { name: name.clone(), target: target.clone() });
            }
        }
    }
    for (name, sub) in &dir.dirs {
        let digest = encode_dir(function, sub, out);
        message.directories.push(reapi::DirectoryNode {
            name: name.clone(),
            digest: Some(reapi::Digest::from_content(&digest)),
        });
    }
    let bytes = message.encode_to_vec();
    let digest = Digest::of(function, &bytes);
    out.push(bytes);
    digest
}

/// Reads a stored directory message.
pub fn directory(store: &Store, digest: &Digest) -> Result<reapi::Directory, TreeError> {
    let bytes = store.get(digest)?.ok_or(TreeError::Missing { digest: *digest })?;
    reapi::Directory::decode(bytes.as_slice())
        .map_err(|e| TreeError::Corrupt { digest: *digest, reason: e.to_string() })
}

/// The flat listing of a tree: every file and symlink by path.
pub fn entries(store: &Store, tree: &Digest) -> Result<BTreeMap<String, Node>, TreeError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(String::new(), *tree)];
    while let Some((prefix, digest)) = stack.pop() {
        let dir = directory(store, &digest)?;
        let join = |name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
        let decode = |d: &Option<reapi::Digest>| {
            d.as_ref().and_then(|d| d.to_content(store.function())).ok_or_else(|| TreeError::Corrupt {
                digest,
                reason: "an entry has no valid digest".to_owned(),
            })
        };
        for file in &dir.files {
            out.insert(
                join(&file.name),
                Node::File { digest: decode(&file.digest)?, executable: file.is_executable },
            );
        }
        for link in &dir.symlinks {
            out.insert(join(&link.name), Node::Symlink { target: link.target.clone() });
        }
        for sub in &dir.directories {
            stack.push((join(&sub.name), decode(&sub.digest)?));
        }
    }
    Ok(out)
}

/// Merges trees; the same path with the same node is fine, with different nodes an error
/// naming it.
pub fn merge(store: &Store, trees: &[Digest]) -> Result<Digest, TreeError> {
    let mut all: BTreeMap<String, Node> = BTreeMap::new();
    for tree in trees {
        union(&mut all, entries(store, tree)?)?;
    }
    from_entries(store, &all)
}

/// Adds `more` to the listing `all` as [`merge`] does: the same path with the same node is
/// fine, with different nodes an error naming it.
pub fn union(all: &mut BTreeMap<String, Node>, more: BTreeMap<String, Node>) -> Result<(), TreeError> {
    for (path, node) in more {
        match all.get(&path) {
            Some(existing) if *existing != node => return Err(TreeError::Conflict { path }),
            _ => {
                all.insert(path, node);
            }
        }
    }
    Ok(())
}

/// Puts a tree under `prefix` (`a/b`).
pub fn add_prefix(store: &Store, tree: &Digest, prefix: &str) -> Result<Digest, TreeError> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Ok(*tree);
    }
    check_path(prefix)?;
    let moved =
        entries(store, tree)?.into_iter().map(|(path, node)| (format!("{prefix}/{path}"), node)).collect();
    from_entries(store, &moved)
}

/// Keeps what is under `prefix`, re-rooted there (files outside it are dropped).
pub fn strip_prefix(store: &Store, tree: &Digest, prefix: &str) -> Result<Digest, TreeError> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Ok(*tree);
    }
    check_path(prefix)?;
    let kept = entries(store, tree)?
        .into_iter()
        .filter_map(|(path, node)| {
            path.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
                .map(|rest| (rest.to_owned(), node))
        })
        .collect();
    from_entries(store, &kept)
}

/// Keeps the paths matching any of the globs (`**` crosses folders, `*` does not).
pub fn select(store: &Store, tree: &Digest, globs: &[String]) -> Result<Digest, TreeError> {
    let set = crate::vfs::glob_set(globs, "select")
        .map_err(|e| TreeError::BadPath { path: e.glob, reason: "it is not a valid glob" })?;
    let kept = entries(store, tree)?.into_iter().filter(|(path, _)| set.is_match(path)).collect();
    from_entries(store, &kept)
}

#[cfg(test)]
mod tests;
