#!/usr/bin/env bash
# Owns: the full-disk probe (issue 10, item 7), on 20 MB tmpfs cache folders (needs root to
# mount them; each is unmounted at the end). Four probes, one line each:
#   build   a fresh cache: `pleat test` builds the pytest environment until the disk is full;
#           what it says, and what is left in `tools/`
#   store   tool environments linked in from a cache on the ordinary disk, 2.8 MB left free;
#           10 test files that each print 640 KiB at exit (a large blob each), run on one
#           core; how many results are printed, the exit code and the warning; then
#           `pleat cache gc --max-size 1MiB` on a disk with no byte free; then, with room,
#           the next run (cached / ran), `pleat cache verify`, and a third run
#   sandbox the same cache with no byte free: `pleat test --force` of two files
#   graph   a fresh cache on a full disk: `pleat graph` against `--no-cache`
#
# Usage: bench/full_disk.sh
# Environment:
#   PLEAT_BIN   the pleat binary (default: $CARGO_TARGET_DIR or target, debug/pleat)
set -u
pleat=${PLEAT_BIN:-${CARGO_TARGET_DIR:-target}/debug/pleat}
work=$(mktemp -d)
mounts=()
cleanup() {
    for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

disk() { # disk NAME SIZE: a tmpfs at $work/NAME
    mkdir -p "$work/$1"
    mount -t tmpfs -o "size=$2" tmpfs "$work/$1" || { echo "cannot mount a tmpfs (run as root)"; exit 1; }
    mounts+=("$work/$1")
}
free_bytes() { echo $(( $(stat -f -c '%a * %S' "$1") )); }
fill_leaving() { # fill_leaving DIR BYTES
    local n=$(( $(free_bytes "$1") - $2 ))
    if (( n > 0 )); then head -c "$n" /dev/zero > "$1/filler$2" 2>/dev/null; fi
    [[ $2 == 0 ]] && cat /dev/zero > "$1/filler-rest" 2>/dev/null
    true
}
last_line() { grep -v 'finished,' "$1" | tail -1 | cut -c1-240; }

mkdir -p "$work/repo/tests"
for i in $(seq 1 10); do
    n=$(( 640 * 1024 / (6 + ${#i}) ))
    cat > "$work/repo/tests/test_loud$i.py" <<PY
import atexit, os


def _loud():
    try:
        os.write(1, b"loud$i " * $n)
    except OSError:
        pass


atexit.register(_loud)


def test_loud$i():
    assert True
PY
done
run() { "$pleat" --root "$work/repo" "$@"; }

# build
disk build 20m
run --cache-dir "$work/build/cache" test :: > "$work/out" 2> "$work/err"
echo "build:   exit $?; said: $(last_line "$work/err")"
echo "         left in tools/: $(ls "$work/build/cache/tools" | grep -v '\.lock$' | tr '\n' ' ')(free now $(free_bytes "$work/build") bytes)"

# store
run --cache-dir "$work/tools-cache" test :: > /dev/null 2>&1 # environments on the ordinary disk
disk store 20m
mkdir -p "$work/store/cache"
ln -s "$work/tools-cache/tools" "$work/store/cache/tools"
fill_leaving "$work/store" $((2800 * 1024))
taskset -c 0 "$pleat" --root "$work/repo" --cache-dir "$work/store/cache" test :: > "$work/out" 2> "$work/err"
code=$?
echo "store:   exit $code; results printed: $(grep -c '^[✓✕] tests/' "$work/out"); $(tail -1 "$work/out")"
echo "         warning: $(grep 'warning' "$work/err" | cut -c1-400)"
echo "         left in store-v1/tmp: $(ls "$work/store/cache/store-v1/tmp" | wc -l)"
fill_leaving "$work/store" 0
run --cache-dir "$work/store/cache" cache gc --max-size 1MiB > "$work/out" 2> "$work/err"
echo "         gc on a full disk: exit $?; $(cat "$work/out" "$work/err" | tail -1 | cut -c1-200); free after: $(free_bytes "$work/store") bytes"

# sandbox (the disk is full again first)
fill_leaving "$work/store" 0
run --cache-dir "$work/store/cache" test --force tests/test_loud1.py tests/test_loud2.py > "$work/out" 2> "$work/err"
code=$?
echo "sandbox: exit $code; $(grep -m1 'could not run' "$work/out" | cut -c1-300)"
if (( code != 1 )); then tail -3 "$work/err"; fi

rm -f "$work/store"/filler*
run --cache-dir "$work/store/cache" test :: > "$work/out" 2> "$work/err"
echo "store:   with room: exit $?; $(tail -1 "$work/out"); warnings: $(grep -c warning "$work/err")"
run --cache-dir "$work/store/cache" cache verify > "$work/out" 2>&1
echo "         cache verify: exit $?"
run --cache-dir "$work/store/cache" test :: > "$work/out" 2> /dev/null
echo "         again: $(tail -1 "$work/out")"

# graph
disk graph 20m
fill_leaving "$work/graph" 0
run --no-cache graph > "$work/expected" 2> /dev/null
run --cache-dir "$work/graph/cache" graph > "$work/out" 2> "$work/err"
code=$?
if cmp -s "$work/expected" "$work/out"; then same=same; else same=DIFFERENT; fi
echo "graph:   exit $code; output $same as --no-cache; said: $(last_line "$work/err")"
