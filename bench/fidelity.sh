#!/usr/bin/env bash
# Owns: the fidelity benchmark (issue 9): on real projects with no Pleat configuration, does Pleat
# say what `pytest`, `ruff check` and `mypy` say when run the project's documented way?
# Downloads pinned sdists from PyPI (version + sha256 checked), unpacks each into a git repository
# (one commit, tagged with its version, so setuptools-scm / hatch-vcs see a real checkout), builds
# a plain venv the project's documented way, then in one run per project: plain pytest with
# --junitxml against `pleat test ::` (one Pleat cache for all projects, emptied for the cold
# pass, reused for the warm pass), `ruff check` against `pleat lint ::`, and where the project
# configures mypy, mypy against `pleat check`. bench/fidelity_compare.py compares and prints the
# table; it is also written to $BENCH/out/fidelity.md (see docs/fidelity.md). Run by hand; not
# part of scripts/test.sh.
#
# Usage: bench/fidelity.sh [--only NAME]... [--skip-lint] [--skip-check] [--pinned] [--list]
#   --pinned  build the plain venvs with each project's PINS as constraints (the versions of the
#             project's release time, frozen when this script was written) instead of the
#             documented install as a newcomer runs it today (the default)
# Environment:
#   PLEAT                 the pleat binary (default target/release/pleat of this checkout, built
#                         with `cargo build --release -p pleat` when missing); a copy is run
#   PLEAT_COMMIT          the commit PLEAT was built from, for the report (default: the HEAD of
#                         the checkout holding PLEAT, with a warning when the binary is older)
#   PLEAT_BENCH_DIR       scratch folder (default /tmp/pleat-bench-fidelity): dl/ (sdists),
#                         src/<name> (the repositories), venvs/, cache/ (Pleat's), out/ (results)
#   PLEAT_FIDELITY_TIMEOUT  seconds per test file for Pleat, and 4x that for a plain pytest run
#                         (default 600)
# Idempotent: downloads, repositories and venvs are reused (a venv is rebuilt when its recipe in
# this file changes). Needs python3 (venv), git, and PyPI.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench-fidelity}"
TIMEOUT="${PLEAT_FIDELITY_TIMEOUT:-600}"
OUT="$BENCH/out"
ALL="packaging jinja2 attrs dateutil pytest-mock inflect pluggy humanize"

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ONLY=() SKIP_LINT=0 SKIP_CHECK=0 PINNED=0
while [[ $# -gt 0 ]]; do
  case "$1" in
  --only) [[ $# -ge 2 ]] || die "--only needs a project name"; ONLY+=("$2"); shift 2 ;;
  --skip-lint) SKIP_LINT=1; shift ;;
  --skip-check) SKIP_CHECK=1; shift ;;
  --pinned) PINNED=1; shift ;;
  --list) echo "$ALL"; exit 0 ;;
  -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument $1 (see --help)" ;;
  esac
done
PROJECTS="${ONLY[*]:-$ALL}"
for p in $PROJECTS; do [[ " $ALL " == *" $p "* ]] || die "unknown project $p (known: $ALL)"; done

command -v python3 >/dev/null || die "python3 is needed"
command -v git >/dev/null || die "git is needed"

# --- the projects -----------------------------------------------------------------------------
# project NAME sets, for one project:
#   VERSION FILE SHA256 PIPNAME   the pinned sdist (the hash is the one PyPI serves)
#   TAG       the git tag of the one commit (setuptools-scm / hatch-vcs read the version from it)
#   INSTALL   pip arguments for the plain venv, run in the repository (its documented way)
#   PINS      every package of that venv but the project, as constraints (pip freeze of the first
#             build), used with --pinned so that later builds resolve the same versions
#   PYTEST    how plain pytest is run from the root, as the project documents it (coverage flags
#             and reporters left out); --junitxml, -p no:cacheprovider and
#             --continue-on-collection-errors are added (one file that cannot be collected
#             would otherwise stop the whole session: the comparison is per file)
#   PYENV     environment variables the project's tox/nox sets for its tests
#   MYPY      mypy's arguments as the project runs it; empty when the project configures no mypy
#             (" " for a bare `mypy` that takes its files from the configuration)
#   MYPY_SPECS  Pleat specs for the same files (the scoped `pleat check`)
#   KIND      what the project is there for (the table's label)
project() {
  PYENV="" MYPY="" MYPY_SPECS="" PINS=""
  case "$1" in
  packaging)
    VERSION=24.2 PIPNAME=packaging FILE=packaging-24.2.tar.gz
    SHA256=c228a6dc5e932d346bc5739379109d49e8853dd8223571c7c5b55260edc0b97f
    # noxfile.py `tests`: install tests/requirements.txt and the project, `python -m pytest`.
    INSTALL="-r tests/requirements.txt -e ."
    PINS="coverage==7.6.9 iniconfig==2.3.1 pluggy==1.7.0 pretend==1.0.9 pytest==8.3.4"
    PYTEST="python -m pytest"
    # [tool.mypy] strict; run by pre-commit on everything but docs/, tasks/, tests/.
    MYPY="src" MYPY_SPECS="src::"
    KIND="src layout, flit; tests read binary fixtures (tests/manylinux, musllinux)"
    ;;
  jinja2)
    VERSION=3.1.4 PIPNAME=jinja2 FILE=jinja2-3.1.4.tar.gz
    SHA256=4a3aee7acbbe7303aede8e9648d13b8bf88a429282aa6122a993f0ac800cb369
    # tox.ini: deps = -r requirements/tests.txt (pins pytest 7.4.0); `pytest`. CONTRIBUTING: -e .
    INSTALL="-r requirements/tests.txt -e ."
    PINS="exceptiongroup==1.1.1 iniconfig==2.0.0 MarkupSafe==2.1.5 packaging==23.1 pluggy==1.2.0 pytest==7.4.0 tomli==2.0.1"
    PYTEST="pytest"
    # tox typing env: `mypy` (files = ["src/jinja2"] in [tool.mypy]).
    MYPY=" " MYPY_SPECS="src/jinja2::"
    KIND="src layout; tests load templates from tests/res/"
    ;;
  attrs)
    VERSION=24.2.0 PIPNAME=attrs FILE=attrs-24.2.0.tar.gz
    SHA256=5cfb1b9148b5b086569baec03f20d7b6bf3bcacc9a42bebf87ffaaca362f6346
    # tox.ini: extras = tests; `pytest -n auto` (testpaths = tests, pytest-mypy-plugins yml tests).
    INSTALL="-e .[tests]"
    PINS="cloudpickle==3.1.0 decorator==5.3.1 execnet==2.1.2 hypothesis==6.122.3 iniconfig==2.3.1 Jinja2==3.1.6 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 MarkupSafe==3.0.4 mypy==1.13.0 mypy_extensions==1.2.0 packaging==26.4 pluggy==1.7.0 psutil==7.2.2 Pympler==1.1 pytest==8.3.4 pytest-mypy-plugins==3.1.2 pytest-xdist==3.6.1 PyYAML==6.0.4 referencing==0.37.0 regex==2026.11.19 rpds-py==2026.9.1 sortedcontainers==2.4.0 tomlkit==0.15.2 typing_extensions==4.16.0"
    PYTEST="pytest -n auto"
    # tox mypy env: `mypy tests/typing_example.py` (and the .pyi stubs, a second command).
    MYPY="tests/typing_example.py" MYPY_SPECS="tests/typing_example.py"
    KIND="hatch-vcs; hypothesis, xdist, mypy-plugin .yml tests"
    ;;
  dateutil)
    VERSION=2.9.0.post0 PIPNAME=python-dateutil FILE=python-dateutil-2.9.0.post0.tar.gz
    SHA256=37dd54208da7e1cd875388217d5e00ebd4179249f90fb72437e91a35459a0ad3
    # tox.ini: deps = -rrequirements-dev.txt; `python -m pytest tests docs --cov=…`.
    INSTALL="-r requirements-dev.txt -e ."
    PINS="attrs==26.1.0 build==1.6.1 coverage==7.17.5 freezegun==1.5.1 hypothesis==6.122.3 iniconfig==2.3.1 packaging==26.4 pluggy==1.7.0 pyproject_hooks==1.3.3 pytest==8.3.4 pytest-cov==7.1.0 six==1.17.0 sortedcontainers==2.4.0"
    PYTEST="python -m pytest tests docs"
    KIND="setuptools-scm; python_files = *_solution.py too; zoneinfo tarball data"
    ;;
  pytest-mock)
    VERSION=3.14.0 PIPNAME=pytest-mock FILE=pytest-mock-3.14.0.tar.gz
    SHA256=2719255a1efeceadbc056d6bf3df3d1c5015530fb40cf347c0f9afac88410bd0
    # tox.ini: deps = coverage mock pytest-asyncio; `pytest tests` (asyncio_mode = auto). The
    # fixture `mocker` exists only through the pytest11 entry point of the installed dist.
    INSTALL="-e . coverage mock pytest-asyncio"
    PINS="coverage==7.6.9 iniconfig==2.3.1 mock==5.1.0 packaging==26.4 pluggy==1.7.0 pytest==8.3.4 pytest-asyncio==0.24.0"
    PYTEST="pytest tests"
    # pre-commit mypy hook: files ^(src|tests), with pytest and types-mock.
    MYPY="src tests" MYPY_SPECS="src:: tests::"
    KIND="a pytest plugin: entry point pytest11 (importlib.metadata); setuptools-scm write_to"
    ;;
  inflect)
    VERSION=7.4.0 PIPNAME=inflect FILE=inflect-7.4.0.tar.gz
    SHA256=904baa17cc2cb74827a6c27b95692e95670dadc72b208b3e8c1c05aeed47026b
    # tox.ini: usedevelop, extras = test check cover enabler type; `pytest` (pytest.ini:
    # --doctest-modules --import-mode importlib); setenv PYTHONWARNDEFAULTENCODING=1.
    INSTALL="-e .[test,check,cover,enabler,type]"
    # ruff as of the release (Aug 2024): a newer one fails the pytest-ruff items.
    PINS="alabaster==1.0.0 ast_serialize==0.13.1 babel==2.19.0 backports.tarfile==1.2.0 build==1.6.1 certifi==2026.10.19.post1 charset-normalizer==3.5.3 coverage==7.17.5 distlib==0.4.4 docutils==0.22.4 domdf-python-tools==3.11.0 filelock==4.3.1 idna==3.20 imagesize==2.0.1 importlib_resources==7.1.0 iniconfig==2.3.1 jaraco.context==6.1.2 jaraco.functools==4.6.0 jaraco.packaging==10.4.0 Jinja2==3.1.6 librt==0.17.0 MarkupSafe==3.0.4 more-itertools==11.2.1 mypy==2.4.1 mypy_extensions==1.2.0 natsort==8.4.0 packaging==26.4 pathspec==1.1.1 platformdirs==4.14.9 pluggy==1.7.0 Pygments==2.21.0 pyproject_hooks==1.3.3 pytest==8.3.4 pytest-checkdocs==2.14.0 pytest-cov==7.1.0 pytest-enabler==3.4.0 pytest-mypy==1.1.0 pytest-ruff==0.5 python-discovery==1.9.6 requests==2.34.2 roman-numerals==4.1.0 ruff==0.6.2 snowballstemmer==3.1.1 Sphinx==9.0.4 sphinxcontrib-applehelp==2.0.0 sphinxcontrib-devhelp==2.0.0 sphinxcontrib-htmlhelp==2.1.0 sphinxcontrib-jsmath==2.0.0 sphinxcontrib-qthelp==2.0.0 sphinxcontrib-serializinghtml==2.0.0 toml==0.10.2 typeguard==4.6.1 typing_extensions==4.16.0 urllib3==2.8.0 virtualenv==21.15.11"
    PYTEST="pytest"
    PYENV="PYTHONWARNDEFAULTENCODING=1"
    # mypy.ini; the skeleton runs mypy through pytest-mypy over what pytest collects.
    MYPY="." MYPY_SPECS="::"
    KIND="jaraco skeleton: --doctest-modules, pytest-enabler plugins, setuptools-scm"
    ;;
  pluggy)
    VERSION=1.5.0 PIPNAME=pluggy FILE=pluggy-1.5.0.tar.gz
    SHA256=2cffa88e94fdc978c4c574f15f9e59b7f4201d439195c3715ca9e2486f1d0cf1
    # tox.ini: extras = testing (setup.cfg: pytest, pytest-benchmark); `pytest` (testpaths = testing).
    INSTALL="-e .[testing]"
    PINS="iniconfig==2.3.1 packaging==26.4 py-cpuinfo==9.0.0 pytest==8.3.4 pytest-benchmark==5.1.0"
    PYTEST="pytest"
    # pre-commit mypy hook: files ^(src/|testing/), with pytest.
    MYPY="src testing" MYPY_SPECS="src:: testing::"
    KIND="src layout, setuptools-scm; tests in testing/; pytest imports the pluggy under test"
    ;;
  humanize)
    VERSION=4.11.0 PIPNAME=humanize FILE=humanize-4.11.0.tar.gz
    SHA256=e66f36020a2d5a974c504bd2555cf770621dbdbb6d82f94a6857c0b1ea2608be
    # tox.ini: extras = tests; `python -m pytest --cov …` (testpaths = tests).
    INSTALL="-e .[tests] types-freezegun types-setuptools"
    PINS="coverage==7.17.5 freezegun==1.5.1 iniconfig==2.3.1 packaging==26.4 pluggy==1.7.0 pytest==8.3.4 pytest-cov==6.0.0 python-dateutil==4.0.0 types-freezegun==1.1.10 types-setuptools==75.6.0.20241126 tzdata==2026.6"
    PYTEST="python -m pytest"
    # tox mypy env: `mypy --strict --pretty --show-error-codes .` (deps: pytest, types-freezegun, types-setuptools).
    MYPY="--strict ." MYPY_SPECS="::"
    KIND="src layout, hatch-vcs; i18n tests read compiled .mo catalogues"
    ;;
  *) die "unknown project $1" ;;
  esac
  DIR="$BENCH/src/$1"
  VENV="$BENCH/venvs/$1"
  TAG="$VERSION"
}

# fetch: downloads FILE into dl/ unless it is there, and checks its hash.
fetch() {
  if [[ ! -f "$BENCH/dl/$FILE" ]]; then
    log "downloading $FILE"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$BENCH/dl" "$PIPNAME==$VERSION"
  fi
  [[ -f "$BENCH/dl/$FILE" ]] || die "$PIPNAME $VERSION: pip downloaded no $FILE"
  echo "$SHA256  $BENCH/dl/$FILE" | sha256sum --check --quiet - >/dev/null 2>&1 \
    || die "$FILE: hash mismatch (expected sha256 $SHA256, got $(sha256sum "$BENCH/dl/$FILE" | cut -d' ' -f1)); delete it to download again"
}

# unpack NAME: the sdist as a git repository (one commit, tagged), once.
unpack() {
  local name="$1" tmp="$BENCH/src/$1.tmp"
  [[ -f "$DIR/.git/fidelity-unpacked" ]] && return 0
  log "$name: unpacking into a git repository"
  rm -rf "$DIR" "$tmp"
  mkdir -p "$tmp"
  tar -xzf "$BENCH/dl/$FILE" -C "$tmp" --strip-components=1
  (
    cd "$tmp"
    git init -q -b main
    git add -A # the sdist's own .gitignore applies, as in a real checkout
    GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z" \
      git -c user.name=bench -c user.email=bench@localhost commit -q -m "$PIPNAME $VERSION (sdist)"
    git tag "$TAG"
  )
  mv "$tmp" "$DIR"
  touch "$DIR/.git/fidelity-unpacked"
}

# venv NAME: the plain venv, built the project's documented way; rebuilt when the recipe changes.
venv() {
  local pins=""
  [[ $PINNED == 1 ]] && pins="$PINS"
  local recipe="python3 -m venv; pip install $INSTALL -c <$pins>"
  [[ -n "$MYPY" ]] && recipe+="; mypy from engine/tools/mypy.lock in venvs/_mypy"
  if [[ -x "$VENV/bin/python" ]] && [[ "$(cat "$VENV/.fidelity-recipe" 2>/dev/null)" == "$recipe" ]]; then
    return 0
  fi
  log "$1: building the plain venv: pip install $INSTALL"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  tr ' ' '\n' <<<"$pins" >"$VENV/constraints.txt"
  # shellcheck disable=SC2086 # INSTALL is a list of pip arguments
  (cd "$DIR" && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $INSTALL \
    -c "$VENV/constraints.txt") \
    || die "$1: pip install failed"
  "$VENV/bin/python" -m pip freeze --disable-pip-version-check >"$VENV/freeze.txt"
  echo "$recipe" >"$VENV/.fidelity-recipe"
}

# tool_venv NAME LOCK: a venv holding a tool from Pleat's own lockfile (the same version Pleat runs).
tool_venv() {
  local v="$BENCH/venvs/_$1" lock="$REPO/engine/tools/$2"
  if [[ -x "$v/bin/python" ]] && cmp -s "$lock" "$v/.lock"; then return 0; fi
  log "installing $1 from engine/tools/$2"
  rm -rf "$v"
  python3 -m venv "$v"
  "$v/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock" \
    || die "installing $2 failed"
  cp "$lock" "$v/.lock"
}

# --- pleat ------------------------------------------------------------------------------------
PLEAT="${PLEAT:-$REPO/target/release/pleat}"
if [[ ! -x "$PLEAT" ]]; then
  [[ "$PLEAT" == "$REPO/target/release/pleat" ]] || die "no pleat binary at $PLEAT"
  log "building pleat (cargo build --release -p pleat)"
  (cd "$REPO" && cargo build --release -p pleat)
fi
mkdir -p "$BENCH/bin" "$BENCH/dl" "$BENCH/src" "$BENCH/venvs" "$OUT"
# Run a copy, so that a rebuild during the benchmark cannot swap it mid-run.
cp "$PLEAT" "$BENCH/bin/pleat"
# Which commit the binary is: the checkout's HEAD, unless the binary is older than that commit.
PLEAT_CHECKOUT="$(git -C "$(dirname "$PLEAT")" rev-parse --show-toplevel 2>/dev/null || true)"
PLEAT_BUILT="$(date -u -r "$PLEAT" +%Y-%m-%dT%H:%MZ)"
if [[ -n "${PLEAT_COMMIT:-}" ]]; then
  PLEAT_COMMIT+=" (built $PLEAT_BUILT; as given in PLEAT_COMMIT)"
elif [[ -n "$PLEAT_CHECKOUT" ]]; then
  PLEAT_COMMIT="$(git -C "$PLEAT_CHECKOUT" rev-parse --short HEAD)"
  if [[ "$(stat -c %Y "$PLEAT")" -lt "$(git -C "$PLEAT_CHECKOUT" log -1 --format=%ct)" ]]; then
    stale="$(git -C "$PLEAT_CHECKOUT" log --format=%h --until="@$(stat -c %Y "$PLEAT")" -1)"
    echo "WARNING: $PLEAT was built before $PLEAT_COMMIT was committed: it is probably $stale" >&2
    PLEAT_COMMIT="$stale (built $PLEAT_BUILT, before HEAD $PLEAT_COMMIT)"
  else
    git -C "$PLEAT_CHECKOUT" diff --quiet HEAD -- engine server 2>/dev/null || PLEAT_COMMIT+=" (checkout dirty)"
  fi
else
  PLEAT_COMMIT="? (built $PLEAT_BUILT)"
fi
PLEAT="$BENCH/bin/pleat"

# --- preparing (idempotent, untimed) ------------------------------------------------------------
[[ $SKIP_LINT == 1 ]] || tool_venv ruff ruff.lock
[[ $SKIP_CHECK == 1 ]] || tool_venv mypy mypy.lock
for p in $PROJECTS; do
  project "$p"
  fetch
  unpack "$p"
  # Tracked files as committed (untracked and ignored ones, such as a generated _version.py or
  # egg-info, stay: they are what an installed checkout has).
  git -C "$DIR" checkout -q -- .
  venv "$p"
done

# --- measuring --------------------------------------------------------------------------------
now() { date +%s.%N; }
# record PROJECT LABEL START: appends the seconds since START to the project's times.tsv.
record() { printf '%s\t%s\n' "$2" "$(awk -v a="$3" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')" >>"$OUT/$1/times.tsv"; }

CACHE="$BENCH/cache"
log "cold pass: emptying Pleat's cache folder $CACHE"
rm -rf "$CACHE"
mkdir -p "$CACHE"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

for p in $PROJECTS; do
  project "$p"
  o="$OUT/$p"
  rm -rf "$o" && mkdir -p "$o"
  cp "$VENV/freeze.txt" "$o/freeze.txt"
  python3 -c 'import json, sys; print(json.dumps(dict(zip(["name", "dir", "label", "mypy", "kind", "pytest"], sys.argv[1:]))))' \
    "$p" "$DIR" "$PIPNAME $VERSION" "$MYPY" "$KIND" "$PYTEST" >"$o/info.json"
  echo "$INSTALL" >"$o/install.txt"
  git -C "$DIR" status --porcelain >"$o/git-status-before.txt"

  log "$p: plain pytest: $PYTEST"
  t="$(now)"
  # shellcheck disable=SC2086 # PYTEST and PYENV are word lists
  (cd "$DIR" && env PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV" PYTHONDONTWRITEBYTECODE=1 $PYENV \
    timeout $((TIMEOUT * 4)) $PYTEST -p no:cacheprovider --continue-on-collection-errors --junitxml="$o/junit.xml" \
    >"$o/pytest.txt" 2>&1) && echo 0 >"$o/pytest.rc" || echo $? >"$o/pytest.rc"
  record "$p" plain "$t"
  tail -n 1 "$o/pytest.txt" >&2
  git -C "$DIR" status --porcelain >"$o/git-status-after.txt"
  cmp -s "$o/git-status-before.txt" "$o/git-status-after.txt" \
    || echo "WARNING: $p: plain pytest changed the work tree (see $o/git-status-after.txt)" >&2

  log "$p: pleat test :: (cold)"
  t="$(now)"
  (cd "$DIR" && "$PLEAT" --cache-dir "$CACHE" test --timeout "$TIMEOUT" --format json :: \
    >"$o/pleat-cold.json" 2>"$o/pleat-cold.stderr") && echo 0 >"$o/pleat-cold.rc" || echo $? >"$o/pleat-cold.rc"
  record "$p" cold "$t"
  echo "pleat exit $(cat "$o/pleat-cold.rc")" >&2
done

for p in $PROJECTS; do
  project "$p"
  o="$OUT/$p"
  log "$p: pleat test :: (warm)"
  t="$(now)"
  (cd "$DIR" && "$PLEAT" --cache-dir "$CACHE" test --timeout "$TIMEOUT" --format json :: \
    >"$o/pleat-warm.json" 2>"$o/pleat-warm.stderr") && echo 0 >"$o/pleat-warm.rc" || echo $? >"$o/pleat-warm.rc"
  record "$p" warm "$t"
  # The human report of the same (cached) results: it shows the output of files pytest could not run.
  (cd "$DIR" && "$PLEAT" --cache-dir "$CACHE" test --timeout "$TIMEOUT" :: >"$o/pleat-human.txt" 2>&1) || true
done

if [[ $SKIP_LINT == 0 ]]; then
  RUFF="$BENCH/venvs/_ruff/bin/ruff"
  for p in $PROJECTS; do
    project "$p"
    o="$OUT/$p"
    log "$p: ruff check . / pleat lint ::"
    # --no-fix: a configuration with `fix = true` (jinja2, humanize) would otherwise rewrite the
    # tree and report only what is left.
    (cd "$DIR" && "$RUFF" check --no-fix --output-format=json . >"$o/ruff.json" 2>"$o/ruff.stderr") \
      && echo 0 >"$o/ruff.rc" || echo $? >"$o/ruff.rc"
    (cd "$DIR" && "$PLEAT" --cache-dir "$CACHE" lint --format json :: >"$o/pleat-lint.json" 2>"$o/pleat-lint.stderr") \
      && echo 0 >"$o/pleat-lint.rc" || echo $? >"$o/pleat-lint.rc"
  done
fi

if [[ $SKIP_CHECK == 0 ]]; then
  MYPYBIN="$BENCH/venvs/_mypy/bin/mypy"
  for p in $PROJECTS; do
    project "$p"
    [[ -n "$MYPY" ]] || continue
    o="$OUT/$p"
    log "$p: mypy $MYPY / pleat check"
    rm -rf "$BENCH/mypy-cache/$p"
    # The project's packages and stubs come from its venv (--python-executable), as in its tox env.
    # shellcheck disable=SC2086 # MYPY is a list of arguments
    (cd "$DIR" && "$MYPYBIN" --python-executable "$VENV/bin/python" --cache-dir "$BENCH/mypy-cache/$p" \
      --show-error-codes --no-color-output $MYPY >"$o/mypy.txt" 2>&1) && echo 0 >"$o/mypy.rc" || echo $? >"$o/mypy.rc"
    (cd "$DIR" && "$PLEAT" --cache-dir "$CACHE" check --format json :: >"$o/pleat-check.json" 2>"$o/pleat-check.stderr") \
      && echo 0 >"$o/pleat-check.rc" || echo $? >"$o/pleat-check.rc"
    # shellcheck disable=SC2086 # MYPY_SPECS is a list of specs
    (cd "$DIR" && "$PLEAT" --cache-dir "$CACHE" check --format json $MYPY_SPECS >"$o/pleat-check-scoped.json" \
      2>"$o/pleat-check-scoped.stderr") && echo 0 >"$o/pleat-check-scoped.rc" || echo $? >"$o/pleat-check-scoped.rc"
  done
fi

# --- report -----------------------------------------------------------------------------------
{
  echo "# Fidelity benchmark"
  echo
  echo "- $(date -u +%Y-%m-%d), pleat $("$PLEAT" --version 2>/dev/null | cut -d' ' -f2) at $PLEAT_COMMIT; $(python3 --version);" \
    "ruff $(grep -o '^ruff==[^ ]*' "$REPO/engine/tools/ruff.lock" | cut -d= -f3), mypy $(grep -o '^mypy==[^ ]*' "$REPO/engine/tools/mypy.lock" | cut -d= -f3) (Pleat's locks)"
  echo "- machine: $(nproc) CPUs, load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  # shellcheck disable=SC2086 # one argument per project
  python3 "$REPO/bench/fidelity_compare.py" "$OUT" $PROJECTS
} | tee "$OUT/fidelity.md"
echo >&2
echo "results: $OUT/fidelity.md; per project: $OUT/<name>/ (junit.xml, pleat-*.json, pytest.txt, pleat-human.txt, compare.json)" >&2
