//! `export`: a resolve's test environment as a virtualenv in the repository for editors (`dist/export/python/virtualenvs/<resolve>/<python version>/`): exactly the resolution the test goal installs, the chosen tools' pins where the resolution lacks them, the first-party source roots through a `.pth`, the project's own dist-info; keyed by its inputs (nothing changed: nothing done), rebuilt beside and swapped in atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{GoalError, Goals};
use crate::hash::{Digest, DigestFunction};
use crate::project::Project;
use crate::tools::lock::Resolution;
use crate::tools::{ToolError, ToolSpec};

/// Bumped when the way exports are built changes.
/// 2: source roots ahead of site-packages, the project's released copy uninstalled.
const EXPORT_VERSION: &str = "3";
/// The record of what an export was built from, inside it (swapped in with it).
const RECORD: &str = ".pleat-export";
/// The `.pth` file naming the first-party source roots.
const PTH: &str = "_pleat_first_party.pth";
/// Where exports go, from the root.
pub const EXPORT_DIR: &str = "dist/export/python/virtualenvs";

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// [`crate::resolves::DEFAULT`] or a named resolve.
    pub resolve: String,
    /// The tools installed beside the resolution (`pytest`, `ruff`, `mypy`, …).
    pub tools: Vec<String>,
}

/// One export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub resolve: String,
    /// The virtualenv's folder.
    pub root: PathBuf,
    /// Its interpreter (`bin/python`).
    pub python: PathBuf,
    /// The interpreter's version (`3.11.7`), the last part of the folder's path.
    pub python_version: String,
    /// `name==version` of the resolution it holds.
    pub packages: Vec<String>,
    pub tools: Vec<String>,
    /// False when the export on disk was made from the same inputs and nothing was done.
    pub rebuilt: bool,
}

/// The tools an export holds by default: pytest (the test environment's), ruff (Pleat's
/// linter), mypy when the project configures it.
pub fn default_tools(project: &Project) -> Vec<String> {
    let mut tools = vec!["pytest".to_owned(), "ruff".to_owned()];
    if super::check::MypyConfig::find(&project.root).file.is_some() {
        tools.push("mypy".to_owned());
    }
    tools
}

/// The folder a resolve's export goes to.
pub fn folder(project: &Project, resolve: &str, python_version: &str) -> PathBuf {
    project.root.join(EXPORT_DIR).join(resolve).join(python_version)
}

/// Everything an export is made from, except the resolution itself: known without uv, so
/// an editor can tell cheaply that requirements or the lock changed since the export.
pub struct Inputs {
    /// The digest of all of it.
    pub digest: Digest,
    requirements: String,
    sources: Vec<String>,
    pth: String,
    dist_info: Option<(String, std::collections::BTreeMap<String, String>)>,
    tools: Vec<ToolSpec>,
}

/// The inputs of a resolve's export with these tools.
pub fn inputs(goals: &Goals, project: &Project, options: &ExportOptions) -> Result<Inputs, GoalError> {
    let pytest = goals.spec("pytest")?;
    let (requirements, sources) =
        super::test::project_requirements(project, &options.resolve, &pytest.requirements)?;
    let lock =
        std::fs::read(project.root.join(crate::resolves::lock_file(&options.resolve))).unwrap_or_default();
    let tools = options.tools.iter().map(|name| goals.spec(name)).collect::<Result<Vec<_>, _>>()?;
    // Path lines for the editors' analysers (pyright, Jedi read them), then one line Python
    // runs that moves the roots ahead of site-packages, as PYTHONPATH puts them in a test's
    // sandbox: a released copy of a first-party package (pytest needs `packaging`) must not
    // hide the source.
    let mut pth = String::new();
    let mut roots = Vec::new();
    for source_root in project.source_roots() {
        let folder =
            if source_root.is_empty() { project.root.clone() } else { project.root.join(source_root) };
        let _ = writeln!(pth, "{}", folder.display());
        roots.push(format!("{:?}", folder.display().to_string()));
    }
    // One statement: `site` runs the line with separate globals and locals, where a
    // comprehension would not see a name the line bound.
    let _ = writeln!(pth, "import sys; sys.path[0:0] = [{}]", roots.join(", "));
    let dist_info = super::dist_info::files(&project.root);
    let mut text = format!(
        "{EXPORT_VERSION}\n{}\n--requirements--\n{requirements}\n--lock--\n{}\n--pth--\n{pth}",
        goals.tools.interpreter.identity(),
        Digest::of(DigestFunction::Blake3, &lock).hex()
    );
    for tool in &tools {
        let _ = write!(text, "--tool {}--\n{}\n", tool.name, tool.requirements);
    }
    if let Some((folder, files)) = &dist_info {
        for (name, content) in files {
            let _ = write!(text, "--dist-info {folder}/{name}--\n{content}\n");
        }
    }
    Ok(Inputs {
        digest: Digest::of(DigestFunction::Blake3, text.as_bytes()),
        requirements,
        sources,
        pth,
        dist_info,
        tools,
    })
}

/// What an export on disk was made from: `(key, inputs digest)` hex, when it is complete.
pub fn recorded(root: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(root.join(RECORD)).ok()?;
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
    let (key, inputs) = (field("key=")?, field("inputs=")?);
    root.join("bin").join("python").exists().then_some((key, inputs))
}

/// Whether the export of a resolve on disk was made from other inputs than the project's
/// now: `None` when there is no export to be stale.
pub fn stale(goals: &Goals, project: &Project, options: &ExportOptions) -> Result<Option<bool>, GoalError> {
    let root = folder(project, &options.resolve, &goals.tools.interpreter.version);
    let Some((_, recorded_inputs)) = recorded(&root) else { return Ok(None) };
    Ok(Some(inputs(goals, project, options)?.digest.hex() != recorded_inputs))
}

/// Exports a resolve: nothing done when the export on disk was made from the same inputs
/// and resolution, else built beside it and swapped in.
pub fn export(
    goals: &Goals,
    project: &Project,
    options: &ExportOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Exported, GoalError> {
    let inputs = inputs(goals, project, options)?;
    let resolution = if inputs.requirements.is_empty()
        && !project.root.join(crate::resolves::lock_file(&options.resolve)).is_file()
    {
        None
    } else {
        super::test::project_resolution(goals, project, &options.resolve, progress)?
    };
    let packages = resolution.as_ref().map(|r| r.packages.clone()).unwrap_or_default();
    let key = Digest::of(
        DigestFunction::Blake3,
        format!("{}\n{}", inputs.digest.hex(), packages.join("\n")).as_bytes(),
    );
    let version = goals.tools.interpreter.version.clone();
    let root = folder(project, &options.resolve, &version);
    let mut exported = Exported {
        resolve: options.resolve.clone(),
        python: root.join("bin").join("python"),
        root: root.clone(),
        python_version: version,
        packages,
        tools: options.tools.clone(),
        rebuilt: false,
    };
    if recorded(&root).is_some_and(|(k, _)| k == key.hex()) {
        return Ok(exported);
    }
    let parent = root.parent().unwrap_or(&project.root).to_owned();
    std::fs::create_dir_all(&parent).map_err(io("create", &parent))?;
    // One exporter of a folder at a time.
    let lock_path = parent.join(format!(".{}.lock", exported.python_version));
    let lock = std::fs::File::create(&lock_path).map_err(io("create", &lock_path))?;
    lock.lock().map_err(io("lock", &lock_path))?;
    if recorded(&root).is_some_and(|(k, _)| k == key.hex()) {
        return Ok(exported); // another export made it while we waited
    }
    let building = parent.join(format!(".{}.building-{}", exported.python_version, std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    progress(&format!(
        "exporting the {} resolve ({} packages, tools: {}) to {}",
        options.resolve,
        exported.packages.len(),
        if options.tools.is_empty() { "none".to_owned() } else { options.tools.join(", ") },
        relative(&project.root, &root)
    ));
    let built = build(goals, &inputs, resolution.as_ref(), &building, &key, progress)
        .and_then(|()| swap_in(&building, &root));
    if let Err(error) = built {
        let _ = std::fs::remove_dir_all(&building);
        return Err(error);
    }
    // `building` now holds the export that was replaced, if any.
    let _ = std::fs::remove_dir_all(&building);
    exported.rebuilt = true;
    Ok(exported)
}

/// A path under the root as the root-relative text people read.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> GoalError + use<> {
    let path = path.display().to_string();
    move |source| GoalError::Tool(ToolError::Io { action, path, source })
}

/// Builds the virtualenv at `at` (relocatable, so it can be renamed into place).
fn build(
    goals: &Goals,
    inputs: &Inputs,
    resolution: Option<&Resolution>,
    at: &Path,
    key: &Digest,
    progress: &mut dyn FnMut(&str),
) -> Result<(), GoalError> {
    let tools = &goals.tools;
    let uv = tools.uv_binary(progress)?;
    std::fs::create_dir_all(&tools.dir).map_err(io("create", &tools.dir))?;
    let scratch = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(&tools.dir)
        .map_err(io("create a folder in", &tools.dir))?;
    let python = at.join("bin").join("python");
    let uv_command = |args: &[&str]| {
        let mut command = Command::new(&uv);
        command.args(args).env("UV_CACHE_DIR", &tools.downloads).current_dir(scratch.path());
        command
    };
    let mut steps = Vec::new();
    let mut venv = uv_command(&["venv", "--quiet", "--relocatable", "--python"]);
    venv.arg(&tools.interpreter.path).arg(at);
    steps.push(venv);
    if let Some(resolution) = resolution {
        // uv recognises a PEP 751 lock by its name.
        let lock = scratch.path().join("pylock.toml");
        std::fs::write(&lock, &resolution.text).map_err(io("write", &lock))?;
        let mut sync = uv_command(&["pip", "sync", "--quiet", "--python"]);
        sync.arg(&python).arg(&lock);
        steps.push(sync);
    }
    // The project's own released copy (a dependency of a dependency: pytest needs
    // `packaging`) gives way to its source and generated metadata.
    let own_name = inputs.dist_info.as_ref().and_then(|(_, files)| {
        files.get("METADATA")?.lines().find_map(|l| l.strip_prefix("Name: ")).map(str::to_owned)
    });
    if let (Some(name), Some(resolution)) = (&own_name, resolution)
        && resolution.holds(name)
    {
        let mut uninstall = uv_command(&["pip", "uninstall", "--quiet", "--python"]);
        uninstall.arg(&python).arg(name);
        steps.push(uninstall);
    }
    let pins = tool_pins(&inputs.tools, resolution);
    if !pins.is_empty() {
        let file = scratch.path().join("tools.txt");
        std::fs::write(&file, &pins).map_err(io("write", &file))?;
        let mut install =
            uv_command(&["pip", "install", "--quiet", "--require-hashes", "--no-deps", "--python"]);
        install.arg(&python).arg("-r").arg(&file);
        steps.push(install);
    }
    for mut step in steps {
        let shown = format!("{step:?}");
        let failed = |output: String| {
            GoalError::Tool(ToolError::Build { tool: "export".to_owned(), command: shown.clone(), output })
        };
        let output = crate::children::output(&mut step).map_err(|e| failed(e.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> =
                stderr.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(if inputs.sources.is_empty() {
                failed(tail.join(" / "))
            } else {
                failed(format!("{} (requirements from {})", tail.join(" / "), inputs.sources.join(", ")))
            });
        }
    }
    let site = site_packages(at).ok_or_else(|| {
        GoalError::Tool(ToolError::Build {
            tool: "export".to_owned(),
            command: format!("uv venv {}", at.display()),
            output: "the virtualenv has no lib/python*/site-packages folder".to_owned(),
        })
    })?;
    let pth = site.join(PTH);
    std::fs::write(&pth, &inputs.pth).map_err(io("write", &pth))?;
    if let Some((folder, files)) = &inputs.dist_info {
        let dir = site.join(folder);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        for (name, content) in files {
            std::fs::write(dir.join(name), content).map_err(io("write", &dir))?;
        }
        std::fs::write(dir.join("INSTALLER"), "pleat\n").map_err(io("write", &dir))?;
    }
    let record = at.join(RECORD);
    std::fs::write(&record, format!("key={}\ninputs={}\n", key.hex(), inputs.digest.hex()))
        .map_err(io("write", &record))?;
    Ok(())
}

/// The tools' pinned requirements, less every distribution the resolution already holds
/// (the project's pin wins, as in the test environment, where pytest's lock is not
/// installed over a project that resolves its own pytest).
fn tool_pins(tools: &[ToolSpec], resolution: Option<&Resolution>) -> String {
    let mut out = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for tool in tools {
        for block in requirement_blocks(&tool.requirements) {
            let Some(name) =
                crate::python::third_party::requirement_name(block.trim_end_matches(['\\', ' ']))
            else {
                continue;
            };
            let name = crate::python::third_party::normalize_dist_name(&name);
            if resolution.is_some_and(|r| r.holds(&name)) || !seen.insert(name) {
                continue;
            }
            out.push_str(block);
        }
    }
    out
}

/// A hashed requirements file split into entries: a requirement line and its indented
/// continuation lines (hashes, comments).
fn requirement_blocks(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if !line.starts_with([' ', '\t', '#', '\n']) {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| &text[s..starts.get(i + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// `lib/pythonX.Y/site-packages` of a virtualenv.
fn site_packages(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
}

/// Puts the folder `new` at `target`: exchanged atomically with the export there (an editor
/// or interpreter using it never sees a half-built one; `new` then holds the old one),
/// else renamed into place.
fn swap_in(new: &Path, target: &Path) -> Result<(), GoalError> {
    use std::os::unix::ffi::OsStrExt as _;
    if !target.exists() {
        return std::fs::rename(new, target).map_err(io("move the new export to", target));
    }
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).ok();
    let (Some(from), Some(to)) = (c(new), c(target)) else {
        return Err(io("move the new export to", target)(std::io::Error::from(
            std::io::ErrorKind::InvalidInput,
        )));
    };
    // SAFETY: two NUL-terminated paths; renameat2 reads them and touches no memory of ours.
    #[allow(unsafe_code)]
    let done = unsafe {
        libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_EXCHANGE)
    };
    if done == 0 {
        return Ok(());
    }
    // A file system without RENAME_EXCHANGE: the old one aside, then the new one in (the
    // folder is missing for that instant only).
    let aside = new.with_extension("old");
    std::fs::rename(target, &aside).map_err(io("move aside the old export", target))?;
    std::fs::rename(new, target).map_err(io("move the new export to", target))?;
    std::fs::rename(&aside, new).map_err(io("move", &aside))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_blocks_keep_their_hashes_and_tool_pins_skip_what_the_project_holds() {
        let lock = "iniconfig==2.0.0 \\\n    --hash=sha256:aa\n    # via pytest\npytest==8.3.4 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n";
        assert_eq!(
            requirement_blocks(lock),
            [
                "iniconfig==2.0.0 \\\n    --hash=sha256:aa\n    # via pytest\n",
                "pytest==8.3.4 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n"
            ]
        );
        let spec = |name: &str, requirements: &str| ToolSpec {
            name: name.to_owned(),
            module: name.to_owned(),
            requirements: requirements.to_owned(),
            project: None,
        };
        let tools = [spec("pytest", lock), spec("other", "pytest==8.3.4 \\\n    --hash=sha256:bb\n")];
        assert_eq!(tool_pins(&tools, None), lock, "a distribution two tools pin is installed once");
        let resolution = Resolution {
            text: String::new(),
            packages: vec!["IniConfig==1.1.1".to_owned()],
            source: crate::tools::lock::ResolutionSource::Resolved,
        };
        assert_eq!(
            tool_pins(&tools, Some(&resolution)),
            "pytest==8.3.4 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n"
        );
    }

    #[test]
    fn swapping_exchanges_the_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (new, target) = (dir.path().join("new"), dir.path().join("target"));
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("v"), "2").unwrap();
        swap_in(&new, &target).unwrap();
        assert_eq!(std::fs::read_to_string(target.join("v")).unwrap(), "2");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("v"), "3").unwrap();
        swap_in(&new, &target).unwrap();
        assert_eq!(std::fs::read_to_string(target.join("v")).unwrap(), "3");
        assert_eq!(std::fs::read_to_string(new.join("v")).unwrap(), "2", "the old export is left beside");
    }
}
