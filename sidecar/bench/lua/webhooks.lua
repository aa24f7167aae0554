-- The benchmark's wrk script (sidecar/bench/wrk.py runs it):
--   wrk -t T -c C -d Ds -s webhooks.lua URL -- unique NONCE   every body new (dedup never matches)
--   wrk -t T -c C -d Ds -s webhooks.lua URL -- same           one small body, again and again
-- POSTs a small Telegram-like JSON webhook with X-User-Id 42, and prints one summary line,
-- "WRK_JSON {...}": requests, duration and latencies in microseconds, errors by kind.

local headers = { ["Content-Type"] = "application/json", ["X-User-Id"] = "42" }
local template = '{"update_id":%d,"id":"%s-%d-%d","message":{"text":"hello","from":{"id":42}}}'
local threads = 0
local mode, nonce, counter, static = "same", "", 0, nil

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  mode, nonce = args[1] or "same", args[2] or ""
  static = wrk.format("POST", nil, headers, string.format(template, 0, "same", 0, 0))
end

function request()
  if mode ~= "unique" then
    return static
  end
  counter = counter + 1
  return wrk.format("POST", nil, headers, string.format(template, counter, nonce, tid, counter))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,"max_us":%.1f,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, e.status))
end
