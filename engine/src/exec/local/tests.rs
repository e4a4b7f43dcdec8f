//! The sandbox runner on real processes in temp folders.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::hash::Digest;
use crate::store::{LARGE_BLOB, StoreOptions};

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    runner: LocalRunner,
}

fn fixture(keep: KeepSandboxes) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&StoreOptions::new(dir.path().join("store"))).unwrap());
    let runner =
        LocalRunner::new(Arc::clone(&store), dir.path().join("sandboxes"), dir.path().join("caches"), keep);
    Fixture { dir, store, runner }
}

impl Fixture {
    fn tree(&self, files: &[(&str, &[u8])]) -> Digest {
        let entries: BTreeMap<String, Node> = files
            .iter()
            .map(|(path, bytes)| {
                ((*path).to_owned(), Node::File { digest: self.store.put(bytes).unwrap(), executable: false })
            })
            .collect();
        tree::from_entries(&self.store, &entries).unwrap()
    }

    fn empty(&self) -> Digest {
        self.tree(&[])
    }

    fn text(&self, digest: &Digest) -> String {
        String::from_utf8(self.store.get(digest).unwrap().unwrap()).unwrap()
    }

    /// A runner on the same store and folders that confines with bubblewrap.
    fn bwrap_runner(&self) -> LocalRunner {
        LocalRunner::new(
            Arc::clone(&self.store),
            self.dir.path().join("sandboxes"),
            self.dir.path().join("caches"),
            KeepSandboxes::Never,
        )
        .with_sandbox(SandboxKind::Bwrap)
    }

    fn sh(script: &str, root: Digest) -> Process {
        let mut p = Process::new(vec!["/bin/sh".into(), "-c".into(), script.into()], root);
        p.description = format!("sh -c {script:?}");
        p
    }
}

#[test]
fn runs_with_an_empty_environment_and_a_private_home() {
    let f = fixture(KeepSandboxes::Never);
    let mut p = Process::new(vec!["/usr/bin/env".into()], f.empty());
    p.env.insert("ONLY".into(), "this".into());
    let result = f.runner.run(&p, &Cancel::new()).unwrap();
    assert_eq!(result.exit_code, 0);
    let out = f.text(&result.stdout);
    let mut names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    names.sort_unstable();
    assert_eq!(names, ["HOME", "ONLY", "TMPDIR"], "{out}");
    let home = out.lines().find_map(|l| l.strip_prefix("HOME=")).unwrap();
    assert!(home.starts_with(f.dir.path().join("sandboxes").to_str().unwrap()), "{home}");
}

#[test]
fn inputs_are_materialised_and_outputs_collected() {
    let f = fixture(KeepSandboxes::Never);
    let large = vec![b'x'; LARGE_BLOB as usize + 1];
    let root = f.tree(&[("src/in.txt", b"input"), ("big.bin", &large)]);
    let mut p = Fixture::sh(
        "cat src/in.txt > out.txt; mkdir -p d/e; echo nested > d/e/f; echo no > undeclared; wc -c < big.bin > size",
        root,
    );
    p.output_files.insert("out.txt".into());
    p.output_files.insert("size".into());
    p.output_files.insert("missing.txt".into());
    p.output_directories.insert("d".into());
    let result = f.runner.run(&p, &Cancel::new()).unwrap();
    assert_eq!(result.exit_code, 0, "{}", f.text(&result.stderr));
    let outputs = tree::entries(&f.store, &result.output_root).unwrap();
    assert_eq!(outputs.keys().collect::<Vec<_>>(), ["d/e/f", "out.txt", "size"]);
    let Node::File { digest, .. } = &outputs["out.txt"] else { panic!() };
    assert_eq!(f.text(digest), "input");
    let Node::File { digest, .. } = &outputs["size"] else { panic!() };
    assert_eq!(f.text(digest).trim(), (LARGE_BLOB + 1).to_string());
    // The sandbox is gone.
    assert_eq!(std::fs::read_dir(f.dir.path().join("sandboxes")).unwrap().count(), 0);
}

#[test]
fn exit_codes_and_stderr_come_back() {
    let f = fixture(KeepSandboxes::Never);
    let result = f.runner.run(&Fixture::sh("echo oops >&2; exit 3", f.empty()), &Cancel::new()).unwrap();
    assert_eq!(result.exit_code, 3);
    assert_eq!(f.text(&result.stderr), "oops\n");
}

#[test]
fn outputs_may_not_leave_the_sandbox() {
    let f = fixture(KeepSandboxes::Never);
    let mut p = Fixture::sh("ln -s /etc/passwd escape", f.empty());
    p.output_files.insert("escape".into());
    let error = f.runner.run(&p, &Cancel::new()).unwrap_err();
    assert!(error.to_string().contains("symlink leading outside the sandbox"), "{error}");
    let mut p = Fixture::sh("mkdir d; ln -s ../../.. d/up", f.empty());
    p.output_directories.insert("d".into());
    assert!(matches!(f.runner.run(&p, &Cancel::new()), Err(ExecError::Output { .. })));
    let mut p = Fixture::sh("true", f.empty());
    p.output_files.insert("/etc/hostname".into());
    let error = f.runner.run(&p, &Cancel::new()).unwrap_err();
    assert!(error.to_string().contains("absolute"), "{error}");
    let mut p = Fixture::sh("true", f.empty());
    p.output_files.insert("../x".into());
    assert!(matches!(f.runner.run(&p, &Cancel::new()), Err(ExecError::Output { .. })));
    // A symlink that stays inside is fine.
    let mut p = Fixture::sh("echo x > real; ln -s real alias", f.empty());
    p.output_files.insert("alias".into());
    p.output_files.insert("real".into());
    assert!(f.runner.run(&p, &Cancel::new()).is_ok());
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    #[allow(unsafe_code)]
    let found = unsafe { libc::kill(pid, 0) } == 0;
    // A zombie reaped by nobody still "exists"; look at its state too.
    found
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let f = fixture(KeepSandboxes::Never);
    let pid_file = f.dir.path().join("sleeper.pid");
    let script = format!("sleep 300 & echo $! > {}; echo started; sleep 300", pid_file.display());
    let mut p = Fixture::sh(&script, f.empty());
    p.timeout = Some(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let error = f.runner.run(&p, &Cancel::new()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let ExecError::Timeout { stdout, .. } = &error else { panic!("{error}") };
    assert_eq!(f.text(stdout), "started\n", "output up to the timeout is kept");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(pid), "the forked sleeper {pid} outlived the timeout");
}

#[test]
fn cancellation_stops_a_running_process() {
    let f = fixture(KeepSandboxes::Never);
    let p = Fixture::sh("sleep 300", f.empty());
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    let handle = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        trigger.cancel();
    });
    let error = f.runner.run(&p, &cancel).unwrap_err();
    handle.join().unwrap();
    assert!(matches!(error, ExecError::Cancelled { .. }), "{error}");
}

#[test]
fn programs_are_not_looked_up_on_the_callers_path() {
    let f = fixture(KeepSandboxes::Never);
    let p = Process::new(vec!["sh".into(), "-c".into(), "true".into()], f.empty());
    let error = f.runner.run(&p, &Cancel::new()).unwrap_err();
    assert!(error.to_string().contains("has no PATH"), "{error}");
    let mut p = p.clone();
    p.env.insert("PATH".into(), "/usr/bin:/bin".into());
    assert_eq!(f.runner.run(&p, &Cancel::new()).unwrap().exit_code, 0);
    let p = Process::new(vec!["/no/such/program".into()], f.empty());
    assert!(matches!(f.runner.run(&p, &Cancel::new()), Err(ExecError::Spawn { .. })));
}

#[test]
fn a_kept_sandbox_replays_by_hand() {
    let f = fixture(KeepSandboxes::OnFailure);
    let root = f.tree(&[("data.txt", b"replayed")]);
    let mut p = Fixture::sh("cat data.txt; echo \"$GREETING\"; exit 1", root);
    p.env.insert("GREETING".into(), "it's me".into());
    let result = f.runner.run(&p, &Cancel::new()).unwrap();
    assert_eq!(result.exit_code, 1);
    let kept = f.runner.take_kept();
    assert_eq!(kept.len(), 1);
    let replay = std::process::Command::new(kept[0].join("__run.sh")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&replay.stdout), "replayedit's me\n");
    assert_eq!(replay.status.code(), Some(1));
    // A success is not kept under on-failure.
    f.runner.run(&Fixture::sh("true", f.empty()), &Cancel::new()).unwrap();
    assert!(f.runner.take_kept().is_empty());
}

#[test]
fn named_caches_are_shared_between_runs() {
    let f = fixture(KeepSandboxes::Never);
    let mut p = Fixture::sh("echo run >> .cache/log; cat .cache/log | wc -l", f.empty());
    p.append_only_caches.insert("counter".into(), ".cache".into());
    let first = f.runner.run(&p, &Cancel::new()).unwrap();
    let second = f.runner.run(&p, &Cancel::new()).unwrap();
    assert_eq!(f.text(&first.stdout).trim(), "1");
    assert_eq!(f.text(&second.stdout).trim(), "2");
}

/// Two processes never hold one named cache at once: the second waits for the first.
#[test]
fn a_named_cache_has_one_user_at_a_time() {
    let f = fixture(KeepSandboxes::Never);
    let mut p = Fixture::sh("mkdir .cache/busy || exit 7; sleep 0.3; rmdir .cache/busy", f.empty());
    p.append_only_caches.insert("tool/project".into(), ".cache".into());
    let codes: Vec<i32> = std::thread::scope(|scope| {
        let runs: Vec<_> =
            (0..3).map(|_| scope.spawn(|| f.runner.run(&p, &Cancel::new()).unwrap().exit_code)).collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    assert_eq!(codes, [0, 0, 0]);
}

#[test]
fn large_output_goes_to_the_store_without_holding_it_in_memory() {
    let f = fixture(KeepSandboxes::Never);
    // 64 MiB of output; the runner streams it to a file and into the store.
    let result = f.runner.run(&Fixture::sh("head -c 67108864 /dev/zero", f.empty()), &Cancel::new()).unwrap();
    assert_eq!(result.stdout.size, 64 << 20);
    assert!(f.store.large_path(&result.stdout).unwrap().is_some());
}

/// Under bwrap a process can write neither outside its sandbox (the real home folder,
/// here a folder outside the sandbox) nor open a TCP connection; the plain sandbox
/// prevents neither (documented in the module).
#[test]
fn bwrap_blocks_writes_outside_and_the_network() {
    assert!(
        Path::new("/usr/bin/bwrap").is_file(),
        "bubblewrap is missing: scripts/test.sh installs the Debian package `bubblewrap`"
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let f = fixture(KeepSandboxes::Never);
    let outside = f.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let script = format!(
        "touch {out}/written 2>/dev/null && echo wrote-outside; touch {home}/.pleat-bwrap-probe 2>/dev/null && echo wrote-home; \
         (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo connected; echo done",
        out = outside.display()
    );
    let p = Process::new(vec!["/bin/bash".into(), "-c".into(), script], f.empty());
    let bwrap = f.bwrap_runner();
    let confined = bwrap.run(&p, &Cancel::new()).unwrap();
    assert_eq!(f.text(&confined.stdout), "done\n", "stderr: {}", f.text(&confined.stderr));
    assert!(!outside.join("written").exists());
    // The plain sandbox lets both through: that is what bwrap is for.
    let plain = f.runner.run(&p, &Cancel::new()).unwrap();
    let _ = std::fs::remove_file(Path::new(&home).join(".pleat-bwrap-probe"));
    let text = f.text(&plain.stdout);
    assert!(text.contains("wrote-outside") && text.contains("connected"), "{text}");
}

#[test]
fn bwrap_still_runs_and_collects_outputs() {
    let f = fixture(KeepSandboxes::Never);
    let runner = f.bwrap_runner();
    let root = f.tree(&[("in.txt", b"data")]);
    let mut p = Fixture::sh("cat in.txt > out.txt; echo $HOME", root);
    p.output_files.insert("out.txt".into());
    p.append_only_caches.insert("shared".into(), ".cache".into());
    let result = runner.run(&p, &Cancel::new()).unwrap();
    assert_eq!(result.exit_code, 0, "{}", f.text(&result.stderr));
    let outputs = tree::entries(&f.store, &result.output_root).unwrap();
    assert!(outputs.contains_key("out.txt"));
}

#[test]
fn inputs_are_leased_while_a_process_runs() {
    let f = fixture(KeepSandboxes::Never);
    let root = f.tree(&[("in.txt", b"needed")]);
    f.runner.run(&Fixture::sh("cat in.txt", root), &Cancel::new()).unwrap();
    // A collection down to nothing keeps the leased input.
    let report = f.store.gc(Some(0)).unwrap();
    assert!(report.kept_leased >= 1, "{report:?}");
    let input = Digest::of(f.store.function(), b"needed");
    assert!(f.store.contains(&input).unwrap(), "the leased input survived");
}

#[test]
fn modification_times_follow_content() {
    let f = fixture(KeepSandboxes::Never);
    let count = std::cell::Cell::new(0);
    let mtime_of = |content: &[u8]| {
        let root = f.tree(&[("a.py", content)]);
        count.set(count.get() + 1);
        let out = f.dir.path().join(format!("m{}", count.get()));
        std::fs::create_dir_all(&out).unwrap();
        materialize(&f.store, &root, &out).unwrap();
        std::fs::metadata(out.join("a.py")).unwrap().modified().unwrap()
    };
    // Same size, different content: different mtimes (mypy's cache would otherwise be stale).
    assert_ne!(mtime_of(b"def f() -> int: ..."), mtime_of(b"def f() -> str: ..."));
    assert_eq!(mtime_of(b"xyz"), mtime_of(b"xyz"));
}

/// Under bwrap a process sees no file in `/etc` that not everyone may read, no home
/// folder, no process but its own, and of the named caches only its own, writable; the
/// folders it runs from (`host_paths`) are there, read-only.
#[test]
fn bwrap_shows_nothing_private_and_only_the_processs_own_named_cache() {
    let f = fixture(KeepSandboxes::Never);
    let runner = f.bwrap_runner();
    let other = f.dir.path().join("caches").join("installer-downloads");
    std::fs::create_dir_all(&other).unwrap();
    let env = f.dir.path().join("env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(env.join("tool.py"), "X = 1\n").unwrap();
    let private = bwrap::private_entries(Path::new("/etc"));
    let first_private = private.iter().find(|(_, dir)| !dir).map(|(p, _)| p.display().to_string());
    let script = format!(
        "for f in {private}; do [ -s \"$f\" ] && echo read-private; done; \
         [ -e /root/.bashrc ] || [ -e /home/. ] && echo home; \
         [ \"$(ls /proc | grep -c '^[0-9]')\" -lt 10 ] && echo few-processes; \
         touch {other}/planted 2>/dev/null && echo wrote-other-cache; \
         touch .cache/mine && echo wrote-own-cache; \
         cat {env}/tool.py; touch {env}/planted 2>/dev/null && echo wrote-env; echo done",
        private = first_private.unwrap_or_else(|| "/nonexistent".to_owned()),
        other = other.display(),
        env = env.display(),
    );
    let mut p = Fixture::sh(&script, f.empty());
    p.append_only_caches.insert("mine".into(), ".cache".into());
    p.host_paths.push(crate::exec::HostPath { path: env.clone(), fingerprint: None });
    let result = runner.run(&p, &Cancel::new()).unwrap();
    let out = f.text(&result.stdout);
    assert_eq!(out, "few-processes\nwrote-own-cache\nX = 1\ndone\n", "stderr: {}", f.text(&result.stderr));
    assert!(!other.join("planted").exists() && !env.join("planted").exists());
    assert!(f.dir.path().join("caches/mine/mine").exists());
}

/// In the plain sandbox a folder the process runs from that it left changed (possible as
/// root) makes the run an error, which the cache never keeps; the record is forgotten (so
/// the next `ensure` rebuilds) and no later process of the run starts from it.
#[test]
fn a_plain_run_that_changes_its_tool_environment_is_an_error() {
    use crate::tools::fingerprint;
    let f = fixture(KeepSandboxes::Never);
    let env = f.dir.path().join("env");
    std::fs::create_dir_all(&env).unwrap();
    let expected = fingerprint::Expected::new(fingerprint::record(&env).unwrap());
    let mut p = Fixture::sh(&format!("echo x > {}/evil.pth", env.display()), f.empty());
    p.host_paths.push(crate::exec::HostPath { path: env.clone(), fingerprint: Some(expected.clone()) });
    let error = f.runner.run(&p, &Cancel::new()).unwrap_err();
    assert!(matches!(error, ExecError::EnvironmentChanged { .. }), "{error}");
    assert!(error.to_string().contains("was changed while it ran"), "{error}");
    assert_eq!(fingerprint::recorded(&env), None, "forgotten: the next ensure rebuilds");
    // A later process of the same run (sharing the expectation) does not start.
    let marker = f.dir.path().join("started");
    let mut later = Fixture::sh(&format!("touch {}", marker.display()), f.empty());
    later.host_paths.push(crate::exec::HostPath { path: env.clone(), fingerprint: Some(expected) });
    let error = f.runner.run(&later, &Cancel::new()).unwrap_err();
    assert!(matches!(error, ExecError::EnvironmentDamaged { .. }), "{error}");
    assert!(!marker.exists());
    // An unchanged one is no error.
    std::fs::remove_file(env.join("evil.pth")).unwrap();
    let expected = fingerprint::Expected::new(fingerprint::record(&env).unwrap());
    let mut p = Fixture::sh("true", f.empty());
    p.host_paths.push(crate::exec::HostPath { path: env, fingerprint: Some(expected) });
    assert_eq!(f.runner.run(&p, &Cancel::new()).unwrap().exit_code, 0);
}

/// A tool environment changed between runs (`ensure` only reads its record) is found
/// before a process starts from it, in either sandbox: the process never runs, the error
/// says to run again, and the record is gone so that the next `ensure` rebuilds.
#[test]
fn a_tool_environment_changed_before_a_run_is_found_before_the_process_starts() {
    use crate::tools::fingerprint;
    let f = fixture(KeepSandboxes::Never);
    for (kind, runner) in [("plain", &f.runner), ("bwrap", &f.bwrap_runner())] {
        let env = f.dir.path().join(format!("env-{kind}"));
        std::fs::create_dir_all(&env).unwrap();
        std::fs::write(env.join("tool.py"), "X = 1\n").unwrap();
        let expected = fingerprint::Expected::new(fingerprint::record(&env).unwrap());
        std::fs::write(env.join("tool.py"), "X = 2\n").unwrap();
        let marker = f.dir.path().join(format!("started-{kind}"));
        let mut p = Fixture::sh(&format!("touch {}", marker.display()), f.empty());
        p.host_paths.push(crate::exec::HostPath { path: env.clone(), fingerprint: Some(expected) });
        let error = runner.run(&p, &Cancel::new()).unwrap_err();
        assert!(matches!(error, ExecError::EnvironmentDamaged { .. }), "{kind}: {error}");
        assert!(error.to_string().contains("run again and Pleat rebuilds it"), "{error}");
        assert!(!marker.exists(), "{kind}: the process must not start");
        assert_eq!(fingerprint::recorded(&env), None, "{kind}");
    }
}
