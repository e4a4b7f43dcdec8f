#!/usr/bin/env bash
# Times `pleat package` on a two-distribution monorepo (libs/core and apps/web, hatchling):
# cold (empty cache: uv installed from PyPI, hatchling downloaded) and cached (median of 5).
# PLEAT=path/to/pleat (default: the release build); prints one line per measurement.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
pleat="${PLEAT:-$here/target/release/pleat}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
repo=$work/repo
mkdir -p "$repo/libs/core/src/core_lib" "$repo/apps/web/src/web_app"
printf '[tool.pleat]\nsource_roots = ["libs/core/src", "apps/web/src"]\n' >"$repo/pyproject.toml"
backend='[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
printf "[project]\nname = \"core-lib\"\nversion = \"1.0.0\"\n\n$backend" >"$repo/libs/core/pyproject.toml"
printf 'VALUE = 1\n' >"$repo/libs/core/src/core_lib/__init__.py"
printf "[project]\nname = \"web-app\"\nversion = \"0.2.0\"\ndependencies = [\"core-lib\"]\n\n$backend" >"$repo/apps/web/pyproject.toml"
printf 'from core_lib import VALUE\n' >"$repo/apps/web/src/web_app/__init__.py"
cd "$repo"
seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
echo "cold, empty cache: $(seconds "$pleat" --cache-dir "$work/cache" package) s"
runs=()
for _ in 1 2 3 4 5; do runs+=("$(seconds "$pleat" --cache-dir "$work/cache" package)"); done
echo "cached (median of 5): $(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p) s"
