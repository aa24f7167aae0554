-- wrk: unique JSON bodies (distinct dedup identity per request)
local counter = 0
local thread_id = 0
local nonce = tostring(os.time()) .. tostring(math.floor(os.clock() * 1e6))
function setup(thread) thread:set("tid", thread_id); thread:set("nonce", nonce); thread_id = thread_id + 1 end
request = function()
  counter = counter + 1
  local body = string.format('{"id":"%s-%d-%d-%d","event":"order.created","amount":%d}', nonce, tid, counter, math.random(1, 1e9), counter)
  return wrk.format("POST", "/webhook/orders", {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50=%.2fms p99=%.2fms errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
