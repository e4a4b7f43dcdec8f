"""Pleat's pytest plugin: writes every test's outcome, duration, message and traceback frames as JSON to $PLEAT_RESULTS, the first-party lines the run executed to $PLEAT_COVERAGE, and the sandbox paths the tests tried to open, list or stat that did not exist; collects no test functions from a file that is no test module (run for its doctests or a file plugin's items)."""

import glob
import json
import os
import re
import sys
import warnings

import pytest

_results = {}
_order = []
_missing = []
_SANDBOX = os.getcwd()
# The import path (and mypy's) is relative in the process's key (sandboxes differ); made
# absolute here so a test that changes folder or starts Python, pytest or mypy elsewhere
# (pytester, pytest-mypy-plugins) still finds the project and this plugin.
for _name in ("PYTHONPATH", "MYPYPATH"):
    if os.environ.get(_name):
        os.environ[_name] = os.pathsep.join(os.path.abspath(p) for p in os.environ[_name].split(os.pathsep) if p)
sys.path[:] = [os.path.abspath(p) if p and not os.path.isabs(p) else p for p in sys.path]
# The import path's folders (source roots) are looked at by every import; not inputs.
_SEARCHED = {os.path.abspath(p) for p in sys.path if p}


def _note(path):
    # A path inside the sandbox that a test tried to read and that is not there: Pleat
    # says which of them exist in the repository (an input the sandbox lacks).
    if path is None or isinstance(path, int) or len(_missing) >= 50:
        return
    try:
        path = os.path.abspath(os.fsdecode(path))
        if path.startswith(_SANDBOX + os.sep) and path not in _SEARCHED and not _exists(path):
            rel = os.path.relpath(path, _SANDBOX)
            if rel not in _missing:
                _missing.append(rel)
    except Exception:
        pass


def _exists(path):
    try:
        _real_stat(path)
        return True
    except OSError:
        return False


def _watch(event, args):
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    if event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax"):
        return
    _note(args[0])


def _stat_watching(real):
    # `os.stat` raises no audit event; `os.path.exists`, `Path.is_file` and the like call it.
    def stat(path, *args, dir_fd=None, **kwargs):
        try:
            return real(path, *args, dir_fd=dir_fd, **kwargs)
        except FileNotFoundError:
            if dir_fd is None:
                _note(path)
            raise

    return stat


_real_stat = os.stat
os.stat = _stat_watching(os.stat)
os.lstat = _stat_watching(os.lstat)
sys.addaudithook(_watch)


_ROOT = os.getcwd() + os.sep
# `path:line: in name`: a frame of a traceback pytest gave as text (a collection error's
# "ImportError while importing test module").
_TEXT_FRAME = re.compile(r"^(\S[^:\n]*\.py):(\d+): in ", re.MULTILINE)


def _rel(path):
    """A path as the repository names it: the sandbox's root stripped."""
    path = str(path)
    return path[len(_ROOT):] if path.startswith(_ROOT) else path


def _frames(longrepr):
    tb = getattr(longrepr, "reprtraceback", None)
    frames = []
    for entry in getattr(tb, "reprentries", []) or []:
        loc = getattr(entry, "reprfileloc", None)
        if loc is not None:
            frames.append({"file": _rel(loc.path), "line": int(loc.lineno)})
    if tb is None:
        for match in _TEXT_FRAME.finditer(str(longrepr)):
            frames.append({"file": _rel(match.group(1)), "line": int(match.group(2))})
    return frames


_DETAIL_LINES = 80


def _explanation(longrepr):
    """pytest's `E` lines of the innermost frame: an assertion's whole explanation (the diff),
    a multi-line message. Cut after whole lines, never in the middle of one."""
    tb = getattr(longrepr, "reprtraceback", None)
    entries = getattr(tb, "reprentries", None) or []
    lines = getattr(entries[-1], "lines", None) if entries else None
    if lines is None:
        lines = str(longrepr).splitlines()
    body = [line[1:] for line in lines if line.startswith("E ") or line == "E"]
    indent = min((len(t) - len(t.lstrip()) for t in body if t.strip()), default=0)
    body = [t[indent:].rstrip() for t in body]
    if len(body) > _DETAIL_LINES:
        body = body[:_DETAIL_LINES] + ["… %d more lines" % (len(body) - _DETAIL_LINES)]
    return "\n".join(body).replace(_ROOT, "") or None


def _first_error_line(longrepr):
    # An exception with an empty message (pytest-mypy-plugins' TypecheckAssertionError):
    # the first of pytest's `E` lines that says something.
    for line in str(longrepr).splitlines():
        text = line[1:].strip() if line.startswith("E ") else ""
        if text and not text.endswith(":"):
            return text
    return ""


def _record(nodeid, when, outcome, duration, longrepr):
    entry = _results.get(nodeid)
    if entry is None:
        entry = {
            "nodeid": nodeid,
            "outcome": "passed",
            "duration": 0.0,
            "message": None,
            "detail": None,
            "crash": None,
            "frames": [],
        }
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
            entry["message"] = str(crash.message).strip() or _first_error_line(longrepr)
            entry["crash"] = {"file": _rel(crash.path), "line": int(crash.lineno)}
        else:
            entry["message"] = str(longrepr)[-2000:]
        # Messages name the repository's files, not the sandbox's copies.
        entry["message"] = entry["message"].replace(_ROOT, "")
        entry["detail"] = _explanation(longrepr)
        entry["frames"] = _frames(longrepr)


class _NotATestModule(pytest.File):
    def collect(self):
        return []


def _not_a_test_module(module_path, parent):
    """A file that is no test module (PLEAT_NOT_A_TEST_MODULE=1: pytest collects it only
    under --doctest-modules or for a file plugin's items, its name is not in python_files)
    gets no test functions, as in a plain `pytest`; naming the file on the command line
    would collect (and import) it as a test module. Doctests and plugin items stay."""
    if os.environ.get("PLEAT_NOT_A_TEST_MODULE") == "1":
        return _NotATestModule.from_parent(parent, path=module_path)
    return None


# The hook's `module_path` argument exists since pytest 7.
if int(pytest.__version__.split(".")[0]) >= 7:
    pytest_pycollect_makemodule = _not_a_test_module


def pytest_runtest_logreport(report):
    _record(report.nodeid, report.when, report.outcome, report.duration, report.longrepr)


def pytest_collectreport(report):
    if report.failed:
        _record(report.nodeid or "<collection>", "collect", "failed", 0.0, report.longrepr)


# Coverage: which first-party lines the run executed, written to $PLEAT_COVERAGE (Pleat orders
# the next runs by it). It never changes a result: every step is guarded, warnings are
# silenced, nothing is printed, and it stays off when another tracer is active (pytest-cov's
# --cov, a debugger). sys.monitoring where the interpreter has it (3.12+: each line reported
# once, then disabled), else coverage's C tracer from Pleat's own environment
# ($PLEAT_COVERAGE_ENV), imported without leaving that folder on the path.
_coverage = None
_monitored = None
_MONITOR_ID = 4  # sys.monitoring's tool ids 0-5; 4 and 5 are free for anyone


def _first_party(filename):
    return filename.startswith(_ROOT) and not filename.startswith(_ROOT + ".pleat" + os.sep)


def _start_monitoring():
    global _monitored
    mon = sys.monitoring
    mon.use_tool_id(_MONITOR_ID, "pleat")
    seen = set()
    _monitored = seen

    def line(code, number):
        if _first_party(code.co_filename):
            seen.add((code.co_filename, number))
        return mon.DISABLE

    mon.register_callback(_MONITOR_ID, mon.events.LINE, line)
    mon.set_events(_MONITOR_ID, mon.events.LINE)


def _start_coverage():
    global _coverage
    env = os.environ.get("PLEAT_COVERAGE_ENV")
    if not env:
        return
    libs = glob.glob(os.path.join(env, "lib", "python*", "site-packages"))
    if not libs:
        return
    before = list(sys.path)
    sys.path.insert(0, libs[0])
    try:
        import coverage
    finally:
        sys.path[:] = before
    cov = coverage.Coverage(data_file=None, config_file=False, include=[_ROOT + "*"], omit=[_ROOT + ".pleat/*"])
    cov._warn_no_data = False
    cov.start()
    _coverage = cov


def _coverage_wanted(config):
    if not os.environ.get("PLEAT_COVERAGE"):
        return False
    if sys.gettrace() is not None or getattr(config.known_args_namespace, "cov_source", None):
        return False
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Before the conftests (and what they import) load, and before pytest-cov starts.
    try:
        if _coverage_wanted(early_config):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if sys.version_info >= (3, 12):
                    _start_monitoring()
                else:
                    _start_coverage()
    except Exception:
        pass
    yield


def _executed():
    """{repository path: sorted lines} of the first-party files the run executed."""
    lines = {}
    if _monitored is not None:
        sys.monitoring.set_events(_MONITOR_ID, 0)
        sys.monitoring.free_tool_id(_MONITOR_ID)
        for filename, number in _monitored:
            lines.setdefault(_rel(filename), set()).add(number)
    elif _coverage is not None:
        _coverage.stop()
        data = _coverage.get_data()
        for filename in data.measured_files():
            if _first_party(filename):
                lines[_rel(filename)] = set(data.lines(filename) or ())
    return {path: sorted(numbers) for path, numbers in sorted(lines.items())}


def _write_coverage():
    path = os.environ.get("PLEAT_COVERAGE")
    if not path or (_coverage is None and _monitored is None):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            executed = _executed()
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"lines": executed}, out, separators=(",", ":"))
    except Exception:
        pass


def pytest_sessionfinish(session, exitstatus):
    _write_coverage()
    path = os.environ.get("PLEAT_RESULTS")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"exitstatus": int(exitstatus), "tests": [_results[n] for n in _order], "missing": _missing}, out)
