//! Engine data → LSP types: findings to diagnostics, UTF-8 byte columns to UTF-16 positions.

use engine::python::imports::Position as EnginePosition;
use engine::python::resolve::{Finding, FindingKind};
use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Position, Range};

/// An engine position (line, UTF-8 byte column) as an LSP position (UTF-16 column).
pub fn position(text: &str, at: EnginePosition) -> Position {
    let line = text.split('\n').nth(at.line as usize).unwrap_or("");
    let byte = (at.column as usize).min(line.len());
    let prefix = line.get(..byte).unwrap_or(line);
    let column = prefix.chars().filter(|c| *c != '\u{feff}').map(char::len_utf16).sum::<usize>();
    Position { line: at.line, character: u32::try_from(column).unwrap_or(u32::MAX) }
}

/// A finding as a diagnostic on its range.
pub fn diagnostic(finding: &Finding, text: &str) -> Diagnostic {
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
        range: Range { start: position(text, finding.range.start), end: position(text, finding.range.end) },
        severity: Some(severity),
        code: Some(NumberOrString::String(code.to_owned())),
        source: Some("pleat".to_owned()),
        message: finding.message.clone(),
        ..Diagnostic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_become_utf16() {
        let text = "x = 'é😀'; import m\n";
        let byte_column = text.find("import").unwrap() as u32;
        let at = position(text, EnginePosition { line: 0, column: byte_column });
        // 'é' is 1 UTF-16 unit (2 bytes), '😀' is 2 units (4 bytes).
        assert_eq!(at, Position { line: 0, character: 11 });
        assert_eq!(position("\u{feff}import m", EnginePosition { line: 0, column: 3 }).character, 0);
    }
}
