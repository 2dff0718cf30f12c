-- wrk script for scripts/soak.sh: each connection cycles through six kinds of request, so
-- every path a deployment serves runs for the whole soak, side by side.
--   api      GET  /_api/hello, a valid token             → 200 (forwarded, metered)
--   forged   GET  /_api/hello, the token's signature cut → 401 (a full signature check)
--   page     GET  /, the app's HTML page                 → 200 (the SDK tag injected)
--   me       GET  /_auth/me, the valid token             → 200 (the user list touched)
--   post     POST /_api/echo, a 2 KB JSON body           → 200 (a body streamed upstream)
--   close    GET  /_api/hello with `Connection: close`   → 200, and wrk connects again
-- wrk's response() does not say which request it answers when a thread has several
-- connections, so the check is by status: anything but 200 and 401 is a failure, and the
-- 401s must be the forged requests (within the requests in flight at the end).
-- TOKEN (environment) is the valid token.

local token = os.getenv("TOKEN") or ""
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local forged = token:sub(1, #token - 6) .. "AAAAAA"
   local body = '{"q":"' .. string.rep("x", 2000) .. '"}'
   requests = {
      wrk.format("GET", "/_api/hello", { ["Authorization"] = "Bearer " .. token }),
      wrk.format("GET", "/_api/hello", { ["Authorization"] = "Bearer " .. forged }),
      wrk.format("GET", "/", { ["Accept"] = "text/html" }),
      wrk.format("GET", "/_auth/me", { ["Authorization"] = "Bearer " .. token }),
      wrk.format("POST", "/_api/echo", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body),
      wrk.format("GET", "/_api/hello", { ["Authorization"] = "Bearer " .. token, ["Connection"] = "close" }),
   }
   next_index = 0
   sent_forged = 0
   ok = 0
   unauthorized = 0
   other = 0
   other_statuses = ""
end

function request()
   next_index = next_index % #requests + 1
   if next_index == 2 then sent_forged = sent_forged + 1 end
   return requests[next_index]
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   elseif status == 401 then
      unauthorized = unauthorized + 1
   else
      other = other + 1
      if #other_statuses < 200 then other_statuses = other_statuses .. " " .. status end
   end
end

function done(summary, latency, requests)
   local t_ok, t_401, t_other, t_forged, statuses = 0, 0, 0, 0, ""
   for _, thread in ipairs(threads) do
      t_ok = t_ok + thread:get("ok")
      t_401 = t_401 + thread:get("unauthorized")
      t_other = t_other + thread:get("other")
      t_forged = t_forged + thread:get("sent_forged")
      statuses = statuses .. thread:get("other_statuses")
   end
   local e = summary.errors
   io.write(string.format("soak-mix ok=%d unauthorized=%d forged_sent=%d other=%d other_statuses=[%s] socket_errors=%d/%d/%d/%d\n",
      t_ok, t_401, t_forged, t_other, statuses, e.connect, e.read, e.write, e.timeout))
end
