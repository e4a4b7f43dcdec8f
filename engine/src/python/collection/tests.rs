//! pytest's collection rules on real folders (testpaths must exist to count, as for pytest), one rule per test; each expectation is what `pytest --collect-only` does with the same layout and configuration.

use std::path::Path;

use super::{Collected, Collection, OtherFile, has_doctest_examples};
use crate::python::pytest_config::{self, PytestConfig};

/// A repository with the given folders and a pytest.ini holding `ini`.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(dirs: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in dirs {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Self { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Collection rules from a `[pytest]` section's body.
    fn rules(&self, ini: &str) -> Collection {
        self.rules_with(ini, None, &[])
    }

    fn rules_with(&self, ini: &str, patterns: Option<&[String]>, requirements: &[String]) -> Collection {
        let config = pytest_config::parse("pytest.ini", &format!("[pytest]\n{ini}")).unwrap().unwrap();
        Collection::new(self.root(), &config, patterns, requirements).unwrap()
    }
}

/// The paths among `paths` that are collected as test modules.
fn tests<'a>(rules: &Collection, paths: &[&'a str]) -> Vec<&'a str> {
    paths.iter().copied().filter(|p| rules.python_file(p, false) == Collected::Tests).collect()
}

#[test]
fn pytest_defaults_without_configuration() {
    let repo = Repo::new(&[]);
    let rules = Collection::new(repo.root(), &PytestConfig::default(), None, &[]).unwrap();
    let paths = ["test_a.py", "pkg/b_test.py", "src/jinja2/tests.py", "pkg/testing.py", "tests/helpers.py"];
    assert_eq!(tests(&rules, &paths), ["test_a.py", "pkg/b_test.py"], "tests.py is no test to pytest");
}

#[test]
fn testpaths_limit_where_pytest_looks() {
    let repo = Repo::new(&["tests/unit", "bench", "integration"]);
    let rules = repo.rules("testpaths = tests\n    integration\n");
    let paths = [
        "tests/test_a.py",
        "tests/unit/test_b.py",
        "integration/test_c.py",
        "bench/test_x.py",
        "test_top.py",
    ];
    assert_eq!(tests(&rules, &paths), ["tests/test_a.py", "tests/unit/test_b.py", "integration/test_c.py"]);
    // `./tests/` is the same folder; a testpath that does not exist is passed over…
    let rules = repo.rules("testpaths = ./tests/ missing\n");
    assert_eq!(tests(&rules, &paths), ["tests/test_a.py", "tests/unit/test_b.py"]);
    // … and when none exists, pytest searches from the root.
    let rules = repo.rules("testpaths = missing\n");
    assert_eq!(tests(&rules, &paths), paths);
    // Globs, as Python's glob reads them.
    let rules = repo.rules("testpaths = te*/unit\n");
    assert_eq!(tests(&rules, &paths), ["tests/unit/test_b.py"]);
    // A file given as a testpath is collected whatever its name.
    std::fs::write(repo.root().join("bench/run.py"), "").unwrap();
    let rules = repo.rules("testpaths = bench/run.py\n");
    assert_eq!(tests(&rules, &["bench/run.py", "bench/test_x.py"]), ["bench/run.py"]);
}

#[test]
fn arguments_and_overrides_in_addopts() {
    let repo = Repo::new(&["tests", "bench"]);
    let paths = ["tests/test_a.py", "bench/test_x.py"];
    let rules = repo.rules("testpaths = tests\naddopts = -q bench\n");
    assert_eq!(tests(&rules, &paths), ["bench/test_x.py"], "arguments replace testpaths");
    // pytest settles the rootdir before reading addopts: testpaths still apply.
    let rules = repo.rules("testpaths = tests\naddopts = --rootdir=bench\n");
    assert_eq!(tests(&rules, &paths), ["tests/test_a.py"]);
    let rules =
        repo.rules("testpaths = tests\naddopts = -o testpaths=bench --override-ini=python_files=*.py\n");
    assert_eq!(tests(&rules, &["tests/test_a.py", "bench/run.py"]), ["bench/run.py"]);
}

#[test]
fn python_files_decide_the_names() {
    let repo = Repo::new(&[]);
    let rules = repo.rules("python_files = test_*.py *_solution.py\n");
    let paths = ["docs/exercises/solutions/mlk_day_rrule_solution.py", "tests/test_a.py", "tests/a_test.py"];
    assert_eq!(
        tests(&rules, &paths),
        ["docs/exercises/solutions/mlk_day_rrule_solution.py", "tests/test_a.py"]
    );
    // A pattern with a `/` matches the path, anywhere after a separator.
    let rules = repo.rules("python_files = checks/*.py\n");
    assert_eq!(
        tests(&rules, &["checks/a.py", "x/checks/b.py", "c.py", "checks/deep/d.py"]),
        ["checks/a.py", "x/checks/b.py", "checks/deep/d.py"]
    );
}

#[test]
fn norecursedirs_and_ignores_skip_folders() {
    let repo = Repo::new(&["build/tests"]);
    let paths =
        ["build/test_a.py", "pkg.egg/test_b.py", "legacy/test_c.py", "x/legacy/test_d.py", "ok/test_e.py"];
    assert_eq!(tests(&repo.rules(""), &paths), ["legacy/test_c.py", "x/legacy/test_d.py", "ok/test_e.py"]);
    // A setting replaces pytest's list: build is walked again.
    let rules = repo.rules("norecursedirs = legacy\n");
    assert_eq!(tests(&rules, &paths), ["build/test_a.py", "pkg.egg/test_b.py", "ok/test_e.py"]);
    // A testpath inside a skipped folder is still searched.
    let rules = repo.rules("testpaths = build/tests\n");
    assert_eq!(tests(&rules, &["build/tests/test_x.py", "build/test_a.py"]), ["build/tests/test_x.py"]);
    let rules = repo.rules("addopts = --ignore=legacy --ignore ok/test_e.py --ignore-glob=x/*\n");
    assert_eq!(tests(&rules, &paths), Vec::<&str>::new());
}

#[test]
fn doctest_modules_make_modules_with_examples_targets() {
    let repo = Repo::new(&["src", "tests"]);
    let rules = repo.rules("addopts = --doctest-modules\n");
    assert_eq!(rules.python_file("src/pkg/mod.py", true), Collected::DoctestsOnly);
    assert_eq!(rules.python_file("src/pkg/plain.py", false), Collected::No);
    assert_eq!(rules.python_file("tests/test_a.py", true), Collected::Tests);
    assert_eq!(rules.python_file("setup.py", true), Collected::No);
    assert_eq!(rules.python_file("src/pkg/__main__.py", true), Collected::No);
    let rules = repo.rules("testpaths = tests\naddopts = --doctest-modules\n");
    assert_eq!(rules.python_file("src/pkg/mod.py", true), Collected::No, "outside testpaths");
    assert_eq!(repo.rules("").python_file("src/pkg/mod.py", true), Collected::No, "without the option");
}

#[test]
fn test_patterns_override_pytest() {
    let repo = Repo::new(&["tests"]);
    let patterns = ["check_*.py".to_owned(), "tests.py".to_owned()];
    let rules = repo.rules_with("testpaths = tests\n", Some(&patterns), &[]);
    assert_eq!(
        tests(&rules, &["check_a.py", "src/pkg/tests.py", "tests/test_a.py"]),
        ["check_a.py", "src/pkg/tests.py"]
    );
}

#[test]
fn files_only_a_plugin_or_the_doctest_text_collector_reads() {
    let repo = Repo::new(&["tests", "docs"]);
    let other = |path: &str, has_examples: bool| OtherFile { path: path.to_owned(), has_examples };
    let mypy = ["pytest-mypy-plugins".to_owned()];
    let rules = repo.rules_with("testpaths = tests\n", None, &mypy);
    let found = rules.other_file(&other("tests/test_mypy.yml", false)).unwrap();
    assert_eq!(found.collector, "pytest plugin pytest-mypy-plugins");
    assert_eq!(rules.other_file(&other("docs/test_mypy.yml", false)), None, "outside testpaths");
    assert_eq!(repo.rules("").other_file(&other("tests/test_mypy.yml", false)), None, "plugin not installed");
    let blocked = repo.rules_with("addopts = -p no:pytest-mypy-plugins\n", None, &mypy);
    assert_eq!(blocked.other_file(&other("tests/test_mypy.yml", false)), None);
    // pytest's default --doctest-glob is test*.txt, on without any option; files without
    // examples give no items.
    let rules = repo.rules("");
    let found = rules.other_file(&other("docs/test_intro.txt", true)).unwrap();
    assert_eq!(found.collector, "pytest's doctest plugin, --doctest-glob test*.txt");
    assert_eq!(rules.other_file(&other("docs/test_data.txt", false)), None);
    assert_eq!(rules.other_file(&other("docs/intro.rst", true)), None);
    let rules = repo.rules("addopts = --doctest-glob=*.rst\n");
    assert!(rules.other_file(&other("docs/intro.rst", true)).is_some());
    assert!(rules.may_collect_other("docs/intro.rst") && rules.may_collect_other("tests/test-x.yaml"));
    assert!(!rules.may_collect_other("docs/test_intro.txt"), "the glob replaces the default");
    assert_eq!(repo.rules("addopts = -p no:doctest\n").other_file(&other("docs/test_intro.txt", true)), None);
}

#[test]
fn doctest_examples_are_lines_starting_with_prompts() {
    assert!(has_doctest_examples(b"def f():\n    \"\"\"\n    >>> f()\n    \"\"\"\n"));
    assert!(has_doctest_examples(b">>> 1\n"));
    assert!(!has_doctest_examples(b"x = 1  # >>> not at the start\n"));
    assert!(!has_doctest_examples(b"print('>> no')\n"));
}

/// With a file plugin on, every module pytest walks is collected for its items; outside
/// `testpaths` or in `norecursedirs` none is.
#[test]
fn file_plugins_collect_every_module_pytest_walks() {
    let repo = Repo::new(&["tests", "src/pkg", "build"]);
    let requirements = ["pytest-ruff".to_owned()];
    let off = repo.rules_with("", None, &requirements);
    assert_eq!(off.python_file("src/pkg/mod.py", false), Collected::No, "installed, not switched on");
    let on = repo.rules_with("addopts = --ruff\n", None, &requirements);
    assert_eq!(on.python_file("src/pkg/mod.py", false), Collected::PluginItems);
    assert_eq!(on.python_file("setup.py", false), Collected::PluginItems);
    assert_eq!(on.python_file("tests/test_a.py", false), Collected::Tests);
    assert_eq!(on.python_file("build/gen.py", false), Collected::No, "norecursedirs holds build");
    let scoped = repo.rules_with("addopts = --ruff\ntestpaths = tests\n", None, &requirements);
    assert_eq!(scoped.python_file("src/pkg/mod.py", false), Collected::No);
    assert_eq!(scoped.python_file("tests/helpers.py", false), Collected::PluginItems);
}
