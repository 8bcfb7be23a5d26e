-- count.lua: wrk script for cmd/wasigate-bench/mixed/run.sh. At the end,
-- one line the script parses: requests, answers that were not 2xx/3xx, and
-- socket errors (connect, read, write, timeout), summed over wrk's threads.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("mixed: requests=%d non2xx=%d socket_errors=%d timeouts=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
