//! `pleat lock [--check] [--resolve NAME]`: writes each resolve's PEP 751 lock (`pylock.toml` for the default one, `pylock.<name>.toml` for `[tool.pleat.resolves.<name>]`), or checks that each is present and current, naming every one that is not.

use engine::project::Project;
use engine::resolves::{self, DEFAULT};
use engine::tools::lock::{lock_packages, recorded_digest, requirements_digest};

use crate::output::{Failure, Format, Out, say};
use crate::setup::Setup;

/// One resolve's requirement set, as `pleat lock` sees it.
struct Locked {
    resolve: String,
    file: String,
    requirements: String,
    sources: Vec<String>,
}

impl Locked {
    /// `pleat lock`, or `pleat lock --resolve NAME` for a named resolve.
    fn command(&self) -> String {
        if self.resolve == DEFAULT {
            "pleat lock".to_owned()
        } else {
            format!("pleat lock --resolve {}", self.resolve)
        }
    }

    /// Whether the lock file is present and was made from the requirements declared now,
    /// with a sentence saying so (and what to run when it is not).
    fn status(&self, root: &std::path::Path, several: bool) -> (bool, String) {
        let (file, command) = (&self.file, self.command());
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            if several && self.requirements.is_empty() {
                return (
                    true,
                    format!("{file} is not needed: the {} resolve declares no requirements", self.resolve),
                );
            }
            return (false, format!("{file} is missing; run `{command}` and commit it"));
        };
        match recorded_digest(&text) {
            Some(recorded) if recorded == requirements_digest(&self.requirements) => (
                true,
                format!("{file} is up to date ({} packages)", lock_packages(&text).map_or(0, |p| p.len())),
            ),
            Some(_) => (
                false,
                format!(
                    "{file} is stale: {} changed since it was written; run `{command}`",
                    if self.resolve == DEFAULT {
                        "the project's requirements".to_owned()
                    } else {
                        format!("the requirements of the `{}` resolve", self.resolve)
                    }
                ),
            ),
            None => (
                false,
                format!(
                    "{file} was not written by `pleat lock` (it has no [tool.pleat] requirements-digest); run `{command}`"
                ),
            ),
        }
    }
}

/// `pleat lock`: every resolve (or only `only`) written, or with `check` checked; exit 1
/// when a check fails.
pub fn lock(
    setup: &Setup,
    format: Format,
    project: &Project,
    check: bool,
    only: Option<&str>,
) -> Result<u8, Failure> {
    let all = resolves::names(&project.config);
    let names = match only {
        None => all,
        Some(name) if all.iter().any(|n| n == name) => vec![name.to_owned()],
        Some(name) => {
            return Err(Failure::usage(format!(
                "--resolve {name}: the project has no such resolve; its resolves are {} (named ones are declared under [tool.pleat.resolves])",
                all.join(", ")
            )));
        }
    };
    // With named resolves, one that declares nothing needs no lock.
    let several = !project.config.resolves.is_empty();
    let goals = setup.goals(project)?;
    let pytest = goals.spec("pytest").map_err(|e| Failure::usage(e.to_string()))?;
    let locks = names
        .into_iter()
        .map(|resolve| {
            let (requirements, sources) =
                engine::goals::test::project_requirements(project, &resolve, &pytest.requirements)
                    .map_err(|e| Failure::usage(e.to_string()))?;
            Ok(Locked { file: resolves::lock_file(&resolve), resolve, requirements, sources })
        })
        .collect::<Result<Vec<Locked>, Failure>>()?;
    let mut out = Out::new();
    if check {
        let statuses: Vec<(bool, String)> = locks.iter().map(|l| l.status(&project.root, several)).collect();
        let ok = statuses.iter().all(|(ok, _)| *ok);
        if format == Format::Json {
            let items: Vec<serde_json::Value> = locks
                .iter()
                .zip(&statuses)
                .map(|(l, (ok, message))| {
                    serde_json::json!({"resolve": l.resolve, "lock": l.file, "up_to_date": ok, "message": message})
                })
                .collect();
            out.json(&serde_json::json!({"locks": items, "up_to_date": ok}))?;
        } else {
            for (ok, message) in &statuses {
                out.line(format_args!("{} {message}", if *ok { "✓" } else { "✕" }))?;
            }
        }
        out.finish()?;
        return Ok(u8::from(!ok));
    }
    if locks.iter().all(|l| l.requirements.is_empty()) {
        let what = match locks.as_slice() {
            [one] if one.resolve != DEFAULT => {
                format!(
                    "the {} resolve names no requirements ({} requirements)",
                    one.resolve,
                    resolves::table(&project.config, &one.resolve)
                )
            }
            _ => "the project declares no requirements (no [project] dependencies, test groups or extras, or test requirement files)".to_owned(),
        };
        return Err(Failure::usage(format!("{what}, so there is nothing to lock")));
    }
    let mut written = Vec::new();
    for lock in &locks {
        if lock.requirements.is_empty() {
            say(format_args!(
                "the {} resolve declares no requirements: no {} written",
                lock.resolve, lock.file
            ));
            continue;
        }
        let count = write(&goals, project, lock)?;
        if format == Format::Human {
            out.line(format_args!(
                "✓ wrote {}: {count} packages resolved from {} requirements",
                lock.file,
                lock.requirements.lines().count()
            ))?;
        }
        written.push(serde_json::json!({"resolve": lock.resolve, "lock": lock.file, "packages": count,
            "requirements": lock.requirements.lines().count()}));
    }
    if format == Format::Json {
        out.json(&serde_json::json!({"locks": written}))?;
    }
    out.finish()?;
    Ok(0)
}

/// Resolves one requirement set universally and writes its lock file (temp + rename);
/// returns the number of packages.
fn write(goals: &engine::goals::Goals, project: &Project, lock: &Locked) -> Result<usize, Failure> {
    let resolved = goals
        .tools
        .compile(&lock.requirements, &lock.sources.join(", "), true, &mut |m| say(format_args!("{m}")))
        .map_err(|e| Failure { message: e.to_string(), code: 3 })?;
    let count = lock_packages(&resolved).map_or(0, |p| p.len());
    let quoted: Vec<String> = lock
        .requirements
        .lines()
        .map(|l| format!("    \"{}\",", l.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let (table, whose) = if lock.resolve == DEFAULT {
        ("[tool.pleat]".to_owned(), String::new())
    } else {
        (format!("[tool.pleat.resolves.{}]", lock.resolve), " for the files of that resolve".to_owned())
    };
    let text = format!(
        "# Written by `pleat lock` from the requirements under {table}: `pleat test` and\n\
         # `pleat check` install exactly these packages{whose}. Run `{}` again after changing\n\
         # the requirements; `pleat lock --check` fails while it is stale.\n{}\n\n[tool.pleat]\n\
         requirements-digest = \"{}\"\nrequirements = [\n{}\n]\n",
        lock.command(),
        resolved.trim_end(),
        requirements_digest(&lock.requirements),
        quoted.join("\n")
    );
    let path = project.root.join(&lock.file);
    let tmp = path.with_extension(format!("toml.tmp{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| Failure { message: format!("cannot write {}: {e}", path.display()), code: 3 })?;
    Ok(count)
}
