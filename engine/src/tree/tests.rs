//! Tree tests: snapshots of real files, merges, prefixes and globs, against a real store.

use std::collections::BTreeMap;

use super::*;
use crate::hash::DigestFunction;
use crate::store::StoreOptions;

fn setup(function: DigestFunction) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&StoreOptions { function, ..StoreOptions::new(dir.path().join("store")) }).unwrap();
    (dir, store)
}

fn write(root: &Path, files: &[(&str, &str)]) -> Vec<String> {
    for (path, text) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    files.iter().map(|(p, _)| (*p).to_owned()).collect()
}

fn listing(store: &Store, tree: &Digest) -> Vec<String> {
    entries(store, tree).unwrap().keys().cloned().collect()
}

#[test]
fn snapshots_are_canonical_and_round_trip() {
    let (dir, store) = setup(DigestFunction::Blake3);
    let root = dir.path().join("ws");
    let paths = write(&root, &[("pkg/b.py", "b"), ("pkg/a.py", "a"), ("top.py", "t"), ("pkg/sub/c.py", "c")]);
    let tree = snapshot(&store, &root, &paths).unwrap();
    let mut reversed = paths.clone();
    reversed.reverse();
    assert_eq!(snapshot(&store, &root, &reversed).unwrap(), tree, "order of input does not matter");
    assert_eq!(listing(&store, &tree), ["pkg/a.py", "pkg/b.py", "pkg/sub/c.py", "top.py"]);
    let root_dir = directory(&store, &tree).unwrap();
    assert_eq!(root_dir.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["top.py"]);
    assert_eq!(root_dir.directories[0].name, "pkg");
    // Content changes change the digest.
    std::fs::write(root.join("pkg/a.py"), "changed").unwrap();
    assert_ne!(snapshot(&store, &root, &paths).unwrap(), tree);
}

#[test]
fn the_empty_tree_has_the_well_known_digest() {
    let (_dir, store) = setup(DigestFunction::Sha256);
    let empty = from_entries(&store, &BTreeMap::new()).unwrap();
    assert_eq!(empty.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

#[test]
fn executables_and_symlinks_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, store) = setup(DigestFunction::Blake3);
    let root = dir.path().join("ws");
    write(&root, &[("run.sh", "#!/bin/sh\n"), ("data.txt", "x")]);
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("data.txt", root.join("link")).unwrap();
    let tree = snapshot(&store, &root, &["run.sh".into(), "data.txt".into(), "link".into()]).unwrap();
    let all = entries(&store, &tree).unwrap();
    assert!(matches!(all["run.sh"], Node::File { executable: true, .. }));
    assert!(matches!(all["data.txt"], Node::File { executable: false, .. }));
    assert_eq!(all["link"], Node::Symlink { target: "data.txt".into() });
}

#[test]
fn merges_prefixes_and_globs() {
    let (dir, store) = setup(DigestFunction::Blake3);
    let root = dir.path().join("ws");
    write(&root, &[("a/x.py", "1"), ("a/y.txt", "2"), ("b/z.py", "3"), ("a/x2.py", "other")]);
    let one = snapshot(&store, &root, &["a/x.py".into(), "a/y.txt".into()]).unwrap();
    let two = snapshot(&store, &root, &["b/z.py".into(), "a/x.py".into()]).unwrap();
    let merged = merge(&store, &[one, two]).unwrap();
    assert_eq!(listing(&store, &merged), ["a/x.py", "a/y.txt", "b/z.py"]);
    let prefixed = add_prefix(&store, &merged, "root/dir").unwrap();
    assert_eq!(listing(&store, &prefixed)[0], "root/dir/a/x.py");
    assert_eq!(strip_prefix(&store, &prefixed, "root/dir").unwrap(), merged);
    assert_eq!(listing(&store, &strip_prefix(&store, &merged, "a").unwrap()), ["x.py", "y.txt"]);
    let python = select(&store, &merged, &["**/*.py".into()]).unwrap();
    assert_eq!(listing(&store, &python), ["a/x.py", "b/z.py"]);
    let top_only = select(&store, &merged, &["*/*.txt".into()]).unwrap();
    assert_eq!(listing(&store, &top_only), ["a/y.txt"]);
}

#[test]
fn conflicts_name_the_path() {
    let (dir, store) = setup(DigestFunction::Blake3);
    let root = dir.path().join("ws");
    write(&root, &[("one/f.py", "1"), ("two/f.py", "2"), ("file", "x"), ("dir/inner", "y")]);
    let one =
        add_prefix(&store, &snapshot(&store, &root.join("one"), &["f.py".into()]).unwrap(), "p").unwrap();
    let two =
        add_prefix(&store, &snapshot(&store, &root.join("two"), &["f.py".into()]).unwrap(), "p").unwrap();
    let error = merge(&store, &[one, two]).unwrap_err();
    assert!(matches!(&error, TreeError::Conflict { path } if path == "p/f.py"), "{error}");
    assert!(error.to_string().contains("p/f.py"));
    // A file where another tree has a folder.
    let file = snapshot(&store, &root, &["file".into()]).unwrap();
    let folder =
        add_prefix(&store, &snapshot(&store, &root.join("dir"), &["inner".into()]).unwrap(), "file").unwrap();
    assert!(matches!(merge(&store, &[file, folder]), Err(TreeError::Conflict { .. })));
}

#[test]
fn bad_paths_and_missing_trees_are_errors() {
    let (dir, store) = setup(DigestFunction::Blake3);
    for bad in ["", "/abs", "a/../b", "a//b", "./a"] {
        assert!(
            matches!(snapshot(&store, dir.path(), &[bad.into()]), Err(TreeError::BadPath { .. })),
            "{bad}"
        );
    }
    let missing = Digest::of(DigestFunction::Blake3, b"no such directory");
    assert!(matches!(entries(&store, &missing), Err(TreeError::Missing { .. })));
    let junk = store.put(&[0xff, 0xff, 0xff]).unwrap();
    assert!(matches!(entries(&store, &junk), Err(TreeError::Corrupt { .. })));
}

#[test]
fn a_snapshot_into_a_fresh_store_commits_its_files_once_and_its_folders_once() {
    let (dir, store) = setup(DigestFunction::Sha256);
    let root = dir.path().join("ws");
    let files: Vec<(String, String)> =
        (0..40).map(|i| (format!("pkg/sub{}/m{i}.py", i % 4), format!("x = {i}\n"))).collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let paths = write(&root, &borrowed);
    let data = dir.path().join("store").join("data.mdb");
    let before = crate::lmdb::check::newest_txnid(&data).unwrap();
    let tree = snapshot(&store, &root, &paths).unwrap();
    assert_eq!(
        crate::lmdb::check::newest_txnid(&data).unwrap(),
        before + 2,
        "40 files and 6 folders: two commits, not 46"
    );
    assert_eq!(listing(&store, &tree).len(), 40);
    for (path, text) in &files {
        let Node::File { digest, .. } = &entries(&store, &tree).unwrap()[path] else {
            panic!("{path} is a file")
        };
        assert_eq!(store.get(digest).unwrap().as_deref(), Some(text.as_bytes()));
    }
}

#[test]
fn several_listings_are_stored_in_one_commit_with_the_roots_each_would_have_alone() {
    let (dir, store) = setup(DigestFunction::Sha256);
    let node = |text: &str| Node::File { digest: store.put(text.as_bytes()).unwrap(), executable: false };
    let shared = node("shared");
    let listings: Vec<BTreeMap<String, Node>> = (0..5)
        .map(|i| {
            BTreeMap::from([
                (format!("pkg/test_{i}.py"), node(&format!("test {i}"))),
                ("pkg/__init__.py".to_owned(), shared.clone()),
                (".pleat/plugin.py".to_owned(), shared.clone()),
            ])
        })
        .collect();
    let data = dir.path().join("store").join("data.mdb");
    let before = crate::lmdb::check::newest_txnid(&data).unwrap();
    let roots = from_listings(&store, &listings).unwrap();
    assert_eq!(crate::lmdb::check::newest_txnid(&data).unwrap(), before + 1, "five trees, one commit");
    let (_other, alone) = setup(DigestFunction::Sha256);
    for (listing, root) in listings.iter().zip(&roots) {
        assert_eq!(entries(&store, root).unwrap(), *listing);
        for node in listing.values() {
            if let Node::File { digest, .. } = node {
                alone.put(&store.get(digest).unwrap().unwrap()).unwrap();
            }
        }
        assert_eq!(from_entries(&alone, listing).unwrap(), *root);
    }
    // A path that is a file in one place and a folder in another is still a conflict.
    let mut clash = listings[0].clone();
    clash.insert("pkg/test_0.py/inner".to_owned(), shared);
    assert!(matches!(from_listings(&store, &[clash]), Err(TreeError::Conflict { .. })));
}
