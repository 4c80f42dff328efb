#!/usr/bin/env bash
# Builds the guests (unless --no-build is the first argument) and runs every guest in
# tests/reference/guests.json under the reference runtime (PyPI wasmtime), checking exit
# status, trap/error and golden stdout. Ends with a `N passed, M failed` line.
# Other arguments go to run_all.py (--update, guest names).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/venv.sh
. "$ROOT/scripts/venv.sh"
ensure_venv "$ROOT"
if [ "${1:-}" = "--no-build" ]; then
    shift
else
    "$ROOT/scripts/build-guests.sh" >&2
fi
exec "$VENV_PY" "$ROOT/tests/reference/run_all.py" "$@"
