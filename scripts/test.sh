#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and end-to-end tests, the wheel
# installed into a fresh venv, and the editor clients in real editors (VS Code through code-server and Chromium, Neovim 0.11 and
# 0.7, Emacs with Eglot). `--skip-editors` leaves the editors out, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

skip_editors=0
for arg in "$@"; do
    case "$arg" in
    --skip-editors) skip_editors=1 ;;
    *)
        echo "unknown argument $arg; the only one is --skip-editors" >&2
        exit 2
        ;;
    esac
done

# System packages the tests use: bubblewrap (Pleat's default sandbox, and the tests that check
# what it hides). Installed once; a second run finds it and does nothing.
if ! [ -x /usr/bin/bwrap ] && ! command -v bwrap >/dev/null 2>&1; then
    echo "== installing bubblewrap (Debian package) for the sandbox tests"
    if [ "$(id -u)" -ne 0 ]; then
        echo "bubblewrap is missing and this is not root: install the Debian package bubblewrap" >&2
        exit 1
    fi
    apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
    "${apt[@]}" install bubblewrap >/dev/null 2>&1 || { apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null && "${apt[@]}" install bubblewrap >/dev/null; }
fi

# BuildGrid (PyPI, into .cache/build-tools) with psycopg2-binary, and PostgreSQL (Debian) when
# missing, for the remote-cache and remote-execution tests (tests/remote.rs, tests/remote_exec.rs, which
# would install it themselves; done here first so its output is not inside a test's).
echo "== BuildGrid for the remote-cache tests (scripts/install-buildgrid.sh)"
scripts/install-buildgrid.sh >/dev/null

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
status=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast || status=1
else
    cargo test --workspace --locked --no-fail-fast || status=1
fi

# The install path: a wheel of the debug binary just built (maturin reuses target/: no second
# compile), installed into a fresh venv, run as a user would (scripts/release.sh builds the
# stripped release wheel the same way).
echo "== the wheel: pip install, pleat --version, pleat graph, pleat lsp (tests/wheel/run.sh)"
cargo build -q --locked -p pleat
tests/wheel/run.sh || status=1

if [ "$skip_editors" = 1 ]; then
    echo "== SKIPPED: the real-editor tests (VS Code, Neovim, Emacs), because of --skip-editors"
else
    echo "== editors: VS Code (code-server + Chromium), Neovim, Emacs"
    export PLEAT_BIN="$PWD/target/debug/pleat"
    tests/vscode/run.sh || status=1
    scripts/test-editors.sh || status=1
fi
if [ "$status" -ne 0 ]; then
    echo "== FAILED: see above" >&2
fi
exit "$status"
