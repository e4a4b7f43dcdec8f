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
