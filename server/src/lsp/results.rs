//! The last results of a workspace's runs (lint, type check, tests), each with the content digests it was computed from, so that marks never outlive the content they describe.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use engine::goals::check::CheckFinding;
use engine::goals::lint::LintFinding;
use engine::goals::test::{Outcome as TestOutcome, TestFileResult};
use engine::parse_cache::ContentDigest;
use engine::project::Project;

use super::runs::Outcome;

/// Findings about one file, valid while the file holds `digest`.
pub struct FileRecord<T> {
    pub run: u64,
    pub digest: ContentDigest,
    pub findings: Vec<T>,
}

/// One test file's last result and the digests of the files its marks point into.
pub struct TestRecord {
    pub run: u64,
    pub result: TestFileResult,
    pub seen: HashMap<String, ContentDigest>,
}

#[derive(Default)]
pub struct Results {
    pub lint: HashMap<String, FileRecord<LintFinding>>,
    /// Type-check findings with the checker's name.
    pub checks: HashMap<String, FileRecord<(&'static str, CheckFinding)>>,
    pub tests: BTreeMap<String, TestRecord>,
}

/// The digest a run saw for a file: none when the editor held unsaved changes.
fn seen(outcome: &Outcome, path: &str) -> Option<ContentDigest> {
    if outcome.dirty.contains(path) {
        return None;
    }
    outcome.snapshot.id(path).and_then(|id| outcome.snapshot.file(id)).map(|f| f.digest)
}

impl Results {
    /// Records a finished run; returns every file whose marks may have changed. A result
    /// never replaces one from a newer run.
    pub fn record(&mut self, outcome: &Outcome) -> BTreeSet<String> {
        let run = outcome.job.id;
        let mut touched = BTreeSet::new();
        for linted in &outcome.lint {
            touched.insert(linted.file.clone());
            put(&mut self.lint, &linted.file, seen(outcome, &linted.file), run, linted.findings.clone());
        }
        let checker = outcome.job.settings.typecheck.map_or("typecheck", |c| c.name());
        for (path, findings) in &outcome.checks {
            touched.insert(path.clone());
            let findings = findings.iter().map(|f| (checker, f.clone())).collect();
            put(&mut self.checks, path, seen(outcome, path), run, findings);
        }
        for result in &outcome.tests {
            if let Some(old) = self.tests.get(&result.file) {
                if old.run > run {
                    continue;
                }
                touched.extend(old.seen.keys().cloned());
            }
            let mut marked: BTreeSet<String> = BTreeSet::from([result.file.clone()]);
            for case in &result.tests {
                marked.extend(case.location.iter().chain(&case.source_location).map(|l| l.file.clone()));
            }
            let mut seen: HashMap<String, ContentDigest> =
                marked.iter().filter_map(|p| seen(outcome, p).map(|d| (p.clone(), d))).collect();
            touched.extend(marked);
            let mut result = result.clone();
            // Some tests of a file ran: the file's other results stay while it is unchanged.
            if let Some(ids) = outcome.job.only.get(&result.file)
                && let Some(old) = self.tests.get(&result.file)
                && old.seen.get(&result.file).is_some_and(|d| seen.get(&result.file) == Some(d))
            {
                result = merge_selected(&old.result, result, ids);
                for (path, digest) in &old.seen {
                    seen.entry(path.clone()).or_insert(*digest);
                }
            }
            self.tests.insert(result.file.clone(), TestRecord { run, result, seen });
        }
        touched
    }

    /// Keeps, of a replay from the cache (`replay`), only the test files no newer run has
    /// reported or is testing (`newer_running`: the files newer runs of its root test): a
    /// replay can end after a save's run began, and that run is the one to show.
    pub fn drop_overtaken(&self, replay: &mut Outcome, newer_running: &BTreeSet<String>) {
        let run = replay.job.id;
        replay.tests.retain(|t| {
            !newer_running.contains(&t.file) && self.tests.get(&t.file).is_none_or(|r| r.run <= run)
        });
    }

    /// Forgets everything (the cache was cleared or the workspace reloaded); returns the
    /// files that had marks.
    pub fn clear(&mut self) -> BTreeSet<String> {
        let mut touched: BTreeSet<String> = self.lint.keys().chain(self.checks.keys()).cloned().collect();
        for record in self.tests.values() {
            touched.extend(record.seen.keys().cloned());
        }
        *self = Self::default();
        touched
    }

    /// Whether a record made for `digest` still describes `path` in `project`.
    pub fn current(project: &Project, path: &str, digest: Option<&ContentDigest>) -> bool {
        let now = project.id(path).and_then(|id| project.file(id)).map(|f| f.digest);
        digest.is_some() && now.as_ref() == digest
    }

    /// The last result of a test (pytest node id without parameters), when its file is
    /// unchanged since: (outcome, summed duration, cached).
    pub fn test_result(&self, project: &Project, file: &str, id: &str) -> Option<(TestOutcome, f64, bool)> {
        let record = self.tests.get(file)?;
        if !Self::current(project, file, record.seen.get(file)) {
            return None;
        }
        let mut found: Option<(TestOutcome, f64, bool)> = None;
        for case in &record.result.tests {
            if !selects(&case.name, file, id) {
                continue;
            }
            found = Some(match found {
                None => (case.outcome, case.duration_s, record.result.cached),
                Some((outcome, duration, cached)) => {
                    (worse(outcome, case.outcome), duration + case.duration_s, cached)
                }
            });
        }
        found
    }
}

fn put<T>(
    map: &mut HashMap<String, FileRecord<T>>,
    path: &str,
    digest: Option<ContentDigest>,
    run: u64,
    findings: Vec<T>,
) {
    if map.get(path).is_some_and(|old| old.run > run) {
        return;
    }
    match digest {
        Some(digest) => {
            map.insert(path.to_owned(), FileRecord { run, digest, findings });
        }
        None => {
            map.remove(path);
        }
    }
}

/// Whether pytest node id `name` (`path::TestA::test_b[1]`) is `id` of `file` or one of its
/// parameters or methods.
fn selects(name: &str, file: &str, id: &str) -> bool {
    name.strip_prefix(file)
        .and_then(|rest| rest.strip_prefix("::"))
        .and_then(|rest| rest.strip_prefix(id))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('[') || rest.starts_with("::"))
}

/// A whole file's earlier result with the tests of a selection replaced by their new ones.
fn merge_selected(old: &TestFileResult, new: TestFileResult, ids: &BTreeSet<String>) -> TestFileResult {
    use engine::goals::test::FileOutcome;
    if !matches!(new.outcome, FileOutcome::Passed | FileOutcome::Failed) {
        return new; // the selection itself could not run: that is the news
    }
    let mut merged = old.clone();
    merged.tests.retain(|case| !ids.iter().any(|id| selects(&case.name, &old.file, id)));
    merged.tests.extend(new.tests);
    let failed = merged.tests.iter().any(|c| matches!(c.outcome, TestOutcome::Failed | TestOutcome::Error));
    merged.outcome = if failed { FileOutcome::Failed } else { FileOutcome::Passed };
    merged.output = if failed { new.output } else { String::new() };
    merged.cached = new.cached;
    merged
}

/// The outcome that summarises two (a failure wins over a pass).
fn worse(a: TestOutcome, b: TestOutcome) -> TestOutcome {
    let rank = |o: TestOutcome| match o {
        TestOutcome::Skipped => 0,
        TestOutcome::Passed => 1,
        TestOutcome::Failed => 3,
        TestOutcome::Error => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashSet};
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use engine::config::Config;
    use engine::goals::lint::{LintFinding, LintedFile};
    use engine::goals::test::{FileOutcome, Location, Outcome as TestOutcome, TestCase, TestFileResult};
    use engine::project::{Project, SourceFile};

    use super::Results;
    use crate::lsp::runs::{Job, Outcome};
    use crate::lsp::settings::Settings;

    /// A project of in-memory files under `/repo`.
    fn project(files: &[(&str, &str)]) -> Arc<Project> {
        let config = Config::default();
        let options = Project::parse_options(&config);
        let files = files.iter().map(|(path, text)| SourceFile::from_bytes(path, text.as_bytes(), options));
        Arc::new(Project::new(Path::new("/repo"), config, files.collect(), &[]).unwrap())
    }

    fn job(id: u64) -> Job {
        Job {
            id,
            root: "/repo".into(),
            lint: BTreeSet::new(),
            typecheck: BTreeSet::new(),
            tests: BTreeSet::new(),
            only: BTreeMap::new(),
            settings: Settings::default(),
            force: false,
            cache_only: false,
            changed: BTreeSet::new(),
            catch_up: false,
        }
    }

    fn outcome(job: Job, snapshot: &Arc<Project>) -> Outcome {
        Outcome {
            job,
            snapshot: Arc::clone(snapshot),
            dirty: HashSet::new(),
            lint: Vec::new(),
            checks: Vec::new(),
            tests: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            cancelled: false,
            elapsed: Duration::ZERO,
        }
    }

    fn linted(file: &str, code: &str) -> LintedFile {
        let finding = LintFinding {
            file: file.to_owned(),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 2,
            code: code.to_owned(),
            message: format!("{code} found"),
            fix_available: false,
            fix: None,
            tool: "ruff",
        };
        LintedFile {
            file: file.to_owned(),
            cached: false,
            source: engine::exec::ResultSource::Ran,
            findings: vec![finding],
        }
    }

    fn case(name: &str, outcome: TestOutcome, raised_in: Option<&str>) -> TestCase {
        TestCase {
            name: name.to_owned(),
            outcome,
            duration_s: 0.5,
            message: None,
            detail: None,
            location: None,
            source_location: raised_in.map(|file| Location { file: file.to_owned(), line: 1 }),
        }
    }

    fn tested(file: &str, cases: Vec<TestCase>) -> TestFileResult {
        let failed = cases.iter().any(|c| matches!(c.outcome, TestOutcome::Failed | TestOutcome::Error));
        TestFileResult {
            file: file.to_owned(),
            outcome: if failed { FileOutcome::Failed } else { FileOutcome::Passed },
            cached: false,
            source: engine::exec::ResultSource::Ran,
            duration_s: 1.0,
            tests: cases,
            output: String::new(),
            missing_inputs: Vec::new(),
            kept_sandbox: None,
            resolve: "default".to_owned(),
        }
    }

    /// Whether the lint marks of `path` would be shown for `project`'s content now.
    fn lint_shown(results: &Results, project: &Project, path: &str) -> bool {
        results.lint.get(path).is_some_and(|r| Results::current(project, path, Some(&r.digest)))
    }

    #[test]
    fn a_result_is_shown_only_while_the_file_holds_the_content_it_was_computed_from() {
        let before = project(&[("app.py", "import os\n")]);
        let mut results = Results::default();
        let mut run = outcome(job(1), &before);
        run.lint.push(linted("app.py", "F401"));
        assert_eq!(results.record(&run), BTreeSet::from(["app.py".to_owned()]));
        assert!(lint_shown(&results, &before, "app.py"));
        // An edit: the marks go (the record is kept for an undo back to the same content).
        let edited = project(&[("app.py", "import os\nprint(os)\n")]);
        assert!(!lint_shown(&results, &edited, "app.py"));
        assert!(lint_shown(&results, &project(&[("app.py", "import os\n")]), "app.py"));
        // A file that is gone has no current content.
        assert!(!lint_shown(&results, &project(&[("other.py", "")]), "app.py"));
        assert!(!Results::current(&before, "app.py", None));
    }

    #[test]
    fn a_run_over_unsaved_changes_leaves_no_mark_and_takes_older_ones_away() {
        let project = project(&[("app.py", "import os\n")]);
        let mut results = Results::default();
        let mut first = outcome(job(1), &project);
        first.lint.push(linted("app.py", "F401"));
        results.record(&first);
        // The buffer differed from what the run read: what it found describes neither.
        let mut second = outcome(job(2), &project);
        second.dirty.insert("app.py".to_owned());
        second.lint.push(linted("app.py", "E501"));
        second.tests.push(tested("app.py", vec![case("app.py::test_x", TestOutcome::Failed, None)]));
        assert!(results.record(&second).contains("app.py"));
        assert!(!results.lint.contains_key("app.py"));
        assert!(results.tests["app.py"].seen.is_empty());
        assert_eq!(results.test_result(&project, "app.py", "test_x"), None);
    }

    #[test]
    fn an_older_run_finishing_late_never_replaces_a_newer_result() {
        let project = project(&[("app.py", "import os\n"), ("test_app.py", "def test_a(): pass\n")]);
        let mut results = Results::default();
        let mut newer = outcome(job(7), &project);
        newer.lint.push(linted("app.py", "NEW1"));
        newer.tests.push(tested("test_app.py", vec![case("test_app.py::test_a", TestOutcome::Passed, None)]));
        results.record(&newer);
        let mut older = outcome(job(3), &project);
        older.lint.push(linted("app.py", "OLD1"));
        older.tests.push(tested("test_app.py", vec![case("test_app.py::test_a", TestOutcome::Failed, None)]));
        results.record(&older);
        assert_eq!(results.lint["app.py"].run, 7);
        assert_eq!(results.lint["app.py"].findings[0].code, "NEW1");
        assert_eq!(results.tests["test_app.py"].run, 7);
        let (shown, _, _) = results.test_result(&project, "test_app.py", "test_a").unwrap();
        assert_eq!(shown, TestOutcome::Passed);
    }

    #[test]
    fn a_failure_marks_the_file_it_raised_in_only_while_that_file_is_unchanged() {
        let files =
            [("src/lib.py", "def f():\n    raise ValueError\n"), ("test_lib.py", "def test_f(): f()\n")];
        let before = project(&files);
        let mut results = Results::default();
        let mut run = outcome(job(1), &before);
        let failing = case("test_lib.py::test_f", TestOutcome::Failed, Some("src/lib.py"));
        run.tests.push(tested("test_lib.py", vec![failing]));
        let touched = results.record(&run);
        assert_eq!(touched, BTreeSet::from(["src/lib.py".to_owned(), "test_lib.py".to_owned()]));
        let record = &results.tests["test_lib.py"];
        assert!(Results::current(&before, "src/lib.py", record.seen.get("src/lib.py")));
        // The library is fixed: its "raised here" mark goes, the test file's result stays
        // (its own content did not change) until a run says otherwise.
        let fixed = project(&[("src/lib.py", "def f():\n    return 1\n"), files[1]]);
        let record = &results.tests["test_lib.py"];
        assert!(!Results::current(&fixed, "src/lib.py", record.seen.get("src/lib.py")));
        assert!(results.test_result(&fixed, "test_lib.py", "test_f").is_some());
        // A new result for the test file takes the old marks away too.
        let mut again = outcome(job(2), &fixed);
        again.tests.push(tested("test_lib.py", vec![case("test_lib.py::test_f", TestOutcome::Passed, None)]));
        assert!(results.record(&again).contains("src/lib.py"));
        assert!(!results.tests["test_lib.py"].seen.contains_key("src/lib.py"));
    }

    #[test]
    fn a_run_of_some_tests_keeps_the_others_of_an_unchanged_file() {
        let project = project(&[("test_m.py", "def test_a(): pass\ndef test_b(): pass\n")]);
        let mut results = Results::default();
        let mut whole = outcome(job(1), &project);
        whole.tests.push(tested(
            "test_m.py",
            vec![
                case("test_m.py::test_a", TestOutcome::Failed, None),
                case("test_m.py::test_b[1]", TestOutcome::Passed, None),
                case("test_m.py::test_b[2]", TestOutcome::Failed, None),
            ],
        ));
        results.record(&whole);
        assert_eq!(
            results.test_result(&project, "test_m.py", "test_b").map(|r| r.0),
            Some(TestOutcome::Failed)
        );
        let mut some = job(2);
        some.only.insert("test_m.py".to_owned(), BTreeSet::from(["test_a".to_owned()]));
        let mut rerun = outcome(some, &project);
        rerun.tests.push(tested("test_m.py", vec![case("test_m.py::test_a", TestOutcome::Passed, None)]));
        results.record(&rerun);
        let record = &results.tests["test_m.py"];
        assert_eq!(record.result.tests.len(), 3, "test_b's results stay beside test_a's new one");
        assert_eq!(record.result.outcome, FileOutcome::Failed, "test_b[2] still fails");
        assert_eq!(
            results.test_result(&project, "test_m.py", "test_a").map(|r| r.0),
            Some(TestOutcome::Passed)
        );
        // The sum of a test's parameters, the worst outcome winning.
        assert_eq!(
            results.test_result(&project, "test_m.py", "test_b"),
            Some((TestOutcome::Failed, 1.0, false))
        );
    }

    #[test]
    fn a_run_of_some_tests_of_a_changed_file_replaces_the_whole_result() {
        let before = project(&[("test_m.py", "def test_a(): pass\ndef test_b(): pass\n")]);
        let mut results = Results::default();
        let mut whole = outcome(job(1), &before);
        whole.tests.push(tested(
            "test_m.py",
            vec![
                case("test_m.py::test_a", TestOutcome::Passed, None),
                case("test_m.py::test_b", TestOutcome::Failed, None),
            ],
        ));
        results.record(&whole);
        let after = project(&[("test_m.py", "def test_a(): pass\ndef test_b(): assert 0\n")]);
        let mut some = job(2);
        some.only.insert("test_m.py".to_owned(), BTreeSet::from(["test_a".to_owned()]));
        let mut rerun = outcome(some, &after);
        rerun.tests.push(tested("test_m.py", vec![case("test_m.py::test_a", TestOutcome::Passed, None)]));
        results.record(&rerun);
        let names: Vec<&str> =
            results.tests["test_m.py"].result.tests.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["test_m.py::test_a"], "test_b's old result described other content");
        assert_eq!(results.test_result(&after, "test_m.py", "test_b"), None);
    }

    #[test]
    fn clearing_names_every_file_that_had_marks() {
        let project = project(&[("app.py", ""), ("test_app.py", "")]);
        let mut results = Results::default();
        let mut run = outcome(job(1), &project);
        run.lint.push(linted("app.py", "E1"));
        run.tests
            .push(tested("test_app.py", vec![case("test_app.py::t", TestOutcome::Failed, Some("app.py"))]));
        results.record(&run);
        assert_eq!(results.clear(), BTreeSet::from(["app.py".to_owned(), "test_app.py".to_owned()]));
        assert!(results.lint.is_empty() && results.tests.is_empty());
    }

    #[test]
    fn a_replay_that_ends_after_a_newer_run_began_keeps_only_what_that_run_does_not_cover() {
        let project = project(&[("test_a.py", ""), ("test_b.py", ""), ("test_c.py", "")]);
        let mut results = Results::default();
        // A save's run (2) has reported test_a.py and is still testing test_b.py.
        let mut saved = outcome(job(2), &project);
        saved.tests.push(tested("test_a.py", vec![case("test_a.py::test_x", TestOutcome::Failed, None)]));
        results.record(&saved);
        // The replay (1) started before it and found all three in the cache.
        let mut replay = outcome(Job { cache_only: true, ..job(1) }, &project);
        for file in ["test_a.py", "test_b.py", "test_c.py"] {
            replay
                .tests
                .push(tested(file, vec![case(&format!("{file}::test_x"), TestOutcome::Passed, None)]));
        }
        results.drop_overtaken(&mut replay, &BTreeSet::from(["test_b.py".to_owned()]));
        let kept: Vec<&str> = replay.tests.iter().map(|t| t.file.as_str()).collect();
        assert_eq!(kept, ["test_c.py"]);
        results.record(&replay);
        assert_eq!(
            results.test_result(&project, "test_a.py", "test_x").map(|r| r.0),
            Some(TestOutcome::Failed)
        );
    }
}
