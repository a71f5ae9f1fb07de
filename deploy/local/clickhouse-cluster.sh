#!/usr/bin/env bash
# Start/stop N real ClickHouse servers (chdb-core wheel) on loopback as the
# shards of one cluster, one replica per shard (the chdb engine runs no
# Keeper, so shards cannot be replicated here; docs/scaling.md, "Run here").
#   clickhouse-cluster.sh start|stop|status|nodes|kill-node N|start-node N
# Environment:
#   CH_NODES (2)          shards
#   CH_CLUSTER (authpulse) the cluster's name in every node's <remote_servers>
#   CH_DATA (.authpulse/clickhouse-cluster)  node N's data in $CH_DATA/nodeN
#   CH_HTTP_PORTS, CH_TCP_PORTS  comma lists, one port per node; unset: the
#                         first free ports from 8123 and from 9000
# Each node is started by clickhouse.sh (so CH_USERS and the TLS options
# apply to every node) and stopped by its PID. `nodes` prints one line per
# node: "N http_port tcp_port" (the ports start chose, kept in $CH_DATA/nodes).
# kill-node N SIGKILLs node N by PID (a crash: data stays) and waits until
# it is gone; start-node N starts it again on its data and ports.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CH_NODES="${CH_NODES:-2}"
CH_CLUSTER="${CH_CLUSTER:-authpulse}"
CH_DATA="${CH_DATA:-$AUTHPULSE_REPO/.authpulse/clickhouse-cluster}"
NODES_FILE="$CH_DATA/nodes"
SCRIPT="$AUTHPULSE_REPO/deploy/local/clickhouse.sh"

# free_ports FROM COUNT AVOID...: COUNT ports from FROM up that nothing
# listens on and that are not in AVOID.
free_ports() {
  local p="$1" n="$2" out=()
  shift 2
  while [ "${#out[@]}" -lt "$n" ]; do
    if ! port_open "$p" && [[ " $* " != *" $p "* ]]; then out+=("$p"); fi
    p=$((p + 1))
  done
  echo "${out[*]}"
}

start() {
  [[ "$CH_NODES" =~ ^[1-9][0-9]*$ ]] || die "CH_NODES must be a positive number"
  mkdir -p "$CH_DATA"
  local http tcp
  if [ -n "${CH_HTTP_PORTS:-}" ]; then http="${CH_HTTP_PORTS//,/ }"; else http="$(free_ports 8123 "$CH_NODES")"; fi
  if [ -n "${CH_TCP_PORTS:-}" ]; then tcp="${CH_TCP_PORTS//,/ }"; else tcp="$(free_ports 9000 "$CH_NODES" $http)"; fi
  read -r -a http <<<"$http"
  read -r -a tcp <<<"$tcp"
  [ "${#http[@]}" -eq "$CH_NODES" ] && [ "${#tcp[@]}" -eq "$CH_NODES" ] \
    || die "CH_HTTP_PORTS and CH_TCP_PORTS need $CH_NODES ports each"
  local shards="" i
  for i in $(seq 1 "$CH_NODES"); do shards+="${shards:+,}127.0.0.1:${tcp[$((i - 1))]}"; done
  : >"$NODES_FILE"
  for i in $(seq 1 "$CH_NODES"); do
    echo "$i ${http[$((i - 1))]} ${tcp[$((i - 1))]}" >>"$NODES_FILE"
  done
  for i in $(seq 1 "$CH_NODES"); do
    start_node "$i" || { stop; exit 1; }
  done
  log "clickhouse cluster '$CH_CLUSTER' up: $CH_NODES shard(s), native $shards"
}

# The cluster as start recorded it: every node's native endpoint.
shard_list() {
  local i h t out=""
  while read -r i h t; do out+="${out:+,}127.0.0.1:$t"; done <"$NODES_FILE"
  echo "$out"
}

# node_ports N -> "http tcp" of node N.
node_ports() {
  local i h t
  [ -f "$NODES_FILE" ] || die "no $NODES_FILE: start the cluster first"
  while read -r i h t; do [ "$i" = "$1" ] && { echo "$h $t"; return 0; }; done <"$NODES_FILE"
  die "no node $1 in $NODES_FILE"
}

start_node() {
  local ports http tcp
  ports="$(node_ports "$1")"
  read -r http tcp <<<"$ports"
  # Shard macros 01, 02, ... as the replicated rendering's Keeper paths
  # expect; each node names the same cluster with every shard in it.
  CH_HTTP_PORT="$http" CH_TCP_PORT="$tcp" CH_DATA="$CH_DATA/node$1" \
    CH_CLUSTER="$CH_CLUSTER" CH_CLUSTER_SHARDS="$(shard_list)" CH_SHARD="$(printf %02d "$1")" CH_REPLICA=r1 \
    bash "$SCRIPT" start
}

kill_node() {
  local f="$CH_DATA/node$1/clickhouse.pid" pid i
  node_ports "$1" >/dev/null
  pid_alive "$f" || die "node $1 is not running"
  pid="$(cat "$f")"
  kill -KILL "$pid"
  # The engine takes a moment to die; clickhouse.sh start would take a
  # dying PID for a live server that does not answer.
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && die "node $1 (pid $pid) survived SIGKILL for 30 s"
  rm -f "$f"
  log "clickhouse node $1 killed (pid $pid)"
}

stop() {
  local d
  for d in "$CH_DATA"/node*/; do
    [ -d "$d" ] || continue
    stop_pid "$d/clickhouse.pid" "clickhouse $(basename "$d")"
  done
}

status() {
  [ -f "$NODES_FILE" ] || { echo stopped; exit 1; }
  local i h t rc=0
  while read -r i h t; do
    if pid_alive "$CH_DATA/node$i/clickhouse.pid" && [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$h/ping" 2>/dev/null)" = "Ok." ]; then
      echo "node $i running pid=$(cat "$CH_DATA/node$i/clickhouse.pid") http=$h tcp=$t"
    else
      echo "node $i stopped"; rc=1
    fi
  done <"$NODES_FILE"
  return "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  nodes) [ -f "$NODES_FILE" ] && cat "$NODES_FILE" ;;
  kill-node) kill_node "${2:?node number}" ;;
  start-node) start_node "${2:?node number}" ;;
  *) echo "usage: $0 start|stop|status|nodes|kill-node N|start-node N" >&2; exit 2 ;;
esac
