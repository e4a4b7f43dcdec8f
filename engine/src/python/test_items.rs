//! Test discovery: Python source bytes in, the pytest test items (functions, classes, methods) with their node-id suffixes and ranges out. Pure, total, no I/O.
//!
//! pytest's default rules, read from the syntax alone: functions named `test*` at module
//! level, classes named `Test*` that define no `__init__` or `__new__` (pytest refuses those)
//! and do not set `__test__ = False`, and their methods named `test*`, nested `Test*` classes
//! included. Definitions inside module- or class-level compound statements (`if`, `try`,
//! `with`, …) count, as they end up in the module's or class's namespace; functions nested in
//! functions do not. A name defined twice in one scope is collected once, at its last
//! definition, as pytest sees only that one. What pytest decides at run time (inherited tests,
//! `python_functions` settings, plugins) is not modelled.

use tree_sitter::Node;

use super::imports::{Position, TextRange, new_parser};

/// What kind of test item a definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestItemKind {
    /// A module-level `def test*` (sync or async).
    Function,
    /// A `class Test*`, at module level or nested in another test class.
    Class,
    /// A `def test*` in a test class.
    Method,
}

/// One test item pytest would collect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TestItem {
    /// The function's or class's own name: `test_x`, `TestFoo`.
    pub name: String,
    /// The pytest node id after `path::`: `test_x`, `TestFoo::test_y`,
    /// `TestOuter::TestInner::test_z` (without parametrization ids).
    pub id: String,
    pub kind: TestItemKind,
    /// The name's identifier in the `def` or `class` line.
    pub range: TextRange,
    /// The first and last line (0-based, inclusive) of the whole definition: from its first
    /// decorator (or the `def`/`class` line) to the end of its body.
    pub line_range: (u32, u32),
}

/// The test items of a source file, in source order. Never fails: what tree-sitter parses
/// around a syntax error is still reported, and top-level definitions it swallowed into an
/// error (after an unclosed bracket, say) are parsed again one by one.
pub fn test_items(source: &[u8]) -> Vec<TestItem> {
    let mut parser = new_parser();
    let Some(tree) = parser.parse(source, None) else {
        return Vec::new();
    };
    let mut found: Vec<Found> = Vec::new();
    let root = tree.root_node();
    walk(root, source, &mut found);
    let mut cursor = root.walk();
    let errors: Vec<Node<'_>> = if root.is_error() {
        vec![root]
    } else {
        root.named_children(&mut cursor).filter(Node::is_error).collect()
    };
    for error in errors {
        for range in top_level_chunks(source, error) {
            if parser.set_included_ranges(&[range]).is_ok()
                && let Some(chunk) = parser.parse(source, None)
            {
                walk(chunk.root_node(), source, &mut found);
            }
        }
    }
    last_definitions(found)
}

/// Adds the test items below `root` (a module, or a chunk of one) to `found`.
fn walk<'t>(root: Node<'t>, source: &[u8], found: &mut Vec<Found>) {
    // (node whose children to visit, index of the enclosing test class in `found`)
    let mut stack: Vec<(Node<'t>, Option<usize>)> = vec![(root, None)];
    while let Some((node, class)) = stack.pop() {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            let (definition, outer) = match child.kind() {
                "decorated_definition" => match child.child_by_field_name("definition") {
                    Some(definition) => (definition, child),
                    None => continue,
                },
                "function_definition" | "class_definition" => (child, child),
                kind if is_container(kind) => {
                    stack.push((child, class));
                    continue;
                }
                _ => continue,
            };
            let Some(name_node) = definition.child_by_field_name("name") else { continue };
            let name = String::from_utf8_lossy(&source[name_node.byte_range()]).into_owned();
            let kind = match definition.kind() {
                "function_definition" if name.starts_with("test") => {
                    if class.is_some() {
                        TestItemKind::Method
                    } else {
                        TestItemKind::Function
                    }
                }
                "class_definition" if name.starts_with("Test") && collectable(definition, source) => {
                    TestItemKind::Class
                }
                _ => continue,
            };
            let id = match class {
                Some(parent) => format!("{}::{name}", found[parent].item.id),
                None => name.clone(),
            };
            found.push(Found {
                item: TestItem { name, id, kind, range: range_of(name_node), line_range: lines_of(outer) },
                parent: class,
            });
            if kind == TestItemKind::Class
                && let Some(body) = definition.child_by_field_name("body")
            {
                stack.push((body, Some(found.len() - 1)));
            }
        }
    }
}

/// The lines of a top-level error cut where a top-level definition starts (a line beginning
/// with `def`, `async def`, `class` or a decorator), each to be parsed on its own, so one
/// broken definition cannot hide the ones after it. The pieces do not overlap: the extra
/// parsing is at most the size of the error.
fn top_level_chunks(source: &[u8], error: Node<'_>) -> Vec<tree_sitter::Range> {
    let line_start = |at: usize| source[..at].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let line_end = |at: usize| source[at..].iter().position(|b| *b == b'\n').map_or(source.len(), |p| at + p);
    let (first, end) = (line_start(error.start_byte()), line_end(error.end_byte()));
    let mut chunks = Vec::new();
    let mut chunk = tree_sitter::Range {
        start_byte: first,
        end_byte: end,
        start_point: tree_sitter::Point { row: error.start_position().row, column: 0 },
        end_point: tree_sitter::Point { row: error.end_position().row, column: end - line_start(end) },
    };
    // A decorator's chunk runs on to the definition it decorates.
    let mut decorated = false;
    let (mut offset, mut row) = (first, chunk.start_point.row);
    while offset < end {
        let line = &source[offset..line_end(offset)];
        let definition = [&b"def "[..], b"async def ", b"class "].iter().any(|k| line.starts_with(k));
        let decorator = line.starts_with(b"@");
        if (definition || decorator) && !decorated && offset > chunk.start_byte {
            let point = tree_sitter::Point { row, column: 0 };
            chunks.push(tree_sitter::Range { end_byte: offset, end_point: point, ..chunk });
            (chunk.start_byte, chunk.start_point) = (offset, point);
        }
        decorated = decorator || (decorated && !definition);
        (offset, row) = (offset + line.len() + 1, row + 1);
    }
    chunks.push(chunk);
    chunks
}

/// An item and the index of the test class it is in.
struct Found {
    item: TestItem,
    parent: Option<usize>,
}

/// Keeps the last definition of each id (and only the items inside kept classes), in
/// source order.
fn last_definitions(found: Vec<Found>) -> Vec<TestItem> {
    // id → the index of its last definition; a definition found twice (in the tree and
    // again in a chunk of an error) counts once, the first time.
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, f) in found.iter().enumerate() {
        let winner = last.entry(f.item.id.as_str()).or_insert(i);
        if f.item.range.start_byte > found[*winner].item.range.start_byte {
            *winner = i;
        }
    }
    // Parents come before their children in `found`, so one pass decides both.
    let mut kept = vec![false; found.len()];
    for (i, f) in found.iter().enumerate() {
        kept[i] = last[f.item.id.as_str()] == i && f.parent.is_none_or(|p| kept[p]);
    }
    let mut items: Vec<TestItem> =
        found.into_iter().zip(kept).filter(|(_, keep)| *keep).map(|(f, _)| f.item).collect();
    items.sort_by_key(|i| i.range.start_byte);
    items
}

/// Statements whose bodies put definitions in the enclosing scope's namespace (and `ERROR`,
/// which tree-sitter wraps around what it could not parse: definitions inside still count).
fn is_container(kind: &str) -> bool {
    matches!(
        kind,
        "block"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "try_statement"
            | "except_clause"
            | "except_group_clause"
            | "finally_clause"
            | "with_statement"
            | "for_statement"
            | "while_statement"
            | "match_statement"
            | "case_clause"
            | "ERROR"
    )
}

/// Whether pytest collects a `Test*` class: not when it defines `__init__` or `__new__`,
/// nor when its body sets `__test__ = False`.
fn collectable(class: Node<'_>, source: &[u8]) -> bool {
    let Some(body) = class.child_by_field_name("body") else { return true };
    let text = |node: Option<Node<'_>>| node.map(|n| &source[n.byte_range()]);
    let mut cursor = body.walk();
    !body.named_children(&mut cursor).any(|statement| {
        let definition = match statement.kind() {
            "decorated_definition" => statement.child_by_field_name("definition"),
            "function_definition" => Some(statement),
            "expression_statement" => {
                let assignment = statement.named_child(0).filter(|n| n.kind() == "assignment");
                return assignment.is_some_and(|a| {
                    text(a.child_by_field_name("left")) == Some(b"__test__")
                        && text(a.child_by_field_name("right")) == Some(b"False")
                });
            }
            _ => None,
        };
        let name = text(definition.and_then(|d| d.child_by_field_name("name")));
        name == Some(b"__init__") || name == Some(b"__new__")
    })
}

/// The first and last line of a node; a node that ends at the start of a line ends on the
/// line before.
fn lines_of(node: Node<'_>) -> (u32, u32) {
    let start = node.start_position().row;
    let end = node.end_position();
    let last = if end.column == 0 && end.row > start { end.row - 1 } else { end.row };
    (start as u32, last as u32)
}

/// A node's range, as `python::imports` gives ranges (UTF-8 byte columns).
fn range_of(node: Node<'_>) -> TextRange {
    let (s, e) = (node.start_position(), node.end_position());
    TextRange {
        start_byte: node.start_byte() as u32,
        end_byte: node.end_byte() as u32,
        start: Position { line: s.row as u32, column: s.column as u32 },
        end: Position { line: e.row as u32, column: e.column as u32 },
    }
}

#[cfg(test)]
mod tests;
