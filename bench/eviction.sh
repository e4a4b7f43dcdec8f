#!/usr/bin/env bash
# Owns: the eviction probe (issue 10, item 4). TRIALS times: `pleat test ::` on a repository of
# 7 test files (one fails by design, one reads a 600 KiB data file: a large blob) while another
# process runs `pleat cache gc --max-size 1KiB` in a loop; odd trials start from an empty store
# (cold: the store folder removed, the tool environment kept), even ones are served from the
# cache (warm). A trial is wrong when the run
# does not exit 1 or does not print "6 passed, 1 failed". Prints one line per trial and a total.
#
# Usage: bench/eviction.sh [TRIALS]   (default 20)
# Environment:
#   PLEAT_BIN   the pleat binary (default: $CARGO_TARGET_DIR or target, debug/pleat)
set -u
trials=${1:-20}
pleat=${PLEAT_BIN:-${CARGO_TARGET_DIR:-target}/debug/pleat}
work=$(mktemp -d)
mkdir -p "$work/repo/tests" "$work/repo/src/evict"
printf '[project]\nname = "evict"\nversion = "1.0"\n' > "$work/repo/pyproject.toml"
: > "$work/repo/src/evict/__init__.py"
printf 'def double(x):\n    return 2 * x\n' > "$work/repo/src/evict/util.py"
printf 'from evict.util import double\n\n\ndef test_double():\n    assert double(3) == 6\n' > "$work/repo/tests/test_util.py"
printf 'from evict.util import double\n\n\ndef test_wrong():\n    assert double(2) == 5\n' > "$work/repo/tests/test_fail.py"
head -c 614400 /dev/urandom > "$work/repo/tests/data.bin"
printf 'import os\n\n\ndef test_data():\n    assert os.path.getsize(os.path.join(os.path.dirname(__file__), "data.bin")) == 614400\n' > "$work/repo/tests/test_data.py"
for i in 1 2 3 4; do printf 'def test_plain():\n    assert %s == %s\n' "$i" "$i" > "$work/repo/tests/test_plain$i.py"; done

wrong=0
collections=0
for trial in $(seq 1 "$trials"); do
  rm -f "$work/stop" "$work/count"
  if [ $((trial % 2)) = 1 ]; then rm -rf "$work/cache/store-v1"; fi
  (
    n=0
    while [ ! -e "$work/stop" ]; do
      "$pleat" --cache-dir "$work/cache" cache gc --max-size 1KiB > /dev/null 2>&1 || echo "gc failed" >&2
      n=$((n + 1))
    done
    echo "$n" > "$work/count"
  ) &
  collector=$!
  "$pleat" --cache-dir "$work/cache" --root "$work/repo" test :: > "$work/out" 2> "$work/err"
  code=$?
  touch "$work/stop"
  wait "$collector"
  n=$(cat "$work/count")
  collections=$((collections + n))
  summary=$(tail -n 1 "$work/out")
  if [ "$code" = 1 ] && grep -q "6 passed, 1 failed" "$work/out"; then
    verdict=right
  else
    verdict=WRONG
    wrong=$((wrong + 1))
  fi
  echo "trial $trial: exit $code, $n collections meanwhile, $verdict: $summary $(grep -m1 -i 'store' "$work/err")"
done
echo "total: $trials runs, $collections collections, $wrong wrong"
rm -rf "$work"
