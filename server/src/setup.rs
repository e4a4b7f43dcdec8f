//! What every command starts from: the root, the cache folder, loading the project, the goals' engine set-up, selecting files by specs, and the files git says changed.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use engine::config::{RemoteConfig, RemoteSettings};
use engine::exec::local::KeepSandboxes;
use engine::goals::{GoalOptions, Goals};
use engine::graph::FileId;
use engine::loader::{self, LoadOptions};
use engine::project::Project;
use engine::specs::{SpecError, Specs};

use crate::output::{Failure, say};

/// The options every command shares, as given on the command line.
pub struct Setup {
    /// `--root`, when given.
    pub root: Option<PathBuf>,
    /// The cache folder, absolute; none with `--no-cache`.
    pub cache_dir: Option<PathBuf>,
    /// Say what loading did.
    pub verbose: bool,
    pub keep_sandboxes: KeepSandboxes,
    /// `--remote-address`, `--[no-]remote-cache-read`, `--[no-]remote-cache-write`.
    pub remote: RemoteFlags,
    /// The remote cache this command connected to, if any (flushed at the end).
    pub remote_cache: std::sync::OnceLock<Option<Arc<remote::RemoteCacheClient>>>,
    /// The remote executor this command connected to, if any.
    pub remote_executor: std::sync::OnceLock<Option<Arc<remote::execute::RemoteExecutorClient>>>,
}

/// The remote-cache flags of the goals that run processes, over `[tool.pleat.remote]`.
#[derive(Debug, Clone, Default)]
pub struct RemoteFlags {
    pub address: Option<String>,
    pub read: Option<bool>,
    pub write: Option<bool>,
    pub execution: Option<bool>,
}

impl RemoteFlags {
    /// The remote cache configuration with these flags applied; `None`: no remote.
    pub fn apply(&self, config: &engine::config::Config) -> Result<Option<RemoteConfig>, Failure> {
        let mut remote = match (&self.address, &config.remote) {
            (Some(address), configured) => {
                engine::config::check_remote_address(address)
                    .map_err(|m| Failure::usage(format!("--remote-address: {m}")))?;
                let mut remote = configured.clone().unwrap_or_else(|| RemoteConfig::new(address.clone()));
                remote.address.clone_from(address);
                remote
            }
            (None, Some(configured)) => configured.clone(),
            (None, None) => return Ok(None),
        };
        if let Some(read) = self.read {
            remote.cache_read = read;
        }
        if let Some(write) = self.write {
            remote.cache_write = Some(write);
        }
        if let Some(execution) = self.execution {
            remote.execution = execution;
        }
        Ok(Some(remote))
    }
}

/// How long the uploads still queued at the end of a command may take.
const FLUSH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The client options of a remote cache configuration (`[tool.pleat.remote]`).
pub fn remote_options(remote: &RemoteConfig) -> Result<remote::RemoteOptions, Failure> {
    Ok(remote::RemoteOptions {
        target: client_target(remote, RemoteSettings::Table("[tool.pleat.remote]"))?,
        read: remote.cache_read,
        write: remote.writes(),
    })
}

/// How a client reaches a remote, from its settings (the configuration's or `pleat worker`'s
/// flags, which `settings` names in the errors): the token read from the environment variable
/// they name, and for `grpcs://` the PEM files read.
pub fn client_target(
    remote: &RemoteConfig,
    settings: RemoteSettings,
) -> Result<remote::client::Target, Failure> {
    let token = match &remote.token_env {
        Some(name) => Some(std::env::var(name).map_err(|_| {
            Failure::usage(format!(
                "{} names an environment variable that is not set; export {name} with the server's token, or {}",
                settings.given("token_env", name),
                settings.undo("token_env")
            ))
        })?),
        None => None,
    };
    let read = |key: &str, path: &Path| {
        std::fs::read(path).map_err(|e| {
            Failure::usage(format!(
                "{} cannot be read ({e}); point it at a PEM file, or {}",
                settings.given(key, &path.display().to_string()),
                settings.undo(key)
            ))
        })
    };
    let tls = if remote.address.starts_with("grpcs://") {
        let ca = remote.tls_ca_file.as_deref().map(|p| read("tls_ca_file", p)).transpose()?;
        let identity = match (&remote.tls_client_cert_file, &remote.tls_client_key_file) {
            (Some(cert), Some(key)) => {
                Some((read("tls_client_cert_file", cert)?, read("tls_client_key_file", key)?))
            }
            _ => None,
        };
        Some(remote::client::Tls { ca, identity })
    } else {
        None
    };
    Ok(remote::client::Target {
        address: remote.address.clone(),
        instance_name: remote.instance_name.clone(),
        token,
        timeout: remote.timeout,
        tls,
    })
}

/// The cache folder a command uses: `given`, else the default; none with `no_cache`.
pub fn cache_dir(given: Option<&Path>, no_cache: bool) -> Option<PathBuf> {
    if no_cache {
        return None;
    }
    // Absolute: tool builds and sandboxed processes run in other folders, where a relative
    // cache folder names nothing (`--cache-dir cache` broke the first environment build).
    given
        .map(Path::to_path_buf)
        .or_else(loader::default_cache_dir)
        .map(|dir| std::path::absolute(&dir).unwrap_or(dir))
}

impl Setup {
    /// The root the command works on.
    pub fn root(&self) -> Result<PathBuf, Failure> {
        let cwd = std::env::current_dir()
            .map_err(|e| Failure::usage(format!("cannot read the current folder ({e}); pass --root DIR")))?;
        match &self.root {
            Some(root) => {
                let root = cwd.join(root);
                if root.is_dir() {
                    Ok(root)
                } else {
                    Err(Failure::usage(format!(
                        "--root {} is not a folder; pass an existing folder",
                        root.display()
                    )))
                }
            }
            None => Ok(engine::config::find_root(&cwd)),
        }
    }

    /// Loads the project, printing cache warnings (and when verbose, what loading did).
    pub fn load(&self) -> Result<Project, Failure> {
        let root = self.root()?;
        let started = std::time::Instant::now();
        let (project, report) = loader::load(&root, &LoadOptions { cache_dir: self.cache_dir.clone() })
            .map_err(|e| Failure::usage(e.to_string()))?;
        for warning in &report.warnings {
            say(format_args!("warning: {warning}"));
        }
        if self.verbose {
            say(format_args!(
                "{} files under {} ({} read, {} parsed) in {:.1} ms",
                report.files,
                project.root.display(),
                report.read,
                report.parsed,
                started.elapsed().as_secs_f64() * 1000.0
            ));
            let phases: Vec<String> = report
                .phases
                .iter()
                .map(|(name, d)| format!("{name} {:.1} ms", d.as_secs_f64() * 1000.0))
                .collect();
            say(format_args!("phases: {}", phases.join(", ")));
        }
        Ok(project)
    }
}

/// The files selected by specs (paths given absolute are made root-relative).
pub fn select(project: &Project, specs: &[String]) -> Result<Vec<FileId>, Failure> {
    Ok(select_with(project, specs, &[])?.0)
}

/// The graph files and the `others` (paths of non-Python files) selected by specs; a spec
/// that names only one of the `others` matches something.
pub fn select_with(
    project: &Project,
    specs: &[String],
    others: &[String],
) -> Result<(Vec<FileId>, Vec<String>), Failure> {
    let specs: Vec<String> = specs.iter().map(|s| relative_spec(&project.root, s)).collect();
    let parsed = Specs::parse(&specs).map_err(|e| Failure::usage(e.to_string()))?;
    let mut paths: Vec<&str> =
        project.files().map(|(_, f)| f.path.as_str()).chain(others.iter().map(String::as_str)).collect();
    paths.sort_unstable();
    let selected = parsed.select(paths.iter().copied()).map_err(|e| match &e {
        // Naming a file Pleat could not read: say so, not "matches no Python file".
        SpecError::NoMatch(text) => match project.unreadable().iter().find(|u| is_at_or_under(text, &u.path))
        {
            Some(unreadable) => Failure::usage(format!("`{text}`: {unreadable}")),
            None => Failure::usage(e.to_string()),
        },
        _ => Failure::usage(e.to_string()),
    })?;
    let (ids, others): (Vec<&str>, Vec<&str>) = selected.into_iter().partition(|p| project.id(p).is_some());
    Ok((
        ids.into_iter().filter_map(|p| project.id(p)).collect(),
        others.into_iter().map(str::to_owned).collect(),
    ))
}

/// `path` is `dir` itself or lies under it.
fn is_at_or_under(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

pub fn relative_spec(root: &Path, spec: &str) -> String {
    let (sign, body) = match spec.strip_prefix('-').or_else(|| spec.strip_prefix('!')) {
        Some(rest) => ("-", rest),
        None => ("", spec),
    };
    match Path::new(body).strip_prefix(root) {
        Ok(rel) if Path::new(body).is_absolute() => format!("{sign}{}", rel.to_string_lossy()),
        _ => spec.to_owned(),
    }
}

impl Setup {
    /// The goals' engine for a project: its store, runners and tool environments, as its
    /// configuration asks.
    pub fn goals(&self, project: &Project) -> Result<Goals, Failure> {
        let Some(cache_dir) = self.cache_dir.clone() else {
            return Err(Failure::usage(
                "goals that run tools need the store: drop --no-cache or pass --cache-dir",
            ));
        };
        if project.config.sandbox == engine::config::Sandbox::Bwrap
            && let Err(why) = engine::exec::bwrap::available_in(&cache_dir)
        {
            return Err(Failure::usage(format!(
                "sandbox = \"bwrap\" is set in [tool.pleat], but {}; {}, or set sandbox = \"plain\"",
                why.reason(),
                why.remedy()
            )));
        }
        if let Some(why) = GoalOptions::sandbox_fallback(&project.config, &cache_dir) {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                say(format_args!("warning: {}", why.fallback_warning()));
            });
        }
        let goal_failure = |e: engine::goals::GoalError| match e {
            // A full disk is no bad input: the tool could not be run (exit 3).
            engine::goals::GoalError::Store(engine::store::StoreError::NoSpace(_)) => {
                Failure { message: e.to_string(), code: 3 }
            }
            e => Failure::usage(e.to_string()),
        };
        let remote = self.remote.apply(&project.config)?;
        let mut options = GoalOptions::for_project(cache_dir, &project.config, self.keep_sandboxes);
        if remote.is_some() && project.config.digest_function_set.is_none() {
            // REAPI servers speak SHA-256 (BuildGrid nothing else).
            options.digest_function = engine::hash::DigestFunction::Sha256;
        }
        let store = Arc::new(Goals::open_store(&options).map_err(goal_failure)?);
        if let Some(remote) = remote {
            if remote.execution {
                options.executor = self.connect_executor(&remote, &store)?;
            }
            options.remote = self.connect_remote(&remote, &store)?;
        }
        Goals::with_store(store, &options)
            .and_then(|goals| goals.with_overrides(project))
            .map_err(goal_failure)
    }

    /// Connects to the remote cache (once per command): a server that does not answer is
    /// one warning and a run without it; one with another digest function is an error.
    fn connect_remote(
        &self,
        config: &RemoteConfig,
        store: &Arc<engine::store::Store>,
    ) -> Result<Option<Arc<dyn engine::exec::remote::RemoteCache>>, Failure> {
        if let Some(connected) = self.remote_cache.get() {
            return Ok(connected.clone().map(|c| c as Arc<dyn engine::exec::remote::RemoteCache>));
        }
        let options = remote_options(config)?;
        let warn: remote::cache::Warn = Arc::new(|message: &str| say(format_args!("warning: {message}")));
        let connected = remote::RemoteCacheClient::connect(options, Arc::clone(store), warn)
            .map_err(|e| Failure::usage(e.to_string()))?;
        let _ = self.remote_cache.set(connected.clone());
        Ok(connected.map(|c| c as Arc<dyn engine::exec::remote::RemoteCache>))
    }

    /// Connects to the remote executor (once per command), like [`Setup::connect_remote`].
    fn connect_executor(
        &self,
        config: &RemoteConfig,
        store: &Arc<engine::store::Store>,
    ) -> Result<Option<Arc<dyn engine::exec::remote::RemoteExecutor>>, Failure> {
        if let Some(connected) = self.remote_executor.get() {
            return Ok(connected.clone().map(|c| c as Arc<dyn engine::exec::remote::RemoteExecutor>));
        }
        let options = remote_options(config)?;
        let warn: remote::cache::Warn = Arc::new(|message: &str| say(format_args!("warning: {message}")));
        let connected = remote::execute::RemoteExecutorClient::connect(
            &options.target,
            Arc::clone(store),
            warn,
            !options.read,
        )
        .map_err(|e| Failure::usage(e.to_string()))?;
        let _ = self.remote_executor.set(connected.clone());
        Ok(connected.map(|c| c as Arc<dyn engine::exec::remote::RemoteExecutor>))
    }

    /// Whether this command uses a remote cache.
    pub fn remote_enabled(&self) -> bool {
        self.remote_cache.get().is_some_and(Option::is_some)
    }

    /// Sends what is still queued for the remote cache (bounded by a short deadline); when
    /// verbose, says what went over the wire.
    pub fn flush_remote(&self) {
        if let Some(Some(remote)) = self.remote_cache.get() {
            remote.flush(FLUSH_DEADLINE);
            if self.verbose {
                say(format_args!("remote cache: {}", remote.counts.summary()));
            }
        }
        if let Some(Some(executor)) = self.remote_executor.get()
            && self.verbose
        {
            say(format_args!("remote execution: {}", executor.counts.summary()));
        }
    }
}

/// Repository-relative paths changed since `since` (committed, staged, unstaged and
/// untracked), through the git command line.
pub fn git_changed(root: &Path, since: &str) -> Result<Vec<String>, Failure> {
    let git = |args: &[&str]| -> Result<String, Failure> {
        let output =
            engine::children::output(std::process::Command::new("git").arg("-C").arg(root).args(args))
                .map_err(|e| {
                    Failure::usage(format!("cannot run git ({e}); `pleat changed` needs git on PATH"))
                })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
            return Err(Failure::usage(format!(
                "git {} failed in {}: {first}; check that `{since}` is a valid ref",
                args.join(" "),
                root.display(),
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let inside = engine::children::output(
        std::process::Command::new("git").arg("-C").arg(root).args(["rev-parse", "--is-inside-work-tree"]),
    )
    .map_err(|e| Failure::usage(format!("cannot run git ({e}); `pleat changed` needs git on PATH")))?;
    if !inside.status.success() {
        return Err(Failure::usage(format!(
            "{} is not in a git repository; `pleat changed` compares against git history",
            root.display()
        )));
    }
    // Run in the root, both commands print paths relative to it.
    let mut paths = Vec::new();
    let diff = git(&["diff", "--name-only", "--no-renames", "--relative", since, "--"])?;
    let untracked = git(&["ls-files", "--others", "--exclude-standard"])?;
    paths.extend(diff.lines().map(str::to_owned));
    paths.extend(untracked.lines().map(str::to_owned));
    paths.sort();
    paths.dedup();
    Ok(paths)
}
