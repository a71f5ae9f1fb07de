#!/usr/bin/env bash
# Attack 20: >= 100 000 hostile messages (ATTACK_SIZE=large; ci: 3 000) of
# every kind (loadgen's HOSTILE_KINDS: truncated, invalid UTF-8, NUL bytes,
# wrong types, 10 000-level nesting, duplicate keys, pre-1970 and
# out-of-range timestamps, oversized, unknown types) mixed with valid
# events and crafted colliding ids: 100 % dead-lettered with a reason, every
# valid event stored, no stall. Writes $ATTACK_OUT/20-poison.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$AUTHPULSE_REPO"
: "${ATTACK_OUT:?set by deploy/local/attack.sh}"
exec cargo test --test attack_ingest -- --ignored --exact poison --nocapture --test-threads=1
