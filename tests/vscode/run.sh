#!/usr/bin/env bash
# End-to-end test of the VS Code extension in a real VS Code: code-server with the packaged
# .vsix and the real `pleat lsp`, driven by Debian's Chromium through playwright-core
# (tests/vscode/drive.mjs holds the checks). Installs what it needs first
# (scripts/install-vscode-test-deps.sh), builds pleat (debug; PLEAT_BIN overrides) and the platform
# .vsix with it inside (no pleat.path, no pleat on PATH: the bundled binary is what runs),
# writes the fixture workspace anew, and runs everything with HOME, XDG_* and TMPDIR inside
# tests/vscode/.out/run. Screenshots: tests/vscode/.out/*.png. With --screenshot, the picture of
# a failing test is also copied to docs/images/vscode.png.
# Environment: PLEAT_BIN (a pleat binary), PLEAT_E2E_CACHE_DIR (the pleat cache shared across
# runs, so that pytest's and ruff's environments are built once; default .cache/pleat-e2e).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$(date +%s)
say() { echo "[vscode $(($(date +%s) - started))s] $*" >&2; }
fail() { echo "vscode e2e FAILED: $*" >&2; echo "vscode: 0 passed, 1 failed"; exit 1; }

copy_screenshot=0
[ "${1:-}" = "--screenshot" ] && copy_screenshot=1

say "installing test dependencies (once)"
deps=$(scripts/install-vscode-test-deps.sh) || fail "scripts/install-vscode-test-deps.sh failed"
node24=$(sed -n 's/^node24=//p' <<<"$deps")
code_server=$(sed -n 's/^code_server=//p' <<<"$deps")
chromium=$(sed -n 's/^chromium=//p' <<<"$deps")
playwright=$(sed -n 's/^playwright=//p' <<<"$deps")

if [ -z "${PLEAT_BIN:-}" ]; then
    say "building pleat (cargo build -p pleat)"
    cargo build -q -p pleat || fail "cargo build -p pleat failed"
    PLEAT_BIN=$repo/target/debug/pleat
fi
[ -x "$PLEAT_BIN" ] || fail "no pleat binary at $PLEAT_BIN"

out=$repo/tests/vscode/.out
run=$out/run
cache=${PLEAT_E2E_CACHE_DIR:-$repo/.cache/pleat-e2e}
rm -rf "$run" "$out"/*.png "$out"/*.json
mkdir -p "$run"/{home,tmp,user/User,exts} "$cache"

# The platform .vsix with the binary inside, as a user installs it: the test sets no pleat.path
# and leaves no pleat on PATH, so the bundled binary is what runs. The debug binary is shipped
# without its debug information (a copy, stripped: 5 times smaller to zip and unpack).
say "packaging the extension (npm run package -- --target linux-x64 --binary …)"
strip --strip-debug -o "$run/pleat" "$PLEAT_BIN" 2>/dev/null || cp "$PLEAT_BIN" "$run/pleat"
vsix=$repo/vscode-extension/pleat-linux-x64.vsix
(cd vscode-extension && npm run package --silent -- --target linux-x64 --binary "$run/pleat" -o "$vsix" \
    >/dev/null 2>"$repo/tests/vscode/.package.log") \
    || { cat tests/vscode/.package.log >&2; fail "npm run package failed in vscode-extension/"; }
rm -f tests/vscode/.package.log "$run/pleat"
mkdir -p .cache && { [ -f .cache/.gitignore ] || printf '*\n' >.cache/.gitignore; }

# The fixture: a source module, a test importing it, a module with an unresolved import.
# code-server saves what it shows, so the workspace is written anew on every run.
ws=$run/ws
mkdir -p "$ws"/{src/calc,tests,.vscode}
printf 'source_roots = ["src"]\n' >"$ws/pleat.toml"
# The nonce makes the first test run a real pytest run (the package's __init__.py is an input of
# every test importing it); pytest's environment stays cached.
printf '"""A calculator (fixture of run %s)."""\n' "$(date +%s%N)" >"$ws/src/calc/__init__.py"
printf 'def add(a, b):\n    return a + b\n' >"$ws/src/calc/ops.py"
cat >"$ws/tests/test_ops.py" <<'EOF'
from calc.ops import add


def test_add():
    assert add(2, 3) == 5


class TestOps:
    def test_add_zero(self):
        assert add(7, 0) == 7
EOF
cat >"$ws/src/calc/report.py" <<'EOF'
from calc import ops
from calc.formatting import money


def total(a, b):
    return money(ops.add(a, b))
EOF
cat >"$ws/.vscode/settings.json" <<EOF
{
  "pleat.cacheDir": "$cache",
  "pleat.trace.server": "messages"
}
EOF
cat >"$run/user/User/settings.json" <<'EOF'
{
  "workbench.startupEditor": "none",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "security.workspace.trust.enabled": false,
  "files.autoSave": "off",
  "git.enabled": false,
  "git.openRepositoryInParentFolders": "never",
  "editor.codeLens": true,
  "editor.minimap.enabled": false,
  "chat.disableAIFeatures": true,
  "window.commandCenter": false,
  "workbench.colorTheme": "Default Dark Modern"
}
EOF

# code-server with everything it writes inside $run, and no folder holding a pleat on PATH.
path=$(dirname "$node24")
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do [ -x "$dir/pleat" ] || path=$path:$dir; done
cat >"$run/code-server.sh" <<EOF
#!/usr/bin/env bash
export HOME=$run/home TMPDIR=$run/tmp XDG_CONFIG_HOME=$run/home/.config XDG_DATA_HOME=$run/home/.local/share \\
    XDG_CACHE_HOME=$run/home/.cache PATH=$path PLEAT_E2E_DUMP=$out/state.json
exec "$code_server" --auth none --disable-telemetry --disable-update-check --disable-workspace-trust \\
    --disable-getting-started-override --log trace --user-data-dir $run/user --extensions-dir $run/exts "\$@"
EOF
chmod +x "$run/code-server.sh"
say "installing the .vsix into code-server"
"$run/code-server.sh" --install-extension "$vsix" >"$run/install.log" 2>&1 \
    || { cat "$run/install.log" >&2; fail "code-server --install-extension failed"; }
# A stand-in for the Python extension's one setting the export writes (python.defaultInterpreterPath):
# the Python extension is on no registry this machine reaches, and VS Code refuses to write a
# setting nobody declares. tests/vscode/python-settings/package.json says so; it holds no code.
(cd tests/vscode/python-settings && "$repo/vscode-extension/node_modules/.bin/vsce" package \
    --allow-missing-repository --skip-license -o "$run/python-settings.vsix" >>"$run/install.log" 2>&1) \
    || { cat "$run/install.log" >&2; fail "packaging tests/vscode/python-settings failed"; }
"$run/code-server.sh" --install-extension "$run/python-settings.vsix" >>"$run/install.log" 2>&1 \
    || { cat "$run/install.log" >&2; fail "installing the python-settings stand-in failed"; }

port=$("$node24" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
say "starting code-server on 127.0.0.1:$port"
setsid "$run/code-server.sh" --bind-addr "127.0.0.1:$port" "$ws" >"$run/code-server.log" 2>&1 &
server_pid=$!
trap 'kill -- -$server_pid 2>/dev/null || true' EXIT
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    kill -0 $server_pid 2>/dev/null || { tail -20 "$run/code-server.log" >&2; fail "code-server exited at start"; }
    sleep 0.5
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "code-server did not answer on port $port within 60 s"

# A pleat of another version for pleat.path (the extension must warn): --version says 0.0.1.
cat >"$run/other-pleat" <<EOF
#!/bin/sh
[ "\$1" = --version ] && { echo 'pleat 0.0.1 (another build)'; exit 0; }
exec "$PLEAT_BIN" "\$@"
EOF
chmod +x "$run/other-pleat"

# A hang limit: with an empty pleat cache (CI) the pytest, ruff and debugpy environments are
# built during the drive (about 3 minutes then; warm, under 2).
say "driving VS Code with Chromium"
status=0
URL="http://127.0.0.1:$port/?folder=$ws" WS=$ws OUT=$out CHROMIUM=$chromium OTHER_PLEAT=$run/other-pleat \
    PLAYWRIGHT=$playwright \
    timeout 300 "$node24" tests/vscode/drive.mjs || status=$?
if [ $status -ne 0 ]; then
    echo "--- server log (Pleat output channel): $run/user/logs/*/exthost*/*Pleat*" >&2
    find "$run/user/logs" -name '*Pleat*' -exec tail -30 {} \; >&2 2>/dev/null || true
    [ $status -eq 124 ] && fail "drive.mjs timed out after 300 s; screenshots in $out"
    echo "vscode e2e FAILED: see the failed check above; screenshots and state in $out" >&2
    exit 1
fi
if [ $copy_screenshot = 1 ]; then
    mkdir -p docs/images && cp "$out/failing-test.png" docs/images/vscode.png
    say "copied $out/failing-test.png to docs/images/vscode.png"
fi
say "done in $(($(date +%s) - started)) s"
