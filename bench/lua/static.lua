-- One fixed request (GET /healthz, GET a key, a list page): formatted once per thread, so
-- wrk's per-request cost is the same Lua call as in the scenarios that vary the request.
local req
function init(args)
  req = wrk.format(args[1] or "GET", nil, nil, nil)
end
function request()
  return req
end
