#!/usr/bin/env bash
# run_all.py runner that bakes the guest into a firmware image (`elastic build --guest`) and
# boots it in QEMU (scripts/run-qemu.sh). Guest stdout is the console (COM1, split mode);
# kernel log and guest stderr come out on stderr. Exit status: the kernel's (the guest's own
# code below 100; 100 for a trap or an exceeded limit).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir|--env|--fuel|--max-memory|--stdin|--ramfs-quota) args+=("$1" "$2"); shift 2 ;;
    *) break ;;
  esac
done
module="$1"
shift
log=$(mktemp)
"$root/scripts/run-qemu.sh" --guest "$module" "${args[@]}" --split-log "$log" -- "$@"
status=$?
cat "$log" >&2
rm -f "$log"
exit $status
