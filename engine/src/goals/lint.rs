//! `lint`: one cached process per file (ruff by default; flake8 and pylint selectable), tool output parsed into findings with file, range, code, message and whether a fix exists.

use serde::Deserialize;

use super::fmt::{TextTransform, exited_with, rewrite_text};
use super::{GoalError, Goals, config_files, run_all};
use crate::exec::{CacheScope, Process, ResultSource};
use crate::graph::FileId;
use crate::project::Project;

/// The linters Pleat runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linter {
    Ruff,
    Flake8,
    Pylint,
}

impl Linter {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ruff => "ruff",
            Self::Flake8 => "flake8",
            Self::Pylint => "pylint",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ruff" => Some(Self::Ruff),
            "flake8" => Some(Self::Flake8),
            "pylint" => Some(Self::Pylint),
            _ => None,
        }
    }
}

/// One problem a linter found. Lines and columns are 1-based, columns in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub code: String,
    pub message: String,
    /// Whether the linter offers a fix (`fix` is `Some`).
    pub fix_available: bool,
    /// The fix ruff offers, with its edits; `None` from the other linters.
    pub fix: Option<LintFix>,
    pub tool: &'static str,
}

/// A fix a linter offers for a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFix {
    /// What the fix does ("Remove unused import: `os`"), when the linter says.
    pub message: Option<String>,
    /// Ruff's word for how safe the fix is: `safe` (applied by `--fix`), `unsafe` (only with
    /// `--unsafe-fixes`) or `display-only`; empty when the linter did not say.
    pub applicability: String,
    /// Replacements, none overlapping, in the file's coordinates before any is applied.
    pub edits: Vec<LintEdit>,
}

/// One replacement of a fix: the text from (`line`, `column`) up to, not including,
/// (`end_line`, `end_column`) becomes `content`. Lines and columns are 1-based; columns
/// count characters (Unicode scalar values), as ruff's JSON does: on the line
/// `s = "é😀"; import os` ruff 0.17.5 puts `import` at column 11, where UTF-8 bytes would
/// say 15 and UTF-16 units 12; an `é` written as `e` + U+0301 counts as two characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintEdit {
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub content: String,
}

/// One file's lint run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintedFile {
    pub file: String,
    pub cached: bool,
    pub findings: Vec<LintFinding>,
}

/// Lints files, one cached process each.
pub fn lint(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    linter: Linter,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<LintedFile>, GoalError> {
    let tool = goals.tool(linter.name(), progress)?;
    let configs = config_files(project);
    // Each process sees one file, so ruff's import sorting cannot see which packages are
    // first-party: tell it (a deterministic part of the key).
    let first_party = first_party_packages(project);
    let read = goals.read_files(
        &project.root,
        configs.iter().cloned().chain(files.iter().map(|id| project.path(*id).to_owned())),
    )?;
    let mut processes = Vec::with_capacity(files.len());
    for id in files {
        let path = project.path(*id).to_owned();
        let mut inputs = configs.clone();
        inputs.push(path.clone());
        let root = goals.tree_of(&read, &inputs)?;
        let mut argv = tool.argv();
        let flags: &[&str] = match linter {
            Linter::Ruff => &["check", "--output-format=json", "--no-cache", "--exit-zero"],
            Linter::Flake8 => &["--exit-zero", "--format=%(path)s:%(row)d:%(col)d: %(code)s %(text)s"],
            Linter::Pylint => &["--output-format=json", "--exit-zero", "--score=n"],
        };
        argv.extend(flags.iter().map(|f| (*f).to_owned()));
        if linter == Linter::Ruff {
            argv.extend(first_party_config(&first_party));
        }
        argv.push(path.clone());
        let mut process = Process::new(argv, root);
        process.platform = goals.platform(&tool);
        process.cache_scope = CacheScope::Successful;
        process.description = format!("{} {path}", linter.name());
        processes.push(process);
    }
    let results = run_all(goals, &processes, 8, &|_, _| {});
    let mut out = Vec::with_capacity(files.len());
    for (id, result) in files.iter().zip(results) {
        let path = project.path(*id).to_owned();
        let result = result?;
        let stdout = goals.text(&result.stdout)?;
        if result.exit_code != 0 {
            let reason = exited_with(goals, linter.name(), &result)?;
            return Err(GoalError::Output { tool: linter.name().to_owned(), file: path, reason });
        }
        let findings = match linter {
            Linter::Ruff => parse_ruff(&stdout, &path)?,
            Linter::Flake8 => parse_flake8(&stdout),
            Linter::Pylint => parse_pylint(&stdout, &path)?,
        };
        out.push(LintedFile { file: path, cached: result.source == ResultSource::Cache, findings });
    }
    Ok(out)
}

/// Applies ruff's safe fixes to an editor's unsaved `text` of the file at `path`
/// (repository-relative) until none is left (`ruff check --fix-only`), leaving the file on
/// disk alone. Cached like the lint: the same text is fixed once.
pub fn fix_text(
    goals: &Goals,
    project: &Project,
    path: &str,
    text: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<TextTransform, GoalError> {
    let tool = goals.tool(Linter::Ruff.name(), progress)?;
    let mut args: Vec<String> =
        ["check", "--fix-only", "--exit-zero", "--no-cache"].into_iter().map(str::to_owned).collect();
    args.extend(first_party_config(&first_party_packages(project)));
    rewrite_text(goals, project, &tool, args, path, text, format!("ruff fix {path}"))
}

/// Ruff's `--config` naming the first-party packages (nothing when there are none).
fn first_party_config(first_party: &[String]) -> Vec<String> {
    if first_party.is_empty() {
        return Vec::new();
    }
    let list: Vec<String> = first_party.iter().map(|p| format!("{p:?}")).collect();
    vec!["--config".to_owned(), format!("lint.isort.known-first-party = [{}]", list.join(", "))]
}

/// The top-level first-party package and module names, sorted.
fn first_party_packages(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = project
        .files()
        .filter_map(|(id, _)| project.module(id))
        .filter_map(|m| m.split('.').next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A linter's JSON that does not parse.
fn unreadable(tool: &str, file: &str, error: &serde_json::Error) -> GoalError {
    GoalError::Output { tool: tool.to_owned(), file: file.to_owned(), reason: error.to_string() }
}

#[derive(Deserialize)]
struct RuffLocation {
    row: u32,
    column: u32,
}

#[derive(Deserialize)]
struct RuffMessage {
    code: Option<String>,
    message: String,
    location: RuffLocation,
    end_location: RuffLocation,
    filename: String,
    fix: Option<RuffFix>,
}

#[derive(Deserialize)]
struct RuffFix {
    #[serde(default)]
    applicability: String,
    #[serde(default)]
    edits: Vec<RuffEdit>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct RuffEdit {
    content: String,
    location: RuffLocation,
    end_location: RuffLocation,
}

impl From<RuffFix> for LintFix {
    fn from(fix: RuffFix) -> Self {
        Self {
            message: fix.message,
            applicability: fix.applicability,
            edits: fix
                .edits
                .into_iter()
                .map(|e| LintEdit {
                    line: e.location.row,
                    column: e.location.column,
                    end_line: e.end_location.row,
                    end_column: e.end_location.column,
                    content: e.content,
                })
                .collect(),
        }
    }
}

/// `ruff check --output-format=json`; filenames are absolute inside the sandbox, so the
/// repository-relative path given is used instead.
pub fn parse_ruff(stdout: &str, file: &str) -> Result<Vec<LintFinding>, GoalError> {
    let messages: Vec<RuffMessage> =
        serde_json::from_str(stdout.trim()).map_err(|e| unreadable("ruff", file, &e))?;
    Ok(messages
        .into_iter()
        .map(|m| LintFinding {
            file: if m.filename.ends_with(file) { file.to_owned() } else { m.filename },
            line: m.location.row,
            column: m.location.column,
            end_line: m.end_location.row,
            end_column: m.end_location.column,
            code: m.code.unwrap_or_else(|| "syntax-error".to_owned()),
            message: m.message,
            fix_available: m.fix.is_some(),
            fix: m.fix.map(LintFix::from),
            tool: "ruff",
        })
        .collect())
}

/// `path:row:col: CODE text` lines.
pub fn parse_flake8(stdout: &str) -> Vec<LintFinding> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ':');
            let file = parts.next()?.trim_start_matches("./").to_owned();
            let line_no: u32 = parts.next()?.parse().ok()?;
            let column: u32 = parts.next()?.parse().ok()?;
            let (code, message) = parts.next()?.trim().split_once(' ')?;
            Some(LintFinding {
                file,
                line: line_no,
                column,
                end_line: line_no,
                end_column: column,
                code: code.to_owned(),
                message: message.to_owned(),
                fix_available: false,
                fix: None,
                tool: "flake8",
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct PylintMessage {
    line: u32,
    column: u32,
    #[serde(rename = "endLine")]
    end_line: Option<u32>,
    #[serde(rename = "endColumn")]
    end_column: Option<u32>,
    #[serde(rename = "message-id")]
    message_id: String,
    symbol: String,
    message: String,
}

/// `pylint --output-format=json` (columns are 0-based there).
pub fn parse_pylint(stdout: &str, file: &str) -> Result<Vec<LintFinding>, GoalError> {
    let text = stdout.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let messages: Vec<PylintMessage> =
        serde_json::from_str(text).map_err(|e| unreadable("pylint", file, &e))?;
    Ok(messages
        .into_iter()
        .map(|m| LintFinding {
            file: file.to_owned(),
            line: m.line,
            column: m.column + 1,
            end_line: m.end_line.unwrap_or(m.line),
            end_column: m.end_column.map_or(m.column + 1, |c| c + 1),
            code: m.message_id,
            message: format!("{} ({})", m.message, m.symbol),
            fix_available: false,
            fix: None,
            tool: "pylint",
        })
        .collect())
}

#[cfg(test)]
mod tests;
