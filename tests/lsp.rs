//! End-to-end tests of `pleat lsp`: the real binary over stdio, driven by a small JSON-RPC client.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// A running `pleat lsp` with a reader thread delivering every message it sends.
struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next_id: i64,
}

impl Server {
    fn start(cache: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pleat"))
            .args(["--cache-dir"])
            .arg(cache)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pleat lsp starts");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            loop {
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Content-Length: ") {
                        length = value.parse().unwrap();
                    }
                }
                let mut body = vec![0u8; length];
                if stdout.read_exact(&mut body).is_err() {
                    return;
                }
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        Self { child, stdin, messages, next_id: 1 }
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: &Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait_for(|m| m["id"] == id)
    }

    fn notify(&mut self, method: &str, params: &Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The first message matching `want`, within 20 s.
    fn wait_for(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let message = self.messages.recv_timeout(left).expect("the server answered in time");
            if want(&message) {
                return message;
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
    for version in 2..=200 {
        let text = if version % 2 == 0 { "import nowhere\n" } else { "import os\n" };
        server.notify(
            "textDocument/didChange",
            &json!({"textDocument": {"uri": b, "version": version}, "contentChanges": [{"text": text}]}),
        );
    }
    let last = server.diagnostics_for(&b, 200);
    assert_eq!(last.len(), 1);
    assert!(last[0]["message"].as_str().unwrap().contains("`nowhere`"));
    let shutdown = server.request("shutdown", &json!(null));
    assert!(shutdown["error"].is_null(), "{shutdown}");
}
