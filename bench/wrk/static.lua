-- The same POST for every request: BENCH_BODY, with BENCH_TOKEN as a bearer token when set.
-- BENCH_DELAY_MS (soak only): average pause of each connection before its next request,
-- fractional values spread over requests, so N connections give about N*1000/delay req/s.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  local owed = 0.0
  function delay()
    owed = owed + pause
    local now = math.floor(owed)
    owed = owed - now
    return now
  end
end
