-- POST /v1/search by a random stored job (ids 1..JOBS), k 10, with the bearer token.
local jobs = tonumber(os.getenv("JOBS") or "100000")
local token = os.getenv("TOKEN") or ""
math.randomseed(7)
request = function()
  local body = string.format('{"job": %d, "k": 10}', math.random(1, jobs))
  return wrk.format("POST", "/v1/search", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

dofile("Benchmarks/serve/report.lua")
