#!/usr/bin/env bash
# A CPU profile of the agent during one P5 step: runs the bench at N callers
# (one step, a fresh agent), attaches `perf record` to the agent it starts
# for SECONDS, then prints the step's row, the agent's decision breakdown
# and the profile by library and by function.
#
#   bench/p5-perf.sh [N] [SECONDS] [OUT_DIR]
#
# Needs a release build (`cargo build --release -p passgate -p passgate-bench`)
# and perf (apt-get install linux-perf).
set -euo pipefail
n=${1:-250}
seconds=${2:-45}
out=${3:-$(mktemp -d)}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }
mkdir -p "$out"
BENCH_P5_STEPS=$n BENCH_AGENT_BIN="$root/target/release/passgate" \
  "$root/target/release/passgate-bench" --out "$out" p5 >"$out/bench.log" 2>&1 &
bench=$!
agent=
for _ in $(seq 1 200); do
  agent=$(pgrep -f -n "$root/target/release/passgate run" || true)
  [ -n "$agent" ] && break
  sleep 0.2
done
[ -n "$agent" ] || { echo "the bench started no agent; see $out/bench.log" >&2; exit 1; }
sleep 3
perf record -F 499 -p "$agent" -o "$out/perf.data" -- sleep "$seconds" >/dev/null 2>&1
wait "$bench"
grep -E "^\| $n " "$out/report.md" || true
grep "agent-side" "$out/bench.log" || true
perf report -i "$out/perf.data" --no-children --stdio --sort dso 2>/dev/null | grep -E "^ +[0-9]" | head -8
perf report -i "$out/perf.data" --no-children --stdio --sort sym 2>/dev/null | grep -E "^ +[0-9]" | head -25
