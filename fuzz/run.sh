#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS (default 60) and prints the
# executions each one did. Usage: fuzz/run.sh [target...]
# cargo fuzz needs nightly-only flags (-Zsanitizer); on the pinned stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sip_message sdp rtp flow)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
cargo fuzz build
mkdir -p target/corpus target/logs
summary=()
for t in "${targets[@]}"; do
    # New inputs go to target/corpus/<t>; the checked-in seeds stay as they are.
    mkdir -p "target/corpus/$t"
    log="target/logs/$t.log"
    echo "== fuzzing $t for ${seconds}s"
    if ! cargo fuzz run "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log"
        echo "FAIL: $t crashed; the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
    summary+=("$t: $runs executions in ${seconds}s")
done
printf '%s\n' "${summary[@]}"
