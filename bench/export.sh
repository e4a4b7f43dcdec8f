#!/usr/bin/env bash
# Times `pleat export` on a copy of examples/sample: cold (empty cache: uv is installed from
# PyPI, the requirements resolved and downloaded), cold with a primed cache (the export
# folder removed), and nothing changed (median of 5). PLEAT=path/to/pleat (default: the
# release build); prints one line per measurement.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
pleat="${PLEAT:-$here/target/release/pleat}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$here/examples/sample" "$work/repo"
cd "$work/repo"
seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
echo "cold, empty cache: $(seconds "$pleat" --cache-dir "$work/cache" export) s"
rm -rf dist
echo "cold, primed cache: $(seconds "$pleat" --cache-dir "$work/cache" export) s"
runs=()
for _ in 1 2 3 4 5; do runs+=("$(seconds "$pleat" --cache-dir "$work/cache" export)"); done
echo "nothing changed (median of 5): $(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p) s"
