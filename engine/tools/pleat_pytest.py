"""Pleat's pytest plugin: writes every test's outcome, duration, message and traceback frames as JSON to $PLEAT_RESULTS, and the sandbox paths the tests tried to read that did not exist; keeps only doctests for a module run for its doctests alone."""

import json
import os
import sys

_results = {}
_order = []
_missing = []
_SANDBOX = os.getcwd()
# The import path is relative in the process's key (sandboxes differ); made absolute here so
# a test that changes folder or starts Python or pytest elsewhere (pytester) still finds
# the project and this plugin.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p
    )
sys.path[:] = [os.path.abspath(p) if p and not os.path.isabs(p) else p for p in sys.path]
# The import path's folders (source roots) are looked at by every import; not inputs.
_SEARCHED = {os.path.abspath(p) for p in sys.path if p}


def _watch(event, args):
    # Paths inside the sandbox that a test opened or listed and that are not there: Pleat
    # says which of them exist in the repository (an input the sandbox lacks).
    if event not in ("open", "os.listdir", "os.scandir") or not args or len(_missing) >= 50:
        return
    path = args[0]
    if isinstance(path, int) or path is None:
        return
    if event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax"):
        return
    try:
        path = os.path.abspath(os.fsdecode(path))
        if path.startswith(_SANDBOX + os.sep) and path not in _SEARCHED and not os.path.exists(path):
            rel = os.path.relpath(path, _SANDBOX)
            if rel not in _missing:
                _missing.append(rel)
    except Exception:
        pass


sys.addaudithook(_watch)


def _frames(longrepr):
    tb = getattr(longrepr, "reprtraceback", None)
    frames = []
    for entry in getattr(tb, "reprentries", []) or []:
        loc = getattr(entry, "reprfileloc", None)
        if loc is not None:
            frames.append({"file": str(loc.path), "line": int(loc.lineno)})
    return frames


def _record(nodeid, when, outcome, duration, longrepr):
    entry = _results.get(nodeid)
    if entry is None:
        entry = {"nodeid": nodeid, "outcome": "passed", "duration": 0.0, "message": None, "crash": None, "frames": []}
        _results[nodeid] = entry
        _order.append(nodeid)
    entry["duration"] += float(duration or 0.0)
    if outcome == "skipped" and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            entry["message"] = str(longrepr[2])
    elif outcome == "failed":
        entry["outcome"] = "failed" if when == "call" else "error"
        crash = getattr(longrepr, "reprcrash", None)
        if crash is not None:
            entry["message"] = str(crash.message)
            entry["crash"] = {"file": str(crash.path), "line": int(crash.lineno)}
        else:
            entry["message"] = str(longrepr)[-2000:]
        entry["frames"] = _frames(longrepr)


def pytest_collection_modifyitems(config, items):
    """A module run for its doctests alone (PLEAT_DOCTESTS_ONLY=1: pytest collects it only
    under --doctest-modules, its name is not in python_files) keeps only its doctests, as a
    plain `pytest` would; naming the file on the command line collects its test functions too."""
    if os.environ.get("PLEAT_DOCTESTS_ONLY") != "1":
        return
    from _pytest.doctest import DoctestItem

    deselected = [item for item in items if not isinstance(item, DoctestItem)]
    if deselected:
        items[:] = [item for item in items if isinstance(item, DoctestItem)]
        config.hook.pytest_deselected(items=deselected)


def pytest_runtest_logreport(report):
    _record(report.nodeid, report.when, report.outcome, report.duration, report.longrepr)


def pytest_collectreport(report):
    if report.failed:
        _record(report.nodeid or "<collection>", "collect", "failed", 0.0, report.longrepr)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("PLEAT_RESULTS")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"exitstatus": int(exitstatus), "tests": [_results[n] for n in _order], "missing": _missing}, out)
