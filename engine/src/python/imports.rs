//! Import inference: Python source bytes in, imports and syntax errors out. Pure, total, no I/O.
//!
//! The walk goes by hand over statement-level nodes (module, blocks, compound statements)
//! instead of running a tree-sitter query over the whole tree: a query costs about a third
//! on top of parsing, this walk a few per cent. Expressions are only entered when the
//! statement's bytes mention `__import__`/`import_module` (dynamic imports) or when string
//! imports are switched on.
//!
//! The walk is iterative (an explicit stack), so deeply nested input cannot overflow the
//! thread's stack.

use tree_sitter::{Node, Parser, Tree};

/// A position in a file: 0-based line and 0-based column counted in UTF-8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// A half-open byte range with its start and end positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TextRange {
    pub start_byte: u32,
    pub end_byte: u32,
    pub start: Position,
    pub end: Position,
}

/// How an import was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportKind {
    /// `import a.b` / `import a.b as c`
    Import,
    /// `from a import b` / `from . import x` / `from ..a import *`
    From,
    /// `__import__("a.b")` / `importlib.import_module("a.b")`
    Dynamic,
    /// A string literal shaped like a dotted module path (only when enabled).
    String,
}

/// A name imported by a `from` import, with its range (for diagnostics on that name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImportedName {
    /// The name as written (`*` for a wildcard import), without its alias.
    pub name: String,
    pub range: TextRange,
}

/// One import found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Import {
    /// The module as written, without leading dots (`""` for `from . import x`).
    pub module: String,
    /// Number of leading dots: 0 for absolute imports.
    pub level: u32,
    /// Names imported by a `from` import (empty for the other kinds).
    pub names: Vec<ImportedName>,
    pub kind: ImportKind,
    /// Inside `try:` guarded by an ImportError handler, or `with suppress(ImportError)`:
    /// an unresolved weak import is not an error.
    pub weak: bool,
    /// Under `if TYPE_CHECKING:`: needed by type checkers only.
    pub type_only: bool,
    /// Not run when the module is imported: inside a function body (how Python projects
    /// break import cycles), or a string that names a module.
    pub deferred: bool,
    /// The range of the module name (the dots for `from . import x`; the string for
    /// dynamic and string imports).
    pub range: TextRange,
}

/// A syntax error found by the parser; imports after it are still reported.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    pub range: TextRange,
    pub message: String,
}

/// Everything the graph needs to know of one file's content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedFile {
    /// Sorted by position.
    pub imports: Vec<Import>,
    pub syntax_errors: Vec<SyntaxError>,
    /// True when the file holds at least one statement (comments and blank lines do not
    /// count); `init_files = "content_only"` skips `__init__.py` files without code.
    pub has_code: bool,
    /// True when a line starts with a doctest prompt (`>>>`): under pytest's
    /// `--doctest-modules` such a module is collected for its doctests.
    pub has_doctest: bool,
}

/// Options that change what a parse returns; they are part of the parse cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseOptions {
    /// Report string literals shaped like dotted module paths.
    pub string_imports: bool,
    /// The minimum number of dots such a string must contain.
    pub string_imports_min_dots: u32,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self { string_imports: false, string_imports_min_dots: 2 }
    }
}

impl ParseOptions {
    /// A short stable encoding, mixed into the parse cache key.
    pub fn cache_tag(self) -> [u8; 5] {
        let d = self.string_imports_min_dots.to_le_bytes();
        [u8::from(self.string_imports), d[0], d[1], d[2], d[3]]
    }
}

/// The pragma that drops an import when it stands on the import's first or last line.
pub const NO_INFER_PRAGMA: &str = "pleat: no-infer-dep";

/// What a syntax error means for the graph, said after each one.
const AFTER_ERROR: &str = "imports after it may be missed until it is fixed";

/// At most this many syntax errors are reported per file.
const MAX_SYNTAX_ERRORS: usize = 20;

/// Parses `source` and returns its imports. Never panics, never fails: undecodable
/// bytes are read lossily and broken syntax yields `syntax_errors` next to whatever
/// imports could still be recognised.
pub fn parse_imports(source: &[u8], options: ParseOptions) -> ParsedFile {
    let mut parser = new_parser();
    let Some(tree) = parser.parse(source, None) else {
        // Only happens on cancellation or a missing language; report it rather than panic.
        return ParsedFile {
            syntax_errors: vec![SyntaxError {
                range: TextRange::default(),
                message: "the Python parser gave up on this file".to_owned(),
            }],
            ..ParsedFile::default()
        };
    };
    extract(&tree, source, options)
}

/// A parser set up for Python. Cheap enough to make per file; callers on hot paths may
/// keep one per thread.
pub fn new_parser() -> Parser {
    let mut parser = Parser::new();
    // Setting the language only fails on an ABI mismatch between tree-sitter and the
    // grammar, which the build pins; a parser without a language returns no tree and
    // `parse_imports` reports that as an error instead of panicking.
    let _ = parser.set_language(&tree_sitter_python::LANGUAGE.into());
    parser
}

/// One edit of a document as tree-sitter needs it: the replaced byte range, where it ends
/// after the edit, and those three places as positions (0-based lines, byte columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Edit {
    pub start_byte: u32,
    pub old_end_byte: u32,
    pub new_end_byte: u32,
    pub start: Position,
    pub old_end: Position,
    pub new_end: Position,
}

impl Edit {
    /// The one edit that turns `old` into `new`: what they share at the start and at the
    /// end stays, the middle is replaced.
    pub fn between(old: &[u8], new: &[u8]) -> Edit {
        let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        let max_suffix = old.len().min(new.len()) - prefix;
        let suffix =
            old.iter().rev().zip(new.iter().rev()).take(max_suffix).take_while(|(a, b)| a == b).count();
        Edit {
            start_byte: prefix as u32,
            old_end_byte: (old.len() - suffix) as u32,
            new_end_byte: (new.len() - suffix) as u32,
            start: position_at(old, prefix),
            old_end: position_at(old, old.len() - suffix),
            new_end: position_at(new, new.len() - suffix),
        }
    }

    fn input_edit(&self) -> tree_sitter::InputEdit {
        let point = |p: Position| tree_sitter::Point { row: p.line as usize, column: p.column as usize };
        tree_sitter::InputEdit {
            start_byte: self.start_byte as usize,
            old_end_byte: self.old_end_byte as usize,
            new_end_byte: self.new_end_byte as usize,
            start_position: point(self.start),
            old_end_position: point(self.old_end),
            new_end_position: point(self.new_end),
        }
    }

    /// Where a place at or after the replaced range is after the edit.
    fn moved(&self, byte: u32, at: Position) -> (u32, Position) {
        let byte = byte - self.old_end_byte + self.new_end_byte;
        let line = at.line - self.old_end.line + self.new_end.line;
        let column = if at.line == self.old_end.line {
            at.column - self.old_end.column + self.new_end.column
        } else {
            at.column
        };
        (byte, Position { line, column })
    }

    fn move_range(&self, range: &mut TextRange) {
        (range.start_byte, range.start) = self.moved(range.start_byte, range.start);
        (range.end_byte, range.end) = self.moved(range.end_byte, range.end);
    }

    /// True when `range` touches the replaced bytes (adjacent counts: typing right after an
    /// import changes it).
    fn touches(&self, start_byte: u32, end_byte: u32) -> bool {
        start_byte <= self.old_end_byte && self.start_byte <= end_byte
    }
}

/// The line and byte column of an offset.
fn position_at(source: &[u8], offset: usize) -> Position {
    let before = &source[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() as u32;
    let column = offset - before.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    Position { line, column: column as u32 }
}

/// A parser that keeps the last tree of one document and what was extracted from it, as an
/// editor needs on every keystroke: edits are applied to the tree (tree-sitter reuses the
/// unchanged subtrees), and imports are re-extracted only from the top-level statements
/// that an edit or a changed syntax range touches; the others' imports are moved.
pub struct IncrementalParser {
    parser: Parser,
    tree: Option<Tree>,
    options: ParseOptions,
    /// The statement walk's imports of the last parse (sorted, duplicates removed), moved
    /// along by edits since; an import an edit touched is dropped (its statement is walked
    /// again).
    walked: Vec<Import>,
    /// Byte ranges edited since the last parse, in the current text's offsets.
    dirty: Vec<(u32, u32)>,
    /// Top-level statements the last parse walked (all of them on a first parse).
    rewalked: usize,
}

impl IncrementalParser {
    pub fn new(options: ParseOptions) -> Self {
        Self { parser: new_parser(), tree: None, options, walked: Vec::new(), dirty: Vec::new(), rewalked: 0 }
    }

    /// Records an edit of the text the last parse saw; [`IncrementalParser::parse`] then
    /// takes the edited text. Edits are given in the order they were made.
    pub fn edit(&mut self, edit: &Edit) {
        let Some(tree) = self.tree.as_mut() else { return };
        tree.edit(&edit.input_edit());
        self.walked.retain(|i| !edit.touches(i.range.start_byte, i.range.end_byte));
        for import in &mut self.walked {
            if import.range.start_byte >= edit.old_end_byte {
                edit.move_range(&mut import.range);
                for name in &mut import.names {
                    edit.move_range(&mut name.range);
                }
            }
        }
        let (mut start, mut end) = (edit.start_byte, edit.new_end_byte);
        self.dirty.retain_mut(|(a, b)| {
            if *b < edit.start_byte {
                return true;
            }
            if *a > edit.old_end_byte {
                *a = *a - edit.old_end_byte + edit.new_end_byte;
                *b = *b - edit.old_end_byte + edit.new_end_byte;
                return true;
            }
            start = start.min(*a);
            end =
                end.max(if *b > edit.old_end_byte { *b - edit.old_end_byte + edit.new_end_byte } else { 0 });
            false
        });
        self.dirty.push((start, end));
    }

    /// Parses the document's current text (the last parse's text with the recorded edits
    /// applied), reusing what did not change.
    pub fn parse(&mut self, source: &[u8]) -> ParsedFile {
        let old = self.tree.take();
        let dirty = std::mem::take(&mut self.dirty);
        let Some(tree) = self.parser.parse(source, old.as_ref()) else {
            self.walked.clear();
            return parse_imports(source, self.options);
        };
        let root = tree.root_node();
        let mut walker = Walker { source, imports: Vec::new() };
        if let Some(old) = old.filter(|_| root.kind() == "module") {
            let mut dirty = dirty;
            dirty.extend(old.changed_ranges(&tree).map(|r| (r.start_byte as u32, r.end_byte as u32)));
            // A statement's pragma comment stands on its first or last line, outside
            // its bytes: what an edit touches is whole lines.
            for (start, end) in &mut dirty {
                let (a, b) = ((*start as usize).min(source.len()), (*end as usize).min(source.len()));
                *start = source[..a].iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1) as u32;
                *end = source[b..].iter().position(|c| *c == b'\n').map_or(source.len(), |p| b + p) as u32;
            }
            let mut spans = Vec::new();
            let mut cursor = root.walk();
            for statement in root.named_children(&mut cursor) {
                let (start, end) = (statement.start_byte() as u32, statement.end_byte() as u32);
                if dirty.iter().any(|&(a, b)| start <= b && a <= end) {
                    spans.push((start, end));
                    walker.walk(statement);
                }
            }
            self.rewalked = spans.len();
            self.walked
                .retain(|i| !spans.iter().any(|&(a, b)| a <= i.range.start_byte && i.range.end_byte <= b));
            self.walked.append(&mut walker.imports);
        } else {
            walker.walk(root);
            self.rewalked = root.named_child_count();
            self.walked = walker.imports;
        }
        sort_imports(&mut self.walked);
        let parsed = finish(&tree, source, self.options, self.walked.clone());
        self.tree = Some(tree);
        parsed
    }

    /// Parses a new full text of the document, given the text the last parse saw: the edit
    /// between them is found by their common start and end.
    pub fn parse_changed(&mut self, old: &[u8], new: &[u8]) -> ParsedFile {
        self.edit(&Edit::between(old, new));
        self.parse(new)
    }

    /// The options every parse of this parser uses.
    pub fn options(&self) -> ParseOptions {
        self.options
    }

    /// How many top-level statements the last parse walked.
    pub fn rewalked(&self) -> usize {
        self.rewalked
    }
}

/// Extracts imports from an already parsed tree.
pub fn extract(tree: &Tree, source: &[u8], options: ParseOptions) -> ParsedFile {
    let mut walker = Walker { source, imports: Vec::new() };
    walker.walk(tree.root_node());
    finish(tree, source, options, walker.imports)
}

/// Sorts imports by position and drops the duplicates error recovery can find.
fn sort_imports(imports: &mut Vec<Import>) {
    imports.sort_by_key(|i| (i.range.start_byte, i.range.end_byte));
    imports.dedup_by(|a, b| a.range == b.range && a.module == b.module && a.level == b.level);
}

/// The statement walk's imports completed with what needs the whole tree: lazy
/// submodules, string imports, syntax and encoding errors, and the file's traits.
fn finish(tree: &Tree, source: &[u8], options: ParseOptions, walked: Vec<Import>) -> ParsedFile {
    let root = tree.root_node();
    let mut out = Walker { source, imports: walked };
    out.lazy_submodules(root);
    if options.string_imports {
        out.string_imports(root, options.string_imports_min_dots);
    }
    let mut imports = out.imports;
    sort_imports(&mut imports);
    let mut cursor = root.walk();
    let has_code = root.named_children(&mut cursor).any(|n| n.kind() != "comment");
    let mut errors = syntax_errors(root, source);
    if let Some(error) = encoding_error(source) {
        errors.insert(0, error);
    }
    let has_doctest = crate::python::collection::has_doctest_examples(source);
    ParsedFile { imports, syntax_errors: errors, has_code, has_doctest }
}

/// Python reads source as UTF-8 unless a `coding:` line in the first two lines says
/// otherwise; anything else is reported, naming the offset and the fix.
fn encoding_error(source: &[u8]) -> Option<SyntaxError> {
    let error = std::str::from_utf8(source).err()?;
    let declared = source
        .split(|b| *b == b'\n')
        .take(2)
        .any(|line| line.starts_with(b"#") && (contains(line, b"coding:") || contains(line, b"coding=")));
    if declared {
        return None;
    }
    let offset = error.valid_up_to();
    let line = source[..offset].iter().filter(|b| **b == b'\n').count() as u32;
    let column = (offset - source[..offset].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1)) as u32;
    let position = Position { line, column };
    Some(SyntaxError {
        range: TextRange {
            start_byte: offset as u32,
            end_byte: offset as u32 + 1,
            start: position,
            end: position,
        },
        message: format!(
            "the file is not valid UTF-8 (byte {offset}); save it as UTF-8 or declare its encoding in a `# -*- coding: ... -*-` line"
        ),
    })
}

#[derive(Clone, Copy, Default)]
struct Ctx {
    weak: bool,
    type_only: bool,
    deferred: bool,
}

struct Walker<'s> {
    source: &'s [u8],
    imports: Vec<Import>,
}

impl Walker<'_> {
    /// Records an import unless its statement carries the no-infer pragma.
    fn push(&mut self, import: Import, statement: Node<'_>) {
        if !has_pragma(self.source, statement.start_byte() as u32, statement.end_byte() as u32) {
            self.imports.push(import);
        }
    }

    /// PEP 562 lazy submodules: a module-level `__getattr__` that calls
    /// `import_module("." + name, …)` can import each name of the module's literal
    /// `__all__` (python-dateutil's `dateutil/__init__.py`): one weak `from . import name`
    /// for each, at the call.
    fn lazy_submodules(&mut self, root: Node<'_>) {
        let mut lazy_call = None;
        let mut all: Vec<(String, Node<'_>)> = Vec::new();
        let mut cursor = root.walk();
        for node in root.named_children(&mut cursor) {
            match node.kind() {
                "function_definition"
                    if node.child_by_field_name("name").is_some_and(|n| self.text(n) == "__getattr__") =>
                {
                    let text = self.text(node);
                    if let Some(at) = text.find("import_module(") {
                        let rest = text[at + "import_module(".len()..].trim_start();
                        if rest.starts_with("\".\"") || rest.starts_with("'.'") {
                            lazy_call = Some(node);
                        }
                    }
                }
                "expression_statement" => {
                    let Some(assignment) = node.named_child(0).filter(|n| n.kind() == "assignment") else {
                        continue;
                    };
                    let is_all =
                        assignment.child_by_field_name("left").is_some_and(|l| self.text(l) == "__all__");
                    let Some(value) = assignment.child_by_field_name("right").filter(|_| is_all) else {
                        continue;
                    };
                    if matches!(value.kind(), "list" | "tuple") {
                        let mut items = value.walk();
                        all = value
                            .named_children(&mut items)
                            .filter(|i| i.kind() == "string")
                            .filter_map(|i| self.literal(i).map(|name| (name, i)))
                            .collect();
                    }
                }
                _ => {}
            }
        }
        let Some(function) = lazy_call else { return };
        for (name, node) in all {
            if !is_dotted_module(&name) || name.contains('.') {
                continue;
            }
            self.push(
                Import {
                    module: String::new(),
                    level: 1,
                    names: vec![ImportedName { name, range: range_of(node) }],
                    kind: ImportKind::From,
                    weak: true,
                    type_only: false,
                    deferred: true,
                    range: range_of(node),
                },
                function,
            );
        }
    }

    fn text(&self, node: Node<'_>) -> &str {
        std::str::from_utf8(&self.source[node.byte_range()]).unwrap_or("")
    }

    fn bytes(&self, node: Node<'_>) -> &[u8] {
        &self.source[node.byte_range()]
    }

    /// Visits every statement reachable through blocks and compound statements.
    fn walk(&mut self, root: Node<'_>) {
        let mut stack: Vec<(Node<'_>, Ctx)> = vec![(root, Ctx::default())];
        while let Some((node, ctx)) = stack.pop() {
            self.visit(node, ctx, &mut stack);
        }
    }

    fn visit<'t>(&mut self, node: Node<'t>, ctx: Ctx, stack: &mut Vec<(Node<'t>, Ctx)>) {
        let push_field = |stack: &mut Vec<(Node<'t>, Ctx)>, name: &str, ctx: Ctx| {
            if let Some(child) = node.child_by_field_name(name) {
                stack.push((child, ctx));
            }
        };
        match node.kind() {
            "module" | "block" | "ERROR" => {
                let mut cursor = node.walk();
                for child in node.named_children(&mut cursor) {
                    stack.push((child, ctx));
                }
                if node.is_error() {
                    self.scan_calls(node, ctx);
                    self.recover_lines(node, ctx);
                }
            }
            "import_statement" => self.import_statement(node, ctx),
            "import_from_statement" => self.import_from_statement(node, ctx),
            "if_statement" => {
                let type_checking =
                    node.child_by_field_name("condition").is_some_and(|c| self.is_type_checking(c));
                // `if sys.version_info >= (3, 8): from typing import X / else: from
                // typing_extensions import X`: only one branch runs on a given Python, so
                // neither import is an error when it does not resolve.
                let version_check = node
                    .child_by_field_name("condition")
                    .is_some_and(|c| self.text(c).contains("version_info"));
                let ctx = Ctx { weak: ctx.weak || version_check, ..ctx };
                push_field(stack, "consequence", Ctx { type_only: ctx.type_only || type_checking, ..ctx });
                let mut cursor = node.walk();
                for alt in node.children_by_field_name("alternative", &mut cursor) {
                    stack.push((alt, ctx));
                }
                if let Some(cond) = node.child_by_field_name("condition") {
                    self.scan_calls(cond, ctx);
                }
            }
            "elif_clause" => {
                push_field(stack, "consequence", ctx);
                if let Some(cond) = node.child_by_field_name("condition") {
                    self.scan_calls(cond, ctx);
                }
            }
            "else_clause" | "finally_clause" | "except_clause" | "except_group_clause" => {
                let mut cursor = node.walk();
                for child in node.named_children(&mut cursor) {
                    if child.kind() == "block" {
                        stack.push((child, ctx));
                    }
                }
            }
            "try_statement" => {
                let mut cursor = node.walk();
                let mut guards_import = false;
                for child in node.named_children(&mut cursor) {
                    match child.kind() {
                        "except_clause" | "except_group_clause" => {
                            guards_import |= self.catches_import_error(child);
                            stack.push((child, ctx));
                        }
                        "else_clause" | "finally_clause" => stack.push((child, ctx)),
                        _ => {}
                    }
                }
                push_field(stack, "body", Ctx { weak: ctx.weak || guards_import, ..ctx });
            }
            "with_statement" => {
                let mut suppresses = false;
                let mut cursor = node.walk();
                for clause in node.named_children(&mut cursor) {
                    if clause.kind() == "with_clause" {
                        let mut items = clause.walk();
                        for item in clause.named_children(&mut items) {
                            if let Some(value) = item.child_by_field_name("value") {
                                suppresses |= self.suppresses_import_error(value);
                                self.scan_calls(value, ctx);
                            }
                        }
                    }
                }
                push_field(stack, "body", Ctx { weak: ctx.weak || suppresses, ..ctx });
            }
            "function_definition" => push_field(stack, "body", Ctx { deferred: true, ..ctx }),
            "class_definition" => push_field(stack, "body", ctx),
            "decorated_definition" => push_field(stack, "definition", ctx),
            "for_statement" | "while_statement" => {
                push_field(stack, "body", ctx);
                push_field(stack, "alternative", ctx);
                for field in ["right", "condition"] {
                    if let Some(expr) = node.child_by_field_name(field) {
                        self.scan_calls(expr, ctx);
                    }
                }
            }
            "match_statement" => {
                if let Some(body) = node.child_by_field_name("body") {
                    let mut cursor = body.walk();
                    for case in body.named_children(&mut cursor) {
                        if let Some(consequence) = case.child_by_field_name("consequence") {
                            stack.push((consequence, ctx));
                        }
                    }
                }
            }
            // `from __future__ import x` changes the compiler, not the dependencies.
            "future_import_statement" | "comment" => {}
            _ => self.scan_calls(node, ctx),
        }
    }

    /// Error recovery: an import swallowed by an ERROR node (say, after an unclosed
    /// bracket) is found by parsing each line of the node that starts like an import on
    /// its own. Duplicates of imports the tree already had are removed afterwards.
    fn recover_lines(&mut self, node: Node<'_>, ctx: Ctx) {
        let start = node.start_byte();
        let source = self.source;
        let bytes = &source[node.byte_range()];
        let mut offset = 0;
        let first_column = node.start_position().column;
        for (row, line) in (node.start_position().row..).zip(bytes.split(|b| *b == b'\n')) {
            let indent = line.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
            let rest = &line[indent..];
            if rest.starts_with(b"import ") || rest.starts_with(b"from ") {
                let mut parser = new_parser();
                if let Some(tree) = parser.parse(rest, None) {
                    let mut walker = Walker { source: rest, imports: Vec::new() };
                    walker.walk_without_recovery(tree.root_node(), ctx);
                    let column = if offset == 0 { first_column } else { 0 } + indent;
                    let base = (start + offset + indent) as u32;
                    for mut import in walker.imports {
                        shift(&mut import.range, base, row as u32, column as u32);
                        for name in &mut import.names {
                            shift(&mut name.range, base, row as u32, column as u32);
                        }
                        self.imports.push(import);
                    }
                }
            }
            offset += line.len() + 1;
        }
    }

    fn walk_without_recovery(&mut self, root: Node<'_>, ctx: Ctx) {
        let mut cursor = root.walk();
        for child in root.named_children(&mut cursor) {
            match child.kind() {
                "import_statement" => self.import_statement(child, ctx),
                "import_from_statement" => self.import_from_statement(child, ctx),
                _ => {}
            }
        }
    }

    fn import_statement(&mut self, node: Node<'_>, ctx: Ctx) {
        let mut cursor = node.walk();
        for name in node.children_by_field_name("name", &mut cursor) {
            let dotted =
                if name.kind() == "aliased_import" { name.child_by_field_name("name") } else { Some(name) };
            if let Some(dotted) = dotted {
                let module = dotted_text(self.text(dotted));
                if !module.is_empty() {
                    self.push(
                        Import {
                            module,
                            level: 0,
                            names: Vec::new(),
                            kind: ImportKind::Import,
                            weak: ctx.weak,
                            type_only: ctx.type_only,
                            deferred: ctx.deferred,
                            range: range_of(dotted),
                        },
                        node,
                    );
                }
            }
        }
    }

    fn import_from_statement(&mut self, node: Node<'_>, ctx: Ctx) {
        // One pass over the children (field lookups each walk them again, which shows in
        // generated files with thousands of from-imports).
        let mut module_node = None;
        let mut names = Vec::new();
        let mut cursor = node.walk();
        if cursor.goto_first_child() {
            loop {
                let child = cursor.node();
                match cursor.field_name() {
                    Some("module_name") => module_node = Some(child),
                    Some("name") => {
                        let dotted = if child.kind() == "aliased_import" {
                            child.child_by_field_name("name")
                        } else {
                            Some(child)
                        };
                        if let Some(dotted) = dotted {
                            names.push(ImportedName {
                                name: dotted_text(self.text(dotted)),
                                range: range_of(dotted),
                            });
                        }
                    }
                    _ if child.kind() == "wildcard_import" => {
                        names.push(ImportedName { name: "*".to_owned(), range: range_of(child) });
                    }
                    _ => {}
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        let Some(module_node) = module_node else {
            return;
        };
        let (module, level) = if module_node.kind() == "relative_import" {
            let mut level = 0;
            let mut module = String::new();
            let mut cursor = module_node.walk();
            for child in module_node.children(&mut cursor) {
                match child.kind() {
                    "import_prefix" => level = self.bytes(child).iter().filter(|b| **b == b'.').count(),
                    "dotted_name" => module = dotted_text(self.text(child)),
                    _ => {}
                }
            }
            (module, level)
        } else {
            (dotted_text(self.text(module_node)), 0)
        };
        if level == 0 && (module.is_empty() || module == "__future__") {
            return;
        }
        self.push(
            Import {
                module,
                level: u32::try_from(level).unwrap_or(u32::MAX),
                names,
                kind: ImportKind::From,
                weak: ctx.weak,
                type_only: ctx.type_only,
                deferred: ctx.deferred,
                range: range_of(module_node),
            },
            node,
        );
    }

    /// `TYPE_CHECKING`, `typing.TYPE_CHECKING`, `t.TYPE_CHECKING`, and the same negated
    /// nowhere: only the plain forms count.
    fn is_type_checking(&self, condition: Node<'_>) -> bool {
        match condition.kind() {
            "identifier" => self.text(condition) == "TYPE_CHECKING",
            "attribute" => {
                condition.child_by_field_name("attribute").is_some_and(|a| self.text(a) == "TYPE_CHECKING")
            }
            "parenthesized_expression" => {
                condition.named_child(0).is_some_and(|inner| self.is_type_checking(inner))
            }
            _ => false,
        }
    }

    /// An `except` clause that catches ImportError, ModuleNotFoundError, Exception,
    /// BaseException, or everything (a bare `except:`).
    fn catches_import_error(&self, clause: Node<'_>) -> bool {
        let value = clause.child_by_field_name("value").or_else(|| {
            // Grammar versions differ: take the first named child that is not the body.
            let mut cursor = clause.walk();
            clause.named_children(&mut cursor).find(|c| !matches!(c.kind(), "block" | "comment"))
        });
        let Some(value) = value else {
            return true; // bare `except:`
        };
        self.names_import_error(value)
    }

    fn names_import_error(&self, expr: Node<'_>) -> bool {
        match expr.kind() {
            "identifier" | "attribute" => {
                let text = self.text(expr);
                let last = text.rsplit('.').next().unwrap_or(text);
                matches!(last, "ImportError" | "ModuleNotFoundError" | "Exception" | "BaseException")
            }
            "tuple" | "parenthesized_expression" | "expression_list" => {
                let mut cursor = expr.walk();
                expr.named_children(&mut cursor).any(|c| self.names_import_error(c))
            }
            // `except ImportError as e` in grammars that wrap the pair.
            "as_pattern" => expr.named_child(0).is_some_and(|c| self.names_import_error(c)),
            _ => false,
        }
    }

    /// `suppress(ImportError)` / `contextlib.suppress(ModuleNotFoundError, ...)`.
    fn suppresses_import_error(&self, value: Node<'_>) -> bool {
        let value = if value.kind() == "as_pattern" { value.named_child(0).unwrap_or(value) } else { value };
        if value.kind() != "call" {
            return false;
        }
        let is_suppress = value.child_by_field_name("function").is_some_and(|f| {
            let text = self.text(f);
            text == "suppress" || text.ends_with(".suppress")
        });
        is_suppress
            && value.child_by_field_name("arguments").is_some_and(|args| {
                let mut cursor = args.walk();
                args.named_children(&mut cursor).any(|a| self.names_import_error(a))
            })
    }

    /// Finds `__import__("a")` and `import_module("a", package="b")` calls inside a simple
    /// statement or expression. Only entered when the bytes mention them.
    fn scan_calls(&mut self, node: Node<'_>, ctx: Ctx) {
        let bytes = self.bytes(node);
        if !contains(bytes, b"__import__") && !contains(bytes, b"import_module") {
            return;
        }
        let mut cursor = node.walk();
        let mut descend = true;
        loop {
            let current = cursor.node();
            if descend && current.kind() == "call" {
                self.dynamic_import(current, ctx);
            }
            if descend && cursor.goto_first_child() {
                continue;
            }
            descend = true;
            if cursor.node() == node {
                break;
            }
            if cursor.goto_next_sibling() {
                continue;
            }
            // Climb until a sibling exists or we are back at the start.
            loop {
                if !cursor.goto_parent() || cursor.node() == node {
                    return;
                }
                if cursor.goto_next_sibling() {
                    break;
                }
            }
        }
    }

    fn dynamic_import(&mut self, call: Node<'_>, ctx: Ctx) {
        let Some(function) = call.child_by_field_name("function") else { return };
        let name = self.text(function);
        let is_dunder = name == "__import__";
        let is_import_module = name == "import_module" || name.ends_with(".import_module");
        if !is_dunder && !is_import_module {
            return;
        }
        let Some(args) = call.child_by_field_name("arguments") else { return };
        let mut cursor = args.walk();
        let mut first = None;
        let mut package = None;
        for arg in args.named_children(&mut cursor) {
            match arg.kind() {
                "string" if first.is_none() => first = Some(arg),
                "keyword_argument" => {
                    let key = arg.child_by_field_name("name").map(|n| self.text(n));
                    let value = arg.child_by_field_name("value");
                    match (key, value) {
                        (Some("package"), Some(v)) if v.kind() == "string" => package = self.literal(v),
                        (Some("name"), Some(v)) if v.kind() == "string" && first.is_none() => first = Some(v),
                        _ => {}
                    }
                }
                "comment" => {}
                _ if first.is_none() => return, // first argument is not a literal
                _ => {}
            }
        }
        let Some(first) = first else { return };
        let Some(literal) = self.literal(first) else { return };
        let level = literal.bytes().take_while(|b| *b == b'.').count();
        let module = if level == 0 {
            literal
        } else if is_import_module {
            // `import_module(".x", package="a.b")`: relative to the literal package.
            let Some(package) = package else { return };
            let parts: Vec<&str> = package.split('.').collect();
            if level > parts.len() {
                return;
            }
            let mut base = parts[..=parts.len() - level].join(".");
            let rest = &literal[level..];
            if !rest.is_empty() {
                if !base.is_empty() {
                    base.push('.');
                }
                base.push_str(rest);
            }
            base
        } else {
            return;
        };
        if !is_dotted_module(&module) {
            return;
        }
        self.push(
            Import {
                module,
                level: 0,
                names: Vec::new(),
                kind: ImportKind::Dynamic,
                weak: ctx.weak,
                type_only: ctx.type_only,
                deferred: ctx.deferred,
                range: range_of(first),
            },
            call,
        );
    }

    /// The value of a plain string literal (no interpolation, no escapes), or None.
    fn literal(&self, string: Node<'_>) -> Option<String> {
        let mut cursor = string.walk();
        let mut value = String::new();
        for child in string.children(&mut cursor) {
            match child.kind() {
                "string_start" => {
                    let prefix = self.text(child);
                    if prefix.chars().any(|c| matches!(c, 'f' | 'F' | 'b' | 'B' | 't' | 'T')) {
                        return None;
                    }
                }
                "string_content" => value.push_str(self.text(child)),
                "string_end" => {}
                _ => return None,
            }
        }
        Some(value)
    }

    /// Every string literal in the file shaped like `a.b.c` with at least `min_dots` dots.
    fn string_imports(&mut self, root: Node<'_>, min_dots: u32) {
        let mut cursor = root.walk();
        let mut descend = true;
        loop {
            let node = cursor.node();
            if descend && node.kind() == "string" {
                if let Some(value) = self.literal(node) {
                    let dots = value.bytes().filter(|b| *b == b'.').count();
                    if dots >= min_dots as usize && is_dotted_module(&value) {
                        self.push(
                            Import {
                                module: value,
                                level: 0,
                                names: Vec::new(),
                                kind: ImportKind::String,
                                weak: true,
                                type_only: false,
                                deferred: true,
                                range: range_of(node),
                            },
                            node,
                        );
                    }
                }
                descend = false;
            }
            if descend && cursor.goto_first_child() {
                continue;
            }
            descend = true;
            if cursor.goto_next_sibling() {
                continue;
            }
            loop {
                if !cursor.goto_parent() {
                    return;
                }
                if cursor.goto_next_sibling() {
                    break;
                }
            }
        }
    }
}

/// Syntax errors: ERROR and MISSING nodes, visiting only subtrees that contain one.
fn syntax_errors(root: Node<'_>, source: &[u8]) -> Vec<SyntaxError> {
    let mut errors = Vec::new();
    if !root.has_error() {
        return errors;
    }
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if errors.len() >= MAX_SYNTAX_ERRORS {
            break;
        }
        if node.is_missing() {
            errors.push(SyntaxError {
                range: range_of(node),
                message: format!("syntax error: missing `{}`; {AFTER_ERROR}", node.kind()),
            });
            continue;
        }
        if node.is_error() {
            let text = String::from_utf8_lossy(&source[node.byte_range()]);
            let first_line = text.lines().next().unwrap_or("").trim();
            let shown: String = first_line.chars().take(40).collect();
            let message = if shown.is_empty() {
                format!("syntax error; {AFTER_ERROR}")
            } else {
                format!("syntax error near `{shown}`; {AFTER_ERROR}")
            };
            errors.push(SyntaxError { range: range_of(node), message });
            continue;
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> =
            node.children(&mut cursor).filter(tree_sitter::Node::has_error).collect();
        stack.extend(children.into_iter().rev());
    }
    errors.sort_by_key(|e| e.range.start_byte);
    errors
}

/// Moves a range found in a single line parsed alone to where that line is in the file.
fn shift(range: &mut TextRange, base: u32, row: u32, column: u32) {
    range.start_byte += base;
    range.end_byte += base;
    range.start.column += column;
    range.end.column += column;
    range.start.line += row;
    range.end.line += row;
}

fn range_of(node: Node<'_>) -> TextRange {
    let s = node.start_position();
    let e = node.end_position();
    TextRange {
        start_byte: node.start_byte() as u32,
        end_byte: node.end_byte() as u32,
        start: Position { line: s.row as u32, column: s.column as u32 },
        end: Position { line: e.row as u32, column: e.column as u32 },
    }
}

/// `a . b` (spaces or continuation lines inside a dotted name) → `a.b`.
fn dotted_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && *c != '\\').collect()
}

fn is_dotted_module(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// True when the pragma stands in a comment on the first or last line of the statement
/// spanning `start_byte..end_byte`.
fn has_pragma(source: &[u8], start_byte: u32, end_byte: u32) -> bool {
    let line_of = |offset: usize| {
        let offset = offset.min(source.len());
        let start = source[..offset].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        let end = source[offset..].iter().position(|b| *b == b'\n').map_or(source.len(), |p| offset + p);
        &source[start..end]
    };
    let pragma = NO_INFER_PRAGMA.as_bytes();
    let check = |line: &[u8]| {
        line.iter().position(|b| *b == b'#').is_some_and(|hash| contains(&line[hash..], pragma))
    };
    check(line_of(start_byte as usize)) || check(line_of(end_byte as usize))
}

#[cfg(test)]
mod tests;
