#!/usr/bin/env bash
# Boots an Elastic image as an AMD SEV-SNP guest: QEMU >= 9.1 with KVM on an SNP-enabled host.
#
#   scripts/run-snp.sh [--image FILE] [--vcpus N] [--cpu MODEL] [--policy HEX] [--memory SIZE]
#                      [--secure-tsc HZ] [--print-cmd] [--no-host-check] [--qemu QEMU-ARGS...]
#
# With no --image it builds the demo image the way scripts/run-qemu.sh does. It checks the host
# first (QEMU version, /dev/kvm, /dev/sev, the kvm_amd sev_snp parameter) and says what is
# missing; --no-host-check skips that (QEMU then reports the first missing piece itself).
# --print-cmd prints the QEMU command line (and the expected launch measurement) and exits.
# Before launching it prints the expected launch measurement (`elastic measure`), to compare
# with the MEASUREMENT field of a report from the guest (`elastic verify --measurement`).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qemu=${ELASTIC_QEMU:-qemu-system-x86_64}
image=""
vcpus=1
cpu=EPYC-v4
policy=0x30000
memory=1G
secure_tsc=""
print_only=""
host_check=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="$2"; shift 2 ;;
    --vcpus) vcpus="$2"; shift 2 ;;
    --cpu) cpu="$2"; shift 2 ;;
    --policy) policy="$2"; shift 2 ;;
    --memory) memory="$2"; shift 2 ;;
    --secure-tsc) secure_tsc="$2"; shift 2 ;;
    --print-cmd) print_only=1; shift ;;
    --no-host-check) host_check=""; shift ;;
    --qemu) shift; extra+=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run-snp.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "run-snp.sh: $qemu not found; SEV-SNP needs QEMU >= 9.1 (Debian: apt-get install -t bookworm-backports qemu-system-x86)" >&2
  exit 2
fi
if ! "$qemu" -object help 2>/dev/null | grep -q sev-snp-guest; then
  echo "run-snp.sh: $($qemu --version | head -1) has no sev-snp-guest object; SEV-SNP needs QEMU >= 9.1" >&2
  exit 2
fi
if [ -n "$secure_tsc" ] && ! "$qemu" -object sev-snp-guest,help 2>/dev/null | grep -q secure-tsc; then
  echo "run-snp.sh: --secure-tsc needs QEMU >= 10.2 (sev-snp-guest has no secure-tsc property here)" >&2
  exit 2
fi

if [ -z "$image" ]; then
  "$root/scripts/build-kernel.sh" || exit 2
  "$root/scripts/build-guests.sh" >&2 || exit 2
  image="$root/target/demo.bin"
  "$root/scripts/elastic" build --manifest "$root/guests/demo/elastic.toml" -o "$image" \
    --kernel "$root/target/elastic-kernel.bin" >&2 || exit 2
fi
[ -f "$image" ] || { echo "run-snp.sh: image '$image' not found" >&2; exit 2; }

snp_opts="id=sev0,cbitpos=51,reduced-phys-bits=1,policy=$policy"
[ -n "$secure_tsc" ] && snp_opts+=",secure-tsc=on,tsc-frequency=$secure_tsc"
cmd=(
  "$qemu"
  -machine q35,confidential-guest-support=sev0,memory-backend=ram1,accel=kvm
  -cpu "$cpu" -smp "$vcpus" -m "$memory"
  -object "memory-backend-memfd,id=ram1,size=$memory,share=true,prealloc=false"
  -object "sev-snp-guest,$snp_opts"
  -bios "$image"
  -nographic -nodefaults -serial stdio -monitor none -no-reboot
)
[ -f "$image.bundle" ] && cmd+=(-fw_cfg "name=opt/elastic/bundle,file=$image.bundle")
cmd+=("${extra[@]}")

measurement=$("$root/scripts/elastic" measure "$image" --vcpus "$vcpus" --vcpu-type "$cpu" 2>/dev/null || true)
if [ -n "$print_only" ]; then
  printf '%q ' "${cmd[@]}"
  echo
  [ -n "$measurement" ] && echo "# expected launch measurement: $measurement"
  exit 0
fi

if [ -n "$host_check" ]; then
  missing=()
  [ -c /dev/kvm ] || missing+=("/dev/kvm (KVM)")
  [ -c /dev/sev ] || missing+=("/dev/sev (the AMD PSP driver ccp; an SEV-SNP-capable AMD EPYC host)")
  snp=$(cat /sys/module/kvm_amd/parameters/sev_snp 2>/dev/null || echo "")
  [ "$snp" = Y ] || [ "$snp" = 1 ] || missing+=("kvm_amd with sev_snp=Y (host kernel >= 6.11 with SNP, firmware >= 1.51)")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "run-snp.sh: this host cannot launch SEV-SNP guests; missing:" >&2
    for m in "${missing[@]}"; do echo "  - $m" >&2; done
    echo "run-snp.sh: --print-cmd shows the command; --no-host-check runs QEMU anyway" >&2
    exit 3
  fi
fi

[ -n "$measurement" ] && echo "run-snp.sh: expected launch measurement $measurement" >&2
# Under SEV-SNP the kernel ends with a GHCB termination request (reason set 3, the exit code
# as reason code; docs/snp.md) rather than isa-debug-exit, after printing
# "elastic: exit code N" on the console; that line gives this script's status. Without it
# (e.g. a termination with set 0..2 during bring-up), QEMU's own status is reported.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"${cmd[@]}" | tee "$log"
status=${PIPESTATUS[0]}
code=$(grep -a -o 'elastic: exit code [0-9]*' "$log" | tail -1 | awk '{print $4}')
if [ -n "$code" ]; then
  exit "$code"
fi
echo "run-snp.sh: the guest ended without an exit code (QEMU status $status); a GHCB" \
  "termination reason, if any, is in QEMU's or the host kernel's log (docs/snp.md lists them)" >&2
exit $(( status == 0 ? 126 : status ))
