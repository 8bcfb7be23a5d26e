-- count.lua: wrk script for cmd/wasigate-bench/reload/run.sh. Counts answers by body
-- (the old module says "hello", the new one "HELLO") and anything else.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  old, new, other = 0, 0, 0
end

function response(status, headers, body)
  if status == 200 and body == "hello\n" then
    old = old + 1
  elseif status == 200 and body == "HELLO\n" then
    new = new + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local o, n, x = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("old")
    n = n + t:get("new")
    x = x + t:get("other")
  end
  local e = summary.errors
  io.write(string.format("wrk: requests=%d old=%d new=%d other=%d socket_errors=%d (connect %d, read %d, write %d, timeout %d) non2xx=%d\n",
    summary.requests, o, n, x, e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout, e.status))
end
