#!/usr/bin/env bash
# Start/stop Apache Kafka (KRaft, combined broker+controller) on loopback,
# run from the jars install.sh fetched from Maven Central. One node by
# default; BROKER_NODES=3 runs a three-node cluster (a controller quorum of
# three, internal topics and new topics with replication factor 3 and
# min.insync.replicas=2: a node can die without losing an acknowledged write).
#   broker.sh start|stop|status          every node
#   broker.sh start-node N|stop-node N   one node (SIGTERM, then SIGKILL after 15 s)
#   broker.sh kill-node N                SIGKILL one node by its PID (a crash)
#   broker.sh bootstrap                  print host:port,... of every node
#   broker.sh topic NAME PARTITIONS      create a topic if it does not exist
#   broker.sh tool CLASS ARGS...         run a Kafka tool class (e.g. org.apache.kafka.tools.ConsumerGroupCommand)
# Environment:
#   BROKER_PORT (9092)              client listener (one node)
#   BROKER_CONTROLLER_PORT          KRaft controller listener (default: a free port, kept in the data dir)
#   BROKER_NODES (1)                1, or 3 for a cluster (any N >= 2 works)
#   BROKER_PORTS (9092,9093,9094)   client listeners of the cluster's nodes, in node order
#   BROKER_CONTROLLER_PORTS         their controller listeners (default: free ports, kept in the data dir)
#   BROKER_DATA (.authpulse/broker) log dirs, server.properties, broker.log, broker.pid;
#                                   a cluster keeps node N in BROKER_DATA/node-N
#   BROKER_HEAP (768m)              JVM heap, per node
#   BROKER_REBALANCE_DELAY_MS (0)   group.initial.rebalance.delay.ms
#   BROKER_EXTRA_PROPERTIES         a file of server properties appended at format time
#                                   (listeners with SASL/TLS, for instance)
#   BROKER_FORMAT_ARGS              extra arguments to kafka-storage format
#                                   (e.g. --add-scram 'SCRAM-SHA-512=[name=u,password=p]')
# The log is durable across a broker SIGKILL (page cache); a restart on the
# same BROKER_DATA keeps topics, offsets and committed group offsets.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BROKER_PORT="${BROKER_PORT:-9092}"
BROKER_DATA="${BROKER_DATA:-$AUTHPULSE_REPO/.authpulse/broker}"
BROKER_HEAP="${BROKER_HEAP:-768m}"
BROKER_REBALANCE_DELAY_MS="${BROKER_REBALANCE_DELAY_MS:-0}"
BROKER_NODES="${BROKER_NODES:-1}"
[[ "$BROKER_NODES" =~ ^[1-9][0-9]*$ ]] || die "BROKER_NODES=$BROKER_NODES is not a node count"
if [ "$BROKER_NODES" -gt 1 ]; then
  IFS=, read -r -a NODE_PORTS <<<"${BROKER_PORTS:-$(seq -s, 9092 $((9091 + BROKER_NODES)))}"
  [ "${#NODE_PORTS[@]}" -eq "$BROKER_NODES" ] \
    || die "BROKER_PORTS=${BROKER_PORTS:-} names ${#NODE_PORTS[@]} ports for BROKER_NODES=$BROKER_NODES"
  # Three replicas where there are three nodes; an acks=all write is
  # acknowledged once all but one of them have it.
  REPLICATION=$((BROKER_NODES < 3 ? BROKER_NODES : 3))
  MIN_ISR=$((REPLICATION - 1))
else
  NODE_PORTS=("$BROKER_PORT")
  REPLICATION=1
  MIN_ISR=1
fi

# node N: sets NODE_ID, NODE_PORT, NODE_DIR, PIDFILE, PROPS, NODE_LOG.
# One node keeps the layout it always had (everything in BROKER_DATA).
node() {
  local n="${1:?node number}"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$BROKER_NODES" ] \
    || die "node $n: BROKER_NODES=$BROKER_NODES has nodes 1..$BROKER_NODES"
  NODE_ID="$n"
  NODE_PORT="${NODE_PORTS[$((n - 1))]}"
  if [ "$BROKER_NODES" -gt 1 ]; then NODE_DIR="$BROKER_DATA/node-$n"; else NODE_DIR="$BROKER_DATA"; fi
  PIDFILE="$NODE_DIR/broker.pid"
  PROPS="$NODE_DIR/server.properties"
  NODE_LOG="$NODE_DIR/broker.log"
}

node_name() { if [ "$BROKER_NODES" -gt 1 ]; then echo "broker node $NODE_ID"; else echo broker; fi; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

kafka_java() {
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] \
    || die "Apache Kafka $KAFKA_VERSION is not installed in $KAFKA_LIBS: run deploy/local/install.sh"
  "$(java_bin)" -Dlog4j2.configurationFile="$AUTHPULSE_REPO/deploy/local/kafka/log4j2-tools.yaml" \
    -cp "$KAFKA_LIBS/*" "$@"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

bootstrap() { printf '127.0.0.1:%s\n' "${NODE_PORTS[@]}" | paste -sd, -; }

# write_properties CONTROLLER_PORT VOTERS: the current node's server.properties.
write_properties() {
  local controller="$1" voters="$2"
  mkdir -p "$NODE_DIR"
  cat >"$PROPS" <<EOF
# Written by deploy/local/broker.sh at format time; kept for restarts.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$NODE_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$NODE_DIR/logs
num.partitions=1
# Internal topics and new topics: $REPLICATION replica(s), min.insync.replicas=$MIN_ISR.
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$REPLICATION
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=$BROKER_REBALANCE_DELAY_MS
# The consumer group protocol (KIP-848, group.protocol=consumer) takes the
# session timeout and heartbeat interval from the broker, not the client:
# the 10 s / 1 s that ingest sets client-side under the classic protocol.
group.consumer.min.session.timeout.ms=6000
group.consumer.session.timeout.ms=10000
group.consumer.min.heartbeat.interval.ms=1000
group.consumer.heartbeat.interval.ms=1000
auto.create.topics.enable=true
EOF
  if [ -n "${BROKER_EXTRA_PROPERTIES:-}" ]; then
    [ -f "$BROKER_EXTRA_PROPERTIES" ] || die "BROKER_EXTRA_PROPERTIES=$BROKER_EXTRA_PROPERTIES is not a file"
    # Later keys win in a Java properties file, so these override the above.
    { echo "# from $BROKER_EXTRA_PROPERTIES"; cat "$BROKER_EXTRA_PROPERTIES"; } >>"$PROPS"
  fi
}

# Formats every node's storage once, with one cluster id and one quorum.
format() {
  mkdir -p "$BROKER_DATA"
  local unformatted=0 n
  for n in $(seq 1 "$BROKER_NODES"); do
    node "$n"
    [ -f "$NODE_DIR/logs/meta.properties" ] || unformatted=$((unformatted + 1))
  done
  [ "$unformatted" = 0 ] && return 0
  [ "$unformatted" = "$BROKER_NODES" ] \
    || die "some nodes in $BROKER_DATA are formatted and others not: remove $BROKER_DATA to start afresh"
  local controllers=() voters="" cluster_id
  if [ "$BROKER_NODES" -gt 1 ]; then
    if [ -n "${BROKER_CONTROLLER_PORTS:-}" ]; then
      IFS=, read -r -a controllers <<<"$BROKER_CONTROLLER_PORTS"
    else
      for n in $(seq 1 "$BROKER_NODES"); do controllers+=("$(free_port)"); done
    fi
    [ "${#controllers[@]}" -eq "$BROKER_NODES" ] \
      || die "BROKER_CONTROLLER_PORTS=$BROKER_CONTROLLER_PORTS names ${#controllers[@]} ports for BROKER_NODES=$BROKER_NODES"
  else
    controllers=("${BROKER_CONTROLLER_PORT:-$(free_port)}")
  fi
  for n in $(seq 1 "$BROKER_NODES"); do
    voters+="${voters:+,}$n@127.0.0.1:${controllers[$((n - 1))]}"
  done
  cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [ -n "$cluster_id" ] || die "kafka-storage random-uuid printed nothing"
  for n in $(seq 1 "$BROKER_NODES"); do
    node "$n"
    write_properties "${controllers[$((n - 1))]}" "$voters"
    # shellcheck disable=SC2086 # BROKER_FORMAT_ARGS is a list of arguments
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" ${BROKER_FORMAT_ARGS:-} >>"$NODE_LOG" 2>&1 \
      || { tail -n 20 "$NODE_LOG" >&2; die "formatting KRaft storage in $NODE_DIR/logs failed"; }
  done
}

started_count() { grep -c 'Kafka Server started' "$NODE_LOG" 2>/dev/null || true; }

# launch_node N: starts node N's JVM unless it runs, and prints what
# wait_node needs: "running", or how many starts its log had before.
launch_node() {
  node "$1"
  if pid_alive "$PIDFILE"; then
    echo running
    return 0
  fi
  rm -f "$PIDFILE"
  port_open "$NODE_PORT" && die "port $NODE_PORT is taken by another process"
  grep -q "PLAINTEXT://127.0.0.1:$NODE_PORT" "$PROPS" \
    || die "$NODE_DIR was formatted for another port (see $PROPS); use that port or a new BROKER_DATA"
  started_count
  # Own session, so a Ctrl-C of `up` reaches only the services (see clickhouse.sh).
  setsid nohup "$(java_bin)" -Xms128m -Xmx"$BROKER_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$AUTHPULSE_REPO/deploy/local/kafka/log4j2.yaml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$PROPS" >>"$NODE_LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
}

# wait_node N BEFORE: waits for node N to log a new start and take clients.
wait_node() {
  node "$1"
  local before="$2"
  if [ "$before" = running ]; then
    wait_for 60 "$(node_name) (pid $(cat "$PIDFILE")) on :$NODE_PORT" port_open "$NODE_PORT" \
      || die "pid $(cat "$PIDFILE") is alive but $(node_name) does not answer on :$NODE_PORT"
    log "$(node_name) already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$NODE_PORT"
    return 0
  fi
  started() { [ "$(started_count)" -gt "${before:-0}" ] && port_open "$NODE_PORT"; }
  if ! wait_for 120 "$(node_name) on :$NODE_PORT" started; then
    tail -n 30 "$NODE_LOG" >&2 || true
    stop_pid "$PIDFILE" "$(node_name)"
    return 1
  fi
  log "$(node_name) up (pid $(cat "$PIDFILE")) Apache Kafka $KAFKA_VERSION 127.0.0.1:$NODE_PORT data=$NODE_DIR"
}

# start [N...]: launches the nodes together (a node of a cluster finishes
# starting only once a majority of the controller quorum is up), then waits.
start() {
  format
  local nodes=("$@") before=() n i b failed=0
  [ "${#nodes[@]}" -gt 0 ] || mapfile -t nodes < <(seq 1 "$BROKER_NODES")
  for n in "${nodes[@]}"; do
    b="$(launch_node "$n")" || exit 1
    before+=("$b")
  done
  for i in "${!nodes[@]}"; do wait_node "${nodes[$i]}" "${before[$i]}" || failed=1; done
  [ "$failed" = 0 ] || exit 1
}

# stop [N...]: SIGTERM to the nodes at once (a cluster node stopping last
# would wait for a quorum that is gone), each then waited for by stop_pid.
stop() {
  local nodes=("$@") n i pids=()
  [ "${#nodes[@]}" -gt 0 ] || mapfile -t nodes < <(seq 1 "$BROKER_NODES")
  for n in "${nodes[@]}"; do
    node "$n"
    pids+=("$(cat "$PIDFILE" 2>/dev/null || true)")
    if pid_alive "$PIDFILE"; then kill -TERM "$(cat "$PIDFILE")" 2>/dev/null || true; fi
  done
  for i in "${!nodes[@]}"; do
    node "${nodes[$i]}"
    if [ -n "${pids[$i]}" ] && [ -f "$PIDFILE" ] && ! pid_alive "$PIDFILE"; then
      rm -f "$PIDFILE"
      log "$(node_name) stopped (pid ${pids[$i]})"
    else
      stop_pid "$PIDFILE" "$(node_name)"
    fi
  done
}

# kill_node N: SIGKILL by PID, as a crash or a power cut of that node would.
kill_node() {
  node "$1"
  pid_alive "$PIDFILE" || die "$(node_name) is not running"
  local pid
  pid="$(cat "$PIDFILE")"
  kill -KILL "$pid"
  wait_for 30 "pid $pid to exit" bash -c "! kill -0 $pid" || die "pid $pid survived SIGKILL"
  rm -f "$PIDFILE"
  log "$(node_name) killed (SIGKILL, pid $pid)"
}

status() {
  local n down=0 prefix=""
  for n in $(seq 1 "$BROKER_NODES"); do
    node "$n"
    [ "$BROKER_NODES" -gt 1 ] && prefix="node $n "
    if pid_alive "$PIDFILE" && port_open "$NODE_PORT"; then
      echo "${prefix}running pid=$(cat "$PIDFILE") port=$NODE_PORT"
    else
      echo "${prefix}stopped"
      down=1
    fi
  done
  return "$down"
}

topic() {
  local name="${1:?topic name}" partitions="${2:?partition count}"
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" \
    --create --if-not-exists --topic "$name" --partitions "$partitions" \
    --replication-factor "$REPLICATION" --config "min.insync.replicas=$MIN_ISR" >/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  start-node) start "${2:?node number}" ;;
  stop-node) stop "${2:?node number}" ;;
  kill-node) kill_node "${2:?node number}" ;;
  bootstrap) bootstrap ;;
  topic) shift; topic "$@" ;;
  tool) shift; kafka_java "$@" ;;
  *) echo "usage: $0 start|stop|status|start-node N|stop-node N|kill-node N|bootstrap|topic NAME PARTITIONS|tool CLASS ARGS..." >&2; exit 2 ;;
esac
