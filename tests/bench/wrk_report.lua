-- wrk script: sends Accept-Encoding when WRK_GZIP=1 and, when the run is
-- done, prints one line "WRK_JSON {...}" with requests/s, p50/p99 latency (ms),
-- bytes/s and errors, for tests/bench/run to parse (no text scraping of wrk's
-- own summary).
local gzip = os.getenv("WRK_GZIP") == "1"

init = function(args)
  if gzip then
    wrk.headers["Accept-Encoding"] = "gzip"
  end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"bytes_per_s":%.0f,"errors":%d,"non_2xx":%d}\n',
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, summary.bytes / secs, errors, e.status))
end
