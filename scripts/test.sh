#!/usr/bin/env bash
# Runs every test of the project: formatting, lints (host crates and the kernel target), host
# unit tests, the QEMU integration tests that boot the real image, a short run of every fuzz
# target (scripts/fuzz.sh --smoke), and the guest comparisons (each WASI test guest under
# wasmtime, under `elastic run`, and baked into an image in QEMU, against the same expected
# output). This is the command in the README and the one CI runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The debug build of the elastic tool: cargo test builds it anyway, a release build would
# compile every dependency a second time.
export ELASTIC_PROFILE=dev
step() { printf '\n==> %s\n' "$*"; }
results="$root/target/test-results.txt"
mkdir -p target
: > "$results"

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy: host crates"
cargo clippy -q --all-targets -- -D warnings

step "clippy: kernel (production, self-test and snp-sim test builds)"
scripts/build-kernel.sh --clippy
scripts/build-kernel.sh --clippy --selftest
scripts/build-kernel.sh --clippy --snp-sim

step "unsafe containment: only the kernel's platform layer may use unsafe"
scripts/check-unsafe.sh

step "panic freedom: hostile-input crates deny panicking shortcuts; allowances have reasons"
scripts/check-panics.sh

step "build the images, the guests and the elastic tool"
scripts/build-kernel.sh
scripts/build-kernel.sh --selftest
scripts/build-kernel.sh --snp-sim
scripts/build-guests.sh
cargo build -q -p elastic-cli

step "images for the launch-measurement cross-check (demo, one guest, large bundle)"
m="$root/target/measure"
mkdir -p "$m/large-data"
scripts/elastic build --manifest guests/demo/elastic.toml -o "$m/demo.bin" >/dev/null
scripts/elastic build --guest target/guests/hello.wasm -o "$m/hello.bin" -- world >/dev/null
# 10 MiB of data: the largest kind of image that still embeds its bundle (16 MiB).
[ -f "$m/large-data/blob.bin" ] || head -c $((10 << 20)) /dev/urandom > "$m/large-data/blob.bin"
scripts/elastic build --guest target/guests/hello.wasm --dir "$m/large-data::/data:ro" \
  -o "$m/large.bin" >/dev/null
export ELASTIC_MEASURE_IMAGES="$root/target/elastic-kernel.bin:$m/demo.bin:$m/hello.bin:$m/large.bin"

step "tests: host unit tests and QEMU integration tests"
cargo test -q 2>&1 | tee target/test-output.txt
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "cargo: %d passed, %d failed, %d skipped\n", p, f, i }' \
  target/test-output.txt | tee -a "$results"

# Every fuzz target briefly, built on stable (no nightly, no cargo-fuzz); the seeds and
# regression inputs were already replayed by cargo test. FUZZ_SMOKE_SECONDS=0 skips it.
smoke_secs=${FUZZ_SMOKE_SECONDS:-10}
if [ "$smoke_secs" != 0 ]; then
  step "fuzz smoke: every fuzz target for $smoke_secs s (scripts/fuzz.sh --smoke)"
  scripts/fuzz.sh --smoke "$smoke_secs" | tee target/fuzz-smoke-output.txt
  tail -n 1 target/fuzz-smoke-output.txt >> "$results"
fi

# shellcheck source=scripts/venv.sh
. scripts/venv.sh
ensure_venv "$root"
compare() {
  local name="$1"
  shift
  step "guests: $name"
  local out
  out=$("$VENV_PY" tests/reference/run_all.py "$@" 2>&1) || { echo "$out"; echo "$name: failures above" >&2; exit 1; }
  echo "$out"
  echo "$out" | tail -1 | sed "s/^/$name: /" >> "$results"
}
compare "wasmtime (reference)"
compare "elastic run" --runner tests/reference/runners/elastic-run.sh
compare "QEMU" --runner tests/reference/runners/qemu.sh --trap-exit 100 --loose-stderr

step "summary"
cat "$results"
awk -F': ' '{ split($NF, a, /[ ,]+/); p += a[1]; f += a[3]; s += (a[5] == "" ? 0 : a[5]) } END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$results"
