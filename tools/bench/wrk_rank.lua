-- wrk script for POST /v1/rank: cycles through request bodies (one JSON object per line of the file
-- given after --), and prints one JSON line at the end with requests/s, latency percentiles and errors.
-- Usage: wrk -t1 -c8 -d20s -s tools/bench/wrk_rank.lua http://127.0.0.1:8080/v1/rank -- bodies.jsonl
local bodies = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  if #bodies == 0 then error("no request bodies in " .. tostring(args[1])) end
  i = math.random(#bodies) - 1
end

function request()
  i = (i % #bodies) + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "requests_per_s": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "p999_ms": %.3f, "max_ms": %.3f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3, latency.max / 1e3,
    e.connect, e.read, e.write, e.status, e.timeout))
end
