//! The leaf runner: each process in a fresh sandbox folder materialised from the store, with an empty environment, its own process group (killed whole on timeout or cancel), stdout/stderr streamed to the store, and only declared outputs leaving.
//!
//! What the plain sandbox does not prevent (the `bwrap` mode does): reading or writing
//! anywhere the user can (absolute paths, the real user's home if the process finds it
//! itself), network access, and changing a hardlinked large input in place (the store's
//! verified reads then drop that blob rather than serve it). What it does: Pleat's own
//! environment stays unreadable (`crate::privacy`: even as root, the process lacks the
//! capabilities), and a tool environment found changed after the run (written as root, by
//! it or a process beside it) makes the run an error, never a result. Under bwrap the
//! process sees only the system's public folders, read-only, its tool environment,
//! read-only, and its sandbox and own named caches; no other process, no network.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;

use rayon::prelude::*;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Cancel, CommandRunner, ExecError, Process, ProcessResult, ResultSource, bwrap};
use crate::store::Store;
use crate::tree::{self, Node};

/// When to keep a sandbox folder after the run, for debugging by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeepSandboxes {
    #[default]
    Never,
    OnFailure,
    Always,
}

/// How a process is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxKind {
    /// A fresh folder and an empty environment; the process still sees the whole machine.
    #[default]
    Plain,
    /// bubblewrap (`super::bwrap`): no network, no capabilities, its own PID namespace and
    /// `/proc`; the system's folders read-only with what not everyone may read hidden, the
    /// tool environment read-only, only the sandbox and the process's own named caches
    /// writable.
    Bwrap,
}

/// Runs processes in fresh folders under `base`.
pub struct LocalRunner {
    store: Arc<Store>,
    /// Where sandboxes are made: on the store's filesystem, so large inputs hardlink.
    base: PathBuf,
    /// Where named append-only caches live.
    caches: PathBuf,
    keep: KeepSandboxes,
    kind: SandboxKind,
    kept: std::sync::Mutex<Vec<PathBuf>>,
}

impl LocalRunner {
    /// A runner making sandboxes under `base`; sandboxes a killed run left there go first.
    pub fn new(store: Arc<Store>, base: PathBuf, caches: PathBuf, keep: KeepSandboxes) -> Self {
        remove_abandoned_sandboxes(&base);
        Self { store, base, caches, keep, kind: SandboxKind::Plain, kept: std::sync::Mutex::new(Vec::new()) }
    }

    /// The same runner confining processes with `kind`.
    #[must_use]
    pub fn with_sandbox(mut self, kind: SandboxKind) -> Self {
        self.kind = kind;
        self
    }

    /// The command that starts `program`: itself (as root without the capabilities that
    /// read other processes' memory), or bubblewrap around it.
    fn command(
        &self,
        process: &Process,
        program: &Path,
        sandbox: &Path,
        cwd: &Path,
    ) -> Result<Command, ExecError> {
        if self.kind == SandboxKind::Plain {
            use std::os::unix::process::CommandExt as _;
            let mut command = Command::new(program);
            command.args(process.argv.iter().skip(1));
            #[allow(unsafe_code)]
            // SAFETY: the hook runs between fork and exec and makes only geteuid and prctl
            // calls, which are async-signal-safe; it allocates nothing and takes no lock.
            unsafe {
                command.pre_exec(crate::privacy::drop_inspection_capabilities);
            }
            return Ok(command);
        }
        let bwrap = bwrap::available().map_err(|why| ExecError::Spawn {
            description: process.description.clone(),
            program: "bwrap".to_owned(),
            reason: format!("sandbox = \"bwrap\" cannot run: {}; {}", why.reason(), why.remedy()),
        })?;
        let confinement = bwrap::Confinement {
            sandbox,
            writable: process.append_only_caches.keys().map(|name| self.caches.join(name)).collect(),
            read_only: process.host_paths.iter().map(|h| h.path.clone()).collect(),
            cwd,
        };
        Ok(bwrap::command(bwrap, &confinement, program, process.argv.get(1..).unwrap_or_default()))
    }

    /// In the plain sandbox, after a run: the first folder the process ran from whose files
    /// are no longer what was fingerprinted (a process running as root can write there).
    fn changed_host_path(&self, process: &Process) -> Option<PathBuf> {
        if self.kind != SandboxKind::Plain {
            return None; // read-only mounts
        }
        process
            .host_paths
            .iter()
            .find(|h| h.fingerprint.as_ref().is_some_and(|f| !f.still_intact(&h.path)))
            .map(|h| h.path.clone())
    }

    /// An error preparing a sandbox: [`ExecError::NoSpace`] naming the sandboxes' folder
    /// when the disk is full.
    fn prep_error(&self, process: &Process, e: std::io::Error) -> ExecError {
        match crate::disk::NoSpace::from_io(&e, &self.base, "while preparing its sandbox") {
            Some(full) => ExecError::NoSpace { description: process.description.clone(), full },
            None => sandbox_error(process, e),
        }
    }

    /// Sandboxes kept so far (with `__run.sh` inside), for the caller to print.
    pub fn take_kept(&self) -> Vec<PathBuf> {
        self.kept.lock().map(|mut k| std::mem::take(&mut *k)).unwrap_or_default()
    }
}

/// Before a run, in either sandbox: the first folder the process runs from whose files are
/// no longer what was fingerprinted (walked once for every process sharing the
/// fingerprint; `ToolEnvs::ensure` only read the record). Public for `test --debug`,
/// which starts processes outside the runner.
pub fn damaged_host_path(process: &Process) -> Option<PathBuf> {
    process
        .host_paths
        .iter()
        .find(|h| h.fingerprint.as_ref().is_some_and(|f| !f.intact(&h.path)))
        .map(|h| h.path.clone())
}

/// The file in each sandbox folder that its run holds an exclusive lock on.
const OWNER_LOCK: &str = "owner.lock";
/// A sandbox without an owner lock (made by an older Pleat, or killed before it took the
/// lock) is abandoned once it is this old.
const UNLOCKED_GRACE: Duration = Duration::from_mins(10);

/// Removes the sandbox folders under `base` whose run is gone: their owner lock is free (the
/// kernel drops it when the process dies, however it died). Kept sandboxes (`__run.sh`
/// inside, printed to the user) stay.
pub fn remove_abandoned_sandboxes(base: &Path) {
    let Ok(list) = std::fs::read_dir(base) else { return };
    for entry in list.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("pleat-sandbox-")
            || !entry.file_type().is_ok_and(|t| t.is_dir())
            || path.join("__run.sh").exists()
        {
            continue;
        }
        let abandoned = match std::fs::File::open(path.join(OWNER_LOCK)) {
            // Free, and not just made (a run takes its lock right after creating the file).
            Ok(lock) => {
                lock.try_lock().is_ok()
                    && lock
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|m| m.elapsed().is_ok_and(|age| age > Duration::from_secs(1)))
            }
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m.elapsed().is_ok_and(|age| age > UNLOCKED_GRACE)),
        };
        if abandoned {
            crate::children::remove_tree(&path);
        }
    }
}

fn sandbox_error(process: &Process, reason: impl std::fmt::Display) -> ExecError {
    ExecError::Sandbox { description: process.description.clone(), reason: reason.to_string() }
}

/// True when the end of an output file says a write did not fit.
fn tail_says_no_space(path: &Path) -> bool {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else { return false };
    let size = file.metadata().map_or(0, |m| m.len());
    if file.seek(SeekFrom::Start(size.saturating_sub(64 * 1024))).is_err() {
        return false;
    }
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).is_ok() && crate::disk::says_no_space(&String::from_utf8_lossy(&tail))
}

/// Writes a tree from the store into `root` (which exists and is empty): folders once
/// each, small files from one read transaction, large non-executable ones hardlinked.
pub fn materialize(store: &Store, tree: &crate::hash::Digest, root: &Path) -> Result<(), ExecError> {
    materialize_leased(store, tree, root, None)
}

/// [`materialize`], first leasing every input until `lease_until` so that a concurrent
/// garbage collection cannot evict what a running process still needs.
pub fn materialize_leased(
    store: &Store,
    tree: &crate::hash::Digest,
    root: &Path,
    lease_until: Option<std::time::SystemTime>,
) -> Result<(), ExecError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let entries = tree::entries(store, tree)?;
    // What the inputs need on disk (large ones may be hardlinks and need nothing).
    let needed: u64 = entries
        .values()
        .map(|node| match node {
            Node::File { digest, .. } => digest.size,
            Node::Symlink { .. } => 0,
        })
        .sum();
    let io = |path: &Path, e: std::io::Error| match crate::disk::NoSpace::from_io(
        &e,
        root,
        "while writing the inputs of its sandbox",
    ) {
        Some(full) => ExecError::NoSpace { description: String::new(), full: full.needing(needed) },
        None => ExecError::Sandbox {
            description: String::new(),
            reason: format!("cannot write {}: {e}", path.display()),
        },
    };
    let mut dirs: Vec<&str> = entries.keys().filter_map(|p| p.rfind('/').map(|i| &p[..i])).collect();
    dirs.dedup();
    for dir in dirs {
        let path = root.join(dir);
        std::fs::create_dir_all(&path).map_err(|e| io(&path, e))?;
    }
    let files: Vec<(&String, crate::hash::Digest, bool)> = entries
        .iter()
        .filter_map(|(path, node)| match node {
            Node::File { digest, executable } => Some((path, *digest, *executable)),
            Node::Symlink { .. } => None,
        })
        .collect();
    let digests: Vec<crate::hash::Digest> = files.iter().map(|(_, d, _)| *d).collect();
    if let Some(until) = lease_until {
        // Leased (and checked) in one commit before any is read: what is missing now was
        // taken before this run held it, and the process cannot run without it.
        if let Some(gone) = store.lease(&digests, until)?.first() {
            let path = files.iter().find(|(_, d, _)| d == gone).map_or("?", |(p, _, _)| p.as_str());
            return Err(ExecError::Sandbox {
                description: String::new(),
                reason: format!(
                    "the input {path} ({gone:?}) was evicted from the store before the process started; run again to store it anew"
                ),
            });
        }
    }
    let small = store.get_small_many(&digests)?;
    // Writing is system calls on fresh inodes: spread over the cores.
    files.into_par_iter().zip(small).try_for_each(|((path, digest, executable), bytes)| {
        let target = root.join(path);
        // Large, non-executable inputs are hardlinked (one inode with the store, read-only).
        if bytes.is_none()
            && !executable
            && store.large_path(&digest)?.is_some_and(|p| std::fs::hard_link(p, &target).is_ok())
        {
            return Ok(());
        }
        let bytes = match bytes {
            Some(bytes) => bytes,
            None => store.get(&digest)?.ok_or_else(|| {
                io(&target, std::io::Error::other(format!("{digest:?} is not in the store")))
            })?,
        };
        let mode = if executable { 0o755 } else { 0o644 };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&target)
            .map_err(|e| io(&target, e))?;
        file.write_all(&bytes).map_err(|e| io(&target, e))?;
        // The modification time is a function of the content: tools that trust mtime and
        // size (mypy's cache, .pyc files) see every content change, even within a second.
        file.set_times(std::fs::FileTimes::new().set_modified(content_mtime(&digest)))
            .map_err(|e| io(&target, e))
    })?;
    for (path, node) in &entries {
        if let Node::Symlink { target: link } = node {
            let target = root.join(path);
            std::os::unix::fs::symlink(link, &target).map_err(|e| io(&target, e))?;
        }
    }
    Ok(())
}

/// A modification time derived from a content digest: 2001-09-09 plus up to ~3 years.
pub fn content_mtime(digest: &crate::hash::Digest) -> std::time::SystemTime {
    let offset =
        u64::from(u32::from_le_bytes([digest.hash[0], digest.hash[1], digest.hash[2], digest.hash[3]]))
            % 100_000_000;
    std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000 + offset)
}

/// The program to start: a path (relative ones resolved in the working directory), or a
/// bare name looked up on the process's own `PATH` — never the caller's.
fn program(process: &Process, cwd: &Path) -> Result<PathBuf, ExecError> {
    let spawn = |reason: String| ExecError::Spawn {
        description: process.description.clone(),
        program: process.argv.first().cloned().unwrap_or_default(),
        reason,
    };
    let name = process.argv.first().ok_or_else(|| spawn("the process has no program".to_owned()))?;
    if name.contains('/') {
        return Ok(cwd.join(name));
    }
    let Some(path) = process.env.get("PATH") else {
        return Err(spawn(format!(
            "`{name}` is not a path and the process's environment has no PATH; give an absolute path or set PATH"
        )));
    };
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| spawn(format!("`{name}` is not on the process's PATH ({path})")))
}

/// Quotes a string for `sh`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `__run.sh`: replays the process by hand in a kept sandbox.
fn run_script(process: &Process, env: &BTreeMap<String, String>, program: &Path) -> String {
    use std::fmt::Write as _;
    let mut script = String::from("#!/bin/sh\n");
    let _ = writeln!(script, "# Replays: {}", process.description.replace('\n', " "));
    script.push_str("cd \"$(dirname \"$0\")/root\" || exit 1\n");
    if !process.working_directory.is_empty() {
        let _ = writeln!(script, "cd {} || exit 1", shell_quote(&process.working_directory));
    }
    script.push_str("exec env -i");
    for (name, value) in env {
        let _ = write!(script, " {}", shell_quote(&format!("{name}={value}")));
    }
    let _ = write!(script, " {}", shell_quote(&program.to_string_lossy()));
    for arg in process.argv.iter().skip(1) {
        let _ = write!(script, " {}", shell_quote(arg));
    }
    script.push('\n');
    script
}

/// Checks an output path: relative, inside the working directory's tree.
fn check_output_path(process: &Process, path: &str) -> Result<(), ExecError> {
    let bad = |reason: &str| ExecError::Output {
        description: process.description.clone(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(bad("is an absolute path"));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) || path.is_empty() {
        return Err(bad("leaves the sandbox (it holds `..` or is empty)"));
    }
    Ok(())
}

/// Collects the declared outputs into a tree; symlinks may not lead outside `root`.
fn collect_outputs(
    store: &Store,
    process: &Process,
    root: &Path,
    cwd: &Path,
) -> Result<crate::hash::Digest, ExecError> {
    let mut entries = BTreeMap::new();
    let outside = |path: &str| ExecError::Output {
        description: process.description.clone(),
        path: path.to_owned(),
        reason: "is a symlink leading outside the sandbox".to_owned(),
    };
    let visit = |rel: &str, full: &Path, entries: &mut BTreeMap<String, Node>| -> Result<bool, ExecError> {
        // A folder on the way that is a symlink would make Pleat read through it, out of
        // the sandbox (a `.pleat` replaced by a link to a forged report).
        if symlinked_parent(cwd, rel) {
            return Err(ExecError::Output {
                description: process.description.clone(),
                path: rel.to_owned(),
                reason: "lies under a folder that is a symlink".to_owned(),
            });
        }
        let Ok(meta) = std::fs::symlink_metadata(full) else { return Ok(false) };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(full).map_err(|e| sandbox_error(process, e))?;
            let resolved = full.parent().unwrap_or(root).join(&target);
            if target.is_absolute() || !normalize(&resolved).starts_with(root) {
                return Err(outside(rel));
            }
            entries.insert(rel.to_owned(), Node::Symlink { target: target.to_string_lossy().into_owned() });
            return Ok(true);
        }
        if meta.is_file() {
            let digest = store.put_file(full)?;
            entries.insert(
                rel.to_owned(),
                Node::File { digest, executable: meta.permissions().mode() & 0o111 != 0 },
            );
            return Ok(true);
        }
        Ok(meta.is_dir())
    };
    for path in &process.output_files {
        check_output_path(process, path)?;
        visit(path, &cwd.join(path), &mut entries)?;
    }
    for dir in &process.output_directories {
        check_output_path(process, dir)?;
        let mut stack = vec![(dir.clone(), cwd.join(dir))];
        while let Some((rel, full)) = stack.pop() {
            let is_dir = std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir());
            if !is_dir {
                visit(&rel, &full, &mut entries)?;
                continue;
            }
            let list = std::fs::read_dir(&full).map_err(|e| sandbox_error(process, e))?;
            for entry in list.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                stack.push((format!("{rel}/{name}"), entry.path()));
            }
        }
    }
    Ok(tree::from_entries(store, &entries)?)
}

/// True when a folder of `rel` (below `cwd`, the file itself aside) is a symlink.
fn symlinked_parent(cwd: &Path, rel: &str) -> bool {
    let mut dir = cwd.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    parts[..parts.len().saturating_sub(1)].iter().any(|part| {
        dir.push(part);
        std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink())
    })
}

/// Resolves `.` and `..` without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl CommandRunner for LocalRunner {
    fn run(&self, process: &Process, cancel: &Cancel) -> Result<ProcessResult, ExecError> {
        if process.cache_only {
            // Without a cache in front (`--no-cache`) a cache-only process has no answer.
            return Err(ExecError::NotCached { description: process.description.clone() });
        }
        if let Some(path) = damaged_host_path(process) {
            return Err(ExecError::EnvironmentDamaged { description: process.description.clone(), path });
        }
        let started = Instant::now();
        std::fs::create_dir_all(&self.base).map_err(|e| self.prep_error(process, e))?;
        let sandbox = tempfile::Builder::new()
            .prefix("pleat-sandbox-")
            .tempdir_in(&self.base)
            .map_err(|e| self.prep_error(process, e))?;
        // Held while the sandbox is in use: a later run removes the folder once it is free.
        let owner = std::fs::File::create(sandbox.path().join(OWNER_LOCK))
            .map_err(|e| self.prep_error(process, e))?;
        owner.lock().map_err(|e| self.prep_error(process, e))?;
        let root = sandbox.path().join("root");
        let home = sandbox.path().join("home");
        let tmp = sandbox.path().join("tmp");
        for dir in [&root, &home, &tmp] {
            std::fs::create_dir_all(dir).map_err(|e| self.prep_error(process, e))?;
        }
        // Inputs are leased for the process's time limit (an hour without one) and ten minutes more.
        let lease = std::time::SystemTime::now()
            + process.timeout.unwrap_or(Duration::from_hours(1))
            + Duration::from_mins(10);
        materialize_leased(&self.store, &process.input_root, &root, Some(lease)).map_err(|e| match e {
            ExecError::Sandbox { reason, .. } => sandbox_error(process, reason),
            ExecError::NoSpace { full, .. } => ExecError::NoSpace {
                description: process.description.clone(),
                full: crate::disk::NoSpace { folder: self.base.clone(), ..full },
            },
            other => other,
        })?;
        let cwd = root.join(&process.working_directory);
        std::fs::create_dir_all(&cwd).map_err(|e| self.prep_error(process, e))?;
        // One process at a time per named cache: the tools that keep one (mypy) do not
        // expect a second writer, and a half-written entry crashes the next run.
        let mut cache_locks = Vec::new();
        for (name, rel) in &process.append_only_caches {
            let shared = self.caches.join(name);
            std::fs::create_dir_all(&shared).map_err(|e| self.prep_error(process, e))?;
            let lock = std::fs::File::create(shared.with_extension("lock"))
                .map_err(|e| self.prep_error(process, e))?;
            lock.lock().map_err(|e| self.prep_error(process, e))?;
            cache_locks.push(lock);
            let link = cwd.join(rel);
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent).map_err(|e| self.prep_error(process, e))?;
            }
            std::os::unix::fs::symlink(&shared, &link).map_err(|e| self.prep_error(process, e))?;
        }

        let mut env = process.env.clone();
        if let (Some(name), Some(slot)) = (&process.execution_slot_variable, process.execution_slot) {
            env.insert(name.clone(), slot.to_string());
        }
        env.entry("HOME".to_owned()).or_insert_with(|| home.to_string_lossy().into_owned());
        env.entry("TMPDIR".to_owned()).or_insert_with(|| tmp.to_string_lossy().into_owned());
        let program = program(process, &cwd)?;
        let stdout_path = sandbox.path().join("stdout");
        let stderr_path = sandbox.path().join("stderr");
        let stdout = std::fs::File::create(&stdout_path).map_err(|e| self.prep_error(process, e))?;
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| self.prep_error(process, e))?;
        if !process.append_only_caches.is_empty() {
            std::fs::create_dir_all(&self.caches).map_err(|e| self.prep_error(process, e))?;
        }
        let mut command = self.command(process, &program, sandbox.path(), &cwd)?;
        command.env_clear().envs(&env).current_dir(&cwd).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        // Its own group, killed with Pleat, its orphans swept when it ends (`children`).
        let mut spawned =
            crate::children::spawn(&mut command, Some(sandbox.path())).map_err(|e| ExecError::Spawn {
                description: process.description.clone(),
                program: program.display().to_string(),
                reason: e.to_string(),
            })?;
        let pgid = spawned.pgid();
        let child = &mut spawned.child;
        let deadline = process.timeout.map(|t| started + t);
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) => {}
                Err(e) => break Err(sandbox_error(process, e)),
            }
            if cancel.is_cancelled() {
                crate::children::kill_group(pgid);
                let _ = child.wait();
                return Err(ExecError::Cancelled { description: process.description.clone() });
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                crate::children::kill_group(pgid);
                let _ = child.wait();
                let stdout = self.store.put_file(&stdout_path)?;
                let stderr = self.store.put_file(&stderr_path)?;
                return Err(ExecError::Timeout {
                    description: process.description.clone(),
                    after: started.elapsed(),
                    stdout,
                    stderr,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        // Whatever the process left running in its group, or adopted by Pleat from its
        // sandbox, goes with it.
        drop(spawned);
        drop(cache_locks);
        let status = status?;
        if let Some(path) = self.changed_host_path(process) {
            let description = process.description.clone();
            return Err(ExecError::EnvironmentChanged { description, path });
        }
        let exit_code = status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt as _;
            128 + status.signal().unwrap_or(0)
        });
        // A failure on a full disk (or one that says a write did not fit) may be the disk's.
        let disk_full = exit_code != 0
            && (crate::disk::space(sandbox.path()).is_some_and(|s| s.free < crate::disk::LOW_SPACE)
                || tail_says_no_space(&stdout_path)
                || tail_says_no_space(&stderr_path));
        let stdout = self.store.put_file(&stdout_path)?;
        let stderr = self.store.put_file(&stderr_path)?;
        let output_root = collect_outputs(&self.store, process, &root, &cwd)?;
        let keep = match self.keep {
            KeepSandboxes::Always => true,
            KeepSandboxes::OnFailure => exit_code != 0,
            KeepSandboxes::Never => false,
        };
        let mut kept_sandbox = None;
        if keep {
            let script = sandbox.path().join("__run.sh");
            std::fs::write(&script, run_script(process, &env, &program))
                .map_err(|e| self.prep_error(process, e))?;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| self.prep_error(process, e))?;
            let kept = sandbox.keep();
            kept_sandbox = Some(kept.clone());
            if let Ok(mut list) = self.kept.lock() {
                list.push(kept);
            }
        }
        Ok(ProcessResult {
            exit_code,
            stdout,
            stderr,
            output_root,
            duration: started.elapsed(),
            source: ResultSource::Ran,
            kept_sandbox,
            disk_full,
        })
    }
}

#[cfg(test)]
mod tests;
