-- PUT: args[1] = "new" (a fresh key every request), "replace" (seeded keys, round robin) or
-- "if-match" (seeded keys with If-Match: *, which holds as long as they exist).
local mode, n, i, prefix
local body = '{"value":{"name":"bench","tags":["a","b","c"],"count":12345,"nested":{"ok":true}}}'
local headers = {["Content-Type"] = "application/json"}
function setup(thread)
  counter = (counter or 0) + 1
  thread:set("thread_id", counter)
end
function init(args)
  mode = args[1]
  n = tonumber(args[2])
  i = 0
  prefix = "/v1/key/new/" .. tostring(args[3]) .. "-" .. tostring(thread_id) .. "/"
  if mode == "if-match" then
    headers["If-Match"] = "*"
  end
end
function request()
  i = i + 1
  local path
  if mode == "new" then
    path = prefix .. i
  else
    path = "/v1/key/bench/" .. (i % n)
  end
  return wrk.format("PUT", path, headers, body)
end
