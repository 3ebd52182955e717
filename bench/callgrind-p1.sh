#!/usr/bin/env bash
# P1's signalling work counted in instructions instead of CPU time: a build of
# passgate runs under callgrind (instrumented only while the calls are
# measured) and SIPp's `uac` places CALLS calls at RATE calls/s against it
# (INVITE, ACK, BYE at once, as P1 does). Instruction counts do not move with
# the load on the machine, which CPU time on a shared 2-core box does by
# ±20 %; they leave out the kernel's work (system calls, page cache).
#
#   bench/callgrind-p1.sh ROOT BINARY [CALLS] [RATE] [OUT_DIR]
#
# ROOT is the checkout BINARY was built from (its config/passgate.toml is
# used). SQL, if set, is run against the agent's SQLite database before the
# calls (to try a schema change on a running build). Prints the instructions
# per call and the 25 costliest functions. Admission by recognizer load is
# off (asr.admit_max_load = 0), as in P2: under callgrind a recognizer turn
# measures some 30 s at start, which would refuse every call.
set -euo pipefail
root=$1
binary=$2
calls=${3:-1000}
rate=${4:-50}
out=${5:-$(mktemp -d)}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp is missing: apt-get install sip-tester" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/callgrind.out.*
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd "$root"
PASSGATE_SIP__LISTEN=127.0.0.1:$port PASSGATE_HTTP__LISTEN=127.0.0.1:0 \
  PASSGATE_DATABASE__URL=sqlite://$work/passgate.db PASSGATE_DATABASE__AUDIT_SPOOL=$work/audit.spool PASSGATE_ASR__ADMIT_LEARNT_FILE=$work/admission.json \
  PASSGATE_LOG__LEVEL=warn PASSGATE_PROMPTS__CACHE_DIR=$root/target/prompt-cache PASSGATE_ASR__ADMIT_MAX_LOAD=0 \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out.%p" \
  "$binary" run --config config/passgate.toml >"$work/stdout" 2>"$work/agent.log" &
agent=$!
trap 'kill $agent 2>/dev/null || true' EXIT
uac() {
  local n=$1
  shift
  (cd "$work" && sipp -sn uac -i 127.0.0.1 -p 0 -d 0 -nostdin -r "$rate" -m "$n" -timeout 600 "$@" \
    127.0.0.1:"$port" >/dev/null 2>>"$work/sipp.err")
}
for _ in $(seq 1 300); do
  uac 1 2>/dev/null && break
  sleep 2
done
if [ -n "${SQL:-}" ]; then sqlite3 "$work/passgate.db" "$SQL"; fi
# Every prompt rendered and every cache warm before counting.
uac 100
callgrind_control -i on "$agent" >/dev/null
uac "$calls" -trace_stat -stf "$work/stat.csv"
sleep 2
callgrind_control -i off "$agent" >/dev/null
callgrind_control -d "$agent" >/dev/null
sleep 2
kill "$agent"
wait "$agent" 2>/dev/null || true
trap - EXIT
failed=$(tail -1 "$work/stat.csv" | cut -d';' -f18)
dump=$(ls "$out"/callgrind.out.*.1)
total=$(grep -E '^totals:' "$dump" | awk '{print $2}')
echo "$binary: $total instructions for $calls calls ($failed failed) = $((total / calls)) per call"
callgrind_annotate "$dump" 2>/dev/null | sed -n '/^Ir .*file:function/,$p' | sed -n '3,27p' | cut -c1-160
