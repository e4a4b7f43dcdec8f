//! `test --debug`: the test files' pytest processes, exactly as the test goal plans them (same inputs, environment and arguments), run one after another in fresh sandboxes with the terminal's stdin/stdout/stderr, no cache and no time limit; Ctrl+C reaches pytest, and the rest are not started. `test --debug-adapter`: the same, with pytest started under debugpy (its own tool environment), which listens on a loopback port and waits for an IDE to attach.

use std::path::Path;
use std::process::Command;

use super::test::{TestOptions, plan};
use super::{GoalError, Goals};
use crate::exec::ExecError;
use crate::graph::FileId;
use crate::project::Project;

/// One test file's interactive run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugRun {
    pub file: String,
    /// pytest's exit code (128 + n when signal n ended it).
    pub exit_code: i32,
}

/// How the debug runs went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debugged {
    /// The files run, in order.
    pub runs: Vec<DebugRun>,
    /// Ctrl+C stopped them: the last run was interrupted and the rest never started.
    pub interrupted: bool,
}

/// `--debug-adapter`: where debugpy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    /// Always a loopback address: the debugger runs the project's code for whoever connects.
    pub host: String,
    /// 0: a free port, chosen for each file.
    pub port: u16,
}

/// A file's run as it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start<'a> {
    pub file: &'a str,
    /// Under `--debug-adapter`: where debugpy waits for the IDE.
    pub listening: Option<Listening>,
}

/// debugpy waiting for an IDE: its address, and the folder that stands for the workspace
/// root in the sandbox (debugpy's `pathMappings`: `localRoot` the workspace root,
/// `remoteRoot` this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    pub host: String,
    pub port: u16,
    pub remote_root: std::path::PathBuf,
}

/// Runs each test file's pytest in the terminal, in a sandbox under `sandboxes` removed
/// after it; `on_start` is told each file before it starts. With `adapter`, pytest runs
/// under debugpy, which waits for an IDE to attach before it starts.
#[allow(clippy::too_many_arguments)]
pub fn debug(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    options: &TestOptions,
    sandboxes: &Path,
    adapter: Option<&Adapter>,
    on_start: &mut dyn FnMut(&Start<'_>),
    progress: &mut dyn FnMut(&str),
) -> Result<Debugged, GoalError> {
    let planned = plan(goals, project, files, &[], options, progress)?;
    let debugpy = match adapter {
        Some(_) => Some(debugpy_path(&goals.tool("debugpy", progress)?)?),
        None => None,
    };
    let mut done = Debugged { runs: Vec::new(), interrupted: false };
    std::fs::create_dir_all(sandboxes).map_err(|e| sandbox_error(sandboxes, &e))?;
    for mut one in planned {
        if let Some(path) = crate::exec::local::damaged_host_path(&one.process) {
            let description = one.process.description.clone();
            return Err(GoalError::Exec(ExecError::EnvironmentDamaged { description, path }));
        }
        let sandbox = tempfile::Builder::new()
            .prefix("debug-")
            .tempdir_in(sandboxes)
            .map_err(|e| sandbox_error(sandboxes, &e))?;
        // The real path: it is the one Python's code objects (and so debugpy) name.
        let root = sandbox.path().canonicalize().map_err(|e| sandbox_error(sandbox.path(), &e))?;
        let listening = match (adapter, &debugpy) {
            (Some(adapter), Some(debugpy)) => Some(under_debugpy(&mut one.process, adapter, debugpy, &root)?),
            _ => None,
        };
        let process = &one.process;
        let ran = crate::exec::local::materialize(&goals.store, &process.input_root, &root.join("root"))
            .map_err(GoalError::from)
            .and_then(|()| {
                // Said once debugpy listens: an IDE told earlier would find the port closed.
                if let Some(at) = listening {
                    let file = &one.file;
                    return run_detached(process, &root, at.port, &mut || {
                        on_start(&Start { file, listening: Some(at.clone()) });
                    });
                }
                on_start(&Start { file: &one.file, listening: None });
                run_in_terminal(process, &root)
            });
        crate::children::remove_tree(&root);
        let exit_code = ran?;
        done.runs.push(DebugRun { file: one.file, exit_code });
        if crate::children::interrupted() || exit_code == 128 + libc::SIGINT {
            done.interrupted = true;
            break;
        }
    }
    Ok(done)
}

/// The `site-packages` folder of debugpy's environment.
fn debugpy_path(env: &crate::tools::ToolEnv) -> Result<String, GoalError> {
    let lib = env.root.join("lib");
    std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.join("debugpy").is_dir())
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or_else(|| {
            GoalError::Tool(crate::tools::ToolError::Io {
                action: "find debugpy in",
                path: lib.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no site-packages with debugpy; run `pleat cache clear` to build the environment again",
                ),
            })
        })
}

/// Makes `process` start pytest under debugpy, listening on the adapter's address (a free
/// port when it says 0) and waiting for a client; debugpy's folder goes last on the path.
fn under_debugpy(
    process: &mut crate::exec::Process,
    adapter: &Adapter,
    debugpy: &str,
    sandbox: &Path,
) -> Result<Listening, GoalError> {
    // Bound and let go at once: a free port (for 0), or a check that the given one is.
    let port = std::net::TcpListener::bind((adapter.host.as_str(), adapter.port))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| {
            let reason = match adapter.port {
                0 => format!("no free port on {}: {e}", adapter.host),
                port => format!(
                    "port {port} on {} cannot be listened on ({e}); pass another --port, or none for a free one",
                    adapter.host
                ),
            };
            GoalError::Exec(ExecError::Spawn {
                description: process.description.clone(),
                program: "debugpy".to_owned(),
                reason,
            })
        })?;
    // argv is `python -m pytest ARGS`: `python -X frozen_modules=off -m debugpy --listen …
    // -m pytest ARGS`. Frozen standard modules (3.11+) have no source for breakpoints, and
    // debugpy warns about them; older Pythons ignore the -X option.
    let rest = process.argv.split_off(1);
    process.argv.extend(
        [
            "-X",
            "frozen_modules=off",
            "-m",
            "debugpy",
            "--listen",
            &format!("{}:{port}", adapter.host),
            "--wait-for-client",
        ]
        .map(String::from),
    );
    process.argv.extend(rest);
    let path = process.env.entry("PYTHONPATH".to_owned()).or_default();
    if !path.is_empty() {
        path.push(':');
    }
    path.push_str(debugpy);
    Ok(Listening {
        host: adapter.host.clone(),
        port,
        remote_root: sandbox.join("root").join(&process.working_directory),
    })
}

/// Starts the process from `<sandbox>/root` in a process group of its own (killed with
/// Pleat, as every process it starts), stdin empty, stdout and stderr the terminal's: the
/// IDE attached to debugpy is its user interface. Calls `ready` once a socket listens on
/// `port` (debugpy's adapter, a process of its own, opens it a moment after the start), then
/// waits for the process.
fn run_detached(
    process: &crate::exec::Process,
    sandbox: &Path,
    port: u16,
    ready: &mut dyn FnMut(),
) -> Result<i32, GoalError> {
    let mut command = command_in(process, sandbox)?;
    command.stdin(std::process::Stdio::null());
    let mut spawned =
        crate::children::spawn(&mut command, Some(sandbox)).map_err(|e| spawn_error(process, &e))?;
    loop {
        if let Some(status) = spawned.child.try_wait().map_err(|e| spawn_error(process, &e))? {
            return Ok(exit_code(status));
        }
        if listens(port) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ready();
    let status = spawned.child.wait().map_err(|e| spawn_error(process, &e))?;
    Ok(exit_code(status))
}

/// Whether a TCP socket listens on `port` (IPv4 or IPv6), from `/proc/net/tcp*`: looking
/// does not connect, which debugpy would take for its IDE.
fn listens(port: u16) -> bool {
    let local = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                let mut fields = line.split_whitespace().skip(1);
                let address = fields.next().unwrap_or_default();
                // `st` 0A is LISTEN.
                address.ends_with(&local) && fields.nth(1) == Some("0A")
            })
        })
    })
}

/// Starts the process from `<sandbox>/root` in Pleat's own process group (the terminal's
/// foreground group: Ctrl+C reaches it) with the terminal's stdio, and waits for it.
fn run_in_terminal(process: &crate::exec::Process, sandbox: &Path) -> Result<i32, GoalError> {
    let mut command = command_in(process, sandbox)?;
    crate::children::foreground(true);
    let status = command.status();
    crate::children::foreground(false);
    Ok(exit_code(status.map_err(|e| spawn_error(process, &e))?))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1)
}

fn spawn_error(process: &crate::exec::Process, e: &std::io::Error) -> GoalError {
    GoalError::Exec(ExecError::Spawn {
        description: process.description.clone(),
        program: process.argv.first().cloned().unwrap_or_default(),
        reason: e.to_string(),
    })
}

/// The process's command: from `<sandbox>/root`, the empty environment plus its own, with
/// HOME and TMPDIR inside the sandbox.
fn command_in(process: &crate::exec::Process, sandbox: &Path) -> Result<Command, GoalError> {
    let cwd = sandbox.join("root").join(&process.working_directory);
    let tmp = sandbox.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| sandbox_error(sandbox, &e))?;
    let mut env = process.env.clone();
    env.entry("HOME".to_owned()).or_insert_with(|| sandbox.to_string_lossy().into_owned());
    env.entry("TMPDIR".to_owned()).or_insert_with(|| tmp.to_string_lossy().into_owned());
    let (program, args) = process.argv.split_first().ok_or_else(|| {
        GoalError::Exec(ExecError::Spawn {
            description: process.description.clone(),
            program: String::new(),
            reason: "no program".to_owned(),
        })
    })?;
    let mut command = Command::new(program);
    command.args(args).env_clear().envs(&env).current_dir(&cwd);
    Ok(command)
}

fn sandbox_error(path: &Path, e: &std::io::Error) -> GoalError {
    GoalError::Tool(crate::tools::ToolError::Io {
        action: "make a sandbox in",
        path: path.display().to_string(),
        source: std::io::Error::new(e.kind(), e.to_string()),
    })
}
