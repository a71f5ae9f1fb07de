#!/usr/bin/env bash
# Benchmarks: starts its own ClickHouse and Apache Kafka broker on free
# ports under a temp dir, builds the release binaries (authpulse, and
# authpulse-bench from bench/), runs `authpulse-bench` (arguments are passed
# through) against `authpulse`, writes docs/benchmarks.md and stops the
# servers by PID.
#   deploy/local/bench.sh                                   # defaults
#   deploy/local/bench.sh --events 100000 --sizes 100000   # quick
# Environment: BENCH_OUT (docs/benchmarks.md), BENCH_JSON (target/bench.json),
#   BENCH_KEEP=1 keeps the temp dir, SKIP_INSTALL=1 skips install.sh,
#   BENCH_PROFILE=dev uses debug binaries (checks the bench, not figures).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$AUTHPULSE_REPO"

BENCH_OUT="${BENCH_OUT:-$AUTHPULSE_REPO/docs/benchmarks.md}"
BENCH_JSON="${BENCH_JSON:-$AUTHPULSE_REPO/target/bench.json}"

[ "${SKIP_INSTALL:-0}" = 1 ] || bash deploy/local/install.sh
# BENCH_PROFILE=dev builds and measures debug binaries (a quick check of
# the bench itself, not figures to publish).
BENCH_PROFILE="${BENCH_PROFILE:-release}"
case "$BENCH_PROFILE" in
  release) profile_args=(--release); bin_dir=target/release ;;
  dev) profile_args=(); bin_dir=target/debug ;;
  *) echo "BENCH_PROFILE must be release or dev, not $BENCH_PROFILE" >&2; exit 2 ;;
esac
log "building authpulse and authpulse-bench ($BENCH_PROFILE)"
cargo build "${profile_args[@]}" --quiet -p authpulse -p authpulse-bench --bin authpulse --bin authpulse-bench

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/authpulse-bench.XXXXXX")"
export CH_HTTP_PORT="$(free_port)" CH_TCP_PORT="$(free_port)" BROKER_PORT="$(free_port)"
export CH_DATA="$WORK/clickhouse" BROKER_DATA="$WORK/broker"

cleanup() {
  trap - EXIT INT TERM
  bash deploy/local/broker.sh stop || true
  bash deploy/local/clickhouse.sh stop || true
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

bash deploy/local/clickhouse.sh start
bash deploy/local/broker.sh start

mkdir -p "$(dirname "$BENCH_JSON")" "$WORK/bench"
# Profile 1(a) with perf when it works here (BENCH_PERF=0 turns it off).
perf_arg=()
if [ "${BENCH_PERF:-1}" = 1 ] && command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  perf_arg=(--perf)
fi
"$bin_dir/authpulse-bench" \
  --authpulse-bin "$bin_dir/authpulse" \
  --clickhouse-url "http://127.0.0.1:$CH_HTTP_PORT" \
  --brokers "127.0.0.1:$BROKER_PORT" \
  --workdir "$WORK/bench" \
  --clickhouse-pid "$(cat "$CH_DATA/clickhouse.pid")" \
  --broker-pid "$(cat "$BROKER_DATA/broker.pid")" \
  --info "broker=Apache Kafka $KAFKA_VERSION (KRaft, one node)" \
  --info "rustc=$(rustc --version)" \
  --info "OS=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")" \
  --info "git commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')" \
  "${perf_arg[@]}" \
  --json "$BENCH_JSON" \
  --markdown "$BENCH_OUT" \
  "$@"
log "benchmarks written to $BENCH_OUT (raw: $BENCH_JSON)"
