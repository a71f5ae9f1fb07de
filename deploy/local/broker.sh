#!/usr/bin/env bash
# Start/stop the nisshi 0.8.1 Kafka-protocol broker on loopback.
#   broker.sh start|stop|status
# Environment: BROKER_PORT (9092), BROKER_DATA (.authpulse/broker),
#   BROKER_STORAGE (sqlite: durable, survives SIGKILL with committed offsets | memory: fast, lost on restart),
#   BROKER_REBALANCE_DELAY (group initial rebalance delay, default 0s)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BROKER_PORT="${BROKER_PORT:-9092}"
BROKER_DATA="${BROKER_DATA:-$AUTHPULSE_REPO/.authpulse/broker}"
BROKER_STORAGE="${BROKER_STORAGE:-sqlite}"
BROKER_REBALANCE_DELAY="${BROKER_REBALANCE_DELAY:-0s}"
PIDFILE="$BROKER_DATA/broker.pid"

case "$BROKER_STORAGE" in
  sqlite) ENGINE="sqlite://nisshi.db" ;; # relative to BROKER_DATA (the broker's working directory)
  memory) ENGINE="memory://nisshi/" ;;
  *) die "BROKER_STORAGE must be sqlite or memory, not $BROKER_STORAGE" ;;
esac

start() {
  mkdir -p "$BROKER_DATA"
  if pid_alive "$PIDFILE"; then
    if wait_for 30 "broker (pid $(cat "$PIDFILE")) on :$BROKER_PORT" port_open "$BROKER_PORT"; then
      log "broker already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$BROKER_PORT"
      return 0
    fi
    die "pid $(cat "$PIDFILE") is alive but the broker does not answer on :$BROKER_PORT"
  fi
  rm -f "$PIDFILE"
  port_open "$BROKER_PORT" && die "port $BROKER_PORT is taken by another process"
  [ -x "$NISSHI_BIN" ] || die "nisshi is not installed at $NISSHI_BIN: run deploy/local/install.sh"
  (
    cd "$BROKER_DATA"
    # Own session, so a Ctrl-C of `up` reaches only the services (see clickhouse.sh).
    exec setsid nohup "$NISSHI_BIN" broker \
      --listener-url "tcp://127.0.0.1:$BROKER_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
      --storage-engine "$ENGINE" \
      --group-initial-rebalance-delay "$BROKER_REBALANCE_DELAY" \
      >>"$BROKER_DATA/broker.log" 2>&1 </dev/null
  ) &
  echo $! >"$PIDFILE"
  if ! wait_for 60 "broker on :$BROKER_PORT" port_open "$BROKER_PORT"; then
    tail -n 20 "$BROKER_DATA/broker.log" >&2 || true
    stop_pid "$PIDFILE" broker
    exit 1
  fi
  log "broker up (pid $(cat "$PIDFILE")) 127.0.0.1:$BROKER_PORT storage=$BROKER_STORAGE data=$BROKER_DATA"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid "$PIDFILE" broker ;;
  status)
    if pid_alive "$PIDFILE" && port_open "$BROKER_PORT"; then echo "running pid=$(cat "$PIDFILE") port=$BROKER_PORT"; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
