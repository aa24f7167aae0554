wrk.method = "POST"; wrk.body = '{"a":1}'; wrk.headers["Content-Type"] = "application/json"
function done(s, lat, req) io.write(string.format("RESULT rps=%.0f p50=%.3fms p99=%.3fms\n", s.requests / (s.duration / 1e6), lat:percentile(50) / 1000, lat:percentile(99) / 1000)) end
