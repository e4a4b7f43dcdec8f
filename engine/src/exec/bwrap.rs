//! bubblewrap: whether it can confine processes here (probed once per Pleat process), and the command line that confines one — a root of read-only binds of the system's folders (`/usr`, `/etc`, …) with every file in them that not everyone may read hidden, no home folders, a private `/tmp`, `/proc` and PID namespace, no network, no capabilities; the process's sandbox and its own named caches writable, the folders it runs from (tool environment, interpreter) read-only, nothing else of Pleat's cache visible.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where bubblewrap is looked for (it is setuid on some systems: never from `PATH`), unless
/// `PLEAT_BWRAP` names the program.
const PROGRAMS: [&str; 2] = ["/usr/bin/bwrap", "/bin/bwrap"];

/// The system's folders a confined process sees, read-only (those that exist).
const SYSTEM: [&str; 9] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/nix"];

/// Why bubblewrap cannot confine processes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// No `bwrap` program.
    NotInstalled,
    /// `bwrap` is there but failed to set up its namespaces (user namespaces disabled,
    /// a container without the privilege).
    NoNamespaces { said: String },
}

impl Unavailable {
    /// Why, as a clause: "bubblewrap is not installed".
    pub fn reason(&self) -> String {
        match self {
            Self::NotInstalled => "bubblewrap is not installed".to_owned(),
            Self::NoNamespaces { said } => {
                format!("bubblewrap cannot create namespaces here (it said: {said})")
            }
        }
    }

    /// What to do about it, as a clause.
    pub fn remedy(&self) -> &'static str {
        match self {
            Self::NotInstalled => "install the Debian package `bubblewrap` (apt-get install bubblewrap)",
            Self::NoNamespaces { .. } => {
                "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu) or run in a container that permits them"
            }
        }
    }

    /// The warning when `sandbox = "auto"` falls back to the plain sandbox for this reason.
    pub fn fallback_warning(&self) -> String {
        format!(
            "tests and tools run in the plain sandbox (they can read your files and use the network) because {}; {}, or set sandbox = \"plain\" in [tool.pleat] to choose it",
            self.reason(),
            self.remedy()
        )
    }
}

/// The bubblewrap program when it can confine processes here; probed on first call by
/// running `true` under the same namespaces the runner asks for (a few milliseconds).
pub fn available() -> Result<&'static Path, &'static Unavailable> {
    static PROBE: OnceLock<Result<PathBuf, Unavailable>> = OnceLock::new();
    PROBE.get_or_init(probe).as_ref().map(PathBuf::as_path)
}

fn probe() -> Result<PathBuf, Unavailable> {
    let chosen = std::env::var_os("PLEAT_BWRAP").filter(|p| !p.is_empty()).map(PathBuf::from);
    let program = match &chosen {
        Some(path) => Some(path.as_path()).filter(|p| p.is_file()),
        None => PROGRAMS.into_iter().map(Path::new).find(|p| p.is_file()),
    }
    .ok_or(Unavailable::NotInstalled)?;
    let mut command = Command::new(program);
    command.args([
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--",
        "true",
    ]);
    command.env_clear();
    match crate::children::output(&mut command) {
        Ok(output) if output.status.success() => Ok(program.to_owned()),
        Ok(output) => {
            Err(Unavailable::NoNamespaces { said: String::from_utf8_lossy(&output.stderr).trim().to_owned() })
        }
        Err(e) => Err(Unavailable::NoNamespaces { said: e.to_string() }),
    }
}

/// What one confined process may see besides the system's folders.
pub struct Confinement<'a> {
    /// The process's sandbox folder: writable, at the same path.
    pub sandbox: &'a Path,
    /// The named caches the process owns: writable.
    pub writable: Vec<PathBuf>,
    /// The folders it runs from (its tool environment, the interpreter): read-only.
    pub read_only: Vec<PathBuf>,
    /// Where it starts.
    pub cwd: &'a Path,
}

/// The bubblewrap command that runs `program` with `args` confined.
pub fn command(bwrap: &Path, confinement: &Confinement, program: &Path, args: &[String]) -> Command {
    let mut command = Command::new(bwrap);
    command.args(["--unshare-all", "--die-with-parent"]);
    command.args(system_arguments());
    // /sys read-only as it is (CPU counts and topology for libraries that look there).
    command.args(["--ro-bind-try", "/sys", "/sys", "--dev", "/dev", "--proc", "/proc"]);
    command.args(["--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]);
    for path in &confinement.read_only {
        if !SYSTEM.iter().any(|system| path.starts_with(system)) && path.is_dir() {
            command.arg("--ro-bind").arg(path).arg(path);
        }
    }
    command.arg("--bind").arg(confinement.sandbox).arg(confinement.sandbox);
    for path in &confinement.writable {
        command.arg("--bind").arg(path).arg(path);
    }
    command.arg("--chdir").arg(confinement.cwd).arg("--").arg(program).args(args);
    command
}

/// The arguments that show the system's folders (computed once per process): each
/// read-only at its own path (a symlink such as `/bin → usr/bin` as the same symlink),
/// with what in `/etc` not everyone may read hidden — a file behind `/dev/null`, a folder
/// behind an empty one (`/etc/shadow`, `/etc/ssl/private`, SSH host keys).
fn system_arguments() -> &'static [String] {
    static ARGUMENTS: OnceLock<Vec<String>> = OnceLock::new();
    ARGUMENTS.get_or_init(|| {
        let mut out = Vec::new();
        for system in SYSTEM {
            let path = Path::new(system);
            let Ok(meta) = std::fs::symlink_metadata(path) else { continue };
            if meta.file_type().is_symlink() {
                if let Ok(target) = std::fs::read_link(path) {
                    out.extend([
                        "--symlink".to_owned(),
                        target.to_string_lossy().into_owned(),
                        system.to_owned(),
                    ]);
                }
            } else if meta.is_dir() {
                out.extend(["--ro-bind".to_owned(), system.to_owned(), system.to_owned()]);
            }
        }
        for (path, is_dir) in private_entries(Path::new("/etc")) {
            let path = path.to_string_lossy().into_owned();
            if is_dir {
                out.extend(["--tmpfs".to_owned(), path.clone(), "--remount-ro".to_owned(), path]);
            } else {
                out.extend(["--ro-bind".to_owned(), "/dev/null".to_owned(), path]);
            }
        }
        out
    })
}

/// The files (`false`) and folders (`true`) under `root` that not everyone may read
/// (a folder: read and enter); what lies inside a private folder is not listed.
pub fn private_entries(root: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(list) = std::fs::read_dir(&dir) else { continue };
        for entry in list.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                if mode & 0o005 == 0o005 {
                    stack.push(entry.path());
                } else {
                    out.push((entry.path(), true));
                }
            } else if meta.is_file() && mode & 0o004 == 0 {
                out.push((entry.path(), false));
            }
        }
    }
    out.sort();
    out
}
