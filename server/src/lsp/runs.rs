//! Editor runs: one job (lint, type check and test some files of one workspace) executed on a blocking thread against a snapshot of the project, with its own cancel.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engine::exec::Cancel;
use engine::goals::check::CheckFinding;
use engine::goals::lint::{LintOptions, LintedFile};
use engine::goals::test::{CoverageRuns, TestFileResult, TestOptions};
use engine::goals::{self, Goals};
use engine::graph::FileId;
use engine::project::Project;

use super::settings::Settings;

/// What one run does. Files are repository paths.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    pub root: PathBuf,
    pub lint: BTreeSet<String>,
    pub typecheck: BTreeSet<String>,
    pub tests: BTreeSet<String>,
    /// Test files of `tests` of which only some tests run (node ids after `path::`); a
    /// file not here runs whole.
    pub only: BTreeMap<String, BTreeSet<String>>,
    pub settings: Settings,
    /// Run tests even when cached (a user asked for this run explicitly with force).
    pub force: bool,
    /// Answers from the cache only: nothing runs, nothing is built, and what has no cached
    /// result is left out quietly (the last results shown again on start).
    pub cache_only: bool,
    /// The saved files that started it: its test files run likely-failing first
    /// (`goals::order`), each file's result published as it finishes.
    pub changed: BTreeSet<String>,
    /// Catching up while the editor is idle: its test files run again only to record the
    /// lines they execute (`CoverageRuns::Only`); any other run cancels it, it is never
    /// taken over, and its outcome is dropped.
    pub catch_up: bool,
}

impl Job {
    /// Takes over the work of a run this one supersedes.
    pub fn absorb(&mut self, older: &Job) {
        self.lint.extend(older.lint.iter().cloned());
        self.typecheck.extend(older.typecheck.iter().cloned());
        for file in &older.tests {
            let mine_whole = self.tests.contains(file) && !self.only.contains_key(file);
            match older.only.get(file) {
                Some(ids) if !mine_whole => {
                    self.only.entry(file.clone()).or_default().extend(ids.iter().cloned());
                }
                _ => {
                    self.only.remove(file);
                }
            }
        }
        self.tests.extend(older.tests.iter().cloned());
        self.force |= older.force;
        self.cache_only &= older.cache_only;
        self.changed.extend(older.changed.iter().cloned());
    }

    /// True when a save of `path`, affecting `tests`, makes this run's results stale.
    pub fn made_stale_by(&self, path: &str, tests: &BTreeSet<String>) -> bool {
        self.lint.contains(path) || self.typecheck.contains(path) || !self.tests.is_disjoint(tests)
    }

    pub fn is_empty(&self) -> bool {
        self.lint.is_empty() && self.typecheck.is_empty() && self.tests.is_empty()
    }
}

/// What a run produced. Results are plain engine data; the state decides what to show.
pub struct Outcome {
    pub job: Job,
    /// The project as the run saw it.
    pub snapshot: Arc<Project>,
    /// Open documents with unsaved changes when the run started: the run read their
    /// saved content, so its marks never apply to what the buffer holds.
    pub dirty: HashSet<String>,
    pub lint: Vec<LintedFile>,
    pub checks: Vec<(String, Vec<CheckFinding>)>,
    pub tests: Vec<TestFileResult>,
    /// Tool failures, as sentences.
    pub errors: Vec<String>,
    /// What a tool warned about while it still gave results (mypy on its configuration).
    pub warnings: Vec<String>,
    pub cancelled: bool,
    pub elapsed: Duration,
}

/// Part of a run's results, shown before the run ends.
pub enum Early {
    /// Lint and type-check findings, once those tools are done (before the tests run).
    Findings { lint: Vec<LintedFile>, checks: Vec<(String, Vec<CheckFinding>)> },
    /// One test file's result, as it finishes.
    Test(TestFileResult),
}

impl Outcome {
    /// A run's outcome so far, to show before the rest finishes.
    pub fn early(job: Job, snapshot: Arc<Project>, dirty: HashSet<String>, early: Early) -> Self {
        let (lint, checks, tests) = match early {
            Early::Findings { lint, checks } => (lint, checks, Vec::new()),
            Early::Test(result) => (Vec::new(), Vec::new(), vec![result]),
        };
        Self {
            job,
            snapshot,
            dirty,
            lint,
            checks,
            tests,
            errors: Vec::new(),
            warnings: Vec::new(),
            cancelled: false,
            elapsed: Duration::ZERO,
        }
    }
}

/// Runs a job; `progress` receives short lines ("tests 3/12, 2 cached"), `early` the lint and
/// type-check findings before the tests start, then every test file's result as it finishes
/// (in the order the files run).
pub fn execute(
    base: &Goals,
    job: Job,
    snapshot: Arc<Project>,
    dirty: HashSet<String>,
    cancel: &Cancel,
    progress: &(dyn Fn(String) + Sync),
    early: &(dyn Fn(Early) + Sync),
) -> Outcome {
    let started = std::time::Instant::now();
    let mut outcome = Outcome {
        job,
        snapshot,
        dirty,
        lint: Vec::new(),
        checks: Vec::new(),
        tests: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        cancelled: false,
        elapsed: Duration::ZERO,
    };
    let project = Arc::clone(&outcome.snapshot);
    let goals = match base.with_cancel(cancel.clone()).with_overrides(&project) {
        Ok(goals) if outcome.job.cache_only => goals.building_nothing(),
        Ok(goals) => goals,
        Err(e) => {
            outcome.errors.push(e.to_string());
            return outcome;
        }
    };
    let ids =
        |paths: &BTreeSet<String>| -> Vec<FileId> { paths.iter().filter_map(|p| project.id(p)).collect() };
    let mut say = |line: &str| progress(line.to_owned());
    let job = &outcome.job;

    let lint = ids(&job.lint);
    if !lint.is_empty() {
        progress(format!("lint {} file(s)", lint.len()));
        for linter in &job.settings.linters {
            let options = LintOptions { cache_only: job.cache_only, ..LintOptions::default() };
            match goals::lint::lint(&goals, &project, &lint, *linter, &options, &mut say) {
                Ok(files) => merge_lint(&mut outcome.lint, files),
                Err(e) => outcome.errors.push(e.to_string()),
            }
        }
    }
    let check = ids(&job.typecheck);
    if let Some(checker) = job.settings.typecheck
        && !check.is_empty()
        && !cancel.is_cancelled()
    {
        progress(format!("{} {} file(s)", checker.name(), check.len()));
        let options = goals::check::CheckOptions { checker, force: false };
        match goals::check::check(&goals, &project, &check, &options, &mut say) {
            Ok(report) => {
                outcome.warnings.extend(report.warnings.iter().map(|w| format!("{}: {w}", checker.name())));
                for path in &job.typecheck {
                    let mine = report.findings.iter().filter(|f| &f.file == path).cloned().collect();
                    outcome.checks.push((path.clone(), mine));
                }
            }
            Err(e) => outcome.errors.push(e.to_string()),
        }
    }
    let tests = likely_first(&goals, job, &project);
    if !tests.is_empty() && !cancel.is_cancelled() {
        if !outcome.lint.is_empty() || !outcome.checks.is_empty() {
            early(Early::Findings { lint: outcome.lint.clone(), checks: outcome.checks.clone() });
        }
        let total = tests.len();
        let counts = std::sync::Mutex::new((0usize, 0usize));
        // The environment first (on a new machine it takes a while), so that "tests 0/N"
        // means the tests are starting.
        if let Err(e) = goals::test::environments(&goals, &project, &tests, &mut say) {
            outcome.errors.push(e.to_string());
        } else {
            progress(format!("tests 0/{total}"));
            let options = TestOptions {
                timeout: job.settings.test_timeout.map(Duration::from_secs),
                force: job.force,
                cache_only: job.cache_only,
                only: job
                    .only
                    .iter()
                    .map(|(file, ids)| (file.clone(), ids.iter().cloned().collect()))
                    .collect(),
                coverage: if job.catch_up { CoverageRuns::Only } else { CoverageRuns::Auto },
                ..TestOptions::default()
            };
            let each_test = |result: &TestFileResult| early(Early::Test(result.clone()));
            let on_done = |_: &str, cached: bool, _: Option<i32>| {
                if let Ok(mut counts) = counts.lock() {
                    counts.0 += 1;
                    counts.1 += usize::from(cached);
                    progress(format!("tests {}/{total}, {} cached", counts.0, counts.1));
                }
            };
            match goals::test::test(&goals, &project, &tests, &[], &options, &on_done, &each_test, &mut say) {
                Ok(results) => outcome.tests = results,
                Err(e) => outcome.errors.push(e.to_string()),
            }
        }
    }
    if let Err(e) = goals.finish() {
        outcome.errors.push(e.to_string());
    }
    outcome.cancelled = cancel.is_cancelled();
    outcome.elapsed = started.elapsed();
    outcome
}

/// The job's test files, those whose last run executed what its saved files changed first
/// (their content now read from disk: the run reads the same).
fn likely_first(goals: &Goals, job: &Job, project: &Project) -> Vec<FileId> {
    let paths: Vec<String> = job.tests.iter().filter(|p| project.id(p).is_some()).cloned().collect();
    let changed: Vec<goals::order::Changed> = job
        .changed
        .iter()
        .filter_map(|path| {
            let text = std::fs::read(job.root.join(path)).ok()?;
            Some(goals::order::Changed { path: path.clone(), text })
        })
        .collect();
    let ordered = if changed.is_empty() {
        paths
    } else {
        goals::order::likely_first(goals, &job.root, &paths, &changed)
    };
    ordered.iter().filter_map(|p| project.id(p)).collect()
}

/// Several linters' findings for the same file become one list.
fn merge_lint(into: &mut Vec<LintedFile>, files: Vec<LintedFile>) {
    for file in files {
        match into.iter_mut().find(|f| f.file == file.file) {
            Some(existing) => {
                existing.cached &= file.cached;
                existing.findings.extend(file.findings);
            }
            None => into.push(file),
        }
    }
}

#[cfg(test)]
mod tests;
