#!/usr/bin/env bash
# Owns: the graph benchmark. Downloads two pinned real projects from PyPI (Django, hand-written;
# azure-mgmt-network 19.3.0, generated) into a scratch folder and, on the same files, times
# `pleat graph` cold and warm, `ruff analyze graph`, and the tree-sitter floor
# (`pleat debug parse-all --threads 2`); then compares edges with ruff's, times one-file
# incremental updates, and runs `pleat check-imports` once. Prints a markdown table per project.
#
# Usage: bench/graph.sh                      (from anywhere; builds pleat itself)
# Environment:
#   PLEAT_BENCH_DIR       scratch folder (default /tmp/pleat-bench); downloads are kept there
#   PLEAT_BENCH_RUNS      timed runs per command, the median is reported (default 5)
#   PLEAT_BENCH_PROJECTS  which projects, space-separated (default "django azure")
#   PLEAT_BIN             use this pleat binary instead of building one
#   PLEAT_BENCH_MAX_LOAD  before timing, wait (up to 30 min) until the 1-minute load average is
#                         at most this (e.g. 0.3), for a machine shared with builds; unset: no wait
# Needs: python3 (with venv), cargo; network access to PyPI for the first run only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench}"
RUNS="${PLEAT_BENCH_RUNS:-5}"
PROJECTS="${PLEAT_BENCH_PROJECTS:-django azure}"
OUT="$BENCH/out"

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is needed (for the venv holding ruff, and the timer)"

# --- pleat ------------------------------------------------------------------------------------
if [[ -n "${PLEAT_BIN:-}" ]]; then
  PLEAT="$PLEAT_BIN"
else
  log "building pleat (cargo build --release -p pleat)"
  (cd "$REPO" && cargo build --release -p pleat)
  PLEAT="$REPO/target/release/pleat"
fi
[[ -x "$PLEAT" ]] || die "no pleat binary at $PLEAT"
# Run a copy, so that a rebuild in the work tree during the benchmark cannot swap it mid-run.
mkdir -p "$BENCH/bin"
cp "$PLEAT" "$BENCH/bin/pleat"
PLEAT="$BENCH/bin/pleat"

# --- ruff, in a venv of its own ---------------------------------------------------------------
mkdir -p "$BENCH/dl" "$BENCH/src" "$BENCH/cache" "$OUT"
VENV="$BENCH/venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
if ! cmp -s "$REPO/bench/requirements.txt" "$VENV/.requirements.txt"; then
  log "installing bench/requirements.txt into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO/bench/requirements.txt"
  cp "$REPO/bench/requirements.txt" "$VENV/.requirements.txt"
fi
RUFF="$VENV/bin/ruff"

# --- the projects -----------------------------------------------------------------------------
source "$REPO/bench/projects.sh"
for p in $PROJECTS; do
  prepare "$p"
done

# --- measuring --------------------------------------------------------------------------------
# measure PROJECT LABEL STDOUT-FILE CMD...: runs CMD once and appends "project label wall_s rss_kb"
# to samples.tsv. Wall time is perf_counter around the child; max RSS is the child's ru_maxrss
# (RUSAGE_CHILDREN in a fresh python process, so it is this command's alone).
TIMER_PY='
import resource, subprocess, sys, time
out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(out, "wb") as o, open(err, "wb") as e:
    t = time.perf_counter()
    rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e).returncode
    wall = time.perf_counter() - t
if rc != 0:
    sys.exit(f"exit status {rc}: {cmd} (stderr in {err})")
print(f"{wall:.4f}\t{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
'
SAMPLES="$OUT/samples.tsv"
: >"$SAMPLES"
if [[ -n "${PLEAT_BENCH_MAX_LOAD:-}" ]]; then
  log "waiting for the 1-minute load average to be at most $PLEAT_BENCH_MAX_LOAD"
  for ((t = 0; t < 180; t++)); do
    awk -v max="$PLEAT_BENCH_MAX_LOAD" '{ exit !($1 <= max) }' /proc/loadavg && break
    sleep 10
  done
fi
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
measure() {
  local project="$1" label="$2" stdout="$3"
  shift 3
  local line
  line="$(python3 -c "$TIMER_PY" "$stdout" "$stdout.stderr" "$@")"
  printf '%s\t%s\t%s\n' "$project" "$label" "$line" >>"$SAMPLES"
}

for p in $PROJECTS; do
  dir="${DIR[$p]}"
  o="$OUT/$p"
  mkdir -p "$o"
  nfiles="$(find "$dir" -name '*.py' -o -name '*.pyi' | wc -l)"
  nbytes="$(find "$dir" \( -name '*.py' -o -name '*.pyi' \) -printf '%s\n' | awk '{s+=$1} END {printf "%.0f", s/1e6}')"
  log "$p: $nfiles Python files, $nbytes MB, in $dir"
  printf '%s\t%s\t%s\n' "$nfiles" "$nbytes" "${LABEL[$p]}" >"$o/info.tsv"

  cold="$BENCH/cache/$p-cold"
  warm="$BENCH/cache/$p-warm"
  # Untimed: read every file once (page cache), and prime the warm cache.
  "$PLEAT" debug parse-all --threads 2 "$dir" >/dev/null
  rm -rf "$warm" && mkdir -p "$warm"
  "$PLEAT" --root "$dir" --cache-dir "$warm" graph --format json :: >/dev/null

  # Runs are interleaved (cold, warm, ruff, floor; then again) so drift in a shared machine's
  # load spreads over all four commands instead of landing on one.
  for ((i = 1; i <= RUNS; i++)); do
    log "$p: run $i/$RUNS"
    rm -rf "$cold" && mkdir -p "$cold"
    measure "$p" cold "$o/pleat.json" "$PLEAT" --root "$dir" --cache-dir "$cold" graph --format json ::
    measure "$p" warm "$o/pleat-warm.json" "$PLEAT" --root "$dir" --cache-dir "$warm" graph --format json ::
    # ruff prints paths relative to its working directory, so it runs from the project root.
    (cd "$dir" && measure "$p" ruff "$o/ruff.json" "$RUFF" analyze graph --config "src = [${ROOTS[$p]}]" .)
    measure "$p" floor "$o/floor.txt" "$PLEAT" debug parse-all --threads 2 "$dir"
  done
  cmp -s "$o/pleat.json" "$o/pleat-warm.json" || echo "WARNING: $p: warm and cold graphs differ" >&2

  log "$p: one changed file"
  : >"$o/incremental.txt"
  for f in ${EDIT[$p]}; do
    echo "# $f" >>"$o/incremental.txt"
    "$PLEAT" --root "$dir" --cache-dir "$warm" debug incremental "$f" --repeat 50 >>"$o/incremental.txt"
  done

  log "$p: edges against ruff"
  roots=()
  for r in $(tr -d '",' <<<"${ROOTS[$p]}"); do roots+=(--source-root "$r"); done
  python3 "$REPO/bench/compare_edges.py" --root "$dir" --pleat "$o/pleat.json" --ruff "$o/ruff.json" \
    "${roots[@]}" --summary-json "$o/edges.json" >"$o/edges.txt"

  log "$p: check-imports"
  # Findings make it exit non-zero; that is what we count, not a failure of the benchmark.
  "$PLEAT" --root "$dir" --cache-dir "$warm" check-imports :: >"$o/check-imports.txt" 2>&1 || true
done

# --- report -----------------------------------------------------------------------------------
{
  echo "# Graph benchmark"
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GB, $(uname -sr)"
  echo "- pleat: $("$PLEAT" --version 2>/dev/null || echo '?') at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
  echo "- $("$RUFF" --version); $(python3 --version); runs per command: $RUNS (median wall; max RSS over the runs)"
  echo "- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  # shellcheck disable=SC2086 # one argument per project
  python3 - "$OUT" $PROJECTS <<'EOF'
import json, re, statistics, sys
from pathlib import Path

out, projects = Path(sys.argv[1]), sys.argv[2:]
samples = {}
for line in (out / "samples.tsv").read_text().splitlines():
    p, label, wall, rss = line.split("\t")
    samples.setdefault((p, label), []).append((float(wall), int(rss)))
names = {
    "cold": "`pleat graph` cold (empty cache)",
    "warm": "`pleat graph` warm",
    "ruff": "`ruff analyze graph`",
    "floor": "floor: `pleat debug parse-all --threads 2`",
}
for p in projects:
    nfiles, mb, label = (out / p / "info.tsv").read_text().rstrip("\n").split("\t")
    print(f"\n## {label}: {nfiles} files, {mb} MB\n")
    print("| command | median wall s | max RSS MB |")
    print("| --- | ---: | ---: |")
    med = {}
    for key, name in names.items():
        runs = samples[(p, key)]
        med[key] = statistics.median(w for w, _ in runs)
        rss = max(r for _, r in runs) / 1024
        print(f"| {name} | {med[key]:.3f} | {rss:.0f} |")
    cold_rss = max(r for _, r in samples[(p, "cold")]) / 1024
    print()
    print(f"- warm / ruff: {med['warm'] / med['ruff']:.2f} (target ≤ 0.33)")
    print(f"- cold / floor: {med['cold'] / med['floor']:.2f} (target ≤ 1.2)")
    print(f"- max RSS of a full (cold) graph: {cold_rss:.0f} MB (target < 150)")
    for line in (out / p / "incremental.txt").read_text().splitlines():
        print(f"- incremental: {line.lstrip('# ')}" if line.startswith("#") else f"  - {line}")
    e = json.loads((out / p / "edges.json").read_text())
    classes = lambda c: " (" + ", ".join(f"{k} {n}" for k, n in sorted(c.items(), key=lambda kv: -kv[1])) + ")" if c else ""
    print(f"- first-party edges: pleat {e['pleat_edges']}, ruff {e['ruff_edges']}, both {e['both']}")
    print(f"  - in ruff, not in pleat: {e['ruff_only']}{classes(e['ruff_only_classes'])}")
    print(f"  - in pleat, not in ruff: {e['pleat_only']}{classes(e['pleat_only_classes'])}")
    checks = (out / p / "check-imports.txt").read_text().splitlines()
    print(f"- check-imports: {checks[-1] if checks else 'no output'}")
EOF
} | tee "$OUT/summary.md"
echo >&2
echo "details: $OUT/<project>/{edges.txt,incremental.txt,check-imports.txt}; samples: $SAMPLES" >&2
