//! bubblewrap: whether it can confine processes here (probed once, the answer remembered in the cache folder while what it depends on is unchanged), and the command line that confines one — a root of read-only binds of the system's folders (`/usr`, `/etc`, …) with every file in them that not everyone may read hidden, no home folders, a private `/tmp`, `/proc` and PID namespace, no network, no capabilities; the process's sandbox and its own named caches writable, the folders it runs from (tool environment, interpreter) read-only, nothing else of Pleat's cache visible.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
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

/// This process's answer, from the first call of [`available`] or [`available_in`].
static PROBE: OnceLock<Result<PathBuf, Unavailable>> = OnceLock::new();

/// The bubblewrap program when it can confine processes here; probed on first call by
/// running `true` under the same namespaces the runner asks for.
pub fn available() -> Result<&'static Path, &'static Unavailable> {
    PROBE.get_or_init(|| program().and_then(probe)).as_ref().map(PathBuf::as_path)
}

/// [`available`], the probe's answer remembered under `cache_dir` (`sandbox-probes/`) by
/// what it depends on: the program (path and stat data: a new or re-installed bwrap, its
/// setuid bit), the kernel and this boot, the user-namespace settings (sysctls), the
/// namespaces Pleat runs in (a container is another), its user, and its seccomp and
/// no-new-privileges state. Reading those is a dozen system calls; the probe starts a
/// process in new namespaces, which costs 5 ms on an idle machine and 40 ms on a loaded
/// one, on every command — most of a cached `pleat test`. Probing only when a process
/// must run instead would move the fallback warning (said before a run starts) and the
/// `sandbox = "bwrap"` error behind the cache lookups. A stale answer fails safe: "yes"
/// that no longer holds makes bwrap refuse with its own words; "no" runs plain and says so.
pub fn available_in(cache_dir: &Path) -> Result<&'static Path, &'static Unavailable> {
    PROBE
        .get_or_init(|| program().and_then(|program| remembered(&program, &cache_dir.join("sandbox-probes"))))
        .as_ref()
        .map(PathBuf::as_path)
}

/// The bubblewrap program: `PLEAT_BWRAP`, else the first of [`PROGRAMS`] that exists.
fn program() -> Result<PathBuf, Unavailable> {
    let chosen = std::env::var_os("PLEAT_BWRAP").filter(|p| !p.is_empty()).map(PathBuf::from);
    match chosen {
        Some(path) => Some(path).filter(|p| p.is_file()),
        None => PROGRAMS.into_iter().map(PathBuf::from).find(|p| p.is_file()),
    }
    .ok_or(Unavailable::NotInstalled)
}

/// What the probe's answer depends on, as text (see [`available_in`]); `None` when the
/// program cannot be stat'ed.
fn probe_key(program: &Path) -> Option<String> {
    let meta = std::fs::metadata(program).ok()?;
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let link = |path: &str| std::fs::read_link(path).map(|l| l.display().to_string()).unwrap_or_default();
    let status: String = read("/proc/self/status")
        .lines()
        .filter(|l| ["Uid:", "Gid:", "Seccomp:", "NoNewPrivs:", "CapEff:"].iter().any(|k| l.starts_with(k)))
        .collect::<Vec<_>>()
        .join("\n");
    let mut key = format!(
        "bwrap-probe-v1\n{}\n{} {:o} {} {}.{} {}.{}\n{status}\n",
        program.display(),
        meta.len(),
        meta.mode(),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    );
    let sysctls = [
        "/proc/sys/kernel/random/boot_id",
        "/proc/sys/kernel/osrelease",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "/proc/sys/user/max_user_namespaces",
    ];
    for path in sysctls {
        key.extend([path, "=", read(path).trim(), "\n"]);
    }
    for path in ["/proc/self/ns/user", "/proc/self/ns/mnt", "/proc/self/ns/pid", "/proc/self/ns/net"] {
        key.extend([path, "=", &link(path), "\n"]);
    }
    Some(key)
}

/// The probe's answer for `program`, from the record in `dir` for its key when there is
/// one, else probed and recorded (temp + rename; a folder that cannot be written only
/// costs the next command a probe).
fn remembered(program: &Path, dir: &Path) -> Result<PathBuf, Unavailable> {
    use crate::hash::{Digest, DigestFunction};
    let Some(key) = probe_key(program) else { return probe(program.to_owned()) };
    let record = dir.join(Digest::of(DigestFunction::Blake3, key.as_bytes()).hex());
    if let Ok(text) = std::fs::read_to_string(&record) {
        match text.split_once('\n') {
            Some(("yes", _)) => return Ok(program.to_owned()),
            Some(("no", said)) => return Err(Unavailable::NoNamespaces { said: said.to_owned() }),
            _ => {}
        }
    }
    let answer = probe(program.to_owned());
    let text = match &answer {
        Ok(_) => "yes\n".to_owned(),
        Err(Unavailable::NoNamespaces { said }) => format!("no\n{said}"),
        Err(Unavailable::NotInstalled) => return answer,
    };
    if std::fs::create_dir_all(dir).is_ok() {
        let tmp = record.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &record).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    answer
}

/// Runs `true` under `program` with the namespaces the runner asks for.
fn probe(program: PathBuf) -> Result<PathBuf, Unavailable> {
    let mut command = Command::new(&program);
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
        Ok(output) if output.status.success() => Ok(program),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for bwrap that counts its starts and answers as `exit` says.
    fn fake_bwrap(dir: &Path, exit: u8) -> (PathBuf, PathBuf) {
        let program = dir.join("bwrap");
        let starts = dir.join("starts");
        let script = format!(
            "#!/bin/sh\necho x >> {}\necho 'no user namespaces' >&2\nexit {exit}\n",
            starts.display()
        );
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        (program, starts)
    }

    fn starts(file: &Path) -> usize {
        std::fs::read_to_string(file).map_or(0, |t| t.lines().count())
    }

    /// The answer is probed once and then read from the cache folder, until the program
    /// changes; a "no" is remembered with what bwrap said.
    #[test]
    fn the_probe_is_remembered_until_the_program_changes() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("cache").join("sandbox-probes");
        let (program, counter) = fake_bwrap(dir.path(), 0);
        assert_eq!(remembered(&program, &records), Ok(program.clone()));
        assert_eq!(remembered(&program, &records), Ok(program.clone()));
        assert_eq!(starts(&counter), 1, "the second answer comes from the record");
        // Another program at the same path (new stat data): probed again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (program, counter) = fake_bwrap(dir.path(), 1);
        let said = Unavailable::NoNamespaces { said: "no user namespaces".to_owned() };
        assert_eq!(remembered(&program, &records), Err(said.clone()));
        assert_eq!(remembered(&program, &records), Err(said));
        assert_eq!(starts(&counter), 2);
        // A folder that cannot hold the record costs a probe each time, nothing else.
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, "").unwrap();
        assert!(remembered(&program, &blocked.join("probes")).is_err());
        assert_eq!(starts(&counter), 3);
    }
}
