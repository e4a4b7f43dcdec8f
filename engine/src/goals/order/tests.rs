//! Tests of the likely-first order: changed lines, tiers, the sort.

use super::*;

#[test]
fn an_edit_touches_the_lines_between_common_prefix_and_suffix() {
    let old = b"a\nb\nc\nd\n";
    assert_eq!(changed_lines(old, old), None);
    assert_eq!(changed_lines(old, b"a\nB\nc\nd\n"), Some(2..=2));
    assert_eq!(changed_lines(old, b"a\nB\nC\nd\n"), Some(2..=3));
    // Deleted lines are touched; an insertion touches its neighbours.
    assert_eq!(changed_lines(old, b"a\nd\n"), Some(2..=3));
    assert_eq!(changed_lines(old, b"a\nb\nnew\nc\nd\n"), Some(2..=3));
    assert_eq!(changed_lines(old, b"new\na\nb\nc\nd\n"), Some(1..=1));
    assert_eq!(changed_lines(old, b"a\nb\nc\nd\nnew\n"), Some(4..=5));
    // Two edits: everything between them (a superset, never less).
    assert_eq!(changed_lines(old, b"A\nb\nc\nD\n"), Some(1..=4));
    // Repeated lines: prefix and suffix never overlap.
    assert_eq!(changed_lines(b"x\nx\n", b"x\n"), Some(2..=2));
    assert_eq!(changed_lines(b"x\n", b"x\nx\n"), Some(1..=2));
    // A last line without a newline differs from one with it.
    assert_eq!(changed_lines(b"a\nb", b"a\nb\n"), Some(2..=2));
}

#[test]
fn a_run_that_executed_a_touched_line_comes_first() {
    let executed = [1, 2, 10, 11];
    assert_eq!(tier([Some((&executed[..], Some(10..=10)))]), Tier::ExecutedChangedLine);
    assert_eq!(tier([Some((&executed[..], Some(5..=9)))]), Tier::ExecutedChangedFile);
    // The file as that run saw it (or its old content gone): the file counts, not the line.
    assert_eq!(tier([Some((&executed[..], None))]), Tier::ExecutedChangedFile);
    assert_eq!(tier([None]), Tier::Rest);
    assert_eq!(tier(std::iter::empty()), Tier::Rest);
    // Several changed files: the closest wins.
    assert_eq!(
        tier([None, Some((&executed[..], Some(3..=4))), Some((&executed[..], Some(2..=2)))]),
        Tier::ExecutedChangedLine
    );
}

#[test]
fn the_sort_keeps_path_order_within_a_tier() {
    let mut tests = vec!["a", "b", "c", "d", "e"];
    let tiers = BTreeMap::from([
        ("a", Tier::Rest),
        ("b", Tier::ExecutedChangedFile),
        ("c", Tier::Rest),
        ("d", Tier::ExecutedChangedLine),
        ("e", Tier::ExecutedChangedFile),
    ]);
    by_tier(&mut tests, |t| tiers[t]);
    assert_eq!(tests, ["d", "b", "e", "a", "c"]);
}

#[test]
fn the_order_follows_the_recorded_last_runs() {
    let dir = tempfile::tempdir().unwrap();
    let goals = crate::goals::test_support::goals(&dir.path().join("cache"), 1);
    let store = &goals.store;
    let root = Path::new("/repo");
    let old = "def f():\n    return 1\n\ndef g():\n    return 2\n";
    let new = "def f():\n    return 1\n\ndef g():\n    return 3\n";
    let old_digest = store.put(old.as_bytes()).unwrap();
    let inputs = tree::from_entries(
        store,
        &BTreeMap::from([("pkg/m.py".to_owned(), Node::File { digest: old_digest, executable: false })]),
    )
    .unwrap();
    // tests/test_f.py executed f only, tests/test_g.py executed g, tests/test_n.py never ran.
    for (test, lines) in [("tests/test_f.py", "[1,2,4]"), ("tests/test_g.py", "[1,4,5]")] {
        let coverage = store.put(format!("{{\"lines\":{{\"pkg/m.py\":{lines}}}}}").as_bytes()).unwrap();
        let outputs = tree::from_entries(
            store,
            &BTreeMap::from([(COVERAGE.to_owned(), Node::File { digest: coverage, executable: false })]),
        )
        .unwrap();
        record_last_run(store, root, test, &inputs, &outputs).unwrap();
    }
    let tests: Vec<String> =
        ["tests/test_a.py", "tests/test_f.py", "tests/test_g.py"].map(str::to_owned).to_vec();
    let changed = [Changed { path: "pkg/m.py".to_owned(), text: new.as_bytes().to_vec() }];
    assert_eq!(
        likely_first(&goals, root, &tests, &changed),
        ["tests/test_g.py", "tests/test_f.py", "tests/test_a.py"]
    );
    // Another repository's records are not these.
    assert_eq!(likely_first(&goals, Path::new("/other"), &tests, &changed), tests);
    // An unrelated file changed: nothing executed it.
    let unrelated = [Changed { path: "pkg/other.py".to_owned(), text: b"x = 1\n".to_vec() }];
    assert_eq!(likely_first(&goals, root, &tests, &unrelated), tests);
}

/// Answers each process by its first argument: `hit…` from the cache, anything else ran
/// (taking 30 ms, `…slow` a second); records what it was asked to run.
struct Scripted(std::sync::Mutex<Vec<String>>);

impl crate::exec::CommandRunner for Scripted {
    fn run(
        &self,
        process: &crate::exec::Process,
        cancel: &crate::exec::Cancel,
    ) -> Result<crate::exec::ProcessResult, crate::exec::ExecError> {
        if cancel.is_cancelled() {
            return Err(crate::exec::ExecError::Cancelled { description: process.argv[0].clone() });
        }
        self.0.lock().unwrap().push(process.argv[0].clone());
        let hit = process.argv[0].starts_with("hit");
        let slow = process.argv[0].ends_with("slow");
        if !hit {
            std::thread::sleep(std::time::Duration::from_millis(if slow { 1000 } else { 30 }));
        }
        let empty = Digest::empty(DigestFunction::Blake3);
        Ok(crate::exec::ProcessResult {
            exit_code: 0,
            stdout: empty,
            stderr: empty,
            output_root: empty,
            duration: std::time::Duration::ZERO,
            source: if hit { crate::exec::ResultSource::Cache } else { crate::exec::ResultSource::Ran },
            kept_sandbox: None,
            disk_full: false,
        })
    }
}

#[test]
fn a_recording_twin_runs_only_after_its_file_ran_and_only_while_the_files_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut goals = crate::goals::test_support::goals(&dir.path().join("cache"), 1);
    let runner = std::sync::Arc::new(Scripted(std::sync::Mutex::new(Vec::new())));
    goals.runner = runner.clone();
    let process =
        |name: &str| crate::exec::Process::new(vec![name.to_owned()], Digest::empty(DigestFunction::Blake3));
    let main = [process("ran-a"), process("hit-b"), process("ran-c")];
    let spare = [(0, process("twin-a")), (1, process("twin-b")), (2, process("twin-c"))];
    let results = crate::goals::run_with_spare(&goals, &main, &spare, 8, &|_, _| {});
    assert_eq!(results.len(), 3);
    let asked = runner.0.lock().unwrap().clone();
    // Every file first; a cache hit needs no twin; a twin still waiting when the last file
    // ends is given up (the last file's own twin always is).
    let mut files = asked[..3].to_vec();
    files.sort();
    assert_eq!(files, ["hit-b", "ran-a", "ran-c"], "{asked:?}");
    assert!(!asked.contains(&"twin-b".to_owned()), "{asked:?}");
    assert!(!asked.contains(&"twin-c".to_owned()), "{asked:?}");
    // A slow last file leaves time: the twin of the file that ran before it runs.
    runner.0.lock().unwrap().clear();
    let main = [process("ran-a"), process("ran-slow")];
    let spare = [(0, process("twin-a")), (1, process("twin-slow"))];
    crate::goals::run_with_spare(&goals, &main, &spare, 8, &|_, _| {});
    let asked = runner.0.lock().unwrap().clone();
    assert!(asked.contains(&"twin-a".to_owned()), "{asked:?}");
    assert!(!asked.contains(&"twin-slow".to_owned()), "{asked:?}");
}
