#!/usr/bin/env bash
# Times `pleat package` on a copy of examples/sample, a monorepo of two distributions (`shop` at
# the root, `storefront` in apps/storefront, which imports it; setuptools by default): cold (empty
# cache: uv installed from PyPI, the backend downloaded) and cached (median of 5).
# PLEAT=path/to/pleat (default: the release build); prints one line per measurement.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
pleat="$(realpath "${PLEAT:-$here/target/release/pleat}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
repo=$work/repo
cp -r "$here/examples/sample" "$repo"
cd "$repo"
seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
echo "cold, empty cache: $(seconds "$pleat" --cache-dir "$work/cache" package) s"
runs=()
for _ in 1 2 3 4 5; do runs+=("$(seconds "$pleat" --cache-dir "$work/cache" package)"); done
echo "cached (median of 5): $(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p) s"
