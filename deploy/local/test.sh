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
