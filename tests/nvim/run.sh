#!/usr/bin/env bash
# The Neovim plugin's end-to-end test in real headless Neovims against the real `pleat lsp`:
# Neovim 0.11 with setup() and with vim.lsp.enable("pleat") (lsp/pleat.lua), and Neovim 0.7,
# the oldest version the plugin supports, with setup(). Each run gets a fixture workspace
# written fresh; pleat's cache (the pytest and ruff environments) is shared across runs in
# .cache/editor-tests-pleat-cache.
#
#   tests/nvim/run.sh                 # installs what is missing (scripts/install-nvim.sh), builds pleat
#   tests/nvim/run.sh --only 0.11     # one version (0.11 or 0.7)
#   PLEAT_BIN=target/release/pleat tests/nvim/run.sh   # a given binary instead of a debug build
#
# Exits non-zero if any check failed; the last line is "nvim: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

only=""
if [ "${1:-}" = "--only" ]; then only=${2:?"--only needs 0.11 or 0.7"}; fi

if [ -z "${PLEAT_BIN:-}" ]; then
    echo "== cargo build -p pleat" >&2
    cargo build -q -p pleat
    PLEAT_BIN=$repo/target/debug/pleat
fi
PLEAT_BIN=$(realpath "$PLEAT_BIN")
[ -x "$PLEAT_BIN" ] || { echo "no pleat binary at $PLEAT_BIN" >&2; exit 1; }

echo "== Neovim (scripts/install-nvim.sh)" >&2
if [ -n "$only" ]; then scripts/install-nvim.sh --only "$only" >/dev/null; else scripts/install-nvim.sh >/dev/null; fi

cache=$repo/.cache/editor-tests-pleat-cache
work=$repo/.cache/editor-tests/nvim
mkdir -p "$cache" "$work"

# PATH without any folder that holds a pleat.
no_pleat_path() {
    local dir kept=()
    IFS=: read -ra dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        [ -x "$dir/pleat" ] || kept+=("$dir")
    done
    (IFS=:; echo "${kept[*]}")
}

total_passed=0
total_failed=0
status=0
run_one() {
    local version=$1 mode=$2
    local nvim=$repo/.cache/editor-tools/bin/nvim-$version
    local name="nvim-$version-$mode"
    local dir=$work/$name
    tests/editor-fixture.sh "$dir/ws"
    # Neovim writes nothing outside the run's folder (logs, shada, state).
    mkdir -p "$dir/home" "$dir/xdg/config" "$dir/xdg/data" "$dir/xdg/state" "$dir/xdg/cache"
    # The plugin is given the binary as "~/pleat", as a user's config would: it must expand it.
    # In the 0.11 setup() run it is given none and finds the project's .venv/bin/pleat (where
    # `pip install pleat` into the project puts it), with no pleat on PATH.
    ln -sfn "$PLEAT_BIN" "$dir/home/pleat"
    local bin='~/pleat' expect="" path=$PATH
    if [ "$version-$mode" = 0.11-setup ]; then
        mkdir -p "$dir/ws/.venv/bin"
        ln -sfn "$PLEAT_BIN" "$dir/ws/.venv/bin/pleat"
        bin="" expect="the project's .venv"
        path=$(no_pleat_path)
    fi
    local package=""
    if [ "$mode" = enable ]; then
        # Installed as a package, the way vim.pack (or a copy into pack/*/start) does it.
        mkdir -p "$dir/xdg/data/nvim/site/pack/pleat/start"
        ln -sfn "$repo/editors/nvim" "$dir/xdg/data/nvim/site/pack/pleat/start/pleat"
        package=1
    fi
    local log=$dir/spec.log
    echo "== $name" >&2
    local started=$SECONDS rc=0
    (
        cd "$dir/ws"
        HOME=$dir/home XDG_CONFIG_HOME=$dir/xdg/config XDG_DATA_HOME=$dir/xdg/data \
            XDG_STATE_HOME=$dir/xdg/state XDG_CACHE_HOME=$dir/xdg/cache \
            PATH=$path PLEAT_REPO=$repo PLEAT_BIN=$bin PLEAT_EXPECT_SOURCE=$expect PLEAT_CACHE_DIR=$cache PLEAT_MODE=$mode \
            PLEAT_FIXTURE=$dir/ws PLEAT_LABEL=$name PLEAT_PACKAGE=$package \
            timeout 600 "$nvim" --headless -n -i NONE -u "$repo/tests/nvim/init.lua" \
            -c "lua local ok, e = pcall(dofile, '$repo/tests/nvim/spec.lua') if not ok then io.stderr:write('spec error: ' .. tostring(e) .. '\\n') vim.cmd('cq 2') end" \
            </dev/null
    ) 2>"$log" || rc=$?
    cat "$log" >&2
    local line
    line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1 || true)
    if [ -z "$line" ]; then
        echo "$name: Neovim exited with $rc before the spec's summary (see $log and $dir/xdg/state)" >&2
        total_failed=$((total_failed + 1))
        status=1
        return
    fi
    local p f
    p=$(sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
    f=$(sed -E 's/^[^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then status=1; fi
    echo "-- $name: $((SECONDS - started)) s, exit $rc" >&2
}

# No binary anywhere (no path, none on PATH, no .venv, no Mason): :checkhealth pleat says how
# to install one.
run_missing() {
    local version=$1
    local nvim=$repo/.cache/editor-tools/bin/nvim-$version dir=$work/nvim-$version-missing
    rm -rf "$dir"
    mkdir -p "$dir/ws" "$dir/home" "$dir/xdg"
    (
        cd "$dir/ws"
        HOME=$dir/home XDG_CONFIG_HOME=$dir/xdg/config XDG_DATA_HOME=$dir/xdg/data \
            XDG_STATE_HOME=$dir/xdg/state XDG_CACHE_HOME=$dir/xdg/cache PATH=$(no_pleat_path) \
            timeout 60 "$nvim" --headless -n -i NONE -u NONE --cmd "set rtp^=$repo/editors/nvim" \
            -c "lua require('pleat').setup({ autostart = false })" -c 'silent checkhealth pleat' \
            -c "silent write! $dir/health.txt" -c 'qa!' </dev/null >/dev/null 2>&1
    ) || true
    if grep -q 'no pleat binary found' "$dir/health.txt" 2>/dev/null && grep -q 'pip install pleat' "$dir/health.txt"; then
        echo "  ok nvim-$version: with no binary anywhere, :checkhealth pleat says how to install one" >&2
        total_passed=$((total_passed + 1))
    else
        echo "  FAILED nvim-$version: :checkhealth pleat without a binary:" >&2
        cat "$dir/health.txt" >&2 2>/dev/null || echo "    (no output)" >&2
        total_failed=$((total_failed + 1))
        status=1
    fi
}

if [ -z "$only" ] || [ "$only" = 0.11 ]; then
    run_one 0.11 setup
    run_one 0.11 enable
    run_missing 0.11
fi
if [ -z "$only" ] || [ "$only" = 0.7 ]; then
    run_one 0.7 setup
    run_missing 0.7
fi

echo "nvim: $total_passed passed, $total_failed failed"
exit $status
