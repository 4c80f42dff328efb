#!/usr/bin/env bash
# Runs every test of the project: formatting, lints (host crates and the kernel target), host
# unit tests, and the QEMU integration tests that boot the real image. This is the command in
# the README and the one CI runs (.ci/run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy: host crates"
cargo clippy -q --all-targets -- -D warnings

step "clippy: kernel (production and self-test builds)"
scripts/build-kernel.sh --clippy
scripts/build-kernel.sh --clippy --selftest

step "unsafe containment: only the kernel's platform layer may use unsafe"
scripts/check-unsafe.sh

step "build the images"
scripts/build-kernel.sh
scripts/build-kernel.sh --selftest

step "tests: host unit tests and QEMU integration tests"
cargo test -q 2>&1 | tee target/test-output.txt
# Sum cargo's per-binary results into one closing line.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' \
  target/test-output.txt
