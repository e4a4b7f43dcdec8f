//! Unit tests of `runs`: how a newer run takes over the work of the runs it supersedes, and which saves make a run stale.

use std::collections::{BTreeMap, BTreeSet};

use super::Job;
use crate::lsp::settings::Settings;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn job(id: u64, lint: &[&str], tests: &[&str]) -> Job {
    Job {
        id,
        root: "/repo".into(),
        lint: set(lint),
        typecheck: BTreeSet::new(),
        tests: set(tests),
        only: BTreeMap::new(),
        settings: Settings::default(),
        force: false,
        cache_only: false,
        changed: BTreeSet::new(),
        catch_up: false,
    }
}

#[test]
fn a_newer_run_takes_over_all_the_work_of_the_older() {
    let mut newer = job(2, &["a.py"], &["test_a.py"]);
    let mut older = job(1, &["b.py"], &["test_b.py"]);
    older.typecheck = set(&["b.py"]);
    older.force = true;
    newer.absorb(&older);
    assert_eq!(newer.id, 2, "the newer run keeps its number: the older one's results are never shown");
    assert_eq!(newer.lint, set(&["a.py", "b.py"]));
    assert_eq!(newer.typecheck, set(&["b.py"]));
    assert_eq!(newer.tests, set(&["test_a.py", "test_b.py"]));
    assert!(newer.only.is_empty(), "both files run whole");
    assert!(newer.force, "a run a user forced stays forced when taken over");
}

#[test]
fn a_whole_file_wins_over_a_selection_of_its_tests() {
    // The older run ran only test_x of test_a.py; the newer runs the whole file.
    let mut newer = job(2, &[], &["test_a.py"]);
    let mut older = job(1, &[], &["test_a.py"]);
    older.only.insert("test_a.py".to_owned(), set(&["test_x"]));
    newer.absorb(&older);
    assert_eq!(newer.tests, set(&["test_a.py"]));
    assert!(!newer.only.contains_key("test_a.py"));
    // The other way round: the older ran the whole file, so the newer must too.
    let mut newer = job(4, &[], &["test_a.py"]);
    newer.only.insert("test_a.py".to_owned(), set(&["test_y"]));
    let older = job(3, &[], &["test_a.py"]);
    newer.absorb(&older);
    assert!(!newer.only.contains_key("test_a.py"), "{:?}", newer.only);
}

#[test]
fn selections_of_the_same_file_add_up() {
    let mut newer = job(2, &[], &["test_a.py"]);
    newer.only.insert("test_a.py".to_owned(), set(&["test_y"]));
    let mut older = job(1, &[], &["test_a.py", "test_b.py"]);
    older.only.insert("test_a.py".to_owned(), set(&["test_x"]));
    older.only.insert("test_b.py".to_owned(), set(&["test_z"]));
    newer.absorb(&older);
    assert_eq!(newer.only["test_a.py"], set(&["test_x", "test_y"]));
    assert_eq!(newer.only["test_b.py"], set(&["test_z"]), "a file only the older ran keeps its selection");
    assert_eq!(newer.tests, set(&["test_a.py", "test_b.py"]));
}

#[test]
fn taking_over_a_real_run_makes_a_cache_replay_real() {
    let mut replay = job(2, &[], &["test_a.py"]);
    replay.cache_only = true;
    replay.absorb(&job(1, &[], &["test_b.py"]));
    assert!(!replay.cache_only);
    let mut replay = job(4, &[], &["test_a.py"]);
    replay.cache_only = true;
    let mut older = job(3, &[], &["test_b.py"]);
    older.cache_only = true;
    replay.absorb(&older);
    assert!(replay.cache_only);
}

#[test]
fn a_save_makes_stale_the_runs_that_read_the_file_or_run_its_tests() {
    let mut run = job(1, &["a.py"], &["test_a.py"]);
    run.typecheck = set(&["c.py"]);
    assert!(run.made_stale_by("a.py", &BTreeSet::new()), "it linted the saved file");
    assert!(run.made_stale_by("c.py", &BTreeSet::new()), "it type-checked the saved file");
    assert!(run.made_stale_by("lib.py", &set(&["test_a.py", "test_q.py"])), "it runs an affected test");
    assert!(!run.made_stale_by("b.py", &set(&["test_b.py"])), "nothing it does depends on b.py");
    assert!(job(2, &[], &[]).is_empty() && !run.is_empty());
}
