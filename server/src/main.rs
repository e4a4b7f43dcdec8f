//! The `pleat` binary: the command line (clap's types), and `main`, which parses it and hands each command to `cli/` or `lsp/`; errors become one sentence on stderr and an exit code.

mod cli;
mod lsp;
mod output;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use engine::exec::local::KeepSandboxes;

use cli::cache::CacheCommand;
use cli::debug::DebugCommand;
use cli::graph::{DependentsMode, Direction};
use output::{Failure, Format, Out};
use setup::Setup;

/// Pleat: the import graph of a Python repository, from the terminal.
#[derive(Parser, Debug)]
#[command(name = "pleat", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PLEAT_GIT_COMMIT"), ")"), about, long_about = None)]
pub struct Cli {
    /// The repository root (default: the nearest ancestor with pleat.toml or a
    /// pyproject.toml holding [tool.pleat], else the git root, else the current folder).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Where parse results are cached (default: $PLEAT_CACHE_DIR, else
    /// $XDG_CACHE_HOME/pleat, else ~/.cache/pleat).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the parse cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Print what loading did (files read, parsed, cache warnings) and what went to and from
    /// a remote (hits, bytes) on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Keep sandbox folders after runs (each holds `__run.sh` to replay by hand).
    #[arg(long, global = true, value_enum, default_value_t = Keep::Never)]
    keep_sandboxes: Keep,
    #[command(subcommand)]
    command: Command,
}

/// The remote-cache flags of the goals that run processes (over `[tool.pleat.remote]`): clap's
/// on/off flag pairs, hence the bools.
#[derive(clap::Args, Debug, Clone, Default)]
#[allow(clippy::struct_excessive_bools)]
pub struct RemoteArgs {
    /// A REAPI v2 remote cache, `grpc://host:port` (over [tool.pleat.remote] address).
    #[arg(long, value_name = "URL")]
    remote_address: Option<String>,
    /// Look results up in the remote cache on a local miss (the default with an address).
    #[arg(long, overrides_with = "no_remote_cache_read")]
    remote_cache_read: bool,
    /// Do not look results up in the remote cache.
    #[arg(long)]
    no_remote_cache_read: bool,
    /// Upload the results run here to the remote cache (the default when CI=true).
    #[arg(long, overrides_with = "no_remote_cache_write")]
    remote_cache_write: bool,
    /// Do not upload results to the remote cache.
    #[arg(long)]
    no_remote_cache_write: bool,
    /// Run processes that miss the caches on the remote's workers (REAPI Execute).
    #[arg(long, overrides_with = "no_remote_execution")]
    remote_execution: bool,
    /// Run processes here even when [tool.pleat.remote] sets execution = true.
    #[arg(long)]
    no_remote_execution: bool,
}

impl RemoteArgs {
    fn flags(&self) -> setup::RemoteFlags {
        let choice = |on: bool, off: bool| match (on, off) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => None,
        };
        setup::RemoteFlags {
            address: self.remote_address.clone(),
            read: choice(self.remote_cache_read, self.no_remote_cache_read),
            write: choice(self.remote_cache_write, self.no_remote_cache_write),
            execution: choice(self.remote_execution, self.no_remote_execution),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Keep {
    Never,
    OnFailure,
    Always,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List targets (files) and their kinds.
    List {
        /// `::` (all), `dir::` (recursive), `dir:` (one folder), paths, globs; `-spec` excludes.
        #[arg(default_value = "::")]
        specs: Vec<String>,
    },
    /// What the given files depend on.
    Dependencies {
        #[arg(long)]
        transitive: bool,
        #[arg(required = true)]
        specs: Vec<String>,
    },
    /// What depends on the given files.
    Dependents {
        #[arg(long)]
        transitive: bool,
        #[arg(required = true)]
        specs: Vec<String>,
    },
    /// The shortest import chain from one file to another, each hop with its line.
    Paths { from: String, to: String },
    /// The whole graph: each file and the files it imports (JSON as `ruff analyze graph`, or dot).
    Graph {
        #[arg(default_value = "::")]
        specs: Vec<String>,
    },
    /// Unresolved and ambiguous imports with file:line:col; exits 1 if there are any.
    CheckImports {
        #[arg(default_value = "::")]
        specs: Vec<String>,
    },
    /// Files changed since a git ref, with their dependents.
    Changed {
        #[arg(long, value_name = "REF")]
        since: String,
        #[arg(long, value_enum)]
        dependents: Option<DependentsMode>,
    },
    /// Import cycles.
    Cycles {
        #[arg(default_value = "::")]
        specs: Vec<String>,
    },
    /// Run tests: one hermetic, cached pytest process per test file; exits 1 when any fails.
    Test {
        /// Which files (test files among them run); default everything.
        #[arg(default_value = "::")]
        specs: Vec<String>,
        /// Only tests affected by files changed since this git ref.
        #[arg(long, value_name = "REF")]
        changed_since: Option<String>,
        /// The order test files start in: `likely-first` (those whose last run executed the
        /// changed lines, then those that executed a changed file, then the rest; with
        /// --changed-since) or `path`.
        #[arg(long, value_enum, default_value = "likely-first")]
        order: TestOrder,
        /// Run even when a cached result exists.
        #[arg(long)]
        force: bool,
        /// Kill a test file's process after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Pass an environment variable: `VAR=value`, or `VAR` to take it from here.
        #[arg(long, value_name = "VAR[=VALUE]")]
        extra_env: Vec<String>,
        /// Run the test files one after another with the terminal's stdin/stdout/stderr (a
        /// breakpoint() stops there), in their sandboxes, no cache, no time limit; Ctrl+C
        /// reaches pytest and stops the rest (exit 130).
        #[arg(long, conflicts_with_all = ["force", "timeout"])]
        debug: bool,
        /// `--debug` with pytest started under debugpy, which listens on a loopback port and
        /// waits for an IDE to attach; prints `pleat: debugpy listening on HOST:PORT {json}`
        /// (the JSON has `host`, `port`, `file` and the `localRoot`/`remoteRoot` path mapping).
        /// With it, as with --debug, a spec may name one test: `tests/test_x.py::test_name`.
        #[arg(long, conflicts_with_all = ["force", "timeout"])]
        debug_adapter: bool,
        /// The port debugpy listens on with --debug-adapter (default: a free one).
        #[arg(long, requires = "debug_adapter")]
        port: Option<u16>,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Arguments for pytest, after `--`.
        #[arg(last = true)]
        pytest_args: Vec<String>,
    },
    /// Lint files hermetically (ruff by default), one cached process per file; exits 1 on findings.
    Lint {
        #[arg(default_value = "::")]
        specs: Vec<String>,
        /// ruff, flake8 or pylint.
        #[arg(long, default_value = "ruff")]
        tool: String,
        /// Run even when a cached result exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Format files hermetically (ruff format by default), writing back atomically; --check writes nothing and exits 1 if anything would change.
    Fmt {
        #[arg(default_value = "::")]
        specs: Vec<String>,
        /// ruff, black or isort.
        #[arg(long, default_value = "ruff")]
        tool: String,
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Type-check files and their dependencies (mypy, its cache kept between runs; or pyright); exits 1 on errors.
    Check {
        /// Which files; without any, the files mypy's configuration names (`files`,
        /// `packages`, `modules`), as a bare `mypy` checks them, else everything (`::`).
        specs: Vec<String>,
        /// mypy or pyright.
        #[arg(long, default_value = "mypy")]
        tool: String,
        /// Run even when a cached result exists (and do not cache this run).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Resolve the test environment's requirements into pylock.toml (PEP 751), and each
    /// named resolve's into pylock.<name>.toml, which `test` and `check` then install
    /// exactly; --check exits 1 when one is missing or stale.
    Lock {
        #[arg(long)]
        check: bool,
        /// Only this resolve (`default` or a name under [tool.pleat.resolves]).
        #[arg(long, value_name = "NAME")]
        resolve: Option<String>,
    },
    /// Serve the Language Server Protocol on stdin/stdout (what editors start).
    Lsp,
    #[command(flatten)]
    Workflow(cli::workflow::Command),
    /// The remote cache: `pleat remote status` (capabilities, round trip, digest function).
    #[command(subcommand)]
    Remote(cli::remote::RemoteCommand),
    /// Serve BuildGrid's Bots API: take leases, run each action here in Pleat's sandbox,
    /// upload its outputs (until stopped).
    Worker(cli::worker::WorkerArgs),
    /// The content-addressed store and the parse cache: sizes, eviction, clearing.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Tools for benchmarks and debugging.
    #[command(subcommand, hide = true)]
    Debug(DebugCommand),
}

/// Lets `-spec` excludes stand among the specs as in Pants (`pleat list :: -legacy::`):
/// clap would take them for flags, so before any `--` each becomes `!spec`, which the
/// specs read as the same exclude (and the arguments after `--` stay pytest's). An
/// argument is taken for an exclude when it starts with one `-` and holds `:`, `/`, `.`
/// or `*`.
fn with_excludes_last(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut before_dash_dash = true;
    args.into_iter()
        .map(|arg| {
            if arg == "--" {
                before_dash_dash = false;
            }
            match arg.to_str() {
                Some(s)
                    if before_dash_dash
                        && s.len() > 1
                        && s.starts_with('-')
                        && !s.starts_with("--")
                        && s.contains([':', '/', '.', '*']) =>
                {
                    format!("!{}", &s[1..]).into()
                }
                _ => arg,
            }
        })
        .collect()
}

fn main() -> ExitCode {
    // First, while the process has one thread: no process Pleat starts reads its
    // environment or memory (the watchdog forked next inherits it), nor outlives it.
    engine::privacy::close_self();
    engine::children::install();
    let cli = Cli::parse_from(with_excludes_last(std::env::args_os().collect()));
    let result = run(&cli);
    engine::children::hold_if_stopping();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            output::say(format_args!("{}", failure.message));
            ExitCode::from(failure.code)
        }
    }
}

/// `pleat test --order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestOrder {
    LikelyFirst,
    Path,
}

/// Runs one command; returns the exit code.
fn run(cli: &Cli) -> Result<u8, Failure> {
    let setup = Setup {
        root: cli.root.clone(),
        cache_dir: setup::cache_dir(cli.cache_dir.as_deref(), cli.no_cache),
        verbose: cli.verbose,
        keep_sandboxes: match cli.keep_sandboxes {
            Keep::Never => KeepSandboxes::Never,
            Keep::OnFailure => KeepSandboxes::OnFailure,
            Keep::Always => KeepSandboxes::Always,
        },
        remote: match &cli.command {
            Command::Test { remote, .. }
            | Command::Lint { remote, .. }
            | Command::Fmt { remote, .. }
            | Command::Check { remote, .. }
            | Command::Remote(cli::remote::RemoteCommand::Status { remote }) => remote.flags(),
            _ => setup::RemoteFlags::default(),
        },
        remote_cache: std::sync::OnceLock::new(),
        remote_executor: std::sync::OnceLock::new(),
    };
    let code = run_command(cli, &setup);
    // Results run here reach the remote cache before the process ends (bounded).
    setup.flush_remote();
    code
}

/// Runs the command `cli` names with `setup`.
fn run_command(cli: &Cli, setup: &Setup) -> Result<u8, Failure> {
    let format = cli.format;
    let graph = |goal: &dyn Fn(&engine::project::Project, &mut Out) -> Result<u8, Failure>| {
        let project = setup.load()?;
        let mut out = Out::new();
        let code = goal(&project, &mut out)?;
        out.finish()?;
        Ok(code)
    };
    match &cli.command {
        Command::Lsp => lsp::run(setup.cache_dir.clone()).map_err(|e| {
            Failure::usage(format!(
                "cannot start the language server's runtime ({e}); check the process limits"
            ))
        }),
        Command::Debug(command) => cli::debug::run(setup, command),
        Command::Cache(command) => cli::cache::run(setup, format, command),
        Command::Remote(command) => cli::remote::run(setup, format, command),
        Command::Worker(args) => cli::worker::run(setup, args),
        Command::Workflow(command) => cli::workflow::run(setup, format, command),
        Command::Test {
            specs,
            changed_since,
            order,
            force,
            timeout,
            extra_env,
            pytest_args,
            debug,
            debug_adapter,
            port,
            ..
        } => {
            let command = cli::tools::TestCommand {
                specs,
                changed_since: changed_since.as_deref(),
                likely_first: *order == TestOrder::LikelyFirst,
                force: *force,
                timeout: *timeout,
                extra_env,
                pytest_args,
                debug: *debug || *debug_adapter,
                adapter: debug_adapter.then(|| engine::goals::debug::Adapter {
                    host: "127.0.0.1".to_owned(),
                    port: port.unwrap_or(0),
                }),
            };
            cli::tools::test_command(setup, format, &command)
        }
        Command::Check { specs, tool, force, .. } => {
            cli::tools::check(setup, format, &setup.load()?, specs, tool, *force)
        }
        Command::Fmt { specs, tool, check, .. } => {
            let project = setup.load()?;
            cli::tools::fmt(setup, format, &project, &setup::select(&project, specs)?, tool, *check)
        }
        Command::Lint { specs, tool, force, .. } => {
            let project = setup.load()?;
            let options = engine::goals::lint::LintOptions { force: *force, ..Default::default() };
            cli::tools::lint(setup, format, &project, &setup::select(&project, specs)?, tool, &options)
        }
        Command::Lock { check, resolve } => {
            cli::lock::lock(setup, format, &setup.load()?, *check, resolve.as_deref())
        }
        Command::List { specs } => graph(&|project, out| cli::graph::list(project, specs, format, out)),
        Command::Dependencies { transitive, specs } => graph(&|project, out| {
            cli::graph::related(project, specs, *transitive, Direction::Dependencies, format, out)
        }),
        Command::Dependents { transitive, specs } => graph(&|project, out| {
            cli::graph::related(project, specs, *transitive, Direction::Dependents, format, out)
        }),
        Command::Paths { from, to } => {
            graph(&|project, out| cli::graph::paths(project, from, to, format, out))
        }
        Command::Graph { specs } => graph(&|project, out| cli::graph::graph(project, specs, format, out)),
        Command::CheckImports { specs } => {
            graph(&|project, out| cli::graph::check_imports(project, specs, format, out))
        }
        Command::Changed { since, dependents } => {
            graph(&|project, out| cli::graph::changed(project, since, *dependents, format, out))
        }
        Command::Cycles { specs } => graph(&|project, out| cli::graph::cycles(project, specs, format, out)),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, with_excludes_last};

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        list.iter().map(std::ffi::OsString::from).collect()
    }

    #[test]
    fn excludes_become_specs_and_what_follows_dash_dash_stays_pytest_s() {
        let given = args(&["pleat", "test", "::", "-legacy::", "-v", "--", "-x", "-k", "-a.b"]);
        let wanted = args(&["pleat", "test", "::", "!legacy::", "-v", "--", "-x", "-k", "-a.b"]);
        assert_eq!(with_excludes_last(given.clone()), wanted);
        let cli = Cli::try_parse_from(with_excludes_last(given)).unwrap();
        let Command::Test { specs, pytest_args, .. } = cli.command else { panic!("not test: {cli:?}") };
        assert_eq!(specs, ["::", "!legacy::"]);
        assert_eq!(pytest_args, ["-x", "-k", "-a.b"]);
        let listed = with_excludes_last(args(&["pleat", "list", "-app/sub::", "--format", "json"]));
        assert_eq!(listed, args(&["pleat", "list", "!app/sub::", "--format", "json"]));
    }
}
