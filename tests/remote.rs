//! End-to-end tests of the remote cache against a real BuildGrid (installed by scripts/install-buildgrid.sh, started on a free 127.0.0.1 port by each test and killed by a guard): two cache folders as two machines sharing results, a dead or killed server, a corrupted blob, a digest function the store does not use.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/lsp_stdio.rs"]
mod lsp_stdio;

#[path = "support/remote.rs"]
mod support;

use support::{Certificates, bgd, free_port, outcomes, sources};

const PLEAT: &str = env!("CARGO_BIN_EXE_pleat");

/// The fixture: a source module and three test files (one slow enough to kill the server
/// while it runs).
const FIXTURE: &[(&str, &str)] = &[
    ("src/calc/__init__.py", ""),
    ("src/calc/ops.py", "def double(x):\n    return 2 * x\n"),
    ("tests/test_ops.py", "from calc.ops import double\n\n\ndef test_double():\n    assert double(2) == 4\n"),
    ("tests/test_more.py", "from calc.ops import double\n\n\ndef test_zero():\n    assert double(0) == 0\n"),
    ("tests/test_other.py", "def test_other():\n    print('some output')\n    assert True\n"),
];

/// A BuildGrid server (disk CAS under its folder, in-memory action cache), killed on drop.
struct BuildGrid {
    child: Option<Child>,
    port: u16,
    cas: PathBuf,
    /// Served over TLS with these certificates (`grpcs://`); the lines a client's
    /// `[tool.pleat.remote]` needs to trust it (and identify itself).
    tls: Option<Certificates>,
}

impl BuildGrid {
    fn start(dir: &Path) -> Self {
        Self::start_serving(dir, None)
    }

    /// BuildGrid over TLS that asks every client for a certificate the test CA signed.
    fn start_mutual_tls(dir: &Path) -> Self {
        Self::start_serving(dir, Some(Certificates::make(&dir.join("certs"))))
    }

    fn start_serving(dir: &Path, tls: Option<Certificates>) -> Self {
        let port = free_port();
        let channel = tls
            .as_ref()
            .map_or_else(|| "    insecure-mode: true\n".to_owned(), Certificates::buildgrid_channel);
        let cas = dir.join("cas-disk");
        std::fs::create_dir_all(&cas).unwrap();
        let config = dir.join("bgd.yml");
        std::fs::write(
            &config,
            format!(
                "server:\n  - !channel\n    address: \"127.0.0.1:{port}\"\n{channel}authorization:\n  method: none\nstorages:\n  - !disk-storage &cas\n    path: {}\ncaches:\n  - !lru-action-cache &ac\n    storage: *cas\n    max-cached-refs: 10000\n    allow-updates: true\n    cache-failed-actions: true\ninstances:\n  - name: main\n    services:\n      - !cas\n        storage: *cas\n      - !bytestream\n        storage: *cas\n      - !action-cache\n        cache: *ac\n",
                cas.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("bgd.log")).unwrap();
        let child = Command::new(bgd())
            .args(["server", "start"])
            .arg(&config)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("bgd starts");
        let mut server = Self { child: Some(child), port, cas, tls };
        server.wait_ready(dir);
        support::wait_answering(&server.address(), server.tls.as_ref(), dir);
        server
    }

    /// Polls the port until BuildGrid accepts connections (it binds once it serves).
    fn wait_ready(&mut self, dir: &Path) {
        support::wait_port(self.port, self.child.as_mut().unwrap(), &dir.join("bgd.log"), "bgd");
    }

    fn address(&self) -> String {
        let scheme = if self.tls.is_some() { "grpcs" } else { "grpc" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The fixture repository with `[tool.pleat.remote]` at `address`, and room for caches.
struct Machines {
    dir: tempfile::TempDir,
}

impl Machines {
    fn new(address: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        for (path, text) in FIXTURE {
            let full = repo.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        std::fs::write(
            repo.join("pyproject.toml"),
            format!(
                "[tool.pleat]\nsource_roots = [\"src\", \".\"]\n{extra}\n[tool.pleat.remote]\naddress = \"{address}\"\ninstance_name = \"main\"\ntimeout = 5\n"
            ),
        )
        .unwrap();
        Self { dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Adds lines to `[tool.pleat.remote]` (the last table of the fixture's pyproject.toml).
    fn add_remote_lines(&self, lines: &str) {
        let path = self.repo().join("pyproject.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, format!("{text}{lines}")).unwrap();
    }

    /// `pleat --cache-dir <machine> ARGS…` with CI unset (so cache_write is off unless asked).
    fn command(&self, machine: &str, args: &[&str]) -> Command {
        let cache = self.dir.path().join(machine);
        let mut command = Command::new(PLEAT);
        command
            .current_dir(self.repo())
            .arg("--root")
            .arg(self.repo())
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .env("PLEAT_CACHE_DIR", &cache)
            .env_remove("CI")
            .env_remove("XDG_CACHE_HOME")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        command
    }

    fn run(&self, machine: &str, args: &[&str]) -> Run {
        let output = self.command(machine, args).output().expect("pleat runs");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{}", self.describe());
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.describe()))
    }

    fn describe(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }

    /// The stderr lines that warn about the remote cache.
    fn remote_warnings(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.contains("warning:") && l.contains("remote cache")).collect()
    }
}

fn all(json: &Value, source: &str) -> bool {
    sources(json).iter().all(|(_, s)| s == source)
}

#[test]
fn two_machines_share_results_through_buildgrid() {
    let scratch = tempfile::tempdir().unwrap();
    let server = BuildGrid::start(scratch.path());
    let machines = Machines::new(&server.address(), "");

    let status = machines.run("a", &["remote", "status"]);
    status.ok();
    assert!(
        status.stdout.contains("digest functions: sha256 (the local store uses sha256)"),
        "{}",
        status.describe()
    );
    assert!(
        status.stdout.contains("round trip:") && status.stdout.contains("✓ usable"),
        "{}",
        status.describe()
    );

    // Machine A runs everything and uploads.
    let a = machines.run("a", &["-v", "--format", "json", "test", "::", "--remote-cache-write"]);
    let a_json = a.ok().json();
    assert!(all(&a_json, "local"), "{:?}\n{}", sources(&a_json), a.describe());
    // The three files' results went up (a line-recording twin that finished before the end
    // of the run may have gone up too: how many do is a matter of timing).
    let uploaded: u64 = a
        .stderr
        .lines()
        .find(|l| l.starts_with("pleat: remote cache: 0 hits, "))
        .and_then(|l| l.split("; ").find_map(|part| part.split_once(" results uploaded")))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no upload count: {}", a.describe()));
    assert!(uploaded >= 3, "{}", a.describe());
    assert!(a.remote_warnings().is_empty(), "{}", a.describe());

    // Machine B: every result from the remote cache, nothing run, the same results.
    let b = machines.run("b", &["-v", "--format", "json", "test", "::"]);
    let b_json = b.ok().json();
    // What came over the wire: three hits, their blobs (stdout, stderr, results files).
    let line = b.stderr.lines().find(|l| l.starts_with("pleat: remote cache: ")).unwrap_or_default();
    let fetched: u64 = line
        .split("; ")
        .find_map(|part| part.strip_suffix(" bytes fetched"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count: {}", b.describe()));
    assert!(line.starts_with("pleat: remote cache: 3 hits, 0 misses, 0 rejected"), "{}", b.describe());
    assert!(fetched > 0, "{}", b.describe());
    assert!(all(&b_json, "remote-cache"), "{:?}\n{}", sources(&b_json), b.describe());
    assert_eq!(b_json["summary"]["ran"], 0);
    assert_eq!(b_json["summary"]["remote_cache"], 3);
    assert_eq!(outcomes(&a_json), outcomes(&b_json));

    // The remote hits were recorded locally: B's next run is local hits.
    let again = machines.run("b", &["--format", "json", "test", "::"]);
    assert!(all(&again.ok().json(), "local-cache"), "{}", again.describe());

    // An edit on B reruns only the file it changes.
    std::fs::write(machines.repo().join("tests/test_other.py"), "def test_other():\n    assert 1 + 1 == 2\n")
        .unwrap();
    let edited = machines.run("b", &["--format", "json", "test", "::"]);
    let edited_json = edited.ok().json();
    let by_file: std::collections::BTreeMap<_, _> = sources(&edited_json).into_iter().collect();
    assert_eq!(by_file["tests/test_other.py"], "local", "{}", edited.describe());
    assert_eq!(by_file["tests/test_ops.py"], "local-cache");
    assert_eq!(by_file["tests/test_more.py"], "local-cache");

    // A third machine reading in human form: the summary counts the remote hits.
    let c = machines.run("c", &["test", "tests/test_ops.py"]);
    assert!(c.ok().stdout.contains("(1 cached, 0 ran, 1 from the remote cache)"), "{}", c.describe());
}

#[test]
fn a_dead_remote_is_one_warning_and_the_run_finishes_here() {
    // Nothing listens on the port.
    let machines = Machines::new(&format!("grpc://127.0.0.1:{}", free_port()), "");
    let run = machines.run("a", &["--format", "json", "test", "::", "--remote-cache-write"]);
    let json = run.ok().json();
    assert!(all(&json, "local"), "{}", run.describe());
    assert_eq!(run.remote_warnings().len(), 1, "{}", run.describe());
    assert!(run.remote_warnings()[0].contains("did not answer"), "{}", run.describe());
    let status = machines.run("a", &["remote", "status"]);
    assert_eq!(status.code, Some(1), "{}", status.describe());
    assert!(status.stdout.contains("did not answer"), "{}", status.describe());
}

#[test]
fn buildgrid_killed_mid_run_is_one_warning_and_the_run_finishes_here() {
    let scratch = tempfile::tempdir().unwrap();
    let mut server = BuildGrid::start(scratch.path());
    let machines = Machines::new(&server.address(), "");
    let mut child = machines
        .command("a", &["test", "::", "--remote-cache-write"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first file has finished (its upload queued), the server goes away.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("[1/") {
            server.kill();
            break;
        }
        line.clear();
    }
    assert!(server.child.is_none(), "no file finished: {seen}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    seen.push_str(&rest);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{seen}");
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}\n{seen}");
    let warnings = seen.lines().filter(|l| l.contains("warning:") && l.contains("remote cache")).count();
    assert_eq!(warnings, 1, "{seen}");
}

#[test]
fn a_corrupted_blob_on_buildgrid_is_rejected_and_the_process_runs_here() {
    let scratch = tempfile::tempdir().unwrap();
    let server = BuildGrid::start(scratch.path());
    let machines = Machines::new(&server.address(), "");
    let a = machines.run("a", &["--format", "json", "test", "tests/test_other.py", "--remote-cache-write"]);
    let a_json = a.ok().json();
    // The blobs of pytest's output (stdout and the results file, both naming the outcome)
    // that BuildGrid keeps on disk now hold other bytes of the same size, so only the digest
    // can tell; the action cache (its results are blobs in the same storage) still names them.
    let mut corrupted = 0;
    let mut stack = vec![server.cas.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mut bytes = std::fs::read(&path).unwrap();
                if !bytes.windows(6).any(|w| w == b"passed") {
                    continue;
                }
                for byte in &mut bytes {
                    *byte ^= 0x55;
                }
                std::fs::write(&path, bytes).unwrap();
                corrupted += 1;
            }
        }
    }
    assert!(corrupted > 0, "BuildGrid stored nothing under {}", server.cas.display());
    let b = machines.run("b", &["--format", "json", "test", "tests/test_other.py"]);
    let b_json = b.ok().json();
    assert!(all(&b_json, "local"), "the corrupted result was not used: {}", b.describe());
    assert_eq!(outcomes(&a_json), outcomes(&b_json));
    let warnings = b.remote_warnings();
    assert_eq!(warnings.len(), 1, "{}", b.describe());
    assert!(warnings[0].contains("corrupted blob"), "{}", b.describe());
}

#[test]
fn a_store_on_another_digest_function_is_a_clear_error_at_start() {
    let scratch = tempfile::tempdir().unwrap();
    let server = BuildGrid::start(scratch.path());
    let machines = Machines::new(&server.address(), "digest_function = \"blake3\"");
    let run = machines.run("a", &["test", "::"]);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(
        run.stderr.contains("serves sha256 digests, but the local store uses blake3; set digest_function = \"sha256\" under [tool.pleat]"),
        "{}",
        run.describe()
    );
    let status = machines.run("a", &["remote", "status"]);
    assert_eq!(status.code, Some(1), "{}", status.describe());
    assert!(status.stdout.contains("the local store uses blake3"), "{}", status.describe());
}

/// Blobs above BuildGrid's batch limit (4 MiB) go through ByteStream, streamed both ways;
/// an upload sends only what `FindMissingBlobs` says is missing.
/// A store of its own under `dir`, on SHA-256 as BuildGrid.
fn sha256_store(dir: &Path, name: &str) -> engine::store::Store {
    let options = engine::store::StoreOptions {
        function: engine::hash::DigestFunction::Sha256,
        ..engine::store::StoreOptions::new(dir.join(name))
    };
    engine::store::Store::open(&options).unwrap()
}

/// A REAPI client of `server`'s instance, with the batch limit it announces.
fn raw_client(server: &BuildGrid) -> (remote::client::Client, remote::blobs::Limits) {
    let client = remote::client::Client::new(remote::client::Target {
        address: server.address(),
        instance_name: "main".to_owned(),
        token: None,
        timeout: Duration::from_secs(30),
        tls: None,
    })
    .unwrap();
    let status = remote::cache::status(&client).unwrap();
    let function = engine::hash::DigestFunction::Sha256.reapi_value();
    (client, remote::blobs::Limits::new(status.max_batch_bytes(), function))
}

#[test]
fn large_blobs_go_through_bytestream_both_ways() {
    let scratch = tempfile::tempdir().unwrap();
    let server = BuildGrid::start(scratch.path());
    let open = |name: &str| sha256_store(scratch.path(), name);
    let (here, there) = (open("here"), open("there"));
    // 6 MiB that no other run of this test wrote: a xorshift stream seeded by the time.
    let mut state =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let bytes: Vec<u8> = (0..6 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let large = here.put(&bytes).unwrap();
    let small = here.put(b"a small blob beside it").unwrap();
    let (client, limits) = raw_client(&server);
    assert!(limits.batch_bytes < 6 << 20, "the blob must be above the batch limit");
    let sent = remote::blobs::upload(&client, &here, &[large, small], limits).unwrap();
    assert_eq!((sent.blobs, sent.bytes), (2, large.size + small.size));
    let again = remote::blobs::upload(&client, &here, &[large, small], limits).unwrap();
    assert_eq!(again.blobs, 0, "nothing is missing the second time");
    let fetched = remote::blobs::download(&client, &there, &[large, small], limits).unwrap();
    assert_eq!(fetched, large.size + small.size);
    assert_eq!(there.get(&large).unwrap().as_deref(), Some(bytes.as_slice()));
    assert_eq!(there.get(&small).unwrap().as_deref(), Some(&b"a small blob beside it"[..]));
}

#[test]
fn results_are_shared_over_mutual_tls_and_an_untrusted_or_anonymous_client_is_told() {
    let scratch = tempfile::tempdir().unwrap();
    let server = BuildGrid::start_mutual_tls(scratch.path());
    let certs = server.tls.as_ref().unwrap();
    let machines = Machines::new(&server.address(), "");
    machines.add_remote_lines(&certs.client_lines());

    let status = machines.run("a", &["remote", "status"]);
    assert!(status.ok().stdout.contains("✓ usable"), "{}", status.describe());
    let a = machines.run("a", &["--format", "json", "test", "::", "--remote-cache-write"]);
    let a_json = a.ok().json();
    assert!(all(&a_json, "local") && a.remote_warnings().is_empty(), "{}", a.describe());
    let b = machines.run("b", &["--format", "json", "test", "::"]);
    let b_json = b.ok().json();
    assert!(all(&b_json, "remote-cache"), "{:?}\n{}", sources(&b_json), b.describe());
    assert_eq!(outcomes(&a_json), outcomes(&b_json));

    // Without a client certificate the server refuses the handshake: one warning, a local run.
    let anonymous = Machines::new(&server.address(), "");
    anonymous.add_remote_lines(&format!("tls_ca_file = \"{}\"\n", certs.ca().display()));
    let run = anonymous.run("c", &["--format", "json", "test", "::"]);
    let json = run.ok().json();
    assert!(all(&json, "local"), "{}", run.describe());
    assert_eq!(run.remote_warnings().len(), 1, "{}", run.describe());
    let status = anonymous.run("c", &["remote", "status"]);
    assert_eq!(status.code, Some(1), "{}", status.describe());
    assert!(
        status.stdout.contains("did not answer") && status.stdout.contains("tls_client_cert_file"),
        "{}",
        status.describe()
    );

    // The system's authorities do not know the test CA: refused too, with a sentence.
    let untrusted = Machines::new(&server.address(), "");
    let status = untrusted.run("d", &["remote", "status"]);
    assert_eq!(status.code, Some(1), "{}", status.describe());
    assert!(
        status.stdout.contains("did not answer") && status.stdout.contains("tls_ca_file"),
        "{}",
        status.describe()
    );

    // A certificate file that is not there: a usage error naming the setting.
    let missing = Machines::new(&server.address(), "");
    missing.add_remote_lines("tls_ca_file = \"no/such/ca.pem\"\n");
    let run = missing.run("e", &["remote", "status"]);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(
        run.stderr.contains("tls_ca_file") && run.stderr.contains("no/such/ca.pem"),
        "{}",
        run.describe()
    );
}

/// A minimal LSP client over the real `pleat lsp`'s stdio: enough to open a workspace, save
/// a file and read the run's `pleat/testResults`.
struct Lsp {
    child: Child,
    stdin: std::process::ChildStdin,
    messages: std::sync::mpsc::Receiver<Value>,
}

impl Lsp {
    fn start(command: &mut Command) -> Self {
        let mut child = command
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let messages = lsp_stdio::messages(child.stdout.take().unwrap());
        Self { child, stdin, messages }
    }

    fn send(&mut self, message: &Value) {
        use std::io::Write as _;
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The first message matching `want` (answering the server's own requests with null).
    fn wait(&mut self, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message =
                self.messages.recv_timeout(left).expect("the server sent what the test waits for in time");
            if message.get("method").is_some() && message.get("id").is_some() {
                self.send(&serde_json::json!({"jsonrpc": "2.0", "id": message["id"], "result": null}));
            }
            if want(&message) {
                return message;
            }
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_language_server_takes_results_from_the_remote_cache() {
    let scratch = tempfile::tempdir().unwrap();
    let server = BuildGrid::start(scratch.path());
    let machines = Machines::new(&server.address(), "");
    machines.run("a", &["test", "::", "--remote-cache-write"]).ok();

    // Machine B's editor: a save of the module runs its two test files; both come from the
    // remote cache, nothing runs here.
    let mut lsp = Lsp::start(&mut machines.command("b", &[]));
    let root = format!("file://{}", machines.repo().display());
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": null, "rootUri": root, "workspaceFolders": [{"uri": root, "name": "repo"}],
        "initializationOptions": {"onSave": "tests"}, "capabilities": {}}}));
    lsp.wait(Duration::from_mins(1), |m| m["id"] == 1);
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    lsp.wait(Duration::from_mins(2), |m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"].as_str().unwrap().contains("Python files under")
    });
    let source = machines.repo().join("src/calc/ops.py");
    let uri = format!("file://{}", source.display());
    let text = std::fs::read_to_string(&source).unwrap();
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}}));
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "textDocument/didSave", "params": {"textDocument": {"uri": uri}}}));
    let results = lsp.wait(Duration::from_mins(5), |m| {
        m["method"] == "pleat/testResults"
            && m["params"]["replay"] != true
            && !m["params"]["files"].as_array().unwrap().is_empty()
    });
    let files: std::collections::BTreeMap<String, String> = results["params"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["source"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        files,
        [("tests/test_more.py", "remote-cache"), ("tests/test_ops.py", "remote-cache")]
            .map(|(f, s)| (f.to_owned(), s.to_owned()))
            .into(),
        "{results}"
    );
}

#[test]
fn folders_travel_as_trees_and_a_result_naming_only_its_tree_is_read() {
    use engine::reapi;
    use engine::tree::Node;
    use prost::Message as _;

    let scratch = tempfile::tempdir().unwrap();
    let server = BuildGrid::start(scratch.path());
    let open = |name: &str| sha256_store(scratch.path(), name);
    let here = open("here");
    // Three levels, a file at each, one folder twice; contents no other run wrote.
    let salt = format!("{:?}", std::time::SystemTime::now());
    let mut entries = std::collections::BTreeMap::new();
    for path in ["a.txt", "pkg/b.txt", "pkg/sub/c.txt", "other/sub/c.txt", "pkg/sub/deeper/d.txt"] {
        let text = if path.ends_with("c.txt") { format!("c {salt}") } else { format!("{path} {salt}") };
        entries.insert(
            path.to_owned(),
            Node::File { digest: here.put(text.as_bytes()).unwrap(), executable: false },
        );
    }
    let root = engine::tree::from_entries(&here, &entries).unwrap();
    let (client, limits) = raw_client(&server);
    let blobs = remote::blobs::tree_blobs(&here, &root).unwrap();
    remote::blobs::upload(&client, &here, &blobs, limits).unwrap();

    // A whole folder through GetTree (BuildGrid walks the Directory messages Pleat wrote).
    let folders = client.get_tree(&remote::digest(&root), limits.function).unwrap();
    assert_eq!(folders.len(), 6, "the root, pkg, pkg/sub, pkg/sub/deeper, other, other/sub: {folders:?}");
    let there = open("there");
    remote::blobs::download_trees(&client, &there, vec![root], limits).unwrap();
    assert_eq!(engine::tree::entries(&there, &root).unwrap(), entries);

    // A result naming its folder by its Tree only, as other REAPI clients may write it.
    let mut result = reapi::ActionResult {
        stdout_digest: Some(reapi::Digest::from_content(&here.put(b"out").unwrap())),
        stderr_digest: Some(reapi::Digest::from_content(&here.put(b"").unwrap())),
        output_directories: vec![reapi::OutputDirectory {
            path: "dist".to_owned(),
            tree_digest: None,
            root_directory_digest: Some(reapi::Digest::from_content(&root)),
        }],
        ..reapi::ActionResult::default()
    };
    let trees = remote::trees::attach(&here, &mut result).unwrap();
    assert_eq!(trees.len(), 1);
    let mut sent = trees.clone();
    sent.extend(remote::blobs::result_blobs(&here, &result).unwrap());
    remote::blobs::upload(&client, &here, &sent, limits).unwrap();
    let mut tree_only = result.clone();
    tree_only.output_directories[0].root_directory_digest = None;
    let elsewhere = open("elsewhere");
    let fetched = remote::blobs::download_result(&client, &elsewhere, &mut tree_only, limits).unwrap();
    assert!(fetched.is_some_and(|bytes| bytes > 0));
    assert_eq!(
        tree_only.output_directories[0].root_directory_digest,
        Some(reapi::Digest::from_content(&root))
    );
    assert_eq!(engine::tree::entries(&elsewhere, &root).unwrap(), entries);

    // A tree that does not hold the folders its root names is refused, and nothing stored.
    let mut broken = reapi::Tree::decode(here.get(&trees[0]).unwrap().unwrap().as_slice()).unwrap();
    broken.children.pop();
    let broken_digest = here.put(&broken.encode_to_vec()).unwrap();
    remote::blobs::upload(&client, &here, &[broken_digest], limits).unwrap();
    let mut liar = result.clone();
    liar.output_directories[0].tree_digest = Some(reapi::Digest::from_content(&broken_digest));
    liar.output_directories[0].root_directory_digest = None;
    let fourth = open("fourth");
    let err = remote::blobs::download_result(&client, &fourth, &mut liar, limits).unwrap_err();
    assert!(err.to_string().contains("lacks the folder"), "{err}");
    assert!(!fourth.contains(&root).unwrap(), "no folder of a refused tree is kept");
}
