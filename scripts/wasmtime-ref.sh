#!/usr/bin/env bash
# Runs a WASI preview1 module under the reference runtime (PyPI wasmtime), creating or
# reusing the venv at .venv/. All arguments go to tests/reference/wasmtime_run.py, e.g.
#   scripts/wasmtime-ref.sh --dir /tmp/sb::/sandbox target/guests/wasi-fd.wasm
# The exit status is the guest's (134 for a trap, see wasmtime_run.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/venv.sh
. "$ROOT/scripts/venv.sh"
ensure_venv "$ROOT" >&2
exec "$VENV_PY" "$ROOT/tests/reference/wasmtime_run.py" "$@"
