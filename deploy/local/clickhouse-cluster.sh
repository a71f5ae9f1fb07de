#!/usr/bin/env bash
# Start/stop N real ClickHouse servers (chdb-core wheel) on loopback as the
# shards of one cluster, one replica per shard (the chdb engine runs no
# Keeper, so shards cannot be replicated here; docs/scaling.md, "Run here").
#   clickhouse-cluster.sh start|stop|status|nodes
# Environment:
#   CH_NODES (2)          shards
#   CH_CLUSTER (authpulse) the cluster's name in every node's <remote_servers>
#   CH_DATA (.authpulse/clickhouse-cluster)  node N's data in $CH_DATA/nodeN
#   CH_HTTP_PORTS, CH_TCP_PORTS  comma lists, one port per node; unset: the
#                         first free ports from 8123 and from 9000
# Each node is started by clickhouse.sh (so CH_USERS and the TLS options
# apply to every node) and stopped by its PID. `nodes` prints one line per
# node: "N http_port tcp_port" (the ports start chose, kept in $CH_DATA/nodes).
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
    # Shard macros 01, 02, ... as the replicated rendering's Keeper paths
    # expect; each node names the same cluster with every shard in it.
    CH_HTTP_PORT="${http[$((i - 1))]}" CH_TCP_PORT="${tcp[$((i - 1))]}" CH_DATA="$CH_DATA/node$i" \
      CH_CLUSTER="$CH_CLUSTER" CH_CLUSTER_SHARDS="$shards" CH_SHARD="$(printf %02d "$i")" CH_REPLICA=r1 \
      bash "$SCRIPT" start || { stop; exit 1; }
    echo "$i ${http[$((i - 1))]} ${tcp[$((i - 1))]}" >>"$NODES_FILE"
  done
  log "clickhouse cluster '$CH_CLUSTER' up: $CH_NODES shard(s), native $shards"
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
  *) echo "usage: $0 start|stop|status|nodes" >&2; exit 2 ;;
esac
