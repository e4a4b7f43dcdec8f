//! `check`: a type checker over the selected files and their dependency closure in one cached process — mypy (its incremental cache in a named append-only cache: without it every run is cold; its configuration file found as mypy finds it) or pyright — with findings, attached notes and configuration warnings parsed from its output; a failure without a finding is an error, never a clean result.

mod mypy_config;

use super::{GoalError, Goals, config_files, run_all};
use crate::exec::{CacheScope, Process};
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

pub use mypy_config::{ConfiguredTargets, MypyConfig, configured_targets};

/// One problem the checker reported. Lines and columns are 1-based; 0 where the checker
/// names none (mypy: no line for a module-level error such as "Duplicate module", no
/// column for an unused `type: ignore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFinding {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// `error` or `note` (pyright: `error`, `warning`, `information`).
    pub severity: String,
    pub code: String,
    pub message: String,
    /// The notes the checker gave at the same place right after this finding, in order
    /// (mypy: "See https://…", "Possible overload variants: …"), as mypy's JSON output groups them.
    pub notes: Vec<String>,
}

impl CheckFinding {
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub files: usize,
    pub cached: bool,
    /// Where each of the checker's runs (one per resolve) came from.
    pub sources: Vec<crate::exec::ResultSource>,
    pub findings: Vec<CheckFinding>,
    /// What the checker printed on stderr while it still reported its findings: mypy's
    /// warnings about its configuration ("python_version: Python 3.8 is not supported"), one
    /// line each.
    pub warnings: Vec<String>,
}

/// How to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    pub checker: Checker,
    /// Run even when a cached result exists, and do not cache this run.
    pub force: bool,
}

/// Type-checks files: one checker process per resolve the files use
/// ([`crate::resolves`]), each in that resolve's environment, their findings in one report.
/// For mypy, a `.py` selected with the `.pyi` beside it is passed once, as the stub (mypy
/// itself takes the stub when it finds both in a folder, and stops with "Duplicate module"
/// when given both).
pub fn check(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    options: &CheckOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<CheckReport, GoalError> {
    let checker = options.checker;
    let mut groups = crate::resolves::Resolves::new(&project.config)?.group(project, files)?;
    if groups.is_empty() {
        // Nothing selected: the checker says so itself, as it always has.
        groups.push((crate::resolves::DEFAULT.to_owned(), Vec::new()));
    }
    let mut runs = Vec::with_capacity(groups.len());
    for (resolve, ids) in &groups {
        let mut spec = goals.spec(checker.name())?;
        spec.project = super::test::project_resolution(goals, project, resolve, progress)?;
        let env = goals.tools.ensure(&spec, progress)?;
        runs.push(process(goals, project, ids, *options, &env)?);
    }
    let processes: Vec<Process> = runs.iter().map(|(process, _, _)| process.clone()).collect();
    let results = run_all(goals, &processes, processes.len(), &|_, _| {});
    let mut report = CheckReport {
        files: 0,
        cached: true,
        sources: Vec::new(),
        findings: Vec::new(),
        warnings: Vec::new(),
    };
    for ((_, inputs, targets), result) in runs.iter().zip(results) {
        let one = interpret(goals, checker, inputs, *targets, &result?)?;
        report.files += one.files;
        report.cached &= one.cached;
        report.sources.extend(one.sources);
        report.findings.extend(one.findings);
        report.warnings.extend(one.warnings);
    }
    Ok(report)
}

/// The checker process over some files of one resolve, with its inputs (for naming the
/// files in its output) and its number of targets.
fn process(
    goals: &Goals,
    project: &Project,
    files: &[FileId],
    options: CheckOptions,
    env: &crate::tools::ToolEnv,
) -> Result<(Process, Vec<String>, usize), GoalError> {
    let checker = options.checker;
    let mut inputs: Vec<String> =
        project.dependencies(files, true).into_iter().map(|d| project.path(d).to_owned()).collect();
    let mut targets: Vec<String> = files.iter().map(|id| project.path(*id).to_owned()).collect();
    inputs.extend(targets.iter().cloned());
    inputs.extend(config_files(project));
    let mut argv = env.argv();
    match checker {
        Checker::Mypy => {
            targets = stubs_over_sources(targets);
            let config = MypyConfig::find(&project.root);
            inputs.extend(config.file.iter().cloned());
            inputs.extend(config.plugin_inputs(project));
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
            // Named, so that mypy does not look for one above the sandbox (it walks up to
            // a `.git`, which a sandbox lacks); empty turns configuration files off.
            argv.push(format!("--config-file={}", config.file.as_deref().unwrap_or("")));
        }
        Checker::Pyright => {
            if project.root.join("pyrightconfig.json").is_file() {
                inputs.push("pyrightconfig.json".to_owned());
            }
            argv.push("--outputjson".to_owned());
            argv.push("--pythonpath".to_owned());
            argv.push(env.python.to_string_lossy().into_owned());
        }
    }
    let inits = super::resources::Resources::new(project).package_inits(&inputs);
    inputs.extend(inits);
    inputs.sort();
    inputs.dedup();
    let mut read = goals.read_files(&project.root, inputs.iter().cloned())?;
    // The version module a setuptools-scm / hatch-vcs install writes, as in the test goal.
    if let Some((path, text)) = super::dist_info::version_file(&project.root, |p| project.id(p).is_some()) {
        let digest = goals.store.put(text.as_bytes())?;
        read.insert(path.clone(), crate::tree::Node::File { digest, executable: false });
        inputs.push(path);
    }
    let root = goals.tree_of(&read, &inputs)?;
    let source_roots: Vec<String> = project
        .source_roots()
        .iter()
        .map(|r| if r.is_empty() { ".".to_owned() } else { r.clone() })
        .collect();
    argv.extend(targets.iter().cloned());
    let mut process = Process::new(argv, root);
    process.env.insert("MYPYPATH".to_owned(), source_roots.join(":"));
    process.env.insert("PYTHONPATH".to_owned(), source_roots.join(":"));
    goals.runs_from(&mut process, env);
    process.cache_scope = if options.force { CacheScope::Never } else { CacheScope::Always };
    if checker == Checker::Mypy {
        process.append_only_caches.insert(mypy_cache_name(&project.root, env), ".mypy_cache".to_owned());
    }
    process.description = format!("{} over {} files", checker.name(), targets.len());
    Ok((process, inputs, targets.len()))
}

/// One checker process's result as a report.
fn interpret(
    goals: &Goals,
    checker: Checker,
    inputs: &[String],
    targets: usize,
    result: &crate::exec::ProcessResult,
) -> Result<CheckReport, GoalError> {
    let stdout = goals.text(&result.stdout)?;
    let stderr = goals.text(&result.stderr)?;
    let findings = match checker {
        Checker::Mypy => Some(parse_mypy(&stdout, inputs)),
        Checker::Pyright => parse_pyright(&stdout, inputs),
    };
    // A checker that fails must say why in findings: any other failure (a crash, a bad
    // option, a configuration it cannot read, output Pleat cannot parse) is an error.
    let findings = match findings {
        Some(findings) if result.exit_code == 0 || findings.iter().any(CheckFinding::is_error) => findings,
        _ => {
            return Err(GoalError::Failed {
                tool: checker.name().to_owned(),
                exit_code: result.exit_code,
                output: tail([stdout.trim(), stderr.trim()].join("\n").trim(), 40),
            });
        }
    };
    let warnings =
        stderr.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
    Ok(CheckReport {
        files: targets,
        cached: result.source.is_cached(),
        sources: vec![result.source],
        findings,
        warnings,
    })
}

/// The last `lines` lines of a text.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Drops each `x.py` whose `x.pyi` is a target too.
fn stubs_over_sources(targets: Vec<String>) -> Vec<String> {
    let stubs: std::collections::HashSet<String> =
        targets.iter().filter(|t| t.ends_with(".pyi")).cloned().collect();
    targets.into_iter().filter(|t| !(t.ends_with(".py") && stubs.contains(&format!("{t}i")))).collect()
}

/// A path as the checker printed it (relative to the sandbox root, or absolute inside it)
/// as the repository-relative input it names.
fn input_path(file: &str, inputs: &[String]) -> String {
    let names = |input: &String| file.strip_suffix(input.as_str()).is_some_and(|head| head.ends_with('/'));
    if file.starts_with('/')
        && let Some(input) = inputs.iter().find(|input| names(input))
    {
        return input.clone();
    }
    file.to_owned()
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
                let file = input_path(d.get("file")?.as_str()?, inputs);
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
                    notes: Vec::new(),
                })
            })
            .collect(),
    )
}

/// mypy's text output (`--show-column-numbers --show-error-codes --no-pretty`): lines
/// `file[:line[:column]]: severity: message  [code]`, where mypy leaves out the line of a
/// module-level error and the column it does not know. A note at the place of an earlier
/// error is attached to it (the grouping of mypy's JSON output); other notes stand alone
/// (`reveal_type`). Lines of any other shape are not findings.
pub fn parse_mypy(stdout: &str, inputs: &[String]) -> Vec<CheckFinding> {
    let mut findings: Vec<CheckFinding> = Vec::new();
    let mut errors_at: std::collections::HashMap<(String, u32, u32), usize> =
        std::collections::HashMap::new();
    for line in stdout.lines() {
        let Some(mut finding) = mypy_line(line) else { continue };
        finding.file = input_path(&finding.file, inputs);
        let place = (finding.file.clone(), finding.line, finding.column);
        if finding.severity == "note"
            && let Some(&at) = errors_at.get(&place)
        {
            findings[at].notes.push(finding.message);
            continue;
        }
        if finding.is_error() {
            errors_at.insert(place, findings.len());
        }
        findings.push(finding);
    }
    findings
}

/// One line of mypy's output as a finding.
fn mypy_line(line: &str) -> Option<CheckFinding> {
    let (at, severity) = ["error", "note", "warning"]
        .into_iter()
        .filter_map(|severity| line.find(&format!(": {severity}: ")).map(|at| (at, severity)))
        .min()?;
    let mut place = &line[..at];
    let mut numbers = Vec::new();
    while numbers.len() < 2
        && let Some((head, last)) = place.rsplit_once(':')
        && let Ok(number) = last.parse::<u32>()
    {
        numbers.insert(0, number);
        place = head;
    }
    if place.is_empty() || place.starts_with(char::is_whitespace) {
        return None;
    }
    // The indentation of a note is kept: mypy lists overload variants that way.
    let rest = line[at + severity.len() + 4..].trim_end();
    let (message, code) = match rest.rfind("  [") {
        Some(at) if rest.ends_with(']') => (rest[..at].trim_end(), rest[at + 3..rest.len() - 1].to_owned()),
        _ => (rest, String::new()),
    };
    Some(CheckFinding {
        file: place.to_owned(),
        line: numbers.first().copied().unwrap_or(0),
        column: numbers.get(1).copied().unwrap_or(0),
        severity: severity.to_owned(),
        code,
        message: message.to_owned(),
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests;

/// The named cache mypy keeps its incremental state in: one per repository and mypy
/// environment, so that two projects with a module of the same name never read each
/// other's entries (mypy trusts an entry whose path, size and time match).
fn mypy_cache_name(root: &std::path::Path, env: &crate::tools::ToolEnv) -> String {
    let mut id = root.as_os_str().as_encoded_bytes().to_vec();
    id.push(0);
    id.extend_from_slice(env.key.hex().as_bytes());
    let digest = crate::hash::Digest::of(env.key.function, &id);
    format!("mypy/{}", &digest.hex()[..16])
}
