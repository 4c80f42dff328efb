#!/usr/bin/env bash
# Builds the Elastic kernel as a flat firmware image (-bios blob).
#   scripts/build-kernel.sh [--selftest | --snp-sim] [--debug] [--clippy] [-o OUT]
# Default output: target/elastic-kernel.bin (target/elastic-selftest.bin with --selftest,
# target/elastic-snp-sim.bin with --snp-sim: the test-only kernel whose SNP guest services are
# answered by the PSP simulator; see kernel/src/snp_sim.rs).
#
# The kernel is built for x86_64-unknown-linux-gnu used freestanding (see docs/architecture.md,
# "Why this Rust target"): no nightly, hard-float SSE, AES-NI usable. The flags below make it a
# static, position-dependent binary in the kernel code model, linked by boot/layout.ld.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
features=()
profile=release
clippy=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --selftest) features+=(--features selftest); [ -n "$out" ] || out="$root/target/elastic-selftest.bin" ;;
    --snp-sim) features+=(--features snp-sim); [ -n "$out" ] || out="$root/target/elastic-snp-sim.bin" ;;
    --debug) profile=dev ;;
    --clippy) clippy=1 ;;
    -o) out="$2"; shift ;;
    *) echo "build-kernel.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$out" ] || out="$root/target/elastic-kernel.bin"
# One target dir for both images: the dependencies are built once, and cargo keeps the
# kernel crate's artifacts for each feature set side by side.
export CARGO_TARGET_DIR="$root/target/kernel"
export RUSTFLAGS="-C panic=abort -C code-model=kernel -C relocation-model=static -C no-redzone=yes -C force-frame-pointers=yes"
cd "$root"
if [ -n "$clippy" ]; then
  exec cargo clippy -q -p elastic-kernel --target x86_64-unknown-linux-gnu --profile "$profile" \
    "${features[@]}" -- -D warnings
fi
cargo build -q -p elastic-kernel --target x86_64-unknown-linux-gnu --profile "$profile" "${features[@]}"
dir=release; [ "$profile" = dev ] && dir=debug
elf="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/$dir/elastic-kernel"
mkdir -p "$(dirname "$out")"
objcopy -O binary "$elf" "$out.tmp"
size=$(stat -c %s "$out.tmp")
if [ "$size" -ne $((4 << 20)) ]; then
  echo "build-kernel.sh: image is $size bytes, expected exactly 4 MiB (boot/layout.ld)" >&2
  exit 1
fi
mv "$out.tmp" "$out"
cp "$elf" "${out%.bin}.elf"
