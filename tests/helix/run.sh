#!/usr/bin/env bash
# editors/helix/languages.toml in a real Helix, driven through tmux, against the real
# `pleat lsp`: `hx --health python` finds the server; an unresolved import shows as a
# diagnostic; saving a module that breaks a test shows the failure on its line in the test
# file; a workspace command with JSON arguments runs without an error in Helix's log.
#
# Helix is not installable from the registries this project uses (not in Debian 12, whose
# apt has no helix package; on crates.io helix-term and helix-editor are 0.0.0 placeholders;
# no PyPI or npm package ships hx), so this test runs only where `hx` is on PATH (or $HX names
# it) and otherwise says it skipped. It was run with Helix 25.07.1 built from source.
#
#   HX=/path/to/hx tests/helix/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

hx=${HX:-$(command -v hx || true)}
if [ -z "$hx" ]; then
    echo "helix: skipped: no hx on PATH and HX is not set (Helix is not in Debian 12, PyPI, npm or crates.io)" >&2
    echo "helix: 0 passed, 0 failed (skipped)"
    exit 0
fi
command -v tmux >/dev/null 2>&1 || { echo "helix: tmux is needed (Debian package tmux)" >&2; exit 1; }

if [ -z "${PLEAT_BIN:-}" ]; then
    cargo build -q -p pleat
    PLEAT_BIN=$repo/target/debug/pleat
fi
PLEAT_BIN=$(realpath "$PLEAT_BIN")

mkdir -p "$repo/.cache" && { [ -f "$repo/.cache/.gitignore" ] || printf '*\n' >"$repo/.cache/.gitignore"; }
# Outside any repository, so that the root comes from languages.toml's roots (pleat.toml), not
# from Pleat's own .git above .cache.
dir=$(mktemp -d /tmp/pleat-helix-test.XXXXXX)
tests/editor-fixture.sh "$dir/ws"
rm -rf "$dir/home"
mkdir -p "$dir/home/.config/helix" "$dir/bin"
cp editors/helix/languages.toml "$dir/home/.config/helix/languages.toml"
ln -sfn "$PLEAT_BIN" "$dir/bin/pleat"
session=pleat-helix-test-$$
env_args=(env PATH="$dir/bin:$PATH" HOME="$dir/home" XDG_CONFIG_HOME="$dir/home/.config"
    PLEAT_CACHE_DIR="$repo/.cache/editor-tests-pleat-cache" ${HELIX_RUNTIME:+HELIX_RUNTIME=$HELIX_RUNTIME})

passed=0
failed=0
check() { # name, then a command that succeeds when the check holds
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "  ok   $name" >&2
    else
        failed=$((failed + 1))
        echo "  FAIL $name" >&2
        tmux capture-pane -p -t "$session" 2>/dev/null | sed 's/^/         | /' >&2 || true
    fi
}
screen_has() { # text, seconds
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt $deadline ]; do
        tmux capture-pane -p -t "$session" | grep -qF -- "$1" && return 0
        sleep 0.2
    done
    return 1
}
keys() { tmux send-keys -t "$session" "$@"; }
# Escape, then a pause: an Escape and the next key in one read are Alt+key to Helix.
escape() { tmux send-keys -t "$session" Escape; sleep 0.5; }
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$dir"' EXIT

echo "== helix ($("$hx" --version))" >&2
health=$(cd "$dir/ws" && "${env_args[@]}" "$hx" --health python 2>&1 || true)
check "hx --health python finds pleat" grep -qE "pleat: .*$dir/bin/pleat" <<<"$health"

tmux new-session -d -s "$session" -x 200 -y 40 -c "$dir/ws" "${env_args[@]}" "$hx" pkg/broken.py
check "the unresolved import is a diagnostic on its line" \
    screen_has '3  import pkg.nowhere  `pkg.nowhere` matches no module' 60

escape
keys ':o pkg/calc.py' Enter
sleep 1
keys j x c '    return a + b + 1'
escape
keys ':w' Enter
keys ':o tests/test_calc.py' Enter
check "saving the module shows the test it breaks failing on its line" \
    screen_has '5      assert add(1, 2) == 3  test_add failed: assert 4 == 3' 300

escape
keys ':lsp-workspace-command pleat.runTests {"files":["tests/test_calc.py"],"force":true}' Enter
sleep 3
keys ':log-open' Enter
check "a workspace command with JSON arguments runs (no error in Helix's log)" \
    bash -c "sleep 1; tmux capture-pane -p -t '$session' | grep -q 'helix.log' \
        && ! tmux capture-pane -p -t '$session' | grep -q 'Error executing LSP command'"

echo "helix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
