#!/usr/bin/env bash
# Attack suite, API half (run by deploy/local/attack.sh, or alone):
#   1. authorization matrix: every endpoint x every kind of bad credential,
#      spoofed org slugs (tests/e2e_authz.rs, real servers), plus the
#      overload/coalescing test (tests/e2e_overload.rs);
#   2. schema-driven fuzzing of GET /openapi.json with schemathesis;
#   3. load: wrk with 200 connections on four report endpoints, identical
#      requests (coalesced) and distinct ones (admission bound only).
# Starts its own ClickHouse, broker, ingest and api on free loopback ports
# with loadgen data under a temp dir; stops them by PID.
# ATTACK_SIZE=ci|large (default ci), ATTACK_OUT=<dir> (default a temp dir).
# Writes $ATTACK_OUT/50-api.md (figures) and exits non-zero on any failure:
# a matrix cell that leaks, a 5xx or schema mismatch from the fuzzer, a 5xx
# other than 503 or a 503 without Retry-After under load.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"
cd "$AUTHPULSE_REPO"

SIZE="${ATTACK_SIZE:-ci}"
OUT="${ATTACK_OUT:-$(mktemp -d /tmp/authpulse-attack-out.XXXXXX)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
REPORT="$OUT/50-api.md"
LOGS="$OUT/50-api"
mkdir -p "$LOGS"
case "$SIZE" in
  ci) EVENTS=20000; FUZZ_EXAMPLES=20; FUZZ_MAX_TIME=240; LOAD_SECS=20 ;;
  large) EVENTS=1000000; FUZZ_EXAMPLES=200; FUZZ_MAX_TIME=1800; LOAD_SECS=60 ;;
  *) die "ATTACK_SIZE must be ci or large, not '$SIZE'" ;;
esac
LOAD_CONNS="${LOAD_CONNS:-200}"
# Requests querying ClickHouse at once (the api's --max-store-requests).
MAX_STORE="${ATTACK_MAX_STORE_REQUESTS:-16}"
ST_VENV="$AUTHPULSE_CACHE/schemathesis-venv"
ST_VERSION="4.32.5"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"

WORK="$(mktemp -d /tmp/authpulse-attack-api.XXXXXX)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export CH_HTTP_PORT="$(free_port)" CH_TCP_PORT="$(free_port)" BROKER_PORT="$(free_port)"
export CH_DATA="$WORK/clickhouse" BROKER_DATA="$WORK/broker"
API_PORT="$(free_port)"
API="http://127.0.0.1:$API_PORT"
export AUTHPULSE_CLICKHOUSE_URL="http://127.0.0.1:$CH_HTTP_PORT" AUTHPULSE_BROKERS="127.0.0.1:$BROKER_PORT"
BIN="$AUTHPULSE_REPO/target/debug/authpulse"
FAILED=()

cleanup() {
  trap - EXIT INT TERM
  for f in "$WORK"/*.pid; do
    [ -e "$f" ] && stop_pid "$f" "$(basename "$f" .pid)"
  done
  bash deploy/local/broker.sh stop >/dev/null 2>&1 || true
  bash deploy/local/clickhouse.sh stop >/dev/null 2>&1 || true
  cp "$WORK"/*.log "$LOGS"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

section() { printf '\n## %s\n\n' "$*" >>"$REPORT"; }
fail() { FAILED+=("$*"); log "FAIL: $*"; }

{
  echo "# Attack: API (authorization, fuzzing, load)"
  echo
  echo "Size \`$SIZE\`, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
} >"$REPORT"

# ---- 1. authorization matrix and overload tests (cargo test) ------------
log "authorization matrix (tests/e2e_authz.rs) and overload (tests/e2e_overload.rs)"
section "Authorization matrix"
if cargo test --quiet --test e2e_authz -- --nocapture --test-threads=1 >"$LOGS/e2e_authz.log" 2>&1; then
  authz_rc=0
else
  authz_rc=$?
  fail "tests/e2e_authz.rs failed (see 50-api/e2e_authz.log)"
fi
python3 - "$LOGS/e2e_authz.log" >>"$REPORT" <<'EOF'
import sys, collections
cells = collections.OrderedDict()
endpoints = set()
for line in open(sys.argv[1], errors="replace"):
    if not line.startswith("AUTHZ|"):
        continue
    _, endpoint, cred, status, verdict = line.strip().split("|")
    if cred == "none":
        endpoints.add(endpoint)
    c = cells.setdefault(cred, {"statuses": collections.Counter(), "ok": 0, "fail": 0})
    c["statuses"][status] += 1
    c["ok" if verdict == "ok" else "fail"] += 1
print(f"{len(endpoints)} endpoints; each cell checks the status and that a refusal has an empty body.\n")
print("| credential | requests | answers | leaks/mismatches |")
print("|---|---|---|---|")
for cred, c in cells.items():
    answers = ", ".join(f"{s}x{n}" for s, n in sorted(c["statuses"].items()))
    print(f"| {cred} | {c['ok'] + c['fail']} | {answers} | {c['fail']} |")
if not cells:
    print("No matrix lines: the test did not get that far.")
EOF
echo >>"$REPORT"
echo "Slug ownership (first claim wins): spoofed, colliding, backdated and renamed slugs — $( [ "$authz_rc" = 0 ] && echo passed || echo FAILED) (tests/e2e_authz.rs)." >>"$REPORT"

if cargo test --quiet --test e2e_overload -- --nocapture --test-threads=1 >"$LOGS/e2e_overload.log" 2>&1; then
  echo "Overload test (tests/e2e_overload.rs): passed — admission bound and ClickHouse refusing both answer 503 + Retry-After; $(grep -h '^COALESCE|' "$LOGS/e2e_overload.log" | awk -F'|' '{print $2 " cost ClickHouse " $3 " (a single request: " $4 ")"}')." >>"$REPORT"
else
  fail "tests/e2e_overload.rs failed (see 50-api/e2e_overload.log)"
  echo "Overload test (tests/e2e_overload.rs): **FAILED**." >>"$REPORT"
fi

# ---- own stack with loadgen data -----------------------------------------
log "building authpulse"
cargo build --quiet --bin authpulse
bash deploy/local/clickhouse.sh start
bash deploy/local/broker.sh start
bash deploy/local/broker.sh topic auth-events 4 >/dev/null
bash deploy/local/broker.sh topic auth-events-dlq 1 >/dev/null
"$BIN" migrate --timezones UTC >"$WORK/migrate.log" 2>&1 || die "migrate failed: $(cat "$WORK/migrate.log")"

start_bg() { # NAME CMD...
  local name="$1"
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  echo $! >"$WORK/$name.pid"
}
start_bg ingest "$BIN" ingest --batch-wait-ms 200
log "producing $EVENTS loadgen events"
"$BIN" loadgen --events "$EVENTS" --orgs 3 --span-days 30 --rate 0 --quiet --truth "$WORK/truth.json" \
  >"$WORK/loadgen.log" 2>&1 || die "loadgen failed: $(cat "$WORK/loadgen.log")"
VALID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["valid_events"])' "$WORK/truth.json")"
stored() {
  curl -sS "$AUTHPULSE_CLICKHOUSE_URL/" --data-binary \
    "SELECT (SELECT count() FROM authpulse.login_events) + (SELECT count() FROM authpulse.registration_events) + (SELECT count() FROM authpulse.token_events) + (SELECT count() FROM authpulse.session_events) + (SELECT count() FROM authpulse.audit_events)"
}
ingested() { [ "$(stored)" = "$VALID" ]; }
wait_for 900 "ingest of $VALID events" ingested || die "ingest stored $(stored) of $VALID events"
log "ingested $VALID events"

# The api: an HS256 JWT secret and one key with every scope and a
# membership in the first loadgen org.
SECRET="attack-api-hs256-secret-0123456789abcdef"
KEY="attack-api-all-scopes-key"
ORG="acme"
cat >"$WORK/auth.json" <<EOF
{ "api_keys": [ { "key": "$KEY", "name": "attack", "scopes": ["*"], "memberships": { "$ORG": "Owner" } } ],
  "jwt": { "hs256_secrets": ["$SECRET"] } }
EOF
start_bg api "$BIN" api --listen "127.0.0.1:$API_PORT" --auth-config "$WORK/auth.json" \
  --max-store-requests "$MAX_STORE"
wait_for 60 "api" curl -sf "$API/jans-auth/sys/health-check" || die "api did not start: $(cat "$WORK/api.log")"

# ---- 2. schema-driven fuzzing --------------------------------------------
section "Schema-driven fuzzing (schemathesis $ST_VERSION)"
if [ ! -x "$ST_VENV/bin/schemathesis" ]; then
  log "installing schemathesis $ST_VERSION into $ST_VENV"
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"
log "schemathesis: $FUZZ_EXAMPLES examples per operation"
set +e
# Run from the temp dir: schemathesis leaves a .schemathesis/ state dir.
(cd "$WORK" && "$ST_VENV/bin/schemathesis" run "$API/openapi.json" --url "$API" \
  -H "Authorization: $KEY" --checks "$CHECKS" --max-examples "$FUZZ_EXAMPLES" \
  --phases examples,coverage,fuzzing --max-time "$FUZZ_MAX_TIME" --seed 50 --workers 2 \
  --no-color --request-timeout 60 --generation-database none \
  --report junit --report-junit-path "$LOGS/schemathesis-junit.xml" >"$LOGS/schemathesis.log" 2>&1)
st_rc=$?
set -e
python3 - "$LOGS/schemathesis-junit.xml" "$st_rc" >>"$REPORT" <<'EOF'
import sys, xml.etree.ElementTree as ET
path, rc = sys.argv[1], int(sys.argv[2])
try:
    root = ET.parse(path).getroot()
except Exception as e:
    print(f"No JUnit report ({e}); exit code {rc}.")
    sys.exit(0)
cases = root.iter("testcase")
ops = fails = errors = 0
lines = []
for c in cases:
    ops += 1
    for kind in ("failure", "error"):
        for f in c.findall(kind):
            if kind == "failure":
                fails += 1
            else:
                errors += 1
            msg = (f.get("message") or f.text or "").strip().splitlines()
            lines.append(f"- `{c.get('name')}`: {kind}: {msg[0] if msg else ''}")
print(f"Checks: `not_a_server_error` (no response >= 500), status code, content type, headers and body schema conformance. "
      f"{ops} operations; {fails} failing, {errors} errored; schemathesis exit code {rc}.\n")
print("\n".join(lines[:40]) if lines else "No failures: 0 responses >= 500, 0 schema mismatches.")
EOF
if [ "$st_rc" != 0 ]; then
  fail "schemathesis found failures (see 50-api/schemathesis.log)"
fi
echo >>"$REPORT"
echo "Test cases: $(sed -n '/^Test cases:/{n;p}' "$LOGS/schemathesis.log" | sed 's/^ *//'), seed 50, $FUZZ_EXAMPLES examples per operation, phases examples, coverage, fuzzing." >>"$REPORT"

# ---- 3. load ---------------------------------------------------------------
section "Load: wrk, $LOAD_CONNS connections, ${LOAD_SECS}s per run, api (debug build) --max-store-requests $MAX_STORE"
now_ms=$(($(date +%s) * 1000))
start_ms=$((now_ms - 30 * 86400000))
PATHS="/api/report/login?start=$start_ms&end=$now_ms /api/report/daily-active-users?start=$start_ms&end=$now_ms /api/report/monthly-active-users?start=$start_ms&end=$now_ms /api/organizations/$ORG/analytics/login-trends"
{
  echo "Endpoints (rotated): \`/api/report/login\`, \`/api/report/daily-active-users\`, \`/api/report/monthly-active-users\` (30 days), \`/api/organizations/$ORG/analytics/login-trends\`."
  echo
  echo "| run | requests | req/s | p50 ms | p99 ms | max ms | answers | 5xx other than 503 | 503 without Retry-After | socket errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} >>"$REPORT"
for mode in identical distinct; do
  distinct=0
  [ "$mode" = distinct ] && distinct=1
  log "wrk: $mode requests, $LOAD_CONNS connections, ${LOAD_SECS}s"
  LOAD_PATHS="$PATHS" LOAD_AUTH="$KEY" LOAD_DISTINCT="$distinct" \
    wrk -t2 -c"$LOAD_CONNS" -d"${LOAD_SECS}s" --timeout 30s --latency -s "$HERE/api-load.lua" "$API" \
    >"$LOGS/wrk-$mode.log" 2>&1 || fail "wrk ($mode) did not run"
  line="$(grep '^LOAD|' "$LOGS/wrk-$mode.log" || true)"
  if [ -z "$line" ]; then
    fail "wrk ($mode) printed no summary"
    continue
  fi
  python3 - "$mode" "$line" >>"$REPORT" <<'EOF'
import sys
mode, line = sys.argv[1], sys.argv[2]
f = dict(p.split("=", 1) for p in line.split("|")[1:])
print(f"| {mode} | {f['requests']} | {f['rps']} | {f['p50_ms']} | {f['p99_ms']} | {f['max_ms']} | {f['statuses']} | {f['5xx_not_503']} | {f['503_without_retry_after']} | {f['socket_errors']} |")
EOF
  field() { echo "$line" | tr '|' '\n' | sed -n "s/^$1=//p"; }
  [ "$(field 5xx_not_503)" = 0 ] || fail "wrk ($mode): $(field 5xx_not_503) answers 5xx other than 503"
  [ "$(field 503_without_retry_after)" = 0 ] || fail "wrk ($mode): 503 without Retry-After"
  echo "$(field statuses)" | grep -q '200=' || fail "wrk ($mode): no request answered 200"
done
{
  echo
  echo "\`identical\`: every connection sends the same four requests, so concurrent identical requests share one ClickHouse execution."
  echo "\`distinct\`: every request has its own \`start\` (1 ms apart) and, for FusionAuth reports, its own \`applicationId\`, so nothing is shared or cached and only the admission bound protects ClickHouse; overload must show as 503 with Retry-After."
} >>"$REPORT"
grep -c 'store overloaded' "$WORK/api.log" | xargs -I{} echo "- ClickHouse refusals mapped to 503 during the run: {}" >>"$REPORT" || true

# ---- verdict -----------------------------------------------------------------
section "Verdict"
if [ "${#FAILED[@]}" = 0 ]; then
  echo "PASS" >>"$REPORT"
  log "50-api: PASS ($REPORT)"
  exit 0
fi
{
  echo "FAIL"
  printf -- '- %s\n' "${FAILED[@]}"
} >>"$REPORT"
log "50-api: FAIL ($REPORT)"
exit 1
