//! fmt with real ruff through the stack: check mode, write-back, caching, syntax errors, a file changed meanwhile, and an editor's unsaved text.

use super::*;
use crate::loader::{LoadOptions, load};

use crate::goals::test_support::write;

#[test]
fn formats_checks_caches_and_refuses_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let cache = dir.path().join("cache");
    write(&root, "ugly.py", "x=1\n");
    write(&root, "fine.py", "y = 2\n");
    write(&root, "broken.py", "def f(:\n");
    let goals = crate::goals::test_support::goals(&cache, 2);
    let run = |check: bool| {
        let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
        let mut ids: Vec<_> = project.files().map(|(id, _)| id).collect();
        ids.sort_by_key(|id| project.path(*id).to_owned());
        fmt(&goals, &project, &ids, Formatter::Ruff, check, &mut |_| {}).unwrap()
    };
    let checked = run(true);
    let outcomes: Vec<(&str, FmtOutcome)> = checked.iter().map(|f| (f.file.as_str(), f.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("broken.py", FmtOutcome::Failed),
            ("fine.py", FmtOutcome::Unchanged),
            ("ugly.py", FmtOutcome::Changed)
        ]
    );
    assert!(
        checked[0].message.contains("ruff exited with 2: error: Failed to parse"),
        "{}",
        checked[0].message
    );
    assert_eq!(std::fs::read_to_string(root.join("ugly.py")).unwrap(), "x=1\n", "--check writes nothing");
    let formatted = run(false);
    assert!(formatted.iter().all(|f| f.cached || f.file == "broken.py"), "same inputs as the check: cached");
    assert_eq!(std::fs::read_to_string(root.join("ugly.py")).unwrap(), "x = 1\n");
    let again = run(true);
    assert!(again.iter().all(|f| f.outcome != FmtOutcome::Changed));
}

#[test]
fn a_file_changed_meanwhile_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let goals = crate::goals::test_support::goals(&dir.path().join("cache"), 1);
    let path = dir.path().join("a.py");
    std::fs::write(&path, "edited by the user\n").unwrap();
    let before = Digest::of(goals.store.function(), b"x=1\n");
    let after = goals.store.put(b"x = 1\n").unwrap();
    let (outcome, message) = write_back(&goals, &path, &before, &after).unwrap();
    assert_eq!(outcome, FmtOutcome::ChangedMeanwhile);
    assert!(message.contains("run fmt again"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "edited by the user\n");
}

#[test]
fn format_text_formats_the_buffer_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let cache = dir.path().join("cache");
    write(&root, "pkg/a.py", "on_disk=1\n");
    write(&root, "pyproject.toml", "[tool.ruff]\nline-length = 20\n");
    let goals = crate::goals::test_support::goals(&cache, 1);
    let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let format = |text: &str| format_text(&goals, &project, "pkg/a.py", text, Formatter::Ruff, &mut |_| {});
    let buffer = "def f(a,b):\n  return [a,b,a,b,a,b]\n";
    let expected = "def f(a, b):\n    return [\n        a,\n        b,\n        a,\n        b,\n        a,\n        b,\n    ]\n";
    let first = format(buffer).unwrap();
    assert_eq!(first.text.as_deref(), Some(expected), "the project's line-length applies");
    assert!(!first.cached);
    assert_eq!(std::fs::read_to_string(root.join("pkg/a.py")).unwrap(), "on_disk=1\n");
    assert_eq!(format(buffer).unwrap(), TextTransform { text: Some(expected.to_owned()), cached: true });
    assert_eq!(format(expected).unwrap().text, None, "already formatted");

    let error = format("def f(:\n").unwrap_err().to_string();
    assert!(error.contains("for pkg/a.py (ruff exited with 2: error: Failed to parse"), "{error}");

    // The same content on disk is the same process: `fmt` finds it in the cache.
    write(&root, "pkg/a.py", buffer);
    let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let ids: Vec<_> = project.files().map(|(id, _)| id).collect();
    let formatted = fmt(&goals, &project, &ids, Formatter::Ruff, false, &mut |_| {}).unwrap();
    assert!(formatted[0].cached && formatted[0].outcome == FmtOutcome::Changed, "{formatted:?}");
    assert_eq!(std::fs::read_to_string(root.join("pkg/a.py")).unwrap(), expected);
}
