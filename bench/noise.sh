#!/usr/bin/env bash
# Owns: the editor-noise benchmark (issue 15): open every Python file of real projects at a clean
# checkout in `pleat lsp`, save each (ruff on save), run every test (`pleat.runAll`), and count
# the diagnostics the editor would show, by source, code and severity. Every error and warning is
# checked against what the plain tools said in the fidelity benchmark's run (plain pytest's
# junit.xml, plain `ruff check`): the target is zero errors and zero warnings that plain pytest
# and ruff do not also report. Prints a markdown table (also $BENCH/out/noise.md).
#
# Needs the fidelity benchmark's repositories and plain answers first:
#   bench/fidelity.sh --only jinja2 --only packaging --only attrs
# Usage: bench/noise.sh [NAME...]   (default: jinja2 packaging attrs)
# Environment: PLEAT (default target/release/pleat), PLEAT_BENCH_DIR (default
# /tmp/pleat-bench-fidelity: src/<name>, out/<name>, cache/ are the fidelity run's).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench-fidelity}"
PLEAT="${PLEAT:-$REPO/target/release/pleat}"
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[[ -x "$PLEAT" ]] || die "no pleat binary at $PLEAT: cargo build --release -p pleat, or set PLEAT"
PROJECTS=("$@")
[[ ${#PROJECTS[@]} -gt 0 ]] || PROJECTS=(jinja2 packaging attrs)
for p in "${PROJECTS[@]}"; do
  [[ -d "$BENCH/src/$p/.git" && -f "$BENCH/out/$p/junit.xml" && -f "$BENCH/out/$p/ruff.json" ]] \
    || die "$p: no fidelity run in $BENCH; run bench/fidelity.sh --only $p first"
  # A clean checkout: tracked files as committed.
  git -C "$BENCH/src/$p" checkout -q -- .
done
mkdir -p "$BENCH/bin"
cp "$PLEAT" "$BENCH/bin/pleat-noise"
exec python3 - "$BENCH" "$BENCH/bin/pleat-noise" "$REPO/scripts" "${PROJECTS[@]}" <<'PY'
import collections, json, os, queue, subprocess, sys, xml.etree.ElementTree as ET

bench, pleat, scripts, projects = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sys.path.insert(0, scripts)
from lsp_client import Client

SEVERITY = {1: "error", 2: "warning", 3: "information", 4: "hint"}


def plain_failures(project):
    """Test names plain pytest reported failed or errored: (file stem, class or '', name)."""
    out = set()
    for case in ET.parse(f"{bench}/out/{project}/junit.xml").getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            out.add(case.get("name"))
    return out


def plain_ruff(project, root):
    return {(os.path.relpath(f["filename"], root), f["location"]["row"], f["code"])
            for f in json.load(open(f"{bench}/out/{project}/ruff.json"))}


def drain(client, seconds):
    try:
        while True:
            client.wait(lambda m: False, limit=seconds)
    except queue.Empty:
        pass


def measure(project):
    root = f"{bench}/src/{project}"
    files = subprocess.run(["git", "-C", root, "ls-files", "*.py"], capture_output=True, text=True,
                           check=True).stdout.split()
    client = Client([pleat, "--cache-dir", f"{bench}/cache", "lsp"])
    client.initialize(root, {"onSave": "lint", "typecheck": "off"})
    client.wait(lambda m: m.get("method") == "pleat/status" and m["params"].get("state") == "idle", limit=600)
    for path in files:
        uri = f"file://{root}/{path}"
        with open(f"{root}/{path}", "rb") as f:
            text = f.read().decode("utf-8", "replace")
        client.notify("textDocument/didOpen",
                      {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
        client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        # One file's lint at a time: its run ends with the server idle (a file outside the
        # project starts no run: then a short wait).
        try:
            client.wait(lambda m: m.get("method") == "pleat/status" and m["params"].get("state") == "idle",
                        limit=60)
        except queue.Empty:
            pass
    client.request("workspace/executeCommand", {"command": "pleat.runAll", "arguments": [{}]})
    drain(client, 3)
    client.close()
    failures, ruff = plain_failures(project), plain_ruff(project, root)
    counts = collections.Counter()
    extra = []
    for uri, diagnostics in client.latest.items():
        path = os.path.relpath(uri[len("file://"):], root)
        for d in diagnostics:
            severity = SEVERITY.get(d.get("severity"), "?")
            kind = f"{d.get('source')} {d.get('code')}"
            counts[(kind, severity)] += 1
            if severity not in ("error", "warning"):
                continue
            if d.get("source") == "ruff":
                known = (path, d["range"]["start"]["line"] + 1, d.get("code")) in ruff
            elif d.get("source") == "pytest":
                test = (d.get("data") or {}).get("test", "")
                known = test.split("::")[-1] in failures
            else:
                known = False
            if not known:
                extra.append(f"{path}:{d['range']['start']['line'] + 1}: {severity} {kind}: {d['message'].splitlines()[0][:120]}")
    return len(files), counts, extra


lines = ["| project | files | diagnostics (source code: severity × count) | errors + warnings plain pytest/ruff do not report |",
         "|---|---|---|---|"]
details = []
for project in projects:
    n, counts, extra = measure(project)
    shown = ", ".join(f"{kind}: {sev} × {c}" for (kind, sev), c in sorted(counts.items())) or "none"
    lines.append(f"| {project} | {n} | {shown} | {len(extra)} |")
    details += [f"{project}: {e}" for e in extra]
report = "\n".join(lines + [""] + details) + "\n"
os.makedirs(f"{bench}/out", exist_ok=True)
open(f"{bench}/out/noise.md", "w").write(report)
print(report)
PY
