#!/usr/bin/env bash
# Installs maturin (PyPI), which builds Pleat's wheel and sdist, idempotently into
# .cache/build-tools/maturin-venv, and prints the path of its `maturin`.
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION=1.16.0
venv=.cache/build-tools/maturin-venv
mkdir -p .cache/build-tools
# .cache/ holds installed tools and test caches: never part of the repository.
[ -f .cache/.gitignore ] || printf '*\n' >.cache/.gitignore
if [ ! -x "$venv/bin/maturin" ] || [ "$("$venv/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ]; then
    echo "== installing maturin $MATURIN_VERSION (PyPI) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "maturin==$MATURIN_VERSION"
fi
echo "$PWD/$venv/bin/maturin"
