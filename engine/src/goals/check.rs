//! `check`: a type checker over the selected files and their dependency closure in one cached process — mypy (its incremental cache in a named append-only cache: without it every run is cold) or pyright — with findings parsed from its output.

use super::{GoalError, Goals, config_files, run_all};
use crate::exec::{CacheScope, Process, ResultSource};
use crate::graph::FileId;
use crate::project::Project;

/// The type checkers Pleat runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checker {
    Mypy,
    Pyright,
}

impl Checker {
    pub fn name(self) -> &'static str {
        match self {
            Self::Mypy => "mypy",
            Self::Pyright => "pyright",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mypy" => Some(Self::Mypy),
            "pyright" => Some(Self::Pyright),
            _ => None,
        }
    }
}

/// One problem the checker reported. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFinding {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// `error` or `note`.
    pub severity: String,
    pub code: String,
    pub message: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub files: usize,
    pub cached: bool,
    pub findings: Vec<CheckFinding>,
}

/// Type-checks files.
pub fn check(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    checker: Checker,
    progress: &mut dyn FnMut(&str),
) -> Result<CheckReport, GoalError> {
    let mut spec = goals.spec(checker.name())?;
    spec.project = super::test::project_resolution(goals, project, progress)?;
    let env = goals.tools.ensure(&spec, progress)?;
    let mut inputs: Vec<String> =
        project.dependencies(files, true).into_iter().map(|d| project.path(d).to_owned()).collect();
    let targets: Vec<String> = files.iter().map(|id| project.path(*id).to_owned()).collect();
    inputs.extend(targets.iter().cloned());
    inputs.extend(config_files(project));
    if project.root.join("pyrightconfig.json").is_file() {
        inputs.push("pyrightconfig.json".to_owned());
    }
    inputs.sort();
    inputs.dedup();
    let read = goals.read_files(&project.root, inputs.iter().cloned())?;
    let root = goals.tree_of(&read, &inputs)?;
    let mut argv = env.argv();
    let source_roots: Vec<String> = project
        .source_roots()
        .iter()
        .map(|r| if r.is_empty() { ".".to_owned() } else { r.clone() })
        .collect();
    match checker {
        Checker::Mypy => argv.extend(
            [
                "--show-column-numbers",
                "--show-error-codes",
                "--no-error-summary",
                "--no-pretty",
                "--no-color-output",
                "--cache-dir=.mypy_cache",
            ]
            .map(String::from),
        ),
        Checker::Pyright => {
            argv.push("--outputjson".to_owned());
            argv.push("--pythonpath".to_owned());
            argv.push(env.python.to_string_lossy().into_owned());
        }
    }
    argv.extend(targets.iter().cloned());
    let mut process = Process::new(argv, root);
    process.env.insert("MYPYPATH".to_owned(), source_roots.join(":"));
    process.env.insert("PYTHONPATH".to_owned(), source_roots.join(":"));
    process.platform = goals.platform(&env);
    process.cache_scope = CacheScope::Always;
    if checker == Checker::Mypy {
        process.append_only_caches.insert("mypy".to_owned(), ".mypy_cache".to_owned());
    }
    process.description = format!("{} over {} files", checker.name(), targets.len());
    let result = run_all(goals, &[process], 1, &|_, _| {}).pop().ok_or_else(|| GoalError::Output {
        tool: checker.name().to_owned(),
        file: String::new(),
        reason: "no result".to_owned(),
    })??;
    let stdout = goals.text(&result.stdout)?;
    let findings = match checker {
        Checker::Mypy if result.exit_code <= 1 => parse_mypy(&stdout),
        Checker::Pyright if result.exit_code <= 1 => {
            parse_pyright(&stdout, &inputs).ok_or_else(|| GoalError::Output {
                tool: "pyright".to_owned(),
                file: targets.first().cloned().unwrap_or_default(),
                reason: format!(
                    "its JSON output did not parse: {}",
                    stdout.chars().take(200).collect::<String>()
                ),
            })?
        }
        _ => {
            let stderr = goals.text(&result.stderr)?;
            return Err(GoalError::Output {
                tool: checker.name().to_owned(),
                file: targets.first().cloned().unwrap_or_default(),
                reason: format!("exit code {}: {}{}", result.exit_code, stdout.trim(), stderr.trim()),
            });
        }
    };
    Ok(CheckReport { files: targets.len(), cached: result.source == ResultSource::Cache, findings })
}

/// `pyright --outputjson`: paths are absolute inside the sandbox; they are matched back to
/// the repository-relative inputs.
pub fn parse_pyright(stdout: &str, inputs: &[String]) -> Option<Vec<CheckFinding>> {
    let value: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let diagnostics = value.get("generalDiagnostics")?.as_array()?;
    Some(
        diagnostics
            .iter()
            .filter_map(|d| {
                let file = d.get("file")?.as_str()?;
                let file = inputs
                    .iter()
                    .find(|input| file == input.as_str() || file.ends_with(&format!("/{input}")))
                    .cloned()
                    .unwrap_or_else(|| file.to_owned());
                let start = d.get("range")?.get("start")?;
                let number = |v: Option<&serde_json::Value>| {
                    v.and_then(serde_json::Value::as_u64).map(|n| n as u32 + 1)
                };
                Some(CheckFinding {
                    file,
                    line: number(start.get("line"))?,
                    column: number(start.get("character"))?,
                    severity: d.get("severity")?.as_str()?.to_owned(),
                    code: d.get("rule").and_then(serde_json::Value::as_str).unwrap_or("").to_owned(),
                    message: d.get("message")?.as_str()?.lines().next().unwrap_or("").to_owned(),
                })
            })
            .collect(),
    )
}

/// `file:line:col: severity: message  [code]` lines.
pub fn parse_mypy(stdout: &str) -> Vec<CheckFinding> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(5, ':');
            let file = parts.next()?.trim().to_owned();
            let line_no: u32 = parts.next()?.trim().parse().ok()?;
            let column: u32 = parts.next()?.trim().parse().ok()?;
            let severity = parts.next()?.trim().to_owned();
            let rest = parts.next()?.trim();
            let (message, code) = match rest.rfind("  [") {
                Some(at) if rest.ends_with(']') => {
                    (rest[..at].trim(), rest[at + 3..rest.len() - 1].to_owned())
                }
                _ => (rest, String::new()),
            };
            Some(CheckFinding { file, line: line_no, column, severity, code, message: message.to_owned() })
        })
        .collect()
}

#[cfg(test)]
mod tests;
