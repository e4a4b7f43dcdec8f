#!/usr/bin/env bash
# Installs BuildGrid (PyPI), the REAPI v2 server the remote tests (tests/remote.rs,
# tests/remote_exec.rs) and bench/remote_cache.sh, bench/remote_exec.sh start, idempotently into
# .cache/build-tools/buildgrid-venv on Python 3.11 (BuildGrid 0.4.4 is the last release for
# Python < 3.13) with psycopg2-binary (its SQL scheduler, for remote execution, needs
# PostgreSQL through psycopg2), and prints the path of its `bgd`. PostgreSQL itself (Debian's
# `postgresql`, for `initdb`/`pg_ctl`) is installed when no /usr/lib/postgresql/*/bin/initdb exists,
# and Debian's `openssl` when there is no openssl command (tests/remote.rs's TLS test).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILDGRID_VERSION=0.4.4
PSYCOPG2_VERSION=2.9.10
venv=.cache/build-tools/buildgrid-venv
mkdir -p .cache/build-tools
# .cache/ holds installed tools and test caches: never part of the repository.
[ -f .cache/.gitignore ] || printf '*\n' >.cache/.gitignore
stamp="$venv/.buildgrid-$BUILDGRID_VERSION-psycopg2-$PSYCOPG2_VERSION"
if [ ! -x "$venv/bin/bgd" ] || [ ! -f "$stamp" ]; then
    python=$(command -v python3.11 || true)
    if [ -z "$python" ]; then
        echo "BuildGrid $BUILDGRID_VERSION needs Python 3.11 and there is no python3.11 on PATH; install it (pyenv install 3.11, or your distribution's python3.11) and run this again" >&2
        exit 1
    fi
    echo "== installing BuildGrid $BUILDGRID_VERSION and psycopg2-binary $PSYCOPG2_VERSION (PyPI) into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "buildgrid==$BUILDGRID_VERSION" "psycopg2-binary==$PSYCOPG2_VERSION"
    touch "$stamp"
fi
# Debian packages: PostgreSQL (the remote-execution tests start their own server from its initdb
# and pg_ctl) and the openssl command line (the TLS test makes its certificates with it).
missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing Debian packages ${missing[*]} for the remote tests" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "the Debian packages ${missing[*]} are missing and this is not root: install them with apt-get (the remote tests need them)" >&2
        exit 1
    fi
    apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
    "${apt[@]}" install "${missing[@]}" >/dev/null 2>&1 || { apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null && "${apt[@]}" install "${missing[@]}" >/dev/null; }
fi
echo "$PWD/$venv/bin/bgd"
