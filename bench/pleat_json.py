"""Owns: one timed `pleat --format json test ::` run for the benchmarks (bench/remote_cache.sh, bench/remote_exec.sh)."""

import json
import subprocess
import sys
import time


def timed_test_run(pleat, env, root, cache, *args):
    """Runs `pleat --root ROOT --cache-dir CACHE --format json test :: ARGS` in ROOT; returns
    (wall seconds, the parsed JSON, stderr). Any exit but 0 or 1 (tests failed) ends the
    benchmark with the command and its output."""
    cmd = [pleat, "--root", root, "--cache-dir", cache, "--format", "json", "test", "::", *args]
    started = time.perf_counter()
    p = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if p.returncode not in (0, 1):
        sys.exit(f"exit {p.returncode}: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return wall, json.loads(p.stdout), p.stderr
