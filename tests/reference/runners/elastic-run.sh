#!/usr/bin/env bash
# run_all.py runner for `elastic run` (the host runner over the same wasi-impl the kernel uses).
# Takes wasmtime_run.py's options: --dir HOST::GUEST, --env K=V, --stdin FILE, --fuel N,
# --max-memory BYTES (and --ramfs-quota BYTES), then the module and its arguments.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
stdin=/dev/null
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stdin) stdin="$2"; shift 2 ;;
    --dir|--env|--fuel|--max-memory|--ramfs-quota) args+=("$1" "$2"); shift 2 ;;
    *) break ;;
  esac
done
exec "$root/scripts/elastic" run "${args[@]}" "$@" < "$stdin"
