//! Code lenses: "▶ Run N affected tests (M files)" (or "▶ Run N tests" on a test file) and "N dependents" on every module's first line of code; "▶ Run test", "▶ Debug test" (for clients that said they handle `pleat.debugTest`) and the last result (a status, not an action) on each test function, method and class. Every lens carries its command's arguments, so the server keeps no per-lens state.

use engine::goals::test::Outcome;
use engine::project::TargetKind;
use engine::python::test_items::test_items;
use std::sync::Arc;

use serde_json::json;
use tower_lsp_server::ls_types::{CodeLens, Command, Position, Range, Uri};

use super::state::State;
use super::text::Text;
use super::workspace::{ItemCache, TestItems, Workspace};
use engine::parse_cache::ContentDigest;

fn lens(range: Range, title: String, command: &str, argument: serde_json::Value) -> CodeLens {
    CodeLens {
        range,
        command: Some(Command { title, command: command.to_owned(), arguments: Some(vec![argument]) }),
        data: None,
    }
}

pub fn lenses(state: &State, uri: &Uri) -> Vec<CodeLens> {
    let Some((index, path)) = state.locate_uri(uri) else { return Vec::new() };
    let ws = &state.workspaces[index];
    let project = &ws.project;
    let Some(id) = project.id(&path) else { return Vec::new() };
    let text = state.text(index, &path);
    let first = first_code_line(&text);
    let top =
        Range { start: Position { line: first, character: 0 }, end: Position { line: first, character: 0 } };
    let affected = project.affected_tests(&[id]);
    // Counting a file's tests parses it once per content; beyond a few files that is done on
    // a blocking thread, and the lenses are refreshed when it is.
    let unparsed: Vec<&str> = affected
        .iter()
        .map(|t| project.path(*t))
        .filter(|p| {
            known_items(ws, p, project.id(p).and_then(|i| project.file(i)).map(|f| f.digest)).is_none()
        })
        .collect();
    let run_title = if unparsed.len() > PARSE_INLINE {
        parse_later(state, index, &unparsed);
        format!("▶ Run affected tests ({}, counting)", plural(affected.len(), "file"))
    } else {
        let tests: usize = affected.iter().map(|t| test_count(state, index, project.path(*t))).sum();
        if affected == [id] {
            format!("▶ Run {}", plural(tests, "test"))
        } else {
            format!("▶ Run {} affected {} ({})", tests, noun(tests, "test"), plural(affected.len(), "file"))
        }
    };
    let dependents = project.dependents(&[id], false).len();
    let file = json!({ "file": uri.as_str() });
    let mut out = vec![
        lens(top, run_title, "pleat.runAffected", file.clone()),
        lens(top, plural(dependents, "dependent"), "pleat.showDependents", file),
    ];
    if project.file(id).is_none_or(|f| f.kind != TargetKind::Test) {
        return out;
    }
    for (item, range) in items(state, index, &path).iter() {
        let range = *range;
        let test = format!("{path}::{}", item.id);
        out.push(lens(range, "▶ Run test".to_owned(), "pleat.runTests", json!({ "tests": [test] })));
        if state.caps.debug_test {
            // The client's command, never the server's: a debugger attaches in the editor,
            // which starts `pleat test --debug-adapter <test>` from `root`.
            out.push(lens(
                range,
                "▶ Debug test".to_owned(),
                "pleat.debugTest",
                json!({ "test": test, "file": uri.as_str(), "root": project.root }),
            ));
        }
        if let Some((outcome, duration, cached)) = ws.results.test_result(project, &path, &item.id) {
            let mut title = match outcome {
                Outcome::Passed => format!("✓ {}", seconds(duration)),
                Outcome::Failed => "✕ failed".to_owned(),
                Outcome::Error => "✕ error".to_owned(),
                Outcome::Skipped => "○ skipped".to_owned(),
            };
            if cached {
                title.push_str(", cached");
            }
            // A status, not an action: an empty command is shown and never offered to run
            // (clients that list a line's lenses as a picker leave it out).
            out.push(CodeLens {
                range,
                command: Some(Command { title, command: String::new(), arguments: None }),
                data: None,
            });
        }
    }
    out
}

/// Where a module's lenses go (0-based): its first line of code, after the comments, blank
/// lines and docstring that open it (a license header is no place for them); line 0 when the
/// module holds nothing else.
fn first_code_line(text: &str) -> u32 {
    let mut lines = text.lines().enumerate().peekable();
    let skip_trivia = |lines: &mut std::iter::Peekable<std::iter::Enumerate<std::str::Lines<'_>>>| {
        while lines.next_if(|(_, l)| l.trim().is_empty() || l.trim_start().starts_with('#')).is_some() {}
    };
    skip_trivia(&mut lines);
    if let Some((_, line)) = lines.peek() {
        let opened = line.trim_start().trim_start_matches(['r', 'R', 'u', 'U', 'b', 'B']);
        if let Some(quote) = ["\"\"\"", "'''"].into_iter().find(|q| opened.starts_with(q)) {
            let mut rest = &opened[3..];
            lines.next();
            while !rest.contains(quote) {
                match lines.next() {
                    Some((_, next)) => rest = next,
                    None => return 0,
                }
            }
            skip_trivia(&mut lines);
        } else if opened.starts_with(['"', '\'']) {
            lines.next();
            skip_trivia(&mut lines);
        }
    }
    lines.peek().map_or(0, |(n, _)| u32::try_from(*n).unwrap_or(0))
}

/// "1 test", "3 tests".
fn plural(n: usize, what: &str) -> String {
    format!("{n} {}", noun(n, what))
}

fn noun(n: usize, what: &str) -> String {
    if n == 1 { what.to_owned() } else { format!("{what}s") }
}

/// A test's time as a person reads it: "4 ms", "0.31 s", "12.50 s".
fn seconds(s: f64) -> String {
    if s < 0.001 {
        "<1 ms".to_owned()
    } else if s < 0.1 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// How many tests a test file holds: its test functions and methods as written, or what
/// its last current run collected when that is more (parameters).
fn test_count(state: &State, index: usize, path: &str) -> usize {
    let ws = &state.workspaces[index];
    let ran = ws
        .results
        .tests
        .get(path)
        .filter(|r| super::results::Results::current(&ws.project, path, r.seen.get(path)))
        .map_or(0, |r| r.result.tests.iter().filter(|c| c.name.contains("::")).count());
    let written = items(state, index, path)
        .iter()
        .filter(|(i, _)| i.kind != engine::python::test_items::TestItemKind::Class)
        .count();
    written.max(ran)
}

/// Test files a lens parses on the state task; more are parsed on a blocking thread.
const PARSE_INLINE: usize = 16;

/// A test file to parse off the state task: its path, where it is, the open buffer's text if
/// there is one, and the content digest the project knows.
pub struct ToParse {
    pub path: String,
    pub full: std::path::PathBuf,
    pub open: Option<String>,
    pub digest: ContentDigest,
}

impl ToParse {
    pub fn new(state: &State, index: usize, path: &str, digest: ContentDigest) -> Self {
        let full = state.workspaces[index].project.root.join(path);
        let open = state.documents.values().find(|d| d.file == full).map(|d| d.text.to_string());
        Self { path: path.to_owned(), full, open, digest }
    }

    /// Parses the file's items (on any thread) and remembers them when the text read is the
    /// content the project knows (the file may have changed since).
    pub fn parse(self, cache: &ItemCache) -> TestItems {
        let text = self.open.unwrap_or_else(|| {
            std::fs::read(&self.full).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
        });
        let items = parse_items(&Text::new(&text));
        if *blake3::hash(text.as_bytes()).as_bytes() == self.digest {
            remember_items(cache, &self.path, Some(self.digest), &items);
        }
        items
    }
}

/// Parses test files' items on a blocking thread (one batch at a time per workspace), then
/// asks the client for the lenses again.
fn parse_later(state: &State, index: usize, paths: &[&str]) {
    use std::sync::atomic::Ordering;
    let ws = &state.workspaces[index];
    if ws.items_pending.swap(true, Ordering::SeqCst) {
        return;
    }
    let files: Vec<ToParse> = paths
        .iter()
        .filter_map(|p| {
            let digest = ws.project.id(p).and_then(|i| ws.project.file(i))?.digest;
            Some(ToParse::new(state, index, p, digest))
        })
        .collect();
    let (cache, pending, client) =
        (Arc::clone(&ws.test_items), Arc::clone(&ws.items_pending), state.client.clone());
    let refresh = state.caps.code_lens_refresh;
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        for file in files {
            file.parse(&cache);
        }
        pending.store(false, Ordering::SeqCst);
        if refresh {
            runtime.spawn(async move {
                let wait = std::time::Duration::from_secs(5);
                let _ = tokio::time::timeout(wait, client.code_lens_refresh()).await;
            });
        }
    });
}

/// A test file's items with their ranges, parsed once per content of the file (the
/// project's digest: the open buffer's when there is one).
pub fn items(state: &State, index: usize, path: &str) -> TestItems {
    let ws = &state.workspaces[index];
    let digest = ws.project.id(path).and_then(|id| ws.project.file(id)).map(|f| f.digest);
    known_items(ws, path, digest).unwrap_or_else(|| {
        let parsed = parse_items(&state.text(index, path));
        remember_items(&ws.test_items, path, digest, &parsed);
        parsed
    })
}

/// A test file's items if they were parsed for this content already.
pub fn known_items(ws: &Workspace, path: &str, digest: Option<ContentDigest>) -> Option<TestItems> {
    let digest = digest?;
    ws.test_items.lock().ok()?.get(path).filter(|(d, _)| *d == digest).map(|(_, items)| Arc::clone(items))
}

/// Parses a test file's items and their LSP ranges.
pub fn parse_items(text: &Text<'_>) -> TestItems {
    Arc::new(
        test_items(text.as_bytes())
            .into_iter()
            .map(|item| {
                let range = text.range(&item.range);
                (item, range)
            })
            .collect(),
    )
}

/// Keeps a test file's items for its content.
pub fn remember_items(cache: &ItemCache, path: &str, digest: Option<ContentDigest>, items: &TestItems) {
    if let Some(digest) = digest
        && let Ok(mut cache) = cache.lock()
    {
        cache.insert(path.to_owned(), (digest, Arc::clone(items)));
    }
}

/// The range of a test's definition name in a test file (the id without parameters).
pub fn test_range(state: &State, index: usize, path: &str, id: &str) -> Option<Range> {
    TestRanges::of(state, index, path).get(id)
}

/// The ranges of every test definition of one test file, by test id (a report of a
/// parametrised file asks for hundreds).
pub struct TestRanges(std::collections::HashMap<String, Range>);

impl TestRanges {
    pub fn of(state: &State, index: usize, path: &str) -> Self {
        let mut ranges = std::collections::HashMap::new();
        for (item, range) in items(state, index, path).iter() {
            // A name defined twice: the first definition, as the lenses show it.
            ranges.entry(item.id.clone()).or_insert(*range);
        }
        Self(ranges)
    }

    /// The range of test `id` (pytest's node id after `path::`, parameters ignored).
    pub fn get(&self, id: &str) -> Option<Range> {
        self.0.get(id.split('[').next().unwrap_or(id)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::first_code_line;

    #[test]
    fn module_lenses_sit_on_the_first_line_of_code() {
        assert_eq!(first_code_line("import os\n"), 0);
        assert_eq!(first_code_line(""), 0);
        assert_eq!(
            first_code_line("# Licensed under the Apache License, a long header line\n#\n\nimport os\n"),
            3
        );
        assert_eq!(first_code_line("\"\"\"Docs.\n\nMore.\n\"\"\"\n# comment\nfrom a import b\n"), 5);
        assert_eq!(first_code_line("r'''One line.'''\n\nx = 1\n"), 2);
        assert_eq!(first_code_line("\"Short docstring.\"\ndef f():\n    pass\n"), 1);
        assert_eq!(first_code_line("# only a comment\n\"\"\"and a docstring\"\"\"\n"), 0);
    }
}
