#!/usr/bin/env bash
# Owns: the first-failure benchmark (issue 11, item 1). Through the real `pleat lsp` over stdio, on
# attrs 24.2.0 (sdist from PyPI, hash checked, unpacked into a git repository): a save of
# src/attr/validators.py that breaks one test in tests/test_validators.py (late in path order), every
# test file affected (all import attr); times save → that failure's diagnostic, and save → the whole
# affected set reported (pleat/testResults), once without recorded lines (PLEAT_COVERAGE=0: path
# order, results still published per file) and once as an editor runs after a first save (whose idle
# catch-up recorded the lines each file executes). The cache is emptied for each; the edit is new
# each round (a nonce), so nothing of the measured run is cached.
#
# Usage: bench/first_failure.sh    Environment: PLEAT_BENCH_DIR (default /tmp/pleat-bench-first-failure),
#        PLEAT_BIN (default target/release/pleat of this checkout), PLEAT_BENCH_RUNS (default 3 saves each),
#        PLEAT_BENCH_ONLY=recorded (only the rounds with recorded lines; path order skipped)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench-first-failure}"
RUNS="${PLEAT_BENCH_RUNS:-3}"
PLEAT_BIN="${PLEAT_BIN:-$REPO/target/release/pleat}"
[[ -x "$PLEAT_BIN" ]] || { echo "error: no $PLEAT_BIN; cargo build --release -p pleat, or set PLEAT_BIN" >&2; exit 1; }
mkdir -p "$BENCH/dl"
FILE=attrs-24.2.0.tar.gz SHA256=5cfb1b9148b5b086569baec03f20d7b6bf3bcacc9a42bebf87ffaaca362f6346
[[ -f "$BENCH/dl/$FILE" ]] || python3 -m pip download --quiet --disable-pip-version-check --no-deps \
  --no-binary :all: -d "$BENCH/dl" attrs==24.2.0
echo "$SHA256  $BENCH/dl/$FILE" | sha256sum --check --quiet -
cp "$PLEAT_BIN" "$BENCH/pleat"
exec python3 - "$BENCH" "$RUNS" "$REPO/scripts" <<'PY'
import os, shutil, statistics, subprocess, sys, tarfile, time

bench, runs, scripts = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, scripts)
from lsp_client import Client

def fresh_repo():
    root = os.path.join(bench, "attrs")
    shutil.rmtree(root, ignore_errors=True)
    with tarfile.open(os.path.join(bench, "dl", "attrs-24.2.0.tar.gz")) as tar:
        tar.extractall(bench, filter="data")
    os.rename(os.path.join(bench, "attrs-24.2.0"), root)
    git = lambda *a: subprocess.run(["git", "-C", root, *a], check=True, stdout=subprocess.DEVNULL)
    git("init", "-q", "-b", "main"); git("add", "-A")
    git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "attrs 24.2.0")
    git("tag", "24.2.0")
    return root

def children_running(pid):
    """Test processes the server still runs (its catch-up after a run is quiet)."""
    found = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = open(f"/proc/{entry}/status").read()
                cmd = open(f"/proc/{entry}/cmdline", "rb").read()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status and b"pytest" in cmd:
                found += 1
    return found

def round_(cache, recording, nonce):
    root = fresh_repo()
    # The server inherits this environment: PLEAT_COVERAGE=0 records nothing (path order).
    if recording:
        os.environ.pop("PLEAT_COVERAGE", None)
    else:
        os.environ["PLEAT_COVERAGE"] = "0"
    client = Client([os.path.join(bench, "pleat"), "--cache-dir", cache, "lsp"])
    client.initialize(root, {"onSave": "tests"}, {"window": {"workDoneProgress": True}})
    client.wait(lambda m: m.get("method") == "window/logMessage" and "Python files under" in m["params"]["message"])
    source = os.path.join(root, "src/attr/validators.py")
    uri = "file://" + source
    text = open(source).read()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
    def save(new, version):
        open(source, "w").write(new)
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": new}]})
        t0 = time.perf_counter()
        client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        return t0
    # A first save runs every test file (and, when recording, the idle catch-up follows).
    save(text + f"# {nonce}\n", 2)
    client.wait(lambda m: m.get("method") == "pleat/testResults", limit=1800)
    quiet = 0
    while quiet < 3:
        time.sleep(1)
        quiet = quiet + 1 if children_running(client.process.pid) == 0 else 0
    broken = text.replace('f"<max_len validator for {self.max_length}>"', 'f"<max_len validator for {self.max_length}!>"')
    assert broken != text
    target = "file://" + os.path.join(root, "tests/test_validators.py")
    t0 = save(broken + f"# {nonce}\n", 3)
    at, _ = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == target
                        and any(d.get("source") == "pytest" and "max_len" in d["message"] for d in m["params"]["diagnostics"]), limit=1800)
    first = at - t0
    at, report = client.wait(lambda m: m.get("method") == "pleat/testResults", limit=1800)
    whole = at - t0
    files = {t["path"] for t in report["params"]["tests"]}
    failed = sorted({t["id"] for t in report["params"]["tests"] if t["state"] in ("failed", "error")})
    client.close()
    return first, whole, len(files), failed

results = {}
modes = (True,) if os.environ.get("PLEAT_BENCH_ONLY") == "recorded" else (False, True)
for recording in modes:
    rows = []
    for i in range(runs):
        cache = os.path.join(bench, "cache")
        # The tool environments are kept; results and recorded lines go (a fresh store).
        shutil.rmtree(os.path.join(cache, "store-v1"), ignore_errors=True)
        rows.append(round_(cache, recording, f"{time.time()}"))
        print(("recorded lines" if recording else "no recorded lines"), rows[-1], file=sys.stderr)
    results[recording] = rows
for recording, rows in results.items():
    first = statistics.median(r[0] for r in rows)
    whole = statistics.median(r[1] for r in rows)
    label = "likely-first (lines recorded by the last run)" if recording else "path order (PLEAT_COVERAGE=0)"
    print(f"| save → first failing test's diagnostic, attrs 24.2.0, {label} | **{first:.1f} s** (whole set of {rows[0][2]} files reported at {whole:.1f} s; runs: {', '.join(f'{r[0]:.1f}' for r in rows)}) |")
print("failed:", results[True][0][3])
PY
