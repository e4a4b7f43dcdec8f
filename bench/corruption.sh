#!/usr/bin/env bash
# Owns: the damaged-cache probe (issue 10). Each trial fills a fresh cache folder (the parse cache
# `graph-v1/` with `pleat graph` over a generated repository of 400 modules, the store `store-v1/`
# with `pleat debug store-writer --count`), writes 4 KiB of random bytes at a random page-aligned
# offset of one `data.mdb`, then runs pleat twice more on it. A trial "crashes" when any of those
# runs ends by a signal (exit 128+N) or, for the graph, prints other edges than a run without a
# cache; "persistently" when the second round still does. Prints one line per trial and a summary.
#
# Usage: bench/corruption.sh [TRIALS] [graph|store|both]   (defaults: 200 both)
# Environment:
#   PLEAT_BIN   the pleat binary (default: $CARGO_TARGET_DIR or target, debug/pleat)
#   SEED        first seed (default 1); trial i uses SEED+i, so a failing trial can be replayed
#   FILL_BIN    the pleat binary that fills the caches (default PLEAT_BIN): to measure an older
#               binary whose store-writer has no --count (it then runs `cache stats` and
#               `cache gc` on the store instead of the read-back)
#   KEEP        keep the scratch folder (default: removed)
# Needs: bash, python3 (random bytes at a seeded offset).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRIALS="${1:-200}"
WHICH="${2:-both}"
PLEAT="${PLEAT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/pleat}"
SEED="${SEED:-1}"
FILL="${FILL_BIN:-$PLEAT}"
READ_BACK=1
"$PLEAT" debug store-writer --help 2>/dev/null | grep -q -- --count || READ_BACK=0
[ -x "$PLEAT" ] || { echo "error: no pleat binary at $PLEAT; build it (cargo build -p pleat) or set PLEAT_BIN" >&2; exit 2; }

WORK="$(mktemp -d /tmp/pleat-corruption.XXXXXX)"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT

# A repository of 400 modules in 20 packages, each importing a few others.
python3 - "$WORK/repo" <<'EOF'
import os, sys
root = sys.argv[1]
for p in range(20):
    os.makedirs(f"{root}/pkg{p}", exist_ok=True)
    open(f"{root}/pkg{p}/__init__.py", "w").write("")
    for m in range(20):
        i = p * 20 + m
        lines = [f"import pkg{(i * 7 + k) % 20}.mod{(i * 3 + k) % 20}" for k in range(4)]
        lines.append("import os, json\nfrom collections import OrderedDict\n")
        open(f"{root}/pkg{p}/mod{m}.py", "w").write("\n".join(lines) + "\n")
EOF
"$PLEAT" --root "$WORK/repo" --no-cache graph >"$WORK/expected" 2>/dev/null \
    || { echo "error: pleat graph fails without a cache" >&2; exit 2; }

# corrupt FILE SEED: 4 KiB of random bytes at a random page-aligned offset, a clock tick after
# the last run (Pleat skips its page walk for a file whose modification time is the one its
# own last commit recorded; file times move in ticks of a few milliseconds).
corrupt() {
    sleep 0.05
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
pages = max(1, os.path.getsize(path) // 4096)
page = rng.randrange(pages)
with open(path, "r+b") as f:
    f.seek(page * 4096)
    f.write(rng.randbytes(4096))
print(page, pages)
EOF
}

# run NAME ARGS…: runs pleat (12 GiB of address space, killed after 60 s: a hang counts as a
# crash, exit 137), prints its
# exit code; output goes to $WORK/NAME.out/.err.
run() {
    local name=$1; shift
    (ulimit -v 12582912; timeout -s KILL 60 "$PLEAT" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err")
    echo $?
}

crashed=0; persistent=0; wrong=0; warned=0; trials=0
for ((i = 0; i < TRIALS; i++)); do
    for kind in graph store; do
        [ "$WHICH" = both ] || [ "$WHICH" = "$kind" ] || continue
        seed=$((SEED + i))
        cache="$WORK/cache"
        rm -rf "$cache"
        if [ "$kind" = graph ]; then
            "$FILL" --root "$WORK/repo" --cache-dir "$cache" graph >/dev/null 2>&1
            where=$(corrupt "$cache/graph-v1/data.mdb" "$seed")
        else
            "$FILL" --cache-dir "$cache" debug store-writer "$cache/store-v1" --seed "$seed" --count 300 >/dev/null 2>&1
            where=$(corrupt "$cache/store-v1/data.mdb" "$seed")
        fi
        codes=()
        bad=0
        for round in 1 2; do
            if [ "$kind" = graph ]; then
                codes+=("$(run g$round --root "$WORK/repo" --cache-dir "$cache" graph)")
                cmp -s "$WORK/g$round.out" "$WORK/expected" || bad=1
                grep -qi "cleared\|damaged" "$WORK/g$round.err" && warned=$((warned + 1))
            else
                codes+=("$(run v$round --cache-dir "$cache" cache verify)")
                if [ $READ_BACK = 1 ]; then
                    codes+=("$(run w$round --cache-dir "$cache" debug store-writer "$cache/store-v1" --seed "$seed" --count 300)")
                else
                    codes+=("$(run w$round --cache-dir "$cache" cache stats)")
                    codes+=("$(run x$round --cache-dir "$cache" cache gc)")
                fi
                grep -qi "cleared\|damaged" "$WORK/w$round.err" && warned=$((warned + 1))
            fi
        done
        trials=$((trials + 1))
        signal=0; last_signal=0
        for c in "${codes[@]}"; do [ "$c" -ge 128 ] && signal=1; done
        half=$((${#codes[@]} / 2))
        for c in "${codes[@]:$half}"; do [ "$c" -ge 128 ] && last_signal=1; done
        crashed=$((crashed + signal)); persistent=$((persistent + last_signal)); wrong=$((wrong + bad))
        echo "trial $i $kind seed $seed page $where exits ${codes[*]}$([ $bad = 1 ] && echo ' WRONG OUTPUT')"
    done
done
echo "summary: $trials trials, $crashed crashed after corruption, $persistent still crashing on the second run, $wrong wrong graphs, $warned runs warned"
