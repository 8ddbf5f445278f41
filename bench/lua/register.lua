-- POST /api/v1/auth/register with a new email and username on every request (PREFIX, set per
-- run, keeps them apart from earlier runs), counting the replies by status. Self-contained: it
-- prints its own JSON line (report.lua's fields plus "statuses"), so it is run without report.lua.
local prefix = os.getenv("PREFIX") or "r"
local counter = 0
local threads = {}
statuses = {}

setup = function(thread)
  thread:set("thread_prefix", prefix .. "t" .. #threads)
  threads[#threads + 1] = thread
end

request = function()
  counter = counter + 1
  local name = (thread_prefix or prefix) .. "n" .. counter
  local body = string.format(
    '{"email": "%s@bench.example", "username": "%s", "password": "password123", "display_name": "Flood"}',
    name, name)
  return wrk.format("POST", "/api/v1/auth/register", {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

done = function(summary, latency, requests)
  local parts = {}
  local totals = {}
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses") or {}
    for key, count in pairs(counted) do totals[key] = (totals[key] or 0) + count end
  end
  for key, count in pairs(totals) do parts[#parts + 1] = string.format('"%s": %d', key, count) end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, "non2xx": %d, ' ..
    '"statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, errors.connect, errors.read, errors.write, errors.timeout,
    errors.status, table.concat(parts, ", ")))
end
