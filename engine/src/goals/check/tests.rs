//! check: mypy's output format (with and without line and column, notes attached), its configuration as mypy finds it, and real mypy and pyright runs (the incremental cache in the named cache, a failure without a finding, `.py`/`.pyi` pairs, configuration warnings).

use super::*;
use crate::loader::{LoadOptions, load};

const MYPY: CheckOptions = CheckOptions { checker: Checker::Mypy, force: false };

#[test]
fn parses_mypy_lines() {
    let found = parse_mypy(
        "pkg/a.py:3:12: error: Incompatible return value type (got \"str\", expected \"int\")  [return-value]\npkg/a.py:4:1: note: See docs\nnoise\n",
        &[],
    );
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].line, found[0].column, found[0].code.as_str()), (3, 12, "return-value"));
    assert_eq!(found[0].message, "Incompatible return value type (got \"str\", expected \"int\")");
    assert_eq!((found[1].severity.as_str(), found[1].code.as_str()), ("note", ""));
}

/// mypy leaves out the column it does not know and the line of a module-level error.
#[test]
fn parses_mypy_lines_without_column_or_line() {
    let found = parse_mypy(
        "src/packaging/specifiers.py:248: error: Unused \"type: ignore\" comment  [unused-ignore]\n\
         src/attr/__init__.pyi: error: Duplicate module named \"attr\" (also at \"src/attr/__init__.py\")\n",
        &[],
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].file.as_str(), found[0].line, found[0].column, found[0].code.as_str()),
        ("src/packaging/specifiers.py", 248, 0, "unused-ignore")
    );
    assert_eq!(found[0].message, "Unused \"type: ignore\" comment");
    assert_eq!((found[1].file.as_str(), found[1].line, found[1].column), ("src/attr/__init__.pyi", 0, 0));
    assert!(found.iter().all(CheckFinding::is_error));
}

/// A note at the place of an earlier error belongs to it (mypy's JSON grouping); a note
/// anywhere else stands alone, even right after an error.
#[test]
fn mypy_notes_are_attached_to_the_error_at_their_place() {
    let found = parse_mypy(
        "a.py:5:3: error: No overload variant of \"f\" matches argument type \"str\"  [call-overload]\n\
         a.py:5:3: note: Possible overload variants:\n\
         a.py:5:3: note:     def f(x: int) -> int\n\
         b.py:1:1: note: \"f\" defined here\n\
         a.py:9:13: note: Revealed type is \"builtins.int\"\n\
         m.pyi: error: Duplicate module named \"m\" (also at \"m.py\")\n\
         m.pyi: note: See https://mypy.readthedocs.io/en/stable/running_mypy.html\n",
        &[],
    );
    let shape: Vec<(&str, u32, &str, usize)> =
        found.iter().map(|f| (f.file.as_str(), f.line, f.severity.as_str(), f.notes.len())).collect();
    assert_eq!(
        shape,
        [("a.py", 5, "error", 2), ("b.py", 1, "note", 0), ("a.py", 9, "note", 0), ("m.pyi", 0, "error", 1)]
    );
    assert_eq!(found[0].notes, ["Possible overload variants:", "    def f(x: int) -> int"]);
    assert!(found[3].notes[0].starts_with("See https://"));
}

/// `show_absolute_path = true` prints sandbox paths; they are matched back to the inputs.
#[test]
fn absolute_mypy_paths_become_repository_paths() {
    let found = parse_mypy(
        "/tmp/cache/sandboxes/7/root/pkg/a.py:2:5: error: Name \"y\" is not defined  [name-defined]\n",
        &["pkg/a.py".to_owned()],
    );
    assert_eq!(found[0].file, "pkg/a.py");
}

#[test]
fn a_py_beside_its_pyi_is_passed_once_as_the_stub() {
    let targets = ["pkg/m.py", "pkg/m.pyi", "pkg/n.py", "pkg/o.pyi"].map(str::to_owned).to_vec();
    assert_eq!(stubs_over_sources(targets), ["pkg/m.pyi", "pkg/n.py", "pkg/o.pyi"]);
}

#[test]
fn ini_sections_are_read_as_configparser_reads_them() {
    let text = "[metadata]\nname = x\n\n[mypy]\n# a comment\nFiles = src,\n    tests/typing\nstrict: true\n; another\nexclude = (?x)(\n    ^build/\n  )\n[mypy-foo.*]\nfiles = nope\n";
    let section = mypy_config::ini_section(text, "mypy").unwrap();
    assert_eq!(section["files"], "src,\ntests/typing");
    assert_eq!(section["strict"], "true");
    assert_eq!(section["exclude"], "(?x)(\n^build/\n)");
    assert!(mypy_config::ini_section(text, "tool:pytest").is_none());
}

/// mypy's own order: mypy.ini, .mypy.ini (even without a [mypy] section), pyproject.toml
/// with [tool.mypy], setup.cfg with [mypy].
#[test]
fn the_configuration_file_is_the_one_mypy_reads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |name: &str, text: &str| std::fs::write(root.join(name), text).unwrap();
    assert_eq!(MypyConfig::find(root), MypyConfig::default());
    write("setup.cfg", "[metadata]\nname = x\n");
    write("pyproject.toml", "[tool.ruff]\nline-length = 100\n");
    assert_eq!(MypyConfig::find(root).file, None, "neither has a mypy section");
    write("setup.cfg", "[mypy]\nfiles = a, b\n");
    assert_eq!(MypyConfig::find(root).files, ["a", "b"]);
    write(
        "pyproject.toml",
        "[tool.mypy]\nfiles = [\"src\"]\npackages = \"p, q\"\nexclude = [\"^x/\"]\nplugins = [\"p.plugin\"]\n",
    );
    let config = MypyConfig::find(root);
    assert_eq!(config.file.as_deref(), Some("pyproject.toml"));
    assert_eq!(
        (config.files, config.packages, config.exclude),
        (vec!["src".to_owned()], vec!["p".to_owned(), "q".to_owned()], vec!["^x/".to_owned()])
    );
    assert_eq!(config.plugins, ["p.plugin"]);
    write(".mypy.ini", "# nothing\n");
    assert_eq!(MypyConfig::find(root).file.as_deref(), Some(".mypy.ini"));
    write("mypy.ini", "[mypy]\nmodules = m\n");
    assert_eq!(MypyConfig::find(root).modules, ["m"]);
}

/// A bare `mypy` checks what `files`, `packages` and `modules` name: folders walked with
/// `exclude` applied below them, globs, files named outright (never excluded).
#[test]
fn configured_targets_follow_files_packages_modules_and_exclude() {
    use crate::goals::test_support::write;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    for path in [
        "src/app/__init__.py",
        "src/app/core.py",
        "src/app/gen/__init__.py",
        "src/app/gen/big.py",
        "src/lib/__init__.py",
        "src/lib/x.py",
        "scripts/one.py",
        "scripts/two.py",
        "tests/test_x.py",
        "other/mod.py",
    ] {
        write(&root, path, "X = 1\n");
    }
    let load = || load(&root, &LoadOptions { cache_dir: None }).unwrap().0;
    let targets = |project: &Project| -> Vec<String> {
        let configured = configured_targets(project).unwrap().unwrap();
        assert_eq!(configured.file, "mypy.ini");
        let mut paths: Vec<String> = configured.ids.iter().map(|id| project.path(*id).to_owned()).collect();
        paths.sort();
        paths
    };
    write(&root, "mypy.ini", "[mypy]\nstrict = true\n");
    assert_eq!(configured_targets(&load()).unwrap(), None, "no files named: the specs decide");
    write(
        &root,
        "mypy.ini",
        "[mypy]\nfiles = src/app, scripts/*.py, src/app/gen/big.py\nexclude = /gen/|^scripts/two\\.py$\n",
    );
    assert_eq!(
        targets(&load()),
        ["scripts/one.py", "scripts/two.py", "src/app/__init__.py", "src/app/core.py", "src/app/gen/big.py"],
        "exclude leaves out of walked folders only; a glob matching a file names it outright"
    );
    write(&root, "mypy.ini", "[mypy]\nfiles = ./scripts/\nexclude = two\n");
    assert_eq!(targets(&load()), ["scripts/one.py"]);
    write(&root, "mypy.ini", "[mypy]\nfiles = src/**/gen\npackages = lib\nmodules = app.core\n");
    assert_eq!(
        targets(&load()),
        [
            "src/app/core.py",
            "src/app/gen/__init__.py",
            "src/app/gen/big.py",
            "src/lib/__init__.py",
            "src/lib/x.py"
        ]
    );
    write(&root, "mypy.ini", "[mypy]\nfiles = src, nowhere\n");
    let error = configured_targets(&load()).unwrap_err().to_string();
    assert!(
        error.starts_with("mypy.ini: ") && error.contains("`nowhere`") && error.contains("fix the entry"),
        "{error}"
    );
    write(&root, "mypy.ini", "[mypy]\nfiles = src\nexclude = (?<=x)y\n");
    let error = configured_targets(&load()).unwrap_err().to_string();
    assert!(error.contains("`(?<=x)y`"), "{error}");
}

#[test]
fn mypy_runs_with_its_cache_in_a_named_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(root.join("pkg/util.py"), "def twice(x: int) -> int:\n    return x * 2\n").unwrap();
    std::fs::write(
        root.join("pkg/main.py"),
        "from pkg.util import twice\n\n\ndef run() -> str:\n    return twice(2)\n",
    )
    .unwrap();
    let goals = crate::goals::test_support::goals(&cache, 1);
    let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let main = project.id("pkg/main.py").unwrap();
    let report = check(&goals, &project, &[main], &MYPY, &mut |_| {}).unwrap();
    assert!(!report.cached);
    assert_eq!(report.findings.len(), 1, "{report:?}");
    assert_eq!((report.findings[0].file.as_str(), report.findings[0].line), ("pkg/main.py", 5));
    assert_eq!(report.findings[0].code, "return-value");
    let named = cache.join("named").join("mypy");
    assert!(
        std::fs::read_dir(&named).unwrap().next().is_some(),
        "mypy's cache is kept in {}",
        named.display()
    );
    let again = check(&goals, &project, &[main], &MYPY, &mut |_| {}).unwrap();
    assert!(again.cached);
    assert_eq!(again.findings, report.findings);
    // A same-size fix right away: mypy's mtime+size check must not serve the stale result
    // (sandbox files get content-derived mtimes).
    std::fs::write(
        root.join("pkg/main.py"),
        "from pkg.util import twice\n\n\ndef run() -> int:\n    return twice(2)\n",
    )
    .unwrap();
    let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let fixed = check(&goals, &project, &[main], &MYPY, &mut |_| {}).unwrap();
    assert!(!fixed.cached);
    assert!(fixed.findings.is_empty(), "{fixed:?}");
    // Another repository with a module of the same name keeps its own mypy cache.
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("pkg")).unwrap();
    std::fs::write(other.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(other.join("pkg/util.py"), "def twice(x: str) -> str:\n    return x * 2\n").unwrap();
    std::fs::write(other.join("pkg/main.py"), std::fs::read(root.join("pkg/main.py")).unwrap()).unwrap();
    let (project, _) = load(&other, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let main = project.id("pkg/main.py").unwrap();
    let report = check(&goals, &project, &[main], &MYPY, &mut |_| {}).unwrap();
    assert_eq!(report.findings.len(), 2, "{report:?}");
    let folders = std::fs::read_dir(&named).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert_eq!(folders, 2, "one mypy cache per repository in {}", named.display());
}

/// Real mypy runs in one cache: a failure without a finding is an error carrying mypy's
/// words, a `.py`/`.pyi` pair is checked once, configuration warnings come back, and
/// `force` runs again without caching.
#[test]
fn mypy_failures_pairs_warnings_and_force() {
    use crate::goals::test_support::write;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let cache = dir.path().join("cache");
    write(&root, "my-pkg/__init__.py", "");
    write(&root, "my-pkg/m.py", "X = 1\n");
    write(&root, "pkg/__init__.py", "");
    write(&root, "pkg/m.py", "def f(x):\n    return x\n");
    write(&root, "pkg/m.pyi", "def f(x: int) -> int: ...\n");
    write(&root, "pyproject.toml", "[tool.mypy]\npython_version = \"3.8\"\n");
    let goals = crate::goals::test_support::goals(&cache, 1);
    let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let id = |path: &str| project.id(path).unwrap();
    match check(&goals, &project, &[id("my-pkg/m.py")], &MYPY, &mut |_| {}) {
        Err(GoalError::Failed { tool, exit_code, output }) => {
            assert_eq!((tool.as_str(), exit_code), ("mypy", 2));
            assert!(output.contains("is not a valid Python package name"), "{output}");
        }
        other => panic!("a mypy failure without a finding must be an error: {other:?}"),
    }
    let pair = [id("pkg/__init__.py"), id("pkg/m.py"), id("pkg/m.pyi")];
    let report = check(&goals, &project, &pair, &MYPY, &mut |_| {}).unwrap();
    assert_eq!((report.files, report.findings.len()), (2, 0), "{report:?}");
    assert!(
        report.warnings.iter().any(|w| w.contains("python_version: Python 3.8 is not supported")),
        "{report:?}"
    );
    let again = check(&goals, &project, &pair, &MYPY, &mut |_| {}).unwrap();
    assert!(again.cached && again.warnings == report.warnings, "{again:?}");
    let forced = CheckOptions { force: true, ..MYPY };
    for _ in 0..2 {
        assert!(!check(&goals, &project, &pair, &forced, &mut |_| {}).unwrap().cached);
    }
}

#[test]
fn parses_pyright_json() {
    let json = r#"{"generalDiagnostics": [{"file": "/tmp/x/pleat-sandbox-1/root/pkg/a.py", "severity": "error",
        "message": "Type mismatch\n  more", "range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 9}},
        "rule": "reportAssignmentType"}], "summary": {}}"#;
    let found = parse_pyright(json, &["pkg/a.py".to_owned()]).unwrap();
    assert_eq!(found[0].file, "pkg/a.py");
    assert_eq!((found[0].line, found[0].column), (3, 5));
    assert_eq!(
        (found[0].code.as_str(), found[0].message.as_str()),
        ("reportAssignmentType", "Type mismatch")
    );
    assert!(parse_pyright("junk", &[]).is_none());
}

#[test]
fn pyright_runs_from_pypi_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(root.join("pkg/a.py"), "x: int = 'a'\n").unwrap();
    let goals = crate::goals::test_support::goals(&cache, 1);
    let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let a = project.id("pkg/a.py").unwrap();
    let report =
        check(&goals, &project, &[a], &CheckOptions { checker: Checker::Pyright, force: false }, &mut |_| {})
            .unwrap();
    assert_eq!(report.findings.len(), 1, "{report:?}");
    assert_eq!((report.findings[0].file.as_str(), report.findings[0].line), ("pkg/a.py", 1));
    assert_eq!(report.findings[0].code, "reportAssignmentType");
}
