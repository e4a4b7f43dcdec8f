//! The graph goals: list, dependencies, dependents, paths, graph, check-imports, changed, cycles — engine queries in, human or JSON text out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::graph::{EdgeKind, FileId};
use engine::loader::{self, LoadOptions};
use engine::project::Project;
use engine::python::resolve::{Finding, FindingKind, Requirement};
use engine::specs::{SpecError, Specs};
use serde::Serialize;

use crate::output::Out;
use crate::{Cli, Command, DependentsMode, Failure, Format};

/// Runs one command; returns the exit code.
pub fn run(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Debug(command) => crate::debug::run(cli, command),
        Command::Lsp => crate::lsp::run(cache_dir(cli)),
        Command::Cache(command) => crate::cache::run(cli, command),
        Command::Test { specs, changed_since, order, force, timeout, extra_env, pytest_args } => {
            let project = load(cli)?;
            let not_run = project.not_run();
            let plugin_cases = project.plugin_cases();
            let mut others = plugin_cases.clone();
            others.extend(not_run.iter().filter(|n| project.id(&n.file).is_none()).map(|n| n.file.clone()));
            // A test file that cannot be read is a failure of that file, never silence.
            let unreadable: Vec<String> = project.unreadable_tests().iter().map(|u| u.path.clone()).collect();
            others.extend(unreadable.iter().cloned());
            let (mut ids, others) = select_with(&project, specs, &others)?;
            let unreadable: Vec<&engine::vfs::Unreadable> = if changed_since.is_some() {
                Vec::new()
            } else {
                project.unreadable_tests().into_iter().filter(|u| others.contains(&u.path)).collect()
            };
            let mut changed_files = Vec::new();
            if let Some(since) = changed_since {
                changed_files = git_changed(&project.root, since)?;
                let changed: Vec<FileId> = changed_files.iter().filter_map(|p| project.id(p)).collect();
                let affected = project.affected_tests(&changed);
                ids.retain(|id| affected.contains(id));
            }
            // Files pytest collects that Pleat does not run are reported, never dropped
            // (they have no place in the import graph, so --changed-since leaves them out).
            let (not_run, cases): (Vec<_>, Vec<_>) = if changed_since.is_some() {
                (Vec::new(), Vec::new())
            } else {
                // conftest.py doctests are in the graph; the others are not.
                let selected = |file: &String| {
                    others.contains(file) || project.id(file).is_some_and(|id| ids.contains(&id))
                };
                let not_run = not_run.into_iter().filter(|n| selected(&n.file)).collect();
                (not_run, others.into_iter().filter(|c| plugin_cases.contains(c)).collect())
            };
            let options = crate::run_goals::TestArgs {
                force: *force,
                timeout: *timeout,
                extra_env,
                pytest_args,
                not_run: &not_run,
                cases: &cases,
                unreadable: &unreadable,
                changed: if *order == crate::TestOrder::LikelyFirst { &changed_files } else { &[] },
            };
            crate::run_goals::test(cli, &project, &ids, &options)
        }
        Command::Check { specs, tool, force } => {
            let project = load(cli)?;
            crate::run_goals::check(cli, &project, specs, tool, *force)
        }
        Command::Fmt { specs, tool, check } => {
            let project = load(cli)?;
            crate::run_goals::fmt(cli, &project, &select(&project, specs)?, tool, *check)
        }
        Command::Lint { specs, tool, force } => {
            let project = load(cli)?;
            let options = engine::goals::lint::LintOptions { force: *force, ..Default::default() };
            crate::run_goals::lint(cli, &project, &select(&project, specs)?, tool, &options)
        }
        Command::Lock { check, resolve } => crate::lock::lock(cli, &load(cli)?, *check, resolve.as_deref()),
        graph_goal => {
            let project = load(cli)?;
            let mut out = Out::new();
            let code = run_graph_goal(cli, graph_goal, &project, &mut out)?;
            out.finish()?;
            Ok(code)
        }
    }
}

/// The goals that only query the graph.
fn run_graph_goal(cli: &Cli, command: &Command, project: &Project, out: &mut Out) -> Result<u8, Failure> {
    let format = cli.format;
    Ok(match command {
        Command::List { specs } => list(project, specs, format, out)?,
        Command::Dependencies { transitive, specs } => {
            related(project, specs, *transitive, Direction::Dependencies, format, out)?
        }
        Command::Dependents { transitive, specs } => {
            related(project, specs, *transitive, Direction::Dependents, format, out)?
        }
        Command::Paths { from, to } => paths(project, from, to, format, out)?,
        Command::Graph { specs } => graph(project, specs, format, out)?,
        Command::CheckImports { specs } => check_imports(project, specs, format, out)?,
        Command::Changed { since, dependents } => changed(project, since, *dependents, format, out)?,
        Command::Cycles { specs } => cycles(project, specs, format, out)?,
        // Dispatched by `run` before it gets here.
        Command::Debug(_)
        | Command::Lsp
        | Command::Cache(_)
        | Command::Test { .. }
        | Command::Check { .. }
        | Command::Fmt { .. }
        | Command::Lint { .. }
        | Command::Lock { .. } => 0,
    })
}

/// The root the command works on.
pub fn root(cli: &Cli) -> Result<PathBuf, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::usage(format!("cannot read the current folder ({e}); pass --root DIR")))?;
    match &cli.root {
        Some(root) => {
            let root = cwd.join(root);
            if root.is_dir() {
                Ok(root)
            } else {
                Err(Failure::usage(format!(
                    "--root {} is not a folder; pass an existing folder",
                    root.display()
                )))
            }
        }
        None => Ok(engine::config::find_root(&cwd)),
    }
}

/// The cache folder the command uses, if any.
pub fn cache_dir(cli: &Cli) -> Option<PathBuf> {
    if cli.no_cache {
        return None;
    }
    // Absolute: tool builds and sandboxed processes run in other folders, where a relative
    // cache folder names nothing (`--cache-dir cache` broke the first environment build).
    cli.cache_dir
        .clone()
        .or_else(loader::default_cache_dir)
        .map(|dir| std::path::absolute(&dir).unwrap_or(dir))
}

/// Loads the project, printing cache warnings (and with --verbose, what loading did).
pub fn load(cli: &Cli) -> Result<Project, Failure> {
    let root = root(cli)?;
    let started = std::time::Instant::now();
    let (project, report) = loader::load(&root, &LoadOptions { cache_dir: cache_dir(cli) })
        .map_err(|e| Failure::usage(e.to_string()))?;
    for warning in &report.warnings {
        crate::output::say(format_args!("warning: {warning}"));
    }
    if cli.verbose {
        crate::output::say(format_args!(
            "{} files under {} ({} read, {} parsed) in {:.1} ms",
            report.files,
            project.root.display(),
            report.read,
            report.parsed,
            started.elapsed().as_secs_f64() * 1000.0
        ));
        let phases: Vec<String> = report
            .phases
            .iter()
            .map(|(name, d)| format!("{name} {:.1} ms", d.as_secs_f64() * 1000.0))
            .collect();
        crate::output::say(format_args!("phases: {}", phases.join(", ")));
    }
    Ok(project)
}

/// The files selected by specs (paths given absolute are made root-relative).
pub fn select(project: &Project, specs: &[String]) -> Result<Vec<FileId>, Failure> {
    Ok(select_with(project, specs, &[])?.0)
}

/// The graph files and the `others` (paths of non-Python files) selected by specs; a spec
/// that names only one of the `others` matches something.
fn select_with(
    project: &Project,
    specs: &[String],
    others: &[String],
) -> Result<(Vec<FileId>, Vec<String>), Failure> {
    let specs: Vec<String> = specs.iter().map(|s| relative_spec(&project.root, s)).collect();
    let parsed = Specs::parse(&specs).map_err(|e| Failure::usage(e.to_string()))?;
    let mut paths: Vec<&str> =
        project.files().map(|(_, f)| f.path.as_str()).chain(others.iter().map(String::as_str)).collect();
    paths.sort_unstable();
    let selected = parsed.select(paths.iter().copied()).map_err(|e| match &e {
        // Naming a file Pleat could not read: say so, not "matches no Python file".
        SpecError::NoMatch(text) => match project.unreadable().iter().find(|u| is_at_or_under(text, &u.path))
        {
            Some(unreadable) => Failure::usage(format!("`{text}`: {unreadable}")),
            None => Failure::usage(e.to_string()),
        },
        _ => Failure::usage(e.to_string()),
    })?;
    let (ids, others): (Vec<&str>, Vec<&str>) = selected.into_iter().partition(|p| project.id(p).is_some());
    Ok((
        ids.into_iter().filter_map(|p| project.id(p)).collect(),
        others.into_iter().map(str::to_owned).collect(),
    ))
}

/// `path` is `dir` itself or lies under it.
fn is_at_or_under(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

fn relative_spec(root: &Path, spec: &str) -> String {
    let (sign, body) = match spec.strip_prefix('-').or_else(|| spec.strip_prefix('!')) {
        Some(rest) => ("-", rest),
        None => ("", spec),
    };
    match Path::new(body).strip_prefix(root) {
        Ok(rel) if Path::new(body).is_absolute() => format!("{sign}{}", rel.to_string_lossy()),
        _ => spec.to_owned(),
    }
}

fn paths_of(project: &Project, ids: &[FileId]) -> Vec<String> {
    ids.iter().map(|id| project.path(*id).to_owned()).collect()
}

#[derive(Serialize)]
struct Target<'a> {
    path: &'a str,
    kind: &'static str,
    module: Option<&'a str>,
}

fn list(project: &Project, specs: &[String], format: Format, out: &mut Out) -> Result<u8, Failure> {
    let ids = select(project, specs)?;
    let targets: Vec<Target<'_>> = ids
        .iter()
        .filter_map(|id| {
            project.file(*id).map(|f| Target {
                path: &f.path,
                kind: f.kind.as_str(),
                module: project.module(*id),
            })
        })
        .collect();
    if format == Format::Json {
        out.json(&targets)?;
    } else {
        let width = targets.iter().map(|t| t.path.len()).max().unwrap_or(0);
        for t in &targets {
            out.line(format_args!("{:width$}  {}", t.path, t.kind))?;
        }
    }
    Ok(0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Dependencies,
    Dependents,
}

#[derive(Serialize)]
struct Related {
    files: Vec<String>,
    third_party: Vec<ThirdParty>,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct ThirdParty {
    name: String,
    declared_in: String,
}

fn related(
    project: &Project,
    specs: &[String],
    transitive: bool,
    direction: Direction,
    format: Format,
    out: &mut Out,
) -> Result<u8, Failure> {
    let ids = select(project, specs)?;
    let found = match direction {
        Direction::Dependencies => project.dependencies(&ids, transitive),
        Direction::Dependents => project.dependents(&ids, transitive),
    };
    let mut third_party: Vec<ThirdParty> = Vec::new();
    if direction == Direction::Dependencies {
        for id in ids.iter().chain(if transitive { found.iter() } else { [].iter() }) {
            if let Some(deps) = project.deps(*id) {
                third_party.extend(deps.third_party.iter().map(third_party_of));
            }
        }
        third_party.sort();
        third_party.dedup();
    }
    let files = paths_of(project, &found);
    if format == Format::Json {
        out.json(&Related { files, third_party })?;
    } else {
        for file in &files {
            out.line(file)?;
        }
        for t in &third_party {
            out.line(format_args!("{} (third-party, {})", t.name, t.declared_in))?;
        }
    }
    Ok(0)
}

fn third_party_of(r: &Requirement) -> ThirdParty {
    ThirdParty { name: r.name.clone(), declared_in: r.declared_in.clone() }
}

#[derive(Serialize)]
struct Hop {
    file: String,
    line: u32,
    imports: String,
    via: &'static str,
}

fn edge_kind(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Import => "import",
        EdgeKind::Init => "package __init__",
        EdgeKind::Conftest => "conftest",
        EdgeKind::Explicit => "explicit dependency",
    }
}

fn one_file(project: &Project, spec: &str) -> Result<FileId, Failure> {
    let rel = relative_spec(&project.root, spec);
    let rel = rel.strip_prefix("./").unwrap_or(&rel);
    project.id(rel).ok_or_else(|| {
        Failure::usage(format!(
            "{rel} is not a Python file under {}; give a path relative to the root",
            project.root.display()
        ))
    })
}

fn paths(project: &Project, from: &str, to: &str, format: Format, out: &mut Out) -> Result<u8, Failure> {
    let (a, b) = (one_file(project, from)?, one_file(project, to)?);
    let Some(hops) = project.graph().path(a, b) else {
        if format == Format::Json {
            out.json(&serde_json::json!({"from": project.path(a), "to": project.path(b), "hops": null}))?;
        } else {
            out.line(format_args!(
                "{} does not depend on {}, directly or transitively",
                project.path(a),
                project.path(b)
            ))?;
        }
        return Ok(1);
    };
    let hops: Vec<Hop> = hops
        .iter()
        .map(|(file, edge)| Hop {
            file: project.path(*file).to_owned(),
            line: edge.line + 1,
            imports: project.path(edge.to).to_owned(),
            via: edge_kind(edge.kind),
        })
        .collect();
    if format == Format::Json {
        out.json(&serde_json::json!({"from": project.path(a), "to": project.path(b), "hops": hops}))?;
    } else {
        for hop in &hops {
            let via = if hop.via == "import" { String::new() } else { format!(" ({})", hop.via) };
            out.line(format_args!("{}:{} → {}{via}", hop.file, hop.line, hop.imports))?;
        }
    }
    Ok(0)
}

fn graph(project: &Project, specs: &[String], format: Format, out: &mut Out) -> Result<u8, Failure> {
    let ids = select(project, specs)?;
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in &ids {
        let mut deps: Vec<&str> = project.graph().edges(*id).iter().map(|e| project.path(e.to)).collect();
        deps.sort_unstable();
        map.insert(project.path(*id), deps);
    }
    match format {
        Format::Dot => {
            out.line("digraph pleat {")?;
            for (file, deps) in &map {
                out.line(format_args!("  {file:?};"))?;
                for dep in deps {
                    out.line(format_args!("  {file:?} -> {dep:?};"))?;
                }
            }
            out.line("}")?;
        }
        // The graph is data: JSON is the human format too, as with `ruff analyze graph`.
        Format::Json | Format::Human => out.json(&map)?,
    }
    Ok(0)
}

#[derive(Serialize)]
struct FindingOut<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    kind: &'static str,
    severity: &'static str,
    module: &'a str,
    message: &'a str,
}

fn finding_kind(kind: FindingKind) -> (&'static str, &'static str) {
    match kind {
        FindingKind::Unresolved => ("unresolved", "error"),
        FindingKind::Ambiguous => ("ambiguous", "error"),
        FindingKind::RelativeBeyondTop => ("relative-beyond-top", "error"),
        FindingKind::MissingExplicitDependency => ("missing-explicit-dependency", "error"),
        FindingKind::SyntaxError => ("syntax-error", "warning"),
    }
}

fn check_imports(project: &Project, specs: &[String], format: Format, out: &mut Out) -> Result<u8, Failure> {
    let ids = select(project, specs)?;
    let mut found: Vec<FindingOut<'_>> = Vec::new();
    for id in &ids {
        let Some(deps) = project.deps(*id) else { continue };
        if deps.findings.is_empty() {
            continue;
        }
        // Columns for people count characters (as ruff and editors do); the engine's are
        // UTF-8 bytes, so read the file once to convert.
        let text = std::fs::read(project.root.join(project.path(*id))).unwrap_or_default();
        let mut findings: Vec<FindingOut<'_>> =
            deps.findings.iter().map(|f| finding_out(project.path(*id), f, &text)).collect();
        findings.sort_by_key(|f| (f.line, f.column));
        found.extend(findings);
    }
    let errors = found.iter().filter(|f| f.severity == "error").count();
    if format == Format::Json {
        out.json(&serde_json::json!({"findings": found, "errors": errors, "files": ids.len()}))?;
    } else {
        for f in &found {
            out.line(format_args!("{}:{}:{}: {}: {}", f.file, f.line, f.column, f.severity, f.message))?;
        }
        let warnings = found.len() - errors;
        unresolved_summary(&found, out)?;
        if errors == 0 {
            out.line(format_args!("✓ {} files: every import resolves ({warnings} warnings)", ids.len()))?;
        } else {
            out.line(format_args!("✕ {} files: {errors} import problems, {warnings} warnings", ids.len()))?;
        }
    }
    Ok(u8::from(errors > 0))
}

/// The 1-based character column of a 0-based line and UTF-8 byte column; a byte-order
/// mark takes no column.
fn char_column(text: &[u8], line: u32, byte_column: u32) -> u32 {
    let Some(start) = text
        .split(|b| *b == b'\n')
        .scan(0usize, |offset, l| {
            let at = *offset;
            *offset += l.len() + 1;
            Some(at)
        })
        .nth(line as usize)
    else {
        return byte_column + 1;
    };
    let end = (start + byte_column as usize).min(text.len());
    let prefix = String::from_utf8_lossy(&text[start..end]);
    prefix.chars().filter(|c| *c != '\u{feff}').count() as u32 + 1
}

/// After many findings, which top-level names account for them: one missing requirement
/// can produce thousands of lines.
fn unresolved_summary(found: &[FindingOut<'_>], out: &mut Out) -> Result<(), Failure> {
    let mut by_top: BTreeMap<&str, (usize, std::collections::BTreeSet<&str>)> = BTreeMap::new();
    for f in found.iter().filter(|f| f.kind == "unresolved") {
        let top = f.module.split('.').next().unwrap_or(f.module);
        let entry = by_top.entry(top).or_default();
        entry.0 += 1;
        entry.1.insert(f.file);
    }
    if by_top.len() < 2 && by_top.values().all(|(n, _)| *n < 10) {
        return Ok(());
    }
    let mut rows: Vec<(&str, usize, usize)> =
        by_top.iter().map(|(top, (n, files))| (*top, *n, files.len())).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    out.line("unresolved imports by top-level name:")?;
    for (top, imports, files) in rows.iter().take(10) {
        out.line(format_args!("  {top}: {imports} imports in {files} files"))?;
    }
    if rows.len() > 10 {
        out.line(format_args!("  … and {} more names", rows.len() - 10))?;
    }
    Ok(())
}

fn finding_out<'a>(file: &'a str, finding: &'a Finding, text: &[u8]) -> FindingOut<'a> {
    let (kind, severity) = finding_kind(finding.kind);
    FindingOut {
        file,
        line: finding.range.start.line + 1,
        column: char_column(text, finding.range.start.line, finding.range.start.column),
        kind,
        severity,
        module: &finding.module,
        message: &finding.message,
    }
}

fn changed(
    project: &Project,
    since: &str,
    dependents: Option<DependentsMode>,
    format: Format,
    out: &mut Out,
) -> Result<u8, Failure> {
    let files = git_changed(&project.root, since)?;
    let changed: Vec<FileId> = files.iter().filter_map(|p| project.id(p)).collect();
    let mut all = changed.clone();
    match dependents {
        Some(DependentsMode::Direct) => all.extend(project.dependents(&changed, false)),
        Some(DependentsMode::Transitive) => all.extend(project.dependents(&changed, true)),
        None => {}
    }
    all.sort_by(|a, b| project.path(*a).cmp(project.path(*b)));
    all.dedup();
    let affected = project.affected_tests(&changed);
    if format == Format::Json {
        out.json(&serde_json::json!({
            "changed": paths_of(project, &changed),
            "files": paths_of(project, &all),
            "affected_tests": paths_of(project, &affected),
        }))?;
    } else {
        for id in &all {
            out.line(project.path(*id))?;
        }
    }
    Ok(0)
}

/// Repository-relative paths changed since `since` (committed, staged, unstaged and
/// untracked), through the git command line.
pub fn git_changed(root: &Path, since: &str) -> Result<Vec<String>, Failure> {
    let git = |args: &[&str]| -> Result<String, Failure> {
        let output =
            engine::children::output(std::process::Command::new("git").arg("-C").arg(root).args(args))
                .map_err(|e| {
                    Failure::usage(format!("cannot run git ({e}); `pleat changed` needs git on PATH"))
                })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
            return Err(Failure::usage(format!(
                "git {} failed in {}: {first}; check that `{since}` is a valid ref",
                args.join(" "),
                root.display(),
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let inside = engine::children::output(
        std::process::Command::new("git").arg("-C").arg(root).args(["rev-parse", "--is-inside-work-tree"]),
    )
    .map_err(|e| Failure::usage(format!("cannot run git ({e}); `pleat changed` needs git on PATH")))?;
    if !inside.status.success() {
        return Err(Failure::usage(format!(
            "{} is not in a git repository; `pleat changed` compares against git history",
            root.display()
        )));
    }
    // Run in the root, both commands print paths relative to it.
    let mut paths = Vec::new();
    let diff = git(&["diff", "--name-only", "--no-renames", "--relative", since, "--"])?;
    let untracked = git(&["ls-files", "--others", "--exclude-standard"])?;
    paths.extend(diff.lines().map(str::to_owned));
    paths.extend(untracked.lines().map(str::to_owned));
    paths.sort();
    paths.dedup();
    Ok(paths)
}

fn cycles(project: &Project, specs: &[String], format: Format, out: &mut Out) -> Result<u8, Failure> {
    let ids = select(project, specs)?;
    let cycles: Vec<Vec<String>> = project
        .cycles()
        .into_iter()
        .filter(|c| c.iter().any(|id| ids.contains(id)))
        .map(|c| {
            let mut paths = paths_of(project, &c);
            paths.sort();
            paths
        })
        .collect();
    if format == Format::Json {
        out.json(&cycles)?;
    } else {
        for cycle in &cycles {
            out.line(cycle.join(" ⇄ "))?;
        }
    }
    Ok(0)
}
