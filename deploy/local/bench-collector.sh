#!/usr/bin/env bash
# Collector benchmark (docs/benchmarks-collector.md): a broker on a free
# port under a temp dir, `authpulse collect` (release build), and wrk POSTing
# contract batches to /v1/events; every 200 means the broker acknowledged
# all events of the batch (acks=all, idempotent producer).
# Reports events/s, request latency p50/p99, collector CPU per event and
# peak RSS, and checks the topic holds (at least) every acknowledged event.
# Environment: BATCH (500 events per request), CONNS (200), THREADS (2),
#   DURATION (30s), BODIES (100 distinct bodies), PARTITIONS (6),
#   SKIP_BUILD=1, BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$AUTHPULSE_REPO"

BATCH="${BATCH:-500}" CONNS="${CONNS:-200}" THREADS="${THREADS:-2}"
DURATION="${DURATION:-30s}" BODIES="${BODIES:-100}" PARTITIONS="${PARTITIONS:-6}"
TOKEN="bench-contract-token-0123456789"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building authpulse (release)"
  cargo build --release --quiet --bin authpulse
fi
BIN="$AUTHPULSE_REPO/target/release/authpulse"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/authpulse-bench-collector.XXXXXX")"
export BROKER_PORT="$(free_port)" BROKER_DATA="$WORK/broker"
COLLECTOR_PORT="$(free_port)"
PIDFILE="$WORK/collector.pid"

cleanup() {
  trap - EXIT INT TERM
  stop_pid "$PIDFILE" collector || true
  bash deploy/local/broker.sh stop || true
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

bash deploy/local/broker.sh start
bash deploy/local/broker.sh topic auth-events "$PARTITIONS"
bash deploy/local/broker.sh topic auth-events-dlq 1

log "generating $BODIES bodies of $BATCH events"
mkdir -p "$WORK/bodies"
python3 - "$WORK/bodies" "$BODIES" "$BATCH" <<'PY'
import json, sys, uuid, datetime
out, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
for b in range(n):
    events = []
    for i in range(batch):
        k = b * batch + i
        events.append({
            "id": str(uuid.UUID(int=(0xBE << 120) | k)), "type": "login",
            "occurred_at": (t0 + datetime.timedelta(seconds=k)).isoformat().replace("+00:00", "Z"),
            "org": {"id": "7f3e2a10-5b4c-4d8e-9f01-23456789abcd", "slug": "acme"},
            "data": {"success": k % 7 != 0, "failure_reason": "invalid_password" if k % 7 == 0 else None,
                     "user_id": str(uuid.UUID(int=(0xAB << 120) | (k % 5000))),
                     "login_id": f"user{k % 5000}@acme.example",
                     "application_id": "5e8d1c3b-7a9f-4b2e-a6d4-0f1e2c3b4a59", "application_name": "Acme Portal",
                     "provider": "password", "ip": "203.0.113.7",
                     "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}})
    for e in events:
        e["data"] = {k: v for k, v in e["data"].items() if v is not None}
    with open(f"{out}/body-{b}.json", "w") as f:
        json.dump(events, f, separators=(",", ":"))
PY

RUST_LOG=warn "$BIN" collect --listen "127.0.0.1:$COLLECTOR_PORT" --brokers "127.0.0.1:$BROKER_PORT" \
  --contract-token "$TOKEN" --max-inflight-events 400000 >"$WORK/collector.log" 2>&1 &
echo $! >"$PIDFILE"
PID="$(cat "$PIDFILE")"
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$COLLECTOR_PORT/readyz" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$COLLECTOR_PORT/readyz" >/dev/null || die "collector not ready: $(cat "$WORK/collector.log")"

URL="http://127.0.0.1:$COLLECTOR_PORT/v1/events"
LUA="$AUTHPULSE_REPO/deploy/local/collector-bench.lua"
log "warm-up 5 s"
wrk -t"$THREADS" -c"$CONNS" -d5s --timeout 60s -s "$LUA" "$URL" -- "$WORK/bodies" "$BODIES" "$TOKEN" >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
TICK="$(getconf CLK_TCK)"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
CPU0="$(cpu_ticks)"
log "measuring: $CONNS connections, $THREADS threads, $DURATION, $BATCH events per request"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency --timeout 60s -s "$LUA" "$URL" -- "$WORK/bodies" "$BODIES" "$TOKEN" | tee "$WORK/wrk.txt"
CPU1="$(cpu_ticks)"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
RSS_PEAK_KB="$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")"

result="$(grep '^RESULT' "$WORK/wrk.txt")"
val() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $result"; }
requests="$(val requests)" non2xx="$(val non2xx)" secs="$(val duration_s)"
ok=$((requests - non2xx))
# The topic's high watermarks: every acknowledged event must be there.
stored="$(bash deploy/local/broker.sh tool org.apache.kafka.tools.GetOffsetShell \
  --bootstrap-server "127.0.0.1:$BROKER_PORT" --topic auth-events 2>/dev/null \
  | awk -F: '{s += $3} END {print s}')"
python3 - "$ok" "$non2xx" "$secs" "$BATCH" "$CPU0" "$CPU1" "$TICK" "$RSS_PEAK_KB" "$stored" "$(nproc)" "$LOAD_BEFORE" "$LOAD_AFTER" "$result" <<'PY'
import sys
ok, non2xx, secs, batch, c0, c1, tick, rss, stored, cores = (float(x) for x in sys.argv[1:11])
load_before, load_after, result = sys.argv[11:14]
events = ok * batch
cpu_s = (c1 - c0) / tick
fields = dict(kv.split("=") for kv in result.split()[1:])
print(f"""
collector benchmark ({int(batch)} events/request, {fields['rps']} requests/s)
  acknowledged requests (200)   {int(ok)}   non-2xx {int(non2xx)}
  events/s (acked)              {events / secs:,.0f}
  request latency p50 / p90 / p99 / max   {fields['p50_ms']} / {fields['p90_ms']} / {fields['p99_ms']} / {fields['max_ms']} ms
  collector CPU                 {cpu_s:.1f} s over {secs:.1f} s = {cpu_s / secs:.2f} cores; {cpu_s / max(events, 1) * 1e6:.2f} µs per event
  collector peak RSS            {rss / 1024:.0f} MiB
  events in the topic           {int(stored)} (≥ acked events incl. warm-up: {'yes' if stored >= events else 'NO'})
  machine                       {int(cores)} cores, load average before {load_before}, after {load_after}
""")
PY
