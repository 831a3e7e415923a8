-- wrk script: POSTs pre-signed voice webhooks (from sign.py) in turn, each
-- thread from its own slice of the file, so every request is a new call.
--   REQUESTS=/tmp/voice.tsv wrk -t2 -c32 -d20s -s load-tests/wrk/presigned.lua http://127.0.0.1:8080
-- Non-2xx answers are counted by wrk ("Non-2xx or 3xx responses").
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("REQUESTS") or "/tmp/voice.tsv"
  local n = tonumber(os.getenv("THREADS") or "1")
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % n == id then
      local sig, body = line:match("^([^\t]+)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", "/api/webhooks/voice", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
      }, body)
    end
    i = i + 1
  end
  next_req = 1
end

function request()
  local r = reqs[next_req]
  next_req = next_req + 1
  if next_req > #reqs then next_req = 1 end
  return r
end
