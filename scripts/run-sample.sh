#!/usr/bin/env bash
# Sets up Pleat on a fresh machine (builds the release binary) and runs the graph goals,
# then `pleat test ::` and `pleat lint ::`, on the sample repository kept in examples/sample,
# and shows `pleat lsp` answering an editor that saves a bug into a copy of it, then the fix.
# The first test run builds the pytest and ruff environments from PyPI by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p pleat
pleat=target/release/pleat
sample=examples/sample
# A cache folder of the project's own, so a first run shows the cold and warm paths.
export PLEAT_CACHE_DIR="${PLEAT_CACHE_DIR:-$PWD/target/pleat-cache}"

run() {
    echo
    echo "\$ pleat $*"
    "$pleat" --root "$sample" "$@"
}

run list ::
run dependencies --transitive tests/test_cart.py
run dependents --transitive src/shop/pricing/tax.py
run dependencies apps/storefront   # a distribution: the distributions its code imports
run paths tests/test_cart.py src/shop/pricing/tax.py
run graph ::
run check-imports ::
run test ::
run test ::          # again: every result comes from the cache
run lint ::

# The same engine inside an editor: an LSP client saves a bug into the sample, then the fix.
echo
echo "\$ pleat lsp   # driven by scripts/lsp-demo.py, as an editor would"
python3 scripts/lsp-demo.py "$pleat" "$sample"
