#!/usr/bin/env bash
# Differential check of wasi-impl against wasmtime: runs a module under `elastic run` and under
# PyPI wasmtime (tools/elastic/scripts/wasmtime_run.py) with a fresh preopened directory
# /sandbox each (same stdin file for both), and diffs stdout, exit status and the resulting
# directories.
#   compare-wasmtime.sh                      # the raw-ABI probe guest (built here)
#   compare-wasmtime.sh FILE.wasm [ARGS...]  # any wasm32-wasip1 module
# Env: PYTHON (a Python with `wasmtime`; default python3), STDIN (file; default /dev/null).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
py="${PYTHON:-python3}"
probe="$here/../compat/probe"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ $# -gt 0 ]; then
  wasm="$1"
  shift
else
  (cd "$probe" && CARGO_TARGET_DIR="$target/probe" cargo build -q --release --target wasm32-wasip1)
  wasm="$target/probe/wasm32-wasip1/release/wasi-probe.wasm"
fi
stdin="${STDIN:-/dev/null}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/wt" "$tmp/el"
set +e
"$py" "$here/wasmtime_run.py" --dir "$tmp/wt::/sandbox" "$wasm" "$@" >"$tmp/wt.out" 2>"$tmp/wt.err" <"$stdin"
wt=$?
"$root/scripts/elastic" run --dir "$tmp/el::/sandbox" "$wasm" "$@" >"$tmp/el.out" 2>"$tmp/el.err" <"$stdin"
el=$?
set -e
status=0
if [ "$wt" != "$el" ]; then echo "exit status differs: wasmtime $wt, elastic $el"; status=1; fi
diff -u "$tmp/wt.out" "$tmp/el.out" || status=1
# Compare trees by listing (dangling symlinks cannot be diffed by content).
(cd "$tmp/wt" && find . -printf '%y %p %s %l\n' | sort) >"$tmp/wt.tree"
(cd "$tmp/el" && find . -printf '%y %p %s %l\n' | sort) >"$tmp/el.tree"
diff -u "$tmp/wt.tree" "$tmp/el.tree" || status=1
lines=$(wc -l <"$tmp/el.out")
if [ $status = 0 ]; then echo "compare-wasmtime: identical ($lines lines of output, exit $el)"; fi
exit $status
