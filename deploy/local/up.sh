#!/usr/bin/env bash
# Command 1: bring the whole stack up on this machine with demo traffic.
# Installs what is missing, starts ClickHouse and the broker (default ports:
# 8123/9000, 9092), applies migrations, runs ingest + api (127.0.0.1:8080),
# produces demo logins and prints where to look. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$AUTHPULSE_REPO"

export CH_HTTP_PORT="${CH_HTTP_PORT:-8123}" CH_TCP_PORT="${CH_TCP_PORT:-9000}" BROKER_PORT="${BROKER_PORT:-9092}"
API_LISTEN="${AUTHPULSE_API_LISTEN:-127.0.0.1:8080}"
export AUTHPULSE_API_KEYS="${AUTHPULSE_API_KEYS:-demo-api-key-change-me}"

bash deploy/local/install.sh
log "building authpulse (release)"
cargo build --release --quiet --bin authpulse

cleanup() {
  trap - EXIT INT TERM
  log "stopping servers"
  bash deploy/local/broker.sh stop || true
  bash deploy/local/clickhouse.sh stop || true
}
trap cleanup EXIT INT TERM

bash deploy/local/clickhouse.sh start
bash deploy/local/broker.sh start
bash deploy/local/broker.sh topic auth-events 4
bash deploy/local/broker.sh topic auth-events-dlq 1

target/release/authpulse up \
  --clickhouse-url "http://127.0.0.1:$CH_HTTP_PORT" \
  --brokers "127.0.0.1:$BROKER_PORT" \
  --listen "$API_LISTEN" \
  --metrics-listen "127.0.0.1:${METRICS_PORT:-9464}" \
  --demo-events "${DEMO_EVENTS:-2000}"
