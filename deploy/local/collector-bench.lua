-- wrk script for deploy/local/bench-collector.sh: POSTs pre-generated
-- contract batches (one file per body) to /v1/events, rotating through
-- them; each thread starts at a different body.
--   wrk ... -s collector-bench.lua URL -- BODY_DIR N_BODIES TOKEN
local bodies = {}
local next_body = 1
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7)
end

function init(args)
  local dir, n, token = args[1], tonumber(args[2]), args[3]
  for k = 0, n - 1 do
    local f = assert(io.open(dir .. "/body-" .. k .. ".json", "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
  next_body = (offset or 0) % #bodies + 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d non2xx=%d socket_errors=%d duration_s=%.2f rps=%.1f p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
