-- etcd's v3 JSON gateway: args[1] = "get" (POST /v3/kv/range) or "put" (POST /v3/kv/put)
-- over the seeded keys bench/0 .. bench/N-1 (args[2] = N), round robin; the gateway takes
-- keys and values base64-encoded. The value is the one put.lua writes.
local reqs = {}
local i = 0
local value = '{"name":"bench","tags":["a","b","c"],"count":12345,"nested":{"ok":true}}'
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function sextet(n)
  return alphabet:sub(n + 1, n + 1)
end

local function base64(s)
  local out = {}
  for k = 1, #s, 3 do
    local a, b, c = s:byte(k, k + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = sextet(math.floor(n / 262144) % 64) .. sextet(math.floor(n / 4096) % 64)
      .. (b and sextet(math.floor(n / 64) % 64) or "=") .. (c and sextet(n % 64) or "=")
  end
  return table.concat(out)
end

function init(args)
  local mode = args[1]
  local n = tonumber(args[2])
  local headers = {["Content-Type"] = "application/json"}
  for k = 0, n - 1 do
    local key = base64("bench/" .. k)
    if mode == "put" then
      local body = '{"key":"' .. key .. '","value":"' .. base64(value) .. '"}'
      reqs[k + 1] = wrk.format("POST", "/v3/kv/put", headers, body)
    else
      reqs[k + 1] = wrk.format("POST", "/v3/kv/range", headers, '{"key":"' .. key .. '"}')
    end
  end
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
