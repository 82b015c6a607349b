-- GET /v1/jobs/{id} for a random stored job (ids 1..JOBS), with the bearer token.
local jobs = tonumber(os.getenv("JOBS") or "100000")
local token = os.getenv("TOKEN") or ""
math.randomseed(11)
request = function()
  return wrk.format("GET", "/v1/jobs/" .. math.random(1, jobs), {["Authorization"] = "Bearer " .. token})
end

dofile("Benchmarks/serve/report.lua")
