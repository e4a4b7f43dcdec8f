//! Code lenses: "▶ Run N affected tests" and "N dependents" on every module's first line; "▶ Run test" and the last result on each test function, method and class. Every lens carries its command's arguments, so the server keeps no per-lens state.

use engine::goals::test::Outcome;
use engine::project::TargetKind;
use engine::python::test_items::test_items;
use serde_json::json;
use tower_lsp_server::ls_types::{CodeLens, Command, Position, Range, Uri};

use super::state::State;
use super::to_proto;

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
    let top = Range { start: Position { line: 0, character: 0 }, end: Position { line: 0, character: 0 } };
    let affected = project.affected_tests(&[id]).len();
    let dependents = project.dependents(&[id], false).len();
    let file = json!({ "file": uri.as_str() });
    let mut out = vec![
        lens(
            top,
            format!("▶ Run {affected} affected test{}", if affected == 1 { "" } else { "s" }),
            "pleat.runAffected",
            file.clone(),
        ),
        lens(
            top,
            format!("{dependents} dependent{}", if dependents == 1 { "" } else { "s" }),
            "pleat.showDependents",
            file,
        ),
    ];
    if project.file(id).is_none_or(|f| f.kind != TargetKind::Test) {
        return out;
    }
    let text = state.text(index, &path);
    for item in test_items(text.as_bytes()) {
        let range = to_proto::range(&text, &item.range);
        let test = format!("{path}::{}", item.id);
        out.push(lens(range, "▶ Run test".to_owned(), "pleat.runTests", json!({ "tests": [test] })));
        if let Some((outcome, duration, cached)) = ws.results.test_result(project, &path, &item.id) {
            let mut title = match outcome {
                Outcome::Passed => format!("✓ {duration:.2} s"),
                Outcome::Failed => "✕ failed".to_owned(),
                Outcome::Error => "✕ error".to_owned(),
                Outcome::Skipped => "○ skipped".to_owned(),
            };
            if cached {
                title.push_str(" (cached)");
            }
            out.push(lens(range, title, "pleat.runTests", json!({ "tests": [test], "force": true })));
        }
    }
    out
}

/// The range of a test's definition name in a test file's text (the id without parameters).
pub fn test_range(text: &str, id: &str) -> Option<Range> {
    let id = id.split('[').next().unwrap_or(id);
    test_items(text.as_bytes())
        .into_iter()
        .find(|item| item.id == id)
        .map(|item| to_proto::range(text, &item.range))
}
