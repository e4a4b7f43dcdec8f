//! Every process Pleat starts, and that none outlives Pleat: each in its own process group with a parent-death signal, registered until reaped; Pleat as the subreaper that finds and kills what a finished process left behind (double-forked `setsid` daemons); a signal thread that kills every group on SIGINT/SIGTERM/SIGHUP and runs the stop hooks (work elsewhere that must be told); a watchdog process that does the same when Pleat itself is killed with SIGKILL.
//!
//! Processes are attributed to a run by their process group and, once they leave it, by
//! their sandbox: a working folder or an environment (`HOME`, `TMPDIR`) inside the sandbox
//! folder of the process that started them. A daemon that leaves its group, changes to
//! another folder and clears its environment is attributed to nothing; Pleat kills it when
//! no process of its own is running any more (at the end of a goal at the latest), or, after
//! a SIGKILL, not at all.
//!
//! Every spawn goes through [`spawn`] or [`output`], which must be waited for on the thread
//! that spawned (the parent-death signal fires when the spawning *thread* ends; [`Spawned`]
//! is not `Send` for that reason). [`install`] (once, first thing in `main`, while the
//! process has one thread) turns the signal thread, the subreaper and the watchdog on;
//! without it (the engine's own tests) processes still get their group and parent-death
//! signal.

use std::collections::BTreeMap;
use std::io::{self, Read as _};
use std::marker::PhantomData;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

/// A process Pleat started and has not reaped yet.
struct Entry {
    pgid: i32,
    sandbox: Option<PathBuf>,
}

/// Spawns hold it shared from before the fork until the child is registered; sweeps hold it
/// exclusively, so a sweep never takes a child being born for an orphan.
static GATE: RwLock<()> = RwLock::new(());
/// Live children by pid.
static LIVE: Mutex<BTreeMap<i32, Entry>> = Mutex::new(BTreeMap::new());
/// Set once a signal arrived: nothing new starts.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// Whether orphans re-parent to Pleat ([`install`] ran).
static SUBREAPER: AtomicBool = AtomicBool::new(false);
/// The watchdog's pid and the write end of its pipe (-1: none).
static WATCHDOG_PID: AtomicI32 = AtomicI32::new(-1);
static WATCHDOG_FD: AtomicI32 = AtomicI32::new(-1);
/// The write end of the self-pipe the signal handler writes to.
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
/// An interactive process runs in the terminal's foreground group ([`foreground`]).
static FOREGROUND: AtomicBool = AtomicBool::new(false);
/// A Ctrl+C that arrived while [`FOREGROUND`] was set.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// What must be told before Pleat ends on a signal ([`on_stop`]), by registration number.
static HOOKS: Mutex<BTreeMap<u64, Hook>> = Mutex::new(BTreeMap::new());
/// The next registration number.
static NEXT_HOOK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The longest Pleat waits for the hooks when it stops on a signal.
const HOOKS_LIMIT: Duration = Duration::from_secs(3);

type Hook = std::sync::Arc<dyn Fn() + Send + Sync>;

/// A hook registered with [`on_stop`]; dropping it unregisters it.
pub struct StopHook(u64);

impl Drop for StopHook {
    fn drop(&mut self) {
        HOOKS.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.0);
    }
}

/// Registers `hook` to run when Pleat stops on a signal (Ctrl+C), after its own processes
/// were killed and before it ends: for work running elsewhere that must be told (a remote
/// executor's operations). Hooks run together on one thread, for at most a few seconds.
#[must_use = "the hook is unregistered when the returned guard drops"]
pub fn on_stop(hook: impl Fn() + Send + Sync + 'static) -> StopHook {
    let id = NEXT_HOOK.fetch_add(1, Ordering::SeqCst);
    HOOKS.lock().unwrap_or_else(PoisonError::into_inner).insert(id, std::sync::Arc::new(hook));
    StopHook(id)
}

/// Runs the registered hooks on a thread of their own, waiting for them up to
/// [`HOOKS_LIMIT`].
fn run_hooks() {
    let hooks: Vec<Hook> = HOOKS.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
    if hooks.is_empty() {
        return;
    }
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("pleat-stop-hooks".to_owned()).spawn(move || {
        for hook in hooks {
            hook();
        }
        let _ = done.send(());
    });
    if spawned.is_ok() {
        let _ = finished.recv_timeout(HOOKS_LIMIT);
    }
}

/// While `on`, Ctrl+C (SIGINT) belongs to an interactive process Pleat started in the
/// terminal's own process group (`pleat test --debug`): it gets the signal from the terminal
/// and tears down as it would by hand, and Pleat only records it ([`interrupted`]) instead of
/// killing everything and ending at once. SIGTERM and SIGHUP still end Pleat.
pub fn foreground(on: bool) {
    FOREGROUND.store(on, Ordering::SeqCst);
}

/// Whether a Ctrl+C arrived during [`foreground`] (and forgets it).
pub fn interrupted() -> bool {
    INTERRUPTED.swap(false, Ordering::SeqCst)
}

fn live() -> std::sync::MutexGuard<'static, BTreeMap<i32, Entry>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A started process: killed with its whole group, and what it left behind swept, when
/// dropped (after the caller waited for it, or not).
pub struct Spawned {
    pub child: Child,
    pgid: i32,
    sandbox: Option<PathBuf>,
    /// Not `Send`: the parent-death signal is tied to the spawning thread.
    _thread_bound: PhantomData<*const ()>,
}

impl Spawned {
    /// The process group (the process's own pid).
    pub fn pgid(&self) -> i32 {
        self.pgid
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        kill_group(self.pgid);
        let _ = self.child.wait();
        live().remove(&self.pgid);
        tell_watchdog(&format!("-{}\n", self.pgid));
        settle(self.pgid, self.sandbox.as_deref());
    }
}

/// Starts `command` in its own process group, with SIGKILL as its parent-death signal,
/// registered (with the sandbox folder it runs in, if any) until the returned guard drops.
pub fn spawn(command: &mut Command, sandbox: Option<&Path>) -> io::Result<Spawned> {
    command.process_group(0);
    let parent = std::process::id();
    #[allow(unsafe_code)]
    // SAFETY: the hook runs between fork and exec and calls only prctl, getppid and kill,
    // which are async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || die_with_parent(parent));
    }
    let _gate = GATE.read().unwrap_or_else(PoisonError::into_inner);
    if STOPPING.load(Ordering::SeqCst) {
        return Err(io::Error::other("Pleat is stopping on a signal, so it starts no new process"));
    }
    let child = command.spawn()?;
    let pgid = i32::try_from(child.id()).map_err(io::Error::other)?;
    live().insert(pgid, Entry { pgid, sandbox: sandbox.map(Path::to_owned) });
    tell_watchdog(&format!(
        "+{pgid} {}\n",
        sandbox.map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    Ok(Spawned { child, pgid, sandbox: sandbox.map(Path::to_owned), _thread_bound: PhantomData })
}

/// [`Command::output`] through [`spawn`]: stdout and stderr captured, stdin empty.
pub fn output(command: &mut Command) -> io::Result<Output> {
    use std::process::Stdio;
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut spawned = spawn(command, None)?;
    // Reading both pipes to the end, as `wait_with_output` does, needs the `Child` by value.
    let mut stdout = spawned.child.stdout.take();
    let mut stderr = spawned.child.stderr.take();
    let (out, err) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut buffer = Vec::new();
            if let Some(pipe) = stderr.as_mut() {
                let _ = pipe.read_to_end(&mut buffer);
            }
            buffer
        });
        let mut buffer = Vec::new();
        if let Some(pipe) = stdout.as_mut() {
            let _ = pipe.read_to_end(&mut buffer);
        }
        (buffer, reader.join().unwrap_or_default())
    });
    let status = spawned.child.wait()?;
    Ok(Output { status, stdout: out, stderr: err })
}

/// In the child, before exec: SIGKILL when the parent goes; gone already if it has.
fn die_with_parent(parent: u32) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    // The parent may have died between fork and prctl: then nothing would ever signal.
    #[allow(unsafe_code)]
    // SAFETY: getppid cannot fail.
    let now = unsafe { libc::getppid() };
    if u32::try_from(now).ok() != Some(parent) {
        // No allocation between fork and exec: a raw OS error.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// Sends SIGKILL to a whole process group.
pub fn kill_group(pgid: i32) {
    if pgid <= 1 {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: killpg only sends a signal; a stale group fails with ESRCH, which is fine.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

fn group_exists(pgid: i32) -> bool {
    #[allow(unsafe_code)]
    // SAFETY: signal 0 checks for existence only.
    let alive = unsafe { libc::killpg(pgid, 0) };
    alive == 0
}

/// After a process ended: waits (briefly) for its group to empty, sweeping what re-parents
/// to Pleat meanwhile.
fn settle(pgid: i32, sandbox: Option<&Path>) {
    for _ in 0..40 {
        sweep(Sweep::After { pgid, sandbox });
        if !group_exists(pgid) {
            break;
        }
        kill_group(pgid);
        std::thread::sleep(Duration::from_millis(5));
    }
    sweep(Sweep::After { pgid, sandbox });
}

#[derive(Clone, Copy)]
enum Sweep<'a> {
    /// A process of this group and sandbox ended.
    After { pgid: i32, sandbox: Option<&'a Path> },
    /// Pleat is stopping: every orphan goes.
    All,
}

/// `/proc/<pid>/stat`: state, parent, process group.
fn stat(pid: i32) -> Option<(u8, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: read after the last one.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Pids of every process visible in `/proc`.
fn all_pids() -> Vec<i32> {
    let Ok(list) = std::fs::read_dir("/proc") else { return Vec::new() };
    list.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect()
}

/// Whether a process works in, or carries in its environment, a path inside `sandbox`.
fn inside(pid: i32, sandbox: &Path) -> bool {
    if std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(sandbox)) {
        return true;
    }
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    let needle = sandbox.as_os_str().as_encoded_bytes();
    !needle.is_empty() && environ.split(|b| *b == 0).any(|var| var.windows(needle.len()).any(|w| w == needle))
}

/// Kills and reaps the orphans that re-parented to Pleat (the subreaper) and belong to what
/// ended: its group or its sandbox, or anything once no process of Pleat's runs. Exited
/// orphans (zombies) are reaped whoever they belonged to.
fn sweep(what: Sweep) {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return;
    }
    let _gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let watchdog = WATCHDOG_PID.load(Ordering::SeqCst);
    let (registered, idle) = {
        let live = live();
        (live.keys().copied().collect::<Vec<_>>(), live.is_empty())
    };
    for pid in all_pids() {
        if pid == watchdog || registered.contains(&pid) {
            continue;
        }
        let Some((state, ppid, pgrp)) = stat(pid) else { continue };
        if ppid != me {
            continue;
        }
        let doomed = idle
            || state == b'Z'
            || match what {
                Sweep::All => true,
                Sweep::After { pgid, sandbox } => pgrp == pgid || sandbox.is_some_and(|s| inside(pid, s)),
            };
        if doomed {
            kill_and_reap(pid);
        }
    }
}

/// SIGKILL to an adopted orphan, then reaps it (without blocking on one that will not die).
fn kill_and_reap(pid: i32) {
    #[allow(unsafe_code)]
    // SAFETY: kill sends a signal; waitpid on a child of ours with WNOHANG and a valid
    // status pointer only reaps it.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        for _ in 0..20 {
            if libc::waitpid(pid, &raw mut status, libc::WNOHANG) != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Sends a line to the watchdog (one `write`, so lines from threads never interleave).
fn tell_watchdog(line: &str) {
    let fd = WATCHDOG_FD.load(Ordering::SeqCst);
    if fd < 0 || line.len() > libc::PIPE_BUF {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: writes bytes from a live buffer of that length to our own pipe; a dead
    // watchdog makes it fail with EPIPE (SIGPIPE is ignored by Rust programs).
    unsafe {
        libc::write(fd, line.as_ptr().cast(), line.len());
    }
}

/// Blocks forever once a signal is being handled: the signal thread ends the process with
/// that signal, and the caller (about to report the failures of the processes it killed
/// and exit with another code) must not win the race.
pub fn hold_if_stopping() {
    while STOPPING.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// Turns on what makes processes die with Pleat: the subreaper, the signal thread and the
/// watchdog. Call it first thing in `main`, while the process has a single thread (it forks).
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        start_watchdog();
        #[allow(unsafe_code)]
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes a flag and touches no memory.
        let subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        SUBREAPER.store(subreaper == 0, Ordering::SeqCst);
        start_signal_thread();
    });
}

fn pipe() -> Option<(i32, i32)> {
    let mut fds = [0; 2];
    #[allow(unsafe_code)]
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    (made == 0).then_some((fds[0], fds[1]))
}

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::SeqCst);
    let byte = u8::try_from(signal).unwrap_or(0);
    #[allow(unsafe_code)]
    // SAFETY: write is async-signal-safe; the buffer is a local byte.
    unsafe {
        libc::write(fd, (&raw const byte).cast(), 1);
    }
}

fn start_signal_thread() {
    let Some((read, write)) = pipe() else { return };
    SIGNAL_FD.store(write, Ordering::SeqCst);
    let thread = std::thread::Builder::new().name("pleat-signals".to_owned()).spawn(move || {
        let mut byte = 0u8;
        loop {
            #[allow(unsafe_code)]
            // SAFETY: reads one byte into a local from our own pipe.
            let n = unsafe { libc::read(read, (&raw mut byte).cast(), 1) };
            if n == 1 && libc::c_int::from(byte) == libc::SIGINT && FOREGROUND.load(Ordering::SeqCst) {
                INTERRUPTED.store(true, Ordering::SeqCst);
            } else if n == 1 {
                stop(libc::c_int::from(byte));
            } else if n == 0 {
                return;
            }
        }
    });
    if thread.is_err() {
        return;
    }
    for signal in SIGNALS {
        #[allow(unsafe_code)]
        // SAFETY: installs a handler that only writes one byte to a pipe; the sigaction
        // struct is zeroed and then filled in.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&raw mut action.sa_mask);
            libc::sigaction(signal, &raw const action, std::ptr::null_mut());
        }
    }
}

/// On a signal: nothing new starts, every running group and every orphan is killed, the
/// hooks run ([`on_stop`]), the sandboxes in use are removed, and Pleat ends by the same signal (a shell sees 128 +
/// its number: 130 for Ctrl+C).
fn stop(signal: libc::c_int) -> ! {
    let sandboxes: Vec<PathBuf> = {
        let _gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
        STOPPING.store(true, Ordering::SeqCst);
        let live = live();
        for entry in live.values() {
            kill_group(entry.pgid);
        }
        live.values().filter_map(|e| e.sandbox.clone()).collect()
    };
    run_hooks();
    for _ in 0..3 {
        sweep(Sweep::All);
        std::thread::sleep(Duration::from_millis(5));
    }
    for sandbox in &sandboxes {
        remove_tree(sandbox);
    }
    #[allow(unsafe_code)]
    // SAFETY: resets the disposition to the default and raises the signal, which ends
    // the process; exit is the fallback should it return.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
    std::process::exit(128 + signal);
}

/// Removes a folder tree, making folders writable first when a tool left them read-only.
pub fn remove_tree(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return;
    }
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&dir) else { continue };
        if !meta.is_dir() {
            continue;
        }
        let _ = std::fs::set_permissions(
            &dir,
            std::fs::Permissions::from_mode(meta.permissions().mode() | 0o700),
        );
        if let Ok(list) = std::fs::read_dir(&dir) {
            stack.extend(list.flatten().map(|e| e.path()));
        }
    }
    let _ = std::fs::remove_dir_all(path);
}

/// Forks the watchdog: a copy of Pleat (forked while it has one thread) that reads which
/// groups and sandboxes are live from a pipe and, when the pipe closes because Pleat ended
/// however it ended, kills what is still registered and removes the sandboxes.
fn start_watchdog() {
    let Some((read, write)) = pipe() else { return };
    #[allow(unsafe_code)]
    // SAFETY: the process has one thread (install's contract), so the child may run any
    // code after fork.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => {
            close(read);
            close(write);
        }
        0 => {
            close(write);
            watchdog(read);
        }
        child => {
            close(read);
            WATCHDOG_PID.store(child, Ordering::SeqCst);
            WATCHDOG_FD.store(write, Ordering::SeqCst);
        }
    }
}

fn close(fd: i32) {
    #[allow(unsafe_code)]
    // SAFETY: closes a descriptor this module opened and no one else uses.
    unsafe {
        libc::close(fd);
    }
}

/// The watchdog's life: see [`start_watchdog`].
fn watchdog(read: i32) -> ! {
    use std::io::BufRead as _;
    use std::os::fd::FromRawFd as _;
    #[allow(unsafe_code)]
    // SAFETY: signal dispositions and descriptors of this fresh single-threaded process:
    // terminal signals are ignored (Ctrl+C reaches the whole foreground group, and the
    // watchdog must outlive Pleat), and stdin/stdout/stderr point to /dev/null so that a
    // reader of Pleat's output sees its end when Pleat ends.
    unsafe {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
        }
    }
    // SAFETY: `read` is the read end of the pipe, owned by this process from here on.
    #[allow(unsafe_code)]
    let pipe = unsafe { std::fs::File::from_raw_fd(read) };
    let mut groups: BTreeMap<i32, PathBuf> = BTreeMap::new();
    for line in std::io::BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix('+') {
            let (pgid, sandbox) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Ok(pgid) = pgid.parse() {
                groups.insert(pgid, PathBuf::from(sandbox));
            }
        } else if let Some(pgid) = line.strip_prefix('-').and_then(|p| p.parse().ok()) {
            groups.remove(&pgid);
        }
    }
    // Pleat is gone: its children died with it (parent-death signal); their groups and
    // whatever still works in their sandboxes go now.
    let sandboxes: Vec<&PathBuf> = groups.values().filter(|s| !s.as_os_str().is_empty()).collect();
    for _ in 0..3 {
        for pgid in groups.keys() {
            kill_group(*pgid);
        }
        if !sandboxes.is_empty() {
            for pid in all_pids() {
                if sandboxes.iter().any(|s| inside(pid, s)) {
                    #[allow(unsafe_code)]
                    // SAFETY: kill sends a signal.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for sandbox in sandboxes {
        remove_tree(sandbox);
    }
    #[allow(unsafe_code)]
    // SAFETY: ends this process without running the parent's exit handlers.
    unsafe {
        libc::_exit(0)
    }
}
