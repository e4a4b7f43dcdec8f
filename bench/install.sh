#!/usr/bin/env bash
# Owns: the install measurements (issue 14): the sizes of what scripts/release.sh wrote to
# dist/release/, and the time from installing the wheel to the first `pleat graph ::` answer on
# examples/sample, with pip (into a fresh venv, made before the clock starts) and, when `uv` is
# on PATH or in $UV, with `uv tool install`. RUNS runs of each (default 3), each with a cold
# parse cache.
#
# Usage: scripts/release.sh && bench/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
runs=${RUNS:-3}
wheel=$(ls dist/release/pleat-*-py3-none-manylinux_*_x86_64.whl)

echo "== sizes (bytes)"
for f in dist/release/*; do
    case "$f" in *.sha256) ;; *) printf '%10d  %s\n' "$(stat -c %s "$f")" "$(basename "$f")" ;; esac
done
unzip -l "$wheel" | awk '/scripts\/pleat$/ { printf "%10d  the binary inside the wheel (unpacked)\n", $1 }'

now() { date +%s.%N; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# measure LABEL BIN COMMAND...: the install COMMAND, then BIN's first graph (cold cache): times.
measure() {
    local label=$1 bin=$2 start installed done_at
    shift 2
    rm -rf "$work/cache"
    start=$(now)
    "$@"
    installed=$(now)
    PLEAT_CACHE_DIR=$work/cache "$bin" --root examples/sample graph :: >/dev/null
    done_at=$(now)
    python3 -c "print(f'$label {$installed - $start:.2f} s, then pleat graph {$done_at - $installed:.2f} s: {$done_at - $start:.2f} s')"
}

for i in $(seq "$runs"); do
    rm -rf "$work/venv"
    python3 -m venv "$work/venv"
    echo "pip run $i: $(measure "pip install" "$work/venv/bin/pleat" \
        "$work/venv/bin/pip" install -q --no-index --disable-pip-version-check "$wheel")"
done

uv=${UV:-$(command -v uv || true)}
if [ -n "$uv" ]; then
    for i in $(seq "$runs"); do
        rm -rf "$work/tools" "$work/bin" "$work/uvcache"
        echo "uv run $i: $(measure "uv tool install" "$work/bin/pleat" env UV_TOOL_DIR="$work/tools" \
            UV_TOOL_BIN_DIR="$work/bin" UV_CACHE_DIR="$work/uvcache" "$uv" tool install -q --offline "$wheel")"
    done
fi
