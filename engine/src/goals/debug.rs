//! `test --debug`: the test files' pytest processes, exactly as the test goal plans them (same inputs, environment and arguments), run one after another in fresh sandboxes with the terminal's stdin/stdout/stderr, no cache and no time limit; Ctrl+C reaches pytest, and the rest are not started.

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

/// Runs each test file's pytest in the terminal, in a sandbox under `sandboxes` removed
/// after it; `on_start` is told each file before it starts.
pub fn debug(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    options: &TestOptions,
    sandboxes: &Path,
    on_start: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(&str),
) -> Result<Debugged, GoalError> {
    let planned = plan(goals, project, files, &[], options, progress)?;
    let mut done = Debugged { runs: Vec::new(), interrupted: false };
    std::fs::create_dir_all(sandboxes).map_err(|e| sandbox_error(sandboxes, &e))?;
    for one in planned {
        if let Some(path) = crate::exec::local::damaged_host_path(&one.process) {
            let description = one.process.description.clone();
            return Err(GoalError::Exec(ExecError::EnvironmentDamaged { description, path }));
        }
        on_start(&one.file);
        let sandbox = tempfile::Builder::new()
            .prefix("debug-")
            .tempdir_in(sandboxes)
            .map_err(|e| sandbox_error(sandboxes, &e))?;
        let root = sandbox.path().to_owned();
        let process = &one.process;
        let ran = crate::exec::local::materialize(&goals.store, &process.input_root, &root.join("root"))
            .map_err(GoalError::from)
            .and_then(|()| run_in_terminal(process, &root));
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

/// Starts the process from `<sandbox>/root` in Pleat's own process group (the terminal's
/// foreground group: Ctrl+C reaches it) with the terminal's stdio, and waits for it.
fn run_in_terminal(process: &crate::exec::Process, sandbox: &Path) -> Result<i32, GoalError> {
    use std::os::unix::process::ExitStatusExt as _;
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
    crate::children::foreground(true);
    let status = command.status();
    crate::children::foreground(false);
    let status = status.map_err(|e| {
        GoalError::Exec(ExecError::Spawn {
            description: process.description.clone(),
            program: program.clone(),
            reason: e.to_string(),
        })
    })?;
    Ok(status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1))
}

fn sandbox_error(path: &Path, e: &std::io::Error) -> GoalError {
    GoalError::Tool(crate::tools::ToolError::Io {
        action: "make a sandbox in",
        path: path.display().to_string(),
        source: std::io::Error::new(e.kind(), e.to_string()),
    })
}
