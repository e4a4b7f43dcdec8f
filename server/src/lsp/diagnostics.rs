//! One file's diagnostics, composed from what is known of it now: import findings from the buffer, and lint, type-check and test results that were computed for its current content.

use engine::goals::check::CheckFinding;
use engine::goals::lint::LintFinding;
use engine::goals::test::{FileOutcome, Outcome as TestOutcome};
use serde_json::json;
use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, NumberOrString, Range,
};

use super::results::Results;
use super::settings::CycleHints;
use super::state::State;
use super::text::Text;
use super::to_proto;

/// Everything to show for `path` of workspace `index` (whose current text is `text`).
pub fn for_file(state: &State, index: usize, path: &str, text: &Text<'_>) -> Vec<Diagnostic> {
    let ws = &state.workspaces[index];
    let project = &ws.project;
    let mut out = Vec::new();
    let Some(id) = project.id(path) else { return out };
    if let Some(deps) = project.deps(id) {
        out.extend(deps.findings.iter().map(|f| to_proto::diagnostic(f, text)));
    }
    out.extend(cycle_hints(project, id, text, state.settings.import_cycles));
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
    // Where failing tests raised in this file: one mark per line, however many tests
    // went through it (ten tests through one loader line are one mark, not ten).
    let mut raised: std::collections::BTreeMap<u32, Vec<(&engine::goals::test::TestCase, String)>> =
        std::collections::BTreeMap::new();
    for (test_file, record) in &ws.results.tests {
        if !Results::current(project, path, record.seen.get(path)) {
            continue;
        }
        let result = &record.result;
        let own = test_file == path;
        if own && matches!(result.outcome, FileOutcome::Error | FileOutcome::TimedOut) {
            // A collection error sits on the test file's line that failed (the import), if
            // pytest's traceback went through it.
            let collection = result.tests.iter().find(|c| !c.name.contains("::"));
            let line =
                collection.and_then(|c| c.location.as_ref()).filter(|l| l.file == path).map(|l| l.line);
            let message = collection.and_then(|c| c.message.as_deref());
            out.push(file_problem(result, text, line.unwrap_or(1), message));
        }
        for case in
            result.tests.iter().filter(|c| matches!(c.outcome, TestOutcome::Failed | TestOutcome::Error))
        {
            let short = case.name.split("::").skip(1).collect::<Vec<_>>().join("::");
            let message =
                case.message.clone().unwrap_or_else(|| format!("{} {}", short, case.outcome.as_str()));
            // Where in this test file: the failing line, else (a fixture from a conftest
            // failed, or a fixture is missing) the test's own definition. A collection
            // error (no `::` in its id) is the file's problem above.
            let range = match case.location.as_ref().filter(|l| l.file == path) {
                _ if short.is_empty() => None,
                Some(location) => Some(text.line_range(location.line)),
                None if own => super::lenses::test_range(state, index, path, &short),
                None => None,
            };
            if let Some(range) = range {
                let related =
                    case.source_location.as_ref().and_then(|l| state.location(index, l)).map(|location| {
                        vec![DiagnosticRelatedInformation { location, message: "raised here".to_owned() }]
                    });
                out.push(Diagnostic {
                    range,
                    severity: Some(DiagnosticSeverity::ERROR),
                    source: Some("pytest".to_owned()),
                    code: Some(NumberOrString::String(case.outcome.as_str().to_owned())),
                    message: format!(
                        "{short} {}: {message}{}",
                        case.outcome.as_str(),
                        explanation(case, &message)
                    ),
                    related_information: related,
                    data: Some(json!({ "test": case.name })),
                    ..Diagnostic::default()
                });
            }
            if let Some(source) = case.source_location.as_ref().filter(|l| l.file == path) {
                raised.entry(source.line).or_default().push((case, message));
            }
        }
    }
    for (line, cases) in raised {
        out.push(raised_here(state, index, text, line, &cases));
    }
    out
}

/// The lines of pytest's explanation after the message (an assertion's diff), each whole,
/// on lines of their own: shown where the client shows a whole diagnostic (hover, Problems).
fn explanation(case: &engine::goals::test::TestCase, message: &str) -> String {
    let Some(detail) = case.detail.as_deref() else { return String::new() };
    let mut lines = detail.lines().peekable();
    if lines.peek().is_some_and(|first| first.trim() == message.trim()) {
        lines.next();
    }
    lines.fold(String::new(), |mut out, line| {
        out.push('\n');
        out.push_str(line);
        out
    })
}

/// One Information mark on a first-party line that failing tests raised through: the
/// failing test is the error; this line is where to look, once, with each test related.
fn raised_here(
    state: &State,
    index: usize,
    text: &Text<'_>,
    line: u32,
    cases: &[(&engine::goals::test::TestCase, String)],
) -> Diagnostic {
    let (first, first_message) = &cases[0];
    let message = match cases {
        [_] => format!("{first_message} (raised here; {} fails)", first.name),
        _ => format!("{} failing tests raised here: {first_message}", cases.len()),
    };
    let related: Vec<DiagnosticRelatedInformation> = cases
        .iter()
        .filter_map(|(case, _)| {
            let location = state.location(index, case.location.as_ref()?)?;
            Some(DiagnosticRelatedInformation { location, message: format!("{} fails here", case.name) })
        })
        .collect();
    Diagnostic {
        range: text.line_range(line),
        severity: Some(DiagnosticSeverity::INFORMATION),
        source: Some("pytest".to_owned()),
        code: Some(NumberOrString::String("test-failure".to_owned())),
        message,
        related_information: (!related.is_empty()).then_some(related),
        data: Some(
            json!({ "test": first.name, "tests": cases.iter().map(|(c, _)| &c.name).collect::<Vec<_>>() }),
        ),
        ..Diagnostic::default()
    }
}

/// A hint on each import that closes a cycle through this file, with the chain back. By
/// default only import-time cycles count: a function-level import is how a project breaks
/// a cycle on purpose, and an `if TYPE_CHECKING:` one never runs.
fn cycle_hints(
    project: &engine::project::Project,
    id: engine::graph::FileId,
    text: &Text<'_>,
    policy: CycleHints,
) -> Vec<Diagnostic> {
    let follow = |edge: &engine::graph::Edge| match policy {
        CycleHints::ModuleLevel => edge.eager(),
        CycleHints::All => true,
        CycleHints::Off => false,
    };
    if policy == CycleHints::Off {
        return Vec::new();
    }
    let importers: std::collections::HashSet<_> = project.dependents(&[id], true).into_iter().collect();
    let mut lines = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for edge in project.graph().edges(id) {
        if edge.kind != engine::graph::EdgeKind::Import
            || edge.to == id
            || !follow(edge)
            || !importers.contains(&edge.to)
        {
            continue;
        }
        let Some(back) = project.graph().path_along(edge.to, id, follow) else { continue };
        if !lines.insert(edge.line) {
            continue;
        }
        let mut chain = vec![project.path(id), project.path(edge.to)];
        chain.extend(back.iter().map(|(_, hop)| project.path(hop.to)));
        out.push(Diagnostic {
            range: text.line_range(edge.line + 1),
            severity: Some(DiagnosticSeverity::HINT),
            source: Some("pleat".to_owned()),
            code: Some(NumberOrString::String("import-cycle".to_owned())),
            message: format!("import cycle: {}", chain.join(" → ")),
            ..Diagnostic::default()
        });
    }
    out
}

fn lint(finding: &LintFinding, text: &Text<'_>) -> Diagnostic {
    let range = Range {
        start: text.char_position(finding.line, finding.column),
        end: text.char_position(finding.end_line.max(finding.line), finding.end_column),
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

fn check(tool: &str, finding: &CheckFinding, text: &Text<'_>) -> Diagnostic {
    let start = text.char_position(finding.line, finding.column.max(1));
    let severity = match finding.severity.as_str() {
        "error" => DiagnosticSeverity::ERROR,
        "note" | "information" => DiagnosticSeverity::INFORMATION,
        _ => DiagnosticSeverity::WARNING,
    };
    let mut range = text.line_range(finding.line);
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

/// A test file that could not run (collection error, timeout): one error on `line` (1-based:
/// the import that failed, else the first line), with pytest's message for the collection
/// error when it gave one, else the last error line of its output.
fn file_problem(
    result: &engine::goals::test::TestFileResult,
    text: &Text<'_>,
    line: u32,
    collection_message: Option<&str>,
) -> Diagnostic {
    let detail = collection_message.unwrap_or_else(|| {
        result
            .output
            .lines()
            .rev()
            .find(|l| l.starts_with("E ") || l.contains("Error"))
            .or_else(|| result.output.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("")
            .trim_start_matches("E ")
            .trim()
    });
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
        range: text.line_range(line),
        severity: Some(DiagnosticSeverity::ERROR),
        source: Some("pytest".to_owned()),
        code: Some(NumberOrString::String(result.outcome.as_str().to_owned())),
        message,
        ..Diagnostic::default()
    }
}
