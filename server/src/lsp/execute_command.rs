//! workspace/executeCommand: the `pleat.*` commands, and the structured test report that commands answer with and `pleat/testResults` carries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use engine::project::TargetKind;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower_lsp_server::ls_types::Uri;

use super::runs::Outcome;
use super::state::State;

pub const COMMANDS: &[&str] = &[
    "pleat.runTests",
    "pleat.runAffected",
    "pleat.runAll",
    "pleat.showDependencies",
    "pleat.showDependents",
    "pleat.why",
    "pleat.clearCache",
    "pleat.listTests",
    "pleat.export",
];

/// A command's answer: now, or when its runs finish.
pub enum Reply {
    Now(Value),
    Later(Vec<oneshot::Receiver<Value>>),
}

/// A file argument: a `file://` URI, an absolute path, or a path in a workspace.
fn file_arg(state: &State, value: Option<&Value>) -> Result<(usize, String), String> {
    let text =
        value.and_then(Value::as_str).ok_or("the command needs a \"file\" argument (a URI or a path)")?;
    let located = if text.starts_with("file:") {
        text.parse::<Uri>().ok().and_then(|uri| state.locate_uri(&uri))
    } else if text.starts_with('/') {
        state.locate(&PathBuf::from(text))
    } else {
        state.workspaces.iter().position(|w| w.project.id(text).is_some()).map(|i| (i, text.to_owned()))
    };
    let (index, path) =
        located.ok_or_else(|| format!("{text} is not in any workspace folder; open its folder"))?;
    if state.workspaces[index].project.id(&path).is_none() {
        return Err(format!(
            "{path} is not a Python file Pleat knows; check that it exists and is not excluded"
        ));
    }
    Ok((index, path))
}

pub fn execute(state: &mut State, command: &str, arguments: &[Value]) -> Result<Reply, String> {
    let empty = json!({});
    let args = arguments.first().unwrap_or(&empty);
    match command {
        "pleat.runTests" => run_tests(state, args),
        "pleat.runAffected" => {
            let (index, path) = file_arg(state, args.get("file"))?;
            let project = &state.workspaces[index].project;
            let id = project.id(&path).ok_or("unknown file")?;
            let tests =
                project.affected_tests(&[id]).into_iter().map(|t| project.path(t).to_owned()).collect();
            Ok(start(state, index, tests, BTreeMap::default(), args))
        }
        "pleat.runAll" => {
            let mut receivers = Vec::new();
            for index in 0..state.workspaces.len() {
                let project = &state.workspaces[index].project;
                let tests = project
                    .files()
                    .filter(|(_, f)| f.kind == TargetKind::Test)
                    .map(|(_, f)| f.path.clone())
                    .collect();
                if let Reply::Later(mut r) = start(state, index, tests, BTreeMap::default(), args) {
                    receivers.append(&mut r);
                }
            }
            Ok(Reply::Later(receivers))
        }
        "pleat.showDependencies" | "pleat.showDependents" => {
            let (index, path) = file_arg(state, args.get("file"))?;
            let transitive = args.get("transitive").and_then(Value::as_bool).unwrap_or(false);
            let project = &state.workspaces[index].project;
            let id = project.id(&path).ok_or("unknown file")?;
            let dependents = command == "pleat.showDependents";
            let ids = if dependents {
                project.dependents(&[id], transitive)
            } else {
                project.dependencies(&[id], transitive)
            };
            let files: Vec<Value> = ids
                .iter()
                .map(|d| {
                    let p = project.path(*d);
                    // A dependent opens at its import on the way to this file (1-based).
                    let hop = if dependents { project.graph().path(*d, id) } else { None };
                    let line = hop.and_then(|hops| hops.first().map(|(_, edge)| edge.line + 1)).unwrap_or(1);
                    json!({ "path": p, "uri": state.uri_of(index, p).map(|u| u.as_str().to_owned()), "line": line })
                })
                .collect();
            Ok(Reply::Now(json!({ "file": path, "transitive": transitive, "files": files })))
        }
        "pleat.why" => {
            let (index, from) = file_arg(state, args.get("from"))?;
            let (to_index, to) = file_arg(state, args.get("to"))?;
            if index != to_index {
                return Err(format!("{from} and {to} are in different workspace folders"));
            }
            let project = &state.workspaces[index].project;
            let (a, b) = (project.id(&from).ok_or("unknown file")?, project.id(&to).ok_or("unknown file")?);
            let hops: Option<Vec<Value>> = project.graph().path(a, b).map(|hops| {
                hops.iter()
                    .map(|(file, edge)| {
                        let path = project.path(*file);
                        json!({
                            "file": path,
                            "uri": state.uri_of(index, path).map(|u| u.as_str().to_owned()),
                            "line": edge.line + 1,
                            "imports": project.path(edge.to),
                        })
                    })
                    .collect()
            });
            Ok(Reply::Now(json!({ "from": from, "to": to, "hops": hops })))
        }
        "pleat.listTests" => list_tests(state, args),
        "pleat.export" => super::export::execute(state, args),
        "pleat.clearCache" => {
            state.cancel_all();
            let store =
                state.store().ok_or("the cache is not open yet; try again once the workspace is loaded")?;
            // Removing a large store's files takes a while: off the state task, which
            // goes on answering meanwhile.
            let (sender, receiver) = oneshot::channel();
            tokio::task::spawn_blocking(move || {
                let answer = match store.clear() {
                    Ok(()) => json!({ "cleared": true }),
                    Err(e) => json!({ "error": e.to_string() }),
                };
                let _ = sender.send(answer);
            });
            Ok(Reply::Later(vec![receiver]))
        }
        other => Err(format!("unknown command {other}; Pleat's commands are {}", COMMANDS.join(", "))),
    }
}

/// `pleat.listTests` (`{}` for every workspace, or `{"file": uri}`): test files and their
/// items, for test views: `{"files": [{"path", "uri", "tests": [{"id", "name", "kind", "range",
/// "parent"}]}]}`.
/// Test files not parsed for their content yet are parsed on a blocking thread (the first
/// call on a large repository reads and parses every test file), not on the state task.
fn list_tests(state: &State, args: &Value) -> Result<Reply, String> {
    let only = match args.get("file") {
        Some(file) => Some(file_arg(state, Some(file))?),
        None => None,
    };
    // Per test file: its path, URI, and its items, or what is needed to parse them.
    let mut files = Vec::new();
    for (index, ws) in state.workspaces.iter().enumerate() {
        let project = &ws.project;
        for (_, file) in project.files().filter(|(_, f)| f.kind == TargetKind::Test) {
            if only.as_ref().is_some_and(|(i, p)| *i != index || *p != file.path) {
                continue;
            }
            let uri = state.uri_of(index, &file.path);
            let source = if let Some(items) = super::lenses::known_items(ws, &file.path, Some(file.digest)) {
                Source::Known(items)
            } else {
                let file = super::lenses::ToParse::new(state, index, &file.path, file.digest);
                Source::Parse(file, std::sync::Arc::clone(&ws.test_items))
            };
            files.push((file.path.clone(), uri, source));
        }
    }
    let (sender, receiver) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let files: Vec<Value> =
            files.into_iter().map(|(path, uri, source)| listed(&path, uri, source)).collect();
        let _ = sender.send(json!({ "files": files }));
    });
    Ok(Reply::Later(vec![receiver]))
}

/// Where a listed test file's items come from.
enum Source {
    Known(super::workspace::TestItems),
    /// Parsed from the open buffer's text, else the file on disk, and remembered.
    Parse(super::lenses::ToParse, super::workspace::ItemCache),
}

/// One test file of `pleat.listTests`.
fn listed(path: &str, uri: Option<Uri>, source: Source) -> Value {
    let items = match source {
        Source::Known(items) => items,
        Source::Parse(file, cache) => file.parse(&cache),
    };
    let tests: Vec<Value> = items
        .iter()
        .map(|(item, range)| {
            let parent = item.id.rsplit_once("::").map(|(p, _)| format!("{path}::{p}"));
            json!({
                "id": format!("{}::{}", path, item.id),
                "name": item.name,
                "kind": match item.kind {
                    engine::python::test_items::TestItemKind::Function => "function",
                    engine::python::test_items::TestItemKind::Class => "class",
                    engine::python::test_items::TestItemKind::Method => "method",
                },
                "range": range,
                "parent": parent,
            })
        })
        .collect();
    json!({ "path": path, "uri": uri.map(|u| u.as_str().to_owned()), "tests": tests })
}

/// `pleat.runTests`: `{"files": [...], "tests": ["path::test_id", ...], "force": bool}`.
/// A file runs whole; a test id runs that test alone (its class's or its parameters' tests
/// with it), and the answer holds what ran.
fn run_tests(state: &mut State, args: &Value) -> Result<Reply, String> {
    let mut by_workspace: Vec<Selection> = vec![Selection::default(); state.workspaces.len()];
    let strings = |key: &str| -> Vec<String> {
        args.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let files = strings("files").into_iter().map(|f| (f, None));
    let tests = strings("tests").into_iter().map(|t| match t.split_once("::") {
        Some((file, id)) if !id.is_empty() => (file.to_owned(), Some(id.to_owned())),
        _ => (t, None),
    });
    for (file, id) in files.chain(tests) {
        let (index, path) = file_arg(state, Some(&Value::String(file)))?;
        let project = &state.workspaces[index].project;
        if project.id(&path).and_then(|id| project.file(id)).is_none_or(|f| f.kind != TargetKind::Test) {
            return Err(format!(
                "{path} is not a test file: pytest's configuration (testpaths, python_files) or test_patterns in [tool.pleat] decide which files are"
            ));
        }
        let selection = &mut by_workspace[index];
        match id {
            Some(id) if !selection.whole.contains(&path) => {
                selection.only.entry(path).or_default().insert(id);
            }
            Some(_) => {}
            None => {
                selection.only.remove(&path);
                selection.whole.insert(path);
            }
        }
    }
    if by_workspace.iter().all(|s| s.whole.is_empty() && s.only.is_empty()) {
        return Err("pleat.runTests needs \"files\" or \"tests\"".to_owned());
    }
    let mut receivers = Vec::new();
    for (index, selection) in by_workspace.into_iter().enumerate() {
        if selection.whole.is_empty() && selection.only.is_empty() {
            continue;
        }
        let mut tests = selection.whole;
        tests.extend(selection.only.keys().cloned());
        if let Reply::Later(mut r) = start(state, index, tests, selection.only, args) {
            receivers.append(&mut r);
        }
    }
    Ok(Reply::Later(receivers))
}

/// The tests one `pleat.runTests` asks of a workspace: whole files, and single tests.
#[derive(Clone, Default)]
struct Selection {
    whole: BTreeSet<String>,
    only: BTreeMap<String, BTreeSet<String>>,
}

fn start(
    state: &mut State,
    index: usize,
    tests: BTreeSet<String>,
    only: BTreeMap<String, BTreeSet<String>>,
    args: &Value,
) -> Reply {
    let mut job = state.new_job(index);
    job.tests = tests;
    job.only = only;
    job.force = args.get("force").and_then(Value::as_bool).unwrap_or(false);
    let (sender, receiver) = oneshot::channel();
    state.start(job, None, Some(sender));
    Reply::Later(vec![receiver])
}

/// The structured results of a run, for `pleat/testResults` and command answers.
pub fn test_report(state: &State, index: usize, outcome: &Outcome) -> Value {
    let root = &state.workspaces[index].project.root;
    let uri = |p: &str| state.uri_of(index, p).map(|u| u.as_str().to_owned());
    let mut tests = Vec::new();
    let mut files = Vec::new();
    for result in &outcome.tests {
        let ranges = super::lenses::TestRanges::of(state, index, &result.file);
        files.push(json!({
            "path": result.file,
            "file": uri(&result.file),
            "outcome": result.outcome.as_str(),
            "cached": result.cached,
            // `local`, `local-cache` or `remote-cache`.
            "source": result.source.name(),
            "duration": result.duration_s,
            "output": result.output,
            // Only these tests of the file ran (node ids after `path::`); absent: all of it.
            "only": outcome.job.only.get(&result.file),
        }));
        for case in &result.tests {
            let id = case.name.split_once("::").map_or("", |(_, id)| id);
            let location = case
                .location
                .as_ref()
                .map(|l| json!({ "path": l.file, "file": uri(&l.file), "line": l.line }));
            let source = case
                .source_location
                .as_ref()
                .map(|l| json!({ "path": l.file, "file": uri(&l.file), "line": l.line }));
            tests.push(json!({
                "id": case.name,
                "path": result.file,
                "file": uri(&result.file),
                "range": ranges.get(id),
                "state": case.outcome.as_str(),
                "duration": case.duration_s,
                "message": case.message,
                "detail": case.detail,
                "cached": result.cached,
                "location": location,
                "sourceLocation": source,
            }));
        }
    }
    json!({
        "root": Uri::from_file_path(root).map(|u| u.as_str().to_owned()),
        "run": outcome.job.id,
        // The last results shown again from the cache when a workspace loads: nothing ran.
        "replay": outcome.job.cache_only,
        "files": files,
        "tests": tests,
        "errors": outcome.errors,
    })
}
