//! pytest's configuration from every file pytest reads it from, in pytest's order, on real files in temporary folders.

use super::{Addopts, PytestConfig, load, parse_addopts, shell_split};

/// Writes `(name, text)` files into a fresh folder and loads pytest's configuration there.
fn load_from(files: &[(&str, &str)]) -> Result<PytestConfig, super::PytestConfigError> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    load(dir.path())
}

fn config(files: &[(&str, &str)]) -> PytestConfig {
    load_from(files).unwrap()
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn without_configuration_pytest_defaults_apply() {
    let c = config(&[]);
    assert_eq!(c, PytestConfig::default());
    assert_eq!(c.file, None);
    assert_eq!(c.python_files, ["test_*.py", "*_test.py"], "pytest's default has no tests.py");
    assert_eq!(
        c.norecursedirs,
        ["*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}"]
    );
    assert!(c.testpaths.is_empty());
}

#[test]
fn every_location_pytest_reads() {
    let cases: [(&str, &str); 8] = [
        ("pytest.toml", "[pytest]\ntestpaths = [\"t\"]\n"),
        (".pytest.toml", "[pytest]\ntestpaths = [\"t\"]\n"),
        ("pytest.ini", "[pytest]\ntestpaths = t\n"),
        (".pytest.ini", "[pytest]\ntestpaths = t\n"),
        ("pyproject.toml", "[tool.pytest.ini_options]\ntestpaths = \"t\"\n"),
        ("pyproject.toml", "[tool.pytest]\ntestpaths = [\"t\"]\n"),
        ("tox.ini", "[tox]\nenvlist = py\n\n[pytest]\ntestpaths = t\n"),
        ("setup.cfg", "[metadata]\nname = x\n\n[tool:pytest]\ntestpaths = t\n"),
    ];
    for (name, text) in cases {
        let c = config(&[(name, text)]);
        assert_eq!(c.file.as_deref(), Some(name), "{name}: {text}");
        assert_eq!(c.testpaths, ["t"], "{name}: {text}");
    }
}

#[test]
fn the_first_file_with_pytest_settings_wins_in_pytests_order() {
    let pyproject = ("pyproject.toml", "[tool.pytest.ini_options]\ntestpaths = [\"from_pyproject\"]\n");
    let tox = ("tox.ini", "[pytest]\ntestpaths = from_tox\n");
    let setup = ("setup.cfg", "[tool:pytest]\ntestpaths = from_setup\n");
    // A pytest.ini wins even when it is empty.
    let c = config(&[("pytest.ini", ""), pyproject, tox, setup]);
    assert_eq!((c.file.as_deref(), c.testpaths.len()), (Some("pytest.ini"), 0));
    // pytest.toml comes before pytest.ini, the hidden names after the plain ones.
    let c = config(&[("pytest.ini", "[pytest]\ntestpaths = ini\n"), (".pytest.toml", "")]);
    assert_eq!(c.file.as_deref(), Some(".pytest.toml"));
    let c = config(&[("pytest.ini", "[pytest]\ntestpaths = ini\n"), (".pytest.ini", "")]);
    assert_eq!(c.testpaths, ["ini"]);
    assert_eq!(config(&[pyproject, tox, setup]).testpaths, ["from_pyproject"]);
    assert_eq!(config(&[tox, setup]).testpaths, ["from_tox"]);
    // Files without pytest settings are passed over.
    let c = config(&[("pyproject.toml", "[project]\nname = \"x\"\n"), ("tox.ini", "[tox]\n"), setup]);
    assert_eq!((c.file.as_deref(), c.testpaths.clone()), (Some("setup.cfg"), vec!["from_setup".to_owned()]));
    // … and a pyproject.toml is the configuration file when nothing else is.
    let c = config(&[("pyproject.toml", "[project]\nname = \"x\"\n"), ("setup.cfg", "[metadata]\n")]);
    assert_eq!(c, PytestConfig { file: Some("pyproject.toml".to_owned()), ..PytestConfig::default() });
}

#[test]
fn multi_line_values_and_comments() {
    // python-dateutil 2.9.0's setup.cfg: tab-indented continuation lines.
    let c = config(&[(
        "setup.cfg",
        "[tool:pytest]\npython_files = \n\ttest_*.py\n\t*_test.py\n\t*_solution.py\nxfail_strict = true\n",
    )]);
    assert_eq!(c.python_files, ["test_*.py", "*_test.py", "*_solution.py"]);
    let c = config(&[(
        "pytest.ini",
        "# pytest settings\n[pytest]\n; where the tests are\ntestpaths =\n    tests\n    # not this\n    integration\nnorecursedirs = .* build\n  docs\n",
    )]);
    assert_eq!(c.testpaths, ["tests", "integration"]);
    assert_eq!(c.norecursedirs, [".*", "build", "docs"], "an override replaces pytest's list");
}

#[test]
fn toml_lists_and_ini_style_strings() {
    let c = config(&[(
        "pyproject.toml",
        "[tool.pytest.ini_options]\naddopts = \"--doctest-modules -p no:cacheprovider\"\npython_files = [\"check_*.py\"]\n",
    )]);
    assert!(c.addopts.doctest_modules);
    assert_eq!(c.addopts.plugins, ["no:cacheprovider"]);
    assert_eq!(c.python_files, ["check_*.py"]);
    // `-o` in addopts overrides the file's settings (pytest 9).
    let c = config(&[(
        "pytest.ini",
        "[pytest]\ntestpaths = a\naddopts = -o testpaths='b c' --override-ini=norecursedirs=x\n",
    )]);
    assert_eq!((c.testpaths, c.norecursedirs), (words(&["b", "c"]), words(&["x"])));
    // attrs 24.2.0: addopts as a list, testpaths as a string.
    let c = config(&[(
        "pyproject.toml",
        "[tool.pytest.ini_options]\naddopts = [\"-ra\", \"--strict-markers\", \"--strict-config\"]\nxfail_strict = true\ntestpaths = \"tests\"\n",
    )]);
    assert_eq!(c.testpaths, ["tests"]);
    assert_eq!(
        c.addopts,
        Addopts { flags: words(&["--strict-markers", "--strict-config"]), ..Addopts::default() }
    );
}

#[test]
fn configurations_pytest_rejects_name_the_line() {
    let e = load_from(&[("setup.cfg", "[metadata]\nname = x\n[pytest]\ntestpaths = t\n")]).unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.to_string().contains("setup.cfg:3:") && e.message.contains("[tool:pytest]"), "{e}");
    let e = load_from(&[(
        "pyproject.toml",
        "[tool.pytest]\ntestpaths = [\"a\"]\n\n[tool.pytest.ini_options]\ntestpaths = [\"b\"]\n",
    )])
    .unwrap_err();
    assert!(e.message.contains("cannot be used together"), "{e}");
    let e = load_from(&[("pyproject.toml", "[tool.pytest]\nminversion = \"9.0\"\ntestpaths = \"tests\"\n")])
        .unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.message.contains("`testpaths` is a string; pytest expects a list of strings"), "{e}");
    let e = load_from(&[("pytest.toml", "testpaths = [\"tests\"]\n")]).unwrap_err();
    assert!(e.message.contains("under a [pytest] table (found testpaths)"), "{e}");
    let e = load_from(&[("tox.ini", "[pytest]\ntestpaths\n")]).unwrap_err();
    assert!(e.to_string().contains("tox.ini:2:"), "{e}");
    let e = load_from(&[("pytest.ini", "[pytest]\naddopts = -k 'unclosed\n")]).unwrap_err();
    assert!(e.message.contains("unclosed quote"), "{e}");
    // A broken file pytest never reaches is no error: pytest.ini comes first.
    assert!(load_from(&[("pytest.ini", ""), ("tox.ini", "not ini")]).is_ok());
}

#[test]
fn shell_split_is_shlex_split() {
    // Checked against Python 3.11's shlex.split.
    assert_eq!(shell_split(" a  'b c' \"d \\\" e\" f\\ g \n h").unwrap(), ["a", "b c", "d \" e", "f g", "h"]);
    assert_eq!(shell_split("x'y'\"z\" '' \"\\n\"").unwrap(), ["xyz", "", "\\n"]);
    assert_eq!(shell_split("# not a comment").unwrap(), ["#", "not", "a", "comment"]);
    assert!(shell_split("'open").is_err());
    assert!(shell_split("trailing\\").is_err());
}

#[test]
fn addopts_that_change_collection() {
    let a = parse_addopts(&words(&[
        "-ra",
        "-q",
        "--doctest-modules",
        "--doctest-glob=*.rst",
        "--doctest-glob",
        "*.md",
        "-p",
        "no:doctest",
        "-pxdist",
        "--ignore=bench",
        "--ignore",
        "docs/conf.py",
        "--ignore-glob",
        "*/slow_*.py",
        "--rootdir=elsewhere",
        "-o",
        "python_files=check_*.py",
        "-m",
        "not slow",
        "-k",
        "fast",
        "--cov",
        "src",
        "--tb=short",
        "--maxfail",
        "3",
        "--strict-markers",
        "tests",
        "--",
        "--odd-path",
    ]));
    assert_eq!(
        a,
        Addopts {
            paths: words(&["tests", "--odd-path"]),
            doctest_modules: true,
            doctest_globs: words(&["*.rst", "*.md"]),
            plugins: words(&["no:doctest", "xdist"]),
            ignore: words(&["bench", "docs/conf.py"]),
            ignore_glob: words(&["*/slow_*.py"]),
            pyargs: false,
            overrides: vec![("python_files".to_owned(), "check_*.py".to_owned())],
            flags: words(&["--rootdir", "--cov", "--tb", "--maxfail", "--strict-markers"]),
        }
    );
    // `--cov` takes a value only when one follows; `-vx` are two flags.
    let a = parse_addopts(&words(&["--cov", "--pyargs", "-vx", "pkg"]));
    assert_eq!((a.pyargs, a.paths), (true, words(&["pkg"])));
}
