#!/usr/bin/env bash
# Builds (if needed) and boots an Elastic firmware image in QEMU, and exits with the kernel's
# exit code.
#
#   scripts/run-qemu.sh                 build and boot the demo image (guests/demo/elastic.toml)
#   scripts/run-qemu.sh --guest APP.wasm [--dir HOST[::GUEST[:ro]]]... [--env K=V]... [--name N]
#                       [--stdin FILE] [--fuel N] [--max-memory BYTES] [--ramfs-quota BYTES]
#                       [OPTIONS] [-- ARGS...]
#                                       build a one-guest image around APP.wasm and boot it;
#                                       writable --dir directories are written back afterwards
#   scripts/run-qemu.sh --image FILE [OPTIONS]    boot an existing image
#   scripts/run-qemu.sh --selftest NAME [OPTIONS] boot the self-test image (kernel tests)
#   scripts/run-qemu.sh --snp-sim [--guest APP.wasm ...] [OPTIONS]
#                                       build the image on the test-only snp-sim kernel (SNP
#                                       guest services from the PSP simulator; NOT a
#                                       confidential VM), by default with the snp-selftest guest
#   scripts/run-qemu.sh --probe-kvm     prints "kvm" or "tcg": the accelerator it would use
# OPTIONS: --export DIR (unpack the guests' exports into DIR), --split-log FILE (kernel log and
# guest stderr go to FILE, the console keeps only guest stdout), --qemu QEMU-ARGS... (last).
#
# An image whose bundle is too large to embed comes with IMAGE.bundle, passed to QEMU as the
# fw_cfg file opt/elastic/bundle. --export DIR unpacks the files the guests export (a tar on the
# second serial port, see docs/image.md) into DIR.
# Environment:
#   ELASTIC_ACCEL=kvm|tcg   accelerator (default: KVM when it can run Elastic here, else TCG)
#   ELASTIC_MACHINE=q35|microvm|pc   machine type (default q35; microvm starts fastest)
#   ELASTIC_MEMORY=SIZE     guest RAM (default 1G)
#   ELASTIC_QEMU=PATH       the QEMU binary (default qemu-system-x86_64)
#
# Exit status: the kernel's exit code (see kernel/core/src/exit.rs and the README): 0 success,
# 1..99 a guest's exit code, 100 guest trap, 110..116 kernel failures, 125 the machine reset
# without reporting (triple fault), 126 QEMU failed to start.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qemu=${ELASTIC_QEMU:-qemu-system-x86_64}
image=""
selftest=""
snp_sim=""
probe_only=""
export_dir=""
split_log=""
guest=""
build_args=()
guest_args=()
write_back=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="$2"; shift 2 ;;
    --selftest) selftest="$2"; shift 2 ;;
    --snp-sim) snp_sim=1; shift ;;
    --qemu) shift; extra+=("$@"); break ;;
    --probe-kvm) probe_only=1; shift ;;
    --export) export_dir="$2"; shift 2 ;;
    --split-log) split_log="$2"; shift 2 ;;
    --guest) guest="$2"; shift 2 ;;
    --dir)
      build_args+=(--dir "$2")
      spec="$2"; host="${spec%%::*}"
      if [ "$host" = "$spec" ]; then gpath="$host"; else gpath="${spec#*::}"; fi
      case "$gpath" in *:ro) ;; *) write_back+=("$gpath" "$host") ;; esac
      shift 2 ;;
    --env|--name|--stdin|--fuel|--max-memory|--ramfs-quota) build_args+=("$1" "$2"); shift 2 ;;
    --) shift; guest_args=("$@"); break ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run-qemu.sh: unknown argument '$1' (see --help)" >&2; exit 126 ;;
  esac
done

if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "run-qemu.sh: $qemu not found; install it with: apt-get install qemu-system-x86" >&2
  exit 126
fi

if [ -z "$image" ] && [ -z "$probe_only" ]; then
  if [ -n "$selftest" ]; then
    "$root/scripts/build-kernel.sh" --selftest || exit 126
    image="$root/target/elastic-selftest.bin"
  elif [ -n "$guest" ] || [ -n "$snp_sim" ]; then
    kernel="$root/target/elastic-kernel.bin"
    if [ -n "$snp_sim" ]; then
      "$root/scripts/build-kernel.sh" --snp-sim || exit 126
      kernel="$root/target/elastic-snp-sim.bin"
      if [ -z "$guest" ]; then
        "$root/scripts/build-guests.sh" >&2 || exit 126
        guest="$root/target/guests/snp-selftest.wasm"
      fi
    else
      "$root/scripts/build-kernel.sh" || exit 126
    fi
    mkdir -p "$root/target/run"
    image="$root/target/run/$(basename "${guest%.wasm}")${snp_sim:+-snp-sim}.bin"
    "$root/scripts/elastic" build --guest "$guest" "${build_args[@]}" -o "$image" \
      --kernel "$kernel" -- "${guest_args[@]}" >&2 || exit 126
    if [ ${#write_back[@]} -gt 0 ] && [ -z "$export_dir" ]; then
      export_dir=$(mktemp -d)
      remove_export_dir=1
    fi
  else
    # The demo image: the demo guests baked in with guests/demo/elastic.toml.
    "$root/scripts/build-kernel.sh" || exit 126
    "$root/scripts/build-guests.sh" >&2 || exit 126
    image="$root/target/demo.bin"
    "$root/scripts/elastic" build --manifest "$root/guests/demo/elastic.toml" -o "$image" \
      --kernel "$root/target/elastic-kernel.bin" >&2 || exit 126
  fi
fi
if [ -z "$probe_only" ] && [ ! -f "$image" ]; then
  echo "run-qemu.sh: image '$image' not found" >&2
  exit 126
fi

machine=${ELASTIC_MACHINE:-q35}
case "$machine" in
  microvm) machine_opts="microvm,pit=on,rtc=on" ;;
  q35|pc) machine_opts="$machine" ;;
  *) echo "run-qemu.sh: ELASTIC_MACHINE must be q35, microvm or pc" >&2; exit 126 ;;
esac

# Boots the plain kernel once under KVM and caches whether that works. /dev/kvm existing is not
# enough: some nested setups cannot run x87/SSE guest code (QEMU reports "KVM internal error").
kvm_usable() {
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
  local cache="$root/target/kvm-probe"
  local key
  key="$($qemu --version | head -1) $(uname -r)"
  if [ -f "$cache" ] && [ "$(head -1 "$cache")" = "$key" ]; then
    [ "$(tail -1 "$cache")" = yes ]
    return
  fi
  "$root/scripts/build-kernel.sh" >/dev/null 2>&1 || return 1
  timeout 20 "$qemu" -machine q35,accel=kvm -cpu host,-arch-capabilities -m 256M \
    -bios "$root/target/elastic-kernel.bin" -display none -nodefaults -serial none \
    -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 >/dev/null 2>&1
  local status=$?
  mkdir -p "$root/target"
  if [ $status -eq 3 ]; then
    printf '%s\nyes\n' "$key" > "$cache"
    return 0
  fi
  printf '%s\nno\n' "$key" > "$cache"
  return 1
}

accel=${ELASTIC_ACCEL:-}
if [ -z "$accel" ]; then
  if kvm_usable; then
    accel=kvm
  else
    accel=tcg
    if [ -e /dev/kvm ]; then
      echo "run-qemu.sh: /dev/kvm cannot run Elastic here (probe failed), using TCG" >&2
    fi
  fi
fi
if [ -n "$probe_only" ]; then
  echo "$accel"
  exit 0
fi
case "$accel" in
  # -arch-capabilities: QEMU fails to set MSR 0x10a with plain `-cpu host` on these hosts.
  kvm) cpu="host,-arch-capabilities,+invtsc" ;;
  tcg) cpu="max" ;;
  *) echo "run-qemu.sh: ELASTIC_ACCEL must be kvm or tcg" >&2; exit 126 ;;
esac

args=(
  -machine "$machine_opts,accel=$accel"
  -cpu "$cpu"
  -m "${ELASTIC_MEMORY:-1G}"
  -bios "$image"
  -nographic -nodefaults -serial stdio -monitor none
  -no-reboot
  -device isa-debug-exit,iobase=0xf4,iosize=0x04
)
if [ -n "$selftest" ]; then
  args+=(-fw_cfg "name=opt/elastic/selftest,string=$selftest")
fi
if [ -f "$image.bundle" ]; then
  args+=(-fw_cfg "name=opt/elastic/bundle,file=$image.bundle")
fi
if [ -n "$split_log" ]; then
  args+=(-debugcon "file:$split_log" -fw_cfg "name=opt/elastic/console,string=split")
fi
export_raw=""
if [ -n "$export_dir" ]; then
  export_raw=$(mktemp)
  args+=(-serial "file:$export_raw")
fi

"$qemu" "${args[@]}" "${extra[@]}"
status=$?

if [ -n "$export_raw" ]; then
  syncs=()
  for ((i = 0; i < ${#write_back[@]}; i += 2)); do
    syncs+=(--sync "${write_back[i]}" "${write_back[i+1]}")
  done
  python3 "$root/scripts/unpack-export.py" "$export_raw" "$export_dir" "${syncs[@]}" || status=253
  rm -f "$export_raw"
  [ -n "${remove_export_dir:-}" ] && rm -rf "$export_dir"
fi
# isa-debug-exit: QEMU exits with (value << 1) | 1 and the kernel writes code + 1.
if [ $status -eq 253 ]; then
  echo "run-qemu.sh: the export could not be unpacked" >&2
  exit 126
elif [ $status -eq 0 ]; then
  echo "run-qemu.sh: the machine reset without reporting an exit code (triple fault?)" >&2
  exit 125
elif [ $status -ge 3 ] && [ $((status % 2)) -eq 1 ]; then
  exit $(((status - 3) / 2))
else
  echo "run-qemu.sh: QEMU failed (status $status)" >&2
  exit 126
fi
