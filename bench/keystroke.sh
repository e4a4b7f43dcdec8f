#!/usr/bin/env bash
# Owns: the keystroke benchmark (issue 11): through the real `pleat lsp` over stdio, the time from
# a didChange (one typed character) to the publishDiagnostics of that version, on Django's
# db/models/fields/__init__.py (100 KB, hand-written) and azure-mgmt-network's generated
# v2021_05_01/models/_models_py3.py (1.1 MB). Each file is typed into twice: a comment line,
# then an import line (whose partial words are syntax errors until it is complete), one
# character per change, then the line is deleted. Changes are sent incrementally (a range and
# the typed text) and, for comparison in the same run, as the whole text (full sync).
#
# Usage: bench/keystroke.sh   Environment: PLEAT_BENCH_DIR (default /tmp/pleat-bench), PLEAT_BIN
#                             (skip the build), PLEAT_BASE (a second binary, timed with full sync
#                             only: an older build that has no incremental sync).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/bench/common.sh"
prepare django
prepare azure
exec python3 - "$PLEAT_BIN" "${PLEAT_BASE:-}" "$BENCH" "${DIR[django]}" "${DIR[azure]}" "$REPO/scripts" <<'PY'
import os, statistics, sys, time

pleat, base, bench, django, azure, scripts = sys.argv[1:7]
sys.path.insert(0, scripts)
from lsp_client import Client

def loaded(m):
    return m.get("method") == "window/logMessage" and "Python files under" in m["params"]["message"]

def session(binary, root, path, incremental):
    """Per-keystroke times (ms) of typing two lines into `path` and deleting them."""
    s = Client([binary, "--cache-dir", os.path.join(bench, "keystroke-cache"), "lsp"])
    s.initialize(root, {"onSave": "off"})
    s.wait(loaded)
    uri = "file://" + os.path.join(root, path)
    text = open(os.path.join(root, path)).read()
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
    s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
    lines = text.split("\n")
    # A blank line between top-level statements near the middle.
    line = next(i for i in range(len(lines) // 2, len(lines)) if lines[i] == "" and lines[i + 1][:1] not in ("", " ", "\t", ")"))
    version, times = [1], []

    def change(start, end, new):
        nonlocal text
        offsets = [0]
        for l in text.split("\n"):
            offsets.append(offsets[-1] + len(l) + 1)
        a = offsets[start[0]] + start[1]
        b = offsets[end[0]] + end[1]
        text = text[:a] + new + text[b:]
        version[0] += 1
        if incremental:
            c = {"range": {"start": {"line": start[0], "character": start[1]}, "end": {"line": end[0], "character": end[1]}}, "text": new}
        else:
            c = {"text": text}
        t0 = time.perf_counter()
        s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version[0]}, "contentChanges": [c]})
        at, _ = s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri and m["params"].get("version") == version[0])
        times.append((at - t0) * 1000)

    for typed in ("# a comment typed by the keystroke benchmark", "import os.path as benchmark_path"):
        change((line, 0), (line, 0), "\n")
        for i, ch in enumerate(typed):
            change((line, i), (line, i), ch)
        change((line, 0), (line + 1, 0), "")
    s.close()
    return times

runs = [("incremental sync", pleat, True), ("full sync", pleat, False)]
if base:
    runs.append(("full sync, PLEAT_BASE", base, False))
print("# Keystroke → diagnostics\n")
print(f"- {os.cpu_count()} CPUs, load average before: {open('/proc/loadavg').read().split()[:3]}")
print(f"- pleat: {pleat}" + (f"; base: {base}" if base else "") + "\n")
print("| file | size | mode | keystrokes | median | p90 | max |\n|---|---:|---|---:|---:|---:|---:|")
for root, path in [(django, "django/db/models/fields/__init__.py"), (azure, "azure/mgmt/network/v2021_05_01/models/_models_py3.py")]:
    size = os.path.getsize(os.path.join(root, path))
    for label, binary, incremental in runs:
        t = sorted(session(binary, root, path, incremental))
        print(f"| {path} | {size // 1024} KB | {label} | {len(t)} | {statistics.median(t):.2f} ms | {t[int(len(t) * 0.9)]:.2f} ms | {t[-1]:.2f} ms |", flush=True)
PY
