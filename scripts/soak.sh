#!/usr/bin/env bash
# Soak: calls at a steady rate for a while, then a drain; reports RSS growth and
# the calls and SIP transactions left afterwards (both must be 0).
#
#   SOAK_SECONDS=600 SOAK_RATE=20 scripts/soak.sh
#
# Each call is SIPp's built-in UAC: INVITE, ACK, 2 s of the flow's prompts, BYE.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SOAK_SECONDS:-600}"
rate="${SOAK_RATE:-20}"
bin="${SOAK_BIN:-target/release/passgate}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

PASSGATE_SIP__LISTEN=127.0.0.1:0 PASSGATE_HTTP__LISTEN=127.0.0.1:0 \
PASSGATE_DATABASE__URL="sqlite://$work/soak.db" PASSGATE_LOG__LEVEL=warn \
PASSGATE_DATABASE__AUDIT_SPOOL="$work/audit.spool" PASSGATE_ASR__ADMIT_LEARNT_FILE="$work/admission.json" \
PASSGATE_SIP__MAX_CALLS=2000 \
  "$bin" run --config config/passgate.toml >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q "SIP listening" "$work/out" 2>/dev/null && break; sleep 0.2; done
sip=$(sed -n 's/^SIP listening on \([^ ]*\).*/\1/p' "$work/out")
http=$(sed -n 's/^HTTP listening on //p' "$work/out")
[ -n "$sip" ] || { echo "soak: passgate did not start"; cat "$work/log"; exit 1; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
metric() { curl -s "http://$http/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

sleep 3
start_rss=$(rss)
echo "soak: $rate calls/s for $seconds s against $sip (RSS at start: $start_rss KiB)"
calls=$((rate * seconds))
sipp -sn uac -r "$rate" -m "$calls" -d 2000 -nostdin -timeout $((seconds + 60)) \
  -i 127.0.0.1 -p $((30000 + RANDOM % 20000)) "$sip" >"$work/sipp.out" 2>&1 &
sipp_pid=$!
peak=$start_rss
while kill -0 "$sipp_pid" 2>/dev/null; do
  sleep 10
  now=$(rss); [ "$now" -gt "$peak" ] && peak=$now
  echo "soak: t+$((SECONDS))s RSS $now KiB, calls active $(metric passgate_calls_active)"
done
wait "$sipp_pid" && sipp_ok=yes || sipp_ok=no
sleep 10
end_rss=$(rss)
active=$(metric passgate_calls_active)
transactions=$(metric passgate_sip_transactions)
total=$(metric passgate_calls_total)
echo "soak: SIPp all calls succeeded: $sipp_ok; calls $total"
echo "soak: RSS start $start_rss KiB, peak $peak KiB, after drain $end_rss KiB (growth $((end_rss - start_rss)) KiB)"
echo "soak: after drain: calls active $active, SIP transactions $transactions"
[ "$active" = "0" ] || { echo "soak: FAIL: calls left after drain"; exit 1; }
