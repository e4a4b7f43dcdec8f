//! Engine data → LSP types: findings to diagnostics, UTF-8 byte columns to UTF-16 positions.

use engine::python::imports::Position as EnginePosition;
use engine::python::resolve::{Finding, FindingKind};
use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Position, Range, TextEdit};

/// An engine position (line, UTF-8 byte column) as an LSP position (UTF-16 column).
pub fn position(text: &str, at: EnginePosition) -> Position {
    let line = text.split('\n').nth(at.line as usize).unwrap_or("");
    let byte = (at.column as usize).min(line.len());
    let prefix = line.get(..byte).unwrap_or(line);
    let column = prefix.chars().filter(|c| *c != '\u{feff}').map(char::len_utf16).sum::<usize>();
    Position { line: at.line, character: u32::try_from(column).unwrap_or(u32::MAX) }
}

/// An LSP position (UTF-16 column) as a byte offset into `text`.
pub fn offset(text: &str, at: Position) -> usize {
    let mut start = 0;
    for (i, line) in text.split('\n').enumerate() {
        if i == at.line as usize {
            let mut units = 0;
            for (byte, c) in line.char_indices() {
                if units >= at.character as usize {
                    return start + byte;
                }
                if c != '\u{feff}' {
                    units += c.len_utf16();
                }
            }
            return start + line.len();
        }
        start += line.len() + 1;
    }
    text.len()
}

/// A 1-based line and 1-based character column (ruff, mypy) as an LSP position.
pub fn char_position(text: &str, line: u32, column: u32) -> Position {
    let line = line.saturating_sub(1);
    let content = text.split('\n').nth(line as usize).unwrap_or("");
    let units: usize = content
        .chars()
        .filter(|c| *c != '\u{feff}')
        .take(column.saturating_sub(1) as usize)
        .map(char::len_utf16)
        .sum();
    Position { line, character: u32::try_from(units).unwrap_or(u32::MAX) }
}

/// A whole 1-based line, without its indentation, as a range.
pub fn line_range(text: &str, line: u32) -> Range {
    let line = line.saturating_sub(1);
    let content = text.split('\n').nth(line as usize).unwrap_or("").trim_end_matches('\r');
    let indent = content.chars().take_while(|c| c.is_whitespace()).map(char::len_utf16).sum::<usize>();
    let end = content.chars().map(char::len_utf16).sum::<usize>();
    let at = |c: usize| Position { line, character: u32::try_from(c).unwrap_or(u32::MAX) };
    Range { start: at(indent), end: at(end) }
}

/// An engine range as an LSP range.
pub fn range(text: &str, range: &engine::python::imports::TextRange) -> Range {
    Range { start: position(text, range.start), end: position(text, range.end) }
}

/// A lint finding's fix as diagnostic data (`{"fix": {"title", "safe", "edits": [TextEdit]}}`),
/// so that the code action for it needs nothing but the diagnostic.
pub fn fix_data(finding: &engine::goals::lint::LintFinding, text: &str) -> Option<serde_json::Value> {
    let fix = finding.fix.as_ref()?;
    if fix.applicability == "display-only" {
        return None;
    }
    let edits: Vec<TextEdit> = fix
        .edits
        .iter()
        .map(|e| TextEdit {
            range: Range {
                start: char_position(text, e.line, e.column),
                end: char_position(text, e.end_line, e.end_column),
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
        range: range(text, &finding.range),
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

    #[test]
    fn character_columns_and_lines() {
        let text = "a\n  x = 'é😀' + y\r\n";
        // ruff's column 12 is the 12th character: `+` after 'é😀'.
        assert_eq!(char_position(text, 2, 12), Position { line: 1, character: 12 });
        let whole = line_range(text, 2);
        assert_eq!((whole.start.character, whole.end.character), (2, 15));
        assert_eq!(offset(text, Position { line: 1, character: 12 }), text.find('+').unwrap());
        assert_eq!(offset(text, Position { line: 9, character: 0 }), text.len());
        assert_eq!(line_range(text, 40).start, Position { line: 39, character: 0 });
    }
}
