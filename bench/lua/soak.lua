-- Memory soak: alternate GET and PUT replace over the seeded keys bench/0 .. bench/N-1.
-- (The run is bounded by wrk's -d; the Python side repeats runs until enough requests.)
local n, i
local body = '{"value":{"name":"bench","tags":["a","b","c"],"count":12345,"nested":{"ok":true}}}'
local headers = {["Content-Type"] = "application/json"}
function init(args)
  n = tonumber(args[1])
  i = 0
end
function request()
  i = i + 1
  local path = "/v1/key/bench/" .. (i % n)
  if i % 2 == 0 then
    return wrk.format("PUT", path, headers, body)
  end
  return wrk.format("GET", path)
end
