-- wrk script: POST /transfer of 1 unit around the ring alice -> bob -> charlie -> alice, so the
-- balances stay put and every strategy decides real transfers rather than refusals.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local ids = {"alice", "bob", "charlie"}
local n = 0
request = function()
  n = n + 1
  local from = ids[(n % 3) + 1]
  local to = ids[((n + 1) % 3) + 1]
  return wrk.format(nil, "/transfer", nil,
    string.format('{"from_account":"%s","to_account":"%s","amount":1}', from, to))
end
