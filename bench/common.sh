# Owns: the start shared by the benchmarks (language server, remote): the bench folder,
# log/die, the release binary (built unless PLEAT_BIN names one) and the pinned projects. Sourced
# after REPO is set; leaves BENCH and PLEAT_BIN set and bench/projects.sh loaded; remote_work and free_port for the remote ones.
BENCH="${PLEAT_BENCH_DIR:-/tmp/pleat-bench}"
log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
mkdir -p "$BENCH/dl" "$BENCH/src"
if [[ -z "${PLEAT_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release -p pleat >&2)
  PLEAT_BIN="$REPO/target/release/pleat"
fi
source "$REPO/bench/projects.sh"

# The remote benchmarks' start (remote_cache.sh, remote_exec.sh): BuildGrid installed (BGD set to
# its `bgd`), a fresh $BENCH/$1 (WORK set to it) holding the toolz $TOOLZ_VERSION sdist unpacked
# and a copy of examples/sample.
TOOLZ_VERSION=1.0.0
remote_work() {
  BGD="$("$REPO/scripts/install-buildgrid.sh")"
  WORK="$BENCH/$1"
  rm -rf "$WORK" && mkdir -p "$WORK"
  if [[ ! -f "$BENCH/dl/toolz-$TOOLZ_VERSION.tar.gz" ]]; then
    python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: "toolz==$TOOLZ_VERSION" -d "$BENCH/dl"
  fi
  tar xzf "$BENCH/dl/toolz-$TOOLZ_VERSION.tar.gz" -C "$WORK"
  cp -r "$REPO/examples/sample" "$WORK/sample"
}
# A 127.0.0.1 port nobody listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
