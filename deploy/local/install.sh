#!/usr/bin/env bash
# Installs what the local stack needs, pinned, and skips what is already there:
#   - Debian packages the bundled librdkafka build wants (cmake, curl/ssl/sasl headers),
#     and wrk for the API attack and the collector benchmark
#   - chdb-core==26.9.0 (a full ClickHouse 26.9 server engine in a wheel), in a
#     virtual environment under $AUTHPULSE_CACHE (pip and venv installed if missing)
#   - PyYAML, jsonschema, kubernetes-validate (deployment-file checks), same venv
#   - Apache Kafka 4.4.0 (KRaft) from Maven Central: the jars of
#     deploy/local/kafka/pom.xml copied into $AUTHPULSE_CACHE/kafka-<version>/libs
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v curl >/dev/null || need_apt+=(curl)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# tests/e2e_secure.rs makes its CA and certificates with the openssl CLI.
command -v openssl >/dev/null || need_apt+=(openssl)
# The API attack (deploy/local/attack/50-api.sh) and the collector benchmark load with wrk.
command -v wrk >/dev/null || need_apt+=(wrk)
[ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -e /usr/include/curl/curl.h ] || need_apt+=(libcurl4-openssl-dev)
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
[ -e /usr/include/sasl/sasl.h ] || need_apt+=(libsasl2-dev)
[ -e /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
[ -e /usr/include/zstd.h ] || need_apt+=(libzstd-dev)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
# A venv with pip: Debian's python3 needs python3-venv for ensurepip.
python3 -c "import ensurepip, venv" 2>/dev/null || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! "$AUTHPULSE_PYTHON" -c "import chdb, sys; sys.exit(chdb.__version__ != '$CHDB_VERSION')" 2>/dev/null; then
  log "installing chdb-core==$CHDB_VERSION into $AUTHPULSE_VENV"
  mkdir -p "$AUTHPULSE_CACHE"
  [ -x "$AUTHPULSE_PYTHON" ] || python3 -m venv "$AUTHPULSE_VENV" || die "python3 -m venv $AUTHPULSE_VENV failed"
  "$AUTHPULSE_PYTHON" -m pip --version >/dev/null 2>&1 || "$AUTHPULSE_PYTHON" -m ensurepip -q
  "$AUTHPULSE_PYTHON" -m pip install -q --disable-pip-version-check "chdb-core==$CHDB_VERSION"
fi

# The deployment-file validators (deploy/validate/validate.py), same venv.
if ! "$AUTHPULSE_PYTHON" -c "import yaml, jsonschema, kubernetes_validate" 2>/dev/null; then
  log "installing PyYAML, jsonschema, kubernetes-validate into $AUTHPULSE_VENV"
  "$AUTHPULSE_PYTHON" -m pip install -q --disable-pip-version-check \
    "PyYAML==$PYYAML_VERSION" "jsonschema==$JSONSCHEMA_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

if [ ! -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
  log "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS.tmp"
  mvn -q -B -f "$AUTHPULSE_REPO/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp" >&2 || die "maven could not fetch Apache Kafka $KAFKA_VERSION"
  rm -rf "$KAFKA_LIBS" && mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
fi
log "dependencies ready: cmake $(cmake --version | head -1 | awk '{print $3}'), chdb-core $CHDB_VERSION, Apache Kafka $KAFKA_VERSION"
