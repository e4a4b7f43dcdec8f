#!/usr/bin/env bash
# Owns: the remote-cache benchmark (issue 13). BuildGrid 0.4.4 (in memory, on a free 127.0.0.1
# port) as the remote; for examples/sample and the toolz 1.0.0 sdist: a warm local `pleat test
# ::` (no remote) against a full remote-hit run on a fresh cache folder (its store and parse
# cache removed before each run; its tool environments kept, built in place by a first run,
# since building them is the same with or without a remote), and the time a remote that is
# down adds to a whole run (nothing listening, and a listener that never answers).
#
# Usage: bench/remote_cache.sh    Environment: PLEAT_BENCH_DIR (default /tmp/pleat-bench),
#                                 PLEAT_BENCH_RUNS (default 5), PLEAT_BIN (skip the release build).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/bench/common.sh"
RUNS="${PLEAT_BENCH_RUNS:-5}"
remote_work remote-cache

port=$(free_port)
cat >"$WORK/bgd.yml" <<EOF
server:
  - !channel
    address: "127.0.0.1:$port"
    insecure-mode: true
authorization:
  method: none
storages:
  - !lru-storage &cas
    size: 1024M
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
instances:
  - name: ""
    services:
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !action-cache
        cache: *ac
EOF
"$BGD" server start "$WORK/bgd.yml" >"$WORK/bgd.log" 2>&1 &
bgd_pid=$!
# A listener that accepts connections and never answers: a remote that hangs.
python3 -c 'import socket, time; s=socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64); print(s.getsockname()[1], flush=True); time.sleep(3600)' >"$WORK/hang.port" &
hang_pid=$!
trap 'kill $bgd_pid $hang_pid 2>/dev/null || true; wait $bgd_pid $hang_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
dead=$(free_port)
hang=$(head -1 "$WORK/hang.port")

PYTHONPATH="$REPO/bench" python3 - "$PLEAT_BIN" "$WORK" "$RUNS" "$port" "$dead" "$hang" "$TOOLZ_VERSION" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
from pleat_json import timed_test_run

pleat, work, runs, port, dead, hang, toolz = sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:]
remote = f"grpc://127.0.0.1:{port}"
env = {k: v for k, v in os.environ.items() if k != "CI"}

def run(root, cache, *args):
    return timed_test_run(pleat, env, root, cache, *args)

def emptied(cache):
    """The cache folder without its store and parse cache: a machine that never ran these
    tests, with its tool environments (their fingerprints hold inodes, so they stay where
    they were built)."""
    for part in ("store-v1", "graph-v1", "sandboxes"):
        shutil.rmtree(os.path.join(cache, part), ignore_errors=True)
    return cache

def sources(result):
    counts = {}
    for f in result["files"]:
        counts[f["source"]] = counts.get(f["source"], 0) + 1
    return counts

def wire(stderr):
    """The `-v` line saying what went over the wire."""
    return next((l for l in stderr.splitlines() if "remote cache: " in l), "(no remote cache line)")

def ms(values):
    return f"{statistics.median(values) * 1000:,.0f} ms"

for name, root in (("examples/sample", os.path.join(work, "sample")), (f"toolz {toolz}", os.path.join(work, f"toolz-{toolz}"))):
    local = os.path.join(work, f"local-{os.path.basename(root)}")
    seed = os.path.join(work, f"seed-{os.path.basename(root)}")
    run(root, local)  # fill the local cache (BLAKE3, no remote)
    warm = [run(root, local)[0] for _ in range(runs)]
    _, filled, seeded = run(root, seed, "--remote-address", remote, "--remote-cache-write", "-v")
    fresh = os.path.join(work, f"fresh-{os.path.basename(root)}")
    run(root, fresh, "--remote-address", remote, "--no-remote-cache-read")  # its tool environments
    hits, hit_sources = [], None
    for _ in range(runs):
        wall, result, _ = run(root, emptied(fresh), "--remote-address", remote)
        hit_sources = sources(result)
        hits.append(wall)
    _, _, fetched = run(root, emptied(fresh), "--remote-address", remote, "-v")
    # The floor of any run on a fresh folder: start, create the store, parse every file.
    listing = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([pleat, "--root", root, "--cache-dir", emptied(fresh), "list", "::"], cwd=root, env=env, stdout=subprocess.DEVNULL, check=True)
        listing.append(time.perf_counter() - t)
    cold = run(root, emptied(local))[0]  # every test runs again (the local folder's tools kept)
    down_refused = [run(root, seed, "--remote-address", f"grpc://127.0.0.1:{dead}")[0] for _ in range(runs)]
    down_hang = [run(root, seed, "--remote-address", f"grpc://127.0.0.1:{hang}")[0] for _ in range(runs)]
    seeded_warm = [run(root, seed)[0] for _ in range(runs)]
    files = len(filled["files"])
    print(f"{name}: {files} test files; on a fresh cache folder: {hit_sources} (failed files are not shared)")
    print(f"  the seeding run: {wire(seeded)}")
    print(f"  a remote-hit run: {wire(fetched)}")
    print(f"  warm local run (no remote):            {ms(warm)}")
    print(f"  `pleat list ::` on a fresh folder:     {ms(listing)}  ({statistics.median(listing) / statistics.median(warm):.1f}x the warm local run)")
    print(f"  remote hits on a fresh cache folder:   {ms(hits)}  ({statistics.median(hits) / statistics.median(warm):.1f}x the warm local run)")
    print(f"  cold run on a fresh cache folder, no remote (one run): {cold * 1000:,.0f} ms")
    print(f"  warm run, remote configured but down (refused): {ms(down_refused)}  (+{(statistics.median(down_refused) - statistics.median(seeded_warm)) * 1000:,.0f} ms)")
    print(f"  warm run, remote configured but hanging:        {ms(down_hang)}  (+{(statistics.median(down_hang) - statistics.median(seeded_warm)) * 1000:,.0f} ms)")
    print(f"  warm run of the same cache, no remote:          {ms(seeded_warm)}")
    sys.stdout.flush()
PY
