#!/usr/bin/env bash
# Installs BuildGrid (PyPI), the REAPI v2 server the remote-cache tests (tests/remote.rs) and
# bench/remote_cache.sh start, idempotently into .cache/build-tools/buildgrid-venv on Python
# 3.11 (BuildGrid 0.4.4 is the last release for Python < 3.13), and prints the path of its `bgd`.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILDGRID_VERSION=0.4.4
venv=.cache/build-tools/buildgrid-venv
mkdir -p .cache/build-tools
# .cache/ holds installed tools and test caches: never part of the repository.
[ -f .cache/.gitignore ] || printf '*\n' >.cache/.gitignore
if [ ! -x "$venv/bin/bgd" ] || [ ! -f "$venv/.buildgrid-$BUILDGRID_VERSION" ]; then
    python=$(command -v python3.11 || true)
    if [ -z "$python" ]; then
        echo "BuildGrid $BUILDGRID_VERSION needs Python 3.11 and there is no python3.11 on PATH; install it (pyenv install 3.11, or your distribution's python3.11) and run this again" >&2
        exit 1
    fi
    echo "== installing BuildGrid $BUILDGRID_VERSION (PyPI) into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "buildgrid==$BUILDGRID_VERSION"
    touch "$venv/.buildgrid-$BUILDGRID_VERSION"
fi
echo "$PWD/$venv/bin/bgd"
