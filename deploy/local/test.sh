#!/usr/bin/env bash
# Command 2: run every test. Tests start and stop their own ClickHouse and
# broker (through clickhouse.sh / broker.sh) on free ports under a temp dir.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$AUTHPULSE_REPO"
bash deploy/local/install.sh
# Deployment files (Grafana, compose, Kubernetes): no servers, seconds.
"$AUTHPULSE_PYTHON" deploy/validate/validate.py
# Server-backed tests are heavy on 2 cores: run test binaries' tests two at a time.
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" "$@"
# The attack suite at CI size (chaos, poison, fuzz, ...: deploy/local/attack.sh),
# a few minutes; its report goes to target/ so a test run does not rewrite
# docs/reliability.md. SKIP_ATTACK=1 skips it.
if [ "${SKIP_ATTACK:-0}" != 1 ]; then
  ATTACK_SIZE=ci ATTACK_DOC="${ATTACK_DOC:-$AUTHPULSE_REPO/target/reliability.md}" \
    bash deploy/local/attack.sh
fi
