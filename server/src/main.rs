//! The `pleat` binary: command-line parsing and dispatch to the goals; errors become one sentence on stderr and an exit code.

mod cache;
mod commands;
mod debug;
mod lock;
mod lsp;
mod output;
mod run_goals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Print what loading did (files read, parsed, cache warnings) on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Keep sandbox folders after runs (each holds `__run.sh` to replay by hand).
    #[arg(long, global = true, value_enum, default_value_t = Keep::Never)]
    keep_sandboxes: Keep,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Keep {
    Never,
    OnFailure,
    Always,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// Graphviz (for `graph` only).
    Dot,
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
        /// Run even when a cached result exists.
        #[arg(long)]
        force: bool,
        /// Kill a test file's process after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Pass an environment variable: `VAR=value`, or `VAR` to take it from here.
        #[arg(long, value_name = "VAR[=VALUE]")]
        extra_env: Vec<String>,
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
    /// The content-addressed store and the parse cache: sizes, eviction, clearing.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Tools for benchmarks and debugging.
    #[command(subcommand, hide = true)]
    Debug(debug::DebugCommand),
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// What the store holds.
    Stats,
    /// Evict least-recently-used content down to the size cap (or --max-size).
    Gc {
        /// Target size, like `500MiB` or `2GiB` (default: the store's cap, 2 GiB).
        #[arg(long, value_parser = engine::config::parse_size)]
        max_size: Option<u64>,
    },
    /// Remove everything: the store and the parse cache.
    Clear,
    /// Read every stored blob back and check it against its digest.
    Verify,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DependentsMode {
    Direct,
    Transitive,
}

/// An error for the user: the message, and the exit code.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// Bad input: usage, configuration, specs (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 2 }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self { message: format!("cannot write the output: {e}"), code: 3 }
    }
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
    let result = commands::run(&cli);
    engine::children::hold_if_stopping();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            crate::output::say(format_args!("{}", failure.message));
            ExitCode::from(failure.code)
        }
    }
}
