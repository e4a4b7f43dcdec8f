#!/usr/bin/env bash
# Owns: the cost of recording executed lines (issue 11, item 1): `pleat test --force "tests/test_*.py"` over attrs
# 24.2.0's Python test files (its pytest-mypy-plugins cases left out: mypy, not Python, runs there) with PLEAT_COVERAGE=0 (nothing recorded) against PLEAT_COVERAGE=always (every run
# records: coverage's C tracer before Python 3.12, sys.monitoring after), alternating, same cache
# and environments. Uses the repository and cache bench/first_failure.sh leaves in its folder.
#
# Usage: bench/coverage_overhead.sh    Environment: PLEAT_BENCH_DIR (default
#        /tmp/pleat-bench-first-failure), PLEAT_BIN (default: the copy first_failure.sh made),
#        PLEAT_BENCH_RUNS (default 2 pairs)
set -euo pipefail
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench-first-failure}"
PLEAT_BIN="${PLEAT_BIN:-$BENCH/pleat}"
RUNS="${PLEAT_BENCH_RUNS:-2}"
[[ -d "$BENCH/attrs" && -d "$BENCH/cache" ]] || { echo "error: run bench/first_failure.sh first" >&2; exit 1; }
cd "$BENCH/attrs"
git checkout -q -- .
for i in $(seq "$RUNS"); do
  for mode in 0 always; do
    start=$(date +%s.%N)
    PLEAT_COVERAGE=$mode "$PLEAT_BIN" --cache-dir "$BENCH/cache" test --force "tests/test_*.py" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    echo "PLEAT_COVERAGE=$mode run $i: $(echo "$end - $start" | bc) s (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
