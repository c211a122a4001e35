-- Memory soak: alternate GET and PUT replace over the seeded keys, and stop after args[2]
-- requests per thread (the run is bounded by count, and by wrk's -d as a safety net).
local n, limit, i, done_count
local body = '{"value":{"name":"bench","tags":["a","b","c"],"count":12345,"nested":{"ok":true}}}'
local headers = {["Content-Type"] = "application/json"}
function init(args)
  n = tonumber(args[1])
  limit = tonumber(args[2])
  i = 0
  done_count = 0
end
function request()
  i = i + 1
  local path = "/v1/key/bench/" .. (i % n)
  if i % 2 == 0 then
    return wrk.format("PUT", path, headers, body)
  end
  return wrk.format("GET", path)
end
function response(status, headers, body)
  done_count = done_count + 1
  if done_count >= limit then
    wrk.thread:stop()
  end
end
