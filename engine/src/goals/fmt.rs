//! `fmt`: one cached formatter process per file (ruff format by default; black and isort selectable); the formatted content comes back from the store and is written over the file atomically, and only if the file did not change meanwhile. Also the one-file rewrite of an editor's unsaved text, which `format_text` and `lint::fix_text` share.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::{GoalError, Goals, config_files, run_all};
use crate::exec::{CacheScope, Process, ProcessResult};
use crate::graph::FileId;
use crate::hash::Digest;
use crate::project::Project;
use crate::tools::ToolEnv;
use crate::tree::{self, Node};

/// The formatters Pleat runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formatter {
    Ruff,
    Black,
    Isort,
}

impl Formatter {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ruff => "ruff",
            Self::Black => "black",
            Self::Isort => "isort",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ruff" => Some(Self::Ruff),
            "black" => Some(Self::Black),
            "isort" => Some(Self::Isort),
            _ => None,
        }
    }

    /// The argv before the file's path.
    fn command(self, tool: &ToolEnv) -> Vec<String> {
        let flags: &[&str] = match self {
            // Not `--quiet`: ruff's would hide why it refused a file.
            Self::Ruff => &["format", "--no-cache"],
            Self::Black | Self::Isort => &["--quiet"],
        };
        let mut argv = tool.argv();
        argv.extend(flags.iter().map(|f| (*f).to_owned()));
        argv
    }
}

/// What formatting did to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmtOutcome {
    Unchanged,
    /// Rewritten (or, with `check`, would be).
    Changed,
    /// The file changed on disk while it was being formatted: left alone.
    ChangedMeanwhile,
    /// The formatter refused the file (a syntax error, usually); `message` says why.
    Failed,
}

/// One file's formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormattedFile {
    pub file: String,
    pub outcome: FmtOutcome,
    pub cached: bool,
    /// Where the result came from (`cached` says whether it came from a cache at all).
    pub source: crate::exec::ResultSource,
    pub message: String,
}

/// Formats files; with `check`, writes nothing and reports what would change.
pub fn fmt(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    formatter: Formatter,
    check: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<FormattedFile>, GoalError> {
    let tool = goals.tool(formatter.name(), progress)?;
    let configs = config_files(project);
    let read = goals.read_files(
        &project.root,
        configs.iter().cloned().chain(files.iter().map(|id| project.path(*id).to_owned())),
    )?;
    let mut processes = Vec::with_capacity(files.len());
    let mut before: Vec<Option<Digest>> = Vec::with_capacity(files.len());
    for id in files {
        let path = project.path(*id).to_owned();
        let mut inputs = configs.clone();
        inputs.push(path.clone());
        let root = goals.tree_of(&read, &inputs)?;
        before.push(file_digest(read.get(&path)));
        let description = format!("{} format {path}", formatter.name());
        processes.push(rewrite_process(goals, &tool, formatter.command(&tool), &path, root, description));
    }
    let results = run_all(goals, &processes, 8, &|_, _| {});
    let mut out = Vec::with_capacity(files.len());
    for ((id, result), original) in files.iter().zip(results).zip(before) {
        let path = project.path(*id).to_owned();
        let result = result?;
        let cached = result.source.is_cached();
        let after = file_digest(tree::entries(&goals.store, &result.output_root)?.get(&path));
        let (outcome, message) = match (result.exit_code, original, after) {
            (0, Some(before), Some(after)) if before == after => (FmtOutcome::Unchanged, String::new()),
            (0, Some(_), Some(_)) if check => (FmtOutcome::Changed, String::new()),
            (0, Some(before), Some(after)) => write_back(goals, &project.root.join(&path), &before, &after)?,
            _ => (FmtOutcome::Failed, exited_with(goals, formatter.name(), &result)?),
        };
        out.push(FormattedFile { file: path, outcome, cached, source: result.source, message });
    }
    Ok(out)
}

/// What a tool made of an editor's unsaved text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTransform {
    /// The new text; `None` when the tool left the text as it was.
    pub text: Option<String>,
    /// Whether the result came from the cache (no process ran).
    pub cached: bool,
}

/// Formats an editor's unsaved `text` of the file at `path` (repository-relative), leaving
/// the file on disk alone. The process is the one `fmt` runs for a file with that content,
/// so either one's result serves the other from the cache.
pub fn format_text(
    goals: &Goals,
    project: &Project,
    path: &str,
    text: &str,
    formatter: Formatter,
    progress: &mut dyn FnMut(&str),
) -> Result<TextTransform, GoalError> {
    let tool = goals.tool(formatter.name(), progress)?;
    let rewrite = Rewrite {
        tool: &tool,
        command: formatter.command(&tool),
        path,
        inputs: goals.read_files(&project.root, config_files(project))?,
        description: format!("{} format {path}", formatter.name()),
    };
    rewrite_text(goals, project, rewrite, text)
}

/// A tool that rewrites one file in place (`command… path`), run over an editor's text.
pub(super) struct Rewrite<'a> {
    pub tool: &'a ToolEnv,
    /// The argv before the file's path.
    pub command: Vec<String>,
    /// The file, repository-relative.
    pub path: &'a str,
    /// The sandbox's other files (the tool's configuration), as stored.
    pub inputs: BTreeMap<String, Node>,
    pub description: String,
}

/// Runs a [`Rewrite`] over `text` instead of the file's content, with its inputs beside it,
/// and reads back what the tool left in the file. Nothing on disk is touched.
pub(super) fn rewrite_text(
    goals: &Goals,
    project: &Project,
    rewrite: Rewrite<'_>,
    text: &str,
) -> Result<TextTransform, GoalError> {
    let Rewrite { tool, command, path, mut inputs, description } = rewrite;
    let failed =
        |reason: String| GoalError::Output { tool: tool.name.clone(), file: path.to_owned(), reason };
    let before = goals.store.put(text.as_bytes())?;
    // Executable as the file on disk is, so the key is the one `fmt` uses for this content.
    let executable =
        std::fs::metadata(project.root.join(path)).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    inputs.insert(path.to_owned(), Node::File { digest: before, executable });
    let root = tree::from_entries(&goals.store, &inputs)?;
    let process = rewrite_process(goals, tool, command, path, root, description);
    let result = goals.runner.run(&process, &goals.cancel)?;
    let cached = result.source.is_cached();
    if result.exit_code != 0 {
        let reason = exited_with(goals, &tool.name, &result)?;
        return Err(failed(format!("{reason}; the text was left as it is")));
    }
    let after = file_digest(tree::entries(&goals.store, &result.output_root)?.get(path))
        .ok_or_else(|| failed("it did not leave the file in its sandbox".to_owned()))?;
    if after == before {
        return Ok(TextTransform { text: None, cached });
    }
    let bytes = goals
        .store
        .get(&after)?
        .ok_or_else(|| failed("its result is missing from the store; run it again".to_owned()))?;
    let text = String::from_utf8(bytes).map_err(|_| failed("its result is not UTF-8".to_owned()))?;
    Ok(TextTransform { text: Some(text), cached })
}

/// The process that runs `command… path` inside `root` to rewrite `path` in place: the file
/// is its one output, and every result is cached (a refusal is as deterministic as a
/// success).
fn rewrite_process(
    goals: &Goals,
    tool: &ToolEnv,
    command: Vec<String>,
    path: &str,
    root: Digest,
    description: String,
) -> Process {
    let mut argv = command;
    argv.push(path.to_owned());
    let mut process = Process::new(argv, root);
    goals.runs_from(&mut process, tool);
    process.output_files.insert(path.to_owned());
    process.cache_scope = CacheScope::Always;
    process.description = description;
    process
}

/// `tool exited with N: <the last line of its stderr>`, for a process that failed.
pub(super) fn exited_with(goals: &Goals, tool: &str, result: &ProcessResult) -> Result<String, GoalError> {
    let stderr = goals.text(&result.stderr)?;
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
    Ok(format!("{tool} exited with {}: {last}", result.exit_code))
}

/// The digest of a listing's entry when it is a file.
fn file_digest(node: Option<&Node>) -> Option<Digest> {
    match node {
        Some(Node::File { digest, .. }) => Some(*digest),
        _ => None,
    }
}

/// Replaces the file with the formatted content, atomically (temp file + rename, same
/// permissions), unless its content is no longer what was formatted.
fn write_back(
    goals: &Goals,
    path: &Path,
    before: &Digest,
    after: &Digest,
) -> Result<(FmtOutcome, String), GoalError> {
    let io = |e: std::io::Error| GoalError::Output {
        tool: "fmt".to_owned(),
        file: path.display().to_string(),
        reason: e.to_string(),
    };
    let current = std::fs::read(path).map_err(io)?;
    if Digest::of(before.function, &current) != *before {
        return Ok((
            FmtOutcome::ChangedMeanwhile,
            "the file changed while it was being formatted; it was left alone: run fmt again".to_owned(),
        ));
    }
    let content = goals.store.get(after)?.ok_or_else(|| GoalError::Output {
        tool: "fmt".to_owned(),
        file: path.display().to_string(),
        reason: "the formatted content is missing from the store".to_owned(),
    })?;
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.pleat-fmt-{}", std::process::id()));
    std::fs::write(&tmp, &content).map_err(io)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok((FmtOutcome::Changed, String::new()))
}

#[cfg(test)]
mod tests;
