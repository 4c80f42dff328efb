#!/usr/bin/env bash
# Fails when `unsafe` code appears outside the kernel's platform layer (kernel/src/platform/),
# or when a library crate root does not forbid unsafe code. Guest programs (guests/,
# tools/elastic/compat/) are WebAssembly code, not the kernel, and are not checked. See
# docs/architecture.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bad=$(git grep -n -E '\bunsafe[[:space:]]*(\{|fn|impl|extern)' -- '*.rs' \
  ':!kernel/src/platform/**' ':!fuzz/**' ':!guests/**' ':!tools/elastic/compat/**' || true)
if [ -n "$bad" ]; then
  echo "unsafe code outside kernel/src/platform/:" >&2
  echo "$bad" >&2
  exit 1
fi
missing=""
for lib in kernel/core/src/lib.rs kernel/snp/src/lib.rs kernel/bundle/src/lib.rs \
  kernel/crypto/src/lib.rs wasi-impl/src/lib.rs wasi-impl/ramfs/src/lib.rs tests/snp-sim/src/lib.rs; do
  [ -f "$lib" ] || continue
  grep -q "Placeholder: filled in by its issue" "$lib" && continue
  grep -q '#!\[forbid(unsafe_code)\]' "$lib" || missing+=" $lib"
done
if [ -n "$missing" ]; then
  echo "crate roots without #![forbid(unsafe_code)]:$missing" >&2
  exit 1
fi
echo "unsafe only in kernel/src/platform/ ($(git grep -c -E 'unsafe \{' -- 'kernel/src/platform/*.rs' | awk -F: '{s+=$2} END {print s}') blocks)"
