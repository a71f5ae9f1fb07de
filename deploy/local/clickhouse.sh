#!/usr/bin/env bash
# Start/stop a real ClickHouse 26.9 server (chdb-core wheel) on loopback.
#   clickhouse.sh start|stop|status
# Environment: CH_HTTP_PORT (8123), CH_TCP_PORT (9000), CH_DATA (.authpulse/clickhouse)
# Opt-in (unset: plain HTTP, passwordless `default`, as before):
#   CH_HTTPS_PORT, CH_TLS_CERT, CH_TLS_KEY   also serve HTTPS with this PEM certificate and key
#   CH_USERS="name:password[,...]"           users with passwords; `default` then reads/writes nothing
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CH_HTTP_PORT="${CH_HTTP_PORT:-8123}"
CH_TCP_PORT="${CH_TCP_PORT:-9000}"
CH_DATA="${CH_DATA:-$AUTHPULSE_REPO/.authpulse/clickhouse}"
PIDFILE="$CH_DATA/clickhouse.pid"

ping_http() { [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]; }

start() {
  mkdir -p "$CH_DATA"
  if pid_alive "$PIDFILE"; then
    if wait_for 60 "clickhouse (pid $(cat "$PIDFILE")) on :$CH_HTTP_PORT" ping_http; then
      log "clickhouse already running (pid $(cat "$PIDFILE")) http=$CH_HTTP_PORT"
      return 0
    fi
    die "pid $(cat "$PIDFILE") is alive but clickhouse does not answer on :$CH_HTTP_PORT"
  fi
  rm -f "$PIDFILE"
  if port_open "$CH_HTTP_PORT" || port_open "$CH_TCP_PORT" || { [ -n "${CH_HTTPS_PORT:-}" ] && port_open "$CH_HTTPS_PORT"; }; then
    die "port $CH_HTTP_PORT, $CH_TCP_PORT or ${CH_HTTPS_PORT:-} is taken by another process"
  fi
  "$AUTHPULSE_PYTHON" -c "import chdb, sys; sys.exit(chdb.__version__ != '$CHDB_VERSION')" 2>/dev/null \
    || die "chdb-core==$CHDB_VERSION is not installed: run deploy/local/install.sh"
  # Own session: a Ctrl-C meant for `up` must not reach the server before
  # the consumer has stored and committed (cleanup stops it by PID).
  setsid nohup "$AUTHPULSE_PYTHON" "$AUTHPULSE_REPO/deploy/local/clickhouse_server.py" "$CH_DATA" "$CH_HTTP_PORT" "$CH_TCP_PORT" \
    >>"$CH_DATA/server.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  if ! wait_for 90 "clickhouse on :$CH_HTTP_PORT" ping_http; then
    tail -n 20 "$CH_DATA/server.log" >&2 || true
    stop_pid "$PIDFILE" clickhouse
    exit 1
  fi
  if [ -n "${CH_HTTPS_PORT:-}" ] && ! wait_for 30 "clickhouse https on :$CH_HTTPS_PORT" port_open "$CH_HTTPS_PORT"; then
    tail -n 20 "$CH_DATA/server.log" >&2 || true
    stop_pid "$PIDFILE" clickhouse
    exit 1
  fi
  log "clickhouse up (pid $(cat "$PIDFILE")) http://127.0.0.1:$CH_HTTP_PORT${CH_HTTPS_PORT:+ https://127.0.0.1:$CH_HTTPS_PORT} native=127.0.0.1:$CH_TCP_PORT data=$CH_DATA"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid "$PIDFILE" clickhouse ;;
  status)
    if pid_alive "$PIDFILE" && ping_http; then echo "running pid=$(cat "$PIDFILE") http=$CH_HTTP_PORT"; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
