#!/usr/bin/env bash
# Packages the extension with vsce (after `npm run build`), versioned as Cargo.toml's workspace
# version, the one place Pleat's version is kept (package.json's "version" is not used):
#   sh package.sh                                        pleat.vsix, universal: no binary inside,
#                                                        starts `pleat.path` or `pleat` on PATH
#   sh package.sh --target linux-x64 --binary PATH [-o FILE]
#                                                        the platform .vsix with PATH as bin/pleat
# `npm run package -- ARGS` checks, builds and passes ARGS here.
set -euo pipefail
cd "$(dirname "$0")"

target="" binary="" out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --target) target=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    *) echo "package.sh: unknown argument $1 (--target T --binary PATH -o FILE)" >&2; exit 2 ;;
    esac
done
if { [ -n "$target" ] && [ -z "$binary" ]; } || { [ -z "$target" ] && [ -n "$binary" ]; }; then
    echo "package.sh: --target and --binary go together" >&2
    exit 2
fi
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' ../Cargo.toml)
[ -n "$version" ] || { echo "package.sh: no version in ../Cargo.toml's [workspace.package]" >&2; exit 1; }

# bin/ holds the bundled binary only while a platform package is made.
rm -rf bin
trap 'rm -rf bin' EXIT
args=()
if [ -n "$target" ]; then
    mkdir bin
    cp "$binary" bin/pleat
    chmod 755 bin/pleat
    args+=(--target "$target")
    out=${out:-pleat-$target.vsix}
fi
out=${out:-pleat.vsix}
npx --no-install vsce package "$version" --no-git-tag-version --no-update-package-json \
    --no-dependencies --allow-missing-repository --skip-license "${args[@]}" -o "$out"
