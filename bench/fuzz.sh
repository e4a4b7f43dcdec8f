#!/usr/bin/env bash
# Owns: the fuzz run (issue 10). Installs cargo-fuzz when it is missing, builds the targets in
# fuzz/ with the nightly toolchain (release, debug assertions and overflow checks on,
# AddressSanitizer), and runs each target for a fixed number of executions, single process,
# starting from its checked-in corpus (fuzz/corpus/<target>, read only: new inputs go to
# fuzz/work/<target>, which is not committed). Fails when any target crashes, panics, hangs
# longer than FUZZ_TIMEOUT on one input, or runs out of memory (2 GiB); the input is left in
# fuzz/artifacts/<target>/ and `cargo +nightly fuzz run <target> <file>` repeats it.
#
# Usage: bench/fuzz.sh [TARGET...]   (default: imports, config, lsp_framing)
# Environment:
#   FUZZ_RUNS         executions per target (default: imports 5000, config 10000, lsp_framing
#                     50000: 4 to 8 minutes in all on a shared two-core machine)
#   FUZZ_TARGET_DIR   cargo's target folder for the fuzz build (default: fuzz/target)
#   FUZZ_TIMEOUT      seconds one input may take before it counts as a hang (default 10)
#   FUZZ_SEED         libFuzzer's random seed (default: a fresh one each run, printed)
#   ASAN_OPTIONS      default malloc_context_size=0:detect_stack_use_after_return=0: no stack
#                     trace kept per allocation and no fake stacks, about 40% of the CPU time
#                     of `imports` (repeat a crash without them for AddressSanitizer's full report)
#   CARGO_BUILD_JOBS  as for cargo (set it to 1 on a shared machine)
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(imports config lsp_framing)
target_dir=${FUZZ_TARGET_DIR:-$PWD/fuzz/target}
timeout=${FUZZ_TIMEOUT:-10}
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0:detect_stack_use_after_return=0}

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked

cd fuzz
cargo +nightly fuzz build --target-dir "$target_dir"
failed=()
for target in "${targets[@]}"; do
    mkdir -p "work/$target" "corpus/$target"
    log=$(mktemp)
    start=$(date +%s)
    case $target in
        imports) runs=5000 ;;
        config) runs=10000 ;;
        *) runs=50000 ;;
    esac
    runs=${FUZZ_RUNS:-$runs}
    extra=()
    [ -n "${FUZZ_SEED:-}" ] && extra+=("-seed=$FUZZ_SEED")
    [ -f "dict/$target.dict" ] && extra+=("-dict=dict/$target.dict")
    if cargo +nightly fuzz run --target-dir "$target_dir" "$target" "work/$target" "corpus/$target" -- \
        -runs="$runs" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
        "${extra[@]}" > "$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
        grep -E -A 30 'ERROR: libFuzzer|panicked at|ERROR: AddressSanitizer|Test unit written' "$log" | head -n 60 || tail -n 40 "$log"
    fi
    executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    seed=$(grep -o 'Seed: [0-9]*' "$log" | head -n 1 | grep -o '[0-9]*$' || echo '?')
    corpus=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' || echo '?')
    echo "$target: $status, $executed executions in $(($(date +%s) - start)) s ($rate exec/s, seed $seed, $corpus)"
    rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
