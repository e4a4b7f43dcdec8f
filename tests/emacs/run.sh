#!/usr/bin/env bash
# editors/emacs/pleat-eglot.el in a real Emacs (batch mode) with Eglot against the real
# `pleat lsp`, on a fixture written fresh each run. Emacs 28 and Eglot 1.9 come from Debian
# (emacs-nox, elpa-eglot; installed here as root when missing).
#
#   tests/emacs/run.sh
#   PLEAT_BIN=target/release/pleat tests/emacs/run.sh
#
# Exits non-zero if any check failed; the last line is "emacs: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

if [ -z "${PLEAT_BIN:-}" ]; then
    echo "== cargo build -p pleat" >&2
    cargo build -q -p pleat
    PLEAT_BIN=$repo/target/debug/pleat
fi
PLEAT_BIN=$(realpath "$PLEAT_BIN")

has_eglot() {
    command -v emacs >/dev/null 2>&1 \
        && HOME=/nonexistent emacs --batch --no-init-file --eval '(kill-emacs (if (locate-library "eglot") 0 1))' 2>/dev/null
}
if ! has_eglot; then
    echo "== installing Emacs and Eglot (Debian packages emacs-nox, elpa-eglot)" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "Emacs with Eglot is missing and this is not root: install the Debian packages emacs-nox and elpa-eglot" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
    "${apt[@]}" install --no-install-recommends emacs-nox elpa-eglot >/dev/null 2>&1 \
        || { "${apt[@]}" update >/dev/null && "${apt[@]}" install --no-install-recommends emacs-nox elpa-eglot >/dev/null; }
fi

mkdir -p "$repo/.cache" && { [ -f "$repo/.cache/.gitignore" ] || printf '*\n' >"$repo/.cache/.gitignore"; }
cache=$repo/.cache/editor-tests-pleat-cache
dir=$repo/.cache/editor-tests/emacs
tests/editor-fixture.sh "$dir/ws"
mkdir -p "$dir/home"
log=$dir/spec.log
echo "== emacs" >&2
rc=0
(
    cd "$dir/ws"
    # Debian's site-start puts elpa-eglot on the load path; -Q would skip it, so only the
    # user's init files are skipped (HOME is the test's own).
    HOME=$dir/home PLEAT_BIN=$PLEAT_BIN PLEAT_CACHE_DIR=$cache PLEAT_FIXTURE=$dir/ws \
        timeout 600 emacs --batch --no-init-file -L "$repo/editors/emacs" -l "$repo/tests/emacs/spec.el" </dev/null
) 2>"$log" || rc=$?
cat "$log" >&2
line=$(grep -E "^emacs: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1 || true)
if [ -z "$line" ]; then
    echo "emacs: Emacs exited with $rc before the spec's summary (see $log)" >&2
    echo "emacs: 0 passed, 1 failed"
    exit 1
fi
echo "${line% (*}"
exit "$rc"
