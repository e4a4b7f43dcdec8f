#!/usr/bin/env bash
# Writes the editor tests' fixture workspace into $1 (replacing it): pleat.toml, a module, a
# test importing it (test_add passes; test_add_wrong fails at line 9), and a module whose
# import (line 3) nothing resolves.
set -euo pipefail
dir=${1:?usage: tests/editor-fixture.sh DIR}
rm -rf "$dir"
mkdir -p "$dir/pkg" "$dir/tests"
printf '# Pleat test fixture\n' >"$dir/pleat.toml"
: >"$dir/pkg/__init__.py"
printf 'def add(a, b):\n    return a + b\n' >"$dir/pkg/calc.py"
printf '"""A module with an import nothing resolves."""\n\nimport pkg.nowhere\n' >"$dir/pkg/broken.py"
cat >"$dir/tests/test_calc.py" <<'PY'
from pkg.calc import add


def test_add():
    assert add(1, 2) == 3


def test_add_wrong():
    assert add(2, 2) == 5
PY
