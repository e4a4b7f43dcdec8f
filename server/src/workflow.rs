//! The daily-workflow commands beside the goals: `pleat export` (the test environment as a virtualenv for editors); command-line arguments in, engine calls, lines out.

use clap::Subcommand;
use engine::goals::export::{self, ExportOptions, Exported};
use engine::project::Project;
use engine::resolves;

use crate::output::Out;
use crate::run_goals::{goals, progress};
use crate::{Cli, Failure, Format};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// A virtualenv of the test environment for editors, at
    /// dist/export/python/virtualenvs/<resolve>/<python version>/: the resolved requirements,
    /// the tools, the first-party source roots (a .pth) and the project's own metadata.
    Export {
        /// The files whose resolves are exported (default everything: every resolve in use).
        #[arg(default_value = "::")]
        specs: Vec<String>,
        /// Only this resolve (`default` or a name under [tool.pleat.resolves]).
        #[arg(long, value_name = "NAME")]
        resolve: Option<String>,
        /// The tools to install beside the requirements (default: pytest, ruff, and mypy
        /// when the project configures it).
        #[arg(long = "with", value_name = "TOOL,…", value_delimiter = ',')]
        with: Option<Vec<String>>,
    },
}

/// Runs one workflow command; returns the exit code.
pub fn run(cli: &Cli, command: &Command) -> Result<u8, Failure> {
    match command {
        Command::Export { specs, resolve, with } => {
            let project = crate::commands::load(cli)?;
            export(cli, &project, specs, resolve.as_deref(), with.as_deref())
        }
    }
}

/// The resolves to export: the one named, else those the selected files use.
fn chosen_resolves(project: &Project, specs: &[String], only: Option<&str>) -> Result<Vec<String>, Failure> {
    let all = resolves::names(&project.config);
    if let Some(name) = only {
        return if all.iter().any(|n| n == name) {
            Ok(vec![name.to_owned()])
        } else {
            Err(Failure::usage(format!(
                "--resolve {name}: the project has no such resolve; its resolves are {} (named ones are declared under [tool.pleat.resolves])",
                all.join(", ")
            )))
        };
    }
    let ids = crate::commands::select(project, specs)?;
    let groups = resolves::Resolves::new(&project.config)
        .and_then(|r| r.group(project, &ids))
        .map_err(|e| Failure::usage(e.to_string()))?;
    Ok(groups.into_iter().map(|(name, _)| name).collect())
}

/// `pleat export`.
fn export(
    cli: &Cli,
    project: &Project,
    specs: &[String],
    only: Option<&str>,
    with: Option<&[String]>,
) -> Result<u8, Failure> {
    let names = chosen_resolves(project, specs, only)?;
    let tools: Vec<String> = match with {
        Some(list) => list.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
        None => export::default_tools(project),
    };
    let goals = goals(cli, project)?;
    let mut done: Vec<Exported> = Vec::new();
    for resolve in names {
        let options = ExportOptions { resolve, tools: tools.clone() };
        let exported = export::export(&goals, project, &options, &mut |m| progress(m)).map_err(|e| {
            let code =
                if matches!(e, engine::goals::GoalError::Tool(engine::tools::ToolError::Unknown { .. })) {
                    2
                } else {
                    3
                };
            Failure { message: e.to_string(), code }
        })?;
        done.push(exported);
    }
    let mut out = Out::new();
    if cli.format == Format::Json {
        let items: Vec<serde_json::Value> = done
            .iter()
            .map(|e| {
                serde_json::json!({
                    "resolve": e.resolve, "path": e.root, "python": e.python,
                    "python_version": e.python_version, "packages": e.packages, "tools": e.tools,
                    "rebuilt": e.rebuilt,
                })
            })
            .collect();
        out.json(&serde_json::json!({"exports": items}))?;
    } else {
        for e in &done {
            let shown = e.root.strip_prefix(&project.root).unwrap_or(&e.root).display().to_string();
            let what = if e.rebuilt { "exported to" } else { "up to date:" };
            out.line(format_args!(
                "✓ {} resolve {what} {shown} ({} packages; tools: {})",
                e.resolve,
                e.packages.len(),
                if e.tools.is_empty() { "none".to_owned() } else { e.tools.join(", ") }
            ))?;
            out.line(format_args!("  interpreter: {}", e.python.display()))?;
        }
    }
    out.finish()?;
    Ok(0)
}
