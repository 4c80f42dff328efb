#!/usr/bin/env bash
# Differential check of wasi-impl against wasmtime: builds the raw-ABI probe guest, runs it
# under `elastic run` and under PyPI wasmtime (tools/elastic/scripts/wasmtime_run.py) with a
# fresh preopened directory each, and diffs stdout, exit status and the resulting directories.
# Needs a Python with `wasmtime` installed: set PYTHON (default: python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
py="${PYTHON:-python3}"
probe="$here/../compat/probe"
target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$probe" && CARGO_TARGET_DIR="$target/probe" cargo build -q --release --target wasm32-wasip1)
wasm="$target/probe/wasm32-wasip1/release/wasi-probe.wasm"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/wt" "$tmp/el"
set +e
"$py" "$here/wasmtime_run.py" --dir "$tmp/wt::/sandbox" "$wasm" >"$tmp/wt.out" 2>"$tmp/wt.err" </dev/null
wt=$?
"$root/scripts/elastic" run --dir "$tmp/el::/sandbox" "$wasm" >"$tmp/el.out" 2>"$tmp/el.err" </dev/null
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
if [ $status = 0 ]; then echo "compare-wasmtime: identical ($lines lines of probe output, exit $el)"; fi
exit $status
