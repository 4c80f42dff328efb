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
#
# scripts/fuzz.sh --smoke [SECONDS [TARGET...]]: the CI smoke test (scripts/test.sh). Needs neither
# nightly nor cargo-fuzz: builds every target once with the pinned stable toolchain and the
# instrumentation cargo-fuzz 0.13 passes for `-O -a -s none` (sancov passes, --cfg fuzzing,
# debug assertions and overflow checks; default codegen units, which builds faster), then
# runs each target for SECONDS (default 10) from its seeds and regressions only (new corpus
# entries go to a temporary directory), FUZZ_SMOKE_JOBS (default: the CPU count) targets at
# a time. Fails on any crash, timeout or OOM, copying the input to fuzz/regressions/<target>/.
# Build dir: FUZZ_SMOKE_TARGET_DIR (default target/fuzz-smoke: its own, since the
# instrumentation flags would otherwise rebuild the workspace's artifacts); logs in
# FUZZ_LOG_DIR (default target/fuzz-smoke/logs). Needs a C++ compiler (libFuzzer is C++).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"

smoke() {
    local secs=${1:-10}
    shift || true
    if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
        echo "fuzz.sh --smoke: SECONDS must be a positive integer, not '$secs'" >&2
        return 2
    fi
    local target_dir=${FUZZ_SMOKE_TARGET_DIR:-$root/target/fuzz-smoke}
    local log_dir=${FUZZ_LOG_DIR:-$target_dir/logs}
    local jobs=${FUZZ_SMOKE_JOBS:-$(nproc)}
    local triple
    triple=$(cd "$root" && rustc -vV | sed -n 's/^host: //p')
    local targets=("$@")
    local f
    if [ ${#targets[@]} -eq 0 ]; then
        for f in "$fuzz"/fuzz_targets/*.rs; do
            targets+=("$(basename "$f" .rs)")
        done
    fi
    mkdir -p "$log_dir"
    local start built
    start=$(date +%s)
    # What `cargo fuzz build -O -a -s none` passes (cargo-fuzz 0.13, src/project.rs), minus
    # -Ccodegen-units=1. --target keeps the flags off build scripts and proc macros. Built
    # cold in CI, so compile time counts: opt-level 1 (about half the time of 3, and fast
    # enough for a smoke), 0 for the WAT text parser (wast, the slowest crate to optimise; only
    # the wasi_calls harness runs it).
    local opt=(--config profile.release.opt-level=1)
    for f in wast wat wasm-encoder; do
        opt+=(--config "profile.release.package.$f.opt-level=0")
    done
    local bins=()
    for f in "${targets[@]}"; do bins+=(--bin "$f"); done
    (cd "$root" && RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 --cfg fuzzing -Cdebug-assertions" \
        cargo build -q --manifest-path fuzz/Cargo.toml --locked --target "$triple" --release \
        --config 'profile.release.debug="line-tables-only"' "${opt[@]}" --target-dir "$target_dir" \
        "${bins[@]}") || { echo "fuzz.sh --smoke: build failed" >&2; return 1; }
    built=$(date +%s)
    echo "fuzz smoke: built ${#targets[@]} targets in $((built - start)) s"

    local work
    work=$(mktemp -d)
    # One target: fuzz for $secs from the seeds and regressions, new inputs into $work.
    run_one() {
        local t=$1 log="$log_dir/$1.log" rc=0 t0 t1
        mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
        t0=$(date +%s)
        "$target_dir/$triple/release/$t" "$work/corpus/$t" "$fuzz/seeds/$t" \
            "$fuzz/regressions/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1 || rc=$?
        t1=$(date +%s)
        local execs
        execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -n 1)
        printf '%-16s run %4ss  execs %10s  rc %s\n' "$t" $((t1 - t0)) "${execs:-?}" "$rc"
        if [ "$rc" -ne 0 ]; then
            for f in "$work/artifacts/$t"/*; do
                [ -e "$f" ] && cp "$f" "$fuzz/regressions/$t/"
            done
            echo "fuzz.sh --smoke: $t FAILED (rc $rc); inputs copied to fuzz/regressions/$t/; log $log" >&2
            tail -n 30 "$log" >&2
            return 1
        fi
    }
    export -f run_one
    export work log_dir target_dir triple secs fuzz
    printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} |
        tee "$work/summary" || true
    local failed
    failed=$(grep -cv ' rc 0$' "$work/summary" || true)
    rm -rf "$work"
    echo "fuzz smoke: $secs s per target, $jobs at a time, $(($(date +%s) - start)) s in total"
    # The last line is the summary scripts/test.sh records.
    echo "fuzz smoke: $((${#targets[@]} - failed)) passed, $failed failed"
    [ "$failed" -eq 0 ]
}

if [ "${1:-}" = --smoke ]; then
    shift
    smoke "$@"
    exit
fi

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
