#!/usr/bin/env bash
# Installs what the local stack needs, pinned, and skips what is already there:
#   - Debian packages the bundled librdkafka build wants (cmake, curl/ssl/sasl headers)
#   - chdb-core==26.9.0 (a full ClickHouse 26.9 server engine in a wheel)
#   - the nisshi 0.8.1 Kafka-protocol broker, built once into $AUTHPULSE_CACHE
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v curl >/dev/null || need_apt+=(curl)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -e /usr/include/curl/curl.h ] || need_apt+=(libcurl4-openssl-dev)
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
[ -e /usr/include/sasl/sasl.h ] || need_apt+=(libsasl2-dev)
[ -e /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c "import chdb, sys; sys.exit(chdb.__version__ != '$CHDB_VERSION')" 2>/dev/null; then
  log "installing chdb-core==$CHDB_VERSION"
  python3 -m pip install -q --disable-pip-version-check "chdb-core==$CHDB_VERSION"
fi

if ! "$NISSHI_BIN" --version 2>/dev/null | grep -q "$NISSHI_VERSION"; then
  log "building nisshi $NISSHI_VERSION into $NISSHI_ROOT (once; ~15 min on 2 cores)"
  mkdir -p "$AUTHPULSE_CACHE"
  # Built outside the repo's workspace so its lockfile and target stay apart.
  (cd "$AUTHPULSE_CACHE" && CARGO_TARGET_DIR="$AUTHPULSE_CACHE/nisshi-target" cargo install nisshi \
    --version "$NISSHI_VERSION" --no-default-features --features dynostore,libsql \
    --ignore-rust-version --root "$NISSHI_ROOT" 2>&1 | tail -n 3)
  "$NISSHI_BIN" --version >/dev/null || die "nisshi build failed"
  rm -rf "$AUTHPULSE_CACHE/nisshi-target"
fi
log "dependencies ready: cmake $(cmake --version | head -1 | awk '{print $3}'), chdb-core $CHDB_VERSION, nisshi $NISSHI_VERSION"
