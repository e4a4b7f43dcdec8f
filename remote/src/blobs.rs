//! Moving blobs between the local store and the server's CAS: uploads send only what `FindMissingBlobs` says is missing, downloads fetch only what the store lacks; both batch small blobs within the server's `max_batch_total_size_bytes` and stream the rest through ByteStream; folders come by their `Tree` (a result's `tree_digest`, or `GetTree`) when they can. Every downloaded blob is verified against its digest before the store keeps it.

use engine::hash::Digest;
use engine::store::Store;

use crate::client::Client;
use crate::{RemoteError, bytestream, content_digest, digest};

/// gRPC's default message limit, which bounds a batch when the server names none.
const GRPC_MESSAGE: u64 = 4 << 20;
/// Room left in a batch for the request's own fields.
const OVERHEAD: u64 = 64 << 10;
/// What one blob's entry in a batch costs besides its bytes (digest, field tags).
const PER_BLOB: u64 = 128;

/// What the server allows, from its capabilities.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest batch request, in bytes.
    pub batch_bytes: u64,
    /// The REAPI `DigestFunction.Value` of the store.
    pub function: i32,
}

impl Limits {
    /// From `max_batch_total_size_bytes` (0: no limit but gRPC's own).
    pub fn new(max_batch_total_size_bytes: i64, function: i32) -> Self {
        let server =
            u64::try_from(max_batch_total_size_bytes).ok().filter(|n| *n > 0).unwrap_or(GRPC_MESSAGE);
        Self { batch_bytes: server.min(GRPC_MESSAGE).saturating_sub(OVERHEAD).max(PER_BLOB * 2), function }
    }

    /// Whether a blob of `size` bytes goes in a batch (else through ByteStream).
    fn batched(&self, size: u64) -> bool {
        size + PER_BLOB <= self.batch_bytes
    }
}

/// What an upload sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub blobs: u64,
    pub bytes: u64,
}

/// Uploads those of `digests` the server lacks, from the local store.
pub fn upload(
    client: &Client,
    store: &Store,
    digests: &[Digest],
    limits: Limits,
) -> Result<Sent, RemoteError> {
    let mut unique: Vec<Digest> = digests.to_vec();
    unique.sort();
    unique.dedup();
    let wanted: Vec<_> = unique.iter().map(digest).collect();
    let missing = client.find_missing(&wanted, limits.function)?;
    let mut sent = Sent::default();
    let mut batch: Vec<(_, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0;
    for remote in &missing {
        let Some(local) = content_digest(remote, store.function()) else { continue };
        if limits.batched(local.size) {
            let bytes = store.get(&local)?.ok_or_else(|| gone(&local))?;
            if batch_bytes + local.size + PER_BLOB > limits.batch_bytes {
                client.batch_update(std::mem::take(&mut batch), limits.function)?;
                batch_bytes = 0;
            }
            batch_bytes += local.size + PER_BLOB;
            batch.push((remote.clone(), bytes));
        } else if let Some(path) = store.large_path(&local)? {
            bytestream::write(client, &local, &path)?;
        } else {
            // Above the server's batch limit but small for the store: through a file.
            let bytes = store.get(&local)?.ok_or_else(|| gone(&local))?;
            let mut file =
                tempfile::NamedTempFile::new_in(store.dir().join("tmp")).map_err(|e| RemoteError::Blob {
                    digest: local.to_string(),
                    reason: format!("cannot stage it for upload: {e}"),
                })?;
            std::io::Write::write_all(&mut file, &bytes).map_err(|e| RemoteError::Blob {
                digest: local.to_string(),
                reason: format!("cannot stage it for upload: {e}"),
            })?;
            bytestream::write(client, &local, file.path())?;
        }
        sent.blobs += 1;
        sent.bytes += local.size;
    }
    if !batch.is_empty() {
        client.batch_update(batch, limits.function)?;
    }
    Ok(sent)
}

fn gone(digest: &Digest) -> RemoteError {
    RemoteError::Blob {
        digest: digest.to_string(),
        reason: "it left the local store before it could be uploaded".to_owned(),
    }
}

/// Fetches those of `digests` the local store lacks, verifying each; a blob whose bytes do
/// not match its digest is [`RemoteError::Corrupt`] and never stored.
pub fn download(
    client: &Client,
    store: &Store,
    digests: &[Digest],
    limits: Limits,
) -> Result<u64, RemoteError> {
    let mut fetched = 0;
    let mut batch: Vec<Digest> = Vec::new();
    let mut batch_bytes = 0;
    let mut wanted: Vec<Digest> = digests.to_vec();
    wanted.sort();
    wanted.dedup();
    for d in wanted {
        if d.size == 0 {
            store.put(b"")?;
            continue;
        }
        if store.contains(&d)? {
            continue;
        }
        fetched += d.size;
        if !limits.batched(d.size) {
            bytestream::read_into_store(client, store, &d)?;
            continue;
        }
        if batch_bytes + d.size + PER_BLOB > limits.batch_bytes {
            read_batch(client, store, &std::mem::take(&mut batch), limits)?;
            batch_bytes = 0;
        }
        batch_bytes += d.size + PER_BLOB;
        batch.push(d);
    }
    if !batch.is_empty() {
        read_batch(client, store, &batch, limits)?;
    }
    Ok(fetched)
}

/// One `BatchReadBlobs`, every blob verified, then all stored together.
fn read_batch(client: &Client, store: &Store, digests: &[Digest], limits: Limits) -> Result<(), RemoteError> {
    let wanted: Vec<_> = digests.iter().map(digest).collect();
    let responses = client.batch_read(&wanted, limits.function)?;
    let mut verified: Vec<&[u8]> = Vec::with_capacity(digests.len());
    for expected in digests {
        let remote = digest(expected);
        let Some(response) = responses.iter().find(|r| r.digest.as_ref() == Some(&remote)) else {
            return Err(RemoteError::Blob {
                digest: expected.to_string(),
                reason: "the server did not send it".to_owned(),
            });
        };
        if let Some(status) = response.status.as_ref().filter(|s| s.code != 0) {
            return Err(RemoteError::Blob {
                digest: expected.to_string(),
                reason: format!("the server could not send it (code {}: {})", status.code, status.message),
            });
        }
        let got = Digest::of(store.function(), &response.data);
        if got != *expected {
            return Err(RemoteError::Corrupt { digest: expected.to_string(), got: got.to_string() });
        }
        verified.push(&response.data);
    }
    // One commit for the batch.
    store.put_many(&verified)?;
    Ok(())
}

/// Every blob of the tree under `root`: its `Directory` messages and their files.
pub fn tree_blobs(store: &Store, root: &Digest) -> Result<Vec<Digest>, RemoteError> {
    let function = store.function();
    let local = |d: &Option<engine::reapi::Digest>| d.as_ref().and_then(|d| d.to_content(function));
    let mut out = Vec::new();
    let mut stack = vec![*root];
    while let Some(d) = stack.pop() {
        out.push(d);
        let listing = engine::tree::directory(store, &d)?;
        stack.extend(listing.directories.iter().filter_map(|d| local(&d.digest)));
        out.extend(listing.files.iter().filter_map(|f| local(&f.digest)));
    }
    Ok(out)
}

/// Fetches what `result` names into the store, verified: stdout, stderr, output files and
/// the output folders — by their `Tree` when the result names one (the folder's root named
/// too, from the tree, when the result names only the tree), else level by level. The bytes
/// fetched, or `None` when a digest in it is malformed. Two requests for a result whose
/// folders have trees: the files and the trees, then the files below.
pub fn download_result(
    client: &Client,
    store: &Store,
    result: &mut engine::reapi::ActionResult,
    limits: Limits,
) -> Result<Option<u64>, RemoteError> {
    let function = store.function();
    let local = |d: &Option<engine::reapi::Digest>| d.as_ref().and_then(|d| d.to_content(function));
    let (Some(stdout), Some(stderr)) = (local(&result.stdout_digest), local(&result.stderr_digest)) else {
        return Ok(None);
    };
    let mut first = vec![stdout, stderr];
    for file in &result.output_files {
        let Some(d) = local(&file.digest) else { return Ok(None) };
        first.push(d);
    }
    let mut roots = Vec::new();
    let mut trees = Vec::new();
    for (index, dir) in result.output_directories.iter().enumerate() {
        match (dir.tree_digest.as_ref(), local(&dir.root_directory_digest)) {
            (Some(tree), root) => {
                let Some(tree) = tree.to_content(function) else { return Ok(None) };
                first.push(tree);
                trees.push((index, tree, root));
            }
            (None, Some(root)) => {
                first.push(root);
                roots.push(root);
            }
            (None, None) => return Ok(None),
        }
    }
    let mut fetched = download(client, store, &first, limits)?;
    let mut files = Vec::new();
    let mut directories = Vec::new();
    for (index, tree, root) in trees {
        let (root, below) = crate::trees::unpack(store, &tree, root.as_ref())?;
        result.output_directories[index].root_directory_digest =
            Some(engine::reapi::Digest::from_content(&root));
        files.extend(below);
    }
    for root in roots {
        let listing = engine::tree::directory(store, &root)?;
        directories.extend(listing.directories.iter().filter_map(|d| local(&d.digest)));
        files.extend(listing.files.iter().filter_map(|f| local(&f.digest)));
    }
    fetched += download_levels(client, store, files, directories, limits)?;
    Ok(Some(fetched))
}

/// Fetches the folders under `directories` into the store, verified; the bytes fetched. A
/// folder the store lacks comes whole through one `GetTree` (its folders checked against
/// each other, then its missing files in batches); one the server cannot send that way,
/// or one partly stored, level by level.
pub fn download_trees(
    client: &Client,
    store: &Store,
    directories: Vec<Digest>,
    limits: Limits,
) -> Result<u64, RemoteError> {
    let mut fetched = 0;
    let mut rest = Vec::new();
    for root in directories {
        if store.contains(&root)? {
            rest.push(root);
            continue;
        }
        match client.get_tree(&digest(&root), limits.function) {
            Ok(folders) if !folders.is_empty() => {
                let (_, files) = crate::trees::store_tree(store, &folders[0], &folders[1..], Some(&root))?;
                fetched += root.size;
                fetched += download(client, store, &files, limits)?;
            }
            Ok(_) | Err(RemoteError::Rpc { .. }) => rest.push(root),
            Err(e) => return Err(e),
        }
    }
    Ok(fetched + download_levels(client, store, Vec::new(), rest, limits)?)
}

/// Fetches `files` and the trees under `directories`, level by level: each request holds a
/// level's `Directory` messages with the files the level above named, so a tree of depth d
/// costs d + 1 requests with the first files riding along (a test's result: stdout, stderr
/// and its output folder's root in one, the folder's files in the next).
fn download_levels(
    client: &Client,
    store: &Store,
    mut files: Vec<Digest>,
    mut directories: Vec<Digest>,
    limits: Limits,
) -> Result<u64, RemoteError> {
    let function = store.function();
    let local = |d: &Option<engine::reapi::Digest>| d.as_ref().and_then(|d| d.to_content(function));
    let mut fetched = 0;
    loop {
        let level = directories.len();
        files.append(&mut directories);
        fetched += download(client, store, &files, limits)?;
        if level == 0 {
            return Ok(fetched);
        }
        let mut next_files = Vec::new();
        for dir in &files[files.len() - level..] {
            let listing = engine::tree::directory(store, dir)?;
            directories.extend(listing.directories.iter().filter_map(|d| local(&d.digest)));
            next_files.extend(listing.files.iter().filter_map(|f| local(&f.digest)));
        }
        files = next_files;
    }
}

/// Every blob `result` names (stdout, stderr, output files, output folders whole).
pub fn result_blobs(store: &Store, result: &engine::reapi::ActionResult) -> Result<Vec<Digest>, RemoteError> {
    let function = store.function();
    let local = |d: &Option<engine::reapi::Digest>| d.as_ref().and_then(|d| d.to_content(function));
    let mut out = Vec::new();
    out.extend(local(&result.stdout_digest));
    out.extend(local(&result.stderr_digest));
    out.extend(result.output_files.iter().filter_map(|f| local(&f.digest)));
    for dir in &result.output_directories {
        if let Some(root) = local(&dir.root_directory_digest) {
            out.extend(tree_blobs(store, &root)?);
        }
    }
    Ok(out)
}
