//! The test goal with real pytest through the whole stack.

use std::path::Path;
use std::sync::Mutex;

use super::*;
use crate::loader::{LoadOptions, load};

use crate::goals::test_support::write;

const CALC: &str = "def divide(a, b):\n    return a / b\n";

fn setup(dir: &Path) -> (std::path::PathBuf, Goals) {
    let root = dir.join("repo");
    write(&root, "src/calc/__init__.py", "");
    write(&root, "src/calc/ops.py", CALC);
    write(
        &root,
        "tests/test_ops.py",
        "import pytest\n\nfrom calc.ops import divide\n\n\ndef test_ok():\n    assert divide(4, 2) == 2\n\n\ndef test_zero():\n    assert divide(1, 0) == 0\n\n\n@pytest.mark.skip(reason=\"later\")\ndef test_later():\n    pass\n",
    );
    write(
        &root,
        "tests/test_other.py",
        "import os\n\n\ndef test_slot():\n    assert os.environ['PLEAT_EXECUTION_SLOT'] in ('0', '1')\n",
    );
    write(&root, "tests/test_hang.py", "import time\n\n\ndef test_forever():\n    time.sleep(600)\n");
    let goals = crate::goals::test_support::goals(&dir.join("cache"), 2);
    (root, goals)
}

fn run(
    root: &Path,
    goals: &Goals,
    cache: &Path,
    files: &[&str],
    options: &TestOptions,
) -> Vec<TestFileResult> {
    let (project, _) = load(root, &LoadOptions { cache_dir: Some(cache.to_owned()) }).unwrap();
    let ids: Vec<FileId> = files.iter().map(|f| project.id(f).unwrap()).collect();
    let done = Mutex::new(Vec::new());
    let results = test(
        goals,
        &project,
        &ids,
        &[],
        options,
        &|file, cached, _| done.lock().unwrap().push((file.to_owned(), cached)),
        &|_| {},
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(done.lock().unwrap().len(), files.len(), "every file reports when it is done");
    results
}

#[test]
fn per_test_results_with_locations_and_caching() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (root, goals) = setup(dir.path());
    let files = ["tests/test_ops.py", "tests/test_other.py"];
    let first = run(&root, &goals, &cache, &files, &TestOptions::default());
    let ops = &first[0];
    assert_eq!(ops.outcome, FileOutcome::Failed, "{}", ops.output);
    assert!(!ops.cached);
    let by_name: BTreeMap<&str, &TestCase> = ops.tests.iter().map(|t| (t.name.as_str(), t)).collect();
    assert_eq!(by_name["tests/test_ops.py::test_ok"].outcome, Outcome::Passed);
    assert_eq!(by_name["tests/test_ops.py::test_later"].outcome, Outcome::Skipped);
    let zero = by_name["tests/test_ops.py::test_zero"];
    assert_eq!(zero.outcome, Outcome::Failed);
    assert!(zero.message.as_deref().unwrap().contains("ZeroDivisionError"), "{zero:?}");
    assert_eq!(zero.location, Some(Location { file: "tests/test_ops.py".into(), line: 11 }));
    assert_eq!(zero.source_location, Some(Location { file: "src/calc/ops.py".into(), line: 2 }));
    assert_eq!(first[1].outcome, FileOutcome::Passed, "{}", first[1].output);

    // Nothing changed: both come from the cache, failures included.
    let second = run(&root, &goals, &cache, &files, &TestOptions::default());
    assert!(second.iter().all(|r| r.cached));
    assert_eq!(second[0].tests, first[0].tests.iter().map(|t| TestCase { ..t.clone() }).collect::<Vec<_>>());

    // Fixing calc reruns only the file that imports it.
    write(&root, "src/calc/ops.py", "def divide(a, b):\n    return a / b if b else 0\n");
    let third = run(&root, &goals, &cache, &files, &TestOptions::default());
    assert_eq!((third[0].cached, third[1].cached), (false, true));
    assert_eq!(third[0].outcome, FileOutcome::Passed, "{}", third[0].output);
}

#[test]
fn a_hanging_test_times_out_and_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (root, goals) = setup(dir.path());
    let options = TestOptions { timeout: Some(Duration::from_secs(3)), ..TestOptions::default() };
    for _ in 0..2 {
        let results = run(&root, &goals, &cache, &["tests/test_hang.py"], &options);
        assert_eq!(results[0].outcome, FileOutcome::TimedOut);
        assert!(!results[0].cached);
    }
}

#[test]
fn a_syntax_error_in_a_test_file_is_an_error_with_pytests_words() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (root, goals) = setup(dir.path());
    write(&root, "tests/test_broken.py", "def test_x(:\n    pass\n");
    let results = run(&root, &goals, &cache, &["tests/test_broken.py"], &TestOptions::default());
    assert_eq!(results[0].outcome, FileOutcome::Error);
    assert!(
        results[0].output.contains("SyntaxError")
            || results[0]
                .tests
                .iter()
                .any(|t| t.message.as_deref().is_some_and(|m| m.contains("SyntaxError"))),
        "{:?}",
        results[0]
    );
}

#[test]
fn uv_lock_registry_packages_become_pins() {
    let lock = r#"
version = 1
[[package]]
name = "attrs"
version = "24.2.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "myproject"
version = "0.1.0"
source = { editable = "." }

[[package]]
name = "local-lib"
version = "1.0"
source = { path = "libs/local" }
"#;
    assert_eq!(uv_lock_pins(lock), ["attrs==24.2.0"]);
    assert!(uv_lock_pins("not toml [").is_empty());
}

#[test]
fn the_short_message_is_the_exception_line() {
    let collection = "tests/test_x.py:3: in <module>\n    import x\nE     File \"x.py\", line 2\nE       return 1\nE       ^^^^^^^^\nE   SyntaxError: 'return' outside function\n";
    assert_eq!(super::short_message(collection), "SyntaxError: 'return' outside function");
    assert_eq!(
        super::short_message("AssertionError: assert -1 == 3\n +  where -1 = add(1, 2)"),
        "AssertionError: assert -1 == 3"
    );
    assert_eq!(super::short_message(""), "");
}
