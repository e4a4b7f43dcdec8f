#!/usr/bin/env bash
# Owns: the busy-server latency benchmark (issue 11): through `pleat lsp` over stdio, the time of
# hover and codeLens requests on an open file of Django 5.2.19 (2,822 files) when the server is
# idle, while the workspace reloads (its pyproject.toml reported changed), and while the first
# `pleat.listTests` of the session parses every test file. The state task must answer from the
# current state while slow work runs elsewhere.
#
# Usage: bench/latency.sh   Environment: PLEAT_BENCH_DIR (default /tmp/pleat-bench), PLEAT_BIN,
#                           PLEAT_BENCH_PROJECT=azure (azure-mgmt-network's 5,051 files instead of Django's)
#                           (skip the build), PLEAT_BASE (a second binary timed the same way).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/bench/common.sh"
project="${PLEAT_BENCH_PROJECT:-django}"
prepare "$project"
exec python3 - "$PLEAT_BIN" "${PLEAT_BASE:-}" "$BENCH" "${DIR[$project]}" "$REPO/scripts" "$project" <<'PY'
import os, statistics, sys, time

pleat, base, bench, django, scripts, project = sys.argv[1:7]
# The open file: a large one of the project.
opened = {"django": "django/db/models/fields/__init__.py",
          "azure": "azure/mgmt/network/v2021_05_01/operations/_virtual_networks_operations.py"}[project]
sys.path.insert(0, scripts)
from lsp_client import Client

def loaded(m):
    return m.get("method") == "window/logMessage" and "Python files under" in m["params"]["message"]

def measure(binary):
    s = Client([binary, "--cache-dir", os.path.join(bench, f"latency-cache-{project}"), "lsp"])
    s.initialize(django, {"onSave": "off"})
    s.wait(loaded)
    path = os.path.join(django, opened)
    uri = "file://" + path
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": open(path).read()}})
    s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
    events = []

    def request(method, params):
        i = s.next_id
        s.next_id += 1
        t0 = time.perf_counter()
        s.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        def want(m):
            if loaded(m) or m.get("id") == 10_000:
                events.append(m)
            return m.get("id") == i and "method" not in m
        at, _ = s.wait(want)
        return (at - t0) * 1000

    def burst(until):
        """Alternating hover and codeLens requests until `until()` or 20 s; their times."""
        times, end = [], time.perf_counter() + 20
        while not until() and time.perf_counter() < end:
            times.append(request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}))
            times.append(request("textDocument/codeLens", {"textDocument": {"uri": uri}}))
        return times

    rows = []
    idle = [request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}) for _ in range(40)]
    rows.append(("idle", idle, None))
    # A reload: the configuration reported changed.
    t0 = time.perf_counter()
    s.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": "file://" + os.path.join(django, "pyproject.toml"), "type": 2}]})
    during = burst(lambda: any(loaded(m) for m in events))
    rows.append(("during a reload", during, (time.perf_counter() - t0) * 1000))
    # The first listTests of the session (every test file parsed).
    events.clear()
    t0 = time.perf_counter()
    s.send({"jsonrpc": "2.0", "id": 10_000, "method": "workspace/executeCommand", "params": {"command": "pleat.listTests", "arguments": [{}]}})
    during = burst(lambda: any(m.get("id") == 10_000 for m in events))
    rows.append(("during the first pleat.listTests", during, (time.perf_counter() - t0) * 1000))
    s.close()
    return rows

binaries = [("pleat", pleat)] + ([("base", base)] if base else [])
print(f"# Request latency while the server is busy ({project})\n")
print(f"- {os.cpu_count()} CPUs, load average before: {open('/proc/loadavg').read().split()[:3]}")
print("- " + "; ".join(f"{n}: {b}" for n, b in binaries) + "\n")
print("| binary | while | requests | median | max | busy for |\n|---|---|---:|---:|---:|---:|")
for name, binary in binaries:
    for label, times, busy in measure(binary):
        t = sorted(times) or [float("nan")]
        b = f"{busy:.0f} ms" if busy is not None else ""
        print(f"| {name} | {label} | {len(times)} | {statistics.median(t):.2f} ms | {t[-1]:.2f} ms | {b} |", flush=True)
PY
