//! End-to-end tests of `pleat lsp`: the real binary over stdio, driven by a small JSON-RPC client.

use std::fmt::Write as _;
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/lsp_stdio.rs"]
mod lsp_stdio;

/// A running `pleat lsp` with a reader thread delivering every message it sends.
struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next_id: i64,
    /// Answer the server's requests (progress tokens, registrations) with `null`; a
    /// client that never answers is tested with this off.
    answer_requests: bool,
    /// Every message seen so far, for assertions about what was never sent.
    seen: Vec<Value>,
    /// The last diagnostics published for each URI.
    latest: std::collections::HashMap<String, Vec<Value>>,
}

impl Server {
    fn start(cache: &std::path::Path) -> Self {
        Self::start_in(cache, None)
    }

    fn start_in(cache: &std::path::Path, cwd: Option<&std::path::Path>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pleat"));
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        Self::start_command(command, cache)
    }

    /// The server on one core (so one test process at a time), every test run recording
    /// the lines it executed (`PLEAT_COVERAGE=always`).
    fn start_on_one_core_recording(cache: &std::path::Path) -> Self {
        let mut command = Command::new("taskset");
        command.args(["-c", "0", env!("CARGO_BIN_EXE_pleat")]).env("PLEAT_COVERAGE", "always");
        Self::start_command(command, cache)
    }

    fn start_command(mut command: Command, cache: &std::path::Path) -> Self {
        let mut child = command
            .args(["--cache-dir"])
            .arg(cache)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pleat lsp starts");
        let stdin = child.stdin.take().unwrap();
        let messages = lsp_stdio::messages(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            messages,
            next_id: 1,
            answer_requests: true,
            seen: Vec::new(),
            latest: std::collections::HashMap::new(),
        }
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: &Value) -> Value {
        self.request_within(Duration::from_secs(20), method, params)
    }

    /// A request whose answer may take longer than 20 s on a loaded machine (a debug build
    /// parsing a 20 MB document).
    fn request_within(&mut self, limit: Duration, method: &str, params: &Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait_within(limit, |m| m["id"] == id && m.get("method").is_none())
            .expect("the server answered in time")
    }

    fn notify(&mut self, method: &str, params: &Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The first message matching `want`, within 20 s.
    fn wait_for(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        self.wait_within(Duration::from_secs(20), want).expect("the server answered in time")
    }

    /// A message matching `want` that already arrived, else the next one.
    fn seen_or_wait(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(message) = self.seen.iter().find(|m| want(m)) {
            return message.clone();
        }
        self.wait_for(want)
    }

    /// The first message matching `want` within `limit`, or None.
    fn wait_within(&mut self, limit: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let message = self.messages.recv_timeout(left).ok()?;
            self.seen.push(message.clone());
            if message["method"] == "textDocument/publishDiagnostics" {
                let uri = message["params"]["uri"].as_str().unwrap().to_owned();
                self.latest.insert(uri, message["params"]["diagnostics"].as_array().unwrap().clone());
            }
            if self.answer_requests && message.get("method").is_some() && message.get("id").is_some() {
                self.send(&json!({"jsonrpc": "2.0", "id": message["id"], "result": null}));
            }
            if want(&message) {
                return Some(message);
            }
        }
    }

    fn diagnostics_for(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let message = self.wait_for(|m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == version
        });
        message["params"]["diagnostics"].as_array().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uri(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn unresolved_import_diagnostic_appears_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(root.join("pkg/a.py"), "X = 1\n").unwrap();
    std::fs::write(root.join("pleat.toml"), "").unwrap();
    let mut server = Server::start(&dir.path().join("cache"));
    let init =
        server.request("initialize", &json!({"processId": null, "rootUri": uri(&root), "capabilities": {}}));
    assert_eq!(init["result"]["serverInfo"]["name"], "pleat");
    server.notify("initialized", &json!({}));
    let b = uri(&root.join("pkg/b.py"));
    let text = "import os\nfrom pkg import a\nimport pkg.missing  # é\n";
    server.notify(
        "textDocument/didOpen",
        &json!({"textDocument": {"uri": b, "languageId": "python", "version": 1, "text": text}}),
    );
    let diagnostics = server.diagnostics_for(&b, 1);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0]["code"], "unresolved-import");
    assert_eq!(diagnostics[0]["range"]["start"], json!({"line": 2, "character": 7}));
    assert!(diagnostics[0]["message"].as_str().unwrap().contains("`pkg.missing`"));
    // Creating the module in another buffer resolves it: the first document is republished.
    let missing = uri(&root.join("pkg/missing.py"));
    server.notify(
        "textDocument/didOpen",
        &json!({"textDocument": {"uri": missing, "languageId": "python", "version": 1, "text": "Y = 2\n"}}),
    );
    assert!(server.diagnostics_for(&b, 1).is_empty());
    // A burst of changes ends in the state of the last one.
    for version in 2..=500 {
        let text = if version % 2 == 0 { "import nowhere\n" } else { "import os\n" };
        server.notify(
            "textDocument/didChange",
            &json!({"textDocument": {"uri": b, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }
    let last = server.diagnostics_for(&b, 500);
    assert_eq!(last.len(), 1);
    assert!(last[0]["message"].as_str().unwrap().contains("`nowhere`"));
    let shutdown = server.request("shutdown", &json!(null));
    assert!(shutdown["error"].is_null(), "{shutdown}");
}

/// A started server on a loaded folder holding `pkg/__init__.py` and `pkg/a.py`, with a
/// cache of its own.
fn package_with_a_module() -> (tempfile::TempDir, std::path::PathBuf, Server) {
    let (dir, root) = fixture(&[("pleat.toml", ""), ("pkg/__init__.py", ""), ("pkg/a.py", "X = 1\n")]);
    let mut server = Server::start(&dir.path().join("cache"));
    initialize(&mut server, &root, &json!({}), &json!({}));
    (dir, root, server)
}

/// A new or removed module re-resolves every file on a blocking thread; what arrives
/// meanwhile — an edit, another new module, a removal — is queued and replayed on its
/// result, so the marks end as the final texts give them.
#[test]
fn changes_that_arrive_during_a_module_index_change_are_kept() {
    let (_dir, root, mut server) = package_with_a_module();
    let b = uri(&root.join("pkg/b.py"));
    open(&mut server, &b, 1, "import pkg.one\nimport pkg.two\n");
    assert_eq!(server.diagnostics_for(&b, 1).len(), 2);
    let unresolved = |d: &[Value]| {
        let mut modules: Vec<String> = d
            .iter()
            .filter(|d| d["code"] == "unresolved-import")
            .filter_map(|d| d["message"].as_str()?.split('`').nth(1).map(str::to_owned))
            .collect();
        modules.sort();
        modules
    };
    // Back to back, without waiting: a new module, an edit, a second new module.
    let one = uri(&root.join("pkg/one.py"));
    open(&mut server, &one, 1, "Y = 1\n");
    server.notify(
        "textDocument/didChange",
        &json!({"textDocument": {"uri": b, "version": 2},
                "contentChanges": [{"text": "import pkg.one\nimport pkg.two\nimport pkg.three\n"}]}),
    );
    open(&mut server, &uri(&root.join("pkg/two.py")), 1, "Z = 2\n");
    diagnostics_where(&mut server, &b, |d| unresolved(d) == ["pkg.three"]);
    // Closing an unsaved new module removes it again, and an edit right behind it stays.
    server.notify("textDocument/didClose", &json!({"textDocument": {"uri": one}}));
    server.notify(
        "textDocument/didChange",
        &json!({"textDocument": {"uri": b, "version": 3},
                "contentChanges": [{"text": "import pkg.one\nimport pkg.two\nimport pkg.four\n"}]}),
    );
    diagnostics_where(&mut server, &b, |d| unresolved(d) == ["pkg.four", "pkg.one"]);
}

/// Incremental sync: edits given as ranges (UTF-16 columns, several per notification, after
/// non-ASCII text) leave the buffer, and so the import diagnostics, exactly where a fresh
/// open of the resulting text puts them.
#[test]
fn incremental_changes_give_the_diagnostics_of_the_whole_text() {
    let (_dir, root, mut server) = package_with_a_module();
    let b = uri(&root.join("pkg/b.py"));
    let text = "s = '\u{e9}\u{1f600}'\nimport os\n\nfrom pkg import a\n";
    open(&mut server, &b, 1, text);
    assert!(server.diagnostics_for(&b, 1).is_empty());
    let at = |line: u32, character: u32| json!({"line": line, "character": character});
    let change = |server: &mut Server, version: i64, changes: Value| {
        server.notify(
            "textDocument/didChange",
            &json!({"textDocument": {"uri": b, "version": version}, "contentChanges": changes}),
        );
    };
    // After `'é😀'` (é is 1 UTF-16 unit, 😀 2; 6 bytes) on line 0: `; import gone1` at
    // character 9.
    change(
        &mut server,
        2,
        json!([{"range": {"start": at(0, 9), "end": at(0, 9)}, "text": "; import gone1"}]),
    );
    let diagnostics = server.diagnostics_for(&b, 2);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0]["range"]["start"], at(0, 18));
    assert!(diagnostics[0]["message"].as_str().unwrap().contains("`gone1`"));
    // Two edits in one notification, the second in the coordinates the first left: a new
    // line at the top, then `os` renamed to `gone3` (now on line 2).
    change(
        &mut server,
        3,
        json!([
            {"range": {"start": at(0, 0), "end": at(0, 0)}, "text": "import pkg.gone2\n"},
            {"range": {"start": at(2, 7), "end": at(2, 9)}, "text": "gone3"},
        ]),
    );
    let incremental = server.diagnostics_for(&b, 3);
    let mut lines: Vec<u64> =
        incremental.iter().map(|d| d["range"]["start"]["line"].as_u64().unwrap()).collect();
    lines.sort_unstable();
    assert_eq!(lines, [0, 1, 2], "{incremental:?}");
    // The same text opened afresh in another document of the same folder.
    let whole = "import pkg.gone2\ns = '\u{e9}\u{1f600}'; import gone1\nimport gone3\n\nfrom pkg import a\n";
    let c = uri(&root.join("pkg/c.py"));
    open(&mut server, &c, 1, whole);
    let fresh = server.diagnostics_for(&c, 1);
    let ranges = |d: &[Value]| {
        let mut r: Vec<String> = d.iter().map(|d| format!("{} {}", d["range"], d["code"])).collect();
        r.sort();
        r
    };
    assert_eq!(ranges(&incremental), ranges(&fresh));
    // Deleting across lines, then a whole-text change (no range) still works.
    change(&mut server, 4, json!([{"range": {"start": at(0, 0), "end": at(2, 0)}, "text": ""}]));
    assert_eq!(server.diagnostics_for(&b, 4).len(), 1);
    change(&mut server, 5, json!([{"text": "import os\n"}]));
    assert!(server.diagnostics_for(&b, 5).is_empty());
}

/// The tool environments and the store are shared by these tests (environments are
/// built once, under a lock); fixture contents carry a nonce where a cached result from
/// an earlier run of the suite would hide what a test checks.
fn shared_cache() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lsp-cache")
}

fn nonce() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}-{}", now.as_nanos(), std::process::id())
}

/// Writes files under `<tmp>/repo`.
fn fixture(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    for (path, text) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    (dir, root)
}

/// initialize + initialized, then waits until the workspace is loaded.
fn initialize(server: &mut Server, root: &std::path::Path, options: &Value, capabilities: &Value) {
    let init = server.request(
        "initialize",
        &json!({
            "processId": null,
            "rootUri": uri(root),
            "workspaceFolders": [{"uri": uri(root), "name": "repo"}],
            "initializationOptions": options,
            "capabilities": capabilities,
        }),
    );
    assert!(init["result"]["capabilities"]["codeLensProvider"].is_object(), "{init}");
    server.notify("initialized", &json!({}));
    server.wait_for(|m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"].as_str().unwrap().contains("Python files under")
    });
}

fn open(server: &mut Server, uri: &str, version: i64, text: &str) {
    server.notify(
        "textDocument/didOpen",
        &json!({"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": text}}),
    );
}

/// Writes the new text to disk (as an editor does) and sends didChange + didSave.
fn save(server: &mut Server, path: &std::path::Path, version: i64, text: &str) {
    std::fs::write(path, text).unwrap();
    let uri = uri(path);
    server.notify(
        "textDocument/didChange",
        &json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
    );
    server.notify("textDocument/didSave", &json!({"textDocument": {"uri": uri}}));
}

/// The diagnostics for `uri` once the last ones published satisfy `want`, within the
/// time tools need.
fn diagnostics_where(server: &mut Server, uri: &str, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    if let Some(latest) = server.latest.get(uri).filter(|d| want(d)) {
        return latest.clone();
    }
    let message = server
        .wait_within(Duration::from_mins(4), |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && want(m["params"]["diagnostics"].as_array().unwrap())
        })
        .unwrap_or_else(|| panic!("no matching diagnostics for {uri}"));
    message["params"]["diagnostics"].as_array().unwrap().clone()
}

/// A document's code lenses: (line, title) each.
fn lenses(server: &mut Server, uri: &str) -> Vec<(u64, String)> {
    let answer = server.request("textDocument/codeLens", &json!({"textDocument": {"uri": uri}}));
    let lenses = answer["result"].as_array().unwrap_or_else(|| panic!("{answer}"));
    lenses
        .iter()
        .map(|l| {
            (
                l["range"]["start"]["line"].as_u64().unwrap(),
                l["command"]["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn from_source(diagnostics: &[Value], source: &str) -> Vec<Value> {
    diagnostics.iter().filter(|d| d["source"] == source).cloned().collect()
}

const TEST_CALC: &str = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\nclass TestMore:\n    def test_zero(self):\n        assert add(0, 0) == 0\n";

#[test]
fn a_save_that_breaks_a_dependent_test_marks_the_test_and_the_source_and_a_fix_clears_both() {
    let good = format!("# {}\n\n\ndef add(a, b):\n    return a + b\n", nonce());
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("calc.py", &good), ("tests/test_calc.py", TEST_CALC)]);
    let mut server = Server::start(&shared_cache());
    let caps =
        json!({"window": {"workDoneProgress": true}, "workspace": {"codeLens": {"refreshSupport": true}}});
    initialize(&mut server, &root, &json!({"onSave": "lint+tests"}), &caps);
    let calc = root.join("calc.py");
    let calc_uri = uri(&calc);
    let test_uri = uri(&root.join("tests/test_calc.py"));
    open(&mut server, &calc_uri, 1, &good);

    // Break add() (and leave an unused import for ruff): the test fails where it calls
    // add, and the line that raised in calc.py is marked too.
    let broken = good
        .replace("    return a + b", "    raise ValueError(\"add is broken\")")
        .replace("\n\n\ndef", "\nimport os\n\n\ndef");
    save(&mut server, &calc, 2, &broken);
    let in_test = diagnostics_where(&mut server, &test_uri, |d| !d.is_empty());
    let failures = from_source(&in_test, "pytest");
    assert_eq!(failures.len(), 2, "{in_test:?}");
    assert_eq!(failures[0]["range"]["start"]["line"], 4, "the assert line of test_add: {failures:?}");
    assert_eq!(failures[1]["range"]["start"]["line"], 9, "the assert line of test_zero: {failures:?}");
    assert!(failures[0]["message"].as_str().unwrap().contains("add is broken"), "{failures:?}");
    assert_eq!(failures[0]["severity"], 1);
    let in_source = diagnostics_where(&mut server, &calc_uri, |d| !from_source(d, "pytest").is_empty());
    let raised = from_source(&in_source, "pytest");
    let raise_line = broken.lines().position(|l| l.contains("raise ValueError")).unwrap();
    // Both tests raised through one line: one Information mark with the count, each test
    // related (the failing tests themselves are the errors).
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0]["range"]["start"]["line"], raise_line, "{raised:?}");
    assert_eq!(raised[0]["severity"], 3, "{raised:?}");
    let message = raised[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("2 failing tests raised here: ") && message.contains("add is broken"),
        "{message}"
    );
    let related: Vec<&str> = raised[0]["relatedInformation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        related,
        ["tests/test_calc.py::test_add fails here", "tests/test_calc.py::TestMore::test_zero fails here"],
        "{raised:?}"
    );
    let unused = from_source(&in_source, "ruff");
    assert!(unused.iter().any(|d| d["code"] == "F401"), "ruff's unused import: {in_source:?}");

    // Structured results for test views.
    let results = server.wait_for(|m| m["method"] == "pleat/testResults");
    let tests = results["params"]["tests"].as_array().unwrap();
    let add = tests.iter().find(|t| t["id"] == "tests/test_calc.py::test_add").unwrap();
    assert_eq!(add["state"], "failed");
    assert_eq!(add["range"]["start"], json!({"line": 3, "character": 4}));
    assert!(tests.iter().any(|t| t["id"] == "tests/test_calc.py::TestMore::test_zero"));

    let status = server.seen_or_wait(|m| m["method"] == "pleat/status" && m["params"]["failed"] == 2);
    assert_eq!(status["params"]["message"], "✓ 0 ✕ 2", "{status}");
    assert_eq!(
        status["params"]["sources"],
        json!({"local": 1}),
        "the run's one test file ran here: {status}"
    );
    let listed =
        server.request("workspace/executeCommand", &json!({"command": "pleat.listTests", "arguments": [{}]}));
    let items = &listed["result"]["files"][0]["tests"];
    assert_eq!(listed["result"]["files"][0]["path"], "tests/test_calc.py", "{listed}");
    let ids: Vec<(&str, &str)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["parent"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        ids,
        [
            ("tests/test_calc.py::test_add", ""),
            ("tests/test_calc.py::TestMore", ""),
            ("tests/test_calc.py::TestMore::test_zero", "tests/test_calc.py::TestMore")
        ]
    );

    // Ruff's fix is a quick fix carried by the diagnostic.
    let f401 = unused.iter().find(|d| d["code"] == "F401").unwrap().clone();
    let actions = server.request(
        "textDocument/codeAction",
        &json!({"textDocument": {"uri": calc_uri}, "range": f401["range"], "context": {"diagnostics": [f401]}}),
    );
    let actions = actions["result"].as_array().unwrap();
    let quick = actions.iter().find(|a| a["kind"] == "quickfix").expect("a quick fix");
    let edits = quick["edit"]["changes"][&calc_uri].as_array().unwrap();
    assert_eq!(edits[0]["newText"], "", "{quick}");
    assert!(actions.iter().any(|a| a["kind"] == "source.fixAll.pleat"), "{actions:?}");

    // Lenses: counts on the module, results on each test.
    let module_lenses = lenses(&mut server, &calc_uri);
    let titles: Vec<&str> = module_lenses.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(titles, ["▶ Run 2 affected tests (1 file)", "1 dependent"]);
    assert!(
        module_lenses.iter().all(|(line, _)| *line == 1),
        "on the first line of code, past the comment: {module_lenses:?}"
    );
    let lensed = lenses(&mut server, &test_uri);
    let titles: Vec<(u64, &str)> = lensed.iter().map(|(line, t)| (*line, t.as_str())).collect();
    assert!(titles.contains(&(3, "▶ Run test")) && titles.contains(&(3, "✕ failed")), "{titles:?}");
    assert!(titles.contains(&(7, "▶ Run test")), "the class has a lens: {titles:?}");
    assert!(titles.contains(&(8, "✕ failed")), "{titles:?}");
    let test_file_titles: Vec<&str> = titles.iter().filter(|(line, _)| *line == 0).map(|(_, t)| *t).collect();
    assert_eq!(test_file_titles, ["▶ Run 2 tests", "0 dependents"], "a test file counts its own tests");
    // A result lens is a status: shown, never offered as an action.
    let answer = server.request("textDocument/codeLens", &json!({"textDocument": {"uri": test_uri}}));
    let failed =
        answer["result"].as_array().unwrap().iter().find(|l| l["command"]["title"] == "✕ failed").cloned();
    assert_eq!(failed.map(|l| l["command"]["command"].clone()), Some(json!("")), "{answer}");

    // The fix clears both files.
    save(&mut server, &calc, 3, &good);
    diagnostics_where(&mut server, &test_uri, <[Value]>::is_empty);
    let in_source = diagnostics_where(&mut server, &calc_uri, |d| from_source(d, "pytest").is_empty());
    assert!(from_source(&in_source, "ruff").is_empty(), "{in_source:?}");

    // Commands answer with the same structured results; a rerun is cached.
    let run = server.request(
        "workspace/executeCommand",
        &json!({"command": "pleat.runAffected", "arguments": [{"file": calc_uri}]}),
    );
    let tests = run["result"]["tests"].as_array().unwrap_or_else(|| panic!("{run}"));
    assert!(tests.iter().all(|t| t["state"] == "passed" && t["cached"] == true), "{tests:?}");
    let titles: Vec<String> = lenses(&mut server, &test_uri).into_iter().map(|(_, t)| t).collect();
    assert!(titles.iter().any(|t| t.starts_with('✓') && t.ends_with(", cached")), "{titles:?}");
    assert!(titles.iter().all(|t| !t.contains("0.00 s")), "a real duration, even from the cache: {titles:?}");
    // "▶ Run test" runs that one test: the answer holds it alone, and the file's other
    // results stay on their lenses.
    let one = server.request(
        "workspace/executeCommand",
        &json!({"command": "pleat.runTests", "arguments": [{"tests": ["tests/test_calc.py::TestMore"], "force": true}]}),
    );
    let ran: Vec<&str> = one["result"]["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("{one}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["tests/test_calc.py::TestMore::test_zero"], "{one}");
    assert_eq!(one["result"]["tests"][0]["cached"], false, "{one}");
    let titles = lenses(&mut server, &test_uri);
    let passed: Vec<u64> = titles.iter().filter(|(_, t)| t.starts_with('✓')).map(|(line, _)| *line).collect();
    assert_eq!(passed, [3, 7, 8], "test_add's result stays beside the class's and test_zero's: {titles:?}");
    let why = server.request(
        "workspace/executeCommand",
        &json!({"command": "pleat.why", "arguments": [{"from": test_uri, "to": calc_uri}]}),
    );
    assert_eq!(
        why["result"]["hops"],
        json!([{"file": "tests/test_calc.py", "uri": test_uri, "line": 1, "imports": "calc.py"}])
    );
    let dependents = server.request(
        "workspace/executeCommand",
        &json!({"command": "pleat.showDependents", "arguments": [{"file": calc_uri}]}),
    );
    assert_eq!(dependents["result"]["files"][0]["path"], "tests/test_calc.py");
    // Progress was reported through $/progress with the client's token.
    assert!(server.seen.iter().any(|m| m["method"] == "$/progress"
        && m["params"]["value"]["message"].as_str().is_some_and(|t| t.starts_with("tests "))));
}

#[test]
fn the_test_file_that_executed_the_changed_line_runs_first_and_shows_its_failure_before_the_others_finish() {
    let m = format!(
        "# {}


def f():
    return 1


def g():
    return 2
",
        nonce()
    );
    let slow = "import time

from pkg.m import f


def test_slow():
    time.sleep(10)
    assert f() == 1
";
    let (_dir, root) = fixture(&[
        ("pleat.toml", ""),
        ("pkg/__init__.py", ""),
        ("pkg/m.py", &m),
        // By path these two run first, and on one core each holds it for 10 s.
        ("tests/test_a_slow.py", slow),
        ("tests/test_b_slow.py", slow),
        (
            "tests/test_z.py",
            "from pkg.m import g


def test_g():
    assert g() == 2
",
        ),
    ]);
    let mut server = Server::start_on_one_core_recording(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "tests"}), &json!({}));
    let module = root.join("pkg/m.py");
    open(&mut server, &uri(&module), 1, &m);
    // A first run records what each file executes.
    save(&mut server, &module, 2, &m);
    let first = server
        .wait_within(Duration::from_mins(4), |m| m["method"] == "pleat/testResults")
        .expect("the first run reports");
    assert_eq!(first["params"]["tests"].as_array().unwrap().len(), 3, "{first}");
    // g breaks: only tests/test_z.py executed that line.
    let z = uri(&root.join("tests/test_z.py"));
    let saved = std::time::Instant::now();
    save(&mut server, &module, 3, &m.replace("return 2", "return 3"));
    let failure = server
        .wait_within(Duration::from_mins(4), |msg| {
            msg["method"] == "pleat/testResults"
                || (msg["method"] == "textDocument/publishDiagnostics"
                    && msg["params"]["uri"] == z
                    && !msg["params"]["diagnostics"].as_array().unwrap().is_empty())
        })
        .expect("the failure is published");
    let took = saved.elapsed();
    assert_eq!(failure["method"], "textDocument/publishDiagnostics", "before the run ends: {failure}");
    assert!(failure["params"]["diagnostics"].to_string().contains("assert 3 == 2"), "{failure}");
    // Before the first slow file could have finished: tests/test_z.py ran first.
    assert!(took < Duration::from_secs(10), "the failure took {took:?}");
    // The whole affected set still runs and is reported.
    let results = server
        .wait_within(Duration::from_mins(4), |m| m["method"] == "pleat/testResults")
        .expect("the run reports");
    let mut states: Vec<(String, String)> = results["params"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap_or_default().to_owned(), t["state"].as_str().unwrap().to_owned()))
        .collect();
    states.sort();
    assert_eq!(states.len(), 3, "{results}");
    assert_eq!(states.iter().filter(|(_, state)| state == "failed").count(), 1, "{results}");
}

#[test]
fn a_save_during_a_run_cancels_it_and_only_the_newer_result_is_published() {
    let slow = format!("# {}\nimport time\n\n\ndef add(a, b):\n    time.sleep(6)\n    return 0\n", nonce());
    let fast = format!("# {}\n\n\ndef add(a, b):\n    return a + b\n", nonce());
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("calc.py", &fast), ("tests/test_calc.py", TEST_CALC)]);
    let mut server = Server::start(&shared_cache());
    let caps = json!({"window": {"workDoneProgress": true}});
    initialize(&mut server, &root, &json!({"onSave": "tests"}), &caps);
    let calc = root.join("calc.py");
    let test_uri = uri(&root.join("tests/test_calc.py"));
    open(&mut server, &uri(&calc), 1, &fast);
    save(&mut server, &calc, 2, &slow);
    // The slow run has started its test file.
    server
        .wait_within(Duration::from_mins(4), |m| {
            m["method"] == "$/progress" && m["params"]["value"]["message"] == "tests 0/1"
        })
        .expect("the first run reports progress");
    std::thread::sleep(Duration::from_millis(300));
    save(&mut server, &calc, 3, &fast);
    let results = server
        .wait_within(Duration::from_mins(4), |m| m["method"] == "pleat/testResults")
        .expect("the newer run publishes");
    let states: Vec<&str> =
        results["params"]["tests"].as_array().unwrap().iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["passed", "passed"], "{results}");
    // Past the time the slow run would have needed: nothing of it ever arrives.
    server.wait_within(Duration::from_secs(8), |_| false);
    let published_results: Vec<&Value> =
        server.seen.iter().filter(|m| m["method"] == "pleat/testResults").collect();
    assert_eq!(published_results.len(), 1, "{published_results:?}");
    let failures = server
        .seen
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == test_uri)
        .flat_map(|m| m["params"]["diagnostics"].as_array().unwrap().clone())
        .count();
    assert_eq!(failures, 0, "the cancelled run's failure was never shown");
}

#[test]
fn an_invalid_configuration_is_one_diagnostic_and_the_server_carries_on() {
    let (_dir, root) = fixture(&[
        ("pleat.toml", "source_roots = [\"src\"]\nnot_a_setting = 1\n"),
        ("src/pkg/__init__.py", ""),
    ]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "off"}), &json!({}));
    let config = uri(&root.join("pleat.toml"));
    let problems = diagnostics_where(&mut server, &config, |d| !d.is_empty());
    assert_eq!(problems.len(), 1, "{problems:?}");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(message.contains("not_a_setting") && message.contains("default configuration"), "{message}");
    assert_eq!(problems[0]["range"]["start"]["line"], 1, "{problems:?}");
    // Import diagnostics still work on the defaults.
    let b = uri(&root.join("src/pkg/b.py"));
    open(&mut server, &b, 1, "import nowhere\n");
    assert_eq!(server.diagnostics_for(&b, 1).len(), 1);
    // Fixing the file (seen through a watched-file notification) reloads and clears it.
    std::fs::write(root.join("pleat.toml"), "source_roots = [\"src\"]\n").unwrap();
    server.notify("workspace/didChangeWatchedFiles", &json!({"changes": [{"uri": config, "type": 2}]}));
    diagnostics_where(&mut server, &config, <[Value]>::is_empty);
}

/// A client that cannot watch files (no dynamic registration of
/// `workspace/didChangeWatchedFiles`): the server's own watcher sees files written,
/// folders created and files removed on disk, and what it sees goes the way a client's
/// notification would.
#[test]
fn files_changed_outside_the_editor_are_seen_by_the_server_when_the_client_cannot_watch() {
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("pkg/__init__.py", ""), (".gitignore", "build/\n")]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "off"}), &json!({}));
    let b = uri(&root.join("pkg/b.py"));
    open(&mut server, &b, 1, "import pkg.generated\nimport pkg.sub.deep\n");
    assert_eq!(server.diagnostics_for(&b, 1).len(), 2);
    let unresolved = |m: &Value, count: usize| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == b
            && m["params"]["diagnostics"].as_array().unwrap().len() == count
    };
    // Generated code appears on disk; no notification from the client.
    std::fs::write(root.join("pkg/generated.py"), "X = 1\n").unwrap();
    let seen = server.wait_within(Duration::from_secs(20), |m| unresolved(m, 1));
    assert!(seen.is_some(), "the new module was seen");
    // A new folder with a package in it (as a checkout makes them).
    std::fs::create_dir_all(root.join("pkg/sub")).unwrap();
    std::fs::write(root.join("pkg/sub/__init__.py"), "").unwrap();
    std::fs::write(root.join("pkg/sub/deep.py"), "Y = 2\n").unwrap();
    let seen = server.wait_within(Duration::from_secs(20), |m| unresolved(m, 0));
    assert!(seen.is_some(), "the new folder's modules were seen");
    // A removed module is unresolved again.
    std::fs::remove_file(root.join("pkg/generated.py")).unwrap();
    let seen = server.wait_within(Duration::from_secs(20), |m| unresolved(m, 1));
    assert!(seen.is_some(), "the removal was seen");
    // A folder moved away takes its modules with it.
    std::fs::rename(root.join("pkg/sub"), root.join("build")).unwrap();
    let seen = server.wait_within(Duration::from_secs(20), |m| unresolved(m, 2));
    assert!(seen.is_some(), "the folder's modules went with it");
}

#[test]
fn changes_outside_the_editor_hide_their_marks_at_once_and_start_one_run() {
    let good = format!("# {}\n\n\ndef add(a, b):\n    return a + b\n", nonce());
    let mut files: Vec<(String, String)> = vec![
        ("pleat.toml".to_owned(), String::new()),
        ("calc.py".to_owned(), good.clone()),
        ("tests/test_calc.py".to_owned(), TEST_CALC.to_owned()),
    ];
    files.extend((0..40).map(|i| (format!("mod{i}.py"), format!("import calc\nX = {i}\n"))));
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let (_dir, root) = fixture(&borrowed);
    let mut server = Server::start(&shared_cache());
    let caps = json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}});
    initialize(&mut server, &root, &json!({"onSave": "tests"}), &caps);
    server.seen_or_wait(|m| m["method"] == "client/registerCapability");
    // A branch switch: calc.py breaks and 40 modules change, in 41 notifications.
    let broken = good.replace("return a + b", "raise ValueError(\"add is broken\")");
    std::fs::write(root.join("calc.py"), &broken).unwrap();
    server.notify(
        "workspace/didChangeWatchedFiles",
        &json!({"changes": [{"uri": uri(&root.join("calc.py")), "type": 2}]}),
    );
    for i in 0..40 {
        let path = root.join(format!("mod{i}.py"));
        std::fs::write(&path, format!("import calc\nX = {}\n", i + 1)).unwrap();
        server
            .notify("workspace/didChangeWatchedFiles", &json!({"changes": [{"uri": uri(&path), "type": 2}]}));
    }
    // One run for all of them, whose results show the break.
    let results =
        server.wait_within(Duration::from_mins(4), |m| m["method"] == "pleat/testResults").expect("a run");
    let failed: Vec<&str> = results["params"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "failed")
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["tests/test_calc.py::test_add", "tests/test_calc.py::TestMore::test_zero"],
        "{results}"
    );
    assert!(
        server.wait_within(Duration::from_secs(3), |m| m["method"] == "pleat/testResults").is_none(),
        "one run for the whole change"
    );
    // Changed back outside the editor: the mark where it raised goes at once, before any
    // run, and the run that follows passes.
    let calc_uri = uri(&root.join("calc.py"));
    let marked = diagnostics_where(&mut server, &calc_uri, |d| !from_source(d, "pytest").is_empty());
    assert_eq!(from_source(&marked, "pytest").len(), 1, "{marked:?}");
    std::fs::write(root.join("calc.py"), &good).unwrap();
    server.notify("workspace/didChangeWatchedFiles", &json!({"changes": [{"uri": calc_uri, "type": 2}]}));
    let first = server.wait_for(|m| {
        m["method"] == "pleat/testResults"
            || (m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == calc_uri)
    });
    assert_eq!(first["params"]["diagnostics"], json!([]), "hidden before the run ends: {first}");
    let results =
        server.wait_within(Duration::from_mins(4), |m| m["method"] == "pleat/testResults").expect("a run");
    assert!(
        results["params"]["tests"].as_array().unwrap().iter().all(|t| t["state"] == "passed"),
        "{results}"
    );
    diagnostics_where(&mut server, &uri(&root.join("tests/test_calc.py")), |d| {
        from_source(d, "pytest").is_empty()
    });
}

#[test]
fn the_last_results_are_shown_again_after_a_restart_while_their_inputs_are_unchanged() {
    let broken = format!("# {}\nimport os\n\n\ndef add(a, b):\n    return a - b\n", nonce());
    let (_dir, root) =
        fixture(&[("pleat.toml", ""), ("calc.py", &broken), ("tests/test_calc.py", TEST_CALC)]);
    let test_uri = uri(&root.join("tests/test_calc.py"));
    let calc_uri = uri(&root.join("calc.py"));
    {
        let mut server = Server::start(&shared_cache());
        initialize(&mut server, &root, &json!({"onSave": "lint+tests"}), &json!({}));
        let run = server
            .request("workspace/executeCommand", &json!({"command": "pleat.runAll", "arguments": [{}]}));
        assert!(run["result"]["tests"].as_array().is_some_and(|t| t.len() == 2), "{run}");
        assert_eq!(run["result"]["replay"], false, "{run}");
        open(&mut server, &calc_uri, 1, &broken);
        server.notify("textDocument/didSave", &json!({"textDocument": {"uri": calc_uri}}));
        diagnostics_where(&mut server, &calc_uri, |d| !from_source(d, "ruff").is_empty());
    }
    // A new server, nothing saved or run: the results come back from the cache, marked so,
    // ruff's findings too.
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "lint+tests"}), &json!({}));
    let results = server.wait_for(|m| m["method"] == "pleat/testResults");
    let tests = results["params"]["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2, "{results}");
    assert_eq!(results["params"]["replay"], true, "{results}");
    assert!(tests.iter().all(|t| t["cached"] == true), "{results}");
    assert!(tests.iter().any(|t| t["state"] == "failed"), "{results}");
    let marks = diagnostics_where(&mut server, &test_uri, |d| !from_source(d, "pytest").is_empty());
    assert!(!from_source(&marks, "pytest").is_empty());
    let lint = diagnostics_where(&mut server, &calc_uri, |d| !from_source(d, "ruff").is_empty());
    assert!(from_source(&lint, "ruff").iter().any(|d| d["code"] == "F401"), "{lint:?}");
    drop(server);
    // Changed while no editor ran: the old results describe other inputs; nothing comes back.
    std::fs::write(root.join("calc.py"), broken.replace("a - b", "a * b")).unwrap();
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "lint+tests"}), &json!({}));
    let replayed = server.wait_within(Duration::from_secs(5), |m| m["method"] == "pleat/testResults");
    assert!(replayed.is_none(), "results of other inputs shown: {replayed:?}");
}

#[test]
fn a_client_that_registers_watchers_gets_a_registration_and_its_notifications_count() {
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("pkg/__init__.py", "")]);
    let mut server = Server::start(&shared_cache());
    let caps = json!({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}});
    initialize(&mut server, &root, &json!({"onSave": "off"}), &caps);
    let registration = server.seen_or_wait(|m| m["method"] == "client/registerCapability");
    let globs: Vec<&str> = registration["params"]["registrations"][0]["registerOptions"]["watchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["globPattern"].as_str().unwrap())
        .collect();
    assert!(globs.contains(&"**/*.py") && globs.contains(&"**/pyproject.toml"), "{globs:?}");
    let b = uri(&root.join("pkg/b.py"));
    open(&mut server, &b, 1, "import pkg.generated\n");
    assert_eq!(server.diagnostics_for(&b, 1).len(), 1);
    let generated = root.join("pkg/generated.py");
    std::fs::write(&generated, "X = 1\n").unwrap();
    server.notify(
        "workspace/didChangeWatchedFiles",
        &json!({"changes": [{"uri": uri(&generated), "type": 1}]}),
    );
    assert!(server.diagnostics_for(&b, 1).is_empty());
}

#[test]
fn hover_definition_and_links_on_imports() {
    let (_dir, root) = fixture(&[
        ("pleat.toml", ""),
        ("requirements.txt", "attrs==24.2.0\n"),
        ("pkg/__init__.py", ""),
        ("pkg/util.py", "X = 1\n"),
        ("pkg/other.py", "from pkg import util\n"),
    ]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "off"}), &json!({}));
    let a = uri(&root.join("pkg/a.py"));
    let text = "import attrs\nfrom pkg import util\nimport pkg.util as u\n";
    open(&mut server, &a, 1, text);
    let util = uri(&root.join("pkg/util.py"));
    let hover = server.request(
        "textDocument/hover",
        &json!({"textDocument": {"uri": a}, "position": {"line": 1, "character": 17}}),
    );
    let value = hover["result"]["contents"]["value"].as_str().unwrap_or_else(|| panic!("{hover}"));
    assert!(value.contains("`pkg.util` → `pkg/util.py` (imported by 2 files)"), "{value}");
    let hover = server.request(
        "textDocument/hover",
        &json!({"textDocument": {"uri": a}, "position": {"line": 0, "character": 9}}),
    );
    let value = hover["result"]["contents"]["value"].as_str().unwrap();
    assert!(value.contains("distribution `attrs` declared in `requirements.txt"), "{value}");
    let definition = server.request(
        "textDocument/definition",
        &json!({"textDocument": {"uri": a}, "position": {"line": 2, "character": 10}}),
    );
    assert_eq!(definition["result"][0]["uri"], util, "{definition}");
    let links = server.request("textDocument/documentLink", &json!({"textDocument": {"uri": a}}));
    let links = links["result"].as_array().unwrap();
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(links.iter().all(|l| l["target"] == util));
    assert_eq!(links[0]["range"]["start"], json!({"line": 1, "character": 16}));
    // Dependents open at their import of the file.
    let dependents = server.request(
        "workspace/executeCommand",
        &json!({"command": "pleat.showDependents", "arguments": [{"file": util}]}),
    );
    let at: Vec<(&str, u64)> = dependents["result"]["files"]
        .as_array()
        .unwrap_or_else(|| panic!("{dependents}"))
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(at, [("pkg/a.py", 2), ("pkg/other.py", 1)], "{dependents}");
    // An import that closes a cycle through the file gets a hint with the chain.
    let c = uri(&root.join("pkg/c.py"));
    open(&mut server, &c, 1, "import pkg.a\n");
    server.notify(
        "textDocument/didChange",
        &json!({"textDocument": {"uri": a, "version": 2}, "contentChanges": [{"text": format!("{text}import pkg.c\n")}]}),
    );
    let hints = server.diagnostics_for(&a, 2);
    let cycle: Vec<&Value> = hints.iter().filter(|d| d["code"] == "import-cycle").collect();
    assert_eq!(cycle.len(), 1, "{hints:?}");
    assert_eq!(cycle[0]["message"], "import cycle: pkg/a.py → pkg/c.py → pkg/a.py");
    assert_eq!(
        (cycle[0]["range"]["start"]["line"].as_u64(), cycle[0]["severity"].as_u64()),
        (Some(3), Some(4))
    );
    // A function-level import (how projects break a cycle on purpose) and an `if
    // TYPE_CHECKING:` one close no import-time cycle: no hint unless asked for all cycles.
    let d = uri(&root.join("pkg/d.py"));
    open(&mut server, &d, 1, "import pkg.a\n");
    let e = uri(&root.join("pkg/e.py"));
    open(&mut server, &e, 1, "import pkg.a\n");
    let deferred = format!(
        "{text}import pkg.c\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.e\n\n\ndef later():\n    import pkg.d\n"
    );
    server.notify(
        "textDocument/didChange",
        &json!({"textDocument": {"uri": a, "version": 3}, "contentChanges": [{"text": deferred}]}),
    );
    let hints = server.diagnostics_for(&a, 3);
    let cycles: Vec<&Value> = hints.iter().filter(|d| d["code"] == "import-cycle").collect();
    assert_eq!(cycles.len(), 1, "only the module-level cycle through pkg/c.py: {hints:?}");
    server.notify(
        "workspace/didChangeConfiguration",
        &json!({"settings": {"pleat": {"onSave": "off", "importCycles": "all"}}}),
    );
    let hints = server.diagnostics_for(&a, 3);
    let mut lines: Vec<u64> = hints
        .iter()
        .filter(|d| d["code"] == "import-cycle")
        .map(|d| d["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, [3, 6, 10], "every cycle when asked: {hints:?}");
    // Nothing under the cursor: null, not an error.
    let nothing = server.request(
        "textDocument/hover",
        &json!({"textDocument": {"uri": a}, "position": {"line": 9, "character": 0}}),
    );
    assert!(nothing["result"].is_null() && nothing["error"].is_null(), "{nothing}");
}

#[test]
fn formatting_goes_through_the_hermetic_formatter_without_touching_the_file() {
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("m.py", "x=1\n")]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "off"}), &json!({}));
    let m = uri(&root.join("m.py"));
    let text = format!("# {}\nx=[1,\n  2]\n", nonce());
    open(&mut server, &m, 1, &text);
    let edits = server.request(
        "textDocument/formatting",
        &json!({"textDocument": {"uri": m}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    let edits = edits["result"].as_array().unwrap_or_else(|| panic!("{edits}"));
    assert_eq!(edits.len(), 1);
    assert!(edits[0]["newText"].as_str().unwrap().ends_with("x = [1, 2]\n"), "{edits:?}");
    assert_eq!(edits[0]["range"]["end"], json!({"line": 3, "character": 0}));
    assert_eq!(std::fs::read_to_string(root.join("m.py")).unwrap(), "x=1\n");
}

#[test]
fn bad_input_gets_errors_or_is_ignored_and_the_server_stays_up() {
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("pkg/__init__.py", "")]);
    std::fs::write(root.join("pkg/latin1.py"), b"# caf\xe9\nimport os\n").unwrap();
    let mut server = Server::start(&shared_cache());
    // A client that never answers the server's requests (progress, registration).
    server.answer_requests = false;
    let caps = json!({
        "window": {"workDoneProgress": true},
        "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}, "codeLens": {"refreshSupport": true}},
    });
    initialize(&mut server, &root, &json!({"onSave": "bogus"}), &caps);
    server.seen_or_wait(|m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"].as_str().unwrap().contains("pleat.onSave")
    });
    // Malformed JSON; JSON-RPC that tower-lsp cannot decode (a fractional id, a key given
    // twice: found by the fuzz target `lsp_framing`, they ended the session); then an unknown
    // method.
    let junk = "{not json";
    write!(server.stdin, "Content-Length: {}\r\n\r\n{junk}", junk.len()).unwrap();
    for body in [
        r#"{"jsonrpc":"2.0","id":1.5,"method":"textDocument/hover"}"#,
        r#"{"jsonrpc":"2.0","method":"initialized","method":"initialized"}"#,
    ] {
        write!(server.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    }
    server.stdin.flush().unwrap();
    let unknown = server.request("pleat/noSuchMethod", &json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    assert!(
        server.seen.iter().any(|m| m["error"]["code"] == -32700 && m["id"].is_null()),
        "junk is answered"
    );
    assert!(
        server.seen.iter().any(|m| m["error"]["code"] == -32600 && m["id"] == 1.5),
        "the fractional id is answered"
    );
    // A change to a document that was never opened; requests about unknown, outside and
    // non-UTF-8 files.
    server.notify(
        "textDocument/didChange",
        &json!({"textDocument": {"uri": uri(&root.join("nope.py")), "version": 3}, "contentChanges": [{"text": "x"}]}),
    );
    for file in [root.join("nope.py"), std::path::PathBuf::from("/etc/hosts"), root.join("pkg/latin1.py")] {
        let hover = server.request(
            "textDocument/hover",
            &json!({"textDocument": {"uri": uri(&file)}, "position": {"line": 1, "character": 8}}),
        );
        assert!(hover["error"].is_null() && hover["result"].is_null(), "{hover}");
        let lenses = server.request("textDocument/codeLens", &json!({"textDocument": {"uri": uri(&file)}}));
        assert!(lenses["error"].is_null(), "{lenses}");
    }
    let hover = server.request(
        "textDocument/hover",
        &json!({"textDocument": {"uri": "untitled:Untitled-1"}, "position": {"line": 0, "character": 0}}),
    );
    assert!(hover["error"].is_null(), "{hover}");
    let command =
        server.request("workspace/executeCommand", &json!({"command": "pleat.nope", "arguments": []}));
    assert_eq!(command["error"]["code"], -32602, "{command}");
    let command = server.request(
        "workspace/executeCommand",
        &json!({"command": "pleat.showDependents", "arguments": [{"file": "/etc/hosts"}]}),
    );
    assert!(
        command["error"]["message"].as_str().unwrap().contains("not in any workspace folder"),
        "{command}"
    );
    let formatting = server.request(
        "textDocument/formatting",
        &json!({"textDocument": {"uri": uri(&root.join("nope.py"))}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert!(formatting["error"]["message"].as_str().unwrap().contains("open it first"), "{formatting}");
    // Still serving, and the workspace state is intact.
    let b = uri(&root.join("pkg/b.py"));
    open(&mut server, &b, 1, "import pkg.nowhere\n");
    assert_eq!(server.diagnostics_for(&b, 1).len(), 1);
    let shutdown = server.request("shutdown", &json!(null));
    assert!(shutdown["error"].is_null(), "{shutdown}");
}

#[test]
fn multi_root_workspaces_resolve_each_folder_on_its_own() {
    let (_dir, root) = fixture(&[
        ("one/pleat.toml", ""),
        ("one/alpha/__init__.py", ""),
        ("two/pleat.toml", ""),
        ("two/beta/__init__.py", ""),
    ]);
    let mut server = Server::start(&shared_cache());
    let (one, two) = (root.join("one"), root.join("two"));
    server.request(
        "initialize",
        &json!({
            "processId": null,
            "workspaceFolders": [{"uri": uri(&one), "name": "one"}, {"uri": uri(&two), "name": "two"}],
            "initializationOptions": {"onSave": "off"},
            "capabilities": {},
        }),
    );
    server.notify("initialized", &json!({}));
    for _ in 0..2 {
        server.wait_for(|m| {
            m["method"] == "window/logMessage"
                && m["params"]["message"].as_str().unwrap().contains("Python files under")
        });
    }
    let a = uri(&one.join("alpha/a.py"));
    open(&mut server, &a, 1, "import alpha\nimport beta\n");
    let diagnostics = server.diagnostics_for(&a, 1);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0]["message"].as_str().unwrap().contains("`beta`"));
    let b = uri(&two.join("beta/b.py"));
    open(&mut server, &b, 1, "import beta\nimport alpha\n");
    let diagnostics = server.diagnostics_for(&b, 1);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0]["message"].as_str().unwrap().contains("`alpha`"));
    // A folder removed: its documents get nothing more from it; one added later loads.
    server.notify(
        "workspace/didChangeWorkspaceFolders",
        &json!({"event": {"added": [], "removed": [{"uri": uri(&two), "name": "two"}]}}),
    );
    let lenses = server.request("textDocument/codeLens", &json!({"textDocument": {"uri": b}}));
    assert_eq!(lenses["result"], json!([]), "{lenses}");
}

#[test]
fn a_client_that_handles_pleat_debug_test_gets_a_debug_lens_beside_each_run_lens() {
    let (_dir, root) = fixture(&[
        ("pleat.toml", ""),
        ("calc.py", "def add(a, b):\n    return a + b\n"),
        ("tests/test_calc.py", TEST_CALC),
    ]);
    let test_uri = uri(&root.join("tests/test_calc.py"));
    let debug_lenses = |server: &mut Server| -> Vec<Value> {
        let answer = server.request("textDocument/codeLens", &json!({"textDocument": {"uri": test_uri}}));
        let all = answer["result"].as_array().unwrap_or_else(|| panic!("{answer}"));
        all.iter().filter(|l| l["command"]["title"] == "▶ Debug test").cloned().collect()
    };
    // Opted in through the client capability `experimental.pleatDebugTest`.
    let mut server = Server::start(&shared_cache());
    initialize(
        &mut server,
        &root,
        &json!({"onSave": "off"}),
        &json!({"experimental": {"pleatDebugTest": true}}),
    );
    open(&mut server, &test_uri, 1, TEST_CALC);
    let debug = debug_lenses(&mut server);
    let at: Vec<u64> = debug.iter().map(|l| l["range"]["start"]["line"].as_u64().unwrap()).collect();
    assert_eq!(at, [3, 7, 8], "beside each test's run lens: {debug:?}");
    let command = &debug[0]["command"];
    assert_eq!(command["command"], "pleat.debugTest");
    assert_eq!(
        command["arguments"][0],
        json!({"test": "tests/test_calc.py::test_add", "file": test_uri, "root": root.canonicalize().unwrap()})
    );
    // Without the capability, no debug lens: a client that cannot attach gets nothing to click.
    let mut plain = Server::start(&shared_cache());
    initialize(&mut plain, &root, &json!({"onSave": "off"}), &json!({}));
    open(&mut plain, &test_uri, 1, TEST_CALC);
    assert!(lenses(&mut plain, &test_uri).iter().any(|(_, t)| t == "▶ Run test"));
    assert!(debug_lenses(&mut plain).is_empty());
}

#[test]
fn type_checking_on_save_is_selectable() {
    let text = format!("# {}\n\n\ndef f(x: int) -> str:\n    return x\n", nonce());
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("typed.py", &text)]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "lint", "typecheck": "mypy"}), &json!({}));
    let typed = root.join("typed.py");
    open(&mut server, &uri(&typed), 1, &text);
    save(&mut server, &typed, 2, &text);
    let diagnostics = diagnostics_where(&mut server, &uri(&typed), |d| !from_source(d, "mypy").is_empty());
    let mypy = from_source(&diagnostics, "mypy");
    assert_eq!(mypy[0]["range"]["start"]["line"], 4, "{mypy:?}");
    assert!(mypy[0]["message"].as_str().unwrap().contains("Incompatible return value"), "{mypy:?}");
    // Off again through didChangeConfiguration: the next save runs lint only.
    server.notify(
        "workspace/didChangeConfiguration",
        &json!({"settings": {"pleat": {"onSave": "lint", "typecheck": "off"}}}),
    );
    let fixed = text.replace("-> str", "-> int");
    save(&mut server, &typed, 3, &fixed);
    let diagnostics = diagnostics_where(&mut server, &uri(&typed), |d| from_source(d, "mypy").is_empty());
    assert!(from_source(&diagnostics, "mypy").is_empty());
}

#[test]
fn a_client_without_a_root_gets_the_repository_of_the_file_it_opens() {
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("pkg/__init__.py", "")]);
    let mut server = Server::start(&shared_cache());
    server.request("initialize", &json!({"processId": null, "capabilities": {}}));
    server.notify("initialized", &json!({}));
    let b = uri(&root.join("pkg/b.py"));
    open(&mut server, &b, 1, "import pkg\nimport pkg.nowhere\n");
    // Asked while the repository loads, the lenses wait for it instead of coming back empty.
    let lenses = server.request("textDocument/codeLens", &json!({"textDocument": {"uri": b}}));
    assert_eq!(lenses["result"][1]["command"]["title"], "0 dependents", "{lenses}");
    // Published while the lens request waited, or after it.
    let diagnostics = diagnostics_where(&mut server, &b, |d| !d.is_empty());
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0]["range"]["start"]["line"], 1);
}

#[test]
fn a_hung_test_times_out_with_a_diagnostic_and_a_broken_test_file_says_why() {
    let hung = format!("# {}\nimport time\n\n\ndef test_hangs():\n    time.sleep(60)\n", nonce());
    let broken = format!("# {}\n\n\ndef test_x():\n    return 1\n  return 2\n", nonce());
    let (_dir, root) =
        fixture(&[("pleat.toml", ""), ("tests/test_hung.py", &hung), ("tests/test_broken.py", &broken)]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "tests", "test": {"timeout": 2}}), &json!({}));
    let hung_path = root.join("tests/test_hung.py");
    open(&mut server, &uri(&hung_path), 1, &hung);
    save(&mut server, &hung_path, 2, &hung);
    let diagnostics =
        diagnostics_where(&mut server, &uri(&hung_path), |d| !from_source(d, "pytest").is_empty());
    let timed_out = from_source(&diagnostics, "pytest");
    assert_eq!(timed_out[0]["code"], "timed_out", "{timed_out:?}");
    assert!(timed_out[0]["message"].as_str().unwrap().contains("timed out after 2 s"), "{timed_out:?}");
    // The broken file must not time out too on a loaded machine (pytest alone can take 2 s to
    // start there): a timeout it cannot reach.
    server.notify(
        "workspace/didChangeConfiguration",
        &json!({"settings": {"pleat": {"onSave": "tests", "test": {"timeout": 300}}}}),
    );
    let broken_path = root.join("tests/test_broken.py");
    open(&mut server, &uri(&broken_path), 1, &broken);
    save(&mut server, &broken_path, 2, &broken);
    let diagnostics =
        diagnostics_where(&mut server, &uri(&broken_path), |d| !from_source(d, "pytest").is_empty());
    let message = from_source(&diagnostics, "pytest")[0]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("IndentationError"), "{message}");
}

#[test]
fn setup_and_collection_errors_are_marked_where_they_happen_in_the_test_file() {
    let conftest = "import pytest\nfrom pkg.loader import load\n\n\n@pytest.fixture\ndef conf_loader():\n    return load(\"x\")\n";
    let fixtures = format!(
        "# {}\nimport pytest\n\n\ndef test_ok():\n    pass\n\n\ndef test_conf(conf_loader):\n    pass\n\n\ndef test_missing(nosuchfixture):\n    pass\n",
        nonce()
    );
    let imports =
        format!("# {}\nimport os\n\nfrom pkg.loader import nothere\n\n\ndef test_x():\n    pass\n", nonce());
    let (_dir, root) = fixture(&[
        ("pleat.toml", ""),
        ("pkg/__init__.py", ""),
        ("pkg/loader.py", "def load(name):\n    raise LookupError(f\"no package {name}\")\n"),
        ("tests/conftest.py", conftest),
        ("tests/test_fixtures.py", &fixtures),
        ("tests/test_imports.py", &imports),
    ]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "tests"}), &json!({}));
    // A fixture from conftest.py that raised, and a fixture that does not exist: each is an
    // error on the test's definition, with pytest's message.
    let path = root.join("tests/test_fixtures.py");
    open(&mut server, &uri(&path), 1, &fixtures);
    save(&mut server, &path, 2, &fixtures);
    let diagnostics = diagnostics_where(&mut server, &uri(&path), |d| from_source(d, "pytest").len() >= 2);
    let marks: Vec<(u64, String)> = from_source(&diagnostics, "pytest")
        .iter()
        .map(|d| (d["range"]["start"]["line"].as_u64().unwrap(), d["message"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(marks.len(), 2, "{marks:?}");
    assert_eq!(marks[0].0, 8, "on `def test_conf`: {marks:?}");
    assert!(marks[0].1.contains("LookupError: no package x"), "{marks:?}");
    assert_eq!(marks[1].0, 12, "on `def test_missing`: {marks:?}");
    assert!(marks[1].1.contains("fixture 'nosuchfixture' not found"), "{marks:?}");
    // A collection error is one error on the import that failed, naming the repository's
    // file (not the sandbox's copy).
    let path = root.join("tests/test_imports.py");
    open(&mut server, &uri(&path), 1, &imports);
    save(&mut server, &path, 2, &imports);
    let diagnostics = diagnostics_where(&mut server, &uri(&path), |d| !from_source(d, "pytest").is_empty());
    let marks = from_source(&diagnostics, "pytest");
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(marks[0]["range"]["start"]["line"], 3, "{marks:?}");
    let message = marks[0]["message"].as_str().unwrap();
    assert!(message.contains("cannot import name 'nothere' from 'pkg.loader'"), "{message}");
    assert!(!message.contains("sandbox"), "{message}");
    // An assertion's whole explanation (pytest's diff) is in the message, after its first line.
    let path = root.join("tests/test_assert.py");
    let text = format!(
        "# {}\n\n\ndef test_list():\n    got = [\"W:Template 'a.html' is undefined, said the long reason here\"]\n    assert got == [\"W:Template 'a.html' is undefined, said the long reason there\"]\n",
        nonce()
    );
    open(&mut server, &uri(&path), 1, &text);
    save(&mut server, &path, 2, &text);
    let diagnostics = diagnostics_where(&mut server, &uri(&path), |d| !from_source(d, "pytest").is_empty());
    let message = from_source(&diagnostics, "pytest")[0]["message"].as_str().unwrap().to_owned();
    let lines: Vec<&str> = message.lines().collect();
    assert!(lines[0].starts_with("test_list failed: assert ["), "{message}");
    assert!(
        lines.iter().any(|l| l.contains("At index 0 diff:") && l.ends_with("the long reason there\"")),
        "the diff, each line whole: {message}"
    );
}

/// The server's resident memory, from /proc (MiB).
fn rss_mib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/<pid>/status");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

/// Waits until every notification sent so far has been applied (a query is answered after
/// them), then a moment for the allocator.
fn settle(server: &mut Server, uri: &str) {
    let hover = server.request_within(
        Duration::from_mins(3),
        "textDocument/hover",
        &json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}),
    );
    assert!(hover["error"].is_null(), "{hover}");
    std::thread::sleep(Duration::from_millis(500));
}

/// Issue 10, item 8: closing a 20 MB buffer gave nothing back (11 MiB before, 417 MiB
/// after the close). The text, its parse and the allocator's free pages must go.
#[test]
fn closing_a_large_document_gives_its_memory_back() {
    let (_dir, root) = fixture(&[("pleat.toml", ""), ("pkg/__init__.py", "")]);
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({}), &json!({}));
    let big = uri(&root.join("pkg/big.py"));
    settle(&mut server, &big);
    let before = rss_mib(&server);
    let mut text = String::from("import os\n");
    let mut i = 0;
    while text.len() < 20 << 20 {
        writeln!(text, "value_{i} = compute({i}, \"text\")").unwrap();
        i += 1;
    }
    open(&mut server, &big, 1, &text);
    settle(&mut server, &big);
    let opened = rss_mib(&server);
    server.notify("textDocument/didClose", &json!({"textDocument": {"uri": big}}));
    settle(&mut server, &big);
    let closed = rss_mib(&server);
    eprintln!("VmRSS: {before} MiB before, {opened} MiB open, {closed} MiB closed");
    assert!(opened >= before + 20, "the open document is in memory ({before} → {opened} MiB)");
    assert!(closed <= before + 50, "after the close: {before} → {opened} → {closed} MiB");
}

/// Waits (10 s at most) for the server to end; its exit code.
fn exit_code(server: &mut Server) -> Option<i32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the server did not exit within 10 s of `exit`");
}

/// The protocol: `exit` ends the server with 0 after `shutdown`, with 1 without it.
#[test]
fn exit_without_shutdown_is_exit_code_1_and_after_it_0() {
    let dir = tempfile::tempdir().unwrap();
    for (ask_shutdown, expected) in [(false, 1), (true, 0)] {
        let mut server = Server::start(&dir.path().join("cache"));
        let init =
            server.request("initialize", &json!({"processId": null, "rootUri": null, "capabilities": {}}));
        assert!(init["error"].is_null(), "{init}");
        server.notify("initialized", &json!({}));
        if ask_shutdown {
            let shutdown = server.request("shutdown", &json!(null));
            assert!(shutdown["error"].is_null(), "{shutdown}");
        }
        server.notify("exit", &json!(null));
        assert_eq!(exit_code(&mut server), Some(expected), "shutdown asked: {ask_shutdown}");
    }
}

#[test]
fn pleat_export_makes_the_virtualenv_and_a_changed_requirement_is_said_once_with_export_now() {
    let pyproject = "[project]\nname = \"shop\"\nversion = \"0.1.0\"\ndependencies = [\"six<1.17\"]\n\n[tool.pleat]\nsource_roots = [\"src\"]\n";
    let (_dir, root) = fixture(&[("pyproject.toml", pyproject), ("src/shop/__init__.py", "import six\n")]);
    let root = root.canonicalize().unwrap();
    let mut server = Server::start(&shared_cache());
    initialize(&mut server, &root, &json!({"onSave": "off"}), &json!({}));
    server.send(&json!({"jsonrpc": "2.0", "id": 900, "method": "workspace/executeCommand",
        "params": {"command": "pleat.export", "arguments": [{"with": ["pytest"]}]}}));
    let answer = server
        .wait_within(Duration::from_mins(5), |m| m["id"] == 900 && m.get("method").is_none())
        .expect("the export finished");
    let python = answer["result"]["python"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    assert!(
        python.starts_with(&format!("{}/dist/export/python/virtualenvs/default/", root.display())),
        "{answer}"
    );
    let six = |python: &str| {
        let out =
            Command::new(python).args(["-c", "import six, shop; print(six.__version__)"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(six(&python), "1.16.0");

    // The requirement changes on disk (seen by polling): one message offering to export
    // again, and the status names the exported interpreter.
    std::fs::write(root.join("pyproject.toml"), pyproject.replace("six<1.17", "six==1.17.0")).unwrap();
    server.answer_requests = false;
    let offer = server
        .wait_within(Duration::from_secs(30), |m| m["method"] == "window/showMessageRequest")
        .expect("the stale export is said");
    assert!(
        offer["params"]["message"]
            .as_str()
            .unwrap()
            .contains("changed since dist/export/python/virtualenvs/default/"),
        "{offer}"
    );
    assert_eq!(offer["params"]["actions"][0]["title"], "Export now");
    let status =
        server.seen_or_wait(|m| m["method"] == "pleat/status" && m["params"]["exportedPython"].is_string());
    assert_eq!(status["params"]["exportedPython"], python.as_str());
    // A reload with the same requirements says nothing again.
    std::fs::write(root.join("pyproject.toml"), pyproject.replace("six<1.17", "six==1.17.0") + "# again\n")
        .unwrap();
    let again = server.wait_within(Duration::from_secs(6), |m| m["method"] == "window/showMessageRequest");
    assert!(again.is_none(), "said once: {again:?}");
    server.send(&json!({"jsonrpc": "2.0", "id": offer["id"], "result": {"title": "Export now"}}));
    let done = server
        .wait_within(Duration::from_mins(5), |m| m["method"] == "window/showMessage")
        .expect("the export after \"Export now\" is said");
    assert!(
        done["params"]["message"].as_str().unwrap().contains(&format!("interpreter: {python}")),
        "{done}"
    );
    assert_eq!(six(&python), "1.17.0");
}
