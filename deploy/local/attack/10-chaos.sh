#!/usr/bin/env bash
# Attack 10: >= 10 M events (ATTACK_SIZE=large; ci: 200 k) produced while
# ingest instances are SIGKILLed again and again (two at a time part of the
# time, so partitions rebalance), ClickHouse is stopped and SIGKILLed
# mid-stream and the broker restarts; raw rows, every rollup and the dead
# letters must equal the oracle. Writes $ATTACK_OUT/10-chaos.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$AUTHPULSE_REPO"
: "${ATTACK_OUT:?set by deploy/local/attack.sh}"
exec cargo test --test attack_ingest -- --ignored --exact chaos --nocapture --test-threads=1
