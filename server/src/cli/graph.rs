//! The graph goals: list, dependencies, dependents, paths, graph, check-imports, changed, cycles — engine queries in, human or JSON text out.

use std::collections::BTreeMap;

use clap::ValueEnum;
use engine::graph::{EdgeKind, FileId};
use engine::project::Project;
use engine::python::resolve::{Finding, FindingKind, Requirement};
use serde::Serialize;

use crate::output::{Failure, Format, Out};
use crate::setup::{git_changed, relative_spec, select};

/// `pleat changed --dependents`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DependentsMode {
    Direct,
    Transitive,
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

pub fn list(project: &Project, specs: &[String], format: Format, out: &mut Out) -> Result<u8, Failure> {
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

/// Which way `related` follows the edges.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
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

pub fn related(
    project: &Project,
    specs: &[String],
    transitive: bool,
    direction: Direction,
    format: Format,
    out: &mut Out,
) -> Result<u8, Failure> {
    let all = engine::distributions::distributions(project);
    let named: Vec<&engine::distributions::Distribution> = specs
        .iter()
        .filter_map(|spec| engine::distributions::named(&all, &relative_spec(&project.root, spec)))
        .collect();
    if !named.is_empty() {
        if named.len() != specs.len() {
            return Err(Failure::usage(
                "give either distributions (their folders or pyproject.toml files) or files, not both",
            ));
        }
        return related_distributions(project, &all, &named, transitive, direction, format, out);
    }
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

#[derive(Serialize)]
struct RelatedDistribution {
    name: String,
    folder: String,
    pyproject: String,
    /// The import that relates it: a file of the needing distribution, its line, the file
    /// it imports.
    file: String,
    line: u32,
    imports: String,
}

/// `pleat dependencies|dependents DIST…`: the first-party distributions the given ones need
/// (whose code their files import) or that need them, each with the import that shows it,
/// and for dependencies the third-party distributions their files import.
fn related_distributions(
    project: &Project,
    all: &[engine::distributions::Distribution],
    named: &[&engine::distributions::Distribution],
    transitive: bool,
    direction: Direction,
    format: Format,
    out: &mut Out,
) -> Result<u8, Failure> {
    let dependents = direction == Direction::Dependents;
    let mut found: BTreeMap<String, RelatedDistribution> = BTreeMap::new();
    for start in named {
        for link in engine::distributions::related(project, all, start, dependents, transitive) {
            let other = if dependents { &link.from } else { &link.to };
            if named.contains(&other) {
                continue;
            }
            found.entry(other.folder.clone()).or_insert_with(|| RelatedDistribution {
                name: other.name.clone(),
                folder: other.folder.clone(),
                pyproject: other.pyproject(),
                file: link.file.clone(),
                line: link.line,
                imports: link.imports.clone(),
            });
        }
    }
    let mut third_party: Vec<ThirdParty> = Vec::new();
    if !dependents {
        let mut owners: Vec<&str> = named.iter().map(|d| d.folder.as_str()).collect();
        if transitive {
            owners.extend(found.keys().map(String::as_str));
        }
        for (id, file) in project.files() {
            let owned = engine::distributions::owner(all, &file.path)
                .is_some_and(|d| owners.contains(&d.folder.as_str()));
            if let Some(deps) = project.deps(id).filter(|_| owned) {
                third_party.extend(deps.third_party.iter().map(third_party_of));
            }
        }
        third_party.sort();
        third_party.dedup();
    }
    let distributions: Vec<RelatedDistribution> = found.into_values().collect();
    if format == Format::Json {
        out.json(&serde_json::json!({ "distributions": distributions, "third_party": third_party }))?;
    } else {
        for d in &distributions {
            out.line(format_args!(
                "{} ({}): {}:{} imports {}",
                d.name, d.pyproject, d.file, d.line, d.imports
            ))?;
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

pub fn paths(project: &Project, from: &str, to: &str, format: Format, out: &mut Out) -> Result<u8, Failure> {
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

pub fn graph(project: &Project, specs: &[String], format: Format, out: &mut Out) -> Result<u8, Failure> {
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

pub fn check_imports(
    project: &Project,
    specs: &[String],
    format: Format,
    out: &mut Out,
) -> Result<u8, Failure> {
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

pub fn changed(
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

pub fn cycles(project: &Project, specs: &[String], format: Format, out: &mut Out) -> Result<u8, Failure> {
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
