-- wrk script for deploy/local/attack/50-api.sh: rotates over report paths,
-- counts answers per status and 503s without Retry-After, and prints one
-- machine-readable line (LOAD|...) with throughput and latency.
-- Environment: LOAD_PATHS (paths separated by spaces), LOAD_AUTH (the
-- Authorization value), LOAD_DISTINCT=1 to make every request unique
-- (its own `start`, and for FusionAuth reports its own applicationId) so
-- nothing is coalesced or served from the report cache.
local paths = {}
for p in string.gmatch(os.getenv("LOAD_PATHS") or "/", "%S+") do
  table.insert(paths, p)
end
local auth = os.getenv("LOAD_AUTH") or ""
local distinct = os.getenv("LOAD_DISTINCT") == "1"
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  statuses = {}
  no_retry_after = 0
end

function request()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  if distinct then
    -- A different start instant (1 ms apart) per request and thread: the
    -- same report, never an identical request.
    path = string.gsub(path, "start=(%d+)", function(s)
      return "start=" .. tostring(tonumber(s) - (id * 10000000 + counter))
    end)
    -- The report cache keeps a recent span per filter, so a new start alone
    -- is served from it: FusionAuth reports also get their own application.
    if string.find(path, "^/api/report/") then
      path = path .. string.format("&applicationId=00000000-0000-4000-8000-%012d", id * 100000000 + counter)
    end
  end
  return wrk.format("GET", path, { ["Authorization"] = auth })
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 then
    local found = false
    for k, _ in pairs(headers) do
      if string.lower(k) == "retry-after" then found = true end
    end
    if not found then no_retry_after = no_retry_after + 1 end
  end
end

function done(summary, latency, requests)
  local total = {}
  local missing = 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
    missing = missing + t:get("no_retry_after")
  end
  local parts = {}
  local five = 0
  for code, n in pairs(total) do
    table.insert(parts, code .. "=" .. n)
    if code >= 500 and code ~= 503 then five = five + n end
  end
  table.sort(parts)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "LOAD|requests=%d|rps=%.1f|p50_ms=%.1f|p99_ms=%.1f|max_ms=%.1f|statuses=%s|5xx_not_503=%d|503_without_retry_after=%d|socket_errors=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    table.concat(parts, ","), five, missing,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
