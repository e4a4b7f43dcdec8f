//! `check`: mypy over the selected files and their dependency closure in one cached process, with mypy's own incremental cache in a named append-only cache (without it every run is cold), findings parsed from its output.

use super::{GoalError, Goals, config_files, run_all};
use crate::exec::{CacheScope, Process, ResultSource};
use crate::graph::FileId;
use crate::project::Project;

/// One problem mypy reported. Lines and columns are 1-based.
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

/// Type-checks files with mypy.
pub fn check(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    progress: &mut dyn FnMut(&str),
) -> Result<CheckReport, GoalError> {
    let mut spec = goals.spec("mypy")?;
    spec.project_requirements = super::test::project_requirements(project);
    let env = goals.tools.ensure(&spec, progress)?;
    let mut inputs: Vec<String> =
        project.dependencies(files, true).into_iter().map(|d| project.path(d).to_owned()).collect();
    let targets: Vec<String> = files.iter().map(|id| project.path(*id).to_owned()).collect();
    inputs.extend(targets.iter().cloned());
    inputs.extend(config_files(project));
    inputs.sort();
    inputs.dedup();
    let root = goals.snapshot(&project.root, &inputs)?;
    let mut argv = env.argv();
    argv.extend(
        [
            "--show-column-numbers",
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            "--no-color-output",
            "--cache-dir=.mypy_cache",
        ]
        .map(String::from),
    );
    argv.extend(targets.iter().cloned());
    let mut process = Process::new(argv, root);
    let source_roots: Vec<String> = project
        .source_roots()
        .iter()
        .map(|r| if r.is_empty() { ".".to_owned() } else { r.clone() })
        .collect();
    process.env.insert("MYPYPATH".to_owned(), source_roots.join(":"));
    process.platform = goals.platform(&env);
    process.cache_scope = CacheScope::Always;
    process.append_only_caches.insert("mypy".to_owned(), ".mypy_cache".to_owned());
    process.description = format!("mypy over {} files", targets.len());
    let result = run_all(goals, &[process], 1, &|_, _| {}).pop().ok_or_else(|| GoalError::Output {
        tool: "mypy".to_owned(),
        file: String::new(),
        reason: "no result".to_owned(),
    })??;
    let stdout = goals.text(&result.stdout)?;
    if result.exit_code > 1 {
        let stderr = goals.text(&result.stderr)?;
        return Err(GoalError::Output {
            tool: "mypy".to_owned(),
            file: targets.first().cloned().unwrap_or_default(),
            reason: format!("exit code {}: {}{}", result.exit_code, stdout.trim(), stderr.trim()),
        });
    }
    Ok(CheckReport {
        files: targets.len(),
        cached: result.source == ResultSource::Cache,
        findings: parse_mypy(&stdout),
    })
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
