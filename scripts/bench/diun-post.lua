-- wrk script for scripts/bench/webhook.sh: POSTs a Diun 4.28 (docker provider) webhook body
-- with a fresh digest per request, so that every request is a new event for the service.
--
--   wrk -t2 -c16 -d5s --latency -s scripts/bench/diun-post.lua http://127.0.0.1:PORT/api/diun -- NONCE
--
-- Environment (read by every wrk thread):
--   WU_BENCH_SECRET     bearer secret (sent to the bare endpoint too, which ignores it)
--   WU_BENCH_CONTAINER  container name put in metadata.ctn_names
--   WU_BENCH_IMAGE      image reference (default localhost:5000/wu-test/app:1.0)
--   WU_BENCH_IDS_FILE   if set, done() writes there the eventId of every 202, one per line
--   WU_BENCH_PAUSE_MS   if set, each connection pauses this many ms before its next request
--
-- done() prints one line "WU_BENCH key=value ..." for the calling script to parse.
--
-- Digest = nonce (16 hex, per run) .. thread (4 hex) .. counter (12 hex) .. random (32 hex):
-- unique within a run by construction, and across runs through the nonce.

local secret = os.getenv("WU_BENCH_SECRET") or ""
local container = os.getenv("WU_BENCH_CONTAINER") or "wu-bench-app"
local image = os.getenv("WU_BENCH_IMAGE") or "localhost:5000/wu-test/app:1.0"
local ids_file = os.getenv("WU_BENCH_IDS_FILE")
local pause_ms = tonumber(os.getenv("WU_BENCH_PAUSE_MS") or "")

-- Main state: the threads, for done().
local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state). Globals so done() can read them.
sent = 0
responses = 0
accepted = 0
accepted_no_id = 0
other = 0
statuses = {}
accepted_ids = {}

local nonce = "0000000000000000"
local prefix, suffix, headers
local counter = 0

local function random_hex(n)
   local parts = {}
   for i = 1, n / 4 do
      parts[i] = string.format("%04x", math.random(0, 65535))
   end
   return table.concat(parts)
end

function init(args)
   if args[1] and string.match(args[1], "^%x+$") then
      nonce = string.sub(string.lower(args[1]) .. "0000000000000000", 1, 16)
   end
   math.randomseed(os.time() + (tid or 0) * 7919 + tonumber(string.sub(nonce, 1, 7), 16))
   prefix = '{"diun_version":"4.28.0","hostname":"bench","status":"update","provider":"docker",'
      .. '"image":"' .. image .. '","hub_link":"",'
      .. '"mime_type":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:'
   suffix = '","created":"2024-10-15T19:58:44Z","platform":"linux/amd64",'
      .. '"metadata":{"ctn_names":"' .. container .. '"}}'
   headers = {
      ["Authorization"] = "Bearer " .. secret,
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "diun/4.28.0 (wu-bench)",
   }
end

function request()
   counter = counter + 1
   sent = sent + 1
   local digest = nonce .. string.format("%04x%012x", tid or 0, counter) .. random_hex(32)
   return wrk.format("POST", nil, headers, prefix .. digest .. suffix)
end

-- Paced profiles: each connection waits this long before its next request; wrk measures
-- latency from the request's send, so the pause is not in it.
if pause_ms and pause_ms > 0 then
   function delay()
      return pause_ms
   end
end

function response(status, _, body)
   responses = responses + 1
   if status == 202 then
      accepted = accepted + 1
      local id = body and string.match(body, '"eventId"%s*:%s*(%d+)')
      if id then
         accepted_ids[#accepted_ids + 1] = id
      else
         accepted_no_id = accepted_no_id + 1
      end
   else
      other = other + 1
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function done(summary, latency, _)
   local totals = { sent = 0, responses = 0, accepted = 0, accepted_no_id = 0, other = 0 }
   local by_status = {}
   local out = ids_file and io.open(ids_file, "w")
   for _, thread in ipairs(threads) do
      for key in pairs(totals) do
         totals[key] = totals[key] + (thread:get(key) or 0)
      end
      for status, n in pairs(thread:get("statuses") or {}) do
         by_status[status] = (by_status[status] or 0) + n
      end
      if out then
         for _, id in ipairs(thread:get("accepted_ids") or {}) do
            out:write(id, "\n")
         end
      end
   end
   if out then
      out:close()
   end
   -- wrk calls request() once in thread 1's state before the run, to check the script
   -- (script_verify_request); that call never goes on the wire.
   totals.sent = math.max(totals.sent - 1, totals.responses)

   local status_list = {}
   for status, n in pairs(by_status) do
      status_list[#status_list + 1] = status .. ":" .. n
   end
   table.sort(status_list)

   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "WU_BENCH requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f "
         .. "sent=%d responses=%d accepted=%d accepted_no_id=%d other=%d other_statuses=%s "
         .. "err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      totals.sent, totals.responses, totals.accepted, totals.accepted_no_id, totals.other,
      (#status_list > 0 and table.concat(status_list, ",") or "-"),
      e.connect, e.read, e.write, e.timeout))
end
