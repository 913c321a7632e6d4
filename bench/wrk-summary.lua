-- putsh bench: after a wrk run, print a single "SUMMARY k=v ..." line that run.sh parses.
-- Latencies are in microseconds; "non2xx" is wrk's status-error count (responses >= 400 count there).
function done(summary, latency, requests)
  local secs = summary.duration / 1000000
  local e = summary.errors
  io.write(string.format(
    "SUMMARY reqs=%d secs=%.3f bytes=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d " ..
    "connect_err=%d read_err=%d write_err=%d timeouts=%d non2xx=%d\n",
    summary.requests, secs, summary.bytes, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
