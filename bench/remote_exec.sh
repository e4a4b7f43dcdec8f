#!/usr/bin/env bash
# Owns: the remote-execution benchmark (issue 13). PostgreSQL (Debian's, as nobody when root) and
# BuildGrid 0.4.4's SQL scheduler on free 127.0.0.1 ports; for examples/sample and the toolz 1.0.0
# sdist: `pleat test ::` run here against the same run on 1 and on 2 `pleat worker`s on this
# machine (each run on a fresh client store; the workers started once per mode, with the tool
# environments of both sides built beforehand; BuildGrid's action cache skipped by
# --no-remote-cache-read, and a worker keeps no action cache, so every run executes).
#
# Usage: bench/remote_exec.sh    Environment: PLEAT_BENCH_DIR (default /tmp/pleat-bench),
#                                PLEAT_BENCH_RUNS (default 3), PLEAT_BIN (skip the release build).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/bench/common.sh"
RUNS="${PLEAT_BENCH_RUNS:-3}"
remote_work remote-exec

pg_bin=$(ls -d /usr/lib/postgresql/*/bin | head -1)
as_pg=()
if [[ "$(id -u)" == 0 ]]; then as_pg=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
mkdir -p "$WORK/pg" && chown 65534:65534 "$WORK/pg" 2>/dev/null || true
"${as_pg[@]}" "$pg_bin/initdb" -A trust -U bgd -D "$WORK/pg/data" >"$WORK/pg/initdb.log"
pg_port=$(free_port)
"${as_pg[@]}" "$pg_bin/postgres" -D "$WORK/pg/data" -p "$pg_port" -k "$WORK/pg" -c listen_addresses=127.0.0.1 >"$WORK/pg/pg.log" 2>&1 &
pg_pid=$!
pids=("$pg_pid")
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 300); do "${as_pg[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U bgd bgd 2>/dev/null && break; sleep 0.2; done
url="postgresql+psycopg2://bgd@127.0.0.1:$pg_port/bgd"
"$BGD" migrate apply "$url" >"$WORK/migrate.log" 2>&1
port=$(free_port)
wild=$(for t in pytest coverage debugpy ruff mypy pylint black isort uv; do printf '"tool.%s", ' "$t"; done)
cat >"$WORK/exec.yml" <<EOF
# BuildGrid refuses calls beyond its thread pool (cores × 5 by default): every process the
# client runs remotely holds an Execute stream open.
thread-pool-size: 100
server:
  - !channel
    address: "127.0.0.1:$port"
    insecure-mode: true
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: $url
storages:
  - !lru-storage &cas
    size: 2048M
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: true
schedulers:
  - !sql-scheduler &sched
    sql: *sql
    storage: *cas
    action-cache: *ac
    bot-session-keepalive-timeout: 10
    property-set: !dynamic-property-set
      match-property-keys: ["os", "arch", "interpreter"]
      wildcard-property-keys: [${wild}"pleat.cache_scope", "pleat.cache_version"]
instances:
  - name: main
    services:
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *sched
EOF
"$BGD" server start "$WORK/exec.yml" >"$WORK/bgd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

PYTHONPATH="$REPO/bench" python3 - "$PLEAT_BIN" "$WORK" "$RUNS" "$port" <<'PY'
import json, os, shutil, signal, statistics, subprocess, sys, time
from pleat_json import timed_test_run

pleat, work, runs, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
remote = f"grpc://127.0.0.1:{port}"
env = {k: v for k, v in os.environ.items() if k != "CI"}
toolz = [d for d in os.listdir(work) if d.startswith("toolz-")][0]

def run(root, cache, *args):
    return timed_test_run(pleat, env, root, cache, *args)

def workers(n, first=0):
    out = []
    for i in range(first, n):
        cache = f"{work}/worker-{i}"
        shutil.rmtree(f"{cache}/store-v1", ignore_errors=True)
        log = open(f"{cache}.log", "a")
        out.append(subprocess.Popen([pleat, "--cache-dir", cache, "worker", "--server", remote, "--instance", "main", "--sandbox", "plain"], stdout=log, stderr=log, env=env))
    time.sleep(2)
    return out

def stop(ws):
    for w in ws:
        w.send_signal(signal.SIGKILL)
        w.wait()

wire = {}
print("| project | files | here (s) | 1 worker (s) | 2 workers (s) |")
print("|---|---|---|---|---|")
for name in ["sample", toolz]:
    root = f"{work}/{name}"
    with open(f"{root}/pyproject.toml", "a") as f:
        f.write(f'\n[tool.pleat.remote]\naddress = "{remote}"\ninstance_name = "main"\ntimeout = 5\n')
    client = f"{work}/client-{name}"
    # Tool environments built once on each side (not part of what is measured).
    run(root, client, "--no-remote-cache-read")
    for i in range(2):
        # Each worker alone, so each builds the environments once.
        ws = workers(i + 1, first=i)
        run(root, f"{client}-warm-{i}", "--remote-execution", "--no-remote-cache-read")
        stop(ws)
    times = {}
    for mode in ["here", 1, 2]:
        walls = []
        # Workers started once per mode and kept (as they would be); a worker keeps no action
        # cache of its own, so each run's actions run again.
        ws = workers(mode) if mode != "here" else []
        for _ in range(runs):
            shutil.rmtree(f"{client}/store-v1", ignore_errors=True)
            args = ["--no-remote-cache-read"] + (["--remote-execution", "-v"] if mode != "here" else [])
            wall, data, err = run(root, client, *args)
            sources = [f["source"] for f in data["files"]]
            want = "local" if mode == "here" else "remote"
            if any(s != want for s in sources):
                sys.exit(f"{name} {mode}: sources {sources}\n{err[-2000:]}")
            walls.append(wall)
            if mode != "here":
                wire[name] = next((l for l in err.splitlines() if "remote execution: " in l), "")
        stop(ws)
        times[mode] = statistics.median(walls)
    print(f"| {name} | {len(sources)} | {times['here']:.2f} | {times[1]:.2f} | {times[2]:.2f} |")
for name, line in wire.items():
    print(f"{name}, the last run on 2 workers: {line}")
PY
