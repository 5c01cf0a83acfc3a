-- Replays a prepared request file, one request per line: METHOD<TAB>PATH<TAB>BODY.
-- Usage: wrk -t1 -c16 -d10s -s replay.lua http://127.0.0.1:PORT -- requests.tsv API_KEY out.json
-- Each thread walks its own slice of the file (line i goes to thread i mod nthreads),
-- so a request that consumes a resource (a milestone to complete) is sent once.
-- Statuses are counted per code; the first non-2xx body is kept for the report.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function init(args)
   local path, key = args[1], args[2]
   nthreads = tonumber(args[4] or "1")
   out_path = args[3]
   local headers = {
      ["Content-Type"] = "application/json",
   }
   if string.sub(key, 1, 7) == "Bearer " then
      headers["Authorization"] = key  -- a peer service (bench/peer.py) that takes a JWT
   else
      headers["X-API-Key"] = key
   end
   reqs = {}
   local i = 0
   for line in io.lines(path) do
      if (i % nthreads) == tid then
         local m, p, b = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
         if b == "" then b = nil end
         reqs[#reqs + 1] = wrk.format(m, p, headers, b)
      end
      i = i + 1
   end
   idx = 0
   wrapped = 0
   statuses = {}
   sample = ""
end

function request()
   idx = idx + 1
   if idx > #reqs then
      idx = 1
      wrapped = wrapped + 1
   end
   return reqs[idx]
end

function response(status, headers, body)
   local k = tostring(status)
   statuses[k] = (statuses[k] or 0) + 1
   if (status < 200 or status > 299) and sample == "" then
      sample = k .. " " .. string.sub(body or "", 1, 400)
   end
end

local function esc(s)
   s = string.gsub(s, "\\", "\\\\")
   s = string.gsub(s, "\"", "\\\"")
   s = string.gsub(s, "[%c]", " ")
   return s
end

function done(summary, latency, requests)
   local merged = {}
   local wrapped_total, samples = 0, {}
   local out_path
   for _, t in ipairs(threads) do
      local st = t:get("statuses") or {}
      for k, v in pairs(st) do merged[k] = (merged[k] or 0) + v end
      wrapped_total = wrapped_total + (t:get("wrapped") or 0)
      local s = t:get("sample")
      if s and s ~= "" then samples[#samples + 1] = s end
      out_path = t:get("out_path")
   end
   local parts = {}
   for k, v in pairs(merged) do parts[#parts + 1] = string.format("\"%s\": %d", k, v) end
   local pct = {}
   for _, p in ipairs({50, 90, 95, 99, 99.9}) do
      pct[#pct + 1] = string.format("\"%s\": %d", tostring(p), latency:percentile(p))
   end
   local e = summary.errors
   local json = string.format(
      "{\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, "
         .. "\"errors\": {\"connect\": %d, \"read\": %d, \"write\": %d, \"status\": %d, \"timeout\": %d}, "
         .. "\"latency_us\": {\"mean\": %.1f, \"stdev\": %.1f, \"min\": %d, \"max\": %d, \"pct\": {%s}}, "
         .. "\"statuses\": {%s}, \"wrapped\": %d, \"sample\": \"%s\"}",
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.min, latency.max, table.concat(pct, ", "),
      table.concat(parts, ", "), wrapped_total, esc(samples[1] or ""))
   local f = io.open(out_path, "w")
   f:write(json)
   f:close()
end
