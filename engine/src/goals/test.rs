//! `test`: one pytest process per test file, its inputs the file's transitive dependency closure (conftests included) and the root's test configuration, in the project's test environment; per-test results from Pleat's pytest plugin, with the failing line in the test and the deepest first-party frame.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use super::resources::Resources;
use super::{GoalError, Goals};
use crate::exec::{CacheScope, ExecError, Process, ProcessResult, ResultSource};
use crate::graph::FileId;
use crate::project::Project;
use crate::python::env_requirements;
use crate::resolves;
use crate::tools::ToolEnv;
use crate::tools::lock::{Resolution, ResolutionSource};
use crate::tree::{self, Node};

/// Pleat's pytest plugin, placed in every test sandbox.
const PLUGIN: &str = include_str!("../../tools/pleat_pytest.py");
/// Where the plugin and its results live inside the sandbox.
const PLUGIN_DIR: &str = ".pleat";
const RESULTS: &str = ".pleat/results.json";

/// How to run tests.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    pub timeout: Option<Duration>,
    /// Variables set in every test process (part of the key).
    pub extra_env: BTreeMap<String, String>,
    /// Passed to pytest after the file.
    pub pytest_args: Vec<String>,
    /// Run even when a cached result exists (and do not cache this run).
    pub force: bool,
    /// Per test file, only these tests (node ids after `path::`: `test_x`, `TestA::test_b`)
    /// instead of the whole file: pytest is given their node ids, a cache entry of its own.
    pub only: BTreeMap<String, Vec<String>>,
    /// Results from the cache only: a file without one is left out of the answer, nothing
    /// runs and no environment is built (an editor showing the last results on start).
    pub cache_only: bool,
    /// When runs record the first-party lines they executed (for [`super::order`]).
    pub coverage: CoverageRuns,
}

/// When test runs record the first-party lines they executed, which order the next runs
/// ([`super::order`]). Recording never changes a result; a run that records them has a key
/// of its own. `PLEAT_COVERAGE=0` turns it off, `PLEAT_COVERAGE=always` makes it `Always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoverageRuns {
    /// In every run where it is cheap (Python 3.12+: `sys.monitoring`, each line reported
    /// once). Before 3.12 (coverage's C tracer: +75 % on attrs' suite) in a second run of
    /// each whole file, on the cores the runs leave idle; those still waiting or running
    /// when the last run ends are given up.
    #[default]
    Auto,
    /// In every run.
    Always,
    /// Only the second runs, on every core, and their results are the answer (an editor
    /// that is idle catches up).
    Only,
    Off,
}

impl CoverageRuns {
    /// The mode after `PLEAT_COVERAGE`.
    fn after_env(self) -> Self {
        match std::env::var("PLEAT_COVERAGE").as_deref() {
            Ok("0" | "off") => Self::Off,
            Ok("always") => Self::Always,
            _ => self,
        }
    }
}

/// A test's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }
}

/// A file and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

/// One test function's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// pytest's node id (`tests/test_x.py::TestA::test_b`).
    pub name: String,
    pub outcome: Outcome,
    pub duration_s: f64,
    /// The short failure message (the assertion).
    pub message: Option<String>,
    /// pytest's whole explanation of the failure (an assertion's diff, a multi-line
    /// message), when it says more than `message`.
    pub detail: Option<String>,
    /// The failing line in the test file.
    pub location: Option<Location>,
    /// The deepest frame in first-party code, when it is not the test's own line.
    pub source_location: Option<Location>,
}

/// How a test file went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    Passed,
    Failed,
    /// pytest could not run the file (collection error, crash, usage error).
    Error,
    TimedOut,
    /// The file holds no tests.
    NoTests,
}

impl FileOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Error => "error",
            Self::TimedOut => "timed_out",
            Self::NoTests => "no_tests",
        }
    }

    pub fn ok(self) -> bool {
        matches!(self, Self::Passed | Self::NoTests)
    }
}

/// One test file's run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFileResult {
    pub file: String,
    pub outcome: FileOutcome,
    /// Answered from a cache (local or remote): [`TestFileResult::source`] says which.
    pub cached: bool,
    /// Where the result came from.
    pub source: ResultSource,
    pub duration_s: f64,
    pub tests: Vec<TestCase>,
    /// The end of pytest's output, for failures and errors.
    pub output: String,
    /// Repository files or folders the tests tried to read that their sandbox did not
    /// hold (seen by the plugin's audit hook, kept only when they exist in the repository).
    pub missing_inputs: Vec<String>,
    /// The sandbox kept for replaying by hand (`--keep-sandboxes`), if any.
    pub kept_sandbox: Option<std::path::PathBuf>,
    /// The resolve whose environment the file ran in ([`resolves::DEFAULT`] or a name).
    pub resolve: String,
}

/// A resolve's test environment requirements as one requirements file (sorted,
/// deduplicated). The default resolve: the project's runtime dependencies and its test
/// dependencies ([`crate::python::env_requirements`]) and the pins of its `uv.lock` when it
/// has one; a named resolve: what its `[tool.pleat.resolves.<name>] requirements` name.
/// Either with pytest at the version of `pytest_lock` when it names no pytest. Empty when
/// the resolve declares nothing.
/// Also returns the files or tables they were declared in, for messages. A named resolve
/// whose `requirements` name a file or group that does not exist is an error naming it.
pub fn project_requirements(
    project: &Project,
    resolve: &str,
    pytest_lock: &str,
) -> Result<(String, Vec<String>), GoalError> {
    let mut lines: BTreeSet<String> = BTreeSet::new();
    let mut sources = Vec::new();
    if resolve == resolves::DEFAULT {
        let chosen =
            env_requirements::test_requirements(&project.root, project.config.requirements.as_deref());
        sources = chosen.sources;
        lines.extend(chosen.requirements);
        // uv.lock pins the whole resolution: take its registry packages as exact pins.
        if let Ok(text) = std::fs::read_to_string(project.root.join("uv.lock")) {
            lines.extend(uv_lock_pins(&text));
            sources.push("uv.lock".to_owned());
        }
    } else if let Some(named) = project.config.resolves.get(resolve) {
        let chosen = env_requirements::resolve_requirements(&project.root, &named.requirements);
        if let Some(missing) = chosen.missing.first() {
            return Err(GoalError::Config {
                file: resolves::config_name(&project.config),
                reason: format!(
                    "{} requirements names {missing:?}, which is neither a requirements file (relative to the root) nor a group or extra pyproject.toml declares; fix the name or remove it",
                    resolves::table(&project.config, resolve)
                ),
            });
        }
        sources = chosen.sources;
        lines.extend(chosen.requirements);
    }
    if lines.is_empty() {
        return Ok((String::new(), sources));
    }
    let names_pytest = lines.iter().any(|l| {
        crate::python::third_party::requirement_name(l).is_some_and(|n| n.eq_ignore_ascii_case("pytest"))
    });
    if !names_pytest && let Some(pin) = pytest_lock.lines().find(|l| l.trim_start().starts_with("pytest==")) {
        lines.insert(pin.split_whitespace().next().unwrap_or(pin).trim_end_matches('\\').to_owned());
    }
    Ok((lines.into_iter().map(|l| l + "\n").collect(), sources))
}

/// A resolve's requirements resolved for the interpreter (its lock file, `pylock.toml` or
/// `pylock.<name>.toml`, else a resolution kept in the cache), or `None` when it declares
/// nothing and has no lock.
pub fn project_resolution(
    goals: &Goals,
    project: &Project,
    resolve: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<Resolution>, GoalError> {
    let (requirements, sources) =
        project_requirements(project, resolve, &goals.spec("pytest")?.requirements)?;
    let lock_file = resolves::lock_file(resolve);
    let lock = project.root.join(&lock_file);
    if requirements.is_empty() && !lock.is_file() {
        return Ok(None);
    }
    let resolution = goals.tools.resolve(&lock, &requirements, &sources.join(", "), progress)?;
    if resolution.source == (ResolutionSource::ProjectLock { stale: true }) {
        let only = if resolve == resolves::DEFAULT { String::new() } else { format!(" --resolve {resolve}") };
        progress(&format!(
            "{lock_file} was locked from other requirements than the project declares now; using it as it is — run `pleat lock{only}` to update it"
        ));
    }
    Ok(Some(resolution))
}

/// `name==version` for every package of a `uv.lock` that comes from a registry (the
/// project itself, editable and path packages are left out).
pub fn uv_lock_pins(text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else { return Vec::new() };
    let Some(packages) = doc.get("package").and_then(toml::Value::as_array) else { return Vec::new() };
    packages
        .iter()
        .filter_map(|p| {
            let from_registry = p.get("source").and_then(|s| s.get("registry")).is_some();
            let name = p.get("name")?.as_str()?;
            let version = p.get("version")?.as_str()?;
            from_registry.then(|| format!("{name}=={version}"))
        })
        .collect()
}

/// Files at the root that configure pytest (all of them, so pytest picks the same one).
fn test_config_files(project: &Project) -> Vec<String> {
    // Besides pytest's own: what its plugins read from the root (pytest-cov's .coveragerc,
    // pytest-ruff's and pytest-mypy's settings).
    const PLUGIN_CONFIGS: [&str; 5] = [".coveragerc", "ruff.toml", ".ruff.toml", "mypy.ini", ".mypy.ini"];
    crate::python::pytest_config::CONFIG_FILES
        .into_iter()
        .chain(PLUGIN_CONFIGS)
        .filter(|name| project.root.join(name).is_file())
        .map(str::to_owned)
        .collect()
}

/// A resolve's test environment: pytest's lock plus the resolve's requirements (built on
/// first use).
pub fn environment(
    goals: &Goals,
    project: &Project,
    resolve: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<ToolEnv, GoalError> {
    let mut spec = goals.spec("pytest")?;
    spec.project = project_resolution(goals, project, resolve, progress)?;
    Ok(goals.tools.ensure(&spec, progress)?)
}

/// The test files grouped by the resolve they use, each group with its environment (built
/// on first use), the default resolve first.
pub fn environments(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<(String, Vec<FileId>, ToolEnv)>, GoalError> {
    let groups = resolves::Resolves::new(&project.config)?.group(project, files)?;
    groups
        .into_iter()
        .map(|(resolve, ids)| {
            let env = environment(goals, project, &resolve, progress)?;
            Ok((resolve, ids, env))
        })
        .collect()
}

/// Runs the test files, then the plugin case files (`cases`: repository paths of
/// pytest-mypy-plugins YAML files, [`Project::plugin_cases`]); results in that order.
/// Processes start in that order too (a goal's first files first). `on_done` hears of each
/// process as it ends, `each` gets each file's result as soon as it finishes (not for a
/// run that did not finish: a timeout, a cancel, a sandbox error).
#[expect(clippy::too_many_arguments, reason = "one callback per kind of listener")]
pub fn test(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    cases: &[String],
    options: &TestOptions,
    on_done: &(dyn Fn(&str, bool, Option<i32>) + Sync),
    each: &(dyn Fn(&TestFileResult) + Sync),
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<TestFileResult>, GoalError> {
    let mode = options.coverage.after_env();
    let planned = plan(goals, project, files, cases, options, progress)?;
    let coverage = match mode {
        CoverageRuns::Off => None,
        _ if options.cache_only => coverage_env(goals, &mut |_| {}),
        _ => coverage_env(goals, progress),
    };
    // Inline: every process records; else a twin of each whole file's process does.
    let inline = matches!(
        (mode, &coverage),
        (CoverageRuns::Always, Some(_)) | (CoverageRuns::Auto, Some(Recorder::Monitoring))
    );
    let mut twins: Vec<(usize, Process)> = Vec::new();
    let mut processes = Vec::with_capacity(planned.len());
    for p in &planned {
        let mut process = p.process.clone();
        if let Some(coverage) = &coverage {
            if inline {
                with_coverage(&mut process, coverage);
            } else if !options.cache_only && !options.only.contains_key(&p.file) {
                let mut twin = process.clone();
                with_coverage(&mut twin, coverage);
                twin.description = format!("pytest {} (recording executed lines)", p.file);
                twins.push((processes.len(), twin));
            }
        }
        processes.push(process);
    }
    // Only the twins: they are the runs, and their results the answer.
    let (main, spare, mains): (Vec<Process>, Vec<(usize, Process)>, Vec<usize>) =
        if mode == CoverageRuns::Only {
            let mains = twins.iter().map(|(i, _)| *i).collect();
            (twins.into_iter().map(|(_, t)| t).collect(), Vec::new(), mains)
        } else {
            let twin_of = twins.iter().map(|(i, _)| *i).collect();
            (processes, twins, twin_of)
        };
    let targets: Vec<&Planned> = if mode == CoverageRuns::Only {
        mains.iter().map(|i| &planned[*i]).collect()
    } else {
        planned.iter().collect()
    };
    // Each finished file's result, interpreted as it finishes.
    let interpreted: std::sync::Mutex<BTreeMap<usize, Result<TestFileResult, GoalError>>> =
        std::sync::Mutex::new(BTreeMap::new());
    let recording = |i: usize| -> bool { inline || mode == CoverageRuns::Only || i >= main.len() };
    let results = super::run_with_spare(goals, &main, &spare, 16, &|i, result| {
        let (target, process) = match i.checked_sub(main.len()) {
            None => (targets[i], &main[i]),
            Some(twin) => (targets[mains[twin]], &spare[twin].1),
        };
        let file = target.file.as_str();
        // A whole file's run that recorded what it executed, for the order of the next
        // (best effort: it only orders).
        if let Ok(r) = result
            && recording(i)
            && coverage.is_some()
            && !options.only.contains_key(file)
        {
            let _ = super::order::record_last_run(
                &goals.store,
                &project.root,
                file,
                &process.input_root,
                &r.output_root,
            );
        }
        if i < main.len() {
            match result {
                Ok(r) => {
                    on_done(file, r.source.is_cached(), Some(r.exit_code));
                    let mut file = interpret(goals, project, file, Ok(r.clone()));
                    if let Ok(file) = &mut file {
                        target.resolve.clone_into(&mut file.resolve);
                        each(file);
                    }
                    if let Ok(mut done) = interpreted.lock() {
                        done.insert(i, file);
                    }
                }
                Err(_) => on_done(file, false, None),
            }
        }
    });
    let mut interpreted = interpreted.into_inner().unwrap_or_default();
    targets
        .into_iter()
        .zip(results)
        .enumerate()
        .filter(|(_, (_, result))| !matches!(result, Err(ExecError::NotCached { .. })))
        .map(|(i, (target, result))| {
            if let Some(file) = interpreted.remove(&i) {
                return file;
            }
            let mut file = interpret(goals, project, &target.file, result)?;
            target.resolve.clone_into(&mut file.resolve);
            Ok(file)
        })
        .collect()
}

/// One pytest process of a test run: the test file (or plugin case file) it runs, its
/// resolve, and the process.
#[derive(Debug, Clone)]
pub struct Planned {
    pub file: String,
    pub resolve: String,
    pub process: Process,
}

/// The processes that run the test files, then the plugin case files, in that order (the
/// environments built on first use; nothing runs).
pub fn plan(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    cases: &[String],
    options: &TestOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Planned>, GoalError> {
    let groups = environments(goals, project, files, progress)?;
    // Each file with its resolve and environment, in the order given.
    let mut env_of: BTreeMap<FileId, (&str, &ToolEnv)> = BTreeMap::new();
    for (resolve, ids, env) in &groups {
        for id in ids {
            env_of.insert(*id, (resolve.as_str(), env));
        }
    }
    let plugin = goals.store.put(PLUGIN.as_bytes())?;
    let mut plugin_entries = BTreeMap::new();
    plugin_entries
        .insert(format!("{PLUGIN_DIR}/pleat_pytest.py"), Node::File { digest: plugin, executable: false });
    // The version module a setuptools-scm / hatch-vcs install would have written.
    if let Some((path, text)) = super::dist_info::version_file(&project.root, |p| project.id(p).is_some()) {
        let digest = goals.store.put(text.as_bytes())?;
        plugin_entries.insert(path, Node::File { digest, executable: false });
    }
    // The project's own metadata, found on the path like an installed distribution's.
    if let Some((folder, files)) = super::dist_info::files(&project.root) {
        for (name, text) in files {
            let digest = goals.store.put(text.as_bytes())?;
            plugin_entries
                .insert(format!("{PLUGIN_DIR}/{folder}/{name}"), Node::File { digest, executable: false });
        }
    }
    let configs = test_config_files(project);
    let python_path: Vec<String> = project
        .source_roots()
        .iter()
        .map(|r| if r.is_empty() { ".".to_owned() } else { r.clone() })
        .chain(std::iter::once(PLUGIN_DIR.to_owned()))
        .collect();

    let mypy_path = python_path[..python_path.len() - 1].join(":");
    // Test files share most of their closures: each file is read and stored once.
    let resources = Resources::new(project);
    // Each target: its path, the graph files its closure starts from, and whether it is no
    // test module. Importing a file runs the `__init__.py` of each package above it
    // first, and what those import (inflect's `inflect/compat/__init__.py` imports
    // nothing, its parent package imports `inflect.compat.py38`).
    // A plugin case file uses the resolve its path falls in.
    let resolves = resolves::Resolves::new(&project.config)?;
    let mut case_envs = Vec::with_capacity(cases.len());
    for case in cases {
        let resolve = resolves.of(case)?;
        let env = match groups.iter().find(|(name, _, _)| name == resolve) {
            Some((_, _, env)) => env.clone(),
            None => environment(goals, project, resolve, progress)?,
        };
        case_envs.push((resolve, env));
    }
    // The project's own pytest plugins (`pytest11` entry points) load in every run.
    let plugin_modules = super::dist_info::pytest_plugins(&project.root);
    let plugin_files: Vec<FileId> = project
        .files()
        .filter(|(id, _)| project.module(*id).is_some_and(|m| plugin_modules.iter().any(|p| p == m)))
        .map(|(id, _)| id)
        .collect();
    let targets: Vec<Target<'_>> = files
        .iter()
        .map(|id| {
            let path = project.path(*id);
            let mut roots = vec![*id];
            roots.extend(plugin_files.iter().copied());
            roots.extend(resources.package_inits(&[path.to_owned()]).iter().filter_map(|p| project.id(p)));
            let (resolve, env) = env_of[id];
            Target { path, roots, not_a_test_module: project.not_a_test_module(*id), resolve, env }
        })
        .chain(cases.iter().zip(&case_envs).map(|(case, (resolve, env))| Target {
            path: case.as_str(),
            roots: [project.plugin_case_imports(case), plugin_files.clone()].concat(),
            not_a_test_module: false,
            resolve,
            env,
        }))
        .collect();
    let closures: Vec<Vec<String>> = targets
        .iter()
        .map(|Target { path: test, roots, .. }| {
            let test = *test;
            let mut inputs: Vec<String> =
                project.dependencies(roots, true).into_iter().map(|d| project.path(d).to_owned()).collect();
            inputs.push(test.to_owned());
            inputs.extend(roots.iter().map(|id| project.path(*id).to_owned()));
            let inits = resources.package_inits(&inputs);
            let data = resources.for_test(test, &inputs);
            inputs.extend(inits);
            inputs.extend(data);
            inputs.extend(configs.iter().cloned());
            inputs.sort();
            inputs.dedup();
            inputs
        })
        .collect();
    let read = goals.read_files(&project.root, closures.iter().flatten().cloned())?;
    // Each file's inputs with the plugin's files; every tree stored in one commit.
    let mut listings = Vec::with_capacity(closures.len());
    for inputs in &closures {
        let mut listing: BTreeMap<String, Node> = inputs
            .iter()
            .filter_map(|p| read.get_key_value(p))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tree::union(&mut listing, plugin_entries.clone())?;
        listings.push(listing);
    }
    let roots = tree::from_listings(&goals.store, &listings)?;
    let mut processes = Vec::with_capacity(targets.len());
    for (target, root) in targets.iter().zip(roots) {
        let (path, env) = (target.path.to_owned(), target.env);
        let mut argv = env.argv();
        argv.extend(["-p", "pleat_pytest", "-p", "no:cacheprovider", "--rootdir=.", "-q"].map(String::from));
        match options.only.get(&path).filter(|ids| !ids.is_empty()) {
            Some(ids) => argv.extend(ids.iter().map(|id| format!("{path}::{id}"))),
            None => argv.push(path.clone()),
        }
        argv.extend(options.pytest_args.iter().cloned());
        let mut process = Process::new(argv, root);
        process.env = options.extra_env.clone();
        process.env.insert("PYTHONPATH".to_owned(), python_path.join(":"));
        // mypy started by a test (pytest-mypy-plugins, pytest-mypy) finds the first-party
        // packages where an editable install would show them; the check goal does the same.
        process.env.insert("MYPYPATH".to_owned(), mypy_path.clone());
        process.env.insert("PLEAT_RESULTS".to_owned(), RESULTS.to_owned());
        process.env.insert("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned());
        process.env.insert("PYTHONHASHSEED".to_owned(), "0".to_owned());
        process.env.insert("LANG".to_owned(), "C.UTF-8".to_owned());
        // As in an activated virtualenv (tox, a plain `pytest` from the venv): the
        // environment's scripts first (pytest-mypy-plugins starts `mypy`), then the system's.
        process.env.insert("PATH".to_owned(), path_variable(env));
        if target.not_a_test_module {
            process.env.insert("PLEAT_NOT_A_TEST_MODULE".to_owned(), "1".to_owned());
        }
        process.output_files.insert(RESULTS.to_owned());
        process.timeout = options.timeout;
        goals.runs_from(&mut process, env);
        process.cache_scope = if options.force { CacheScope::Never } else { CacheScope::Always };
        process.cache_only = options.cache_only;
        process.execution_slot_variable = Some("PLEAT_EXECUTION_SLOT".to_owned());
        process.description = format!("pytest {path}");
        processes.push(Planned { file: path, resolve: target.resolve.to_owned(), process });
    }
    Ok(processes)
}

/// Makes a test process record the first-party lines it executed: the plugin told where to
/// write them, coverage's environment (before Python 3.12) given to it read-only.
fn with_coverage(process: &mut Process, recorder: &Recorder) {
    process.env.insert("PLEAT_COVERAGE".to_owned(), super::order::COVERAGE.to_owned());
    process.output_files.insert(super::order::COVERAGE.to_owned());
    if let Recorder::Coverage(env) = recorder {
        process.env.insert("PLEAT_COVERAGE_ENV".to_owned(), env.root.to_string_lossy().into_owned());
        process.host_paths.push(crate::exec::HostPath {
            path: env.root.clone(),
            fingerprint: Some(env.fingerprint.clone()),
        });
    }
}

/// What records the lines a test run executed.
enum Recorder {
    /// Python 3.12+: `sys.monitoring`, nothing to install.
    Monitoring,
    /// coverage's C tracer, from its environment.
    Coverage(ToolEnv),
}

/// What records the lines test runs executed (`goals::order`): `None` when nothing can
/// (the coverage environment could not be built: said once).
fn coverage_env(goals: &Goals, progress: &mut dyn FnMut(&str)) -> Option<Recorder> {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let mut version = goals.tools.interpreter.version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if (version.next().unwrap_or(0), version.next().unwrap_or(0)) >= (3, 12) {
        return Some(Recorder::Monitoring);
    }
    let built = goals.spec("coverage").and_then(|spec| Ok(goals.tools.ensure(&spec, progress)?));
    match built {
        Ok(env) => Some(Recorder::Coverage(env)),
        Err(GoalError::Tool(crate::tools::ToolError::NotBuilt { .. })) => None,
        Err(e) => {
            if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
                progress(&format!(
                    "warning: coverage could not be installed, so test files run in path order instead of likely-failing first (results are unaffected): {e}"
                ));
            }
            None
        }
    }
}

/// One pytest process to run: a test file or a plugin case file.
struct Target<'a> {
    path: &'a str,
    /// The graph files its closure starts from: the file and the `__init__.py` files of
    /// the packages above it, or a case file's imports and conftests.
    roots: Vec<FileId>,
    /// Collected only for doctests or file plugins' items.
    not_a_test_module: bool,
    resolve: &'a str,
    env: &'a ToolEnv,
}

/// `PATH` inside a test process: the environment's `bin` folder, then the system's.
fn path_variable(env: &crate::tools::ToolEnv) -> String {
    let bin = env.python.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{bin}:/usr/local/bin:/usr/bin:/bin")
}

#[derive(Deserialize)]
struct PluginReport {
    exitstatus: i32,
    tests: Vec<PluginTest>,
    #[serde(default)]
    missing: Vec<String>,
}

#[derive(Deserialize)]
struct PluginTest {
    nodeid: String,
    outcome: String,
    duration: f64,
    message: Option<String>,
    /// pytest's whole explanation (the `E` lines: an assertion's diff), whole lines.
    #[serde(default)]
    detail: Option<String>,
    crash: Option<PluginFrame>,
    frames: Vec<PluginFrame>,
}

#[derive(Deserialize, Clone)]
struct PluginFrame {
    file: String,
    line: u32,
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A process result (or error) → the file's result.
fn interpret(
    goals: &Goals,
    project: &Project,
    file: &str,
    result: Result<ProcessResult, ExecError>,
) -> Result<TestFileResult, GoalError> {
    let result = match result {
        Ok(result) => result,
        Err(ExecError::Timeout { after, stdout, .. }) => {
            return Ok(TestFileResult {
                file: file.to_owned(),
                outcome: FileOutcome::TimedOut,
                cached: false,
                source: ResultSource::Ran,
                duration_s: after.as_secs_f64(),
                tests: Vec::new(),
                output: tail(&goals.text(&stdout)?, 30),
                missing_inputs: Vec::new(),
                kept_sandbox: None,
                resolve: String::new(),
            });
        }
        // An output the sandbox cannot give (a symlink out of it, or under a symlinked
        // folder), a sandbox a full disk cannot hold, or a tool environment changed around
        // the run or found changed before it, fails this file alone, with the reason; the
        // other files still report (those answered from the cache need no environment).
        Err(
            e @ (ExecError::Output { .. }
            | ExecError::NoSpace { .. }
            | ExecError::EnvironmentChanged { .. }
            | ExecError::EnvironmentDamaged { .. }
            | ExecError::Store(crate::store::StoreError::NoSpace(_))),
        ) => {
            return Ok(TestFileResult {
                file: file.to_owned(),
                outcome: FileOutcome::Error,
                cached: false,
                source: ResultSource::Ran,
                duration_s: 0.0,
                tests: Vec::new(),
                output: e.to_string(),
                missing_inputs: Vec::new(),
                kept_sandbox: None,
                resolve: String::new(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let cached = result.source.is_cached();
    let output = format!("{}{}", goals.text(&result.stdout)?, goals.text(&result.stderr)?);
    let report = match tree::entries(&goals.store, &result.output_root)?.get(RESULTS) {
        Some(Node::File { digest, .. }) => serde_json::from_str::<PluginReport>(&goals.text(digest)?).ok(),
        _ => None,
    };
    let Some(report) = report else {
        return Ok(TestFileResult {
            file: file.to_owned(),
            outcome: FileOutcome::Error,
            cached,
            source: result.source,
            duration_s: result.duration.as_secs_f64(),
            tests: Vec::new(),
            output: tail(&output, 40),
            missing_inputs: Vec::new(),
            kept_sandbox: result.kept_sandbox.clone(),
            resolve: String::new(),
        });
    };
    let tests: Vec<TestCase> = report.tests.into_iter().map(|t| test_case(project, file, t)).collect();
    let outcome = match report.exitstatus {
        0 => FileOutcome::Passed,
        1 => FileOutcome::Failed,
        5 => FileOutcome::NoTests,
        _ => FileOutcome::Error,
    };
    // A cached result says how long the run that made it took (older entries did not
    // record it: then the tests' own times).
    let duration_s = if cached && result.duration.is_zero() {
        tests.iter().map(|t| t.duration_s).sum()
    } else {
        result.duration.as_secs_f64()
    };
    Ok(TestFileResult {
        file: file.to_owned(),
        outcome,
        cached,
        source: result.source,
        duration_s,
        tests,
        output: if outcome.ok() { String::new() } else { tail(&output, 40) },
        missing_inputs: report
            .missing
            .into_iter()
            // Hidden folders are tools' caches and state (`.hypothesis`, `.pytest_cache`),
            // never inputs a test needs.
            .filter(|p| !p.split('/').any(|part| part.starts_with('.')) && project.root.join(p).exists())
            .collect(),
        kept_sandbox: result.kept_sandbox,
        resolve: String::new(),
    })
}

/// The line of a failure report a person reads first: pytest's last `E ` line (the
/// exception, for collection errors too), else the first line.
fn short_message(report: &str) -> String {
    let error =
        report.lines().rev().find_map(|l| l.strip_prefix("E ").map(str::trim)).filter(|l| !l.is_empty());
    error.unwrap_or_else(|| report.lines().next().unwrap_or("")).to_owned()
}

fn test_case(project: &Project, file: &str, t: PluginTest) -> TestCase {
    let outcome = match t.outcome.as_str() {
        "passed" => Outcome::Passed,
        "failed" => Outcome::Failed,
        "skipped" => Outcome::Skipped,
        _ => Outcome::Error,
    };
    let clean = |f: &PluginFrame| Location { file: f.file.trim_start_matches("./").to_owned(), line: f.line };
    let mut frames: Vec<Location> = t.frames.iter().map(clean).collect();
    if frames.is_empty()
        && let Some(crash) = &t.crash
    {
        frames.push(clean(crash));
    }
    let location = frames.iter().rev().find(|f| f.file == file).cloned();
    let source_location = frames
        .iter()
        .rev()
        .find(|f| project.id(&f.file).is_some())
        .filter(|deepest| Some(*deepest) != location.as_ref())
        .cloned();
    TestCase {
        name: t.nodeid,
        outcome,
        duration_s: t.duration,
        message: t.message.as_deref().map(short_message),
        detail: t.detail.filter(|d| d.lines().nth(1).is_some()),
        location,
        source_location,
    }
}

#[cfg(test)]
mod tests;
