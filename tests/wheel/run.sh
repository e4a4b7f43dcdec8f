#!/usr/bin/env bash
# The install test: builds the wheel with maturin from the binary cargo already built, installs
# it into a fresh venv, and runs the installed `pleat` as a user would: `pleat --version` and
# `python -m pleat --version` (the version from Cargo.toml and a commit), `pleat graph ::` on
# examples/sample, and a short `pleat lsp` session (initialize, a file with an unresolved import
# gets its diagnostic, shutdown, exit).
#
# Which binary: maturin reuses the target folder, so with the default `--profile dev` the wheel
# holds the debug binary scripts/test.sh has built already (no second compile; about 40 MB).
# scripts/release.sh builds the stripped release wheel (`--profile dist`) from the sdist;
# `tests/wheel/run.sh --wheel dist/release/pleat-*.whl` tests that one.
# The last line is "wheel: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
given=""
[ "${1:-}" = "--wheel" ] && given=$(realpath "${2:?"--wheel needs a wheel file"}")

passed=0 failed=0
check() { # check NAME COMMAND...: runs it, counts it, shows its output when it fails
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok: $name" >&2
    else
        failed=$((failed + 1))
        echo "FAILED: $name" >&2
        echo "$out" | tail -20 | sed 's/^/    /' >&2
    fi
}

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
work=$repo/.cache/wheel-test
rm -rf "$work"
mkdir -p "$work"
if [ -n "$given" ]; then
    wheel=$given
else
    maturin=$(scripts/install-maturin.sh)
    echo "== wheel: maturin build --profile dev" >&2
    "$maturin" build --quiet --locked --profile dev --out "$work/dist" >"$work/build.log" 2>&1 \
        || { tail -30 "$work/build.log" >&2; echo "wheel: 0 passed, 1 failed"; exit 1; }
    wheel=$(ls "$work"/dist/pleat-"$version"-py3-none-manylinux_*_x86_64.whl)
fi
echo "== $(basename "$wheel"): $(du -h "$wheel" | cut -f1)" >&2

python3 -m venv "$work/venv"
check "pip install the wheel into a fresh venv" \
    "$work/venv/bin/pip" install --quiet --no-index --disable-pip-version-check "$wheel"

# Only the venv and the system's folders on PATH: the `pleat` that answers is the installed one.
export PATH=$work/venv/bin:/usr/local/bin:/usr/bin:/bin
export PLEAT_CACHE_DIR=$work/cache
check "pleat on the venv's PATH" test "$(command -v pleat)" = "$work/venv/bin/pleat"
version_line="^pleat $version \(([0-9a-f]{7,}(\+changes)? [0-9]{4}-[0-9]{2}-[0-9]{2}|commit unknown)\)$"
check "pleat --version prints the version and the commit" \
    bash -c "pleat --version | tee /dev/stderr | grep -Eq '$version_line'"
check "python -m pleat --version runs the same binary" \
    bash -c "python -m pleat --version | grep -Eq '$version_line'"
check "pleat graph :: on examples/sample" \
    bash -c "pleat --root examples/sample graph :: | python -c '
import json, sys
graph = json.load(sys.stdin)
assert \"src/shop/pricing/tax.py\" in graph.get(\"src/shop/pricing/__init__.py\", []), graph
'"
check "a pleat lsp session from the installed binary" python3 - "$repo/examples/sample" <<'PY'
import os, shutil, sys, tempfile
sys.path.insert(0, "scripts")
from lsp_client import Client

# A copy of the sample, with a module whose import resolves nowhere.
root = os.path.join(tempfile.mkdtemp(), "sample")
shutil.copytree(sys.argv[1], root)
path = os.path.join(root, "src", "shop", "broken.py")
text = "import shop.nowhere\n"
with open(path, "w") as f:
    f.write(text)
client = Client([shutil.which("pleat"), "lsp"])
try:
    client.initialize(root, {"onSave": "off"})
    uri = "file://" + path
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
    _, message = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == uri and m["params"]["diagnostics"], limit=60)
    assert "shop.nowhere" in message["params"]["diagnostics"][0]["message"], message
    assert client.request("shutdown", None) is None
    client.notify("exit", None)
    assert client.process.wait(timeout=10) == 0
finally:
    client.close()
PY

echo "wheel: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
