//! The goals that run tools (lint so far): set up the engine's goal context from the command line, print progress on stderr, results on stdout.

use engine::exec::local::KeepSandboxes;
use engine::goals::lint::{LintedFile, Linter};
use engine::goals::{GoalOptions, Goals};
use engine::graph::FileId;
use engine::project::Project;

use crate::output::Out;
use crate::{Cli, Failure, Format, Keep};

fn goals(cli: &Cli) -> Result<Goals, Failure> {
    let Some(cache_dir) = crate::commands::cache_dir(cli) else {
        return Err(Failure::usage(
            "goals that run tools need the store: drop --no-cache or pass --cache-dir",
        ));
    };
    let keep_sandboxes = match cli.keep_sandboxes {
        Keep::Never => KeepSandboxes::Never,
        Keep::OnFailure => KeepSandboxes::OnFailure,
        Keep::Always => KeepSandboxes::Always,
    };
    let parallelism = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    Goals::new(&GoalOptions { cache_dir, interpreter: None, parallelism, keep_sandboxes })
        .map_err(|e| Failure::usage(e.to_string()))
}

fn progress(message: &str) {
    eprintln!("pleat: {message}");
}

/// `pleat lint`: exit 1 when there are findings.
pub fn lint(cli: &Cli, project: &Project, ids: &[FileId], tool: &str) -> Result<u8, Failure> {
    let linter = Linter::parse(tool).ok_or_else(|| {
        Failure::usage(format!("--tool {tool} is not a linter Pleat runs; use ruff, flake8 or pylint"))
    })?;
    let goals = goals(cli)?;
    let linted = engine::goals::lint::lint(&goals, project, ids, linter, &mut |m| progress(m))
        .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    let findings: usize = linted.iter().map(|f| f.findings.len()).sum();
    let cached = linted.iter().filter(|f| f.cached).count();
    let mut out = Out::new();
    if cli.format == Format::Json {
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
    Ok(u8::from(findings > 0))
}

fn lint_json(linted: &[LintedFile], findings: usize, cached: usize) -> serde_json::Value {
    let files: Vec<serde_json::Value> = linted
        .iter()
        .map(|file| {
            serde_json::json!({
                "file": file.file,
                "cached": file.cached,
                "findings": file.findings.iter().map(|f| serde_json::json!({
                    "line": f.line, "column": f.column, "end_line": f.end_line, "end_column": f.end_column,
                    "code": f.code, "message": f.message, "fix_available": f.fix_available, "tool": f.tool,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({"files": files, "summary": {"files": linted.len(), "findings": findings, "cached": cached}})
}
