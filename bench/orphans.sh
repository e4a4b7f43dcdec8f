#!/usr/bin/env bash
# Owns: the orphan probe (issue 10, items 3 and 10). Starts `pleat test` on a test that spawns a
# plain `sleep`, a `setsid` one and a double-forked daemon, then waits 60 s; sends each of SIGINT,
# SIGTERM, SIGHUP and SIGKILL to pleat ROUNDS times, and counts what outlived it (processes whose
# command line holds the probe's marker). Then the same while pleat builds a tool environment
# (a fresh cache each time: venv, ensurepip, pip), and a normal run whose test leaves the two
# daemons. Prints one line per trial, then the sandbox folders left in the cache.
#
# Usage: bench/orphans.sh [ROUNDS]   (default 3)
# Environment:
#   PLEAT_BIN   the pleat binary (default: $CARGO_TARGET_DIR or target, debug/pleat)
set -u
set -m # background jobs get SIGINT like foreground ones
rounds=${1:-3}
pleat=${PLEAT_BIN:-${CARGO_TARGET_DIR:-target}/debug/pleat}
work=$(mktemp -d)
marker="4$$.5"
mkdir -p "$work/repo/tests"
cat > "$work/repo/tests/test_hang.py" <<PY
import os, subprocess, time

def test_hang():
    subprocess.Popen(["sleep", "$marker"])
    subprocess.Popen(["setsid", "sleep", "$marker"])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.chdir("/")
            os.execvp("sleep", ["sleep", "$marker"])
        os._exit(0)
    time.sleep(60)
PY
sed 's/time.sleep(60)/time.sleep(0.3)/; s/test_hang/test_leave/' "$work/repo/tests/test_hang.py" > "$work/repo/tests/test_leave.py"

# Processes of the probe: the marker, or a cache path, in the command line; pleat itself aside.
survivors() { ps -eo pid=,args= | grep -F -e "$1" | grep -v -e grep -e "$pleat" ; }
reap() { survivors "$1" | awk '{print $1}' | xargs -r kill -9 2>/dev/null; }

"$pleat" --root "$work/repo" --cache-dir "$work/cache" test tests/test_leave.py > /dev/null 2>&1
sleep 0.3
echo "normal run, test leaves a setsid child and a double-forked daemon: $(survivors "$marker" | wc -l) survivors"
reap "$marker"
for _ in $(seq "$rounds"); do
  for sig in INT TERM HUP KILL; do
    "$pleat" --root "$work/repo" --cache-dir "$work/cache" test --force tests/test_hang.py > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 300); do [ "$(survivors "$marker" | wc -l)" -ge 3 ] && break; sleep 0.1; done
    kill -$sig $pid; wait $pid 2> /dev/null; rc=$?
    sleep 0.5
    echo "test run, SIG$sig: exit $rc, $(survivors "$marker" | wc -l) survivors"
    reap "$marker"
  done
done
for _ in $(seq "$rounds"); do
  for sig in INT TERM HUP KILL; do
    cache="$work/build-cache-$sig"
    rm -rf "$cache"
    "$pleat" --root "$work/repo" --cache-dir "$cache" test tests/test_leave.py > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 300); do [ "$(survivors "$cache" | wc -l)" -ge 1 ] && break; sleep 0.05; done
    sleep 1
    kill -$sig $pid; wait $pid 2> /dev/null; rc=$?
    sleep 0.5
    echo "environment build, SIG$sig: exit $rc, $(survivors "$cache" | wc -l) survivors"
    reap "$cache"
  done
done
echo "sandbox folders left: $(ls "$work/cache/sandboxes" 2> /dev/null | wc -l)"
chmod -R u+w "$work"; rm -rf "$work"
