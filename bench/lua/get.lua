-- GET over the seeded keys bench/0 .. bench/N-1, round robin.
local reqs = {}
local i = 0
function init(args)
  local n = tonumber(args[1])
  for k = 0, n - 1 do
    reqs[k + 1] = wrk.format("GET", "/v1/key/bench/" .. k)
  end
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
