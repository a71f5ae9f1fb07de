#!/usr/bin/env bash
# Command 2: run every test. Tests start and stop their own ClickHouse and
# broker (through clickhouse.sh / broker.sh) on free ports under a temp dir.
# The delivery tests (tests/e2e_ingest.rs) run a second time with ingest on
# the other consumer group protocol (TEST_BOTH_PROTOCOLS=0 skips that run).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$AUTHPULSE_REPO"
bash deploy/local/install.sh
# A full run writes ~2.5 GB of build output (target/, debug info trimmed in
# Cargo.toml), ~1 GB for the fuzzer's build and the servers' data under
# $TMPDIR. A full disk shows up late and cryptically (a linker "Bus error"),
# so say it here.
need_gb=5
for dir in "$AUTHPULSE_REPO" "${TMPDIR:-/tmp}"; do
  free_gb=$(( $(df -Pk "$dir" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
  log "free disk at $dir: ${free_gb} GB"
  [ "$free_gb" -ge 2 ] || die "only ${free_gb} GB free at $dir; the test run needs about ${need_gb} GB (build output, fuzzer build, servers' data)"
  [ "$free_gb" -ge "$need_gb" ] || log "warning: only ${free_gb} GB free at $dir; the test run needs about ${need_gb} GB"
done
# Deployment files (Grafana, compose, Kubernetes): no servers, seconds.
"$AUTHPULSE_PYTHON" deploy/validate/validate.py
# Server-backed tests are heavy on 2 cores: run test binaries' tests two at a time.
rc=0
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" "$@" || rc=$?
if [ "${TEST_BOTH_PROTOCOLS:-1}" = 1 ]; then
  # ingest's default is classic (docs/delivery.md, "Consumer group protocol").
  log "delivery tests again with group.protocol=consumer (KIP-848)"
  TEST_GROUP_PROTOCOL=consumer cargo test --test e2e_ingest --no-fail-fast \
    -- --test-threads="${TEST_THREADS:-2}" "$@" || rc=$?
fi
# The attack suite at CI size (chaos, poison, fuzz, API: deploy/local/attack.sh);
# its report goes to target/ so a test run does not rewrite docs/reliability.md.
# SKIP_ATTACK=1 skips it.
if [ "${SKIP_ATTACK:-0}" != 1 ]; then
  ATTACK_SIZE=ci ATTACK_DOC="${ATTACK_DOC:-$AUTHPULSE_REPO/target/reliability.md}" \
    bash deploy/local/attack.sh || rc=$?
fi
exit "$rc"
