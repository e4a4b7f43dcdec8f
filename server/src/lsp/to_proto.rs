//! Engine data → LSP types: import findings to diagnostics, lint fixes to diagnostic data (positions convert through the document's [`Text`]).

use engine::python::resolve::{Finding, FindingKind};
use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Range, TextEdit};

use super::text::Text;

/// A lint finding's fix as diagnostic data (`{"fix": {"title", "safe", "edits": [TextEdit]}}`),
/// so that the code action for it needs nothing but the diagnostic.
pub fn fix_data(finding: &engine::goals::lint::LintFinding, text: &Text<'_>) -> Option<serde_json::Value> {
    let fix = finding.fix.as_ref()?;
    if fix.applicability == "display-only" {
        return None;
    }
    let edits: Vec<TextEdit> = fix
        .edits
        .iter()
        .map(|e| TextEdit {
            range: Range {
                start: text.char_position(e.line, e.column),
                end: text.char_position(e.end_line, e.end_column),
            },
            new_text: e.content.clone(),
        })
        .collect();
    let title = fix.message.clone().unwrap_or_else(|| format!("Fix {}", finding.code));
    Some(
        serde_json::json!({ "fix": { "title": title, "safe": fix.applicability == "safe", "edits": edits } }),
    )
}

/// A finding as a diagnostic on its range.
pub fn diagnostic(finding: &Finding, text: &Text<'_>) -> Diagnostic {
    let (code, severity) = match finding.kind {
        FindingKind::Unresolved => ("unresolved-import", DiagnosticSeverity::WARNING),
        FindingKind::Ambiguous => ("ambiguous-import", DiagnosticSeverity::WARNING),
        FindingKind::RelativeBeyondTop => ("relative-import-beyond-top", DiagnosticSeverity::ERROR),
        FindingKind::MissingExplicitDependency => {
            ("missing-explicit-dependency", DiagnosticSeverity::WARNING)
        }
        FindingKind::SyntaxError => ("syntax-error", DiagnosticSeverity::ERROR),
    };
    Diagnostic {
        range: text.range(&finding.range),
        severity: Some(severity),
        code: Some(NumberOrString::String(code.to_owned())),
        source: Some("pleat".to_owned()),
        message: finding.message.clone(),
        ..Diagnostic::default()
    }
}
