//! Processes and runners: `Process` (the cache key, every field that can change behaviour), its REAPI action digest, the `CommandRunner` trait and the errors runners report.
//!
//! Runners are decorators composed in one place (`stack`): the local cache, then the remote
//! cache (when one is configured), then bounded parallelism, then the leaf that runs the
//! process in a fresh sandbox.

pub mod bounded;
pub mod bwrap;
pub mod cache;
pub mod local;
pub mod remote;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message as _;

use crate::hash::Digest;
use crate::reapi;
use crate::store::{Store, StoreError};

/// When a result may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum CacheScope {
    /// Successes and failures (a failing test is a result too).
    Always,
    /// Only exit code 0.
    #[default]
    Successful,
    /// Never (the process has side effects or must rerun).
    Never,
}

impl CacheScope {
    fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Successful => "successful",
            Self::Never => "never",
        }
    }
}

/// A process to run: every field but `description`, `execution_slot_variable`,
/// `append_only_caches`, `cache_only` and `host_paths` is part of its cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Program and arguments. No shell; the program is looked up on `PATH` only when the
    /// environment gives one.
    pub argv: Vec<String>,
    /// The whole environment: nothing else passes into the sandbox.
    pub env: BTreeMap<String, String>,
    /// The tree the process sees as its working root.
    pub input_root: Digest,
    /// Where it starts, relative to the root (`""` for the root).
    pub working_directory: String,
    /// Files and folders (relative to the working directory) that leave the sandbox.
    pub output_files: BTreeSet<String>,
    pub output_directories: BTreeSet<String>,
    pub timeout: Option<Duration>,
    /// Interpreter path and version, OS, architecture, tool versions: anything about the
    /// machine that can change the result.
    pub platform: BTreeMap<String, String>,
    pub cache_scope: CacheScope,
    /// For people; outside the key.
    pub description: String,
    /// Set to the runner's slot number (0, 1, …) so parallel processes can pick distinct
    /// ports; outside the key.
    pub execution_slot_variable: Option<String>,
    /// The slot the bounded runner gave this run; outside the key.
    pub execution_slot: Option<usize>,
    /// Named append-only caches (name → path inside the sandbox), shared between runs and
    /// outside the key: mypy's cache, the installer's download cache.
    pub append_only_caches: BTreeMap<String, String>,
    /// Answer from the cache or not at all ([`ExecError::NotCached`]): what an editor shows
    /// again on start without running anything.
    pub cache_only: bool,
    /// Folders outside the sandbox the process runs from (its tool environment, the
    /// interpreter's installation), outside the key (the platform names them): bound
    /// read-only under bwrap; those with a fingerprint are checked before the process
    /// starts (walked once for all the processes sharing it: a cache hit walks nothing),
    /// and in the plain sandbox after the run too: a run that leaves one changed is an
    /// error, never cached.
    pub host_paths: Vec<HostPath>,
}

/// A folder outside the sandbox that a process reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    pub path: std::path::PathBuf,
    /// What its files must be ([`crate::tools::fingerprint`]); `None`: not checked.
    pub fingerprint: Option<crate::tools::fingerprint::Expected>,
}

impl Process {
    /// A process with defaults: no environment, no outputs, no timeout, cached on success.
    pub fn new(argv: Vec<String>, input_root: Digest) -> Self {
        Self {
            argv,
            env: BTreeMap::new(),
            input_root,
            working_directory: String::new(),
            output_files: BTreeSet::new(),
            output_directories: BTreeSet::new(),
            timeout: None,
            platform: BTreeMap::new(),
            cache_scope: CacheScope::default(),
            description: String::new(),
            execution_slot_variable: None,
            execution_slot: None,
            append_only_caches: BTreeMap::new(),
            cache_only: false,
            host_paths: Vec::new(),
        }
    }

    /// The REAPI `Command` of the key (canonical: environment and outputs sorted). The
    /// folder holding the tool environments a process runs from (the parent of each
    /// `host_paths` entry with a fingerprint, under the cache folder) is written
    /// `${PLEAT_TOOLS}`: where the cache folder is differs between machines, while the
    /// environment's own folder name and the platform name its contents, so two machines
    /// (a laptop and CI sharing a remote cache) compute the same key.
    pub fn command(&self) -> reapi::Command {
        let mut tools: Vec<String> = self
            .host_paths
            .iter()
            .filter(|h| h.fingerprint.is_some())
            .filter_map(|h| h.path.parent().map(|p| p.to_string_lossy().into_owned()))
            .filter(|p| p.len() > 1)
            .collect();
        // The longest first, so a folder inside another is replaced whole.
        tools.sort_by_key(|p| std::cmp::Reverse(p.len()));
        tools.dedup();
        let neutral = |text: &str| -> String {
            let mut out = text.to_owned();
            for folder in &tools {
                if out.contains(folder.as_str()) {
                    out = out.replace(folder.as_str(), "${PLEAT_TOOLS}");
                }
            }
            out
        };
        reapi::Command {
            arguments: self.argv.iter().map(|a| neutral(a)).collect(),
            environment_variables: self
                .env
                .iter()
                .map(|(name, value)| reapi::EnvironmentVariable { name: name.clone(), value: neutral(value) })
                .collect(),
            output_files: self.output_files.iter().cloned().collect(),
            output_directories: self.output_directories.iter().cloned().collect(),
            working_directory: self.working_directory.clone(),
        }
    }

    /// The REAPI `Action`, with the cache scope and the engine's cache version in the
    /// platform so they take part in the key.
    pub fn action(&self, command_digest: &Digest) -> reapi::Action {
        let mut properties: BTreeMap<&str, &str> =
            self.platform.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        properties.insert("pleat.cache_scope", self.cache_scope.name());
        properties.insert("pleat.cache_version", CACHE_VERSION);
        reapi::Action {
            command_digest: Some(reapi::Digest::from_content(command_digest)),
            input_root_digest: Some(reapi::Digest::from_content(&self.input_root)),
            // Not in the key: a run that finished is valid under any time limit, and a run
            // that timed out is never cached; so the command line (no limit), the editor
            // (300 s) and CI share results. The runner enforces `self.timeout` itself.
            timeout: None,
            do_not_cache: self.cache_scope == CacheScope::Never,
            salt: Vec::new(),
            platform: Some(reapi::Platform {
                properties: properties
                    .into_iter()
                    .map(|(name, value)| reapi::PlatformProperty {
                        name: name.to_owned(),
                        value: value.to_owned(),
                    })
                    .collect(),
            }),
        }
    }

    /// Stores the `Command` and `Action` and returns the action digest: the cache key, the
    /// same locally and on a REAPI server.
    pub fn action_digest(&self, store: &Store) -> Result<Digest, StoreError> {
        let command = self.command().encode_to_vec();
        let action = self.action(&crate::hash::Digest::of(store.function(), &command)).encode_to_vec();
        // Both in one commit: on a fresh store every process's key is a new write.
        let stored = store.put_many(&[&command, &action])?;
        Ok(stored[1])
    }
}

/// How the runner stack is set up.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Processes at once (default: the number of cores).
    pub parallelism: usize,
    /// Where sandboxes are made (on the store's filesystem).
    pub sandboxes: std::path::PathBuf,
    /// Where named append-only caches live.
    pub named_caches: std::path::PathBuf,
    pub keep_sandboxes: local::KeepSandboxes,
    pub sandbox: local::SandboxKind,
    /// The remote cache asked on a local miss (`[tool.pleat.remote]`), if any.
    pub remote: Option<Arc<dyn remote::RemoteCache>>,
    /// The remote executor that runs a miss in place of `Local` (`execution = true`), if any.
    pub executor: Option<Arc<dyn remote::RemoteExecutor>>,
}

/// The stack [`stack`] composes.
pub type Stack = cache::CacheRunner<remote::RemoteCacheRunner<bounded::Bounded<local::LocalRunner>>>;

/// The runner stack, composed in this one place:
/// `Cache(local store) → RemoteCache → Bounded(parallelism) → Local sandbox`. The caches are
/// asked first, so a cached answer never waits for a slot behind processes that run (an
/// editor replaying its last results while a save's tests hold every core); a remote hit
/// goes back through the local cache, which records it, so the next run is a local hit.
pub fn stack(store: &Arc<Store>, options: &StackOptions) -> Arc<Stack> {
    let leaf = local::LocalRunner::new(
        Arc::clone(store),
        options.sandboxes.clone(),
        options.named_caches.clone(),
        options.keep_sandboxes,
    )
    .with_sandbox(options.sandbox);
    let keeps = options.keep_sandboxes != local::KeepSandboxes::Never;
    Arc::new(
        cache::CacheRunner::new(
            remote::RemoteCacheRunner::new(
                bounded::Bounded::new(leaf, options.parallelism),
                options.remote.clone(),
                Arc::clone(store),
            )
            .executing_with(options.executor.clone()),
            Arc::clone(store),
        )
        .rerun_failures(keeps),
    )
}

/// Bumped when the meaning of a cached result changes.
pub const CACHE_VERSION: &str = "1";

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultSource {
    /// Run here.
    Ran,
    /// The local action cache.
    Cache,
    /// The remote action cache (its outputs fetched and verified).
    RemoteCache,
    /// Run by a remote executor (its outputs fetched and verified).
    Remote,
}

impl ResultSource {
    /// Answered from a cache, local or remote: nothing ran here.
    pub fn is_cached(self) -> bool {
        matches!(self, Self::Cache | Self::RemoteCache)
    }

    /// How many of `sources` came from each source, by [`ResultSource::name`] (for summaries).
    pub fn counts(
        sources: impl IntoIterator<Item = Self>,
    ) -> std::collections::BTreeMap<&'static str, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for source in sources {
            *counts.entry(source.name()).or_insert(0) += 1;
        }
        counts
    }

    /// `local`, `local-cache`, `remote-cache` or `remote`, as the JSON results write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ran => "local",
            Self::Cache => "local-cache",
            Self::RemoteCache => "remote-cache",
            Self::Remote => "remote",
        }
    }
}

/// What a finished process left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessResult {
    pub exit_code: i32,
    pub stdout: Digest,
    pub stderr: Digest,
    /// The declared outputs that existed, as a tree.
    pub output_root: Digest,
    /// How long the process ran (for a cached result: the run that made it).
    pub duration: Duration,
    pub source: ResultSource,
    /// The sandbox folder kept for replaying by hand (`--keep-sandboxes`), if any.
    pub kept_sandbox: Option<std::path::PathBuf>,
    /// It failed while the disk holding its sandbox was full (or said a write did not fit):
    /// the failure may be the disk's, so it is never cached.
    pub disk_full: bool,
}

/// A process that could not produce a result. None of these is ever cached.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{description} timed out after {:.1} s and was killed with everything it started", after.as_secs_f64())]
    Timeout { description: String, after: Duration, stdout: Digest, stderr: Digest },
    #[error("{description} was cancelled")]
    Cancelled { description: String },
    #[error("cannot start `{program}` for {description}: {reason}")]
    Spawn { description: String, program: String, reason: String },
    #[error("{description}: output `{path}` {reason}; declare outputs as relative paths inside the sandbox")]
    Output { description: String, path: String, reason: String },
    #[error("{description}: cannot prepare the sandbox: {reason}")]
    Sandbox { description: String, reason: String },
    #[error("{description} has no cached result (and was asked for the cache only)")]
    NotCached { description: String },
    /// The sandbox could not be written for lack of space.
    #[error("{description} could not run: {full}")]
    NoSpace { description: String, full: crate::disk::NoSpace },
    #[error(
        "{description}: the tool environment {} was changed while it ran (in the plain sandbox only a process running as root can write there: this one or one beside it), so no result is kept and the next run rebuilds it; run as another user than root, or with sandbox = \"bwrap\", where environments are read-only",
        path.display()
    )]
    EnvironmentChanged { description: String, path: std::path::PathBuf },
    #[error(
        "{description} did not run: the tool environment {} is no longer what Pleat built (something wrote into it or removed files since), so Pleat forgot it; run again and Pleat rebuilds it",
        path.display()
    )]
    EnvironmentDamaged { description: String, path: std::path::PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] crate::tree::TreeError),
}

/// Cancels work in progress (a newer save, Ctrl-C). Cheap to clone and check.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    own: Arc<AtomicBool>,
    /// A child is cancelled with its parent too.
    parent: Option<Arc<AtomicBool>>,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cancel of its own that its parent's cancel also sets (one level).
    #[must_use]
    pub fn child(&self) -> Self {
        Self { own: Arc::new(AtomicBool::new(false)), parent: Some(Arc::clone(&self.own)) }
    }

    pub fn cancel(&self) {
        self.own.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.own.load(Ordering::SeqCst) || self.parent.as_ref().is_some_and(|p| p.load(Ordering::SeqCst))
    }
}

/// Runs processes. Decorators wrap an inner runner; the leaf runs the process.
pub trait CommandRunner: Send + Sync {
    fn run(&self, process: &Process, cancel: &Cancel) -> Result<ProcessResult, ExecError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::DigestFunction;

    type Change = Box<dyn Fn(&mut Process)>;

    #[test]
    fn the_key_holds_every_behavioural_field_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::StoreOptions::new(dir.path())).unwrap();
        let root = Digest::of(DigestFunction::Blake3, b"root");
        let base = Process::new(vec!["/bin/echo".into(), "hi".into()], root);
        let key = |p: &Process| p.action_digest(&store).unwrap();
        let k = key(&base);
        let mut changed = Vec::new();
        let variants: Vec<Change> = vec![
            Box::new(|p| p.argv.push("x".into())),
            Box::new(|p| {
                p.env.insert("A".into(), "1".into());
            }),
            Box::new(|p| p.input_root = Digest::of(DigestFunction::Blake3, b"other")),
            Box::new(|p| p.working_directory = "sub".into()),
            Box::new(|p| {
                p.output_files.insert("out.txt".into());
            }),
            Box::new(|p| {
                p.output_directories.insert("out".into());
            }),
            Box::new(|p| {
                p.platform.insert("python".into(), "3.11.7".into());
            }),
            Box::new(|p| p.cache_scope = CacheScope::Always),
        ];
        for variant in &variants {
            let mut p = base.clone();
            variant(&mut p);
            changed.push(key(&p) != k);
        }
        assert!(changed.iter().all(|c| *c), "every field changes the key: {changed:?}");
        let mut outside = base.clone();
        outside.description = "for people".into();
        outside.execution_slot_variable = Some("SLOT".into());
        outside.append_only_caches.insert("mypy".into(), ".mypy_cache".into());
        outside.execution_slot = Some(3);
        outside.timeout = Some(Duration::from_secs(5));
        assert_eq!(
            key(&outside),
            k,
            "description, slot, named caches and the time limit are outside the key"
        );
        // Where the cache folder (and so the tool environment) is does not matter.
        let in_folder = |folder: &str| {
            let mut p = base.clone();
            let env = format!("{folder}/tools/pytest-0123456789abcdef");
            p.argv = vec![format!("{env}/bin/python"), "-m".into(), "pytest".into()];
            p.env.insert("PATH".into(), format!("{env}/bin:/usr/bin"));
            p.host_paths.push(HostPath {
                path: env.into(),
                fingerprint: Some(crate::tools::fingerprint::Expected::new(root)),
            });
            p
        };
        assert_eq!(key(&in_folder("/home/a/.cache/pleat")), key(&in_folder("/ci/cache")));
        assert_ne!(key(&in_folder("/ci/cache")), k);
        // The environment's order of insertion does not matter (it is a sorted map).
        let mut a = base.clone();
        a.env.insert("B".into(), "2".into());
        a.env.insert("A".into(), "1".into());
        let mut b = base.clone();
        b.env.insert("A".into(), "1".into());
        b.env.insert("B".into(), "2".into());
        assert_eq!(key(&a), key(&b));
    }

    /// A stack of `parallelism` slots over a fresh store in a temporary folder, with the
    /// empty input root.
    fn plain_stack(parallelism: usize) -> (tempfile::TempDir, Arc<Store>, Arc<Stack>, Digest) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&crate::store::StoreOptions::new(dir.path().join("store"))).unwrap());
        let options = StackOptions {
            parallelism,
            sandboxes: dir.path().join("sandboxes"),
            named_caches: dir.path().join("caches"),
            keep_sandboxes: local::KeepSandboxes::Never,
            sandbox: local::SandboxKind::Plain,
            remote: None,
            executor: None,
        };
        let runner = stack(&store, &options);
        let root = crate::tree::from_entries(&store, &std::collections::BTreeMap::new()).unwrap();
        (dir, store, runner, root)
    }

    #[test]
    fn the_stack_runs_caches_and_exports_the_slot() {
        let (_dir, store, runner, root) = plain_stack(2);
        let mut p = Process::new(vec!["/bin/sh".into(), "-c".into(), "echo slot=$SLOT".into()], root);
        p.execution_slot_variable = Some("SLOT".into());
        let first = runner.run(&p, &Cancel::new()).unwrap();
        let second = runner.run(&p, &Cancel::new()).unwrap();
        assert_eq!(first.source, ResultSource::Ran);
        assert_eq!(second.source, ResultSource::Cache);
        let out = String::from_utf8(store.get(&first.stdout).unwrap().unwrap()).unwrap();
        assert!(out == "slot=0\n" || out == "slot=1\n", "{out}");
    }

    #[test]
    fn a_cached_answer_never_waits_for_a_slot_that_a_running_process_holds() {
        let (dir, _store, runner, root) = plain_stack(1);
        let quick = Process::new(vec!["/bin/sh".into(), "-c".into(), "echo cached".into()], root);
        assert_eq!(runner.run(&quick, &Cancel::new()).unwrap().source, ResultSource::Ran);
        // A long process takes the only slot (it runs until cancelled).
        let slow = Process::new(vec!["/bin/sh".into(), "-c".into(), "sleep 120".into()], root);
        let (cancel, started) = (Cancel::new(), std::sync::mpsc::channel());
        let holder = {
            let (runner, cancel, started) = (Arc::clone(&runner), cancel.clone(), started.0);
            std::thread::spawn(move || {
                let _ = started.send(());
                runner.run(&slow, &cancel)
            })
        };
        started.1.recv().unwrap();
        // Past the slot's hand-out: the slow process is sleeping in it.
        while !dir.path().join("sandboxes").read_dir().is_ok_and(|mut d| d.next().is_some()) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mut replay = quick.clone();
        replay.cache_only = true;
        assert_eq!(runner.run(&replay, &Cancel::new()).unwrap().source, ResultSource::Cache);
        assert!(!holder.is_finished(), "the cached answer came only once the slot was free");
        cancel.cancel();
        assert!(holder.join().unwrap().is_err());
    }
}
