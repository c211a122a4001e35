-- POST /v1/batch with 100 gets of seeded keys (one request body, formatted once).
local req
function init(args)
  local n = tonumber(args[1])
  local ops = {}
  for k = 0, 99 do
    ops[#ops + 1] = string.format('{"op":"get","key":"bench/%d"}', k % n)
  end
  local body = '{"operations":[' .. table.concat(ops, ",") .. ']}'
  req = wrk.format("POST", "/v1/batch", {["Content-Type"] = "application/json"}, body)
end
function request()
  return req
end
