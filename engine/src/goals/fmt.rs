//! `fmt`: one cached formatter process per file (ruff format by default; black and isort selectable); the formatted content comes back from the store and is written over the file atomically, and only if the file did not change meanwhile.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::{GoalError, Goals, config_files, run_all};
use crate::exec::{CacheScope, Process, ResultSource};
use crate::graph::FileId;
use crate::hash::Digest;
use crate::project::Project;
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
        before.push(match read.get(&path) {
            Some(Node::File { digest, .. }) => Some(*digest),
            _ => None,
        });
        let mut argv = tool.argv();
        let flags: &[&str] = match formatter {
            Formatter::Ruff => &["format", "--no-cache", "--quiet"],
            Formatter::Black | Formatter::Isort => &["--quiet"],
        };
        argv.extend(flags.iter().map(|f| (*f).to_owned()));
        argv.push(path.clone());
        let mut process = Process::new(argv, root);
        process.platform = goals.platform(&tool);
        process.output_files.insert(path.clone());
        process.cache_scope = CacheScope::Always;
        process.description = format!("{} format {path}", formatter.name());
        processes.push(process);
    }
    let results = run_all(goals, &processes, 8, &|_, _| {});
    let mut out = Vec::with_capacity(files.len());
    for ((id, result), original) in files.iter().zip(results).zip(before) {
        let path = project.path(*id).to_owned();
        let result = result?;
        let cached = result.source == ResultSource::Cache;
        let after = match tree::entries(&goals.store, &result.output_root)?.get(&path) {
            Some(Node::File { digest, .. }) => Some(*digest),
            _ => None,
        };
        let (outcome, message) = match (result.exit_code, original, after) {
            (0, Some(before), Some(after)) if before == after => (FmtOutcome::Unchanged, String::new()),
            (0, Some(_), Some(_)) if check => (FmtOutcome::Changed, String::new()),
            (0, Some(before), Some(after)) => write_back(goals, &project.root.join(&path), &before, &after)?,
            (code, ..) => {
                let stderr = goals.text(&result.stderr)?;
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
                (FmtOutcome::Failed, format!("{} exited with {code}: {last}", formatter.name()))
            }
        };
        out.push(FormattedFile { file: path, outcome, cached, message });
    }
    Ok(out)
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
