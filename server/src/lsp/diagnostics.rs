//! One file's diagnostics, composed from what is known of it now: import findings from the buffer, and lint, type-check and test results that were computed for its current content.

use engine::goals::check::CheckFinding;
use engine::goals::lint::LintFinding;
use engine::goals::test::{FileOutcome, Outcome as TestOutcome};
use serde_json::json;
use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Range,
};

use super::results::Results;
use super::state::State;
use super::to_proto;

/// Everything to show for `path` of workspace `index` (whose current text is `text`).
pub fn for_file(state: &State, index: usize, path: &str, text: &str) -> Vec<Diagnostic> {
    let ws = &state.workspaces[index];
    let project = &ws.project;
    let mut out = Vec::new();
    let Some(id) = project.id(path) else { return out };
    if let Some(deps) = project.deps(id) {
        out.extend(deps.findings.iter().map(|f| to_proto::diagnostic(f, text)));
    }
    out.extend(cycle_hints(project, id, text));
    if let Some(record) = ws.results.lint.get(path)
        && Results::current(project, path, Some(&record.digest))
    {
        out.extend(record.findings.iter().map(|f| lint(f, text)));
    }
    if let Some(record) = ws.results.checks.get(path)
        && Results::current(project, path, Some(&record.digest))
    {
        out.extend(record.findings.iter().map(|(tool, f)| check(tool, f, text)));
    }
    for (test_file, record) in &ws.results.tests {
        if !Results::current(project, path, record.seen.get(path)) {
            continue;
        }
        let result = &record.result;
        if test_file == path && matches!(result.outcome, FileOutcome::Error | FileOutcome::TimedOut) {
            out.push(file_problem(result, text));
        }
        for case in
            result.tests.iter().filter(|c| matches!(c.outcome, TestOutcome::Failed | TestOutcome::Error))
        {
            let short = case.name.split("::").skip(1).collect::<Vec<_>>().join("::");
            let message =
                case.message.clone().unwrap_or_else(|| format!("{} {}", short, case.outcome.as_str()));
            let at = |l: &engine::goals::test::Location| {
                let range = to_proto::line_range(&state.text(index, &l.file), l.line);
                state.uri_of(index, &l.file).map(|uri| Location { uri, range })
            };
            if let Some(location) = case.location.as_ref().filter(|l| l.file == path) {
                let related = case.source_location.as_ref().and_then(at).map(|location| {
                    vec![DiagnosticRelatedInformation { location, message: "raised here".to_owned() }]
                });
                out.push(Diagnostic {
                    range: to_proto::line_range(text, location.line),
                    severity: Some(DiagnosticSeverity::ERROR),
                    source: Some("pytest".to_owned()),
                    code: Some(NumberOrString::String(case.outcome.as_str().to_owned())),
                    message: format!("{short} {}: {message}", case.outcome.as_str()),
                    related_information: related,
                    data: Some(json!({ "test": case.name })),
                    ..Diagnostic::default()
                });
            }
            if let Some(source) = case.source_location.as_ref().filter(|l| l.file == path) {
                let related = case.location.as_ref().and_then(at).map(|location| {
                    vec![DiagnosticRelatedInformation {
                        location,
                        message: format!("{} fails here", case.name),
                    }]
                });
                out.push(Diagnostic {
                    range: to_proto::line_range(text, source.line),
                    severity: Some(DiagnosticSeverity::ERROR),
                    source: Some("pytest".to_owned()),
                    code: Some(NumberOrString::String("test-failure".to_owned())),
                    message: format!("{message} (raised here; {} fails)", case.name),
                    related_information: related,
                    data: Some(json!({ "test": case.name })),
                    ..Diagnostic::default()
                });
            }
        }
    }
    out
}

/// A hint on each import that closes a cycle through this file, with the chain back.
fn cycle_hints(project: &engine::project::Project, id: engine::graph::FileId, text: &str) -> Vec<Diagnostic> {
    let importers: std::collections::HashSet<_> = project.dependents(&[id], true).into_iter().collect();
    let mut lines = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for edge in project.graph().edges(id) {
        if edge.kind != engine::graph::EdgeKind::Import || edge.to == id || !importers.contains(&edge.to) {
            continue;
        }
        let Some(back) = project.graph().path(edge.to, id) else { continue };
        if !lines.insert(edge.line) {
            continue;
        }
        let mut chain = vec![project.path(id), project.path(edge.to)];
        chain.extend(back.iter().map(|(_, hop)| project.path(hop.to)));
        out.push(Diagnostic {
            range: to_proto::line_range(text, edge.line + 1),
            severity: Some(DiagnosticSeverity::HINT),
            source: Some("pleat".to_owned()),
            code: Some(NumberOrString::String("import-cycle".to_owned())),
            message: format!("import cycle: {}", chain.join(" → ")),
            ..Diagnostic::default()
        });
    }
    out
}

fn lint(finding: &LintFinding, text: &str) -> Diagnostic {
    let range = Range {
        start: to_proto::char_position(text, finding.line, finding.column),
        end: to_proto::char_position(text, finding.end_line.max(finding.line), finding.end_column),
    };
    Diagnostic {
        range,
        severity: Some(DiagnosticSeverity::WARNING),
        code: Some(NumberOrString::String(finding.code.clone())),
        source: Some(finding.tool.to_owned()),
        message: finding.message.clone(),
        data: to_proto::fix_data(finding, text),
        ..Diagnostic::default()
    }
}

fn check(tool: &str, finding: &CheckFinding, text: &str) -> Diagnostic {
    let start = to_proto::char_position(text, finding.line, finding.column.max(1));
    let severity = match finding.severity.as_str() {
        "error" => DiagnosticSeverity::ERROR,
        "note" | "information" => DiagnosticSeverity::INFORMATION,
        _ => DiagnosticSeverity::WARNING,
    };
    let mut range = to_proto::line_range(text, finding.line);
    range.start = start.max(range.start);
    Diagnostic {
        range,
        severity: Some(severity),
        code: (!finding.code.is_empty()).then(|| NumberOrString::String(finding.code.clone())),
        source: Some(tool.to_owned()),
        message: std::iter::once(&finding.message)
            .chain(&finding.notes)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        ..Diagnostic::default()
    }
}

/// A test file that could not run (collection error, timeout): one error on its first line.
fn file_problem(result: &engine::goals::test::TestFileResult, text: &str) -> Diagnostic {
    let detail = result
        .output
        .lines()
        .rev()
        .find(|l| l.starts_with("E ") || l.contains("Error"))
        .or_else(|| result.output.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .trim_start_matches("E ")
        .trim();
    let message = match result.outcome {
        FileOutcome::TimedOut => {
            format!(
                "the tests timed out after {:.0} s; raise pleat.test.timeout or fix the hang",
                result.duration_s
            )
        }
        _ => format!("pytest could not run this file: {detail}"),
    };
    Diagnostic {
        range: to_proto::line_range(text, 1),
        severity: Some(DiagnosticSeverity::ERROR),
        source: Some("pytest".to_owned()),
        code: Some(NumberOrString::String(result.outcome.as_str().to_owned())),
        message,
        ..Diagnostic::default()
    }
}
