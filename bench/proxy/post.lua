-- wrk script for bench/proxy: POSTs one fixed JSON body with fixed headers, read from files so
-- the load generator spends its CPU on sockets, not Lua.
--   wrk ... -s post.lua URL -- BODY_FILE HEADERS_FILE   (HEADERS_FILE: one "name: value" per line)
function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  for line in io.lines(args[2]) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
end

function done(summary, latency, requests)
  io.write(string.format('{"requests":%d,"seconds":%.3f,"non2xx":%d,"errors":%d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
