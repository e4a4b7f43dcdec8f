#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use: bubblewrap (the bwrap sandbox tests).
if ! command -v bwrap >/dev/null 2>&1; then
    echo "== installing bubblewrap (Debian package) for the sandbox tests"
    if [ "$(id -u)" -ne 0 ]; then
        echo "bubblewrap is missing and this is not root: install the Debian package bubblewrap" >&2
        exit 1
    fi
    apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
