//! The cache decorator: look a process up by its action digest; serve a hit only when every output it names is still in the store; write back results the cache scope allows. Errors (timeouts, spawn failures, cancellations) are never cached.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;

use super::{CacheScope, Cancel, CommandRunner, ExecError, Process, ProcessResult, ResultSource};
use crate::hash::Digest;
use crate::reapi;
use crate::store::Store;
use crate::tree::{self, Node};

/// Wraps a runner with the local action cache.
pub struct CacheRunner<R> {
    inner: R,
    store: Arc<Store>,
    rerun_failures: bool,
}

impl<R: CommandRunner> CacheRunner<R> {
    pub fn new(inner: R, store: Arc<Store>) -> Self {
        Self { inner, store, rerun_failures: false }
    }

    /// Runs a process again when its cached result is a failure (with `--keep-sandboxes`,
    /// so a cached failure also leaves a sandbox to replay by hand).
    #[must_use]
    pub fn rerun_failures(mut self, rerun: bool) -> Self {
        self.rerun_failures = rerun;
        self
    }

    /// The cached result of an action, if it and all its outputs are in the store.
    fn lookup(&self, action: &Digest) -> Result<Option<ProcessResult>, ExecError> {
        let Some(bytes) = self.store.get_action(action)? else { return Ok(None) };
        let Ok(result) = reapi::ActionResult::decode(bytes.as_slice()) else {
            self.store.remove_action(action)?;
            return Ok(None);
        };
        let hit = result_of(&self.store, &result, ResultSource::Cache)?;
        if hit.is_none() {
            // Something it names was evicted or damaged: forget the entry and rerun.
            self.store.remove_action(action)?;
        }
        Ok(hit)
    }

    /// True when stdout, stderr or an output of `result` is held in memory only (the store
    /// could not write it).
    fn in_memory_only(&self, result: &ProcessResult) -> Result<bool, ExecError> {
        if [result.stdout, result.stderr, result.output_root].iter().any(|d| self.store.is_spilled(d)) {
            return Ok(true);
        }
        Ok(tree::entries(&self.store, &result.output_root)?
            .values()
            .any(|node| matches!(node, Node::File { digest, .. } if self.store.is_spilled(digest))))
    }
}

/// The REAPI form of a result: declared output files, and each declared output
/// directory as its own tree (what the local and the remote action cache record).
pub fn action_result(
    store: &Store,
    process: &Process,
    result: &ProcessResult,
) -> Result<reapi::ActionResult, ExecError> {
    let entries = tree::entries(store, &result.output_root)?;
    let mut output = reapi::ActionResult {
        exit_code: result.exit_code,
        stdout_digest: Some(reapi::Digest::from_content(&result.stdout)),
        stderr_digest: Some(reapi::Digest::from_content(&result.stderr)),
        execution_metadata: Some(reapi::ExecutedActionMetadata::ended_now(result.duration)),
        ..reapi::ActionResult::default()
    };
    for path in &process.output_files {
        if let Some(Node::File { digest, executable }) = entries.get(path) {
            output.output_files.push(reapi::OutputFile {
                path: path.clone(),
                digest: Some(reapi::Digest::from_content(digest)),
                is_executable: *executable,
            });
        }
    }
    for dir in &process.output_directories {
        let prefix = format!("{dir}/");
        if entries.keys().any(|p| p.starts_with(&prefix)) {
            let root = tree::strip_prefix(store, &result.output_root, dir)?;
            output.output_directories.push(reapi::OutputDirectory {
                path: dir.clone(),
                tree_digest: None,
                root_directory_digest: Some(reapi::Digest::from_content(&root)),
            });
        }
    }
    Ok(output)
}

/// A recorded result as a `ProcessResult` marked `source`, when stdout, stderr and every
/// output it names are in the store (held there until the goal reads them); None otherwise.
pub fn result_of(
    store: &Store,
    result: &reapi::ActionResult,
    source: ResultSource,
) -> Result<Option<ProcessResult>, ExecError> {
    let Some((stdout, stderr, output_root)) = outputs_of(store, result)? else { return Ok(None) };
    Ok(Some(ProcessResult {
        exit_code: result.exit_code,
        stdout,
        stderr,
        output_root,
        duration: result
            .execution_metadata
            .as_ref()
            .map_or(Duration::ZERO, reapi::ExecutedActionMetadata::duration),
        source,
        kept_sandbox: None,
        disk_full: false,
    }))
}

/// stdout, stderr and the output tree of a recorded result, or None when any of them is
/// no longer in the store.
fn outputs_of(
    store: &Store,
    result: &reapi::ActionResult,
) -> Result<Option<(Digest, Digest, Digest)>, ExecError> {
    let function = store.function();
    let digest = |d: &Option<reapi::Digest>| d.as_ref().and_then(|d| d.to_content(function));
    let (Some(stdout), Some(stderr)) = (digest(&result.stdout_digest), digest(&result.stderr_digest)) else {
        return Ok(None);
    };
    // Everything the hit names is held (leased far enough ahead, or pinned until the
    // next commit leases it) before it is served: a collection in another process
    // cannot take a hit's outputs between this check and the goal's reading them.
    let mut needed = vec![stdout, stderr];
    let mut entries = BTreeMap::new();
    for file in &result.output_files {
        let Some(d) = digest(&file.digest) else { return Ok(None) };
        needed.push(d);
        entries.insert(file.path.clone(), Node::File { digest: d, executable: file.is_executable });
    }
    for dir in &result.output_directories {
        let Some(root) = digest(&dir.root_directory_digest) else { return Ok(None) };
        // Reading a directory holds it too; one taken already makes this a miss.
        let Ok(listing) = tree::entries(store, &root) else { return Ok(None) };
        for (path, node) in listing {
            if let Node::File { digest, .. } = &node {
                needed.push(*digest);
            }
            entries.insert(format!("{}/{path}", dir.path), node);
        }
    }
    if !store.hold(&needed)? {
        return Ok(None);
    }
    Ok(Some((stdout, stderr, tree::from_entries(store, &entries)?)))
}

impl<R: CommandRunner> CommandRunner for CacheRunner<R> {
    fn run(&self, process: &Process, cancel: &Cancel) -> Result<ProcessResult, ExecError> {
        if process.cache_scope == CacheScope::Never {
            return self.inner.run(process, cancel);
        }
        let action = process.action_digest(&self.store)?;
        if let Some(hit) = self.lookup(&action)?
            && !(self.rerun_failures && hit.exit_code != 0)
        {
            return Ok(hit);
        }
        if process.cache_only {
            return Err(ExecError::NotCached { description: process.description.clone() });
        }
        let result = self.inner.run(process, cancel)?;
        let cacheable = match process.cache_scope {
            CacheScope::Always => true,
            CacheScope::Successful => result.exit_code == 0,
            CacheScope::Never => false,
        };
        // A failure on a full disk may be the disk's, not the process's: never cached.
        if cacheable && !cancel.is_cancelled() && !result.disk_full {
            let action_result = action_result(&self.store, process, &result)?;
            // An output a full disk kept in memory only would leave the entry naming
            // content no later run finds: such a result is not recorded at all.
            if self.in_memory_only(&result)? {
                self.store.note_unrecorded();
                return Ok(result);
            }
            match self.store.put_action(&action, &action_result.encode_to_vec()) {
                // Not cached; the store says so once, and the result still goes back.
                Ok(()) | Err(crate::store::StoreError::NoSpace(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests;
