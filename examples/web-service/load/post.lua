-- wrk script for load-test.sh: POSTs one valid item and, when the run ends,
-- prints one machine-readable line:
--   RESULT <requests/s> <p50 ms> <p90 ms> <p99 ms> <max ms> <non-2xx> <socket errors> <requests>
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"id":"sku-12345","name":"office chair","quantity":2,"price_cents":14999}'

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %.3f %d %d %d\n",
    summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout, summary.requests))
end
