#!/usr/bin/env bash
# Start/stop Apache Kafka (KRaft, combined broker+controller) on loopback,
# run from the jars install.sh fetched from Maven Central.
#   broker.sh start|stop|status
#   broker.sh topic NAME PARTITIONS      create a topic if it does not exist
#   broker.sh tool CLASS ARGS...         run a Kafka tool class (e.g. org.apache.kafka.tools.ConsumerGroupCommand)
# Environment:
#   BROKER_PORT (9092)              client listener
#   BROKER_CONTROLLER_PORT          KRaft controller listener (default: a free port, kept in the data dir)
#   BROKER_DATA (.authpulse/broker) log dirs, server.properties, broker.log, broker.pid
#   BROKER_HEAP (768m)              JVM heap
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
PIDFILE="$BROKER_DATA/broker.pid"
PROPS="$BROKER_DATA/server.properties"

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

write_properties() {
  local controller="${BROKER_CONTROLLER_PORT:-$(free_port)}"
  cat >"$PROPS" <<EOF
# Written by deploy/local/broker.sh at format time; kept for restarts.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$BROKER_DATA/logs
num.partitions=1
# One node: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=$BROKER_REBALANCE_DELAY_MS
auto.create.topics.enable=true
EOF
  if [ -n "${BROKER_EXTRA_PROPERTIES:-}" ]; then
    [ -f "$BROKER_EXTRA_PROPERTIES" ] || die "BROKER_EXTRA_PROPERTIES=$BROKER_EXTRA_PROPERTIES is not a file"
    # Later keys win in a Java properties file, so these override the above.
    { echo "# from $BROKER_EXTRA_PROPERTIES"; cat "$BROKER_EXTRA_PROPERTIES"; } >>"$PROPS"
  fi
}

start() {
  mkdir -p "$BROKER_DATA"
  if pid_alive "$PIDFILE"; then
    if wait_for 60 "broker (pid $(cat "$PIDFILE")) on :$BROKER_PORT" port_open "$BROKER_PORT"; then
      log "broker already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$BROKER_PORT"
      return 0
    fi
    die "pid $(cat "$PIDFILE") is alive but the broker does not answer on :$BROKER_PORT"
  fi
  rm -f "$PIDFILE"
  port_open "$BROKER_PORT" && die "port $BROKER_PORT is taken by another process"
  if [ ! -f "$BROKER_DATA/logs/meta.properties" ]; then
    write_properties
    local cluster_id
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    # shellcheck disable=SC2086 # BROKER_FORMAT_ARGS is a list of arguments
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" ${BROKER_FORMAT_ARGS:-} >>"$BROKER_DATA/broker.log" 2>&1 \
      || { tail -n 20 "$BROKER_DATA/broker.log" >&2; die "formatting KRaft storage in $BROKER_DATA/logs failed"; }
  fi
  grep -q "PLAINTEXT://127.0.0.1:$BROKER_PORT" "$PROPS" \
    || die "$BROKER_DATA was formatted for another port (see $PROPS); use that BROKER_PORT or a new BROKER_DATA"
  local before
  before="$(grep -c 'Kafka Server started' "$BROKER_DATA/broker.log" 2>/dev/null || true)"
  # Own session, so a Ctrl-C of `up` reaches only the services (see clickhouse.sh).
  setsid nohup "$(java_bin)" -Xms128m -Xmx"$BROKER_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$AUTHPULSE_REPO/deploy/local/kafka/log4j2.yaml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$PROPS" >>"$BROKER_DATA/broker.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  started() { [ "$(grep -c 'Kafka Server started' "$BROKER_DATA/broker.log" 2>/dev/null || true)" -gt "${before:-0}" ] && port_open "$BROKER_PORT"; }
  if ! wait_for 90 "broker on :$BROKER_PORT" started; then
    tail -n 30 "$BROKER_DATA/broker.log" >&2 || true
    stop_pid "$PIDFILE" broker
    exit 1
  fi
  log "broker up (pid $(cat "$PIDFILE")) Apache Kafka $KAFKA_VERSION 127.0.0.1:$BROKER_PORT data=$BROKER_DATA"
}

topic() {
  local name="${1:?topic name}" partitions="${2:?partition count}"
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$BROKER_PORT" \
    --create --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor 1 >/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid "$PIDFILE" broker ;;
  status)
    if pid_alive "$PIDFILE" && port_open "$BROKER_PORT"; then echo "running pid=$(cat "$PIDFILE") port=$BROKER_PORT"; else echo stopped; exit 1; fi ;;
  topic) shift; topic "$@" ;;
  tool) shift; kafka_java "$@" ;;
  *) echo "usage: $0 start|stop|status|topic NAME PARTITIONS|tool CLASS ARGS..." >&2; exit 2 ;;
esac
