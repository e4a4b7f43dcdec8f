//! The goals (lint, fmt, test, check): they build processes from the project and its graph, run them through the runner stack, and turn tool output into plain-data results.

pub mod check;
pub mod debug;
pub mod dist_info;
pub mod export;
pub mod fmt;
pub mod lint;
pub mod order;
pub mod package;
pub mod resources;
pub mod test;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::exec::{Cancel, CommandRunner, ExecError, StackOptions};
use crate::hash::Digest;
use crate::project::Project;
use crate::store::{Store, StoreError, StoreOptions};
use crate::tools::{Interpreter, ToolEnv, ToolEnvs, ToolError, ToolSpec};

/// A goal could not finish.
#[derive(Debug, thiserror::Error)]
pub enum GoalError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] crate::tree::TreeError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// A file two named resolves claim.
    #[error("{0}")]
    Resolve(#[from] crate::resolves::ResolveError),
    #[error(
        "{tool} printed output Pleat cannot read for {file} ({reason}); run it by hand with --keep-sandboxes=always to see why"
    )]
    Output { tool: String, file: String, reason: String },
    /// A tool's configuration that Pleat cannot give the tool in a sandbox.
    #[error("{file}: {reason}")]
    Config { file: String, reason: String },
    #[error(
        "{tool} failed (exit code {exit_code}) without reporting a finding Pleat can read, so the result is not clean; fix what it said, or run it by hand with --keep-sandboxes=always. It said:\n{output}"
    )]
    Failed { tool: String, exit_code: i32, output: String },
}

/// Everything a goal runs with.
pub struct Goals {
    pub store: Arc<Store>,
    pub runner: Arc<dyn CommandRunner>,
    pub tools: ToolEnvs,
    pub cancel: Cancel,
    /// `[tool.pleat.tools]`: tool name → its requirements, read from the project.
    pub overrides: std::collections::BTreeMap<String, String>,
    /// How `runner` was composed ([`Goals::build_runner`] makes a variant of it).
    pub stack: StackOptions,
}

/// How to set the goals up.
#[derive(Debug, Clone)]
pub struct GoalOptions {
    pub cache_dir: PathBuf,
    pub interpreter: Option<PathBuf>,
    pub parallelism: usize,
    pub keep_sandboxes: crate::exec::local::KeepSandboxes,
    pub sandbox: crate::exec::local::SandboxKind,
    /// The store's size cap; `finish` evicts down to it.
    pub max_bytes: u64,
    /// The store's digest function (SHA-256 with a remote cache, which speaks only that).
    pub digest_function: crate::hash::DigestFunction,
    /// The remote cache asked on a local miss, if any (made by the caller: the engine has no
    /// network client).
    pub remote: Option<Arc<dyn crate::exec::remote::RemoteCache>>,
    /// The remote executor that runs misses in place of this machine, if any.
    pub executor: Option<Arc<dyn crate::exec::remote::RemoteExecutor>>,
}

impl GoalOptions {
    /// The goal options a project's configuration asks for (its interpreter, sandbox and
    /// cache cap), one worker per core. `sandbox = "auto"` is bubblewrap where it can run
    /// (`exec::bwrap::available_in`: the probe's answer remembered in the cache folder),
    /// else plain: [`GoalOptions::sandbox_fallback`] says why, for the caller to say. The
    /// sandbox is not in any process's key: either kind answers from the same results.
    pub fn for_project(
        cache_dir: PathBuf,
        config: &crate::config::Config,
        keep_sandboxes: crate::exec::local::KeepSandboxes,
    ) -> Self {
        use crate::config::Sandbox;
        use crate::exec::local::SandboxKind;
        let sandbox = match config.sandbox {
            Sandbox::Bwrap => SandboxKind::Bwrap,
            Sandbox::Auto if crate::exec::bwrap::available_in(&cache_dir).is_ok() => SandboxKind::Bwrap,
            Sandbox::Plain | Sandbox::Auto => SandboxKind::Plain,
        };
        Self {
            cache_dir,
            interpreter: config.interpreter.as_ref().map(PathBuf::from),
            parallelism: parallelism(),
            keep_sandboxes,
            sandbox,
            max_bytes: config.cache_max_bytes,
            digest_function: config.digest_function(),
            remote: None,
            executor: None,
        }
    }

    /// Why `sandbox = "auto"` in `config` gives the plain sandbox here, when it does
    /// (the probe's answer remembered under `cache_dir`).
    pub fn sandbox_fallback(
        config: &crate::config::Config,
        cache_dir: &Path,
    ) -> Option<&'static crate::exec::bwrap::Unavailable> {
        if config.sandbox == crate::config::Sandbox::Auto {
            crate::exec::bwrap::available_in(cache_dir).err()
        } else {
            None
        }
    }
}

/// How many processes the goals run at once: one per core.
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

impl Goals {
    /// Opens the store, finds the interpreter, composes the runner stack.
    pub fn new(options: &GoalOptions) -> Result<Self, GoalError> {
        Self::with_store(Arc::new(Self::open_store(options)?), options)
    }

    /// Opens the store under the cache folder (once per process: LMDB must not be opened
    /// twice by one process).
    pub fn open_store(options: &GoalOptions) -> Result<Store, GoalError> {
        Ok(Store::open(&StoreOptions {
            max_bytes: options.max_bytes,
            function: options.digest_function,
            ..StoreOptions::new(options.cache_dir.join("store-v1"))
        })?)
    }

    /// Goals on an open store (a language server shares one store between workspaces).
    pub fn with_store(store: Arc<Store>, options: &GoalOptions) -> Result<Self, GoalError> {
        let interpreter = Interpreter::find_cached(options.interpreter.as_deref(), &options.cache_dir)?;
        let stack = StackOptions {
            parallelism: options.parallelism,
            sandboxes: options.cache_dir.join("sandboxes"),
            named_caches: options.cache_dir.join("named"),
            keep_sandboxes: options.keep_sandboxes,
            sandbox: options.sandbox,
            remote: options.remote.clone(),
            executor: options.executor.clone(),
        };
        let runner: Arc<dyn CommandRunner> = crate::exec::stack(&store, &stack);
        Ok(Self {
            tools: ToolEnvs::new(&options.cache_dir, interpreter),
            store,
            runner,
            cancel: Cancel::new(),
            overrides: std::collections::BTreeMap::new(),
            stack,
        })
    }

    /// The same stack in the plain sandbox, whatever the project's setting: for builds that
    /// fetch their build backend from the registry (`package`), which bubblewrap's empty
    /// network namespace would stop.
    pub fn build_runner(&self) -> Arc<dyn CommandRunner> {
        let options = StackOptions { sandbox: crate::exec::local::SandboxKind::Plain, ..self.stack.clone() };
        crate::exec::stack(&self.store, &options)
    }

    /// Ends a goal: records what was read (for LRU) and evicts down to the size cap when
    /// the store has grown past it.
    pub fn finish(&self) -> Result<Option<crate::store::GcReport>, GoalError> {
        self.store.flush_access()?;
        let stats = self.store.stats()?;
        if stats.bytes > stats.max_bytes { Ok(Some(self.store.gc(None)?)) } else { Ok(None) }
    }

    /// The same store, runner and tools with a cancel of their own (one per editor run,
    /// so a newer save stops only the work it made stale).
    #[must_use]
    pub fn with_cancel(&self, cancel: Cancel) -> Self {
        Self {
            store: Arc::clone(&self.store),
            runner: Arc::clone(&self.runner),
            tools: self.tools.clone(),
            cancel,
            overrides: self.overrides.clone(),
            stack: self.stack.clone(),
        }
    }

    /// The same goals, building no environment and resolving nothing new
    /// ([`crate::tools::ToolEnvs::build`]): for answers from the cache alone.
    #[must_use]
    pub fn building_nothing(mut self) -> Self {
        self.tools.build = false;
        self
    }

    /// Reads the `[tool.pleat.tools]` requirement files of a project.
    pub fn with_overrides(mut self, project: &Project) -> Result<Self, GoalError> {
        for (name, tool) in &project.config.tools {
            let path = project.root.join(&tool.requirements);
            let text = std::fs::read_to_string(&path).map_err(|e| GoalError::Output {
                tool: name.clone(),
                file: path.display().to_string(),
                reason: format!(
                    "[tool.pleat.tools.{name}] names a requirements file that cannot be read: {e}"
                ),
            })?;
            self.overrides.insert(name.clone(), text);
        }
        Ok(self)
    }

    /// A tool's spec: the shipped lockfile, or the project's override.
    pub fn spec(&self, name: &str) -> Result<ToolSpec, GoalError> {
        let mut spec = ToolSpec::builtin(name)?;
        if let Some(requirements) = self.overrides.get(name) {
            spec.requirements.clone_from(requirements);
        }
        Ok(spec)
    }

    /// A tool's environment (built on first use).
    pub fn tool(&self, name: &str, progress: &mut dyn FnMut(&str)) -> Result<ToolEnv, GoalError> {
        Ok(self.tools.ensure(&self.spec(name)?, progress)?)
    }

    /// The platform properties every process of a tool carries: interpreter and tool.
    pub fn platform(&self, tool: &ToolEnv) -> std::collections::BTreeMap<String, String> {
        let mut platform = std::collections::BTreeMap::new();
        platform.insert("interpreter".to_owned(), self.tools.interpreter.identity());
        platform.insert(format!("tool.{}", tool.name), tool.key.hex());
        platform.insert("os".to_owned(), std::env::consts::OS.to_owned());
        platform.insert("arch".to_owned(), std::env::consts::ARCH.to_owned());
        platform
    }

    /// Makes `process` run from `tool`: its platform properties, and the environment and
    /// the interpreter's installation as the folders it reads outside its sandbox.
    pub fn runs_from(&self, process: &mut crate::exec::Process, tool: &ToolEnv) {
        process.platform = self.platform(tool);
        process.host_paths.push(crate::exec::HostPath {
            path: tool.root.clone(),
            fingerprint: Some(tool.fingerprint.clone()),
        });
        if let Some(prefix) = self.tools.interpreter.prefix() {
            process.host_paths.push(crate::exec::HostPath { path: prefix, fingerprint: None });
        }
    }

    /// Stores workspace files (only those that exist), each read once however many of
    /// the goal's processes see it; trees of subsets are then built with [`Goals::tree_of`].
    pub fn read_files(
        &self,
        root: &Path,
        paths: impl IntoIterator<Item = String>,
    ) -> Result<std::collections::BTreeMap<String, crate::tree::Node>, GoalError> {
        let mut present: Vec<String> = paths.into_iter().filter(|p| root.join(p).is_file()).collect();
        present.sort();
        present.dedup();
        Ok(crate::tree::nodes(&self.store, root, &present)?)
    }

    /// The tree of some of the files [`Goals::read_files`] returned.
    pub fn tree_of(
        &self,
        files: &std::collections::BTreeMap<String, crate::tree::Node>,
        paths: &[String],
    ) -> Result<Digest, GoalError> {
        let subset = paths
            .iter()
            .filter_map(|p| files.get_key_value(p))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(crate::tree::from_entries(&self.store, &subset)?)
    }

    /// A stored blob as text (stdout, a report).
    pub fn text(&self, digest: &Digest) -> Result<String, GoalError> {
        Ok(self.store.get(digest)?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
    }
}

/// Tool configuration files a linter or formatter reads from the root.
pub fn config_files(project: &Project) -> Vec<String> {
    [
        "pyproject.toml",
        "ruff.toml",
        ".ruff.toml",
        "setup.cfg",
        "tox.ini",
        ".flake8",
        ".pylintrc",
        "mypy.ini",
        ".isort.cfg",
    ]
    .into_iter()
    .filter(|name| project.root.join(name).is_file())
    .map(str::to_owned)
    .collect()
}

/// Runs processes on worker threads (the bounded runner decides how many run at once),
/// returning results in input order and reporting each as it finishes.
pub fn run_all(
    goals: &Goals,
    processes: &[crate::exec::Process],
    workers: usize,
    on_done: &(dyn Fn(usize, &Result<crate::exec::ProcessResult, ExecError>) + Sync),
) -> Vec<Result<crate::exec::ProcessResult, ExecError>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The inputs just stored were only touched in memory when already held (pinned until
    // the next commit): the first process that runs commits their access times and leases
    // with its own inputs' lease (`exec::local`, before it materialises anything), and
    // `Goals::finish` commits what is left, so a run answered from the cache commits once.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<crate::exec::ProcessResult, ExecError>>>> =
        Mutex::new((0..processes.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, processes.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(process) = processes.get(i) else { break };
                    let result = goals.runner.run(process, &goals.cancel);
                    on_done(i, &result);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(result);
                    }
                }
            });
        }
    });
    gathered(results)
}

/// The results of a run of several processes, in order; a process that never reported one
/// (cancelled before it started) is `Cancelled`.
fn gathered(
    results: std::sync::Mutex<Vec<Option<Result<crate::exec::ProcessResult, ExecError>>>>,
) -> Vec<Result<crate::exec::ProcessResult, ExecError>> {
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ExecError::Cancelled { description: "not run".to_owned() })))
        .collect()
}

/// Runs `main` as [`run_all`] does and, behind them, `spare`: each `(i, process)` a
/// follow-up of `main[i]`, run only once that one ran (a cache hit needs none), taking only
/// the slots `main` leaves idle (the runner hands slots out first come, first served, and
/// they come last); those not finished when the last of `main` ends are cancelled.
/// `on_done` numbers `spare` after `main`; only `main`'s results are returned.
pub fn run_with_spare(
    goals: &Goals,
    main: &[crate::exec::Process],
    spare: &[(usize, crate::exec::Process)],
    workers: usize,
    on_done: &(dyn Fn(usize, &Result<crate::exec::ProcessResult, ExecError>) + Sync),
) -> Vec<Result<crate::exec::ProcessResult, ExecError>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // No commit here either: see `run_all`.
    let spare_cancel = goals.cancel.child();
    let next = AtomicUsize::new(0);
    let main_left = AtomicUsize::new(main.len());
    if main.is_empty() {
        spare_cancel.cancel();
    }
    let results: Mutex<Vec<Option<Result<crate::exec::ProcessResult, ExecError>>>> =
        Mutex::new((0..main.len()).map(|_| None).collect());
    // Rung whenever one of `main` finishes: a follow-up waits on it, so a run answered
    // from the cache ends as soon as its last answer lands, not a polling period later.
    let finished = std::sync::Condvar::new();
    // Whether each of `main` ran (it finished, and not from the cache).
    let ran = |all: &[Option<Result<crate::exec::ProcessResult, ExecError>>], i: usize| -> Option<bool> {
        all.get(i)?.as_ref().map(|r| r.as_ref().is_ok_and(|r| r.source == crate::exec::ResultSource::Ran))
    };
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, (main.len() + spare.len()).max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if let Some(process) = main.get(i) {
                        let result = goals.runner.run(process, &goals.cancel);
                        on_done(i, &result);
                        if let Ok(mut all) = results.lock() {
                            all[i] = Some(result);
                        }
                        if main_left.fetch_sub(1, Ordering::SeqCst) == 1 {
                            spare_cancel.cancel();
                        }
                        finished.notify_all();
                    } else if let Some((of, process)) = spare.get(i - main.len()) {
                        let Ok(mut all) = results.lock() else { break };
                        let mut done = ran(&all, *of);
                        while done.is_none() && !spare_cancel.is_cancelled() {
                            // A timeout too: a cancel from outside (the parent's) rings nothing.
                            let Ok((again, _)) =
                                finished.wait_timeout(all, std::time::Duration::from_millis(50))
                            else {
                                return;
                            };
                            all = again;
                            done = ran(&all, *of);
                        }
                        drop(all);
                        if done != Some(true) || spare_cancel.is_cancelled() {
                            continue;
                        }
                        let result = goals.runner.run(process, &spare_cancel);
                        on_done(i, &result);
                    } else {
                        break;
                    }
                }
            });
        }
    });
    gathered(results)
}

/// Helpers shared by the goals' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    use super::{GoalOptions, Goals};

    /// Goals with a plain sandbox and the default cap, caching under `cache`.
    pub fn goals(cache: &Path, parallelism: usize) -> Goals {
        Goals::new(&GoalOptions {
            cache_dir: cache.to_owned(),
            interpreter: None,
            parallelism,
            keep_sandboxes: crate::exec::local::KeepSandboxes::Never,
            sandbox: crate::exec::local::SandboxKind::Plain,
            max_bytes: crate::store::DEFAULT_MAX_BYTES,
            digest_function: crate::hash::DigestFunction::Blake3,
            remote: None,
            executor: None,
        })
        .unwrap()
    }

    /// Writes a file, creating its folders.
    pub fn write(root: &Path, path: &str, text: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::GoalOptions;
    use crate::config::{Config, Sandbox};
    use crate::exec::local::{KeepSandboxes, SandboxKind};

    #[test]
    fn goal_options_follow_the_configuration() {
        let cache = tempfile::tempdir().unwrap();
        let cache_dir = cache.path().to_owned();
        let config = Config {
            sandbox: Sandbox::Plain,
            interpreter: Some("/opt/python3.12/bin/python3".to_owned()),
            cache_max_bytes: 123,
            ..Config::default()
        };
        let options = GoalOptions::for_project(cache_dir.clone(), &config, KeepSandboxes::OnFailure);
        assert_eq!(options.sandbox, SandboxKind::Plain);
        assert_eq!(options.interpreter.as_deref(), Some(std::path::Path::new("/opt/python3.12/bin/python3")));
        assert_eq!((options.max_bytes, options.keep_sandboxes), (123, KeepSandboxes::OnFailure));
        assert!(options.parallelism >= 1);
        // A setting that names its sandbox never falls back.
        assert!(GoalOptions::sandbox_fallback(&config, &cache_dir).is_none());
        let bwrap = Config { sandbox: Sandbox::Bwrap, ..Config::default() };
        assert_eq!(
            GoalOptions::for_project(cache_dir.clone(), &bwrap, KeepSandboxes::Never).sandbox,
            SandboxKind::Bwrap
        );
        assert!(GoalOptions::sandbox_fallback(&bwrap, &cache_dir).is_none());
        // `auto` is bubblewrap exactly when it can run here, and says why when not.
        let auto = GoalOptions::for_project(cache_dir.clone(), &Config::default(), KeepSandboxes::Never);
        let fallback = GoalOptions::sandbox_fallback(&Config::default(), &cache_dir);
        assert_eq!(auto.sandbox == SandboxKind::Plain, fallback.is_some());
    }
}
