#!/usr/bin/env bash
# Owns: the sandbox cost benchmark (issue 10, item 6). What bubblewrap adds per process, plain
# against bwrap: (1) `true` started bare and under the bwrap command line Pleat uses (the same
# binds: /usr, /etc with its private files hidden, /sys, a private /dev, /proc, /tmp), RUNS
# times each, one after the other; (2) `pleat test --force ::` over FILES one-test files with
# sandbox = "plain" and sandbox = "bwrap", the median of ROUNDS runs, per file.
#
# Usage: bench/sandbox.sh [RUNS] [FILES] [ROUNDS]   (defaults 200, 20, 3)
# Environment: PLEAT_BIN (default: target/debug/pleat, built), PLEAT_BENCH_DIR
# (default /tmp/pleat-bench-sandbox).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-200}"
FILES="${2:-20}"
ROUNDS="${3:-3}"
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench-sandbox}"
if [[ -z "${PLEAT_BIN:-}" ]]; then
  (cd "$REPO" && cargo build -q -p pleat >&2)
  PLEAT_BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/pleat"
fi
mkdir -p "$BENCH"
exec python3 - "$PLEAT_BIN" "$BENCH" "$RUNS" "$FILES" "$ROUNDS" <<'PY'
import os, shutil, statistics, subprocess, sys, time

pleat, bench, runs, files, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def private(root):
    out = []
    for folder, dirs, names in os.walk(root):
        for d in list(dirs):
            p = os.path.join(folder, d)
            if not os.path.islink(p) and os.stat(p).st_mode & 0o005 != 0o005:
                out += ["--tmpfs", p, "--remount-ro", p]
                dirs.remove(d)
        for n in names:
            p = os.path.join(folder, n)
            if not os.path.islink(p) and os.path.isfile(p) and os.stat(p).st_mode & 0o004 == 0:
                out += ["--ro-bind", "/dev/null", p]
    return out

bwrap = ["/usr/bin/bwrap", "--unshare-all", "--die-with-parent"]
for d in ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/nix"]:
    if os.path.islink(d):
        bwrap += ["--symlink", os.readlink(d), d]
    elif os.path.isdir(d):
        bwrap += ["--ro-bind", d, d]
bwrap += private("/etc")
bwrap += ["--ro-bind-try", "/sys", "/sys", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--chdir", "/", "--", "true"]

def per_run(argv):
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run(argv, check=True, env={})
    return (time.perf_counter() - start) / runs * 1000

plain_ms, bwrap_ms = per_run(["/bin/true"]), per_run(bwrap)
print(f"per process ({runs} runs of `true`): plain {plain_ms:.2f} ms, bwrap {bwrap_ms:.2f} ms, bwrap adds {bwrap_ms - plain_ms:.2f} ms")
print("bwrap command line:", " ".join(bwrap))

repo = os.path.join(bench, "repo")
shutil.rmtree(repo, ignore_errors=True)
os.makedirs(repo)
for i in range(files):
    with open(os.path.join(repo, f"test_{i}.py"), "w") as f:
        f.write(f"def test_{i}():\n    assert {i} == {i}\n")
cache = os.path.join(bench, "cache")
for sandbox in ["plain", "bwrap"]:
    with open(os.path.join(repo, "pyproject.toml"), "w") as f:
        f.write(f'[tool.pleat]\nsandbox = "{sandbox}"\n')
    argv = [pleat, "--cache-dir", cache, "--root", repo, "test", "--force", "::"]
    subprocess.run(argv, check=True, capture_output=True)  # builds the environment once
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"pleat test --force :: over {files} files, sandbox = {sandbox}: median {median:.2f} s of {rounds} ({median / files * 1000:.0f} ms per file)")
PY
