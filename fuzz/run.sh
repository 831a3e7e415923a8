#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short, fixed time (default
# 20 s, or the first argument), starting from the checked-in seeds in
# corpus/<target>/ plus what earlier runs found (work/<target>/, ignored by
# git). Fails on any crash, panic, timeout or out-of-memory; the input that
# did it is saved under artifacts/<target>/. See docs/fuzzing.md.
#
# Needs a nightly toolchain (cargo-fuzz uses libFuzzer through rustc's
# sanitizer-coverage flags); installs cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-20}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: 'cargo +nightly' is not available; install it with: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Always fuzz/target: cargo-fuzz looks for its binaries there, and the
# instrumented build must never mix with the main one.
unset CARGO_TARGET_DIR
# No AddressSanitizer: every crate forbids unsafe code, so what fuzzing can
# find is a panic (debug assertions and overflow checks stay on), a timeout or
# unbounded memory, and without ASan the build is quicker and runs faster.
build=(--sanitizer none --codegen-units 16)

cargo +nightly fuzz build "${build[@]}"
for target in $(cargo +nightly fuzz list); do
    mkdir -p "work/$target"
    log="work/$target.log"
    if ! cargo +nightly fuzz run "${build[@]}" "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz/run.sh: $target failed; the input is under fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz $target: ${runs:-?} runs in ${secs} s (${speed:-?}/s), no crash"
done
