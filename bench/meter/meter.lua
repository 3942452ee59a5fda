-- wrk script for POST /v1/meter: prints one JSON result line from done(), for run.mjs.
--
--   wrk ... -s meter.lua URL -- USERS [AUTH_TOKEN] [REQUESTS_MAX_PER_THREAD]
-- USERS: 1 meters one hot user ("u_hot"); N > 1 picks one of N users ("u_1".."u_N") at random
--   per request.
-- AUTH_TOKEN: sent as "Authorization: Bearer <token>"; "-" or empty sends none.
-- REQUESTS_MAX_PER_THREAD: each wrk thread stops after this many requests (0: no bound), so a
--   run is bounded in requests as well as by wrk's -d duration.
--
-- Requests are formatted once in init(); per request wrk only picks one, so the load generator
-- spends its CPU on sockets rather than Lua.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_index", counter) -- a global in that thread's own Lua state
end

local pool = {}
local sent = 0
local sent_max = math.huge

function init(args)
  local users = tonumber(args[1] or "1")
  local token = args[2]
  local per_thread_max = tonumber(args[3] or "0")
  local headers = { ["Content-Type"] = "application/json" }
  if token ~= nil and token ~= "" and token ~= "-" then
    headers["Authorization"] = "Bearer " .. token
  end
  math.randomseed(os.time() * 1000 + (thread_index or 0))
  if users <= 1 then
    pool[1] = wrk.format("POST", nil, headers, '{"userId":"u_hot","event":"bench","cost":1}')
  else
    for i = 1, users do
      pool[i] = wrk.format("POST", nil, headers,
        '{"userId":"u_' .. i .. '","event":"bench","cost":1}')
    end
  end
  if per_thread_max > 0 then sent_max = per_thread_max end
end

function request()
  sent = sent + 1
  if sent > sent_max then wrk.thread:stop() end
  return pool[math.random(#pool)]
end

-- Latencies are in microseconds. errors.status counts responses with status >= 400.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"ops_per_s":%.1f,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
