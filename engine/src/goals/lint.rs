//! `lint`: one cached process per file (ruff by default, its sandbox holding what `ruff check .` reads for that file; flake8 and pylint selectable), tool output parsed into findings with file, range, code, message and whether a fix exists.

use std::collections::{BTreeMap, BTreeSet};

use ruff_inputs::{Inputs, RuffFiles};
use serde::Deserialize;

use super::fmt::{Rewrite, TextTransform, exited_with, rewrite_text};
use super::{GoalError, Goals, config_files, run_all};
use crate::exec::{CacheScope, ExecError, Process};
use crate::graph::FileId;
use crate::project::Project;
use crate::python::imports::parse_imports;
use crate::tree::{self, Node};

mod ruff_inputs;

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
    /// Where the result came from (`cached` says whether it came from a cache at all).
    pub source: crate::exec::ResultSource,
    pub findings: Vec<LintFinding>,
}

/// How to lint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintOptions {
    /// Run even when a cached result exists, and do not cache this run.
    pub force: bool,
    /// Results from the cache only: a file without one is left out, nothing runs (an
    /// editor showing the last results on start).
    pub cache_only: bool,
}

/// Lints files, one cached process each.
///
/// Ruff's process holds what `ruff check .` would read for the file (see `ruff_inputs`) and
/// runs with `--force-exclude`, so a file ruff's configuration excludes has no findings, and
/// with `--no-fix --no-fix-only`, so a configured `fix = true` cannot hide what it would fix.
pub fn lint(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    linter: Linter,
    options: &LintOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<LintedFile>, GoalError> {
    let tool = goals.tool(linter.name(), progress)?;
    let mut inputs = Vec::with_capacity(files.len());
    if linter == Linter::Ruff {
        let mut ruff = RuffFiles::new(&project.root);
        for id in files {
            let imports = project.file(*id).map_or(&[][..], |f| f.parsed.imports.as_slice());
            inputs.push(ruff.inputs(project.path(*id), imports)?);
        }
    } else {
        let configs = config_files(project);
        inputs.resize(files.len(), Inputs { files: configs, placeholders: Vec::new() });
    }
    // Files share their folders' settings and `__init__.py`: each is looked at once.
    let wanted: BTreeSet<String> = inputs
        .iter()
        .flat_map(|i| i.files.iter().cloned())
        .chain(files.iter().map(|id| project.path(*id).to_owned()))
        .collect();
    let read = goals.read_files(&project.root, wanted)?;
    // Every file's sandbox tree, stored in one commit.
    let mut listings = Vec::with_capacity(files.len());
    for (id, inputs) in files.iter().zip(&inputs) {
        let path = project.path(*id);
        let mut entries = sandbox_entries(goals, &read, inputs)?;
        if let Some(node) = read.get(path) {
            entries.insert(path.to_owned(), node.clone());
        }
        listings.push(entries);
    }
    let roots = tree::from_listings(&goals.store, &listings)?;
    let mut processes = Vec::with_capacity(files.len());
    for (id, root) in files.iter().zip(roots) {
        let path = project.path(*id).to_owned();
        // Ruff never imports the project: isolated, a sandbox's `ruff.py` or `sysconfig.py`
        // cannot stand in for ruff's own modules. Pylint resolves imports through `sys.path`.
        let mut argv = if linter == Linter::Ruff { tool.isolated_argv() } else { tool.argv() };
        let flags: &[&str] = match linter {
            Linter::Ruff => &[
                "check",
                "--output-format=json",
                "--no-cache",
                "--exit-zero",
                "--no-fix",
                "--no-fix-only",
                "--force-exclude",
            ],
            Linter::Flake8 => &["--exit-zero", "--format=%(path)s:%(row)d:%(col)d: %(code)s %(text)s"],
            Linter::Pylint => &["--output-format=json", "--exit-zero", "--score=n"],
        };
        argv.extend(flags.iter().map(|f| (*f).to_owned()));
        argv.push(path.clone());
        let mut process = Process::new(argv, root);
        goals.runs_from(&mut process, &tool);
        process.cache_scope = if options.force { CacheScope::Never } else { CacheScope::Successful };
        process.cache_only = options.cache_only;
        process.description = format!("{} {path}", linter.name());
        processes.push(process);
    }
    let results = run_all(goals, &processes, 8, &|_, _| {});
    let mut out = Vec::with_capacity(files.len());
    for (id, result) in files.iter().zip(results) {
        let path = project.path(*id).to_owned();
        let result = match result {
            Err(ExecError::NotCached { .. }) => continue,
            result => result?,
        };
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
        out.push(LintedFile {
            file: path,
            cached: result.source.is_cached(),
            source: result.source,
            findings,
        });
    }
    Ok(out)
}

/// A sandbox's files beside the linted one: those of `inputs.files` that were read, and
/// the placeholders as empty files.
fn sandbox_entries(
    goals: &Goals,
    read: &BTreeMap<String, Node>,
    inputs: &Inputs,
) -> Result<BTreeMap<String, Node>, GoalError> {
    let mut entries: BTreeMap<String, Node> = inputs
        .files
        .iter()
        .filter_map(|p| read.get_key_value(p))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !inputs.placeholders.is_empty() {
        let empty = Node::File { digest: goals.store.put(b"")?, executable: false };
        for path in &inputs.placeholders {
            entries.entry(path.clone()).or_insert_with(|| empty.clone());
        }
    }
    Ok(entries)
}

/// Applies ruff's safe fixes to an editor's unsaved `text` of the file at `path`
/// (repository-relative) until none is left (`ruff check --fix-only`), leaving the file on
/// disk alone. The sandbox holds what the lint of that file holds, so the fixes are those of
/// the findings `lint` reports. Cached like the lint: the same text is fixed once.
pub fn fix_text(
    goals: &Goals,
    project: &Project,
    path: &str,
    text: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<TextTransform, GoalError> {
    let tool = goals.tool(Linter::Ruff.name(), progress)?;
    let mut command = tool.isolated_argv();
    command
        .extend(["check", "--fix-only", "--exit-zero", "--no-cache", "--force-exclude"].map(str::to_owned));
    let imports = parse_imports(text.as_bytes(), Project::parse_options(&project.config)).imports;
    let inputs = RuffFiles::new(&project.root).inputs(path, &imports)?;
    let read = goals.read_files(&project.root, inputs.files.iter().cloned())?;
    let rewrite = Rewrite {
        tool: &tool,
        command,
        path,
        inputs: sandbox_entries(goals, &read, &inputs)?,
        description: format!("ruff fix {path}"),
    };
    rewrite_text(goals, project, rewrite, text)
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
