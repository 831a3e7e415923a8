-- wrk script: POST /api/dni/track as many visitors' browsers do. A visit's
-- first request has no session id; the id Switchboard answers is kept and
-- sent on the next NEW_EVERY - 1 requests (page views and heartbeats), so
-- most requests renew a live lease, as with k6/dni.js. wrk does not say which
-- connection a response came in on, so each thread keeps a queue of live
-- sessions: a request renews the oldest one, or starts a new visit.
--   TAG=demo NEW_EVERY=10 wrk -t2 -c128 -d20s -s load-tests/wrk/dni.lua http://127.0.0.1:8080
-- Start the server with --trust-forwarded-for (visits come from many
-- X-Forwarded-For addresses) and a --dni-limit-per-tag above the offered load.
local tag = os.getenv("TAG") or "demo"
local new_every = tonumber(os.getenv("NEW_EVERY") or "10")
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  live = {}        -- queue of {id, left}: sessions with renewals to go
  head, tail = 1, 0
  visits = 0
end

local function body(session, visit)
  local s = session and (',"sessionId":"' .. session .. '"') or ""
  return '{"tagCode":"' .. tag .. '","referrer":"https://www.google.com/","userAgent":"wrk dni.lua",'
    .. '"landingPage":"https://acme.example/landing?utm_source=google&utm_medium=cpc&utm_campaign=wrk&gclid=wrk-'
    .. id .. '-' .. visit .. '"' .. s .. '}'
end

function request()
  local session
  if head <= tail then
    local s = live[head]
    s.left = s.left - 1
    session = s.id
    if s.left <= 0 then live[head] = nil; head = head + 1 end
  end
  visits = visits + 1
  local v = (id * 7919 * 4096 + visits) % 16777216
  local addr = string.format("10.%d.%d.%d", math.floor(v / 65536) % 256, math.floor(v / 256) % 256, v % 256)
  return wrk.format("POST", "/api/dni/track", {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = addr,
  }, body(session, visits))
end

function response(status, headers, b)
  if status ~= 200 then return end
  -- Only a new visit's answer adds a session (a renewal answers the same id).
  local sid = b:match('"sessionId":"([^"]+)"')
  if sid and not seen_last(sid) then
    tail = tail + 1
    live[tail] = {id = sid, left = new_every - 1}
  end
end

-- A renewal answers the id it sent; the ids already queued are remembered
-- so a renewal's answer is not queued again as a new visit.
recent = {}
function seen_last(sid)
  if recent[sid] then return true end
  recent[sid] = true
  return false
end
