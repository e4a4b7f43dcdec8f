//! End-to-end tests of remote execution against a real BuildGrid: PostgreSQL (Debian's, started on a free 127.0.0.1 port by the test as an unprivileged user), BuildGrid's SQL scheduler (plain or over mutual TLS), and real `pleat worker` processes (and their flags' usage errors); everything killed by guards on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/remote.rs"]
mod support;

use support::{Certificates, bgd, free_port, outcomes, retry_until, sources, wait_answering, wait_port};

const PLEAT: &str = env!("CARGO_BIN_EXE_pleat");

/// A fixture with a passing, a failing and a slow test file.
const FIXTURE: &[(&str, &str)] = &[
    ("src/calc/__init__.py", ""),
    ("src/calc/ops.py", "def double(x):\n    return 2 * x\n"),
    ("tests/test_ops.py", "from calc.ops import double\n\n\ndef test_double():\n    assert double(2) == 4\n"),
    (
        "tests/test_fail.py",
        "from calc.ops import double\n\n\ndef test_wrong():\n    assert double(3) == 7, 'double is wrong'\n",
    ),
    ("tests/test_slow.py", "import time\n\n\ndef test_slow():\n    time.sleep(SLEEP)\n    assert True\n"),
];

/// Runs `program` as an unprivileged user when this is root: `initdb` and `postgres`
/// refuse to run as root.
fn as_postgres_user(program: &Path) -> Command {
    use std::os::unix::fs::MetadataExt as _;
    // This process's user: the owner of /proc/self.
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// PostgreSQL 15 on a free port, its data and socket under `dir`; stopped on drop.
struct Postgres {
    child: Option<Child>,
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Postgres {
    fn start(dir: &Path) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (scripts/install-buildgrid.sh installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").is_file())
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let home = dir.join("pg");
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).ok();
        let data = home.join("data");
        let log = home.join("pg.log");
        let out = as_postgres_user(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "bgd", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let child = as_postgres_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&home)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("postgres starts");
        let mut pg = Self { child: Some(child), bin, data, port };
        wait_port(port, pg.child.as_mut().unwrap(), &log, "postgres");
        retry_until(Duration::from_secs(30), Duration::from_millis(200), "createdb", || {
            let out = as_postgres_user(&pg.bin.join("createdb"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "bgd", "bgd"])
                .output()
                .unwrap();
            if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
        });
        pg
    }

    fn url(&self) -> String {
        // `+psycopg2`: a bare postgresql:// gets psycopg 3 from SQLAlchemy 2.1, whose
        // connections BuildGrid's notifier cannot poll.
        format!("postgresql+psycopg2://bgd@127.0.0.1:{}/bgd", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A child killed on drop.
struct Guard(Option<Child>);

impl Guard {
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// PostgreSQL, BuildGrid with the SQL scheduler, and the workers started so far.
struct Cluster {
    dir: tempfile::TempDir,
    _pg: Postgres,
    _bgd: Guard,
    port: u16,
    /// Served over TLS with these certificates (`grpcs://`), asking every client (workers
    /// too) for a certificate the test CA signed.
    tls: Option<Certificates>,
    workers: Vec<(PathBuf, Guard)>,
}

impl Cluster {
    fn start() -> Self {
        Self::start_serving(false)
    }

    /// The cluster over mutual TLS: the clients and the workers show the test CA's client
    /// certificate.
    fn start_mutual_tls() -> Self {
        Self::start_serving(true)
    }

    fn start_serving(mutual_tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tls = mutual_tls.then(|| Certificates::make(&dir.path().join("certs")));
        let channel = tls
            .as_ref()
            .map_or_else(|| "    insecure-mode: true\n".to_owned(), Certificates::buildgrid_channel);
        let bgd = bgd();
        let pg = Postgres::start(dir.path());
        let migrate = Command::new(&bgd).args(["migrate", "apply", &pg.url()]).output().unwrap();
        assert!(migrate.status.success(), "bgd migrate: {}", String::from_utf8_lossy(&migrate.stderr));
        let port = free_port();
        let tools: Vec<&str> = engine::tools::ToolSpec::builtin_names().collect();
        let wildcards = ["pleat.cache_scope", "pleat.cache_version"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(tools.iter().map(|t| format!("tool.{t}")))
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let config = dir.path().join("exec.yml");
        std::fs::write(
            &config,
            format!(
                "thread-pool-size: 100\nserver:\n  - !channel\n    address: \"127.0.0.1:{port}\"\n{channel}authorization:\n  method: none\nconnections:\n  - !sql-connection &sql\n    connection-string: {}\nstorages:\n  - !lru-storage &cas\n    size: 512M\ncaches:\n  - !lru-action-cache &ac\n    storage: *cas\n    max-cached-refs: 10000\n    allow-updates: true\n    cache-failed-actions: true\nschedulers:\n  - !sql-scheduler &sched\n    sql: *sql\n    storage: *cas\n    action-cache: *ac\n    bot-session-keepalive-timeout: 10\n    property-set: !dynamic-property-set\n      match-property-keys: [\"os\", \"arch\", \"interpreter\"]\n      wildcard-property-keys: [{wildcards}]\ninstances:\n  - name: main\n    services:\n      - !cas\n        storage: *cas\n      - !bytestream\n        storage: *cas\n      - !action-cache\n        cache: *ac\n      - !execution\n        scheduler: *sched\n",
                pg.url()
            ),
        )
        .unwrap();
        let log = dir.path().join("bgd.log");
        let mut child = Command::new(&bgd)
            .args(["server", "start"])
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("bgd.err")).unwrap())
            .spawn()
            .unwrap();
        wait_port(port, &mut child, &dir.path().join("bgd.err"), "bgd");
        let cluster = Self { dir, _pg: pg, _bgd: Guard(Some(child)), port, tls, workers: Vec::new() };
        // A worker's first call, like a run's, gets 750 ms: not enough for a server still starting.
        wait_answering(&cluster.address(), cluster.tls.as_ref(), cluster.dir.path());
        cluster
    }

    fn address(&self) -> String {
        let scheme = if self.tls.is_some() { "grpcs" } else { "grpc" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The worker flags that trust the test CA and present the client certificate (none
    /// without TLS).
    fn tls_flags(&self) -> Vec<PathBuf> {
        let Some(certs) = &self.tls else { return Vec::new() };
        let (cert, key) = certs.client();
        [
            "--tls-ca-file".into(),
            certs.ca(),
            "--tls-client-cert-file".into(),
            cert,
            "--tls-client-key-file".into(),
            key,
        ]
        .into()
    }

    /// Starts a `pleat worker` with a cache folder of its own; `path` overrides the
    /// interpreter it offers (through PATH).
    fn worker(&mut self, name: &str, path: Option<&Path>) {
        let flags = self.tls_flags();
        self.worker_with(name, path, &flags);
    }

    /// [`Self::worker`] with these TLS flags.
    fn worker_with(&mut self, name: &str, path: Option<&Path>, tls_flags: &[PathBuf]) {
        let cache = self.dir.path().join(format!("worker-{name}"));
        let log = self.dir.path().join(format!("worker-{name}.log"));
        let mut command = Command::new(PLEAT);
        command
            .arg("--cache-dir")
            .arg(&cache)
            .args(["worker", "--server", &self.address(), "--instance", "main", "--sandbox", "plain"])
            .args(tls_flags)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap().try_clone().unwrap());
        if let Some(path) = path {
            command.env("PATH", path);
        }
        let child = command.spawn().unwrap();
        self.workers.push((log, Guard(Some(child))));
    }

    fn worker_log(&self, index: usize) -> String {
        std::fs::read_to_string(&self.workers[index].0).unwrap_or_default()
    }

    /// Every worker's log, one after the other (for failure messages).
    fn worker_logs(&self) -> String {
        (0..self.workers.len()).map(|i| self.worker_log(i)).collect::<Vec<_>>().join("\n")
    }

    /// How a worker that should stop by itself exited (within 30 s).
    fn worker_exit(&mut self, index: usize) -> std::process::ExitStatus {
        let (log, guard) = &mut self.workers[index];
        let child = guard.0.as_mut().unwrap();
        retry_until(Duration::from_secs(30), Duration::from_millis(100), "the worker exiting", || {
            child.try_wait().unwrap().ok_or_else(|| std::fs::read_to_string(&*log).unwrap_or_default())
        })
    }

    fn repo(&self, sleep: f64) -> PathBuf {
        let repo = self.dir.path().join("repo");
        for (path, text) in FIXTURE {
            let full = repo.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text.replace("SLEEP", &sleep.to_string())).unwrap();
        }
        std::fs::write(
            repo.join("pyproject.toml"),
            format!(
                "[tool.pleat]\nsource_roots = [\"src\", \".\"]\nsandbox = \"plain\"\n\n[tool.pleat.remote]\naddress = \"{}\"\ninstance_name = \"main\"\ntimeout = 5\n{}",
                self.address(),
                self.tls.as_ref().map(Certificates::client_lines).unwrap_or_default()
            ),
        )
        .unwrap();
        repo
    }

    /// `pleat ARGS` in `repo`, with the cache folder of `machine`.
    fn command(&self, repo: &Path, machine: &str, args: &[&str]) -> Command {
        let mut command = Command::new(PLEAT);
        command
            .current_dir(repo)
            .arg("--root")
            .arg(repo)
            .arg("--cache-dir")
            .arg(self.dir.path().join(machine))
            .args(args)
            .env_remove("CI")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        command
    }

    /// Starts `pleat ARGS` with its output piped, killed when the guard drops.
    fn spawn(&self, repo: &Path, machine: &str, args: &[&str]) -> Guard {
        let child =
            self.command(repo, machine, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        Guard(Some(child))
    }

    fn pleat(&self, repo: &Path, machine: &str, args: &[&str]) -> (Option<i32>, String, String) {
        let output = self.command(repo, machine, args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

fn parse(run: &(Option<i32>, String, String)) -> Value {
    serde_json::from_str(&run.1).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"))
}

/// Runs every test of the fixture (`sleep` in the slow one) here, then on a client machine
/// with `--remote-execution`: every file ran on the workers, with the outcomes it has here.
/// The remote run's JSON.
fn run_here_and_remotely(cluster: &Cluster, sleep: f64) -> Value {
    let repo = cluster.repo(sleep);
    let local = cluster.pleat(&repo, "here", &["--format", "json", "test", "::", "--no-remote-cache-read"]);
    assert_eq!(local.0, Some(1), "one test fails: {local:?}");
    let local_json = parse(&local);
    let remote =
        cluster.pleat(&repo, "client", &["-v", "--format", "json", "test", "::", "--remote-execution"]);
    let remote_json = parse(&remote);
    assert_eq!(remote.0, Some(1), "{remote:?}\n{}", cluster.worker_logs());
    // The inputs went up, the results came down, nothing ran here.
    let line = remote.2.lines().find(|l| l.starts_with("pleat: remote execution: ")).unwrap_or_default();
    // The three files (a line-recording twin that started before the run ended may have
    // gone too: how many do is a matter of timing).
    let executed: u64 = line
        .strip_prefix("pleat: remote execution: ")
        .and_then(|rest| rest.split_once(" executed, 0 run here instead; "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{remote:?}"));
    assert!(executed >= 3, "{remote:?}");
    assert!(!line.contains(" 0 bytes"), "{line}");
    assert!(
        sources(&remote_json).iter().all(|(_, s)| s == "remote"),
        "every file ran remotely: {:?}\n{remote:?}\n{}",
        sources(&remote_json),
        cluster.worker_logs()
    );
    assert_eq!(remote_json["summary"]["remote"], 3, "{remote:?}");
    assert_eq!(outcomes(&local_json), outcomes(&remote_json));
    remote_json
}

#[test]
fn two_workers_run_the_tests_as_they_run_here() {
    let mut cluster = Cluster::start();
    cluster.worker("one", None);
    cluster.worker("two", None);
    let remote_json = run_here_and_remotely(&cluster, 0.5);
    // The failing test's line, as here.
    let failing = |json: &Value| {
        json["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == "tests/test_fail.py")
            .map(ToString::to_string)
            .unwrap()
    };
    assert!(failing(&remote_json).contains("double is wrong"), "{}", failing(&remote_json));
    assert!(failing(&remote_json).contains("\"line\":5"), "{}", failing(&remote_json));
    // Each file was one lease, taken by one of the workers (they log it).
    let leases = cluster.worker_log(0).matches(": started").count()
        + cluster.worker_log(1).matches(": started").count();
    assert_eq!(leases, 3, "{}\n{}", cluster.worker_log(0), cluster.worker_log(1));
}

#[test]
fn a_worker_with_another_python_never_runs_the_action() {
    let mut cluster = Cluster::start();
    // Debian's /usr/bin/python3 (3.11.2) on PATH, not the one the client finds first.
    assert!(Path::new("/usr/bin/python3").is_file(), "the test needs a second Python at /usr/bin/python3");
    cluster.worker("other-python", Some(Path::new("/usr/bin:/bin")));
    cluster.worker("same-python", None);
    let repo = cluster.repo(0.1);
    let run = cluster.pleat(&repo, "client", &["--format", "json", "test", "::", "--remote-execution"]);
    let json = parse(&run);
    assert!(
        sources(&json).iter().all(|(_, s)| s == "remote"),
        "{:?}\n{run:?}\n{}\n{}",
        sources(&json),
        cluster.worker_log(0),
        cluster.worker_log(1)
    );
    let other = cluster.worker_log(0);
    assert!(other.contains("bot session"), "the other worker was connected: {other}");
    assert!(!other.contains("lease "), "the worker with another Python took a lease: {other}");
    assert_eq!(cluster.worker_log(1).matches(": started").count(), 3, "{}", cluster.worker_log(1));
}

#[test]
fn a_worker_killed_mid_action_is_replaced_and_the_run_finishes() {
    let mut cluster = Cluster::start();
    cluster.worker("doomed", None);
    let repo = cluster.repo(6.0);
    let mut client = cluster.spawn(
        &repo,
        "client",
        &["--format", "json", "test", "tests/test_slow.py", "--remote-execution"],
    );
    retry_until(Duration::from_mins(3), Duration::from_millis(100), "a lease starting", || {
        let log = cluster.worker_log(0);
        if log.contains(": started") { Ok(()) } else { Err(log) }
    });
    cluster.workers[0].1.kill();
    let killed = Instant::now();
    cluster.worker("rescuer", None);
    let output = client.0.take().unwrap().wait_with_output().unwrap();
    let took = killed.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        sources(&json),
        [("tests/test_slow.py".to_owned(), "remote".to_owned())],
        "re-queued and run by the second worker: {stdout}\n{stderr}\n{}",
        cluster.worker_log(1)
    );
    assert!(cluster.worker_log(1).contains(": started"), "{}", cluster.worker_log(1));
    eprintln!("the run finished {:.1} s after the worker was killed", took.as_secs_f64());
}

/// Pids of the processes whose command line holds `needle` and which work inside `dir`.
fn processes_in(dir: &Path, needle: &str) -> Vec<i32> {
    let Ok(list) = std::fs::read_dir("/proc") else { return Vec::new() };
    list.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(needle) && cwd.starts_with(dir)
        })
        .collect()
}

#[test]
fn ctrl_c_cancels_the_remote_action_and_the_worker_stops_it() {
    use std::os::unix::process::ExitStatusExt as _;
    let mut cluster = Cluster::start();
    cluster.worker("one", None);
    let repo = cluster.repo(300.0);
    let mut client = cluster.spawn(&repo, "client", &["test", "tests/test_slow.py", "--remote-execution"]);
    let worker_cache = cluster.dir.path().join("worker-one");
    retry_until(
        Duration::from_mins(3),
        Duration::from_millis(100),
        "the worker running the slow test",
        || {
            if processes_in(&worker_cache, "test_slow.py").is_empty() {
                Err(cluster.worker_log(0))
            } else {
                Ok(())
            }
        },
    );
    let pid = client.0.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let interrupted = Instant::now();
    let output = client.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(2), "pleat ends by the Ctrl+C: {:?}\n{stderr}", output.status);
    assert!(interrupted.elapsed() < Duration::from_secs(10), "Ctrl+C took {:?}", interrupted.elapsed());
    // The operation was cancelled on the server, which dropped the lease: the worker stopped
    // the test, which would otherwise sleep for five minutes.
    retry_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        "the worker stopping the cancelled test",
        || {
            let left = processes_in(&worker_cache, "test_slow.py");
            let log = cluster.worker_log(0);
            if left.is_empty() && log.contains("cancelled by the server") {
                Ok(())
            } else {
                Err(format!("{left:?}\n{log}"))
            }
        },
    );
    eprintln!("the worker stopped the test {:.1} s after the Ctrl+C", interrupted.elapsed().as_secs_f64());
    // The worker is free for the next action.
    let next = cluster.pleat(
        &repo,
        "client",
        &["--format", "json", "test", "tests/test_ops.py", "--remote-execution"],
    );
    assert_eq!(next.0, Some(0), "{next:?}\n{}", cluster.worker_log(0));
    assert_eq!(sources(&parse(&next)), [("tests/test_ops.py".to_owned(), "remote".to_owned())], "{next:?}");
}

#[test]
fn over_mutual_tls_a_worker_runs_the_tests_and_one_without_a_certificate_does_not_start() {
    let mut cluster = Cluster::start_mutual_tls();
    cluster.worker("tls", None);
    run_here_and_remotely(&cluster, 0.1);
    assert_eq!(cluster.worker_log(0).matches(": started").count(), 3, "{}", cluster.worker_log(0));

    // Trusting the CA but showing no certificate: the server refuses it, and the worker
    // says which flags to check.
    let ca = cluster.tls.as_ref().unwrap().ca();
    cluster.worker_with("anonymous", None, &["--tls-ca-file".into(), ca]);
    let status = cluster.worker_exit(1);
    let log = cluster.worker_log(1);
    eprintln!("the worker without a certificate: {status}: {log}");
    assert!(!status.success(), "{status}: {log}");
    assert!(
        log.contains("cannot start the worker") && log.contains("--tls-client-cert-file"),
        "{status}: {log}"
    );
}

#[test]
fn the_worker_tls_and_token_flags_are_checked_before_it_connects() {
    let dir = tempfile::tempdir().unwrap();
    let worker = |server: &str, flags: &[&str]| {
        let output = Command::new(PLEAT)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(["worker", "--server", server])
            .args(flags)
            .env_remove("PLEAT_TEST_NO_SUCH_TOKEN")
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    // Nothing listens there: every one of these must fail before connecting.
    let grpc = format!("grpc://127.0.0.1:{}", free_port());
    let grpcs = format!("grpcs://127.0.0.1:{}", free_port());
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            &grpc,
            &["--tls-ca-file", "ca.pem"],
            &["--tls-ca-file is given, but --server is not grpcs://", "drop --tls-ca-file"],
        ),
        (
            &grpcs,
            &["--tls-client-key-file", "client.key"],
            &[
                "only one of --tls-client-cert-file and --tls-client-key-file is given",
                "mutual TLS needs both",
            ],
        ),
        (&grpcs, &["--tls-ca-file", "/no/such/ca.pem"], &["--tls-ca-file /no/such/ca.pem cannot be read"]),
        (
            &grpc,
            &["--token-env", "PLEAT_TEST_NO_SUCH_TOKEN"],
            &["--token-env PLEAT_TEST_NO_SUCH_TOKEN names an environment variable that is not set"],
        ),
    ];
    for (server, flags, said) in cases {
        let (code, stderr) = worker(server, flags);
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
        for words in said {
            assert!(stderr.contains(words), "{flags:?}: {stderr}");
        }
    }
}
