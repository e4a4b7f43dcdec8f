//! The goals that run tools (test, lint, fmt, check): which files, the options from the command line, print progress on stderr, results on stdout.

use engine::goals::Goals;
use engine::goals::check::{CheckFinding, CheckOptions, Checker};
use engine::goals::fmt::{FmtOutcome, Formatter};
use engine::goals::lint::{LintOptions, LintedFile, Linter};
use engine::goals::test::{FileOutcome, TestFileResult, TestOptions};
use engine::graph::FileId;
use engine::project::Project;
use engine::python::collection::NotRun;

use crate::output::{Failure, Format, Out, say};
use crate::setup::{Setup, git_changed, select, select_with};

/// After a goal: evict down to the cap if needed, and say so; problems are warnings.
fn finish(goals: &Goals) {
    match goals.finish() {
        Ok(Some(report)) if report.removed > 0 => say(format_args!(
            "the store was over its size cap: evicted {} least recently used blobs",
            report.removed
        )),
        Ok(_) => {}
        Err(e) => say(format_args!("warning: {e}")),
    }
    for report in goals.store.take_reports() {
        say(format_args!("warning: {report}"));
    }
}

pub fn progress(message: &str) {
    say(format_args!("{message}"));
}

/// `pleat lint`: exit 1 when there are findings.
pub fn lint(
    setup: &Setup,
    format: Format,
    project: &Project,
    ids: &[FileId],
    tool: &str,
    options: &LintOptions,
) -> Result<u8, Failure> {
    let linter = Linter::parse(tool).ok_or_else(|| {
        Failure::usage(format!("--tool {tool} is not a linter Pleat runs; use ruff, flake8 or pylint"))
    })?;
    let goals = setup.goals(project)?;
    let linted = engine::goals::lint::lint(&goals, project, ids, linter, options, &mut |m| progress(m))
        .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    let findings: usize = linted.iter().map(|f| f.findings.len()).sum();
    let cached = linted.iter().filter(|f| f.cached).count();
    let mut out = Out::new();
    if format == Format::Json {
        out.json(&lint_json(&linted, findings, cached))?;
    } else {
        for file in &linted {
            for f in &file.findings {
                let fix = if f.fix_available { " [fix available]" } else { "" };
                out.line(format_args!("{}:{}:{}: {} {}{fix}", f.file, f.line, f.column, f.code, f.message))?;
            }
        }
        let mark = if findings == 0 { "✓" } else { "✕" };
        out.line(format_args!(
            "{mark} {} {}: {findings} findings in {} files ({cached} cached)",
            linted.len(),
            if linted.len() == 1 { "file" } else { "files" },
            linted.iter().filter(|f| !f.findings.is_empty()).count()
        ))?;
    }
    out.finish()?;
    finish(&goals);
    Ok(u8::from(findings > 0))
}

/// How many results came from each source (`local`, `local-cache`, `remote-cache`, …), for
/// the JSON summaries: only the sources that gave any.
fn source_counts(sources: impl Iterator<Item = engine::exec::ResultSource>) -> serde_json::Value {
    serde_json::json!(engine::exec::ResultSource::counts(sources))
}

fn lint_json(linted: &[LintedFile], findings: usize, cached: usize) -> serde_json::Value {
    let files: Vec<serde_json::Value> = linted
        .iter()
        .map(|file| {
            serde_json::json!({
                "file": file.file,
                "cached": file.cached,
                "source": file.source.name(),
                "findings": file.findings.iter().map(|f| serde_json::json!({
                    "line": f.line, "column": f.column, "end_line": f.end_line, "end_column": f.end_column,
                    "code": f.code, "message": f.message, "fix_available": f.fix_available, "tool": f.tool,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let sources = source_counts(linted.iter().map(|f| f.source));
    serde_json::json!({"files": files, "summary": {"files": linted.len(), "findings": findings, "cached": cached, "sources": sources}})
}

/// `pleat test` as given on the command line.
pub struct TestCommand<'a> {
    pub specs: &'a [String],
    pub changed_since: Option<&'a str>,
    /// `--order likely-first`: files whose last run executed changed lines first.
    pub likely_first: bool,
    pub force: bool,
    pub timeout: Option<f64>,
    pub extra_env: &'a [String],
    pub pytest_args: &'a [String],
    /// `--debug`: each file's pytest in the terminal, one after another.
    pub debug: bool,
    /// `--debug-adapter`: under debugpy, waiting for an IDE.
    pub adapter: Option<engine::goals::debug::Adapter>,
}

/// `pleat test`: the selected test files (those affected by changes since a ref, with
/// `--changed-since`), the files pytest collects that Pleat does not run, and the
/// unreadable ones; then [`test`].
pub fn test_command(setup: &Setup, format: Format, command: &TestCommand<'_>) -> Result<u8, Failure> {
    let project = setup.load()?;
    let not_run = project.not_run();
    let plugin_cases = project.plugin_cases();
    let mut others = plugin_cases.clone();
    others.extend(not_run.iter().filter(|n| project.id(&n.file).is_none()).map(|n| n.file.clone()));
    // A test file that cannot be read is a failure of that file, never silence.
    let unreadable: Vec<String> = project.unreadable_tests().iter().map(|u| u.path.clone()).collect();
    others.extend(unreadable.iter().cloned());
    // `--debug` runs one test when a spec names it (`path::name`, as the editors' lenses do).
    let (specs, only) = if command.debug {
        super::workflow::node_id_specs(&project.root, command.specs)
    } else {
        (command.specs.to_vec(), std::collections::BTreeMap::new())
    };
    let (mut ids, others) = select_with(&project, &specs, &others)?;
    let unreadable: Vec<&engine::vfs::Unreadable> = if command.changed_since.is_some() {
        Vec::new()
    } else {
        project.unreadable_tests().into_iter().filter(|u| others.contains(&u.path)).collect()
    };
    let mut changed_files = Vec::new();
    if let Some(since) = command.changed_since {
        changed_files = git_changed(&project.root, since)?;
        let changed: Vec<FileId> = changed_files.iter().filter_map(|p| project.id(p)).collect();
        let affected = project.affected_tests(&changed);
        ids.retain(|id| affected.contains(id));
    }
    if command.debug {
        let options = TestOptions {
            extra_env: extra_env(command.extra_env)?,
            pytest_args: command.pytest_args.to_vec(),
            only,
            ..Default::default()
        };
        return super::workflow::test_debug(setup, &project, &ids, &options, command.adapter.as_ref());
    }
    // Files pytest collects that Pleat does not run are reported, never dropped
    // (they have no place in the import graph, so --changed-since leaves them out).
    let (not_run, cases): (Vec<_>, Vec<_>) = if command.changed_since.is_some() {
        (Vec::new(), Vec::new())
    } else {
        // conftest.py doctests are in the graph; the others are not.
        let selected =
            |file: &String| others.contains(file) || project.id(file).is_some_and(|id| ids.contains(&id));
        let not_run = not_run.into_iter().filter(|n| selected(&n.file)).collect();
        (not_run, others.into_iter().filter(|c| plugin_cases.contains(c)).collect())
    };
    let options = TestArgs {
        force: command.force,
        timeout: command.timeout,
        extra_env: command.extra_env,
        pytest_args: command.pytest_args,
        not_run: &not_run,
        cases: &cases,
        unreadable: &unreadable,
        changed: if command.likely_first { &changed_files } else { &[] },
    };
    test(setup, format, &project, &ids, &options)
}

/// What [`test`] runs: the options as given and the files selection found.
pub struct TestArgs<'a> {
    pub force: bool,
    pub timeout: Option<f64>,
    pub extra_env: &'a [String],
    pub pytest_args: &'a [String],
    /// Files pytest collects that Pleat does not run, reported with the results.
    pub not_run: &'a [NotRun],
    /// Plugin case files (pytest-mypy-plugins YAML) to run after the test files.
    pub cases: &'a [String],
    /// Selected test files that cannot be read: each a failure.
    pub unreadable: &'a [&'a engine::vfs::Unreadable],
    /// Files changed (`--changed-since`): test files run likely-failing first
    /// (`goals::order`); empty: by path.
    pub changed: &'a [String],
}

/// `pleat test`: Pants-style lines per file, a summary; exit 1 when any file fails.
pub fn test(
    setup: &Setup,
    format: Format,
    project: &Project,
    ids: &[FileId],
    args: &TestArgs<'_>,
) -> Result<u8, Failure> {
    let tests: Vec<FileId> = ids
        .iter()
        .copied()
        .filter(|id| project.file(*id).is_some_and(|f| f.kind == engine::project::TargetKind::Test))
        .collect();
    let extra_env = extra_env(args.extra_env)?;
    let timeout = match args.timeout {
        Some(s) if s > 0.0 && s.is_finite() => Some(std::time::Duration::from_secs_f64(s)),
        Some(s) => return Err(Failure::usage(format!("--timeout {s}: give a positive number of seconds"))),
        None => None,
    };
    let options = TestOptions {
        timeout,
        extra_env,
        pytest_args: args.pytest_args.to_vec(),
        force: args.force,
        ..TestOptions::default()
    };
    let goals = setup.goals(project)?;
    let tests = likely_first(&goals, project, tests, args.changed);
    let total = tests.len() + args.cases.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let cached_so_far = std::sync::atomic::AtomicUsize::new(0);
    let on_done = |file: &str, cached: bool, exit: Option<i32>| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let c = cached_so_far.fetch_add(usize::from(cached), std::sync::atomic::Ordering::SeqCst)
            + usize::from(cached);
        if format == Format::Human {
            let state = match (cached, exit) {
                (true, _) => "cached",
                (false, Some(0 | 5)) => "done",
                (false, Some(_)) => "done, failed",
                (false, None) => "did not finish",
            };
            say(format_args!(
                "[{n}/{total} finished, {} running or waiting, {c} cached] {file} ({state})",
                total - n
            ));
        }
    };
    if format == Format::Human && total > 0 {
        let files = if total == 1 { "test file" } else { "test files" };
        say(format_args!("running {total} {files}, {} at a time", engine::goals::parallelism()));
    }
    let results = engine::goals::test::test(
        &goals,
        project,
        &tests,
        args.cases,
        &options,
        &on_done,
        &|_| {},
        &mut |m| {
            progress(m);
        },
    )
    .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    let ran_failed = results.iter().filter(|r| !r.outcome.ok()).count();
    let failed = ran_failed + args.unreadable.len();
    let cached = results.iter().filter(|r| r.cached).count();
    let remote = results.iter().filter(|r| r.source == engine::exec::ResultSource::RemoteCache).count();
    let mut out = Out::new();
    if format == Format::Json {
        let mut json = test_json(&results, ran_failed, cached, args.not_run);
        if setup.remote_enabled() || remote > 0 {
            json["summary"]["remote_cache"] = remote.into();
        }
        let executed = results.iter().filter(|r| r.source == engine::exec::ResultSource::Remote).count();
        if executed > 0 || setup.remote_executor.get().is_some_and(Option::is_some) {
            json["summary"]["remote"] = executed.into();
        }
        json["unreadable"] = args
            .unreadable
            .iter()
            .map(|u| serde_json::json!({"file": u.path, "error": u.error}))
            .collect::<serde_json::Value>();
        json["summary"]["failed"] = failed.into();
        out.json(&json)?;
    } else {
        for r in &results {
            print_file(&mut out, r)?;
        }
        for u in args.unreadable {
            out.line(format_args!("✕ {u}"))?;
        }
        for n in args.not_run {
            out.line(format_args!("- not run by Pleat: {} (collected by {})", n.file, n.collector))?;
        }
        let passed = results.len() - ran_failed;
        let mark = if failed == 0 { "✓" } else { "✕" };
        let not_run = match args.not_run.len() {
            0 => String::new(),
            n => format!("; {n} not run by Pleat"),
        };
        let remote = if setup.remote_enabled() || remote > 0 {
            format!(", {remote} from the remote cache")
        } else {
            String::new()
        };
        out.line(format_args!(
            "{mark} {passed} passed, {failed} failed ({cached} cached, {} ran{remote}){not_run}",
            results.len() - cached
        ))?;
    }
    out.finish()?;
    finish(&goals);
    Ok(u8::from(failed > 0))
}

/// Test files whose last run executed what changed first (their content now read from disk).
fn likely_first(
    goals: &engine::goals::Goals,
    project: &Project,
    tests: Vec<FileId>,
    changed: &[String],
) -> Vec<FileId> {
    use engine::goals::order;
    let changed: Vec<order::Changed> = changed
        .iter()
        .filter_map(|path| {
            Some(order::Changed { path: path.clone(), text: std::fs::read(project.root.join(path)).ok()? })
        })
        .collect();
    if changed.is_empty() {
        return tests;
    }
    let paths: Vec<String> = tests.iter().map(|id| project.path(*id).to_owned()).collect();
    order::likely_first(goals, &project.root, &paths, &changed).iter().filter_map(|p| project.id(p)).collect()
}

fn print_file(out: &mut Out, r: &TestFileResult) -> Result<(), Failure> {
    let mark = if r.outcome.ok() { "✓" } else { "✕" };
    let cached = if r.cached { " (cached)" } else { "" };
    let what = match r.outcome {
        FileOutcome::Passed => String::new(),
        FileOutcome::NoTests => " no tests".to_owned(),
        other => format!(" {}", other.as_str().replace('_', " ")),
    };
    out.line(format_args!("{mark} {}{what} {:.2}s{cached}", r.file, r.duration_s))?;
    for t in r.tests.iter().filter(|t| matches!(t.outcome.as_str(), "failed" | "error")) {
        let at = t.location.as_ref().map(|l| format!(" ({}:{})", l.file, l.line)).unwrap_or_default();
        out.line(format_args!("    ✕ {}{at}: {}", t.name, t.message.as_deref().unwrap_or("")))?;
        // pytest's explanation after its first line (an assertion's diff), as pytest shows it.
        for line in t.detail.as_deref().unwrap_or("").lines().skip(1) {
            out.line(format_args!("        {line}").to_string().trim_end())?;
        }
        if let Some(source) = &t.source_location {
            out.line(format_args!("      raised at {}:{}", source.file, source.line))?;
        }
    }
    if let Some(kept) = &r.kept_sandbox {
        out.line(format_args!("    sandbox kept at {} (its __run.sh replays the run)", kept.display()))?;
    }
    for path in &r.missing_inputs {
        out.line(format_args!(
            "    ! {} read {path}, which is not among its inputs; add it with [tool.pleat.resources]",
            r.file
        ))?;
    }
    if !r.outcome.ok() && r.tests.iter().all(|t| t.outcome.as_str() != "failed") && !r.output.is_empty() {
        for line in r.output.lines() {
            out.line(format_args!("    | {line}"))?;
        }
    }
    Ok(())
}

fn test_json(
    results: &[TestFileResult],
    failed: usize,
    cached: usize,
    not_run: &[NotRun],
) -> serde_json::Value {
    let location = |l: &Option<engine::goals::test::Location>| {
        l.as_ref().map(|l| serde_json::json!({"file": l.file, "line": l.line}))
    };
    let files: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.file,
                "outcome": r.outcome.as_str(),
                "cached": r.cached,
                "source": r.source.name(),
                "duration_s": r.duration_s,
                "missing_inputs": r.missing_inputs,
                "kept_sandbox": r.kept_sandbox,
                "resolve": r.resolve,
                "tests": r.tests.iter().map(|t| serde_json::json!({
                    "name": t.name,
                    "outcome": t.outcome.as_str(),
                    "duration_s": t.duration_s,
                    "message": t.message,
                    "detail": t.detail,
                    "location": location(&t.location),
                    "source_location": location(&t.source_location),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let not_run: Vec<serde_json::Value> =
        not_run.iter().map(|n| serde_json::json!({"file": n.file, "collector": n.collector})).collect();
    serde_json::json!({
        "files": files,
        "not_run": not_run,
        "summary": {"passed": results.len() - failed, "failed": failed, "cached": cached, "ran": results.len() - cached,
            "sources": source_counts(results.iter().map(|r| r.source))},
    })
}

/// `pleat fmt [--check]`: exit 1 when --check finds work or a file cannot be formatted.
pub fn fmt(
    setup: &Setup,
    format: Format,
    project: &Project,
    ids: &[FileId],
    tool: &str,
    check: bool,
) -> Result<u8, Failure> {
    let formatter = Formatter::parse(tool).ok_or_else(|| {
        Failure::usage(format!("--tool {tool} is not a formatter Pleat runs; use ruff, black or isort"))
    })?;
    let goals = setup.goals(project)?;
    let results = engine::goals::fmt::fmt(&goals, project, ids, formatter, check, &mut |m| progress(m))
        .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    let count = |o: FmtOutcome| results.iter().filter(|r| r.outcome == o).count();
    let (changed, failed, meanwhile) =
        (count(FmtOutcome::Changed), count(FmtOutcome::Failed), count(FmtOutcome::ChangedMeanwhile));
    let mut out = Out::new();
    if format == Format::Json {
        let files: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                let outcome = match r.outcome {
                    FmtOutcome::Unchanged => "unchanged",
                    FmtOutcome::Changed if check => "would_change",
                    FmtOutcome::Changed => "changed",
                    FmtOutcome::ChangedMeanwhile => "changed_meanwhile",
                    FmtOutcome::Failed => "failed",
                };
                serde_json::json!({"file": r.file, "outcome": outcome, "cached": r.cached, "source": r.source.name(), "message": r.message})
            })
            .collect();
        let sources = source_counts(results.iter().map(|r| r.source));
        out.json(&serde_json::json!({"files": files, "summary": {"changed": changed, "failed": failed, "sources": sources}}))?;
    } else {
        for r in &results {
            match r.outcome {
                FmtOutcome::Unchanged => {}
                FmtOutcome::Changed if check => out.line(format_args!("would reformat {}", r.file))?,
                FmtOutcome::Changed => out.line(format_args!("reformatted {}", r.file))?,
                FmtOutcome::ChangedMeanwhile | FmtOutcome::Failed => {
                    out.line(format_args!("✕ {}: {}", r.file, r.message))?;
                }
            }
        }
        let verb = if check { "would change" } else { "changed" };
        let mark = if failed + meanwhile == 0 && !(check && changed > 0) { "✓" } else { "✕" };
        out.line(format_args!("{mark} {} files: {changed} {verb}, {failed} failed", results.len()))?;
    }
    out.finish()?;
    finish(&goals);
    Ok(u8::from(failed > 0 || meanwhile > 0 || (check && changed > 0)))
}

/// `pleat check`: mypy or pyright; exit 1 when it reports errors. Without specs, mypy checks
/// what its configuration names, as a bare `mypy` does.
pub fn check(
    setup: &Setup,
    format: Format,
    project: &Project,
    specs: &[String],
    tool: &str,
    force: bool,
) -> Result<u8, Failure> {
    let checker = engine::goals::check::Checker::parse(tool).ok_or_else(|| {
        Failure::usage(format!("--tool {tool} is not a type checker Pleat runs; use mypy or pyright"))
    })?;
    let configured = match checker {
        Checker::Mypy if specs.is_empty() => {
            engine::goals::check::configured_targets(project).map_err(|e| Failure::usage(e.to_string()))?
        }
        _ => None,
    };
    let ids = match configured {
        Some(configured) => {
            progress(&format!("checking the files mypy's configuration in {} names", configured.file));
            configured.ids
        }
        None if specs.is_empty() => select(project, &["::".to_owned()])?,
        None => select(project, specs)?,
    };
    let goals = setup.goals(project)?;
    let options = CheckOptions { checker, force };
    let report = engine::goals::check::check(&goals, project, &ids, &options, &mut |m| progress(m))
        .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    for warning in &report.warnings {
        say(format_args!("{}: {warning}", checker.name()));
    }
    let errors = report.findings.iter().filter(|f| f.is_error()).count();
    let mut out = Out::new();
    if format == Format::Json {
        let findings: Vec<serde_json::Value> = report
            .findings
            .iter()
            .map(|f| {
                serde_json::json!({"file": f.file, "line": f.line, "column": f.column,
                    "severity": f.severity, "code": f.code, "message": f.message, "notes": f.notes})
            })
            .collect();
        out.json(&serde_json::json!({"findings": findings, "errors": errors, "files": report.files,
            "cached": report.cached, "sources": source_counts(report.sources.iter().copied()), "warnings": report.warnings}))?;
    } else {
        for f in &report.findings {
            let code = if f.code.is_empty() { String::new() } else { format!("  [{}]", f.code) };
            let place = place(f);
            out.line(format_args!("{place}: {}: {}{code}", f.severity, f.message))?;
            for note in &f.notes {
                out.line(format_args!("{place}: note: {note}"))?;
            }
        }
        let mark = if errors == 0 { "✓" } else { "✕" };
        let cached = if report.cached { " (cached)" } else { "" };
        out.line(format_args!(
            "{mark} {} over {} files: {errors} errors{cached}",
            checker.name(),
            report.files
        ))?;
    }
    out.finish()?;
    finish(&goals);
    Ok(u8::from(errors > 0))
}

/// `file:line:column` as mypy writes it: without the line or column it does not know.
fn place(f: &CheckFinding) -> String {
    match (f.line, f.column) {
        (0, _) => f.file.clone(),
        (line, 0) => format!("{}:{line}", f.file),
        (line, column) => format!("{}:{line}:{column}", f.file),
    }
}

/// `--extra-env` items: `VAR=value`, or `VAR` taken from here.
pub fn extra_env(items: &[String]) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    let mut extra_env = std::collections::BTreeMap::new();
    for item in items {
        let (name, value) = if let Some((name, value)) = item.split_once('=') {
            (name.to_owned(), value.to_owned())
        } else {
            let value = std::env::var(item).map_err(|_| {
                Failure::usage(format!("--extra-env {item}: `{item}` is not set here; write {item}=value"))
            })?;
            (item.clone(), value)
        };
        extra_env.insert(name, value);
    }
    Ok(extra_env)
}
