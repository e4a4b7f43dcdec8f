#!/usr/bin/env bash
# Builds the release artifacts into dist/release/, each with a SHA-256 file beside it:
#   pleat-VERSION-py3-none-manylinux_*_x86_64.whl   the binary as a Python package (maturin)
#   pleat-VERSION.tar.gz                            the sdist: builds from source with cargo
#   pleat-linux-x64-VERSION.vsix                    the VS Code extension with bin/pleat inside
#   pleat-VERSION.vsix                              the universal extension: pleat.path or PATH
#   pleat-VERSION-x86_64-unknown-linux-gnu.tar.gz   the binary alone
# One cargo build (profile `dist`: release without debug information or symbols) serves all of
# them: maturin builds it from the unpacked sdist, the tarball and the platform .vsix take the
# same file. The version is
# Cargo.toml's [workspace.package] version, the one place it is kept. Tools come from the
# registries: maturin from PyPI (scripts/install-maturin.sh), vsce from npm (the extension's
# devDependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$SECONDS
say() { echo "== [release $((SECONDS - started))s] $*" >&2; }

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "release.sh: no version in Cargo.toml's [workspace.package]" >&2; exit 1; }
grep -q "^## $version" CHANGELOG.md \
    || { echo "release.sh: CHANGELOG.md has no section \"## $version\"; write it first" >&2; exit 1; }
target_dir=${CARGO_TARGET_DIR:-$repo/target}
out=dist/release
rm -rf "$out"
mkdir -p "$out"

# maturin builds the wheel from the sdist it has just made (so the sdist is known to build),
# where there is no git folder: the commit for `pleat --version` is named here.
PLEAT_GIT_COMMIT=$(git log -1 --format='%h %cs')
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "release.sh: the working tree has uncommitted changes; the binary says so" >&2
    PLEAT_GIT_COMMIT=$(git log -1 --format='%h+changes %cs')
fi
export PLEAT_GIT_COMMIT
# The sdist's files all carry one fixed old modification time, so cargo would take engine and
# server built by an earlier release as fresh and ship them stale: their dist builds go first
# (the dependencies stay).
cargo clean -q --profile dist -p pleat -p pleat-engine
maturin=$(scripts/install-maturin.sh)
say "sdist, then the wheel built from it (maturin build --profile dist --sdist)"
"$maturin" build --locked --profile dist --sdist --out "$out"
binary=$target_dir/dist/pleat
[ -x "$binary" ] || { echo "release.sh: maturin built no $binary" >&2; exit 1; }
"$binary" --version | grep -qF "($PLEAT_GIT_COMMIT)" \
    || { echo "release.sh: $binary says \"$("$binary" --version)\", not commit $PLEAT_GIT_COMMIT: a stale build" >&2; exit 1; }

say "binary tarball"
name=pleat-$version-x86_64-unknown-linux-gnu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
cp "$binary" "$stage/$name/pleat"
cp CHANGELOG.md "$stage/$name/"
tar -C "$stage" -czf "$out/$name.tar.gz" --owner=0 --group=0 "$name"

say "VS Code extension: linux-x64 with the binary, and universal"
ext=vscode-extension
want=$(cat "$ext/package.json" "$ext/package-lock.json" | sha256sum | cut -c1-16)
if [ "$(cat "$ext/node_modules/.release-stamp" 2>/dev/null)" != "$want" ]; then
    (cd "$ext" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" >"$ext/node_modules/.release-stamp"
fi
(cd "$ext" && npm run --silent package -- --target linux-x64 --binary "$binary" -o "$repo/$out/pleat-linux-x64-$version.vsix" >/dev/null)
(cd "$ext" && npm run --silent package -- -o "$repo/$out/pleat-$version.vsix" >/dev/null)

say "SHA-256 files"
(cd "$out" && for f in *; do sha256sum "$f" >"$f.sha256"; done)
ls -l "$out" >&2
say "done: $out"
