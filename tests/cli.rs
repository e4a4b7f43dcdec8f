//! End-to-end tests of the `pleat` binary: every goal run as a real process on fixture repositories written into temporary folders (each with its own cache folder), plus cache, configuration, git, root discovery, closed-pipe and sample-repository behaviour.

use std::fs::File;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

const PLEAT: &str = env!("CARGO_BIN_EXE_pleat");

// ---- harness ----

/// A fixture repository in a temporary folder: `<tmp>/repo` is the root, `<tmp>/cache`
/// the parse cache, so nothing a test does touches the user's own cache.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// Writes a multi-file fixture: each `//- path` line starts a file, the lines up to
    /// the next header are its content.
    fn new(fixture: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        let repo = Self { dir };
        for (path, content) in parse_fixture(fixture) {
            repo.write(&path, &content);
        }
        repo
    }

    /// The repository root, canonical (as pleat prints it).
    fn root(&self) -> PathBuf {
        self.dir.path().join("repo").canonicalize().unwrap()
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.dir.path().join("repo").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
    }

    /// Sets the modification time of a file `ago` in the past.
    fn age(&self, rel: &str, ago: Duration) {
        set_mtime(&self.path(rel), SystemTime::now() - ago);
    }

    /// Sets the modification time of every file of the repository `ago` in the past.
    fn age_all(&self, ago: Duration) {
        let when = SystemTime::now() - ago;
        for file in files_under(&self.root()) {
            set_mtime(&file, when);
        }
    }

    /// `pleat --root <root> --cache-dir <cache> ARGS…`, from the root.
    fn command(&self, args: &[&str]) -> Command {
        self.command_with(&self.cache(), args)
    }

    /// `pleat --root <root> --cache-dir <cache> ARGS…`, from the root, with another cache.
    fn command_with(&self, cache: &Path, args: &[&str]) -> Command {
        let mut command = bare_command(cache);
        command.current_dir(self.root()).arg("--root").arg(self.root()).args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args))
    }

    /// Runs git in the root with no user or system configuration.
    fn git(&self, args: &[&str]) {
        let output = git_command(&self.root()).args(args).output().expect("git runs");
        assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

fn parse_fixture(fixture: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in fixture.lines() {
        if let Some(path) = line.strip_prefix("//- ") {
            files.push((path.trim().to_owned(), String::new()));
        } else if let Some((_, content)) = files.last_mut() {
            content.push_str(line);
            content.push('\n');
        } else {
            assert!(line.trim().is_empty(), "fixture text before the first `//- path` header: {line:?}");
        }
    }
    files
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn set_mtime(path: &Path, when: SystemTime) {
    File::options().write(true).open(path).unwrap().set_modified(when).unwrap();
}

/// `pleat --cache-dir <cache>` with an environment that cannot point anywhere else.
fn bare_command(cache: &Path) -> Command {
    let mut command = Command::new(PLEAT);
    command
        .arg("--cache-dir")
        .arg(cache)
        .env("PLEAT_CACHE_DIR", cache)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("RUST_BACKTRACE")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    command
}

fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    command
}

/// The outcome of one run.
struct Run {
    /// The exit code; `None` when a signal ended the process.
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    shown: String,
}

impl Run {
    fn of(mut command: Command) -> Self {
        let shown = format!("{command:?}");
        let output = command.stdin(Stdio::null()).output().expect("pleat runs");
        let run = Self {
            code: output.status.code(),
            signal: output.status.signal(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            shown,
        };
        run.assert_no_crash();
        run
    }

    fn describe(&self) -> String {
        format!(
            "{}\n--- exit code: {:?}, signal: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.shown, self.code, self.signal, self.stdout, self.stderr
        )
    }

    /// Not killed by a signal, no panic.
    fn assert_no_crash(&self) {
        assert!(self.code.is_some(), "pleat was killed by a signal (crash)\n{}", self.describe());
        assert!(!self.stderr.contains("panicked"), "pleat panicked\n{}", self.describe());
        assert!(self.code != Some(101), "exit code 101 (a panic)\n{}", self.describe());
    }

    fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, Some(expected), "unexpected exit code\n{}", self.describe());
        self
    }

    fn ok(&self) -> &Self {
        self.code(0)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.describe()))
    }

    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// A usage error: exit 2, and one line `pleat: …` on stderr, which is returned.
    fn usage_error(&self) -> &str {
        self.code(2);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr\n{}", self.describe());
        assert!(lines[0].starts_with("pleat: "), "stderr should start with `pleat: `\n{}", self.describe());
        lines[0]
    }
}

/// A small package: relative imports, an `__init__.py` with code and one with only a
/// comment, a stub, tests with nested conftests, and third-party requirements.
const PACKAGE: &str = r#"
//- requirements.txt
requests>=2
pytest
//- app/__init__.py
from .core import run
//- app/core.py
import os
import requests
from . import util
from .sub.helpers import helper


def run():
    return helper() + util.VALUE
//- app/util.py
VALUE = 1
//- app/sub/__init__.py
# only a comment: importing app.sub.helpers does not depend on this file
//- app/sub/helpers.py
from ..util import VALUE


def helper():
    return VALUE
//- app/types.pyi
x: int
//- tests/conftest.py
import pytest
//- tests/test_core.py
from app.core import run


def test_run():
    assert run() == 2
//- tests/unit/conftest.py
FIXTURE = 1
//- tests/unit/util_test.py
from app.util import VALUE


def test_value():
    assert VALUE == 1
"#;

/// The graph of [`PACKAGE`].
fn package_graph() -> Value {
    json!({
        "app/__init__.py": ["app/core.py"],
        "app/core.py": ["app/__init__.py", "app/sub/helpers.py", "app/util.py"],
        "app/sub/__init__.py": [],
        "app/sub/helpers.py": ["app/__init__.py", "app/util.py"],
        "app/types.pyi": [],
        "app/util.py": [],
        "tests/conftest.py": [],
        "tests/test_core.py": ["app/__init__.py", "app/core.py", "tests/conftest.py"],
        "tests/unit/conftest.py": [],
        "tests/unit/util_test.py": [
            "app/__init__.py",
            "app/util.py",
            "tests/conftest.py",
            "tests/unit/conftest.py"
        ],
    })
}

fn list_paths(run: &Run) -> Vec<String> {
    run.json().as_array().unwrap().iter().map(|t| t["path"].as_str().unwrap().to_owned()).collect()
}

// ---- list ----

#[test]
fn list_human_shows_every_file_and_its_kind() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["list"]);
    run.ok();
    assert_eq!(
        run.stdout,
        "\
app/__init__.py          source
app/core.py              source
app/sub/__init__.py      source
app/sub/helpers.py       source
app/types.pyi            stub
app/util.py              source
tests/conftest.py        test_util
tests/test_core.py       test
tests/unit/conftest.py   test_util
tests/unit/util_test.py  test
"
    );
}

#[test]
fn list_json_gives_path_kind_and_module() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--format", "json", "list", "::"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!([
            {"path": "app/__init__.py", "kind": "source", "module": "app"},
            {"path": "app/core.py", "kind": "source", "module": "app.core"},
            {"path": "app/sub/__init__.py", "kind": "source", "module": "app.sub"},
            {"path": "app/sub/helpers.py", "kind": "source", "module": "app.sub.helpers"},
            {"path": "app/types.pyi", "kind": "stub", "module": "app.types"},
            {"path": "app/util.py", "kind": "source", "module": "app.util"},
            {"path": "tests/conftest.py", "kind": "test_util", "module": "tests.conftest"},
            {"path": "tests/test_core.py", "kind": "test", "module": "tests.test_core"},
            {"path": "tests/unit/conftest.py", "kind": "test_util", "module": "tests.unit.conftest"},
            {"path": "tests/unit/util_test.py", "kind": "test", "module": "tests.unit.util_test"},
        ])
    );
}

#[test]
fn list_specs_select_folders_globs_paths_and_exclusions() {
    let repo = Repo::new(PACKAGE);
    let select = |specs: &[&str]| {
        let mut args = vec!["--format", "json", "list", "--"];
        args.extend_from_slice(specs);
        let run = repo.run(&args);
        run.ok();
        list_paths(&run)
    };
    let all_app = [
        "app/__init__.py",
        "app/core.py",
        "app/sub/__init__.py",
        "app/sub/helpers.py",
        "app/types.pyi",
        "app/util.py",
    ];
    assert_eq!(select(&["app::"]), all_app);
    assert_eq!(select(&["app:"]), ["app/__init__.py", "app/core.py", "app/types.pyi", "app/util.py"]);
    assert_eq!(select(&["app"]), ["app/__init__.py", "app/core.py", "app/types.pyi", "app/util.py"]);
    assert_eq!(select(&["./app/util.py"]), ["app/util.py"]);
    assert_eq!(select(&["tests/**/conftest.py"]), ["tests/conftest.py", "tests/unit/conftest.py"]);
    assert_eq!(select(&["app/*.py"]), ["app/__init__.py", "app/core.py", "app/util.py"]);
    assert_eq!(
        select(&["app::", "-app/sub::"]),
        ["app/__init__.py", "app/core.py", "app/types.pyi", "app/util.py"]
    );
    assert_eq!(
        select(&["-app::", "-tests/unit:"]),
        ["tests/conftest.py", "tests/test_core.py"],
        "excludes alone start from everything"
    );
    assert_eq!(select(&["app/core.py", "tests/test_core.py"]), ["app/core.py", "tests/test_core.py"]);
    // A path given absolute is taken relative to the root.
    let absolute = repo.path("app/util.py");
    assert_eq!(select(&[absolute.to_str().unwrap()]), ["app/util.py"]);
}

/// The help says "`-spec` excludes", as in Pants: `pleat list :: -tests::` should work
/// without a `--` before the specs.
#[test]
fn exclude_specs_work_without_a_double_dash() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--format", "json", "list", "app::", "-app/sub::"]);
    run.ok();
    assert_eq!(list_paths(&run), ["app/__init__.py", "app/core.py", "app/types.pyi", "app/util.py"]);
}

/// An exclude among `pleat test`'s specs stays a spec, with or without pytest arguments
/// after `--` (it used to become a pytest argument, and with `-- -x` a usage error), and
/// what follows `--` reaches pytest: `-x` stops a file at its first failure.
#[test]
fn test_excludes_are_specs_not_pytest_arguments() {
    let repo = Repo::new(
        "//- tests/test_ok.py\ndef test_ok():\n    assert True\n//- tests/test_two.py\ndef test_first():\n    assert False\n\n\ndef test_second():\n    assert False\n//- legacy/test_old.py\ndef test_old():\n    assert False\n",
    );
    let ran_in_two = |run: &Run| -> Vec<String> {
        let json = run.json();
        let file =
            json["files"].as_array().unwrap().iter().find(|f| f["file"] == "tests/test_two.py").cloned();
        let tests = file.map(|f| f["tests"].as_array().unwrap().clone()).unwrap_or_default();
        tests.iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    let run = repo.run(&["--format", "json", "test", "::", "-legacy::"]);
    run.code(1);
    assert_eq!(tested_files(&run), ["tests/test_ok.py", "tests/test_two.py"], "{}", run.describe());
    assert_eq!(ran_in_two(&run), ["tests/test_two.py::test_first", "tests/test_two.py::test_second"]);
    let run = repo.run(&["--format", "json", "test", "::", "-legacy::", "--", "-x"]);
    run.code(1);
    assert_eq!(tested_files(&run), ["tests/test_ok.py", "tests/test_two.py"], "{}", run.describe());
    assert_eq!(
        ran_in_two(&run),
        ["tests/test_two.py::test_first"],
        "-x stopped the file: {}",
        run.describe()
    );
}

/// A relative `--cache-dir` is taken from the current folder, also by the tool builds and
/// sandboxes that run elsewhere (it broke the first environment build).
#[test]
fn a_relative_cache_folder_works() {
    let repo = Repo::new("//- tests/test_ok.py\ndef test_ok():\n    assert True\n");
    let mut command = bare_command(Path::new("cache"));
    command
        .current_dir(repo.dir.path())
        .env_remove("PLEAT_CACHE_DIR")
        .arg("--root")
        .arg(repo.path(""))
        .args(["test", "::"]);
    let run = Run::of(command);
    run.ok();
    assert!(repo.cache().join("store-v1").is_dir(), "{}", run.describe());
}

#[test]
fn specs_that_match_nothing_are_usage_errors() {
    let repo = Repo::new(PACKAGE);
    let line = repo.run(&["list", "nope.py"]).usage_error().to_owned();
    assert!(line.contains("`nope.py` matches no Python file"), "{line}");
    let line = repo.run(&["dependencies", "app/missing::"]).usage_error().to_owned();
    assert!(line.contains("app/missing::"), "{line}");
    let line = repo.run(&["list", "app/[.py"]).usage_error().to_owned();
    assert!(line.contains("invalid glob"), "{line}");
}

#[test]
fn a_root_that_is_not_a_folder_is_a_usage_error() {
    let repo = Repo::new(PACKAGE);
    let mut command = bare_command(&repo.cache());
    command.arg("--root").arg(repo.dir.path().join("nowhere")).arg("list");
    let run = Run::of(command);
    let line = run.usage_error();
    assert!(line.contains("nowhere") && line.contains("is not a folder"), "{line}");
}

// ---- dependencies and dependents ----

#[test]
fn dependencies_direct_with_relative_imports_inits_and_third_party() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--format", "json", "dependencies", "app/core.py"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({
            // `from . import util` and `from .sub.helpers import helper`; app/__init__.py
            // has code and runs first; app/sub/__init__.py is only a comment.
            "files": ["app/__init__.py", "app/sub/helpers.py", "app/util.py"],
            "third_party": [{"name": "requests", "declared_in": "requirements.txt:1"}],
        })
    );
    let run = repo.run(&["dependencies", "app/core.py"]);
    run.ok();
    assert_eq!(
        run.stdout,
        "app/__init__.py\napp/sub/helpers.py\napp/util.py\nrequests (third-party, requirements.txt:1)\n"
    );
}

/// A virtualenv's metadata names the modules of a declared distribution exactly (here one
/// whose module name no table could guess), and names the distribution behind an
/// undeclared import in the message.
#[test]
fn virtualenv_metadata_maps_distributions_to_modules() {
    let repo = Repo::new(
        r"
//- requirements.txt
acme-tools==1.0
//- app.py
import acme_magic.core
import other_mod
",
    );
    let site = ".venv/lib/python3.11/site-packages";
    repo.write(".venv/pyvenv.cfg", "home = /usr/bin\n");
    repo.write(
        &format!("{site}/acme_tools-1.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: acme-tools\n",
    );
    repo.write(&format!("{site}/acme_tools-1.0.dist-info/top_level.txt"), "acme_magic\n");
    repo.write(&format!("{site}/acme_magic/__init__.py"), "");
    repo.write(
        &format!("{site}/Other_Dist-2.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: Other-Dist\n",
    );
    repo.write(
        &format!("{site}/Other_Dist-2.0.dist-info/RECORD"),
        "other_mod/__init__.py,sha256=x,0\nOther_Dist-2.0.dist-info/METADATA,,\n",
    );
    let run = repo.run(&["--format", "json", "dependencies", "app.py"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({"files": [], "third_party": [{"name": "acme-tools", "declared_in": "requirements.txt:1"}]})
    );
    let run = repo.run(&["check-imports"]);
    run.code(1);
    assert!(run.stdout.contains("app.py:2:8: error: `other_mod`"), "{}", run.describe());
    assert!(run.stdout.contains("installed from `Other-Dist`"), "{}", run.describe());
    // The virtualenv's own files are not part of the graph.
    let run = repo.run(&["list"]);
    assert!(!run.stdout.contains(".venv"), "{}", run.describe());
}

#[test]
fn dependencies_of_tests_include_their_conftests() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--format", "json", "dependencies", "tests/unit/util_test.py"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({
            "files": ["app/__init__.py", "app/util.py", "tests/conftest.py", "tests/unit/conftest.py"],
            "third_party": [],
        })
    );
}

#[test]
fn dependencies_transitive_collect_third_party_of_every_file_reached() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--format", "json", "dependencies", "--transitive", "tests/test_core.py"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({
            "files": [
                "app/__init__.py",
                "app/core.py",
                "app/sub/helpers.py",
                "app/util.py",
                "tests/conftest.py",
            ],
            "third_party": [
                {"name": "pytest", "declared_in": "requirements.txt:2"},
                {"name": "requests", "declared_in": "requirements.txt:1"},
            ],
        })
    );
}

#[test]
fn dependents_direct_and_transitive() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["dependents", "app/util.py"]);
    run.ok();
    assert_eq!(run.lines(), ["app/core.py", "app/sub/helpers.py", "tests/unit/util_test.py"]);

    let run = repo.run(&["--format", "json", "dependents", "--transitive", "app/util.py"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({
            "files": [
                "app/__init__.py",
                "app/core.py",
                "app/sub/helpers.py",
                "tests/test_core.py",
                "tests/unit/util_test.py",
            ],
            "third_party": [],
        })
    );
}

#[test]
fn tests_depend_on_the_conftests_above_them() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["dependents", "tests/conftest.py"]);
    run.ok();
    assert_eq!(run.lines(), ["tests/test_core.py", "tests/unit/util_test.py"]);
    let run = repo.run(&["dependents", "tests/unit/conftest.py"]);
    run.ok();
    assert_eq!(run.lines(), ["tests/unit/util_test.py"]);
}

#[test]
fn dependencies_need_a_spec() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["dependencies"]);
    run.code(2);
    assert!(run.stdout.is_empty(), "{}", run.describe());
}

// ---- paths ----

#[test]
fn paths_give_each_hop_with_its_line() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--format", "json", "paths", "tests/test_core.py", "app/sub/helpers.py"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({
            "from": "tests/test_core.py",
            "to": "app/sub/helpers.py",
            "hops": [
                {"file": "tests/test_core.py", "line": 1, "imports": "app/core.py", "via": "import"},
                {"file": "app/core.py", "line": 4, "imports": "app/sub/helpers.py", "via": "import"},
            ],
        })
    );
    let run = repo.run(&["paths", "tests/test_core.py", "app/util.py"]);
    run.ok();
    assert_eq!(run.stdout, "tests/test_core.py:1 → app/core.py\napp/core.py:3 → app/util.py\n");
}

#[test]
fn paths_name_conftest_and_init_hops() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["paths", "tests/unit/util_test.py", "tests/conftest.py"]);
    run.ok();
    assert_eq!(run.stdout, "tests/unit/util_test.py:1 → tests/conftest.py (conftest)\n");
    let run = repo.run(&["--format", "json", "paths", "app/sub/helpers.py", "app/__init__.py"]);
    run.ok();
    assert_eq!(
        run.json()["hops"],
        json!([{"file": "app/sub/helpers.py", "line": 1, "imports": "app/__init__.py", "via": "package __init__"}])
    );
}

#[test]
fn paths_without_a_chain_exit_1_with_a_message() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["paths", "app/util.py", "tests/test_core.py"]);
    run.code(1);
    assert_eq!(run.stdout, "app/util.py does not depend on tests/test_core.py, directly or transitively\n");
    let run = repo.run(&["--format", "json", "paths", "app/util.py", "app/core.py"]);
    run.code(1);
    assert_eq!(run.json(), json!({"from": "app/util.py", "to": "app/core.py", "hops": null}));
}

#[test]
fn paths_with_an_unknown_file_are_usage_errors() {
    let repo = Repo::new(PACKAGE);
    let line = repo.run(&["paths", "app/nope.py", "app/util.py"]).usage_error().to_owned();
    assert!(line.contains("app/nope.py is not a Python file under"), "{line}");
}

// ---- graph ----

#[test]
fn graph_json_is_every_file_and_its_sorted_dependencies() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["graph"]);
    run.ok();
    assert_eq!(run.json(), package_graph());
    let run = repo.run(&["--format", "json", "graph", "app:"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({
            "app/__init__.py": ["app/core.py"],
            "app/core.py": ["app/__init__.py", "app/sub/helpers.py", "app/util.py"],
            "app/types.pyi": [],
            "app/util.py": [],
        })
    );
}

#[test]
fn graph_dot_has_nodes_and_edges() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--format", "dot", "graph"]);
    run.ok();
    let lines = run.lines();
    assert_eq!(lines.first(), Some(&"digraph pleat {"));
    assert_eq!(lines.last(), Some(&"}"));
    assert!(lines.contains(&r#"  "app/core.py" -> "app/util.py";"#), "{}", run.stdout);
    assert!(lines.contains(&r#"  "app/util.py";"#), "{}", run.stdout);
    let edges = lines.iter().filter(|l| l.contains(" -> ")).count();
    assert_eq!(edges, 13, "{}", run.stdout);
}

#[test]
fn cycles_are_listed() {
    let repo = Repo::new(
        r#"
//- pkg/__init__.py
//- pkg/a.py
from pkg import b
//- pkg/b.py
import pkg.a
//- pkg/c.py
import pkg.a
"#,
    );
    let run = repo.run(&["--format", "json", "cycles"]);
    run.ok();
    assert_eq!(run.json(), json!([["pkg/a.py", "pkg/b.py"]]));
}

// ---- check-imports ----

#[test]
fn check_imports_reports_unresolved_imports_with_location_and_source_roots() {
    let repo = Repo::new(
        r#"
//- requirements.txt
requests
//- src/pkg/__init__.py
//- src/pkg/sibling.py
X = 1
//- src/pkg/mod.py
from __future__ import annotations
import os, sys
import json
from collections import OrderedDict
from typing import TYPE_CHECKING
import requests.adapters
from . import sibling
try:
    import ujson
except ImportError:
    ujson = None
import not_installed_anywhere.sub
"#,
    );
    let run = repo.run(&["check-imports"]);
    run.code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{}", run.describe());
    assert!(
        lines[0].starts_with("src/pkg/mod.py:12:8: error: `not_installed_anywhere.sub` matches no module"),
        "{}",
        run.describe()
    );
    assert!(
        lines[0].contains("source roots `src/`, `.`"),
        "the searched roots are named\n{}",
        run.describe()
    );
    assert_eq!(lines[1], "✕ 3 files: 1 import problems, 0 warnings");

    let run = repo.run(&["--format", "json", "check-imports", "::"]);
    run.code(1);
    let report = run.json();
    assert_eq!(report["errors"], 1);
    assert_eq!(report["files"], 3);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "stdlib, weak, relative and declared imports are not reported: {report:#}");
    let finding = &findings[0];
    assert_eq!(finding["file"], "src/pkg/mod.py");
    assert_eq!(finding["line"], 12);
    assert_eq!(finding["column"], 8);
    assert_eq!(finding["kind"], "unresolved");
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["module"], "not_installed_anywhere.sub");
}

#[test]
fn check_imports_on_a_clean_repository_exits_0() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["check-imports"]);
    run.ok();
    assert_eq!(run.stdout, "✓ 10 files: every import resolves (0 warnings)\n");
    let run = repo.run(&["--format", "json", "check-imports", "app::"]);
    run.ok();
    assert_eq!(run.json(), json!({"findings": [], "errors": 0, "files": 6}));
}

#[test]
fn check_imports_only_checks_the_selected_files() {
    let repo = Repo::new(
        r#"
//- good.py
import os
//- bad.py
import nowhere
"#,
    );
    repo.run(&["check-imports", "good.py"]).ok();
    repo.run(&["check-imports", "bad.py"]).code(1);
}

#[test]
fn check_imports_reports_ambiguous_modules_naming_both_files() {
    let repo = Repo::new(
        r#"
//- a/dup/__init__.py
//- a/dup/mod.py
X = 1
//- b/dup/__init__.py
//- b/dup/mod.py
X = 2
//- main.py
import dup.mod
"#,
    );
    let run = repo.run(&["--format", "json", "check-imports"]);
    run.code(1);
    let findings = run.json()["findings"].as_array().unwrap().clone();
    assert_eq!(findings.len(), 1, "{}", run.describe());
    assert_eq!(findings[0]["kind"], "ambiguous");
    assert_eq!(findings[0]["file"], "main.py");
    assert_eq!((findings[0]["line"].as_u64(), findings[0]["column"].as_u64()), (Some(1), Some(8)));
    let message = findings[0]["message"].as_str().unwrap();
    assert!(message.contains("a/dup/mod.py") && message.contains("b/dup/mod.py"), "{message}");
    // No edge is guessed.
    let run = repo.run(&["dependencies", "main.py"]);
    run.ok();
    assert_eq!(run.stdout, "");
}

#[test]
fn check_imports_reports_relative_imports_beyond_the_top_level_package() {
    let repo = Repo::new(
        r#"
//- pkg/__init__.py
//- pkg/sub/__init__.py
//- pkg/sub/deep.py
from .. import ok
from ... import too_far
//- pkg/ok.py
//- script.py
from . import helper
"#,
    );
    let run = repo.run(&["check-imports"]);
    run.code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{}", run.describe());
    assert!(lines[0].starts_with("pkg/sub/deep.py:2:6: error: relative import `...`"), "{}", run.describe());
    assert!(lines[0].contains("beyond the top-level package"), "{}", run.describe());
    assert!(lines[1].starts_with("script.py:1:6: error: relative import `.`"), "{}", run.describe());
    assert_eq!(lines[2], "✕ 5 files: 2 import problems, 0 warnings");
    let run = repo.run(&["--format", "json", "check-imports"]);
    let report = run.json();
    let kinds: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["relative-beyond-top", "relative-beyond-top"]);
}

#[test]
fn invalid_utf8_and_syntax_errors_are_warnings_not_failures() {
    let repo = Repo::new(
        r#"
//- pkg/__init__.py
//- pkg/util.py
VALUE = 1
//- pkg/broken.py
def broken(:
    pass
import pkg.util
"#,
    );
    repo.write("pkg/latin.py", b"import os\nname = \"caf\xe9\"\nimport pkg.util\n");
    let run = repo.run(&["--format", "json", "check-imports"]);
    run.ok();
    let report = run.json();
    assert_eq!(report["errors"], 0, "{report:#}");
    let findings = report["findings"].as_array().unwrap();
    let mut seen: Vec<(&str, u64, &str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap(),
                f["line"].as_u64().unwrap(),
                f["kind"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [("pkg/broken.py", 1, "syntax-error", "warning"), ("pkg/latin.py", 2, "syntax-error", "warning")],
        "{report:#}"
    );
    let run = repo.run(&["check-imports"]);
    run.ok();
    assert_eq!(run.lines().last(), Some(&"✓ 4 files: every import resolves (2 warnings)"));
    // The imports after the bad bytes and the syntax error are still found.
    let run = repo.run(&["graph", "pkg/broken.py", "pkg/latin.py"]);
    run.ok();
    assert_eq!(run.json(), json!({"pkg/broken.py": ["pkg/util.py"], "pkg/latin.py": ["pkg/util.py"]}));
}

/// Python ignores a UTF-8 byte order mark: `import missing` at the start of the first line
/// is at column 8, as in an editor.
#[test]
fn columns_do_not_count_a_byte_order_mark() {
    let repo = Repo::new("");
    repo.write("bom.py", b"\xef\xbb\xbfimport missing_module\n");
    let run = repo.run(&["check-imports"]);
    run.code(1);
    assert!(run.stdout.starts_with("bom.py:1:8: error: `missing_module`"), "{}", run.describe());
}

// ---- the parse cache ----

#[test]
fn a_warm_cache_reads_and_parses_nothing_and_sees_edits() {
    let repo = Repo::new(PACKAGE);
    repo.age_all(Duration::from_secs(10));
    let run = repo.run(&["-v", "graph"]);
    run.ok();
    assert!(run.stderr.contains("10 files under"), "{}", run.describe());
    assert!(run.stderr.contains("(10 read, 10 parsed)"), "{}", run.describe());
    assert_eq!(run.json(), package_graph());

    let run = repo.run(&["-v", "graph"]);
    run.ok();
    assert!(run.stderr.contains("(0 read, 0 parsed)"), "a warm start reads nothing\n{}", run.describe());
    assert_eq!(run.json(), package_graph());

    repo.write("app/util.py", "import app.sub.helpers\nVALUE = 1\n");
    repo.age("app/util.py", Duration::from_secs(5));
    let run = repo.run(&["-v", "graph"]);
    run.ok();
    assert!(run.stderr.contains("(1 read, 1 parsed)"), "{}", run.describe());
    let mut expected = package_graph();
    expected["app/util.py"] = json!(["app/__init__.py", "app/sub/helpers.py"]);
    assert_eq!(run.json(), expected);

    let run = repo.run(&["-v", "graph"]);
    run.ok();
    assert!(run.stderr.contains("(0 read, 0 parsed)"), "{}", run.describe());
    assert_eq!(run.json(), expected);
}

#[test]
fn no_cache_writes_no_cache() {
    let repo = Repo::new(PACKAGE);
    let run = repo.run(&["--no-cache", "-v", "graph"]);
    run.ok();
    assert_eq!(run.json(), package_graph());
    assert!(!repo.cache().exists(), "--no-cache created {}", repo.cache().display());
}

/// Runs `graph` on a cache broken by `damage`, and checks the answer is still right.
fn graph_survives(damage: impl Fn(&Path)) {
    let repo = Repo::new(PACKAGE);
    repo.age_all(Duration::from_secs(10));
    repo.run(&["graph"]).ok();
    let folder = repo.cache().join("graph-v1");
    assert!(folder.join("data.mdb").is_file(), "the cache layout changed: {}", folder.display());
    damage(&folder);
    for _ in 0..2 {
        let run = repo.run(&["-v", "graph"]);
        run.ok();
        assert_eq!(run.json(), package_graph(), "{}", run.describe());
    }
}

#[test]
fn a_cache_overwritten_with_garbage_is_not_fatal() {
    graph_survives(|folder| {
        for file in files_under(folder) {
            let len = std::fs::metadata(&file).unwrap().len() as usize;
            let garbage: Vec<u8> = b"not an lmdb file! ".iter().copied().cycle().take(len.max(64)).collect();
            std::fs::write(&file, garbage).unwrap();
        }
    });
}

#[test]
fn a_cache_folder_that_is_a_file_is_not_fatal() {
    let repo = Repo::new(PACKAGE);
    std::fs::create_dir_all(repo.cache()).unwrap();
    std::fs::write(repo.cache().join("graph-v1"), "a file, not a folder").unwrap();
    let run = repo.run(&["graph"]);
    run.ok();
    assert_eq!(run.json(), package_graph());
    assert!(run.stderr.contains("pleat: warning: the parse cache"), "{}", run.describe());
}

#[test]
fn an_emptied_cache_file_is_not_fatal() {
    graph_survives(|folder| {
        File::create(folder.join("data.mdb")).unwrap();
    });
}

/// A cache file cut short (a full disk, a copy interrupted): LMDB maps pages past the
/// end of the file.
#[test]
fn a_truncated_cache_file_is_not_fatal() {
    graph_survives(|folder| {
        let file = File::options().write(true).open(folder.join("data.mdb")).unwrap();
        file.set_len(8192).unwrap();
    });
}

/// Garbage in the data pages, with LMDB's two meta pages (the first 8 KiB with 4 KiB pages)
/// left intact.
/// LMDB has no page checksums: garbage inside its B-tree pages can abort the process
/// reading them (an assertion in lmdb.c), which no caller can catch. What Pleat promises
/// is that this heals: the run that died leaves its in-use marker behind, and the next run
/// clears the cache, says so, and answers correctly.
#[test]
fn garbage_in_the_cache_pages_heals_on_the_next_run() {
    let repo = Repo::new(PACKAGE);
    repo.age_all(Duration::from_secs(10));
    repo.run(&["graph"]).ok();
    let path = repo.cache().join("graph-v1").join("data.mdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let garbage = b"garbage!".iter().copied().cycle();
    for (byte, g) in bytes.iter_mut().skip(8192).zip(garbage) {
        *byte = g;
    }
    std::fs::write(&path, bytes).unwrap();
    // This run may die inside LMDB, or may not (if it never touches a damaged page).
    let first = repo.command(&["-v", "graph"]).stdin(Stdio::null()).output().expect("pleat runs");
    let first_ok = first.status.success()
        && serde_json::from_slice::<Value>(&first.stdout).ok() == Some(package_graph());
    let run = repo.run(&["-v", "graph"]);
    run.ok();
    assert_eq!(run.json(), package_graph(), "{}", run.describe());
    if !first_ok {
        assert!(run.stderr.contains("was cleared"), "the healing run says what it did\n{}", run.describe());
    }
}

// ---- configuration ----

/// The line number after `file:` in an error line.
fn line_after(text: &str, file: &str) -> Option<usize> {
    let at = text.find(&format!("{file}:"))? + file.len() + 1;
    text[at..].split(':').next()?.parse().ok()
}

#[test]
fn invalid_toml_in_pyproject_names_the_file_and_line() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[project]
name = "x"

[tool.pleat]
source_roots = ["src"
init_files = "all"
//- a.py
import os
"#,
    );
    for command in [&["list"][..], &["graph"], &["check-imports"]] {
        let run = repo.run(command);
        let line = run.usage_error();
        assert!(line.contains(&format!("{}/pyproject.toml:", repo.root().display())), "{line}");
        let number = line_after(line, "pyproject.toml");
        assert!(matches!(number, Some(5 | 6)), "the line of the unclosed array: {line}");
        assert!(run.stdout.is_empty(), "{}", run.describe());
    }
}

#[test]
fn a_broken_pleat_toml_names_the_file_and_line() {
    let repo = Repo::new(
        r#"
//- pleat.toml
init_files = "all"
string_imports = yes
//- a.py
import os
"#,
    );
    let line = repo.run(&["list"]).usage_error().to_owned();
    assert_eq!(line_after(&line, "pleat.toml"), Some(2), "{line}");
}

/// Settings in `[tool.pleat]` that TOML accepts but Pleat does not (an unknown key, a
/// wrong value) should point at their own line, not at 1:1.
#[test]
fn pyproject_setting_errors_name_the_line_of_the_setting() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[project]
name = "x"

[tool.pleat]
source_rots = ["src"]
//- a.py
import os
"#,
    );
    let line = repo.run(&["list"]).usage_error().to_owned();
    assert!(line.contains("pyproject.toml:") && line.contains("source_rots"), "{line}");
    assert_eq!(line_after(&line, "pyproject.toml"), Some(5), "the unknown key is on line 5: {line}");

    repo.write("pyproject.toml", "[project]\nname = \"x\"\n\n[tool.pleat]\ninit_files = \"some\"\n");
    let line = repo.run(&["list"]).usage_error().to_owned();
    assert!(line.contains("some"), "{line}");
    assert_eq!(line_after(&line, "pyproject.toml"), Some(5), "the bad value is on line 5: {line}");
}

#[test]
fn configuration_changes_the_graph() {
    let repo = Repo::new(
        r#"
//- pleat.toml
init_files = "all"
test_patterns = ["check_*.py"]
//- app/__init__.py
//- app/a.py
import app.b
//- app/b.py
//- check_a.py
import app.a
"#,
    );
    let run = repo.run(&["--format", "json", "graph"]);
    run.ok();
    assert_eq!(run.json()["app/a.py"], json!(["app/__init__.py", "app/b.py"]), "init_files = all");
    let run = repo.run(&["list", "check_a.py"]);
    run.ok();
    assert_eq!(run.stdout, "check_a.py  test\n");
}

// ---- changed ----

#[test]
fn changed_since_a_ref_lists_edits_untracked_files_and_their_dependents() {
    let repo = Repo::new(PACKAGE);
    repo.write("README.md", "# app\n");
    repo.git(&["init", "-q"]);
    repo.git(&["config", "user.name", "Pleat Tests"]);
    repo.git(&["config", "user.email", "tests@example.invalid"]);
    repo.git(&["config", "commit.gpgsign", "false"]);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "initial"]);
    repo.write("app/util.py", "VALUE = 2\n");
    repo.write("app/extra.py", "EXTRA = 1\n");
    repo.write("README.md", "# app, changed\n");

    let run = repo.run(&["changed", "--since", "HEAD"]);
    run.ok();
    assert_eq!(run.lines(), ["app/extra.py", "app/util.py"], "non-Python files are left out");

    let run = repo.run(&["changed", "--since", "HEAD", "--dependents", "direct"]);
    run.ok();
    assert_eq!(
        run.lines(),
        ["app/core.py", "app/extra.py", "app/sub/helpers.py", "app/util.py", "tests/unit/util_test.py"]
    );

    let run = repo.run(&["changed", "--since", "HEAD", "--dependents", "transitive"]);
    run.ok();
    assert_eq!(
        run.lines(),
        [
            "app/__init__.py",
            "app/core.py",
            "app/extra.py",
            "app/sub/helpers.py",
            "app/util.py",
            "tests/test_core.py",
            "tests/unit/util_test.py",
        ]
    );

    let run = repo.run(&["--format", "json", "changed", "--since", "HEAD", "--dependents", "transitive"]);
    run.ok();
    assert_eq!(
        run.json(),
        json!({
            "changed": ["app/extra.py", "app/util.py"],
            "files": [
                "app/__init__.py",
                "app/core.py",
                "app/extra.py",
                "app/sub/helpers.py",
                "app/util.py",
                "tests/test_core.py",
                "tests/unit/util_test.py",
            ],
            "affected_tests": ["tests/test_core.py", "tests/unit/util_test.py"],
        })
    );
}

/// Outside a git repository, one line says so (not git's whole usage text).
#[test]
fn changed_outside_a_git_repository_is_a_one_line_usage_error() {
    let repo = Repo::new(PACKAGE);
    let line = repo.run(&["changed", "--since", "HEAD"]).usage_error().to_owned();
    assert!(line.contains("git"), "{line}");
}

#[test]
fn changed_with_a_bad_ref_is_a_usage_error() {
    let repo = Repo::new(PACKAGE);
    repo.git(&["init", "-q"]);
    let line = repo.run(&["changed", "--since", "no-such-ref"]).usage_error().to_owned();
    assert!(line.contains("no-such-ref"), "{line}");
}

// ---- root discovery ----

#[test]
fn the_root_is_found_from_a_subfolder() {
    let repo = Repo::new(PACKAGE);
    repo.write("pleat.toml", "");
    // A nested pyproject.toml without [tool.pleat] does not make a root.
    repo.write("app/sub/pyproject.toml", "[project]\nname = \"sub\"\n");
    let mut command = bare_command(&repo.cache());
    command.current_dir(repo.path("app/sub")).args(["-v", "--format", "json", "list"]);
    let run = Run::of(command);
    run.ok();
    assert_eq!(list_paths(&run).len(), 10, "{}", run.describe());
    assert!(run.stderr.contains(&format!("10 files under {} ", repo.root().display())), "{}", run.describe());
}

#[test]
fn a_pyproject_with_tool_pleat_marks_the_root_and_specs_stay_root_relative() {
    let repo = Repo::new(PACKAGE);
    repo.write("pyproject.toml", "[project]\nname = \"app\"\n\n[tool.pleat]\n");
    let mut command = bare_command(&repo.cache());
    command.current_dir(repo.path("tests/unit")).args(["dependents", "app/util.py"]);
    let run = Run::of(command);
    run.ok();
    assert_eq!(run.lines(), ["app/core.py", "app/sub/helpers.py", "tests/unit/util_test.py"]);
}

#[test]
fn without_configuration_the_git_root_is_the_root() {
    let repo = Repo::new(PACKAGE);
    repo.git(&["init", "-q"]);
    let mut command = bare_command(&repo.cache());
    command.current_dir(repo.path("app")).args(["--format", "json", "list"]);
    let run = Run::of(command);
    run.ok();
    assert_eq!(list_paths(&run).len(), 10, "{}", run.describe());
}

// ---- output ----

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let repo = Repo::new("//- pkg/__init__.py\n");
    for i in 0..3000 {
        repo.write(
            &format!("pkg/module_{i:04}.py"),
            format!("import pkg.module_{:04}\nimport pkg.module_{:04}\n", (i + 1) % 3000, (i + 7) % 3000),
        );
    }
    for args in [
        &["graph"][..],
        &["--format", "dot", "graph"],
        &["list"],
        &["dependents", "--transitive", "pkg/__init__.py"],
    ] {
        let mut command = repo.command(args);
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} printed: {stderr}");
    }
    // And the whole output is there when someone reads it.
    let run = repo.run(&["graph"]);
    run.ok();
    assert_eq!(run.json().as_object().unwrap().len(), 3001);
}

#[test]
fn stdout_to_a_full_device_is_an_error_not_a_panic() {
    let repo = Repo::new(PACKAGE);
    let Ok(full) = File::options().write(true).open("/dev/full") else { return };
    let mut command = repo.command(&["graph"]);
    let output = command.stdout(full).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.starts_with("pleat: cannot write the output"), "{stderr}");
}

// ---- the sample repository ----

fn sample_command(args: &[&str]) -> Run {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sample");
    let mut command = Command::new(PLEAT);
    command.env_remove("PLEAT_CACHE_DIR").args(["--no-cache", "--root", sample]).args(args);
    Run::of(command)
}

#[test]
fn the_sample_repository_checks_clean() {
    let run = sample_command(&["check-imports", "::"]);
    run.ok();
    assert!(run.stdout.contains("every import resolves"), "{}", run.describe());
}

#[test]
fn the_sample_repository_answers_dependents() {
    let run = sample_command(&["dependents", "--transitive", "src/shop/pricing/tax.py"]);
    run.ok();
    let lines = run.lines();
    for expected in ["src/shop/pricing/__init__.py", "src/shop/cart.py", "tests/test_cart.py"] {
        assert!(lines.contains(&expected), "{expected} missing\n{}", run.describe());
    }
    let run = sample_command(&["--format", "json", "dependencies", "tests/test_cart.py"]);
    run.ok();
    let deps = run.json();
    let files: Vec<&str> = deps["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(files.contains(&"tests/conftest.py"), "{deps:#}");
    assert!(files.contains(&"src/shop/__init__.py"), "{deps:#}");
}

#[test]
fn the_sample_repository_relates_its_two_distributions() {
    // storefront (apps/storefront) imports shop (the root's distribution).
    let run = sample_command(&["dependencies", "apps/storefront"]);
    run.ok();
    assert_eq!(
        run.lines(),
        ["shop (pyproject.toml): apps/storefront/src/storefront/checkout.py:3 imports src/shop/cart.py"],
        "{}",
        run.describe()
    );
    let run = sample_command(&["--format", "json", "dependents", "pyproject.toml"]);
    run.ok();
    let dependents = run.json();
    assert_eq!(dependents["distributions"][0]["name"], "storefront", "{dependents:#}");
    assert_eq!(dependents["distributions"][0]["folder"], "apps/storefront", "{dependents:#}");
    // Through shop, storefront needs what shop's files import.
    let run = sample_command(&["dependencies", "--transitive", "apps/storefront/"]);
    run.ok();
    assert!(run.lines().contains(&"attrs (third-party, pyproject.toml)"), "{}", run.describe());
    let run = sample_command(&["dependencies", "apps/storefront", "src/shop/cart.py"]);
    run.code(2);
    assert!(run.stderr.contains("give either distributions"), "{}", run.describe());
}

// ---- cache commands ----

#[test]
fn cache_stats_gc_verify_and_clear() {
    let repo = Repo::new(PACKAGE);
    repo.run(&["graph"]).ok();
    assert!(repo.cache().join("graph-v1").is_dir());
    let run = repo.run(&["--format", "json", "cache", "stats"]);
    run.ok();
    let stats = run.json();
    assert_eq!(stats["blobs"], 0);
    assert_eq!(stats["max_bytes"], 2u64 << 30);
    let run = repo.run(&["cache", "verify"]);
    run.ok();
    assert!(run.stdout.contains("every blob matches"), "{}", run.describe());
    let run = repo.run(&["--format", "json", "cache", "gc", "--max-size", "1MiB"]);
    run.ok();
    assert_eq!(run.json()["removed"], 0);
    repo.run(&["cache", "clear"]).ok();
    assert!(!repo.cache().join("graph-v1").exists(), "clear removes the parse cache too");
    // clap's own usage error: exit 2, naming the accepted form.
    let run = repo.run(&["cache", "gc", "--max-size", "lots"]);
    run.code(2);
    assert!(run.stderr.contains("2GiB"), "{}", run.describe());
}

// ---- lint ----

#[test]
fn lint_runs_ruff_and_caches_per_file() {
    let repo = Repo::new(
        r"
//- pkg/__init__.py
//- pkg/a.py
import os
//- pkg/b.py
from pkg import a

VALUE = a
",
    );
    let run = repo.run(&["lint", "::"]);
    run.code(1);
    assert!(
        run.stdout.contains("pkg/a.py:1:8: F401 `os` imported but unused [fix available]"),
        "{}",
        run.describe()
    );
    assert!(run.stdout.contains("✕ 3 files: 1 findings in 1 files (0 cached)"), "{}", run.describe());
    let run = repo.run(&["--format", "json", "lint", "::"]);
    run.code(1);
    let json = run.json();
    assert_eq!(json["summary"]["cached"], 3, "a second run executes nothing");
    assert_eq!(json["summary"]["sources"], json!({"local-cache": 3}), "{json}");
    assert_eq!(json["files"][1]["source"], "local-cache");
    assert_eq!(json["files"][1]["findings"][0]["code"], "F401");
    repo.write("pkg/a.py", "import os\n\nprint(os.sep)\n");
    let run = repo.run(&["--format", "json", "lint", "::"]);
    run.ok();
    let json = run.json();
    assert_eq!(json["summary"]["cached"], 2, "only the edited file reruns");
    assert_eq!(json["summary"]["sources"], json!({"local-cache": 2, "local": 1}), "{json}");
    let line = repo.run(&["lint", "--tool", "nope", "::"]).usage_error().to_owned();
    assert!(line.contains("ruff, flake8 or pylint"), "{line}");
}

/// `pleat --format json lint ARGS… ::`, which must find something (exit 1), and exactly
/// `expected` (`(file, line, code)`, sorted). Returns the run.
fn assert_lint_finds(repo: &Repo, args: &[&str], expected: &[(&str, u64, &str)]) -> Run {
    let run = repo.run(&[&["--format", "json", "lint"], args, &["::"]].concat());
    run.code(1);
    let json = run.json();
    let mut found: Vec<(&str, u64, &str)> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|file| {
            file["findings"].as_array().unwrap().iter().map(|f| {
                (file["file"].as_str().unwrap(), f["line"].as_u64().unwrap(), f["code"].as_str().unwrap())
            })
        })
        .collect();
    found.sort_unstable();
    assert_eq!(found, expected, "{}", run.describe());
    run
}

/// `fix = true` in the project's settings makes `ruff check` fix what it finds; the lint
/// still reports every finding, and the file stays as it was.
#[test]
fn lint_reports_what_a_configured_fix_would_fix_and_leaves_the_file_alone() {
    let source = "import os\nimport sys\n\nprint(sys.argv)\n";
    let repo = Repo::new(&format!(
        "//- pyproject.toml\n[tool.ruff]\nfix = true\n//- pkg/__init__.py\n//- pkg/a.py\n{source}"
    ));
    assert_lint_finds(&repo, &[], &[("pkg/a.py", 1, "F401")]);
    assert_eq!(std::fs::read_to_string(repo.path("pkg/a.py")).unwrap(), source);
}

/// A file ruff's `extend-exclude` names has no findings, as with `ruff check .`; the
/// others still have theirs.
#[test]
fn lint_skips_files_the_ruff_settings_exclude() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[tool.ruff]
extend-exclude = ["generated/", "pkg/_vendored.py"]
//- pkg/__init__.py
//- pkg/_vendored.py
import os
//- pkg/a.py
import os
//- generated/models.py
import sys
"#,
    );
    assert_lint_finds(&repo, &[], &[("pkg/a.py", 1, "F401")]);
}

/// INP001 (no `__init__.py`) is reported only where the package marker is really missing:
/// an empty or comment-only `__init__.py` above the file counts, however far up.
#[test]
fn lint_sees_the_package_markers_above_a_file() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[tool.ruff.lint]
select = ["INP"]
//- app/__init__.py
# only a comment
//- app/sub/__init__.py
//- app/sub/deep/__init__.py
# also a comment
//- app/sub/deep/mod.py
X = 1
//- scripts/tool.py
X = 1
"#,
    );
    assert_lint_finds(&repo, &[], &[("scripts/tool.py", 1, "INP001")]);
}

/// Settings in a folder apply below it, with their `extend` chain; import sorting tells
/// first-party from standard-library and third-party imports as ruff does on the tree
/// (`src`, and the standard library first even when a local `logging.py` exists).
#[test]
fn lint_follows_nested_settings_extend_chains_and_src_like_ruff() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[tool.ruff]
src = ["src"]
[tool.ruff.lint]
select = ["I", "E501"]
//- logging.py
X = 1
//- src/mylib/__init__.py
//- src/mylib/util.py
import logging
import os

import requests

import mylib.helpers

LOG = (logging, os, requests, mylib)
//- src/mylib/helpers.py
X = 1
//- legacy/ruff.toml
extend = "../configs/legacy.toml"
[lint]
select = ["E501"]
//- configs/legacy.toml
line-length = 20
//- legacy/old.py
VALUE = "more than twenty characters"
"#,
    );
    assert_lint_finds(&repo, &[], &[("legacy/old.py", 1, "E501")]);
}

/// A project's own modules named like those Python starts ruff with (`ruff` itself, and
/// `sysconfig`, which ruff's launcher imports) stand in for nothing: the lint still runs,
/// also where a placeholder for an import puts an empty `sysconfig.py` in the sandbox.
#[test]
fn lint_is_not_fooled_by_project_modules_named_like_the_tools_own() {
    let repo = Repo::new(
        "//- ruff.py\nimport os\n//- sysconfig.py\nX = 1\n//- a.py\nimport sysconfig\n\nprint(sysconfig)\n",
    );
    assert_lint_finds(&repo, &[], &[("ruff.py", 1, "F401")]);
}

/// `--force` runs every process again, and does not cache what it ran.
#[test]
fn lint_force_runs_again_even_when_cached() {
    let repo = Repo::new("//- a.py\nimport os\n//- b.py\nX = 1\n");
    let cached = |args: &[&str]| {
        let run = assert_lint_finds(&repo, args, &[("a.py", 1, "F401")]);
        run.json()["summary"]["cached"].as_u64().unwrap()
    };
    assert_eq!(cached(&[]), 0);
    assert_eq!(cached(&[]), 2);
    assert_eq!(cached(&["--force"]), 0);
    assert_eq!(cached(&["--force"]), 0, "a forced run is not cached");
    assert_eq!(cached(&[]), 2);
}

// ---- test ----

#[test]
fn test_runs_pytest_per_file_and_reruns_only_what_an_edit_affects() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[tool.pleat]
source_roots = ["src", "."]
//- src/calc/__init__.py
//- src/calc/ops.py
def divide(a, b):
    return a / b
//- src/calc/other.py
VALUE = 1
//- tests/test_ops.py
from calc.ops import divide


def test_ok():
    assert divide(4, 2) == 2


def test_zero():
    assert divide(1, 0) == 0
//- tests/test_other.py
from calc.other import VALUE


def test_value():
    assert VALUE == 1
"#,
    );
    let run = repo.run(&["test", "::"]);
    run.code(1);
    assert!(run.stdout.contains("✕ tests/test_ops.py failed"), "{}", run.describe());
    assert!(
        run.stdout.contains("✕ tests/test_ops.py::test_zero (tests/test_ops.py:9): ZeroDivisionError"),
        "{}",
        run.describe()
    );
    assert!(run.stdout.contains("raised at src/calc/ops.py:2"), "{}", run.describe());
    assert!(run.stdout.contains("✓ tests/test_other.py"), "{}", run.describe());
    assert!(run.stdout.contains("1 passed, 1 failed (0 cached, 2 ran)"), "{}", run.describe());

    let run = repo.run(&["--format", "json", "test", "::"]);
    run.code(1);
    let json = run.json();
    assert_eq!(
        json["summary"],
        json!({"passed": 1, "failed": 1, "cached": 2, "ran": 0, "sources": {"local-cache": 2}}),
        "nothing ran twice"
    );
    let zero = &json["files"][0]["tests"][1];
    assert_eq!(zero["name"], "tests/test_ops.py::test_zero");
    assert_eq!(zero["outcome"], "failed");
    assert_eq!(zero["location"], json!({"file": "tests/test_ops.py", "line": 9}));

    repo.write("src/calc/ops.py", "def divide(a, b):\n    return a / b if b else 0\n");
    let run = repo.run(&["--format", "json", "test", "::"]);
    run.ok();
    let json = run.json();
    assert_eq!(
        json["summary"],
        json!({"passed": 2, "failed": 0, "cached": 1, "ran": 1, "sources": {"local-cache": 1, "local": 1}}),
        "only the importer reran"
    );
    assert_eq!(json["files"][0]["cached"], false);
    assert_eq!(json["files"][1]["cached"], true);
}

#[test]
fn two_projects_in_one_cache_each_get_their_own_environment() {
    let plain = Repo::new("//- tests/test_a.py\ndef test_a():\n    assert True\n");
    let needs_six = Repo::new(
        "//- requirements-dev.txt\nsix\n//- tests/test_six.py\nimport six\n\n\ndef test_six():\n    assert six.PY3\n",
    );
    plain.run(&["test", "::"]).ok();
    let in_shared_cache = |repo: &Repo| {
        let mut command = bare_command(&plain.cache());
        command.current_dir(repo.root()).arg("--root").arg(repo.root()).args(["test", "::"]);
        Run::of(command)
    };
    let run = in_shared_cache(&needs_six);
    run.ok();
    assert!(run.stdout.contains("✓ tests/test_six.py"), "{}", run.describe());
    // An edited requirement set is another environment, and the cached result is not reused.
    needs_six.write("requirements-dev.txt", "six\npretend\n");
    needs_six.write(
        "tests/test_six.py",
        "import pretend\nimport six\n\n\ndef test_six():\n    assert six.PY3 and pretend.stub()\n",
    );
    in_shared_cache(&needs_six).ok();
}

#[test]
fn the_environment_holds_declared_test_dependencies_not_every_requirements_file() {
    // python-dateutil ships requirements/3.3/requirements-dev.txt with pytest<3.3, and
    // attrs' test extra names attrs[tests-no-zope]: neither may reach the environment as is.
    let repo = Repo::new(
        r#"
//- pyproject.toml
[project]
name = "selfy"
version = "1.2.3"
[project.optional-dependencies]
tests-base = ["six"]
tests = ["selfy[tests-base]"]
[project.entry-points."selfy.plugins"]
one = "selfy:ONE"
//- requirements/3.3/requirements-dev.txt
pytest<3.3
//- requirements/docs.txt
selfy==0.0.1
//- requirements-dev.txt
-e .[tests]
//- src/selfy/__init__.py
ONE = 1
//- tests/test_meta.py
import importlib.metadata

import pytest
import six

import selfy  # the entry point loads it; imported here so it is in the closure


def test_metadata_and_plugins_as_if_installed():
    assert importlib.metadata.version("selfy") == "1.2.3"
    (plugin,) = importlib.metadata.entry_points(group="selfy.plugins")
    assert plugin.load() == 1
    assert int(pytest.__version__.split(".")[0]) >= 7
    assert six.PY3
"#,
    );
    let run = repo.run(&["test", "::"]);
    run.ok();
    assert!(run.stdout.contains("✓ tests/test_meta.py"), "{}", run.describe());
}

/// A project that is a pytest plugin (a `pytest11` entry point) has its plugin's asserts
/// rewritten, as pytest does for an installed plugin (pytest-mock's introspection).
#[test]
fn a_project_pytest_plugin_is_assert_rewritten_as_when_installed() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[project]
name = "myplug"
version = "1.0"
[project.entry-points.pytest11]
myplug = "myplug.plugin"
//- src/myplug/__init__.py
//- src/myplug/plugin.py
import pytest


@pytest.fixture
def check_equal():
    def check(a, b):
        assert a == b

    return check
//- tests/test_it.py
def test_differs(check_equal):
    check_equal(1, 2)
"#,
    );
    let json = repo.run(&["--format", "json", "test", "::"]).json();
    let message = json["files"][0]["tests"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("assert 1 == 2"), "{json}");
}

/// A test that leaves its report as a symlink out of the sandbox, or swaps `.pleat` for a
/// link to a forged report, fails alone with the reason; the other files still report.
#[test]
fn a_bad_output_fails_its_file_alone_and_cannot_forge_a_pass() {
    let repo = Repo::new(
        r#"
//- tests/test_ok.py
def test_ok():
    assert True
//- tests/test_link_out.py
import atexit
import os


def _swap():
    os.remove(".pleat/results.json")
    os.symlink("/etc/hostname", ".pleat/results.json")


def test_leaves_a_link():
    atexit.register(_swap)
//- tests/test_forge.py
import atexit
import json
import os
import tempfile


def _forge():
    outside = tempfile.mkdtemp(dir="/tmp")
    with open(os.path.join(outside, "results.json"), "w") as f:
        json.dump({"exitstatus": 0, "tests": [{"nodeid": "tests/test_forge.py::test_forged", "outcome": "passed", "duration": 0.0, "message": None, "crash": None, "frames": []}]}, f)
    os.rename(".pleat", ".pleat-moved")
    os.symlink(outside, ".pleat")


def test_forged():
    atexit.register(_forge)
    assert False
"#,
    );
    let run = repo.run(&["--format", "json", "test", "::"]);
    run.code(1);
    let json = run.json();
    let outcome = |file: &str| {
        let f = json["files"].as_array().unwrap().iter().find(|f| f["file"] == file).unwrap();
        f["outcome"].as_str().unwrap().to_owned()
    };
    assert_eq!(outcome("tests/test_ok.py"), "passed", "{json}");
    assert_eq!(outcome("tests/test_link_out.py"), "error", "{json}");
    assert_eq!(outcome("tests/test_forge.py"), "error", "{json}");
    let run = repo.run(&["test", "::"]);
    run.code(1);
    assert!(
        run.stdout.contains("output `.pleat/results.json` is a symlink leading outside the sandbox")
            && run.stdout.contains("output `.pleat/results.json` lies under a folder that is a symlink"),
        "{}",
        run.describe()
    );
}

#[test]
fn sandboxes_hold_package_inits_and_data_and_say_what_they_lack() {
    let repo = Repo::new(
        r#"
//- tests/__init__.py
# a comment-only __init__.py still makes tests/ a package
//- tests/helpers.py
from pathlib import Path


def load(name):
    return (Path(__file__).parent / "data" / name).read_text()
//- tests/data/greeting.txt
hello
//- tests/test_rel.py
from .helpers import load


def test_load():
    assert __name__ == "tests.test_rel"
    assert load("greeting.txt").strip() == "hello"
//- docs/notes.txt
notes
//- tests/test_outside.py
import os


def test_outside():
    with open(os.path.join("docs", "notes" + ".txt")) as f:
        assert f.read().strip() == "notes"
//- .gitignore
docs/built.txt
*.mo
//- src/pkg/__init__.py
//- src/pkg/locale/de.mo
compiled catalogue: a build output inside a package
//- tests/test_catalogue.py
from pathlib import Path

import pkg


def test_ignored_package_data_is_there_as_in_a_plain_run():
    assert (Path(pkg.__file__).parent / "locale" / "de.mo").read_text().startswith("compiled")
//- docs/other.txt
other
//- tests/test_stat.py
import os


def test_exists():
    # A tool's state in a hidden folder (hypothesis' .hypothesis) is no missing input.
    os.path.exists(os.path.join(".toolstate", "examples"))
    assert os.path.isfile(os.path.join("docs", "other" + ".txt"))
//- .toolstate/examples
state
//- docs/built.txt
a build output the configuration names on purpose
//- tests/test_built.py
import os


def test_an_ignored_file_named_by_the_configuration():
    assert os.path.exists(os.path.join("docs", "built" + ".txt"))
//- docs/asset.json
{"inferred": true}
//- tests/test_asset.py
import json
import os


def test_a_literal_path_is_an_input():
    with open("docs/asset.json") as f:
        assert json.load(f)["inferred"]
    # packaging's tests/test_licenses.py: a path from the test's folder, with `..`.
    with open(os.path.join(os.path.dirname(__file__), "../docs/asset.json")) as f:
        assert json.load(f)["inferred"]
"#,
    );
    let run = repo.run(&["test", "::"]);
    run.code(1);
    assert!(run.stdout.contains("✓ tests/test_rel.py"), "{}", run.describe());
    assert!(run.stdout.contains("✓ tests/test_asset.py"), "{}", run.describe());
    assert!(run.stdout.contains("✕ tests/test_outside.py failed"), "{}", run.describe());
    assert!(
        run.stdout.contains(
            "tests/test_outside.py read docs/notes.txt, which is not among its inputs; add it with [tool.pleat.resources]"
        ),
        "{}",
        run.describe()
    );
    let json = repo.run(&["--format", "json", "test", "tests/test_outside.py"]).json();
    assert_eq!(json["files"][0]["missing_inputs"], json!(["docs/notes.txt"]));
    assert!(run.stdout.contains("✓ tests/test_catalogue.py"), "{}", run.describe());
    // A stat (`os.path.isfile`) is watched as well as open and listdir, and nothing else
    // (pytest's own probing, imports) is reported.
    let json = repo.run(&["--format", "json", "test", "::"]).json();
    let missing: Vec<(String, Value)> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["missing_inputs"] != json!([]))
        .map(|f| (f["file"].as_str().unwrap().to_owned(), f["missing_inputs"].clone()))
        .collect();
    assert_eq!(
        missing,
        [
            ("tests/test_built.py".to_owned(), json!(["docs/built.txt"])),
            ("tests/test_outside.py".to_owned(), json!(["docs/notes.txt"])),
            ("tests/test_stat.py".to_owned(), json!(["docs/other.txt"])),
        ]
    );

    assert!(run.stdout.contains("✕ tests/test_built.py failed"), "{}", run.describe());
    repo.write("pleat.toml", "[resources]\n\"tests/test_*.py\" = [\"docs/*.txt\"]\n");
    repo.run(&["test", "::"]).ok();
    // A data folder named in [dependencies] reaches the sandbox too.
    repo.write("pleat.toml", "[dependencies]\n\"tests/test_*.py\" = [\"docs\"]\n");
    repo.run(&["test", "::"]).ok();
}

#[test]
fn lock_writes_pylock_and_check_fails_when_it_is_missing_or_stale() {
    let repo = Repo::new(
        "//- requirements-dev.txt\nsix<1.17\n//- tests/test_six.py\nimport six\n\n\ndef test_locked_version():\n    assert six.__version__ == \"1.16.0\"\n",
    );
    let run = repo.run(&["lock", "--check"]);
    run.code(1);
    assert!(run.stdout.contains("pylock.toml is missing; run `pleat lock`"), "{}", run.describe());
    let run = repo.run(&["lock"]);
    run.ok();
    assert!(run.stdout.contains("✓ wrote pylock.toml"), "{}", run.describe());
    let lock = std::fs::read_to_string(repo.path("pylock.toml")).unwrap();
    assert!(lock.contains("lock-version = \"1.0\""), "PEP 751: {lock}");
    assert!(lock.contains("name = \"six\"\nversion = \"1.16.0\""), "{lock}");
    assert!(lock.contains("name = \"pytest\""), "pytest is pinned in when the project names none: {lock}");
    repo.run(&["lock", "--check"]).ok();
    repo.run(&["test", "::"]).ok();
    // The requirement changes: the lock is stale, and the environment still holds exactly it.
    repo.write("requirements-dev.txt", "six\n");
    let run = repo.run(&["lock", "--check"]);
    run.code(1);
    assert!(run.stdout.contains("pylock.toml is stale"), "{}", run.describe());
    let run = repo.run(&["test", "--force", "::"]);
    run.ok();
    assert!(run.stderr.contains("was locked from other requirements"), "{}", run.describe());
    // Without the lock, the new requirement set resolves to the newest six.
    std::fs::remove_file(repo.path("pylock.toml")).unwrap();
    let run = repo.run(&["test", "::"]);
    run.code(1);
    assert!(run.stderr.contains("resolving the project's requirements with uv"), "{}", run.describe());
}

#[test]
fn named_resolves_give_their_files_their_own_environment_and_lock() {
    // One monorepo, two requirement sets: the default resolve (root requirements) and
    // `legacy` (its own file, older six and an attrs without the `attrs` module).
    let repo = Repo::new(
        r#"
//- pyproject.toml
[tool.pleat.resolves.legacy]
requirements = ["legacy/requirements.txt"]
paths = ["legacy/**"]
//- requirements-dev.txt
six==1.17.0
attrs==23.2.0
//- legacy/requirements.txt
six==1.16.0
attrs==21.2.0
//- app/test_new.py
import six


def test_new_six():
    assert six.__version__ == "1.17.0"
//- legacy/test_old.py
import six


def test_old_six():
    assert six.__version__ == "1.16.0"
//- app/typed.py
import attrs

DEFINE = attrs.define
//- legacy/typed.py
import attrs

DEFINE = attrs.define
"#,
    );
    let run = repo.run(&["test", "::"]);
    run.ok();
    assert!(
        run.stdout.contains("✓ app/test_new.py") && run.stdout.contains("✓ legacy/test_old.py"),
        "{}",
        run.describe()
    );
    let json = repo.run(&["--format", "json", "test", "::"]).json();
    let resolve_of = |file: &str| {
        json["files"].as_array().unwrap().iter().find(|f| f["file"] == file).map(|f| f["resolve"].clone())
    };
    assert_eq!(resolve_of("app/test_new.py"), Some(json!("default")), "{json}");
    assert_eq!(resolve_of("legacy/test_old.py"), Some(json!("legacy")), "{json}");

    // mypy runs once per resolve, each in its own environment: only attrs 21.2.0 lacks
    // the `attrs` module.
    let run = repo.run(&["--format", "json", "check", "app/typed.py", "legacy/typed.py"]);
    run.code(1);
    let findings = run.json()["findings"].clone();
    let files: Vec<&str> = findings.as_array().unwrap().iter().filter_map(|f| f["file"].as_str()).collect();
    assert!(files.contains(&"legacy/typed.py") && !files.contains(&"app/typed.py"), "{}", run.describe());
    assert_eq!(run.json()["files"], json!(2), "{}", run.describe());

    // Locks: both missing, then both written, each with its own resolution.
    let run = repo.run(&["lock", "--check"]);
    run.code(1);
    assert!(run.stdout.contains("pylock.toml is missing; run `pleat lock`"), "{}", run.describe());
    assert!(
        run.stdout.contains("pylock.legacy.toml is missing; run `pleat lock --resolve legacy`"),
        "{}",
        run.describe()
    );
    let run = repo.run(&["lock"]);
    run.ok();
    assert!(
        run.stdout.contains("✓ wrote pylock.toml:") && run.stdout.contains("✓ wrote pylock.legacy.toml:"),
        "{}",
        run.describe()
    );
    let default_lock = std::fs::read_to_string(repo.path("pylock.toml")).unwrap();
    let legacy_lock = std::fs::read_to_string(repo.path("pylock.legacy.toml")).unwrap();
    assert!(default_lock.contains("name = \"six\"\nversion = \"1.17.0\""), "{default_lock}");
    assert!(legacy_lock.contains("name = \"six\"\nversion = \"1.16.0\""), "{legacy_lock}");
    assert!(legacy_lock.contains("[tool.pleat.resolves.legacy]"), "{legacy_lock}");
    repo.run(&["lock", "--check"]).ok();
    // With the locks present, each resolve's environment holds exactly its lock.
    repo.run(&["test", "--force", "::"]).ok();

    // One resolve's requirements change: --check names that lock and only that one.
    repo.write("legacy/requirements.txt", "six>=1.16,<1.17\nattrs==21.2.0\n");
    let run = repo.run(&["lock", "--check"]);
    run.code(1);
    assert!(run.stdout.contains("✓ pylock.toml is up to date"), "{}", run.describe());
    assert!(
        run.stdout.contains("✕ pylock.legacy.toml is stale")
            && run.stdout.contains("run `pleat lock --resolve legacy`"),
        "{}",
        run.describe()
    );
    let run = repo.run(&["lock", "--resolve", "legacy"]);
    run.ok();
    assert!(
        run.stdout.contains("✓ wrote pylock.legacy.toml:") && !run.stdout.contains("wrote pylock.toml:"),
        "{}",
        run.describe()
    );
    repo.run(&["lock", "--check"]).ok();
    let run = repo.run(&["lock", "--resolve", "nope"]);
    run.code(2);
    assert!(
        run.stderr.contains("--resolve nope") && run.stderr.contains("default, legacy"),
        "{}",
        run.describe()
    );

    // A file two resolves claim is a configuration error naming it and both.
    repo.write(
        "pyproject.toml",
        "[tool.pleat.resolves.legacy]\nrequirements = [\"legacy/requirements.txt\"]\npaths = [\"legacy/**\"]\n[tool.pleat.resolves.other]\nrequirements = []\npaths = [\"legacy/test_*.py\"]\n",
    );
    let run = repo.run(&["test", "::"]);
    run.code(3);
    assert!(
        run.stderr.contains(
            "pyproject.toml: legacy/test_old.py matches the paths of two resolves, `legacy` and `other`"
        ),
        "{}",
        run.describe()
    );
    // A requirements file a resolve names must exist.
    repo.write(
        "pyproject.toml",
        "[tool.pleat.resolves.legacy]\nrequirements = [\"legacy/requirement.txt\"]\npaths = [\"legacy/**\"]\n",
    );
    let run = repo.run(&["test", "legacy::"]);
    run.code(3);
    assert!(
        run.stderr.contains(
            "pyproject.toml: [tool.pleat.resolves.legacy] requirements names \"legacy/requirement.txt\""
        ),
        "{}",
        run.describe()
    );
    let run = repo.run(&["lock", "--check"]);
    run.code(2);
    assert!(run.stderr.contains("legacy/requirement.txt"), "{}", run.describe());
}

#[test]
fn a_cached_failure_keeps_a_sandbox_on_request_and_cached_results_keep_their_run_time() {
    let repo = Repo::new(
        "//- tests/test_slow.py\nimport time\n\n\ndef test_slow_failure():\n    time.sleep(0.3)\n    assert False\n",
    );
    let run = repo.run(&["--format", "json", "test", "::"]);
    run.code(1);
    let first = run.json()["files"][0]["duration_s"].as_f64().unwrap();
    let run = repo.run(&["--format", "json", "test", "::"]);
    let cached = &run.json()["files"][0];
    assert_eq!(cached["cached"], true);
    let again = cached["duration_s"].as_f64().unwrap();
    assert!((again - first).abs() < 0.01, "a cached result reports the run's time: {first} then {again}");
    assert!(cached["kept_sandbox"].is_null());
    // --keep-sandboxes=on-failure reruns a cached failure to leave its sandbox, and says where.
    let run = repo.run(&["--keep-sandboxes", "on-failure", "test", "::"]);
    run.code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("sandbox kept at"))
        .unwrap_or_else(|| panic!("{}", run.describe()));
    let path = line.trim().trim_start_matches("sandbox kept at ").split(" (").next().unwrap();
    assert!(Path::new(path).join("__run.sh").is_file(), "{line}");
    assert!(Path::new(path).join("root/tests/test_slow.py").is_file(), "{line}");
    std::fs::remove_dir_all(path).unwrap();
}

#[test]
fn scm_version_files_lazy_submodules_and_data_folder_fixtures_reach_the_sandbox() {
    // humanize's hatch-vcs version file, python-dateutil's lazy submodules, jinja2's
    // tests/res/__init__.py imported from sys.path.
    let repo = Repo::new(
        r#"
//- pyproject.toml
[project]
name = "vcsy"
dynamic = ["version"]
[tool.hatch.build.hooks.vcs]
version-file = "src/vcsy/_version.py"
//- PKG-INFO
Metadata-Version: 2.1
Name: vcsy
Version: 2.5.0

//- .gitignore
src/vcsy/_version.py
//- src/vcsy/__init__.py
from ._version import __version__

__all__ = ["helpers"]


def __getattr__(name):
    import importlib

    if name in __all__:
        return importlib.import_module("." + name, __name__)
    raise AttributeError(name)
//- src/vcsy/helpers.py
ANSWER = 42
//- tests/res/__init__.py
VALUE = 7
//- tests/res/data.txt
data
//- tests/test_v.py
import importlib
from pathlib import Path

import vcsy


def test_version_and_lazy_submodule():
    assert vcsy.__version__ == "2.5.0"
    assert vcsy.helpers.ANSWER == 42


def test_fixture_package_from_sys_path(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "res"))
    assert importlib.import_module("__init__").VALUE == 7


def test_a_child_python_elsewhere_finds_the_project(tmp_path):
    # pytester and subprocess-based tests start Python in another folder.
    import subprocess
    import sys

    code = "import vcsy.helpers; print(vcsy.helpers.ANSWER)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == "42", out.stderr
"#,
    );
    let run = repo.run(&["test", "::"]);
    run.ok();
    assert!(run.stdout.contains("✓ tests/test_v.py"), "{}", run.describe());
}

#[test]
fn test_changed_since_runs_only_affected_tests() {
    let repo = Repo::new(
        r"
//- lib.py
X = 1
//- other.py
Y = 2
//- test_lib.py
from lib import X


def test_x():
    assert X == 1
//- test_other.py
from other import Y


def test_y():
    assert Y == 2
",
    );
    repo.git(&["init", "-q"]);
    repo.git(&["add", "."]);
    repo.git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"]);
    repo.write("lib.py", "X = 1  # edited\n");
    let run = repo.run(&["--format", "json", "test", "--changed-since", "HEAD", "::"]);
    run.ok();
    let json = run.json();
    let files: Vec<&str> =
        json["files"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["test_lib.py"]);
    let line = repo.run(&["test", "--timeout", "0", "::"]).usage_error().to_owned();
    assert!(line.contains("positive number of seconds"), "{line}");
}

#[test]
fn test_changed_since_runs_the_file_that_executed_the_changed_line_first_unless_ordered_by_path() {
    let repo = Repo::new(
        r"
//- pkg/__init__.py
//- pkg/m.py
def f():
    return 1


def g():
    return 2
//- tests/test_a.py
from pkg.m import f


def test_f():
    assert f() == 1
//- tests/test_b.py
import pkg.m


def test_nothing():
    pass
//- tests/test_z.py
from pkg.m import g


def test_g():
    assert g() == 2
",
    );
    repo.git(&["init", "-q"]);
    repo.git(&["add", "."]);
    repo.git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"]);
    let files = |run: &Run| -> Vec<String> {
        run.json()["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["file"].as_str().unwrap().to_owned())
            .collect()
    };
    // Every run records the lines it executed (rather than on idle cores only).
    let recording = |args: &[&str]| {
        let mut command = repo.command(args);
        command.env("PLEAT_COVERAGE", "always");
        Run::of(command)
    };
    recording(&["test", "::"]).ok();
    repo.write("pkg/m.py", "def f():\n    return 1\n\n\ndef g():\n    return 3\n");
    let likely = recording(&["--format", "json", "test", "--changed-since", "HEAD", "::"]);
    assert_eq!(likely.code, Some(1), "{}", likely.stderr);
    // tests/test_z.py executed the changed line; the other two executed the file (its
    // definitions, when importing it), and keep their path order.
    assert_eq!(files(&likely), ["tests/test_z.py", "tests/test_a.py", "tests/test_b.py"]);
    let by_path =
        recording(&["--format", "json", "test", "--changed-since", "HEAD", "--order", "path", "::"]);
    assert_eq!(files(&by_path), ["tests/test_a.py", "tests/test_b.py", "tests/test_z.py"]);
}

// ---- pytest's configuration decides what a test is ----

/// The kind of every file, from `pleat list --format json`.
fn kinds(repo: &Repo) -> Vec<(String, String)> {
    let run = repo.run(&["--format", "json", "list", "::"]);
    run.ok();
    run.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["kind"].as_str().unwrap().to_owned()))
        .collect()
}

fn kind_of(kinds: &[(String, String)], path: &str) -> String {
    kinds.iter().find(|(p, _)| p == path).map_or_else(|| format!("{path} is not listed"), |(_, k)| k.clone())
}

/// The files `pleat test --format json` ran, in order.
fn tested_files(run: &Run) -> Vec<String> {
    run.json()["files"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap().to_owned()).collect()
}

/// attrs 24.2.0's layout: `testpaths = "tests"` keeps its benchmarks out of a test run.
#[test]
fn testpaths_keep_other_folders_out_of_pleat_test() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[tool.pytest.ini_options]
testpaths = "tests"
//- tests/test_a.py
def test_a():
    assert True
//- bench/test_x.py
def test_benchmark_that_fails_outside_its_harness():
    assert False
"#,
    );
    assert_eq!(kind_of(&kinds(&repo), "bench/test_x.py"), "source");
    let run = repo.run(&["--format", "json", "test", "::"]);
    run.ok();
    assert_eq!(tested_files(&run), ["tests/test_a.py"], "{}", run.describe());
}

/// python_files (python-dateutil's `*_solution.py`), norecursedirs and pytest's own
/// default, which has no `tests.py` (jinja2's `src/jinja2/tests.py` is its code).
#[test]
fn python_files_and_norecursedirs_decide_the_kinds() {
    let repo = Repo::new(
        "//- setup.cfg\n[metadata]\nname = x\n\n[tool:pytest]\npython_files = \n\ttest_*.py\n\t*_solution.py\nnorecursedirs = legacy\n//- docs/exercises/x_solution.py\ndef test_solution():\n    assert True\n//- tests/test_a.py\n//- tests/a_test.py\n//- legacy/test_old.py\n//- build/test_built.py\n",
    );
    let kinds = kinds(&repo);
    assert_eq!(kind_of(&kinds, "docs/exercises/x_solution.py"), "test");
    assert_eq!(kind_of(&kinds, "tests/test_a.py"), "test");
    assert_eq!(kind_of(&kinds, "tests/a_test.py"), "source", "python_files replaces pytest's default");
    assert_eq!(kind_of(&kinds, "legacy/test_old.py"), "source", "in a norecursedirs folder");
    assert_eq!(kind_of(&kinds, "build/test_built.py"), "test", "norecursedirs replaces pytest's list");

    let repo = Repo::new("//- src/pkg/__init__.py\n//- src/pkg/tests.py\n//- tests/test_pkg.py\n");
    let kinds = self::kinds(&repo);
    assert_eq!(kind_of(&kinds, "src/pkg/tests.py"), "source", "pytest does not collect tests.py");
    assert_eq!(kind_of(&kinds, "tests/test_pkg.py"), "test");
}

/// A hidden `.pytest.ini` is pytest's configuration file, and the one pytest finds in
/// the sandbox.
#[test]
fn a_hidden_pytest_ini_reaches_the_sandbox() {
    let repo = Repo::new(
        r#"
//- .pytest.ini
[pytest]
python_files = check_*.py
//- pyproject.toml
[tool.pytest.ini_options]
python_files = ["never_*.py"]
//- check_config.py
def test_pytest_reads_the_hidden_file(request):
    assert request.config.inipath.name == ".pytest.ini"
"#,
    );
    let run = repo.run(&["--format", "json", "test", "::"]);
    run.ok();
    assert_eq!(tested_files(&run), ["check_config.py"], "{}", run.describe());
    assert_eq!(run.json()["files"][0]["tests"][0]["outcome"], "passed", "{}", run.describe());
}

/// A plugin that adds items to every Python file (pytest-ruff, from PyPI, switched on in
/// `addopts`) makes every module pytest walks a test target, run for those items alone:
/// never imported as a test module (a `setup.py` would run), no `test_*` function of a
/// library module collected; the package `__init__.py` above a module brings what it imports.
#[test]
fn file_plugins_make_every_module_a_target_of_their_items_alone() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[project]
name = "demo"
version = "0.1"
[project.optional-dependencies]
test = ["pytest-ruff"]
[tool.pytest.ini_options]
addopts = "--ruff"
//- setup.py
raise SystemExit("setup.py was imported")
//- pkg/__init__.py
from pkg.sub.helpers import VALUE

__all__ = ["VALUE"]
//- pkg/sub/__init__.py
//- pkg/sub/helpers.py
VALUE = 1


def test_helper_that_pytest_never_collects_here():
    assert False
//- pkg/unused.py
import os
//- tests/test_ok.py
def test_ok():
    assert True
"#,
    );
    let kinds = kinds(&repo);
    assert_eq!(kind_of(&kinds, "pkg/unused.py"), "test");
    let run = repo.run(&["--format", "json", "test", "::"]);
    run.code(1);
    let json = run.json();
    let outcome = |file: &str| {
        let entry = json["files"].as_array().unwrap().iter().find(|f| f["file"] == file);
        entry.map(|f| {
            let names: Vec<String> = f["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("{} {}", t["name"], t["outcome"]))
                .collect();
            (f["outcome"].as_str().unwrap().to_owned(), names.join(", "))
        })
    };
    let (unused, items) = outcome("pkg/unused.py").expect("pkg/unused.py runs");
    assert_eq!(unused, "failed", "{items}");
    assert!(items.contains("\"pkg/unused.py::ruff\" \"failed\""), "{items}");
    for clean in ["setup.py", "pkg/sub/helpers.py", "pkg/__init__.py", "tests/test_ok.py"] {
        let (outcome, items) = outcome(clean).unwrap_or_else(|| panic!("{clean} runs: {}", run.describe()));
        assert_eq!(outcome, "passed", "{clean}: {items}\n{}", run.describe());
        assert!(items.contains("::ruff\" \"passed\""), "{clean}: {items}");
    }
    let helpers = outcome("pkg/sub/helpers.py").unwrap().1;
    assert!(!helpers.contains("test_helper"), "{helpers}");
    assert!(!run.stdout.contains("setup.py was imported"), "{}", run.describe());
}

/// pytest-mypy-plugins' YAML cases run as a test target of their own: the cases' imports
/// (first-party modules) and the conftests above them in the sandbox, mypy found on the
/// environment's PATH as in an activated venv, selectable by path.
#[test]
fn plugin_yaml_cases_run_as_their_own_target() {
    let repo = Repo::new(
        r#"
//- pyproject.toml
[project]
name = "demo"
version = "0.1"
[project.optional-dependencies]
test = ["pytest-mypy-plugins"]
//- src/demo/__init__.py
from demo.core import double

__all__ = ["double"]
//- src/demo/core.py
def double(x: int) -> int:
    return x * 2
//- tests/test_types.yml
- case: double_refuses_a_str
  main: |
    from demo import double
    double("a")  # E: Argument 1 to "double" has incompatible type "str"; expected "int"  [arg-type]
- case: a_wrong_expectation
  main: |
    from demo import double
    double(1)  # E: this error never comes
//- tests/test_plain.py
def test_plain():
    assert True
"#,
    );
    let run = repo.run(&["--format", "json", "test", "tests/test_types.yml"]);
    run.code(1);
    let json = run.json();
    assert_eq!(json["not_run"], json!([]), "{json}");
    let file = &json["files"][0];
    assert_eq!(file["file"], "tests/test_types.yml", "{json}");
    let outcomes: Vec<(String, String)> = file["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("tests/test_types.yml::double_refuses_a_str".to_owned(), "passed".to_owned()),
            ("tests/test_types.yml::a_wrong_expectation".to_owned(), "failed".to_owned()),
        ],
        "{}",
        run.describe()
    );
    let all = repo.run(&["--format", "json", "test", "::"]).json();
    let files: Vec<&str> =
        all["files"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["tests/test_plain.py", "tests/test_types.yml"]);
}

/// `--doctest-modules`: a module with doctests is run for them alone (not for the test
/// functions a plain `pytest` would not collect from it); a doctest text file and a
/// conftest's doctests, which pytest collects too, are reported, not dropped.
#[test]
fn doctest_modules_run_and_doctest_text_files_are_reported() {
    let repo = Repo::new(
        r#"
//- pytest.ini
[pytest]
addopts = --doctest-modules
//- pkg/__init__.py
//- pkg/mathx.py
def double(x):
    """
    >>> double(2)
    4
    """
    return x * 2


def test_helper_that_pytest_never_collects_here():
    assert False
//- pkg/plain.py
X = 1
//- test_ok.py
def test_ok():
    assert True
//- conftest.py
def shared():
    """
    >>> shared()
    1
    """
    return 1
//- docs/test_guide.txt
>>> 1 + 1
2
"#,
    );
    let kinds = kinds(&repo);
    assert_eq!(
        (kind_of(&kinds, "pkg/mathx.py"), kind_of(&kinds, "pkg/plain.py")),
        ("test".into(), "source".into())
    );
    let run = repo.run(&["--format", "json", "test", "::"]);
    run.ok();
    let json = run.json();
    assert_eq!(tested_files(&run), ["pkg/mathx.py", "test_ok.py"], "{}", run.describe());
    let names: Vec<&str> =
        json["files"][0]["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    // One doctest (its dotted name depends on the package's empty `__init__.py`, which
    // the sandbox leaves out); the test function in the module is not collected.
    assert!(
        names.len() == 1 && names[0].starts_with("pkg/mathx.py::") && names[0].ends_with("mathx.double"),
        "{names:?}"
    );
    assert_eq!(
        json["not_run"],
        json!([
            {"file": "conftest.py", "collector": "pytest's doctest plugin, --doctest-modules"},
            {"file": "docs/test_guide.txt", "collector": "pytest's doctest plugin, --doctest-glob test*.txt"},
        ])
    );
    let run = repo.run(&["test", "::"]);
    run.ok();
    assert!(
        run.stdout.contains(
            "- not run by Pleat: docs/test_guide.txt (collected by pytest's doctest plugin, --doctest-glob test*.txt)"
        ) && run.stdout.contains("; 2 not run by Pleat"),
        "{}",
        run.describe()
    );
}

// ---- fmt ----

#[test]
fn fmt_check_then_write() {
    let repo = Repo::new("//- ugly.py\nx=1\n//- fine.py\ny = 2\n");
    let run = repo.run(&["fmt", "--check", "::"]);
    run.code(1);
    assert!(run.stdout.contains("would reformat ugly.py"), "{}", run.describe());
    assert_eq!(std::fs::read_to_string(repo.path("ugly.py")).unwrap(), "x=1\n");
    let run = repo.run(&["fmt", "::"]);
    run.ok();
    assert!(run.stdout.contains("reformatted ugly.py"), "{}", run.describe());
    assert_eq!(std::fs::read_to_string(repo.path("ugly.py")).unwrap(), "x = 1\n");
    let run = repo.run(&["--format", "json", "fmt", "--check", "::"]);
    run.ok();
    let json = run.json();
    // fine.py's check is the first run's; ugly.py is new text.
    assert_eq!(json["summary"]["sources"], json!({"local-cache": 1, "local": 1}), "{json}");
    let ugly = json["files"].as_array().unwrap().iter().find(|f| f["file"] == "ugly.py").unwrap();
    assert_eq!(ugly["source"], "local", "{json}");
}

// ---- check ----

#[test]
fn check_runs_mypy_and_exits_1_on_errors() {
    let repo = Repo::new(
        "//- pkg/__init__.py\n//- pkg/util.py\ndef twice(x: int) -> int:\n    return x * 2\n//- pkg/main.py\nfrom pkg.util import twice\n\n\ndef run() -> str:\n    return twice(2)\n",
    );
    let run = repo.run(&["check", "pkg/main.py"]);
    run.code(1);
    assert!(
        run.stdout.contains("pkg/main.py:5:12: error: Incompatible return value type"),
        "{}",
        run.describe()
    );
    assert!(run.stdout.contains("[return-value]"), "{}", run.describe());
    repo.write("pkg/main.py", "from pkg.util import twice\n\n\ndef run() -> int:\n    return twice(2)\n");
    let run = repo.run(&["--format", "json", "check", "pkg/main.py"]);
    run.ok();
    assert_eq!(run.json()["errors"], 0);
    repo.write("pkg/main.py", "from pkg.util import twice\n\n\ndef run() -> str:\n    return twice(2)\n");
    let run = repo.run(&["check", "--tool", "pyright", "pkg/main.py"]);
    run.code(1);
    assert!(
        run.stdout.contains("pkg/main.py:5:12: error:") && run.stdout.contains("[reportReturnType]"),
        "{}",
        run.describe()
    );
}

/// The tool environments and the store the `check` tests below share (mypy's environment is
/// built once, under a lock). Their assertions hold whether a result is cached or not.
fn shared_tools() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-check-cache")
}

impl Repo {
    /// `run` with the shared tool cache.
    fn run_shared(&self, args: &[&str]) -> Run {
        Run::of(self.command_with(&shared_tools(), args))
    }
}

/// mypy leaves out the column it does not know (an unused `type: ignore`): still an error,
/// printed as mypy prints it, exit 1. Notes come right after their error.
#[test]
fn check_reports_mypy_errors_without_a_column_and_notes_with_their_error() {
    let repo = Repo::new(
        "//- pyproject.toml\n[tool.mypy]\nwarn_unused_ignores = true\n//- a.py\nX: int = 1  # type: ignore\n//- b.py\nimport nosuchmodule\n",
    );
    let run = repo.run_shared(&["check", "a.py"]);
    run.code(1);
    assert!(
        run.lines().contains(&"a.py:1: error: Unused \"type: ignore\" comment  [unused-ignore]"),
        "{}",
        run.describe()
    );
    assert!(run.stdout.contains("✕ mypy over 1 files: 1 errors"), "{}", run.describe());
    let run = repo.run_shared(&["check", "b.py"]);
    run.code(1);
    let lines = run.lines();
    let at = lines
        .iter()
        .position(|l| l.starts_with("b.py:1:1: error: Cannot find implementation or library stub"));
    assert!(
        at.is_some_and(|at| lines[at + 1].starts_with("b.py:1:1: note: See https://mypy.readthedocs.io/")),
        "{}",
        run.describe()
    );
    let json = repo.run_shared(&["--format", "json", "check", "b.py"]).json();
    assert_eq!(json["errors"], 1, "{json}");
    assert!(json["findings"][0]["notes"][0].as_str().unwrap().starts_with("See https://"), "{json}");
}

/// A mypy that fails without a finding (here a project plugin that gives up) is an error
/// with mypy's words, never a clean result.
#[test]
fn a_mypy_failure_without_a_finding_is_an_error_not_a_pass() {
    let repo = Repo::new(
        "//- mypy.ini\n[mypy]\nplugins = tools.mypy_plugin\n//- tools/__init__.py\n//- tools/mypy_plugin.py\nimport sys\n\n\ndef plugin(version):\n    print(f\"tools.mypy_plugin supports mypy 1 only, not {version}\")\n    sys.exit(1)\n//- pkg/__init__.py\n//- pkg/a.py\nX: int = 1\n",
    );
    let run = repo.run_shared(&["check", "pkg/a.py"]);
    run.code(3);
    assert!(!run.stdout.contains('✓'), "{}", run.describe());
    assert!(
        run.stderr.contains("mypy failed (exit code 1)") && run.stderr.contains("supports mypy 1 only"),
        "{}",
        run.describe()
    );
}

/// A `.py` with its `.pyi` beside it is passed once, as the stub (mypy takes the stub when
/// it walks a folder, and stops with "Duplicate module" when given both).
#[test]
fn check_passes_a_py_and_its_pyi_once() {
    let repo = Repo::new(
        "//- pkg/__init__.py\n//- pkg/m.py\ndef f(x):\n    return x\n//- pkg/m.pyi\ndef f(x: int) -> Missing: ...\n//- pkg/use.py\nfrom pkg.m import f\n\nY: str = f(1)\n",
    );
    let run = repo.run_shared(&["check", "pkg::"]);
    run.code(1);
    assert!(
        !run.stdout.contains("Duplicate module") && !run.stderr.contains("Duplicate module"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("pkg/m.pyi:1:18: error: Name \"Missing\" is not defined  [name-defined]"),
        "{}",
        run.describe()
    );
    assert!(run.stdout.contains("✕ mypy over 3 files: 1 errors"), "{}", run.describe());
}

/// What mypy says about its configuration is shown, on cached runs too.
#[test]
fn check_shows_mypy_configuration_warnings() {
    let repo = Repo::new("//- pyproject.toml\n[tool.mypy]\npython_version = \"3.8\"\n//- a.py\nX: int = 1\n");
    let warning = "pleat: mypy: pyproject.toml: [mypy]: python_version: Python 3.8 is not supported";
    for _ in 0..2 {
        let run = repo.run_shared(&["check", "a.py"]);
        run.ok();
        assert!(run.stderr.contains(warning), "{}", run.describe());
    }
    let json = repo.run_shared(&["--format", "json", "check", "a.py"]).json();
    assert_eq!(json["cached"], true, "{json}");
    assert!(json["warnings"][0].as_str().unwrap().contains("python_version"), "{json}");
}

/// Without specs, `pleat check` checks what mypy's `files` names, as a bare `mypy` does;
/// `--force` runs again and leaves no cached result behind.
#[test]
fn check_without_specs_follows_mypy_files_and_force_reruns() {
    let repo = Repo::new(
        "//- pyproject.toml\n[tool.mypy]\nfiles = [\"src\"]\n//- src/app/__init__.py\n//- src/app/core.py\nX: int = 1\n//- tests/test_core.py\nY: int = \"no\"\n",
    );
    let run = repo.run_shared(&["check"]);
    run.ok();
    assert!(run.stdout.contains("✓ mypy over 2 files: 0 errors"), "{}", run.describe());
    assert!(
        run.stderr.contains("the files mypy's configuration in pyproject.toml names"),
        "{}",
        run.describe()
    );
    repo.run_shared(&["check", "::"]).code(1);
    repo.run_shared(&["check", "tests/test_core.py"]).code(1);
    let json = repo.run_shared(&["--format", "json", "check"]).json();
    assert_eq!((&json["cached"], &json["sources"]), (&json!(true), &json!({"local-cache": 1})), "{json}");
    for _ in 0..2 {
        let json = repo.run_shared(&["--format", "json", "check", "--force"]).json();
        assert_eq!((json["cached"].clone(), json["errors"].clone()), (json!(false), json!(0)), "{json}");
        assert_eq!(json["sources"], json!({"local": 1}), "{json}");
    }
    repo.write("pyproject.toml", "[tool.mypy]\nfiles = [\"src\", \"lib\"]\n");
    let line = repo.run_shared(&["check"]).usage_error().to_owned();
    assert!(line.contains("pyproject.toml") && line.contains("`lib`"), "{line}");
}

// ---- configuration of the goals ----

/// `sandbox = "bwrap"` confines the tests: a test writing outside its sandbox fails
/// there and passes in the plain sandbox.
#[test]
fn the_bwrap_sandbox_is_chosen_in_the_configuration() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("escaped.txt");
    let fixture = "//- test_escape.py\nimport os\n\n\ndef test_write_outside():\n    open(os.environ['TARGET'], 'w').write('x')\n//- pyproject.toml\n[tool.pleat]\nsandbox = \"bwrap\"\n";
    let repo = Repo::new(fixture);
    let env = format!("TARGET={}", target.display());
    let run = repo.run(&["test", "--extra-env", &env, "::"]);
    run.code(1);
    assert!(!target.exists(), "the test wrote outside its sandbox under bwrap");
    repo.write("pyproject.toml", "[tool.pleat]\nsandbox = \"plain\"\n");
    repo.run(&["test", "--extra-env", &env, "::"]).ok();
    assert!(target.exists(), "the plain sandbox does not prevent it (documented)");
}

#[test]
fn a_missing_tool_override_names_the_file() {
    let repo = Repo::new(
        "//- a.py\nX = 1\n//- pyproject.toml\n[tool.pleat.tools.ruff]\nrequirements = \"locks/ruff.txt\"\n",
    );
    let line = repo.run(&["lint", "::"]).usage_error().to_owned();
    assert!(line.contains("locks/ruff.txt") && line.contains("[tool.pleat.tools.ruff]"), "{line}");
}

/// A test that deletes everything it can see deletes its sandbox, not the workspace; and
/// a store over its size cap is brought back under it after the goal, but for what runs
/// hold leases on (everything a run writes or reads, for 70 minutes).
#[test]
fn a_destructive_test_only_touches_its_sandbox_and_the_cap_holds() {
    let repo = Repo::new(
        "//- test_destroy.py\nimport os\nimport shutil\n\n\ndef test_destroy():\n    for name in [n for n in os.listdir('.') if not n.startswith('.')]:\n        shutil.rmtree(name, ignore_errors=True) if os.path.isdir(name) else os.remove(name)\n//- keep.py\nX = 1\n//- pyproject.toml\n[tool.pleat]\ncache_max_size = \"1KiB\"\n",
    );
    let run = repo.run(&["test", "::"]);
    run.ok();
    assert!(repo.path("keep.py").is_file() && repo.path("test_destroy.py").is_file());
    // What is left over the cap is only what the run that just ended leased.
    let stats = repo.run(&["--format", "json", "cache", "stats"]).json();
    assert!(stats["bytes"].as_u64().unwrap() > 1024, "{stats}");
    let gc = repo.run(&["--format", "json", "cache", "gc", "--max-size", "1KiB"]).json();
    assert_eq!(gc["removed"], 0, "{gc} {stats}");
    assert_eq!(gc["kept_leased"], stats["blobs"], "{gc} {stats}");
}

/// Two `pleat check` runs at once share mypy's named cache (and the store); both answer
/// right, and a later run of each still does.
#[test]
fn concurrent_checks_share_the_mypy_cache_safely() {
    let repo = Repo::new(
        "//- pkg/__init__.py\n//- pkg/util.py\ndef twice(x: int) -> int:\n    return x * 2\n//- pkg/bad.py\nfrom pkg.util import twice\n\n\ndef run() -> str:\n    return twice(2)\n//- pkg/good.py\nfrom pkg.util import twice\n\n\ndef run() -> int:\n    return twice(2)\n",
    );
    repo.run(&["check", "pkg/good.py"]).ok(); // builds the mypy environment once
    repo.write("pkg/util.py", "def twice(x: int) -> int:\n    return x + x\n");
    let bad = repo
        .command(&["--format", "json", "check", "pkg/bad.py"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let good = repo
        .command(&["--format", "json", "check", "pkg/good.py"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bad = bad.wait_with_output().unwrap();
    let good = good.wait_with_output().unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stdout));
    assert_eq!(good.status.code(), Some(0), "{}", String::from_utf8_lossy(&good.stdout));
    let bad: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(bad["findings"][0]["code"], "return-value");
    repo.run(&["check", "pkg/good.py"]).ok();
}

/// A repository's own `logging.py` does not stand in for the standard library's while
/// the tool environments are built (`python -m venv` and pip import `logging`).
#[test]
fn a_module_named_like_the_standard_librarys_does_not_break_building_tools() {
    let repo = Repo::new("//- logging.py\nX = 1\n//- a.py\nimport os\n");
    let run = repo.run(&["lint", "::"]);
    run.code(1);
    assert!(run.stdout.contains("a.py:1:8: F401"), "{}", run.describe());
}

/// Bad input to the goals: a non-UTF-8 Python file and a requirement that is on no index.
#[test]
fn goals_meet_bad_input_with_clear_messages() {
    let repo = Repo::new("//- ok.py\nX = 1\n//- test_ok.py\ndef test_ok():\n    assert True\n");
    repo.write("latin.py", b"x = '\xe9'\n");
    let run = repo.run(&["lint", "::"]);
    assert!(run.code.is_some_and(|c| c <= 1), "{}", run.describe());
    assert!(run.stdout.contains("latin.py"), "the non-UTF-8 file is reported: {}", run.describe());
    repo.write("requirements.txt", "no-such-distribution-pleat-test==1.0\n");
    let run = repo.run(&["test", "::"]);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stderr.contains("no-such-distribution-pleat-test==1.0")
            && run.stderr.contains("declared in requirements.txt) do not resolve")
            && run.stderr.contains("fix or remove the requirement uv names"),
        "{}",
        run.describe()
    );
}

// ---- no process outlives its run; no sandbox left behind ----

/// Processes (not zombies, whose command line is empty) whose command line holds `marker`,
/// other than `pleat` itself and its watchdog.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a == PLEAT) || !args.iter().any(|a| a.contains(marker)) {
            continue;
        }
        found.push(format!("{} {}", entry.file_name().to_string_lossy(), args.join(" ")));
    }
    found
}

/// Polls `check` every 20 ms until it holds or `limit` passes; whether it held.
fn poll(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A test module that starts three processes whose command lines hold `marker` — a plain
/// child, a `setsid` child and a double-forked daemon that leaves its folder — and then
/// either returns or waits `wait` seconds.
fn spawning_test(marker: &str, wait: u32) -> String {
    format!(
        r#"import os
import subprocess
import time


def test_spawns():
    subprocess.Popen(["sleep", "{marker}"])
    subprocess.Popen(["setsid", "sleep", "{marker}"])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.chdir("/")
            os.execvp("sleep", ["sleep", "{marker}"])
        os._exit(0)
    time.sleep(0.3)
    time.sleep({wait})
"#
    )
}

fn sandboxes(repo: &Repo) -> Vec<String> {
    std::fs::read_dir(repo.cache().join("sandboxes"))
        .map(|list| list.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// A test that starts a `setsid` child and a double-forked daemon leaves neither running
/// when its run ends normally; sandboxes a killed run left behind are removed by the next
/// run, kept ones (`__run.sh` inside) stay.
#[test]
fn a_test_run_leaves_no_daemon_and_removes_abandoned_sandboxes() {
    let marker = format!("3001.{}", std::process::id());
    let repo = Repo::new(&format!("//- tests/test_daemon.py\n{}", spawning_test(&marker, 0)));
    // An abandoned sandbox (its owner lock is free), an old one from before owner locks,
    // and a kept one.
    let base = repo.cache().join("sandboxes");
    for name in ["pleat-sandbox-abandoned", "pleat-sandbox-old", "pleat-sandbox-kept"] {
        std::fs::create_dir_all(base.join(name).join("root")).unwrap();
    }
    std::fs::write(base.join("pleat-sandbox-abandoned/owner.lock"), "").unwrap();
    set_mtime(&base.join("pleat-sandbox-abandoned/owner.lock"), SystemTime::now() - Duration::from_secs(5));
    std::fs::write(base.join("pleat-sandbox-kept/__run.sh"), "#!/bin/sh\n").unwrap();
    let old = File::open(base.join("pleat-sandbox-old")).unwrap();
    old.set_modified(SystemTime::now() - Duration::from_hours(1)).unwrap();

    let run = repo.run(&["test", "::"]);
    run.ok();
    assert!(run.stdout.contains("✓ tests/test_daemon.py"), "{}", run.describe());
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes the test started outlived the run: {left:?}");
    assert_eq!(sandboxes(&repo), ["pleat-sandbox-kept"], "only the kept sandbox stays");
}

/// SIGINT, SIGTERM, SIGHUP or SIGKILL to `pleat test` while a test runs kills every process
/// of that run (the test's children, a `setsid` one and a double-forked daemon included) and
/// leaves no sandbox; Pleat ends by the signal it got (a shell shows 128 + its number).
#[test]
fn killing_pleat_leaves_no_process_of_its_run() {
    let repo = Repo::new("//- tests/test_ok.py\ndef test_ok():\n    assert True\n");
    repo.run(&["test", "::"]).ok(); // builds the environment once
    for (i, (signal, number)) in [("INT", 2), ("TERM", 15), ("HUP", 1), ("KILL", 9)].into_iter().enumerate() {
        let marker = format!("{}.{}", 3100 + i, std::process::id());
        repo.write("tests/test_hang.py", spawning_test(&marker, 60));
        let mut pleat = repo
            .command(&["test", "tests/test_hang.py"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = poll(Duration::from_mins(1), || processes_with(&marker).len() >= 3);
        assert!(started, "the test did not start its processes: {:?}", processes_with(&marker));
        send(pleat.id(), signal);
        let status = pleat.wait().unwrap();
        assert_eq!(status.signal(), Some(number), "SIG{signal}: pleat ends by the signal ({status:?})");
        let gone = poll(Duration::from_secs(3), || processes_with(&marker).is_empty());
        assert!(gone, "after SIG{signal} these outlived pleat: {:?}", processes_with(&marker));
        let clean = poll(Duration::from_secs(3), || sandboxes(&repo).is_empty());
        assert!(clean, "after SIG{signal} sandboxes are left: {:?}", sandboxes(&repo));
    }
}

/// A signal to `pleat` while it builds a tool environment (venv, pip) leaves no installer
/// running.
#[test]
fn killing_pleat_while_it_builds_an_environment_leaves_no_installer() {
    for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1), ("KILL", 9)] {
        let repo = Repo::new("//- tests/test_ok.py\ndef test_ok():\n    assert True\n");
        let marker = repo.cache().to_string_lossy().into_owned();
        let mut pleat =
            repo.command(&["test", "::"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let building = poll(Duration::from_mins(1), || !processes_with(&marker).is_empty());
        assert!(building, "no environment build started");
        send(pleat.id(), signal);
        let status = pleat.wait().unwrap();
        assert_eq!(status.signal(), Some(number), "SIG{signal}: pleat ends by the signal ({status:?})");
        let gone = poll(Duration::from_secs(3), || processes_with(&marker).is_empty());
        assert!(gone, "after SIG{signal} these outlived pleat: {:?}", processes_with(&marker));
    }
}

/// Issue 10, item 9: control characters from a file name, an import string or a spec
/// reached the terminal raw (ESC sequences recolour, clear the screen, retitle the window).
/// Human output escapes them, on stdout and stderr; JSON keeps them exactly.
#[test]
fn control_characters_from_files_are_escaped_in_human_output_and_exact_in_json() {
    let repo = Repo::new("//- pleat.toml\n");
    repo.write("a.py", "import evil\x1b[31mred\nimport nowhere\x07\n");
    repo.write("b\x1b[2Jclear.py", "import os\n");
    let raw = |text: &str| text.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    for args in [&["check-imports"][..], &["list"], &["graph", "--format", "dot"]] {
        let run = repo.run(args);
        assert!(!raw(&run.stdout) && !raw(&run.stderr), "{}", run.describe().escape_debug());
    }
    let run = repo.run(&["check-imports"]);
    assert!(run.stdout.contains(r"evil\u{1b}[31mred"), "{}", run.describe().escape_debug());
    let run = repo.run(&["list"]);
    assert!(run.stdout.contains(r"b\u{1b}[2Jclear.py"), "{}", run.describe().escape_debug());
    let run = repo.run(&["list", "x\x1b]0;title\x07.py"]);
    assert!(!raw(&run.stderr), "{}", run.describe().escape_debug());
    assert!(run.usage_error().contains(r"x\u{1b}]0;title\u{7}.py"), "{}", run.describe().escape_debug());

    let json = repo.run(&["--format", "json", "list"]).json();
    assert!(json.as_array().unwrap().iter().any(|t| t["path"] == "b\x1b[2Jclear.py"), "{json}");
    let json = repo.run(&["--format", "json", "check-imports"]).json();
    let messages: Vec<&str> =
        json["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert!(messages.iter().any(|m| m.contains("evil\x1b[31mred")), "{messages:?}");
}

/// Issue 10, item 8: source roots that do not exist, climb out of the repository or are
/// absolute were taken without a word (an absolute one even lost its `/`). Each is a
/// configuration error at the entry's line; a glob that matches nothing is a warning there.
#[test]
fn bad_source_roots_are_errors_at_their_line_and_an_empty_glob_is_a_warning() {
    let repo = Repo::new("//- src/pkg/__init__.py\n//- pkg_test.py\nimport pkg\n");
    let with_root = |entry: &str| {
        format!("[project]\nname = \"x\"\n\n[tool.pleat]\nsource_roots = [\n  \"src\",\n  {entry},\n]\n")
    };
    for (entry, says) in [
        ("\"srcx\"", "is not a folder under"),
        ("\"/etc\"", "is an absolute path; write the folder relative to the repository root"),
        ("\"~/code\"", "is an absolute path"),
        ("\"../..\"", "leaves the repository"),
        ("\"src/../../elsewhere\"", "leaves the repository"),
    ] {
        repo.write("pyproject.toml", with_root(entry));
        let run = repo.run(&["list"]);
        let line = run.usage_error();
        assert!(line.contains(&format!("{}/pyproject.toml:7:3:", repo.root().display())), "{entry}: {line}");
        assert!(line.contains(says), "{entry}: {line}");
    }
    repo.write("pleat.toml", "source_roots = [\"src\", \"nowhere\"]\n");
    let line = repo.run(&["list"]).usage_error().to_owned();
    assert!(line.contains("pleat.toml:1:") && line.contains("\"nowhere\" is not a folder"), "{line}");

    std::fs::remove_file(repo.path("pleat.toml")).unwrap();
    repo.write("pyproject.toml", with_root("\"libs/*\""));
    let run = repo.run(&["list"]);
    run.ok();
    assert!(
        run.stderr.contains(
            "pyproject.toml:7:3: source root pattern \"libs/*\" matches no folder holding Python files"
        ),
        "{}",
        run.describe()
    );
    repo.write("pyproject.toml", with_root("\"./src/\""));
    let run = repo.run(&["list"]);
    run.ok();
    assert!(run.stderr.is_empty(), "{}", run.describe());
}

/// A command that runs as a user who cannot read what `chmod 000` closes: this user when
/// it is not root, else nobody through `setpriv` (root reads everything, so a test that
/// only chmods would pass without testing anything).
fn unprivileged(program: &str) -> Command {
    let uid = Command::new("id").arg("-u").output().expect("id runs");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Command::new(program);
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups", program]);
    command
}

/// Issue 10, item 8: an unreadable test file was skipped without a word and `pleat test`
/// exited 0; naming it said "matches no Python file"; an unreadable folder was skipped
/// silently. Now each is a warning naming the path and the OS error, the test file is a
/// failure of `pleat test` (exit 1), and naming it says it cannot be read.
#[test]
fn unreadable_files_and_folders_are_reported_and_an_unreadable_test_fails() {
    use std::os::unix::fs::PermissionsExt as _;
    let repo = Repo::new(
        "//- pleat.toml\n//- pkg/__init__.py\nX = 1\n//- tests/test_locked.py\ndef test_a():\n    assert True\n//- secret/mod.py\nY = 2\n",
    );
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // The unprivileged user must reach the repository and write its cache.
    mode(repo.dir.path(), 0o755);
    std::fs::create_dir_all(repo.cache()).unwrap();
    mode(&repo.cache(), 0o777);
    mode(&repo.path("tests/test_locked.py"), 0o000);
    mode(&repo.path("secret"), 0o000);
    let probe = unprivileged("cat").arg(repo.path("tests/test_locked.py")).output().expect("cat runs");
    assert!(
        !probe.status.success(),
        "the test cannot make a file unreadable here (running as root without setpriv?), so it would test nothing"
    );
    let run = |args: &[&str]| {
        let mut command = unprivileged(PLEAT);
        command
            .current_dir(repo.root())
            .args(["--cache-dir"])
            .arg(repo.cache())
            .env("PLEAT_CACHE_DIR", repo.cache())
            .env("HOME", repo.cache())
            .env_remove("XDG_CACHE_HOME")
            .arg("--root")
            .arg(repo.root())
            .args(args);
        Run::of(command)
    };
    let denied = "Permission denied (os error 13)";
    let listed = run(&["list"]);
    listed.ok();
    assert!(
        listed.stderr.contains(&format!("warning: cannot read tests/test_locked.py: {denied}"))
            && listed.stderr.contains(&format!("warning: cannot read the folder secret/: {denied}"))
            && listed.stderr.contains("Give your user read access to it (chmod), or add it to exclude"),
        "{}",
        listed.describe()
    );
    let named = run(&["list", "tests/test_locked.py"]);
    let line = named.stderr.lines().last().unwrap_or("");
    named.code(2);
    assert!(
        line.contains("cannot read tests/test_locked.py") && !line.contains("matches no Python file"),
        "{}",
        named.describe()
    );
    let named = run(&["list", "secret/mod.py"]);
    named.code(2);
    assert!(named.stderr.contains("`secret/mod.py`: cannot read the folder secret/"), "{}", named.describe());

    let tested = run(&["test", "::"]);
    tested.code(1);
    assert!(
        tested.stdout.contains(&format!("✕ cannot read tests/test_locked.py: {denied}")),
        "{}",
        tested.describe()
    );
    assert!(tested.stdout.contains("0 passed, 1 failed"), "{}", tested.describe());
    let json = run(&["--format", "json", "test", "tests/test_locked.py"]);
    json.code(1);
    let json = json.json();
    assert_eq!(json["unreadable"], json!([{"file": "tests/test_locked.py", "error": denied}]), "{json}");
    assert_eq!(json["summary"]["failed"], 1, "{json}");
    // Readable again, so the temporary folder can be removed.
    mode(&repo.path("tests/test_locked.py"), 0o644);
    mode(&repo.path("secret"), 0o755);
}

// ---- a full disk (issue 10, item 7) ----

/// A small tmpfs mounted for one test and unmounted when dropped. Pleat's tests run as
/// root, as CI does; a machine where it cannot be mounted fails the test, never skips it.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            output.status.success(),
            "the full-disk tests mount a {size} tmpfs and need root (CI runs them as root): mount said {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Grows (or shrinks) the filesystem in place.
    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "cannot remount {} with size={size}", self.path().display());
    }

    /// Bytes free, as `stat -f` reports them.
    fn free(&self) -> u64 {
        let output = Command::new("stat").args(["-f", "-c", "%a %S"]).arg(self.path()).output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (blocks, size) = text.trim().split_once(' ').unwrap();
        blocks.parse::<u64>().unwrap() * size.parse::<u64>().unwrap()
    }

    /// Writes `name` until only `leave` bytes are free (all of it, for 0).
    fn fill_leaving(&self, name: &str, leave: u64) {
        use std::io::Write as _;
        let mut file = File::create(self.path().join(name)).unwrap();
        let mut left = self.free().saturating_sub(leave);
        let chunk = vec![0u8; 64 * 1024];
        while left > 0 {
            let n = chunk.len().min(usize::try_from(left).unwrap());
            match file.write(&chunk[..n]) {
                Ok(0) | Err(_) => break, // full
                Ok(written) => left -= written as u64,
            }
        }
        let _ = file.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, so a process still holding a file there cannot keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// The tool environments the full-disk tests share, built once on the ordinary disk:
/// their caches link `tools` here, so that a small disk holds only what the test fills.
fn full_disk_tools() -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-full-disk-tools");
    let repo = Repo::new("//- tests/test_seed.py\ndef test_seed():\n    assert True\n");
    Run::of(repo.command_with(&cache, &["test", "::"])).ok();
    cache.join("tools")
}

/// A cache folder on `disk` whose tool environments are the shared ones.
fn cache_on(disk: &Tmpfs) -> PathBuf {
    let cache = disk.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::os::unix::fs::symlink(full_disk_tools(), cache.join("tools")).unwrap();
    cache
}

/// `command` run on one core: one test process at a time, so which writes fill the disk
/// does not depend on the machine.
fn on_one_core(command: &Command) -> Command {
    let mut pinned = Command::new("taskset");
    pinned.args(["-c", "0"]).arg(command.get_program()).args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => pinned.env(name, value),
            None => pinned.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        pinned.current_dir(dir);
    }
    pinned
}

/// Issue 10, item 7: on a 20 MB cache folder the pytest environment's build filled the disk
/// and Pleat blamed "access to PyPI", leaving the half-built environment to fill it. Now the
/// message names the full disk, the folder, what the build had taken and what to do; the
/// half-built environment is gone; with room, the same cache works.
#[test]
fn a_full_disk_while_building_an_environment_is_named_and_nothing_half_built_stays() {
    let disk = Tmpfs::mount("4m");
    let cache = disk.path().join("cache");
    let repo = Repo::new(
        "//- tests/test_a.py\ndef test_a():\n    assert True\n//- tests/test_b.py\ndef test_b():\n    assert 1 + 1 == 2\n",
    );
    let run = Run::of(repo.command_with(&cache, &["test", "::"]));
    run.code(3);
    let tools = cache.join("tools");
    let said = run.stderr.lines().last().unwrap_or_default();
    assert!(
        said.contains(&format!(
            "no space left on device in {} while building the pytest environment",
            tools.display()
        )) && said.contains("was removed")
            && said.contains("pleat cache gc --max-size")
            && said.contains("--cache-dir"),
        "{}",
        run.describe()
    );
    assert!(!run.stderr.contains("PyPI"), "{}", run.describe());
    let left: Vec<String> = std::fs::read_dir(&tools)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "the half-built environment stayed: {left:?}");
    assert!(disk.free() > 3 << 20, "the disk was left full: {} bytes free", disk.free());

    disk.resize("200m");
    let run = Run::of(repo.command_with(&cache, &["test", "::"]));
    run.ok();
    assert!(run.stdout.contains("2 passed, 0 failed"), "{}", run.describe());
}

/// A test file whose process prints `bytes` of its own at exit (a large blob in the store).
fn loud_test(name: &str, bytes: usize) -> String {
    format!(
        "import atexit, os\n\n\ndef _loud():\n    try:\n        os.write(1, b\"{name} \" * {})\n    except OSError:\n        pass\n\n\natexit.register(_loud)\n\n\ndef test_{name}():\n    assert True\n",
        bytes / (name.len() + 1)
    )
}

/// Issue 10, item 7: a store that fills while tests run said "unusable; remove the folder",
/// exited 3 and printed none of the results that had finished. Now every file's result is
/// printed, the exit code is the tests' own, one warning names the full disk, the folder
/// and says the results were not cached; nothing half-written stays; `pleat cache gc`
/// frees space on the full disk; and once there is room, the next run works, reruns what
/// was not cached, and the store verifies.
#[test]
fn a_full_store_prints_every_finished_result_and_stays_whole() {
    let disk = Tmpfs::mount("24m");
    let cache = cache_on(&disk);
    let fixture = (1..=10).fold(String::new(), |mut fixture, i| {
        use std::fmt::Write as _;
        let _ = write!(fixture, "//- tests/test_loud{i}.py\n{}", loud_test(&format!("loud{i}"), 640 * 1024));
        fixture
    });
    let repo = Repo::new(&fixture);
    // Room for the inputs, the sandboxes and a few of the 640 KiB outputs, not for ten.
    disk.fill_leaving("filler", 2800 * 1024);
    let run = Run::of(on_one_core(&repo.command_with(&cache, &["test", "::"])));
    run.ok();
    for i in 1..=10 {
        assert!(run.stdout.contains(&format!("✓ tests/test_loud{i}.py")), "{}", run.describe());
    }
    assert!(run.stdout.contains("10 passed, 0 failed"), "{}", run.describe());
    let store = cache.join("store-v1");
    assert!(
        run.stderr.contains(&format!(
            "warning: no space left on device in {} while writing to the store",
            store.display()
        )) && run.stderr.contains("not cached")
            && run.stderr.contains("pleat cache gc --max-size"),
        "{}",
        run.describe()
    );
    assert!(!run.stderr.contains("PyPI") && !run.stderr.contains("unusable"), "{}", run.describe());
    let half_written: Vec<_> = std::fs::read_dir(store.join("tmp")).unwrap().collect();
    assert!(half_written.is_empty(), "temporary files left in the store: {half_written:?}");

    // The remedy the message gives works on a disk with no byte free: LMDB needs room
    // even to delete, so eviction removes the large files first.
    disk.fill_leaving("filler2", 0);
    Run::of(repo.command_with(&cache, &["cache", "gc", "--max-size", "1MiB"])).ok();
    assert!(disk.free() >= 1 << 20, "gc freed nothing on a full disk: {} bytes free", disk.free());

    std::fs::remove_file(disk.path().join("filler")).unwrap();
    std::fs::remove_file(disk.path().join("filler2")).unwrap();
    let run = Run::of(repo.command_with(&cache, &["--format", "json", "test", "::"]));
    run.ok();
    let json = run.json();
    assert_eq!(json["summary"]["passed"], 10, "{json}");
    let ran = json["summary"]["ran"].as_u64().unwrap();
    assert!(ran >= 1, "what could not be cached runs again: {json}");
    assert!(!run.stderr.contains("warning"), "{}", run.describe());
    Run::of(repo.command_with(&cache, &["cache", "verify"])).ok();
    let run = Run::of(repo.command_with(&cache, &["test", "::"]));
    run.ok();
    assert!(run.stdout.contains("10 passed, 0 failed (10 cached, 0 ran)"), "{}", run.describe());
}

/// Issue 10, item 7: a sandbox that cannot be written for lack of space says so, for that
/// file, naming the folder; the run goes on and reports every file.
#[test]
fn a_sandbox_on_a_full_disk_says_so_and_each_file_reports() {
    let disk = Tmpfs::mount("8m");
    let cache = cache_on(&disk);
    let repo = Repo::new(
        "//- tests/test_a.py\ndef test_a():\n    assert True\n//- tests/test_b.py\ndef test_b():\n    assert True\n",
    );
    Run::of(repo.command_with(&cache, &["test", "::"])).ok();
    disk.fill_leaving("filler", 0);
    let run = Run::of(repo.command_with(&cache, &["test", "--force", "::"]));
    run.code(1);
    let sandboxes = cache.join("sandboxes");
    for file in ["tests/test_a.py", "tests/test_b.py"] {
        assert!(run.stdout.contains(&format!("✕ {file} error")), "{}", run.describe());
        assert!(
            run.stdout.contains(&format!(
                "pytest {file} could not run: no space left on device in {} while writing the inputs of its sandbox",
                sandboxes.display()
            )),
            "{}",
            run.describe()
        );
    }
    assert!(
        !run.stdout.contains("cannot prepare the sandbox") && !run.stderr.contains("PyPI"),
        "{}",
        run.describe()
    );
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    let run = Run::of(repo.command_with(&cache, &["test", "--force", "::"]));
    run.ok();
    assert!(run.stdout.contains("2 passed, 0 failed (0 cached, 2 ran)"), "{}", run.describe());
}

/// Issue 10, item 7: a fresh cache folder on a full disk killed every command with SIGBUS
/// (LMDB writes its reader table through a map of a file it had only truncated to size).
/// Now the graph is right with a warning naming the full disk, and `pleat test` says the
/// store cannot be written (exit 3).
#[test]
fn a_fresh_cache_on_a_full_disk_does_not_crash() {
    let disk = Tmpfs::mount("2m");
    disk.fill_leaving("filler", 0);
    let cache = disk.path().join("cache");
    let repo = Repo::new(
        "//- pkg/__init__.py\n//- pkg/a.py\nimport pkg.b\n//- pkg/b.py\n//- tests/test_a.py\nimport pkg.a\n",
    );
    let expected = repo.run(&["--no-cache", "graph"]);
    expected.ok();
    let run = Run::of(repo.command_with(&cache, &["graph"]));
    run.ok();
    assert_eq!(run.stdout, expected.stdout, "{}", run.describe());
    assert!(
        run.stderr.contains(&format!("no space left on device in {}", cache.join("graph-v1").display())),
        "{}",
        run.describe()
    );
    let run = Run::of(repo.command_with(&cache, &["test", "::"]));
    run.code(3);
    assert!(
        run.stderr.contains(&format!("no space left on device in {}", cache.join("store-v1").display())),
        "{}",
        run.describe()
    );
}

// ---- isolation: secrets, private files, tool environments (issue 10, item 6) ----

/// A test module that reads its parent's environment and walks `/proc` for the value of
/// `PLEAT_TEST_SECRET`, which only `pleat` itself was given; it fails naming what leaked.
const SECRET_PEEK: &str = r#"import os

SECRET = b"pleat-" + b"secret-4e1d9"


def test_no_secret_is_readable():
    leaked = []
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as f:
            if SECRET in f.read():
                leaked.append(f"parent {os.getppid()}")
    except OSError:
        pass
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if SECRET in f.read():
                        leaked.append(pid)
            except OSError:
                pass
    assert leaked == [], f"the secret leaked from {leaked}"
"#;

/// The user's environment (tokens, keys) stays with `pleat`: a test reads neither its
/// parent's `/proc/<ppid>/environ` nor any process's it finds walking `/proc` — in the
/// plain sandbox (Pleat is not dumpable; as root the test lacks the capabilities that
/// would read it anyway) and under bwrap (its own PID namespace).
#[test]
fn a_test_reads_no_secret_from_pleats_environment_in_either_sandbox() {
    for sandbox in ["plain", "bwrap"] {
        let repo = Repo::new(&format!(
            "//- test_peek.py\n{SECRET_PEEK}//- pyproject.toml\n[tool.pleat]\nsandbox = \"{sandbox}\"\n"
        ));
        let mut command = repo.command(&["test", "::"]);
        command.env("PLEAT_TEST_SECRET", "pleat-secret-4e1d9");
        let run = Run::of(command);
        assert_eq!(run.code, Some(0), "{sandbox}: {}", run.describe());
    }
}

/// Under bwrap a test sees nothing private — `/etc/shadow`'s hashes, the user's home
/// (`~/.ssh`), `/home` — and cannot write the installers' download cache, which later
/// environment builds read (only Pleat writes it).
#[test]
fn under_bwrap_private_files_are_hidden_and_the_download_cache_is_not_writable() {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    let repo = Repo::new(
        r#"//- test_private.py
import os


def readable(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def test_nothing_private_is_visible():
    shadow = readable("/etc/shadow")
    assert not shadow or "root:" not in shadow, shadow
    home = os.environ["REAL_HOME"]
    assert not os.path.exists(os.path.join(home, ".ssh")), os.listdir(os.path.join(home, ".ssh"))
    assert not os.path.exists(os.path.join(home, ".bashrc"))
    assert not os.path.exists("/home") or os.listdir("/home") == [], os.listdir("/home")


def test_the_download_cache_is_not_writable():
    target = os.path.join(os.environ["DOWNLOADS"], "planted.whl")
    try:
        with open(target, "w") as f:
            f.write("not a wheel")
    except OSError:
        return
    raise AssertionError(f"wrote {target}")
//- pyproject.toml
[tool.pleat]
sandbox = "bwrap"
"#,
    );
    // A home with a `.ssh` folder and a `.bashrc`, and the real `/home` listing non-empty:
    // what a test must not see. (The fixture's own home, so nothing of the user's is touched.)
    let fake_home = repo.dir.path().join("home");
    std::fs::create_dir_all(fake_home.join(".ssh")).unwrap();
    std::fs::write(fake_home.join(".ssh/id_ed25519"), "PRIVATE KEY").unwrap();
    std::fs::write(fake_home.join(".bashrc"), "export TOKEN=x\n").unwrap();
    let downloads = repo.cache().join("named").join("installer-downloads");
    for real_home in [home.as_str(), fake_home.to_str().unwrap()] {
        let mut command = repo.command(&[
            "test",
            "--extra-env",
            &format!("REAL_HOME={real_home}"),
            "--extra-env",
            &format!("DOWNLOADS={}", downloads.display()),
            "::",
        ]);
        command.env("HOME", real_home);
        let run = Run::of(command);
        assert_eq!(run.code, Some(0), "home {real_home}: {}", run.describe());
    }
    assert!(!downloads.join("planted.whl").exists());
}

/// A test that writes a `.pth` into the shared pytest environment (possible as root in
/// the plain sandbox) poisons no other project and leaves no wrong cached answer: the
/// write is refused (not root: the environment is read-only; bwrap: a read-only mount) or
/// found (its fingerprint changed) — that run is an error, not a result, and the next
/// run rebuilds the environment.
#[test]
fn a_test_writing_into_its_tool_environment_poisons_nothing_and_caches_nothing() {
    let victim = Repo::new(
        "//- test_ok.py\ndef test_ok():\n    pass\n//- pyproject.toml\n[tool.pleat]\nsandbox = \"plain\"\n",
    );
    let cache = victim.cache();
    let attacker_fixture = |sandbox: &str| {
        format!(
            r#"//- test_poison.py
import os
import site


def test_poison():
    folder = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    try:
        with open(os.path.join(folder, "pleat_poison.pth"), "w") as f:
            f.write("import os; os._exit(7)\n")
    except OSError:
        pass
//- pyproject.toml
[tool.pleat]
sandbox = "{sandbox}"
"#
        )
    };
    Run::of(victim.command(&["test", "::"])).ok();
    let site_packages = || pytest_site_packages(&cache);
    for sandbox in ["bwrap", "plain"] {
        let attacker = Repo::new(&attacker_fixture(sandbox));
        let attack = Run::of(attacker.command_with(&cache, &["test", "::"]));
        let planted = site_packages().join("pleat_poison.pth").exists();
        // Root writes through the read-only modes: the case the fingerprint is for.
        assert_eq!(planted, sandbox == "plain" && running_as_root(), "{sandbox}: {}", attack.describe());
        if planted {
            assert_eq!(sandbox, "plain", "bwrap mounts the environment read-only");
            assert!(
                attack.stdout.contains("was changed while it ran") && attack.code == Some(1),
                "{sandbox}: {}",
                attack.describe()
            );
        } else {
            attack.ok();
        }
        // The other project's new test runs in a sound environment (rebuilt when needed).
        let name = format!("test_new_{sandbox}.py");
        victim.write(&name, "def test_new():\n    pass\n");
        let run = Run::of(victim.command(&["test", "::"]));
        assert_eq!(run.code, Some(0), "{sandbox}: {}", run.describe());
        assert_eq!(run.stderr.contains("rebuilding it"), planted, "{}", run.describe());
        assert!(!site_packages().join("pleat_poison.pth").exists());
        // And again, cached: the answer stays right.
        let again = Run::of(victim.command(&["--format", "json", "test", "::"]));
        assert_eq!(again.code, Some(0), "{}", again.describe());
        assert_eq!(
            again.json()["summary"]["cached"],
            again.json()["summary"]["passed"],
            "{}",
            again.describe()
        );
    }
}

/// The site-packages folder of the pytest environment in `cache`.
fn pytest_site_packages(cache: &Path) -> PathBuf {
    let tools = std::fs::read_dir(cache.join("tools")).unwrap();
    let env = tools
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("pytest-"))
        .expect("the pytest environment");
    let lib = std::fs::read_dir(env.join("lib")).unwrap().flatten().next().unwrap().path();
    lib.join("site-packages")
}

/// A tool environment changed between runs (here by its owner, through its read-only
/// modes) costs a cached run nothing — its answers do not depend on it, and it is not
/// walked —, is found before a process starts from it (that file reports the error, saying
/// to run again), and the next run rebuilds it, saying so.
#[test]
fn a_tool_environment_changed_between_runs_is_found_before_a_process_starts_and_rebuilt() {
    use std::os::unix::fs::PermissionsExt as _;
    let repo = Repo::new("//- test_ok.py\ndef test_ok():\n    pass\n");
    repo.run(&["test", "::"]).ok();
    let site = pytest_site_packages(&repo.cache());
    std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(site.join("planted.pth"), "").unwrap();
    let warm = repo.run(&["--format", "json", "test", "::"]);
    warm.ok();
    assert_eq!(warm.json()["summary"]["cached"], 1, "{}", warm.describe());
    assert!(!warm.stderr.contains("rebuilding"), "{}", warm.describe());
    repo.write("test_new.py", "def test_new():\n    pass\n");
    let found = Run::of(repo.command(&["test", "::"]));
    assert_eq!(found.code, Some(1), "{}", found.describe());
    assert!(found.stdout.contains("run again and Pleat rebuilds it"), "{}", found.describe());
    let rebuilt = repo.run(&["--format", "json", "test", "::"]);
    rebuilt.ok();
    assert!(rebuilt.stderr.contains("rebuilding it"), "{}", rebuilt.describe());
    assert_eq!(rebuilt.json()["summary"]["passed"], 2, "{}", rebuilt.describe());
    assert!(!pytest_site_packages(&repo.cache()).join("planted.pth").exists());
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// `sandbox = "auto"` (the default) uses bubblewrap where it runs, else says once why not
/// and runs plain; `sandbox = "bwrap"` that cannot run is an error naming the remedy.
#[test]
fn without_bubblewrap_auto_falls_back_to_plain_saying_why_and_forced_bwrap_is_an_error() {
    let repo = Repo::new("//- test_a.py\ndef test_a():\n    pass\n//- test_b.py\ndef test_b():\n    pass\n");
    let mut command = repo.command(&["test", "::"]);
    command.env("PLEAT_BWRAP", "/nonexistent/bwrap");
    let run = Run::of(command);
    run.ok();
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("plain sandbox")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.describe());
    assert!(
        warnings[0].contains("bubblewrap is not installed")
            && warnings[0].contains("apt-get install bubblewrap"),
        "{}",
        warnings[0]
    );
    // Available: no word about it.
    let run = repo.run(&["test", "--force", "::"]);
    run.ok();
    assert!(!run.stderr.contains("plain sandbox"), "{}", run.describe());
    repo.write("pyproject.toml", "[tool.pleat]\nsandbox = \"bwrap\"\n");
    let mut command = repo.command(&["test", "::"]);
    command.env("PLEAT_BWRAP", "/nonexistent/bwrap");
    let run = Run::of(command);
    let line = run.usage_error();
    assert!(line.contains("sandbox = \"bwrap\"") && line.contains("apt-get install bubblewrap"), "{line}");
}
