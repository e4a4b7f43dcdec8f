//! The daily-workflow commands beside the goals: `pleat export` (the test environment as a virtualenv for editors), `pleat run` and `pleat repl` (Python in the project's environment with its source roots, in the workspace); command-line arguments in, engine calls, lines out.

use std::path::{Path, PathBuf};
use std::process::Command as ProcessCommand;

use clap::Subcommand;
use engine::goals::export::{self, ExportOptions, Exported};
use engine::project::Project;
use engine::resolves;

use super::tools::progress;
use crate::output::Out;
use crate::output::{Failure, Format};
use crate::setup::{self, Setup};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// A virtualenv of the test environment for editors, at
    /// dist/export/python/virtualenvs/<resolve>/<python version>/: the resolved requirements,
    /// the tools, the first-party source roots (a .pth) and the project's own metadata.
    Export {
        /// The files whose resolves are exported (default everything: every resolve in use).
        #[arg(default_value = "::")]
        specs: Vec<String>,
        /// Only this resolve (`default` or a name under [tool.pleat.resolves]).
        #[arg(long, value_name = "NAME")]
        resolve: Option<String>,
        /// The tools to install beside the requirements (default: pytest, ruff, and mypy
        /// when the project configures it).
        #[arg(long = "with", value_name = "TOOL,…", value_delimiter = ',')]
        with: Option<Vec<String>>,
    },
    /// Runs a first-party file (or `-m module`) with the project's environment and source
    /// roots, in the current folder (not a sandbox: it may read, write and ask); exits with
    /// its exit code.
    Run {
        /// The file to run (from the root or the current folder).
        #[arg(required_unless_present = "module", conflicts_with = "module")]
        target: Option<String>,
        /// Run a module as `python -m` does.
        #[arg(short = 'm', long = "module", value_name = "MODULE")]
        module: Option<String>,
        /// Arguments for the program, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Python (IPython when the project's environment holds it) with the project's
    /// environment and the source roots of the given files (default all) on `sys.path`.
    Repl { specs: Vec<String> },
    /// Builds every first-party distribution (a folder with a pyproject.toml holding
    /// [project]) holding a selected file into a wheel and an sdist with `uv build`, in a
    /// sandbox, cached by its inputs; writes them to dist/.
    Package {
        #[arg(default_value = "::")]
        specs: Vec<String>,
    },
}

/// Runs one workflow command; returns the exit code.
pub fn run(setup: &Setup, format: Format, command: &Command) -> Result<u8, Failure> {
    match command {
        Command::Export { specs, resolve, with } => {
            let project = setup.load()?;
            export(setup, format, &project, specs, resolve.as_deref(), with.as_deref())
        }
        Command::Run { target, module, args } => {
            let project = setup.load()?;
            run_program(setup, &project, target.as_deref(), module.as_deref(), args)
        }
        Command::Repl { specs } => {
            let project = setup.load()?;
            repl(setup, &project, specs)
        }
        Command::Package { specs } => {
            let project = setup.load()?;
            package(setup, format, &project, specs)
        }
    }
}

/// The project's environment for a resolve (the test environment: its resolution and
/// pytest), built on first use, and rebuilt when its files are no longer what was built
/// (what the runner checks before a process starts from it; this one starts outside it).
fn environment(setup: &Setup, project: &Project, resolve: &str) -> Result<engine::tools::ToolEnv, Failure> {
    let goals = setup.goals(project)?;
    let ensure = || {
        engine::goals::test::environment(&goals, project, resolve, &mut |m| progress(m))
            .map_err(|e| Failure { message: e.to_string(), code: 3 })
    };
    let env = ensure()?;
    // A change found removed the record: the second call rebuilds, saying so.
    if env.intact() { Ok(env) } else { ensure() }
}

/// Python in `env` with `roots` (root-relative source roots) first on `sys.path`, the
/// environment's `bin` first on `PATH`, in the current folder with the terminal's stdio.
fn python_command(
    project: &Project,
    env: &engine::tools::ToolEnv,
    roots: &[String],
    program: &Path,
) -> ProcessCommand {
    let mut command = ProcessCommand::new(program);
    let mut paths: Vec<PathBuf> = roots.iter().map(|r| project.root.join(r)).collect();
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    if let Ok(joined) = std::env::join_paths(&paths) {
        command.env("PYTHONPATH", joined);
    }
    let bin = env.root.join("bin");
    let mut path = vec![bin];
    if let Some(existing) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&existing));
    }
    if let Ok(joined) = std::env::join_paths(&path) {
        command.env("PATH", joined);
    }
    command.env("VIRTUAL_ENV", &env.root);
    command
}

/// Runs a command with the terminal's stdio and returns its exit code (128 + n when a
/// signal ended it, as a shell says).
fn pass_through(mut command: ProcessCommand, what: &str) -> Result<u8, Failure> {
    use std::os::unix::process::ExitStatusExt as _;
    let status =
        command.status().map_err(|e| Failure { message: format!("cannot start {what}: {e}"), code: 3 })?;
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1);
    Ok(u8::try_from(code & 0xff).unwrap_or(1))
}

/// `pleat run FILE|-m MODULE [-- ARGS]`.
fn run_program(
    setup: &Setup,
    project: &Project,
    target: Option<&str>,
    module: Option<&str>,
    args: &[String],
) -> Result<u8, Failure> {
    // The file the program starts from: its resolve decides the environment.
    let file = match (target, module) {
        (Some(target), _) => {
            let full = std::path::absolute(target).unwrap_or_else(|_| PathBuf::from(target));
            let rel = full.strip_prefix(&project.root).map(|p| p.to_string_lossy().into_owned());
            let found = rel
                .ok()
                .filter(|r| project.id(r).is_some())
                .or_else(|| project.id(target).is_some().then(|| target.to_owned()));
            let Some(rel) = found else {
                return Err(Failure::usage(format!(
                    "{target} is not a Python file of the project at {} (or it is excluded); give a path from the root or the current folder, or -m MODULE",
                    project.root.display()
                )));
            };
            Some(rel)
        }
        (None, Some(module)) => project
            .files()
            .find(|(id, _)| {
                project.module(*id).is_some_and(|m| m == module || m == format!("{module}.__main__"))
            })
            .map(|(_, f)| f.path.clone()),
        (None, None) => return Err(Failure::usage("give a file to run, or -m MODULE")),
    };
    let resolve = match &file {
        Some(path) => resolves::Resolves::new(&project.config)
            .and_then(|r| r.of(path).map(str::to_owned))
            .map_err(|e| Failure::usage(e.to_string()))?,
        None => resolves::DEFAULT.to_owned(),
    };
    let env = environment(setup, project, &resolve)?;
    let mut command = python_command(project, &env, project.source_roots(), &env.python);
    match (&file, module) {
        (_, Some(module)) => command.arg("-m").arg(module),
        (Some(path), None) => command.arg(project.root.join(path)),
        (None, None) => unreachable!("a target or a module, checked above"),
    };
    command.args(args);
    pass_through(command, &format!("{}", env.python.display()))
}

/// `pleat repl [SPECS]`.
fn repl(setup: &Setup, project: &Project, specs: &[String]) -> Result<u8, Failure> {
    let roots: Vec<String> = if specs.is_empty() {
        project.source_roots().to_vec()
    } else {
        let ids = setup::select(project, specs)?;
        let mut roots: Vec<String> = project
            .source_roots()
            .iter()
            .filter(|root| {
                ids.iter().any(|id| {
                    let path = project.path(*id);
                    root.is_empty()
                        || path.strip_prefix(root.as_str()).is_some_and(|rest| rest.starts_with('/'))
                })
            })
            .cloned()
            .collect();
        roots.dedup();
        roots
    };
    let env = environment(setup, project, resolves::DEFAULT)?;
    let ipython = env.root.join("bin").join("ipython");
    let program = if ipython.is_file() { ipython } else { env.python.clone() };
    let command = python_command(project, &env, &roots, &program);
    pass_through(command, &format!("{}", program.display()))
}

/// The resolves to export: the one named, else those the selected files use.
fn chosen_resolves(project: &Project, specs: &[String], only: Option<&str>) -> Result<Vec<String>, Failure> {
    let all = resolves::names(&project.config);
    if let Some(name) = only {
        return if all.iter().any(|n| n == name) {
            Ok(vec![name.to_owned()])
        } else {
            Err(Failure::usage(format!(
                "--resolve {name}: the project has no such resolve; its resolves are {} (named ones are declared under [tool.pleat.resolves])",
                all.join(", ")
            )))
        };
    }
    let ids = setup::select(project, specs)?;
    let groups = resolves::Resolves::new(&project.config)
        .and_then(|r| r.group(project, &ids))
        .map_err(|e| Failure::usage(e.to_string()))?;
    Ok(groups.into_iter().map(|(name, _)| name).collect())
}

/// `pleat export`.
fn export(
    setup: &Setup,
    format: Format,
    project: &Project,
    specs: &[String],
    only: Option<&str>,
    with: Option<&[String]>,
) -> Result<u8, Failure> {
    let names = chosen_resolves(project, specs, only)?;
    let tools: Vec<String> = match with {
        Some(list) => list.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
        None => export::default_tools(project),
    };
    let goals = setup.goals(project)?;
    let mut done: Vec<Exported> = Vec::new();
    for resolve in names {
        let options = ExportOptions { resolve, tools: tools.clone() };
        let exported = export::export(&goals, project, &options, &mut |m| progress(m)).map_err(|e| {
            let code =
                if matches!(e, engine::goals::GoalError::Tool(engine::tools::ToolError::Unknown { .. })) {
                    2
                } else {
                    3
                };
            Failure { message: e.to_string(), code }
        })?;
        done.push(exported);
    }
    let mut out = Out::new();
    if format == Format::Json {
        let items: Vec<serde_json::Value> = done
            .iter()
            .map(|e| {
                serde_json::json!({
                    "resolve": e.resolve, "path": e.root, "python": e.python,
                    "python_version": e.python_version, "packages": e.packages, "tools": e.tools,
                    "rebuilt": e.rebuilt,
                })
            })
            .collect();
        out.json(&serde_json::json!({"exports": items}))?;
    } else {
        for e in &done {
            let shown = e.root.strip_prefix(&project.root).unwrap_or(&e.root).display().to_string();
            let what = if e.rebuilt { "exported to" } else { "up to date:" };
            out.line(format_args!(
                "✓ {} resolve {what} {shown} ({} packages; tools: {})",
                e.resolve,
                e.packages.len(),
                if e.tools.is_empty() { "none".to_owned() } else { e.tools.join(", ") }
            ))?;
            out.line(format_args!("  interpreter: {}", e.python.display()))?;
        }
    }
    out.finish()?;
    Ok(0)
}

/// `pleat test --debug`: each selected test file's pytest in the terminal, one after another;
/// exit 130 after Ctrl+C (its sandbox removed, the rest not started), 1 when one failed.
pub fn test_debug(
    setup: &Setup,
    project: &Project,
    ids: &[engine::graph::FileId],
    options: &engine::goals::test::TestOptions,
    adapter: Option<&engine::goals::debug::Adapter>,
) -> Result<u8, Failure> {
    let tests: Vec<engine::graph::FileId> = ids
        .iter()
        .copied()
        .filter(|id| project.file(*id).is_some_and(|f| f.kind == engine::project::TargetKind::Test))
        .collect();
    if tests.is_empty() {
        return Err(Failure::usage(
            "the specs select no test file; name test files (or folders holding them)",
        ));
    }
    let goals = setup.goals(project)?;
    let sandboxes = setup.cache_dir.clone().unwrap_or_default().join("sandboxes");
    let total = tests.len();
    let mut n = 0;
    let debugged = engine::goals::debug::debug(
        &goals,
        project,
        &tests,
        options,
        &sandboxes,
        adapter,
        &mut |start| {
            n += 1;
            let file = start.file;
            let Some(at) = &start.listening else {
                progress(&format!("── {file} ({n}/{total}): pytest in the terminal, no cache, no time limit"));
                return;
            };
            progress(&format!(
                "── {file} ({n}/{total}): pytest under debugpy, no cache, no time limit; attach a debugger (pathMappings: {} → {})",
                project.root.display(),
                at.remote_root.display()
            ));
            // The line editors wait for: a fixed prefix, then the attach details as JSON.
            let details = serde_json::json!({
                "host": at.host,
                "port": at.port,
                "file": file,
                "localRoot": project.root,
                "remoteRoot": at.remote_root,
            });
            progress(&format!("debugpy listening on {}:{} {details}", at.host, at.port));
        },
        &mut |m| progress(m),
    )
    .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    let mut out = Out::new();
    for run in &debugged.runs {
        let mark = if run.exit_code == 0 || run.exit_code == 5 { "✓" } else { "✕" };
        out.line(format_args!("{mark} {} exit {}", run.file, run.exit_code))?;
    }
    if debugged.interrupted {
        let left = total - debugged.runs.len();
        out.line(format_args!("interrupted: {left} more test files not run"))?;
    }
    out.finish()?;
    Ok(if debugged.interrupted {
        130
    } else {
        u8::from(debugged.runs.iter().any(|r| r.exit_code != 0 && r.exit_code != 5))
    })
}

/// `--debug`'s specs with the tests they name split off: `tests/test_x.py::TestA::test_b` is
/// the spec `tests/test_x.py` and, for that file, the node id `TestA::test_b`. Specs ending
/// in `::` (`dir::`, `::`) are Pants' recursive specs and stay as they are.
pub fn node_id_specs(
    root: &std::path::Path,
    specs: &[String],
) -> (Vec<String>, std::collections::BTreeMap<String, Vec<String>>) {
    let mut only: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let specs = specs
        .iter()
        .map(|spec| match spec.split_once(".py::") {
            Some((file, id)) if !id.is_empty() && !id.ends_with("::") => {
                let file = crate::setup::relative_spec(root, &format!("{file}.py"));
                let file = file.strip_prefix("./").map(str::to_owned).unwrap_or(file);
                only.entry(file.clone()).or_default().push(id.to_owned());
                file
            }
            _ => spec.clone(),
        })
        .collect();
    (specs, only)
}

/// `pleat package [SPECS]`: exit 1 when a build failed (its backend's words, named).
fn package(setup: &Setup, format: Format, project: &Project, specs: &[String]) -> Result<u8, Failure> {
    use engine::distributions::{self, Distribution};
    use engine::goals::package;
    let all = distributions::distributions(project);
    if all.is_empty() {
        return Err(Failure::usage(
            "no distribution to package: no pyproject.toml with a [project] name in the repository",
        ));
    }
    let ids = setup::select(project, specs)?;
    // A file belongs to the innermost distribution holding it.
    let chosen: Vec<Distribution> = all
        .iter()
        .filter(|d| ids.iter().any(|id| distributions::owner(&all, project.path(*id)) == Some(*d)))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(Failure::usage(
            "the specs select no file of a distribution (a folder with a pyproject.toml holding [project])",
        ));
    }
    for u in distributions::undeclared(project, &all, &chosen) {
        progress(&format!(
            "warning: {} imports {}, code of the distribution {}, but the [project] dependencies of {} do not name {}; add it there",
            u.file,
            u.imports,
            u.to.name,
            u.from.pyproject(),
            u.to.name
        ));
    }
    let goals = setup.goals(project)?;
    let (built, failed) = package::package(&goals, project, &chosen, &mut |m| progress(m))
        .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    let mut out = Out::new();
    if format == Format::Json {
        let items: Vec<serde_json::Value> = built
            .iter()
            .map(|p| serde_json::json!({"name": p.distribution.name, "folder": p.distribution.folder, "artifacts": p.artifacts, "cached": p.cached}))
            .chain(failed.iter().map(|f| serde_json::json!({"name": f.distribution.name, "folder": f.distribution.folder, "error": f.output})))
            .collect();
        out.json(&serde_json::json!({"distributions": items}))?;
    } else {
        for p in &built {
            let cached = if p.cached { " (cached)" } else { "" };
            out.line(format_args!("✓ {}{cached}: {}", p.distribution.name, p.artifacts.join(", ")))?;
        }
        for f in &failed {
            let folder = if f.distribution.folder.is_empty() { "." } else { f.distribution.folder.as_str() };
            out.line(format_args!(
                "✕ {} ({folder}/pyproject.toml) did not build; its build backend said:\n{}",
                f.distribution.name, f.output
            ))?;
        }
    }
    out.finish()?;
    goals.finish().map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    Ok(u8::from(!failed.is_empty()))
}
