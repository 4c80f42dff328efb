#!/usr/bin/env bash
# Runs Elastic's cargo-fuzz (libFuzzer) targets: scripts/fuzz.sh [TARGET|all] [SECONDS]
#
# Each target runs for SECONDS (default 30) in one process, starting from its committed seeds
# (fuzz/seeds/<target>/), its regression inputs (fuzz/regressions/<target>/) and the local
# corpus (fuzz/corpus/<target>/, not committed). A crash, timeout or OOM input is copied to
# fuzz/regressions/<target>/ (replayed from then on by the stable `cargo test`, see
# docs/robustness.md) and the script exits non-zero. Installs the nightly toolchain and
# cargo-fuzz when missing. Environment: CARGO_TARGET_DIR (build dir, default fuzz/target),
# FUZZ_ARGS (extra libFuzzer flags), FUZZ_LOG_DIR (default fuzz/logs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
target=${1:-all}
secs=${2:-30}
log_dir=${FUZZ_LOG_DIR:-$fuzz/logs}
target_dir=${CARGO_TARGET_DIR:-$fuzz/target}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +stable fuzz --version >/dev/null 2>&1; then
    cargo +stable install cargo-fuzz --locked
fi

cd "$fuzz"
if [ "$target" = all ]; then
    # gen_seeds and replay are the crate's stable tools, not fuzz targets.
    mapfile -t targets < <(cargo +nightly fuzz list | grep -v -x -e gen_seeds -e replay)
else
    targets=("$target")
fi
if [ ! -d "$fuzz/seeds" ] || [ -z "$(ls -A "$fuzz/seeds")" ]; then
    CARGO_TARGET_DIR="$target_dir" cargo +stable run -q --bin gen_seeds
fi
mkdir -p "$log_dir"

# Optimised, with debug assertions and overflow checks (an unchecked overflow on hostile data
# is a bug the fuzzer should report), and without AddressSanitizer: the fuzzed code is safe
# Rust (#![forbid(unsafe_code)]), so ASan would find nothing and only halve the speed.
build_flags=(-O -a -s none)
failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "regressions/$t" "seeds/$t"
    log="$log_dir/$t.log"
    start=$(date +%s)
    # Build first so the time limit is spent fuzzing, and a build error is not a "crash".
    cargo +nightly fuzz build "${build_flags[@]}" --target-dir "$target_dir" "$t" >"$log" 2>&1 || {
        echo "fuzz.sh: $t: build failed (see $log)" >&2
        failed+=("$t(build)")
        continue
    }
    built=$(date +%s)
    rc=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    cargo +nightly fuzz run "${build_flags[@]}" --target-dir "$target_dir" "$t" \
        "corpus/$t" "seeds/$t" "regressions/$t" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_ARGS:-} >>"$log" 2>&1 || rc=$?
    end=$(date +%s)
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -n 1)
    summary+=("$(printf '%-16s build %4ss  run %4ss  execs %10s  rc %s' "$t" \
        $((built - start)) $((end - built)) "${execs:-?}" "$rc")")
    if [ "$rc" -ne 0 ]; then
        found=0
        for f in artifacts/"$t"/crash-* artifacts/"$t"/timeout-* artifacts/"$t"/oom-* \
                 artifacts/"$t"/leak-*; do
            [ -e "$f" ] || continue
            cp "$f" "regressions/$t/"
            found=1
        done
        echo "fuzz.sh: $t FAILED (rc $rc); inputs copied to fuzz/regressions/$t/ (found=$found); log $log" >&2
        tail -n 40 "$log" >&2
        failed+=("$t")
    fi
done

printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz.sh: failing targets: ${failed[*]}" >&2
    exit 1
fi
