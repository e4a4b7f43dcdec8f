# Owns: the start shared by the language-server benchmarks (keystroke, latency): the bench folder,
# log/die, the release binary (built unless PLEAT_BIN names one) and the pinned projects. Sourced
# after REPO is set; leaves BENCH and PLEAT_BIN set and bench/projects.sh loaded.
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench}"
log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
mkdir -p "$BENCH/dl" "$BENCH/src"
if [[ -z "${PLEAT_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release -p pleat >&2)
  PLEAT_BIN="$REPO/target/release/pleat"
fi
source "$REPO/bench/projects.sh"
