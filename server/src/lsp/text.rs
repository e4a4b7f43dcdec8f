//! A document's text with its line index: every conversion between LSP positions (UTF-16 columns), byte offsets and the engine's positions (UTF-8 byte columns), and incremental sync's edits, in one place.

use std::borrow::Cow;
use std::ops::Deref;

use engine::python::imports::{Edit, Position as EnginePosition, TextRange};
use tower_lsp_server::ls_types::{Position, Range};

/// A text and where each of its lines starts; cheap to convert positions in, cheap to edit.
#[derive(Debug, Clone)]
pub struct Text<'a> {
    text: Cow<'a, str>,
    /// The byte offset of each line's first byte; the first is 0.
    starts: Cow<'a, [u32]>,
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

/// Where each line of `text` starts.
fn line_starts(text: &str) -> Vec<u32> {
    let mut starts = Vec::with_capacity(text.len() / 40 + 1);
    starts.push(0);
    starts.extend(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i as u32 + 1));
    starts
}

/// UTF-16 code units of `s`, not counting a byte order mark (editors do not show it).
fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    s.chars().filter(|c| *c != '\u{feff}').map(char::len_utf16).sum()
}

fn character(units: usize) -> u32 {
    u32::try_from(units).unwrap_or(u32::MAX)
}

impl Text<'static> {
    /// Takes ownership of a text and indexes its lines.
    pub fn owned(text: String) -> Self {
        let starts = line_starts(&text);
        Self { text: Cow::Owned(text), starts: Cow::Owned(starts) }
    }
}

impl<'a> Text<'a> {
    /// Indexes the lines of a borrowed text.
    pub fn new(text: &'a str) -> Self {
        Self { text: Cow::Borrowed(text), starts: Cow::Owned(line_starts(text)) }
    }

    /// A view of this text, sharing its index.
    pub fn view(&self) -> Text<'_> {
        Text { text: Cow::Borrowed(&self.text), starts: Cow::Borrowed(&self.starts) }
    }

    /// Line `line` (0-based) without its `\n` (a `\r` stays); empty past the end.
    fn line(&self, line: u32) -> &str {
        let Some(&start) = self.starts.get(line as usize) else { return "" };
        let end = self.starts.get(line as usize + 1).map_or(self.text.len(), |next| *next as usize - 1);
        self.text.get(start as usize..end).unwrap_or("")
    }

    /// An engine position (line, UTF-8 byte column) as an LSP position (UTF-16 column).
    pub fn position(&self, at: EnginePosition) -> Position {
        let line = self.line(at.line);
        let byte = (at.column as usize).min(line.len());
        let prefix = line.get(..byte).unwrap_or(line);
        Position { line: at.line, character: character(utf16_len(prefix)) }
    }

    /// An engine range as an LSP range.
    pub fn range(&self, range: &TextRange) -> Range {
        Range { start: self.position(range.start), end: self.position(range.end) }
    }

    /// An LSP position (UTF-16 column) as a byte offset; past a line's end is its end, past
    /// the last line the text's end.
    pub fn offset(&self, at: Position) -> usize {
        let Some(&start) = self.starts.get(at.line as usize) else { return self.text.len() };
        let line = self.line(at.line);
        if line.is_ascii() {
            return start as usize + (at.character as usize).min(line.len());
        }
        let mut units = 0;
        for (byte, c) in line.char_indices() {
            if units >= at.character as usize {
                return start as usize + byte;
            }
            if c != '\u{feff}' {
                units += c.len_utf16();
            }
        }
        start as usize + line.len()
    }

    /// A byte offset as an engine position (line, byte column).
    pub fn engine_position(&self, offset: usize) -> EnginePosition {
        let offset = offset.min(self.text.len()) as u32;
        let line = self.starts.partition_point(|start| *start <= offset).saturating_sub(1);
        EnginePosition { line: line as u32, column: offset - self.starts[line] }
    }

    /// A 1-based line and 1-based character column (ruff, mypy) as an LSP position.
    pub fn char_position(&self, line: u32, column: u32) -> Position {
        let line = line.saturating_sub(1);
        let content = self.line(line);
        let units: usize = content
            .chars()
            .filter(|c| *c != '\u{feff}')
            .take(column.saturating_sub(1) as usize)
            .map(char::len_utf16)
            .sum();
        Position { line, character: character(units) }
    }

    /// A whole 1-based line, without its indentation, as a range.
    pub fn line_range(&self, line: u32) -> Range {
        let line = line.saturating_sub(1);
        let content = self.line(line).trim_end_matches('\r');
        let indent = content.chars().take_while(|c| c.is_whitespace()).map(char::len_utf16).sum::<usize>();
        let end = content.chars().map(char::len_utf16).sum::<usize>();
        let at = |c: usize| Position { line, character: character(c) };
        Range { start: at(indent), end: at(end) }
    }

    /// The range of the whole text.
    pub fn whole(&self) -> Range {
        let last = self.starts.len() as u32 - 1;
        Range {
            start: Position::default(),
            end: Position { line: last, character: character(utf16_len(self.line(last))) },
        }
    }

    /// Applies one change of incremental sync (`range` None: the whole text is replaced)
    /// and returns it as the engine's edit.
    pub fn apply(&mut self, range: Option<Range>, new: &str) -> Edit {
        let Some(range) = range else {
            let edit = Edit::between(self.text.as_bytes(), new.as_bytes());
            *self = Text { text: Cow::Owned(new.to_owned()), starts: Cow::Owned(line_starts(new)) };
            return edit;
        };
        let start = self.offset(range.start);
        let old_end = self.offset(range.end).max(start);
        let (start_at, old_end_at) = (self.engine_position(start), self.engine_position(old_end));
        self.text.to_mut().replace_range(start..old_end, new);
        // The lines inside the replaced range are replaced by the new text's; those after move.
        let starts = self.starts.to_mut();
        let first_after = starts.partition_point(|s| *s as usize <= old_end);
        let inserted =
            new.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| (start + i + 1) as u32);
        // Lines after the replaced range move by the difference in length.
        let moved: Vec<u32> = starts[first_after..]
            .iter()
            .map(|s| (*s as usize + new.len() - (old_end - start)) as u32)
            .collect();
        starts.truncate(start_at.line as usize + 1);
        starts.extend(inserted);
        starts.extend(moved);
        let new_end = start + new.len();
        Edit {
            start_byte: start as u32,
            old_end_byte: old_end as u32,
            new_end_byte: new_end as u32,
            start: start_at,
            old_end: old_end_at,
            new_end: self.engine_position(new_end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_become_utf16() {
        let text = "x = 'é😀'; import m\n";
        let byte_column = text.find("import").unwrap() as u32;
        let at = Text::new(text).position(EnginePosition { line: 0, column: byte_column });
        // 'é' is 1 UTF-16 unit (2 bytes), '😀' is 2 units (4 bytes).
        assert_eq!(at, Position { line: 0, character: 11 });
        let bom = Text::new("\u{feff}import m");
        assert_eq!(bom.position(EnginePosition { line: 0, column: 3 }).character, 0);
    }

    #[test]
    fn character_columns_and_lines() {
        let text = Text::new("a\n  x = 'é😀' + y\r\n");
        // ruff's column 12 is the 12th character: `+` after 'é😀'.
        assert_eq!(text.char_position(2, 12), Position { line: 1, character: 12 });
        let whole = text.line_range(2);
        assert_eq!((whole.start.character, whole.end.character), (2, 15));
        assert_eq!(text.offset(Position { line: 1, character: 12 }), text.find('+').unwrap());
        assert_eq!(text.offset(Position { line: 9, character: 0 }), text.len());
        assert_eq!(text.line_range(40).start, Position { line: 39, character: 0 });
        assert_eq!(text.whole().end, Position { line: 2, character: 0 });
        assert_eq!(text.engine_position(text.find('x').unwrap()), EnginePosition { line: 1, column: 2 });
    }

    /// Incremental edits leave the same text and line index as building them afresh, and
    /// return the edit tree-sitter needs.
    #[test]
    fn edits_keep_the_index_true() {
        let mut text = Text::owned("import a\nx = 'é'\nimport b\n".to_owned());
        let at = |line, character| Position { line, character };
        let steps: [(Option<Range>, &str); 5] = [
            (Some(Range { start: at(1, 5), end: at(1, 6) }), "😀\n y"),
            (Some(Range { start: at(0, 0), end: at(0, 0) }), "import z\n"),
            (Some(Range { start: at(1, 3), end: at(3, 2) }), ""),
            (Some(Range { start: at(9, 0), end: at(9, 0) }), "tail"),
            (None, "import q\n"),
        ];
        for (range, new) in steps {
            let before = text.to_string();
            let edit = text.apply(range, new);
            let fresh = Text::new(&text);
            assert_eq!(text.starts, fresh.starts, "after {range:?} {new:?} on {before:?}");
            assert_eq!(edit.new_end, text.engine_position(edit.new_end_byte as usize));
            assert_eq!(
                &text[edit.start_byte as usize..edit.new_end_byte as usize],
                if range.is_some() {
                    new
                } else {
                    &text[edit.start_byte as usize..edit.new_end_byte as usize]
                }
            );
            assert_eq!(before.len() - edit.old_end_byte as usize, text.len() - edit.new_end_byte as usize);
        }
        assert_eq!(&*text, "import q\n");
    }
}
