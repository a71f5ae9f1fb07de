# Shared helpers for the local-stack scripts. Sourced, not executed.
# Servers are tracked by PID files and stopped by PID, never by name.

AUTHPULSE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AUTHPULSE_CACHE="${AUTHPULSE_CACHE:-$HOME/.cache/authpulse}"
KAFKA_VERSION="4.4.0" # keep in step with deploy/local/kafka/pom.xml
KAFKA_LIBS="$AUTHPULSE_CACHE/kafka-$KAFKA_VERSION/libs"
CHDB_VERSION="26.9.0"
# The chdb-core wheel lives in its own virtual environment: Debian's system
# Python refuses `pip install` outside one (PEP 668).
AUTHPULSE_VENV="${AUTHPULSE_VENV:-$AUTHPULSE_CACHE/venv}"
AUTHPULSE_PYTHON="$AUTHPULSE_VENV/bin/python"
PYYAML_VERSION=6.0.4 JSONSCHEMA_VERSION=4.26.0 KUBERNETES_VALIDATE_VERSION=1.37.0

log() { printf '[authpulse] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_alive PIDFILE -> 0 when the file names a live process.
pid_alive() {
  local f="$1" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f" 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# stop_pid PIDFILE NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
  local f="$1" name="$2" pid i
  if ! pid_alive "$f"; then
    rm -f "$f"
    log "$name not running"
    return 0
  fi
  pid="$(cat "$f")"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$f"
  log "$name stopped (pid $pid)"
}

# port_open PORT -> 0 when something accepts TCP on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_for SECONDS DESCRIPTION CMD... : retry CMD every 0.2 s.
wait_for() {
  local secs="$1" what="$2" i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "timed out after ${secs}s waiting for $what"
  return 1
}
