-- Loaded by the load scripts: one machine-readable line at the end of a run (latencies in microseconds).
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format("wrk-result requests=%d seconds=%.3f p50_us=%d p99_us=%d max_us=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), latency.max, errors))
end
