#!/usr/bin/env python3
"""Owns: the comparisons of bench/fidelity.sh (standard library only).

Reads what fidelity.sh left in OUT/<project>/ and prints the fidelity table (markdown) on stdout:

- tests: plain pytest's JUnit XML (junit.xml) against `pleat test :: --format json`
  (pleat-cold.json, pleat-warm.json), as counts per test file of passed, failed, skipped and
  errors. A file is identical when the four counts match; a file that one side runs and the other
  does not is a difference (on the side that did not run it the counts are "not run").
- lint: `ruff check --output-format=json .` (ruff.json) against `pleat lint :: --format json`
  (pleat-lint.json) as sets of (file, line, code).
- check: mypy's exit status and error count (mypy.txt, mypy.rc) against `pleat check`
  (pleat-check.json, pleat-check.rc; pleat-check-scoped.* for the project's own mypy targets).

Usage: fidelity_compare.py OUT PROJECT...   (also writes OUT/<project>/compare.json)
"""

from __future__ import annotations

import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

KINDS = ("passed", "failed", "skipped", "error")


def dotted(path: str) -> str:
    """pytest's JUnit mangling of a node id's file part: '/' → '.', a trailing '.py' dropped."""
    return re.sub(r"\.py$", "", path.replace("/", "."))


def repo_files(root: Path) -> dict[str, str]:
    """Every file under root (no .git), by its JUnit-mangled name."""
    names: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for f in files:
            rel = os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/")
            names.setdefault(dotted(rel), rel)
    return names


def file_of(classname: str, name: str, names: dict[str, str]) -> str:
    """The file a JUnit testcase belongs to: the longest mangled file name that starts its
    classname (for a collection error the classname is empty and the name is the file)."""
    key = classname or name
    if key.strip(".") == "":
        return "."  # an item of the root folder itself (pytest-checkdocs' project metadata)
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in names:
            return names[candidate]
    return "?" + key


def junit_counts(path: Path, root: Path) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Per file: counts of passed/failed/skipped/error; and per file the first problem's text."""
    counts: dict[str, dict[str, int]] = {}
    first: dict[str, str] = {}
    if not path.is_file() or path.stat().st_size == 0:
        return counts, first
    names = repo_files(root)
    for case in ET.parse(path).getroot().iter("testcase"):
        f = file_of(case.get("classname", ""), case.get("name", ""), names)
        tags = {child.tag: child for child in case}
        kind = "error" if "error" in tags else "failed" if "failure" in tags else "skipped" if "skipped" in tags else "passed"
        counts.setdefault(f, dict.fromkeys(KINDS, 0))[kind] += 1
        if kind in ("error", "failed") and f not in first:
            el = tags.get("error", tags.get("failure"))
            text = (el.get("message") or "") + "\n" + (el.text or "")
            first[f] = f"{case.get('name')}: {last_error_line(text)}"
    return counts, first


def last_error_line(text: str) -> str:
    """pytest's last `E ` line (the exception), else the first non-empty line."""
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors[-1] if errors else lines[0] if lines else "").strip()[:300]


def pleat_counts(path: Path) -> tuple[dict[str, dict[str, int]] | None, dict[str, str], str]:
    """Per file counts from `pleat test --format json`; None when it printed no JSON."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, {}, ""
    counts: dict[str, dict[str, int]] = {}
    first: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    for f in data.get("files", []):
        c = dict.fromkeys(KINDS, 0)
        for t in f.get("tests", []):
            c[t["outcome"] if t["outcome"] in KINDS else "error"] += 1
            if t["outcome"] in ("failed", "error") and f["file"] not in first:
                first[f["file"]] = f"{t['name'].split('::', 1)[-1]}: {(t.get('message') or '').strip()[:300]}"
        if f["outcome"] in ("error", "timed_out") and c["error"] == 0:
            c["error"] += 1  # pytest could not run the file, or it ran out of time
            first.setdefault(f["file"], f"file {f['outcome']}")
        if f.get("missing_inputs"):  # files the tests read that the sandbox lacked (newer Pleat)
            missing = f["missing_inputs"]
            first[f["file"]] = (first.get(f["file"], "") + f" [read, not in the sandbox: {', '.join(missing[:3])}"
                                + (f" and {len(missing) - 3} more" if len(missing) > 3 else "") + "]").strip()
        counts[f["file"]] = c
        outcomes[f["file"]] = f["outcome"]
    for n in data.get("not_run", []):  # files Pleat knows pytest collects but it does not run
        first.setdefault(n["file"], f"listed as not run ({n.get('collector', '?')})")
    return counts, first, json.dumps(outcomes)


def human_reasons(path: Path) -> dict[str, str]:
    """From `pleat test`'s human report: per failing file, the telling line of pytest's output
    (the JSON has no output for a file pytest could not run)."""
    reasons: dict[str, str] = {}
    current, lines = None, []

    def done():
        if current is not None and lines:
            telling = [x for x in lines if x.startswith("E ")] or [x for x in lines if "Error" in x or "error" in x] or lines
            reasons[current] = telling[-1].lstrip("E ").strip()[:300]

    if not path.exists():
        return reasons
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"^✕ (\S+) ", line)
        if m:
            done()
            current, lines = m[1], []
        elif line.startswith("    | ") and current is not None:
            text = re.sub(r"\x1b\[[0-9;]*m", "", line[6:]).strip()
            if text:
                lines.append(text)
        elif not line.startswith("    "):
            done()
            current, lines = None, []
    done()
    return reasons


def fmt(c: dict[str, int] | None) -> str:
    if c is None:
        return "not run"
    return "/".join(str(c[k]) for k in KINDS)


def compare_tests(out: Path, root: Path) -> dict:
    plain, plain_first = junit_counts(out / "junit.xml", root)
    cold, pleat_first, _ = pleat_counts(out / "pleat-cold.json")
    warm, _, _ = pleat_counts(out / "pleat-warm.json")
    for f, reason in human_reasons(out / "pleat-human.txt").items():
        if pleat_first.get(f, "").startswith("file "):
            pleat_first[f] = f"{pleat_first[f]}: {reason}"
    result: dict = {"plain_ran": (out / "junit.xml").is_file(), "pleat_ran": cold is not None}
    cold = cold or {}
    files = sorted(set(plain) | set(cold))
    zero = dict.fromkeys(KINDS, 0)
    differing = []
    identical = 0
    for f in files:
        # A file pytest did not collect but Pleat ran with no tests in it agrees (both zero).
        p = plain.get(f, zero if cold.get(f) == zero else None)
        q = cold.get(f)
        if p == q:
            identical += 1
        else:
            differing.append({
                "file": f, "plain": fmt(p), "pleat": fmt(q),
                "plain_first": plain_first.get(f, ""), "pleat_first": pleat_first.get(f, ""),
            })
    result.update(files=len(files), identical=identical, differing=differing)
    result["totals"] = {
        "plain": {k: sum(c[k] for c in plain.values()) for k in KINDS},
        "pleat": {k: sum(c[k] for c in cold.values()) for k in KINDS},
    }
    result["warm_differs"] = sorted(f for f in set(cold) | set(warm or {}) if cold.get(f) != (warm or {}).get(f)) if warm is not None else None
    return result


def ruff_set(path: Path, root: Path) -> set[tuple[str, int, str]] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    found = set()
    for d in data:
        f = os.path.relpath(d["filename"], root).replace(os.sep, "/")
        found.add((f, d["location"]["row"], d.get("code") or "syntax-error"))
    return found


def pleat_lint_set(path: Path) -> set[tuple[str, int, str]] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return {(f["file"], x["line"], x.get("code") or "syntax-error") for f in data["files"] for x in f["findings"]}


def compare_lint(out: Path, root: Path) -> dict | None:
    if not (out / "ruff.json").exists():
        return None
    plain, pleat = ruff_set(out / "ruff.json", root), pleat_lint_set(out / "pleat-lint.json")
    if plain is None or pleat is None:
        return {"plain": None if plain is None else len(plain), "pleat": None if pleat is None else len(pleat)}
    return {
        "plain": len(plain), "pleat": len(pleat), "both": len(plain & pleat),
        "plain_only": sorted(plain - pleat), "pleat_only": sorted(pleat - plain),
    }


MYPY_ERROR = re.compile(r"^(?P<file>[^:\s][^:]*):(?P<line>\d+)(?::\d+)?: error:")


def mypy_errors(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(m["file"], int(m["line"])) for m in map(MYPY_ERROR.match, path.read_text().splitlines()) if m]


def read_rc(path: Path) -> str:
    return path.read_text().strip() if path.exists() else "?"


def pleat_check(out: Path, stem: str) -> dict | None:
    if not (out / f"{stem}.rc").exists():
        return None
    try:
        data = json.loads((out / f"{stem}.json").read_text())
        errors = data["errors"]
        found = {(f["file"], f["line"]) for f in data["findings"] if f["severity"] == "error"}
    except (OSError, ValueError, KeyError):
        errors, found = None, set()
    return {"rc": read_rc(out / f"{stem}.rc"), "errors": errors, "set": found}


def compare_check(out: Path) -> dict | None:
    if not (out / "mypy.rc").exists():
        return None
    plain = mypy_errors(out / "mypy.txt")
    result = {"plain": {"rc": read_rc(out / "mypy.rc"), "errors": len(plain)}}
    for stem in ("pleat-check", "pleat-check-scoped"):
        r = pleat_check(out, stem)
        if r is not None:
            found = r.pop("set")
            r["both"] = len(set(plain) & found)
            result[stem] = r
    return result


def times(out: Path) -> dict[str, float]:
    t = {}
    if (out / "times.tsv").exists():
        for line in (out / "times.tsv").read_text().splitlines():
            label, seconds = line.split("\t")
            t[label] = float(seconds)
    return t


def main() -> None:
    out_dir, projects = Path(sys.argv[1]), sys.argv[2:]
    rows, details = [], []
    total_files = total_identical = 0
    total_t = {"plain": 0.0, "cold": 0.0, "warm": 0.0}
    for p in projects:
        out = out_dir / p
        info = json.loads((out / "info.json").read_text())
        root = Path(info["dir"])
        t = compare_tests(out, root)
        lint = compare_lint(out, root)
        check = compare_check(out)
        tm = times(out)
        (out / "compare.json").write_text(json.dumps({"tests": t, "lint": lint, "check": check, "times": tm}, indent=1, default=list))
        total_files += t["files"]
        total_identical += t["identical"]
        for k in total_t:
            total_t[k] += tm.get(k, 0.0)
        lint_cell = "—" if lint is None else (
            f"{lint['plain']} / {lint['pleat']} / {lint.get('both', '?')}")
        if check is None:
            check_cell = "not configured" if not info.get("mypy") else "skipped"
        else:
            sides = [f"mypy {check['plain']['rc']}: {check['plain']['errors']}"]
            for stem, label in (("pleat-check", "`::`"), ("pleat-check-scoped", "scoped")):
                if stem in check:
                    c = check[stem]
                    sides.append(f"{label} {c['rc']}: {c['errors'] if c['errors'] is not None else '—'}")
            check_cell = "; ".join(sides)
        share = f"{t['identical']} / {t['files']}"
        tp, tq = t["totals"]["plain"], t["totals"]["pleat"]
        rows.append(
            f"| {info['label']} | **{share}** | {fmt(tp)} | {fmt(tq) if t['pleat_ran'] else 'did not run'} "
            f"| {tm.get('plain', 0):.1f} | {tm.get('cold', 0):.1f} | {tm.get('warm', 0):.2f} | {lint_cell} | {check_cell} |")
        if t["differing"] or (t["warm_differs"]) or not t["pleat_ran"]:
            details.append(f"\n### {info['label']}\n")
            if not t["pleat_ran"]:
                details.append(f"- `pleat test` printed no JSON (exit {read_rc(out / 'pleat-cold.rc')}); its stderr ends: "
                               f"`{tail_line(out / 'pleat-cold.stderr')}`")
            if t["warm_differs"]:
                details.append(f"- warm pass differs from the cold one in: {', '.join(t['warm_differs'])}")
            if t["differing"]:
                details.append("| file | plain p/f/s/e | pleat p/f/s/e | plain's first problem | pleat's first problem |")
                details.append("| --- | --- | --- | --- | --- |")
                for d in t["differing"]:
                    details.append(f"| `{d['file']}` | {d['plain']} | {d['pleat']} | {cell(d['plain_first'])} | {cell(d['pleat_first'])} |")
        if lint and lint.get("plain_only") is not None and (lint["plain_only"] or lint["pleat_only"]):
            details.append(f"\n{info['label']} lint: {len(lint['plain_only'])} findings only in plain ruff "
                           f"({codes(lint['plain_only'])}), {len(lint['pleat_only'])} only in Pleat ({codes(lint['pleat_only'])}).")
    print("| project | test files identical | plain p/f/s/e | pleat p/f/s/e | plain pytest s | pleat cold s | pleat warm s | lint plain / pleat / both | mypy (exit: errors) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(r)
    share = 100.0 * total_identical / total_files if total_files else 0.0
    print(f"\n**Identical test files: {total_identical} / {total_files} ({share:.0f} %).** "
          f"Times: plain pytest {total_t['plain']:.1f} s, Pleat cold {total_t['cold']:.1f} s "
          f"(empty cache: tool environments built), Pleat warm {total_t['warm']:.1f} s.")
    print("\np/f/s/e = passed / failed / skipped / errors (a collection error is one error of its file).")
    print("\nProjects: " + "; ".join(
        f"{json.loads((out_dir / p / 'info.json').read_text()).get('label')} "
        f"({json.loads((out_dir / p / 'info.json').read_text()).get('kind', '')})" for p in projects) + ".")
    if details:
        print("\n## Differences")
        for d in details:
            print(d)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def codes(findings) -> str:
    by: dict[str, int] = {}
    for _, _, code in findings:
        by[code] = by.get(code, 0) + 1
    return ", ".join(f"{c} {n}" for c, n in sorted(by.items(), key=lambda kv: -kv[1])[:8]) or "none"


def tail_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()] if path.exists() else []
    return cell(lines[-1]) if lines else ""


if __name__ == "__main__":
    main()
