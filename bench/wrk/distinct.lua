-- Every request names a different address, BENCH_PREFIX .. 7-digit number .. "@example.com",
-- numbered from BENCH_START (threads interleave), so no answer can come from a cache.
-- BENCH_MODE=gateway: POST /v1/eligibility/check {"emails": [address]} with BENCH_TOKEN.
-- BENCH_MODE=emulator: GET the emulator's isInvitableUser for the address with BENCH_TOKEN.
local mode = os.getenv("BENCH_MODE") or "gateway"
local prefix = os.getenv("BENCH_PREFIX") or "u"
local start = tonumber(os.getenv("BENCH_START") or "0")
local token = os.getenv("BENCH_TOKEN") or ""
local headers = {["Authorization"] = "Bearer " .. token}
if mode == "gateway" then
  headers["Content-Type"] = "application/json"
end

local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local sent = 0
local stride = tonumber(os.getenv("BENCH_THREADS") or "1")
function request()
  local n = start + (thread_index or 0) + sent * stride
  sent = sent + 1
  local address = string.format("%s%07d@example.com", prefix, n)
  if mode == "gateway" then
    return wrk.format("POST", "/v1/eligibility/check", headers,
      '{"emails":["' .. address .. '"]}')
  end
  return wrk.format("GET",
    "/v1/customers/my_customer/userinvitations/" .. address .. ":isInvitableUser", headers)
end
