#!/usr/bin/env bash
# Attack 30: cargo-fuzz (libFuzzer) on the event parser, fuzz/fuzz_targets/
# parse.rs, for ATTACK_FUZZ_SECS (ci: 60, large: 900), seeded with the
# contract's examples. No input may panic; every input decodes (and
# round-trips) or is a typed rejection. Needs the nightly toolchain;
# installs cargo-fuzz if missing. Writes $ATTACK_OUT/30-fuzz.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$AUTHPULSE_REPO"
: "${ATTACK_OUT:?set by deploy/local/attack.sh}"
case "${ATTACK_SIZE:-ci}" in large) secs="${ATTACK_FUZZ_SECS:-900}" ;; *) secs="${ATTACK_FUZZ_SECS:-60}" ;; esac
md="$ATTACK_OUT/30-fuzz.md"
out="$ATTACK_OUT/30-fuzz.fuzz.log"

rustup toolchain list | grep -q '^nightly' || die "the nightly toolchain is needed (rustup toolchain install nightly)"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cd fuzz
mkdir -p corpus/parse
cargo +nightly fuzz build parse
status=0
cargo +nightly fuzz run parse corpus/parse ../schemas/examples -- \
  -max_total_time="$secs" -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 >"$out" 2>&1 || status=$?
runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1)"
peak="$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1)"
cov="$(grep -o 'cov: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*')"
corpus="$(find corpus/parse -type f | wc -l)"
{
  printf '## 30-fuzz: the event parser under libFuzzer\n\n'
  if [ "$status" = 0 ]; then
    printf 'Result: **PASS**. '
  else
    printf 'Result: **FAIL** (exit %s; the crashing input is under fuzz/artifacts/parse/). ' "$status"
  fi
  printf '`cargo +nightly fuzz run parse` (fuzz/fuzz_targets/parse.rs) for %s s, seeded with schemas/examples:\n' "$secs"
  printf 'no panic; every input decoded (re-encoded by `to_json` and parsed back to the same event,\n'
  printf 'inside the accepted time range) or was rejected with one of `ContractError::CODES`.\n\n'
  printf '| figure | value |\n|---|---|\n'
  printf '| inputs executed | %s |\n| coverage (edges) | %s |\n| corpus size | %s |\n| peak RSS (MB) | %s |\n' \
    "${runs:-?}" "${cov:-?}" "$corpus" "${peak:-?}"
  if [ "$status" != 0 ]; then
    printf '\n```\n'
    tail -n 40 "$out"
    printf '```\n'
  fi
} >"$md"
exit "$status"
