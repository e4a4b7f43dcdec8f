//! check: mypy's output format, and a real mypy run whose incremental cache lands in the named cache.

use super::*;
use crate::loader::{LoadOptions, load};

#[test]
fn parses_mypy_lines() {
    let found = parse_mypy(
        "pkg/a.py:3:12: error: Incompatible return value type (got \"str\", expected \"int\")  [return-value]\npkg/a.py:4:1: note: See docs\nnoise\n",
    );
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].line, found[0].column, found[0].code.as_str()), (3, 12, "return-value"));
    assert_eq!(found[0].message, "Incompatible return value type (got \"str\", expected \"int\")");
    assert_eq!((found[1].severity.as_str(), found[1].code.as_str()), ("note", ""));
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
    let report = check(&goals, &project, &[main], Checker::Mypy, &mut |_| {}).unwrap();
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
    let again = check(&goals, &project, &[main], Checker::Mypy, &mut |_| {}).unwrap();
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
    let fixed = check(&goals, &project, &[main], Checker::Mypy, &mut |_| {}).unwrap();
    assert!(!fixed.cached);
    assert!(fixed.findings.is_empty(), "{fixed:?}");
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
    let report = check(&goals, &project, &[a], Checker::Pyright, &mut |_| {}).unwrap();
    assert_eq!(report.findings.len(), 1, "{report:?}");
    assert_eq!((report.findings[0].file.as_str(), report.findings[0].line), ("pkg/a.py", 1));
    assert_eq!(report.findings[0].code, "reportAssignmentType");
}
