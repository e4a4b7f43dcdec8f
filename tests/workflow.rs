//! End-to-end tests of the daily-workflow commands (`pleat export`, `run`, `repl`) on fixture repositories in temporary folders, with real uv and packages from PyPI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PLEAT: &str = env!("CARGO_BIN_EXE_pleat");

/// A repository at `<tmp>/repo` with its own cache at `<tmp>/cache`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// `files`: (path, content) pairs.
    fn new(files: &[(&str, &str)]) -> Self {
        let fixture = Self { dir: tempfile::tempdir().unwrap() };
        for (path, text) in files {
            fixture.put(path, text);
        }
        fixture
    }

    fn root(&self) -> PathBuf {
        let root = self.dir.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        root.canonicalize().unwrap()
    }

    fn put(&self, path: &str, text: &str) {
        let full = self.root().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    /// Runs pleat in the root; returns (exit code, stdout, stderr).
    fn pleat(&self, args: &[&str]) -> (i32, String, String) {
        described(&self.command(args).stdin(Stdio::null()).output().unwrap())
    }

    /// Runs pleat in the root with `input` on its stdin.
    fn pleat_with_input(&self, args: &[&str], input: &str) -> (i32, String, String) {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
        drop(child.stdin.take());
        described(&child.wait_with_output().unwrap())
    }

    /// Starts pleat in the root, stdout and stderr piped, stdin empty; with `own_group`, in a
    /// process group of its own, as a shell starts a job (Ctrl+C is then `kill -INT -PGID`).
    fn spawn(&self, args: &[&str], own_group: bool) -> std::process::Child {
        use std::os::unix::process::CommandExt as _;
        let mut command = self.command(args);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if own_group {
            command.process_group(0);
        }
        command.spawn().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(PLEAT);
        command
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .current_dir(self.root())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("PLEAT_CACHE_DIR")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        command
    }
}

fn described(output: &Output) -> (i32, String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// Runs an exported interpreter on a script from a neutral folder.
fn python(python: &Path, script: &str) -> String {
    let output = Command::new(python).args(["-c", script]).current_dir("/").output().unwrap();
    let (code, stdout, stderr) = described(&output);
    assert_eq!(code, 0, "{} -c {script:?} failed:\n{stderr}", python.display());
    stdout.trim().to_owned()
}

const PROJECT: &[(&str, &str)] = &[
    (
        "pyproject.toml",
        "[project]\nname = \"shop-app\"\nversion = \"1.2.3\"\ndependencies = [\"six<1.17\"]\n\n[tool.pleat]\nsource_roots = [\"src\"]\n",
    ),
    ("src/shop/__init__.py", "NAME = 'shop'\n"),
    (
        "tests/test_shop.py",
        "import six\nfrom shop import NAME\n\n\ndef test_name():\n    assert NAME == 'shop'\n",
    ),
];

#[test]
fn export_builds_the_test_environment_with_first_party_code_and_tools_then_reuses_it() {
    let repo = Fixture::new(PROJECT);
    let (code, stdout, stderr) = repo.pleat(&["--format", "json", "export", "--with", "pytest,ruff"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let export = &json["exports"][0];
    assert_eq!(export["resolve"], "default");
    assert_eq!(export["rebuilt"], true);
    let version = export["python_version"].as_str().unwrap();
    let folder = repo.root().join("dist/export/python/virtualenvs/default").join(version);
    assert_eq!(Path::new(export["path"].as_str().unwrap()), folder);
    let interpreter = folder.join("bin/python");
    assert_eq!(Path::new(export["python"].as_str().unwrap()), interpreter);
    assert!(export["packages"].as_array().unwrap().iter().any(|p| p == "six==1.16.0"), "{stdout}");
    // The locked requirement, first-party code through the .pth, the project's metadata, the tools.
    assert_eq!(
        python(
            &interpreter,
            "import six, shop, pytest, importlib.metadata as m; print(six.__version__, shop.NAME, m.version('shop-app'))"
        ),
        "1.16.0 shop 1.2.3"
    );
    // The source roots come before site-packages (a released copy of a first-party package,
    // such as pytest's `packaging` in packaging's own repository, must not hide the source).
    assert_eq!(
        python(
            &interpreter,
            "import sys; s = [i for i, p in enumerate(sys.path) if p.endswith('/src')][0]; print(s < min(i for i, p in enumerate(sys.path) if 'site-packages' in p))"
        ),
        "True"
    );
    let ruff = Command::new(folder.join("bin/ruff")).arg("--version").output().unwrap();
    assert!(ruff.status.success(), "ruff runs from the export");
    // Nothing changed: nothing done, and said so with the interpreter.
    let (code, stdout, stderr) = repo.pleat(&["export", "--with", "pytest,ruff"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("✓ default resolve up to date: dist/export/python/virtualenvs/default/"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("interpreter: {}", interpreter.display())), "{stdout}");
    assert!(!stderr.contains("exporting"), "{stderr}");

    // An interpreter keeps running from the old export while the requirements change and
    // the export is rebuilt beside it and swapped in.
    let mut running = Command::new(&interpreter)
        .args(["-c", "import sys, time; sys.stdin.read(); import six; print(six.__version__)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    repo.put("pyproject.toml", &PROJECT[0].1.replace("six<1.17", "six==1.17.0"));
    let (code, stdout, stderr) = repo.pleat(&["export", "--with", "pytest,ruff"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("✓ default resolve exported to"), "{stdout}");
    assert_eq!(python(&interpreter, "import six, shop; print(six.__version__)"), "1.17.0");
    drop(running.stdin.take());
    let old = running.wait_with_output().unwrap();
    assert!(old.status.success(), "the interpreter started from the old export kept running");
    let leftovers: Vec<String> = std::fs::read_dir(folder.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("building"))
        .collect();
    assert!(leftovers.is_empty(), "nothing half-built stays: {leftovers:?}");
}

#[test]
fn export_names_what_is_wrong() {
    let repo = Fixture::new(PROJECT);
    let (code, _, stderr) = repo.pleat(&["export", "--resolve", "nope"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--resolve nope: the project has no such resolve; its resolves are default"),
        "{stderr}"
    );
    let (code, _, stderr) = repo.pleat(&["export", "--with", "pytest,nosuchtool"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`nosuchtool` is not a tool Pleat knows"), "{stderr}");
    // A stale lock is used as it is, with the command that updates it.
    repo.pleat(&["lock"]);
    repo.put("pyproject.toml", &PROJECT[0].1.replace("six<1.17", "six"));
    let (code, _, stderr) = repo.pleat(&["export", "--with", "pytest"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("pylock.toml was locked from other requirements"), "{stderr}");
    assert!(stderr.contains("run `pleat lock`"), "{stderr}");
}

#[test]
fn run_and_repl_use_the_environment_and_source_roots_in_the_workspace() {
    let repo = Fixture::new(PROJECT);
    repo.put(
        "src/shop/cli.py",
        "import os, sys\nimport six\nfrom shop import NAME\n\nprint(NAME, six.__version__, sys.argv[1:], os.getcwd())\nopen('written.txt', 'w').write('x')\nsys.exit(3)\n",
    );
    repo.put("src/shop/broken.py", "def broken(:\n");
    // A file: the exit code passes through, and it runs in the current folder (it may write).
    let (code, stdout, stderr) = repo.pleat(&["run", "src/shop/cli.py", "--", "a", "--flag"]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), format!("shop 1.16.0 ['a', '--flag'] {}", repo.root().display()));
    assert!(repo.root().join("written.txt").is_file(), "not a sandbox");
    // A module.
    let (code, stdout, _) = repo.pleat(&["run", "-m", "shop.cli", "--", "b"]);
    assert_eq!(code, 3);
    assert!(stdout.starts_with("shop 1.16.0 ['b']"), "{stdout}");
    // A syntax error: Python's own message, exit 1.
    let (code, _, stderr) = repo.pleat(&["run", "src/shop/broken.py"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("SyntaxError") && stderr.contains("src/shop/broken.py\", line 1"), "{stderr}");
    // Not a file of the project.
    let (code, _, stderr) = repo.pleat(&["run", "nowhere.py"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nowhere.py is not a Python file of the project"), "{stderr}");
    // The REPL reads its input like Python does: here, a script on stdin.
    let (code, stdout, stderr) = repo.pleat_with_input(
        &["repl", "tests::"],
        "import sys, six\nprint(six.__version__, any(p.endswith('/src') for p in sys.path))\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "1.16.0 False", "tests:: has no file under src/: {stdout}");
    let (code, stdout, stderr) = repo.pleat_with_input(&["repl"], "import shop\nprint(shop.NAME)\n");
    assert_eq!((code, stdout.trim()), (0, "shop"), "{stderr}");
}

#[test]
fn test_debug_runs_in_the_terminal_and_ctrl_c_reaches_pytest_then_exits_130() {
    let repo = Fixture::new(&[
        ("pyproject.toml", "[tool.pleat]\n"),
        (
            "tests/conftest.py",
            "import os\nimport pytest\n\n\n@pytest.fixture\ndef marked():\n    yield\n    open(os.environ['MARK'] + '.teardown', 'w').write('done')\n",
        ),
        (
            "tests/test_a_wait.py",
            "import os, time\n\n\ndef test_wait(marked):\n    open(os.environ['MARK'] + '.started', 'w').write(os.getcwd())\n    time.sleep(120)\n",
        ),
        ("tests/test_b_never.py", "def test_never():\n    raise SystemExit('never run')\n"),
        ("tests/test_c_pass.py", "def test_pass():\n    print('in the terminal')\n"),
    ]);
    let mark = repo.dir.path().join("mark");
    let mark_arg = format!("MARK={}", mark.display());
    // Without Ctrl+C: the output is the terminal's (here, the pipe), and nothing is cached.
    let (code, stdout, stderr) = repo.pleat(&["test", "--debug", "tests/test_c_pass.py", "--", "-s"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("in the terminal") && stdout.contains("✓ tests/test_c_pass.py exit 0"),
        "{stdout}"
    );
    // Ctrl+C in the terminal: the whole foreground group gets SIGINT.
    let child = repo.spawn(
        &["test", "--debug", "--extra-env", &mark_arg, "tests/test_a_wait.py", "tests/test_b_never.py"],
        true,
    );
    let started = mark.with_extension("started");
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(5);
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "the test never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sandbox = PathBuf::from(std::fs::read_to_string(&started).unwrap());
    assert!(sandbox.exists(), "runs in a sandbox: {}", sandbox.display());
    let group = format!("-{}", child.id());
    assert!(Command::new("kill").args(["-INT", "--", &group]).status().unwrap().success());
    let (code, stdout, stderr) = described(&child.wait_with_output().unwrap());
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(mark.with_extension("teardown").exists(), "pytest tore the fixture down");
    assert!(stdout.contains("interrupted: 1 more test files not run"), "{stdout}");
    assert!(!stdout.contains("never run") && !stderr.contains("never run"), "{stdout}");
    assert!(!sandbox.exists(), "the sandbox is removed: {}", sandbox.display());
}

/// The test the debugger stops in; line 6 is `value = helper() + 1`.
const DEBUGGED: &str = "def helper():\n    return 41\n\n\ndef test_answer():\n    value = helper() + 1\n    assert value == 42\n\n\ndef test_other():\n    raise SystemExit('not selected')\n";

#[test]
fn test_debug_adapter_waits_for_a_dap_client_that_stops_at_a_workspace_breakpoint() {
    let repo = Fixture::new(&[("pyproject.toml", "[tool.pleat]\n"), ("tests/test_dbg.py", DEBUGGED)]);
    let workspace_file = repo.root().join("tests/test_dbg.py");
    let child = repo.spawn(&["test", "--debug-adapter", "tests/test_dbg.py::test_answer"], false);
    let mut pleat = dap::Running::new(child);
    // Building the test and debugpy environments from PyPI can take minutes on a cold cache.
    let line = pleat.line_starting("pleat: debugpy listening on ", std::time::Duration::from_mins(10));
    let (address, details) = line["pleat: debugpy listening on ".len()..].split_once(' ').unwrap();
    let details: serde_json::Value = serde_json::from_str(details).unwrap();
    assert_eq!(address, format!("127.0.0.1:{}", details["port"]), "{line}");
    assert_eq!(details["file"], "tests/test_dbg.py");
    assert_eq!(Path::new(details["localRoot"].as_str().unwrap()), repo.root());
    let remote_root = PathBuf::from(details["remoteRoot"].as_str().unwrap());
    assert!(remote_root.join("tests/test_dbg.py").is_file(), "the sandbox: {}", remote_root.display());

    let mut client = dap::Client::connect(address);
    client.request(
        "initialize",
        &serde_json::json!({
            "clientID": "pleat-tests", "adapterID": "pleat", "pathFormat": "path",
            "linesStartAt1": true, "columnsStartAt1": true,
        }),
    );
    client.response("initialize");
    // debugpy answers `attach` only after `configurationDone`; it asks for the configuration
    // with the `initialized` event.
    client.request(
        "attach",
        &serde_json::json!({
            "pathMappings": [{"localRoot": details["localRoot"], "remoteRoot": details["remoteRoot"]}],
            "justMyCode": true,
        }),
    );
    client.event("initialized");
    client.request(
        "setBreakpoints",
        &serde_json::json!({
            "source": {"path": workspace_file},
            "breakpoints": [{"line": 6}],
        }),
    );
    client.response("setBreakpoints");
    client.request("configurationDone", &serde_json::json!({}));
    let stopped = client.event("stopped");
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    let thread = stopped["body"]["threadId"].clone();
    client.request("stackTrace", &serde_json::json!({"threadId": thread}));
    let trace = client.response("stackTrace");
    let top = &trace["body"]["stackFrames"][0];
    assert_eq!(top["line"], 6, "{trace}");
    assert_eq!(top["name"], "test_answer", "{trace}");
    assert_eq!(Path::new(top["source"]["path"].as_str().unwrap()), workspace_file, "{trace}");
    client.request("continue", &serde_json::json!({"threadId": thread}));
    client.event("terminated");
    let (code, stdout, stderr) = pleat.wait();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed") && stdout.contains("✓ tests/test_dbg.py exit 0"), "{stdout}");
    assert!(!stdout.contains("not selected"), "only the named test ran: {stdout}");
    assert!(!remote_root.exists(), "the sandbox is removed: {}", remote_root.display());
    // Ctrl+C in the terminal while debugpy waits: Pleat ends with 130, and debugpy with it.
    let child = repo.spawn(&["test", "--debug-adapter", "tests/test_dbg.py"], true);
    let group = format!("-{}", child.id());
    let mut waiting = dap::Running::new(child);
    let line = waiting.line_starting("pleat: debugpy listening on ", std::time::Duration::from_mins(5));
    let address = line["pleat: debugpy listening on ".len()..].split_once(' ').unwrap().0.to_owned();
    assert!(Command::new("kill").args(["-INT", "--", &group]).status().unwrap().success());
    let (code, _, stderr) = waiting.wait();
    assert_eq!(code, 130, "{stderr}");
    assert!(!stderr.contains("frozen modules"), "python runs with -X frozen_modules=off: {stderr}");
    // Its processes are killed, not waited for: the socket may outlive Pleat by a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(std::time::Instant::now() < deadline, "debugpy still listens on {address}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A port that something else listens on is refused before anything starts, saying what to do.
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, stderr) = repo.pleat(&["test", "--debug-adapter", "--port", &port, "tests/test_dbg.py"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 cannot be listened on"))
            && stderr.contains("pass another --port, or none for a free one"),
        "{stderr}"
    );
}

const MONOREPO: &[(&str, &str)] = &[
    ("pyproject.toml", "[tool.pleat]\nsource_roots = [\"libs/core/src\", \"apps/web/src\"]\n"),
    (
        "libs/core/pyproject.toml",
        "[project]\nname = \"core-lib\"\nversion = \"1.0.0\"\n\n[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n",
    ),
    ("libs/core/src/core_lib/__init__.py", "VALUE = 1\n"),
    (
        "apps/web/pyproject.toml",
        "[project]\nname = \"web-app\"\nversion = \"0.2.0\"\ndependencies = [\"core-lib\"]\n\n[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n",
    ),
    ("apps/web/src/web_app/__init__.py", "from core_lib import VALUE\n"),
];

#[test]
fn package_builds_each_distribution_once_then_serves_it_from_the_cache() {
    let repo = Fixture::new(MONOREPO);
    let (code, stdout, stderr) = repo.pleat(&["package"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let mut built: Vec<String> = std::fs::read_dir(repo.root().join("dist"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    built.sort();
    assert_eq!(built.len(), 4, "{built:?}");
    assert!(built[0].starts_with("core_lib-1.0.0-") && built[0].ends_with(".whl"), "{built:?}");
    assert_eq!(built[1], "core_lib-1.0.0.tar.gz");
    assert_eq!(built[3], "web_app-0.2.0.tar.gz");
    assert!(!stdout.contains("(cached)"), "{stdout}");
    // Unchanged: served from the cache. One distribution's file changes: only it builds.
    let (code, stdout, _) = repo.pleat(&["package"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.matches("(cached)").count(), 2, "{stdout}");
    repo.put("libs/core/src/core_lib/__init__.py", "VALUE = 2\n");
    let (_, stdout, _) = repo.pleat(&["package", "libs/core::"]);
    assert!(stdout.contains("✓ core-lib: dist/") && !stdout.contains("web-app"), "{stdout}");
    // A build backend the registry does not have: the distribution and the backend's words.
    repo.put(
        "libs/core/pyproject.toml",
        &MONOREPO[1].1.replace("requires = [\"hatchling\"]", "requires = [\"no-such-build-backend-pleat\"]"),
    );
    let (code, stdout, _) = repo.pleat(&["package", "libs/core::"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("✕ core-lib (libs/core/pyproject.toml) did not build; its build backend said:"),
        "{stdout}"
    );
    assert!(stdout.contains("no-such-build-backend-pleat"), "{stdout}");
    // web-app imports core_lib: fine while it names core-lib, a warning when it does not.
    let (_, _, stderr) = repo.pleat(&["package", "apps/web::"]);
    assert!(!stderr.contains("do not name"), "{stderr}");
    repo.put("apps/web/pyproject.toml", &MONOREPO[3].1.replace("dependencies = [\"core-lib\"]\n", ""));
    let (code, _, stderr) = repo.pleat(&["package", "apps/web::"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "warning: apps/web/src/web_app/__init__.py imports libs/core/src/core_lib/__init__.py, code of the distribution core-lib, but the [project] dependencies of apps/web/pyproject.toml do not name core-lib; add it there"
        ),
        "{stderr}"
    );
}

/// A minimal Debug Adapter Protocol client (Content-Length framed JSON over TCP) and the
/// pleat process it talks to, killed if a test fails before it ends.
mod dap {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpStream;
    use std::process::Child;
    use std::sync::mpsc;
    use std::time::Duration;

    /// How long any one message may take: only a hang reaches it.
    const PATIENCE: Duration = Duration::from_mins(3);

    /// pleat running, its stderr read line by line as it comes.
    pub struct Running {
        child: Option<Child>,
        lines: mpsc::Receiver<String>,
        seen: Vec<String>,
        reader: Option<std::thread::JoinHandle<()>>,
    }

    impl Running {
        pub fn new(mut child: Child) -> Self {
            let stderr = child.stderr.take().unwrap();
            let (send, lines) = mpsc::channel();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
            Self { child: Some(child), lines, seen: Vec::new(), reader: Some(reader) }
        }

        /// The first stderr line starting with `prefix`.
        pub fn line_starting(&mut self, prefix: &str, patience: Duration) -> String {
            let deadline = std::time::Instant::now() + patience;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(line) => {
                        self.seen.push(line.clone());
                        if line.starts_with(prefix) {
                            return line;
                        }
                    }
                    Err(e) => {
                        panic!("no line starting with {prefix:?} ({e}); stderr:\n{}", self.seen.join("\n"))
                    }
                }
            }
        }

        /// Waits for pleat to end: (exit code, stdout, stderr).
        pub fn wait(&mut self) -> (i32, String, String) {
            let mut child = self.child.take().unwrap();
            let mut stdout = String::new();
            child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
            let status = child.wait().unwrap();
            self.reader.take().unwrap().join().unwrap();
            self.seen.extend(self.lines.try_iter());
            // As a shell says it: 128 + n for a signal (Pleat re-raises the one that ended it).
            let code = std::os::unix::process::ExitStatusExt::signal(&status)
                .map_or(status.code(), |s| Some(128 + s));
            (code.unwrap_or(-1), stdout, self.seen.join("\n"))
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            // SIGKILL: Pleat's watchdog then kills debugpy and pytest too.
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    pub struct Client {
        stream: BufReader<TcpStream>,
        seq: u64,
    }

    impl Client {
        pub fn connect(address: &str) -> Self {
            let stream = TcpStream::connect(address).unwrap();
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
            Self { stream: BufReader::new(stream), seq: 0 }
        }

        pub fn request(&mut self, command: &str, arguments: &serde_json::Value) {
            self.seq += 1;
            let body = serde_json::json!({
                "seq": self.seq, "type": "request", "command": command, "arguments": arguments,
            })
            .to_string();
            let stream = self.stream.get_mut();
            write!(stream, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
            stream.flush().unwrap();
        }

        fn message(&mut self) -> serde_json::Value {
            let mut length = None;
            loop {
                let mut header = String::new();
                assert!(self.stream.read_line(&mut header).unwrap() > 0, "debugpy closed the connection");
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some(n) = header.strip_prefix("Content-Length: ") {
                    length = Some(n.parse::<usize>().unwrap());
                }
            }
            let mut body = vec![0; length.expect("a Content-Length header")];
            self.stream.read_exact(&mut body).unwrap();
            serde_json::from_slice(&body).unwrap()
        }

        /// The next message of `kind` with `name` as its `field`, skipping the others.
        fn next(&mut self, kind: &str, field: &str, name: &str) -> serde_json::Value {
            loop {
                let message = self.message();
                if message["type"] == kind && message[field] == name {
                    return message;
                }
            }
        }

        /// The response to `command` (which must have succeeded).
        pub fn response(&mut self, command: &str) -> serde_json::Value {
            let response = self.next("response", "command", command);
            assert_eq!(response["success"], true, "{response}");
            response
        }

        pub fn event(&mut self, event: &str) -> serde_json::Value {
            self.next("event", "event", event)
        }
    }
}
