#!/usr/bin/env bash
# Owns: the execution benchmark (issue 3). Times materialising a 1,000-file input tree; one test
# file hermetic and uncached against bare pytest in the same environment, and as a cache hit;
# `pleat test ::` with a warm cache against plain pytest over a real PyPI project's suite
# (more-itertools 10.8.0, sdist), and which files rerun after a one-file edit; and issue 11's
# editor hot path: warm `pleat test ::` on toolz 1.0.0 (sdist, a git repository) against plain
# pytest in rotation, with its system calls counted (`strace -f -c`: LMDB commits, processes).
#
# Usage: bench/exec.sh            Environment: PLEAT_BENCH_DIR (default /tmp/pleat-bench-exec),
#                                 PLEAT_BENCH_RUNS (default 5), PLEAT_BIN (skip the build),
#                                 PLEAT_BENCH_ONLY=toolz (only that part; 15 warm runs, 3 plain),
#                                 PLEAT_BENCH_COMPARE="label=/path/pleat ..." (other binaries timed
#                                 in the same rotation on the same cache, e.g. a main build).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench-exec}"
RUNS="${PLEAT_BENCH_RUNS:-5}"
MI_VERSION=10.8.0
mkdir -p "$BENCH"
if [[ -z "${PLEAT_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release -p pleat >&2)
  cp "$REPO/target/release/pleat" "$BENCH/pleat"
  PLEAT_BIN="$BENCH/pleat"
fi
if [[ "${PLEAT_BENCH_ONLY:-}" != toolz && ! -d "$BENCH/more_itertools-$MI_VERSION" ]]; then
  python3 -m pip download -q --no-deps --no-binary :all: "more-itertools==$MI_VERSION" -d "$BENCH/dl"
  tar xzf "$BENCH/dl/more_itertools-$MI_VERSION.tar.gz" -C "$BENCH"
fi
TZ_FILE=toolz-1.0.0.tar.gz TZ_SHA256=2c86e3d9a04798ac556793bced838816296a2f085017664e4995cb40a1047a02
[[ -f "$BENCH/dl/$TZ_FILE" ]] || python3 -m pip download --quiet --disable-pip-version-check --no-deps \
  --no-binary :all: -d "$BENCH/dl" toolz==1.0.0
echo "$TZ_SHA256  $BENCH/dl/$TZ_FILE" | sha256sum --check --quiet -
if [[ ! -d "$BENCH/toolz-1.0.0/.git" ]]; then
  rm -rf "$BENCH/toolz-1.0.0" && tar --no-same-owner -xzf "$BENCH/dl/$TZ_FILE" -C "$BENCH"
  git -C "$BENCH/toolz-1.0.0" init -q && git -C "$BENCH/toolz-1.0.0" add -A
  git -C "$BENCH/toolz-1.0.0" -c user.name=bench -c user.email=bench@localhost commit -qm sdist
fi
rm -rf "$BENCH/sample" && cp -r "$REPO/examples/sample" "$BENCH/sample"
exec python3 - "$PLEAT_BIN" "$BENCH" "$RUNS" "$MI_VERSION" <<'PY'
import glob, json, os, re, shutil, statistics, subprocess, sys, time

pleat, bench, runs, mi_version = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cache = os.path.join(bench, "cache")
sample = os.path.join(bench, "sample")
mi = os.path.join(bench, f"more_itertools-{mi_version}")
toolz = os.path.join(bench, "toolz-1.0.0")
only = os.environ.get("PLEAT_BENCH_ONLY", "")

def run(cmd, cwd=None, env=None, ok=(0,)):
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if p.returncode not in ok:
        sys.exit(f"exit {p.returncode}: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return wall, p.stdout

def median(cmd, **kw):
    return statistics.median(run(cmd, **kw)[0] for _ in range(runs))

def env_python(label):
    found = sorted(glob.glob(os.path.join(cache, "tools", f"{label}-*", "bin", "python")), key=os.path.getmtime)
    return found[-1]

P = [pleat, "--cache-dir", cache]
print("# Execution benchmark\n")
print(f"- {subprocess.run(['uname', '-srm'], capture_output=True, text=True).stdout.strip()}, {os.cpu_count()} CPUs; runs per command: {runs} (median wall)")
print(f"- load average before: {open('/proc/loadavg').read().split()[:3]}\n")

def strace_counts(cmd):
    """System calls of one run (`strace -f -c`): name -> count, and the total."""
    out = os.path.join(bench, "strace.txt")
    subprocess.run(["strace", "-f", "-c", "-o", out] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts = {}
    for line in open(out):
        fields = line.split()
        if len(fields) >= 5 and re.fullmatch(r"[\d.]+", fields[0]):
            counts[fields[-1]] = int(fields[3])
    return counts

if only == "toolz":
    # Issue 11's hot path: warm `pleat test ::` on toolz against plain pytest, in rotation.
    run(P + ["--root", toolz, "test", "::"], ok=(0, 1))  # builds the environment, primes the store
    run(P + ["--root", toolz, "test", "::"], ok=(0, 1))
    python = env_python("pytest")  # toolz declares no requirements: the plain pytest environment
    tz_env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    others = dict(pair.split("=", 1) for pair in os.environ.get("PLEAT_BENCH_COMPARE", "").split())
    for other in others.values():
        run([other, "--cache-dir", cache, "--root", toolz, "test", "::"], ok=(0, 1))
    warm_runs, plain_runs = [], []
    other_runs = {label: [] for label in others}
    for i in range(15):
        if i % 5 == 0:
            plain_runs.append(run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=toolz, env=tz_env, ok=(0, 1))[0])
        warm_runs.append(run(P + ["--root", toolz, "test", "::"], ok=(0, 1))[0])
        for label, other in others.items():
            other_runs[label].append(run([other, "--cache-dir", cache, "--root", toolz, "test", "::"], ok=(0, 1))[0])
    warm, plain = statistics.median(warm_runs), statistics.median(plain_runs)
    calls = strace_counts(P + ["--root", toolz, "test", "::"])
    stats = sum(calls.get(n, 0) for n in ("statx", "newfstatat", "lstat", "stat", "fstat"))
    print("## toolz 1.0.0: warm `pleat test ::` (issue 11)\n")
    print(f"- command: `{' '.join(P)} --root {toolz} test ::`; plain: `python -m pytest -q -p no:cacheprovider` in the same environment")
    print(f"- warm: {warm * 1000:.0f} ms median ({min(warm_runs) * 1000:.0f} ms min, 15 runs); plain pytest: {plain * 1000:,.0f} ms median (3 runs); **{plain / warm:.0f}×**")
    for label, times in other_runs.items():
        print(f"- {label} (same rotation): {statistics.median(times) * 1000:.0f} ms median ({min(times) * 1000:.0f} ms min); {plain / statistics.median(times):.0f}×")
    print(f"- strace -f -c: {calls.get('total', 0):,} system calls, {calls.get('fdatasync', 0)} fdatasync, {calls.get('execve', 0)} execve, {calls.get('clone', 0) + calls.get('clone3', 0)} clone, {stats:,} stat-family")
    print(f"- load average after: {open('/proc/loadavg').read().split()[:3]}")
    sys.exit(0)

for where, folder in (("tmpfs (/dev/shm)", "/dev/shm/pleat-bench-materialize"), ("the cache's disk", os.path.join(bench, "materialize"))):
    _, out = run([pleat, "debug", "materialize", folder, "--files", "1000", "--repeat", "20"])
    shutil.rmtree(folder, ignore_errors=True)
    print(f"- materialise 1,000 files on {where}: {out.strip()}")

# One test file of the sample: hermetic and uncached (--force) against bare pytest.
run(P + ["--root", sample, "test", "::"])  # builds the environment, primes the store
python = env_python("pytest-project")
bare_env = dict(os.environ, PYTHONPATH="src:.", PYTHONDONTWRITEBYTECODE="1")
bare = median([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cart.py"], cwd=sample, env=bare_env)
hermetic = median(P + ["--root", sample, "test", "--force", "tests/test_cart.py"])
hit = median(P + ["--root", sample, "test", "tests/test_cart.py"])
print(f"\n## One test file (examples/sample tests/test_cart.py)\n")
print("| command | median wall s |\n| --- | ---: |")
print(f"| bare `python -m pytest tests/test_cart.py` (same environment) | {bare:.3f} |")
print(f"| `pleat test --force tests/test_cart.py` (hermetic, uncached) | {hermetic:.3f} |")
print(f"| `pleat test tests/test_cart.py` (cache hit) | {hit:.3f} |")
print(f"\n- hermetic / bare: {hermetic / bare:.2f} (target ≤ 1.2); cache hit: {hit * 1000:.0f} ms (target ≤ 20 ms)")

# A real project's suite: warm `pleat test ::` against plain pytest.
wall_first, _ = run(P + ["--root", mi, "test", "::"], ok=(0, 1))
python = env_python("pytest-project")
mi_env = dict(os.environ, PYTHONPATH=".", PYTHONDONTWRITEBYTECODE="1")
plain = median([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=mi, env=mi_env)
warm = median(P + ["--root", mi, "test", "::"], ok=(0, 1))
print(f"\n## more-itertools {mi_version}: its own suite (tests/test_more.py, tests/test_recipes.py)\n")
print("| command | median wall s |\n| --- | ---: |")
print(f"| plain `pytest tests` | {plain:.3f} |")
print(f"| first `pleat test ::` of this run (cold only on a fresh cache folder) | {wall_first:.3f} |")
print(f"| `pleat test ::`, warm cache | {warm:.3f} |")
print(f"\n- plain / warm: {plain / warm:.0f}× faster (target ≥ 20×)")
recipes = os.path.join(mi, "more_itertools", "recipes.py")
original = open(recipes).read()
try:
    with open(recipes, "a") as f:
        f.write(f"\n# edited by the benchmark at {time.time_ns()}\n")  # new content every run
    wall, out = run(P + ["--root", mi, "--format", "json", "test", "::"], ok=(0, 1))
    ran = [f["file"] for f in json.loads(out)["files"] if not f["cached"]]
    print(f"- after editing more_itertools/recipes.py: {len(ran)} of 2 files ran ({', '.join(ran)}), {wall:.3f} s")
finally:
    open(recipes, "w").write(original)
PY
