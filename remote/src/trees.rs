//! REAPI `Tree` messages: a stored folder as one `Tree` (what an `ActionResult`'s output directory names in `tree_digest`, so any REAPI client can read Pleat's results), and a `Tree` — from a result or from `GetTree` — checked and written into the local store, so a whole folder comes in one read instead of one per level.

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use engine::hash::Digest;
use engine::reapi;
use engine::store::Store;
use prost::Message as _;

use crate::{RemoteError, content_digest};

/// The `Tree` of the stored folder `root`: its `Directory` and each one below it, once,
/// parents before children.
pub fn tree_of(store: &Store, root: &Digest) -> Result<re::Tree, RemoteError> {
    let function = store.function();
    let read = |d: &Digest| -> Result<re::Directory, RemoteError> {
        let bytes = store.get(d)?.ok_or_else(|| RemoteError::Blob {
            digest: d.to_string(),
            reason: "the folder is not in the local store".to_owned(),
        })?;
        re::Directory::decode(bytes.as_slice()).map_err(|e| RemoteError::Blob {
            digest: d.to_string(),
            reason: format!("the stored folder does not decode: {e}"),
        })
    };
    let top = read(root)?;
    let mut seen = std::collections::BTreeSet::from([*root]);
    let mut queue: std::collections::VecDeque<Digest> = std::collections::VecDeque::new();
    let below = |dir: &re::Directory| -> Vec<Digest> {
        dir.directories.iter().filter_map(|n| content_digest(n.digest.as_ref()?, function)).collect()
    };
    queue.extend(below(&top));
    let mut children = Vec::new();
    while let Some(d) = queue.pop_front() {
        if !seen.insert(d) {
            continue;
        }
        let dir = read(&d)?;
        queue.extend(below(&dir));
        children.push(dir);
    }
    Ok(re::Tree { root: Some(top), children })
}

/// Names each output folder of `result` by its `Tree` too (`tree_digest`), the trees
/// written into the store; the digests of those trees, for the upload.
pub fn attach(store: &Store, result: &mut reapi::ActionResult) -> Result<Vec<Digest>, RemoteError> {
    let function = store.function();
    let mut out = Vec::new();
    for dir in &mut result.output_directories {
        let Some(root) = dir.root_directory_digest.as_ref().and_then(|d| d.to_content(function)) else {
            continue;
        };
        let tree = store.put(&tree_of(store, &root)?.encode_to_vec())?;
        dir.tree_digest = Some(reapi::Digest::from_content(&tree));
        out.push(tree);
    }
    Ok(out)
}

/// Checks the folders of a tree (`root` and the rest in any order) and writes them into the
/// store in one commit: every folder a kept folder names must be among them, and `root`'s
/// digest must be `expected` when given. Returns the root's digest and the digests of the
/// files below it. A folder that is missing or does not hash to the digest its parent
/// names is an error, and nothing is stored.
pub fn store_tree(
    store: &Store,
    root: &re::Directory,
    rest: &[re::Directory],
    expected: Option<&Digest>,
) -> Result<(Digest, Vec<Digest>), RemoteError> {
    let function = store.function();
    let root_bytes = root.encode_to_vec();
    let root_digest = Digest::of(function, &root_bytes);
    if let Some(expected) = expected
        && *expected != root_digest
    {
        return Err(RemoteError::Corrupt { digest: expected.to_string(), got: root_digest.to_string() });
    }
    let by_digest: std::collections::BTreeMap<Digest, Vec<u8>> = rest
        .iter()
        .map(|d| {
            let bytes = d.encode_to_vec();
            (Digest::of(function, &bytes), bytes)
        })
        .collect();
    let mut kept: std::collections::BTreeMap<Digest, &[u8]> = std::collections::BTreeMap::new();
    kept.insert(root_digest, &root_bytes);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for file in &dir.files {
            let digest = file.digest.as_ref().and_then(|d| content_digest(d, function));
            files.push(digest.ok_or_else(|| malformed(&root_digest, &file.name))?);
        }
        for node in &dir.directories {
            let digest = node
                .digest
                .as_ref()
                .and_then(|d| content_digest(d, function))
                .ok_or_else(|| malformed(&root_digest, &node.name))?;
            if kept.contains_key(&digest) {
                continue;
            }
            let bytes = by_digest.get(&digest).ok_or_else(|| RemoteError::Blob {
                digest: root_digest.to_string(),
                reason: format!(
                    "its tree lacks the folder {} ({digest}), or holds it with other bytes",
                    node.name
                ),
            })?;
            kept.insert(digest, bytes);
            stack.push(re::Directory::decode(bytes.as_slice()).map_err(|e| RemoteError::Blob {
                digest: digest.to_string(),
                reason: format!("the folder does not decode: {e}"),
            })?);
        }
    }
    store.put_many(&kept.values().copied().collect::<Vec<_>>())?;
    files.sort();
    files.dedup();
    Ok((root_digest, files))
}

fn malformed(root: &Digest, name: &str) -> RemoteError {
    RemoteError::Blob {
        digest: root.to_string(),
        reason: format!("its tree names {name} by a malformed digest"),
    }
}

/// Reads a stored `Tree` blob and writes its folders into the store ([`store_tree`]).
pub fn unpack(
    store: &Store,
    tree: &Digest,
    expected: Option<&Digest>,
) -> Result<(Digest, Vec<Digest>), RemoteError> {
    let bytes = store.get(tree)?.ok_or_else(|| RemoteError::Blob {
        digest: tree.to_string(),
        reason: "the tree is not in the local store".to_owned(),
    })?;
    let tree_message = re::Tree::decode(bytes.as_slice()).map_err(|e| RemoteError::Blob {
        digest: tree.to_string(),
        reason: format!("the tree does not decode: {e}"),
    })?;
    let Some(root) = tree_message.root.as_ref() else {
        return Err(RemoteError::Blob {
            digest: tree.to_string(),
            reason: "the tree has no root".to_owned(),
        });
    };
    store_tree(store, root, &tree_message.children, expected)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use engine::hash::DigestFunction;
    use engine::tree::Node;

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let options = engine::store::StoreOptions {
            function: DigestFunction::Sha256,
            ..engine::store::StoreOptions::new(dir.path().join("store"))
        };
        let store = Store::open(&options).unwrap();
        (dir, store)
    }

    /// A folder with files two levels deep and one subfolder twice (same content).
    fn folder(store: &Store) -> Digest {
        let mut entries = BTreeMap::new();
        for (path, text) in [("a.txt", "a"), ("x/b.txt", "b"), ("x/y/c.txt", "c"), ("z/y/c.txt", "c")] {
            entries.insert(
                path.to_owned(),
                Node::File { digest: store.put(text.as_bytes()).unwrap(), executable: false },
            );
        }
        engine::tree::from_entries(store, &entries).unwrap()
    }

    #[test]
    fn a_folder_goes_through_its_tree_into_another_store_unchanged() {
        let (_a, here) = store();
        let root = folder(&here);
        let tree = tree_of(&here, &root).unwrap();
        // x, x/y and z; z/y is x/y, named once.
        assert_eq!(tree.children.len(), 3);
        let (_b, there) = store();
        let (got, files) =
            store_tree(&there, tree.root.as_ref().unwrap(), &tree.children, Some(&root)).unwrap();
        assert_eq!(got, root);
        assert_eq!(files.len(), 3, "a, b and c, each once");
        for file in &files {
            there.put(&here.get(file).unwrap().unwrap()).unwrap();
        }
        assert_eq!(
            engine::tree::entries(&there, &root).unwrap(),
            engine::tree::entries(&here, &root).unwrap()
        );
    }

    #[test]
    fn a_tree_missing_a_folder_or_with_another_root_is_refused_and_nothing_is_stored() {
        let (_a, here) = store();
        let root = folder(&here);
        let mut tree = tree_of(&here, &root).unwrap();
        let (_b, there) = store();
        let other = Digest::of(DigestFunction::Sha256, b"another root");
        assert!(matches!(
            store_tree(&there, tree.root.as_ref().unwrap(), &tree.children, Some(&other)),
            Err(RemoteError::Corrupt { .. })
        ));
        // A folder whose bytes changed no longer has the digest its parent names.
        tree.children[0].files.clear();
        let err = store_tree(&there, tree.root.as_ref().unwrap(), &tree.children, Some(&root)).unwrap_err();
        assert!(err.to_string().contains("lacks the folder"), "{err}");
        assert!(!there.contains(&root).unwrap(), "nothing stored");
    }

    #[test]
    fn attached_trees_name_the_same_folders_as_the_roots() {
        let (_a, here) = store();
        let root = folder(&here);
        let mut result = reapi::ActionResult {
            output_directories: vec![reapi::OutputDirectory {
                path: "out".to_owned(),
                tree_digest: None,
                root_directory_digest: Some(reapi::Digest::from_content(&root)),
            }],
            ..reapi::ActionResult::default()
        };
        let trees = attach(&here, &mut result).unwrap();
        assert_eq!(trees.len(), 1);
        assert_eq!(result.output_directories[0].tree_digest, Some(reapi::Digest::from_content(&trees[0])));
        let (got, _) = unpack(&here, &trees[0], None).unwrap();
        assert_eq!(got, root);
    }
}
