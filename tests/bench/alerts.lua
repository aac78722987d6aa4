-- alerts.lua - wrk script shared by the ingest bench. Every request carries
-- 10 alerts of ~1 KB each whose labels (and so fingerprints) are new for
-- every request, so nothing is deduplicated or merged.
--   BENCH_MODE=webhook  quench: an Alertmanager v4 webhook body
--   BENCH_MODE=amv2     Alertmanager: a POST /api/v2/alerts JSON array
--   BENCH_DELAY_MS=N    wait N ms between a connection's requests (the
--                       rate-limited mode: rate ~ connections*1000/(N+latency))
local mode = os.getenv("BENCH_MODE") or "webhook"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
-- thread_id is a global: setup() sets it in each thread's own Lua state
-- (a local here would shadow it and give every thread the same alerts,
-- which quench's dedup then drops). run tells runs apart: each wrk run
-- restarts the counter, and without it a run would repeat the bodies of
-- the one before (deduplicated, never archived or correlated).
local counter = 0
thread_id = 0
local run = tonumber(os.getenv("BENCH_RUN") or "") or (os.time() % 65536)
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local desc = string.rep("Pod memory working set has been above 90 percent of its limit for 10 minutes; " ..
  "the container will be OOM-killed soon. ", 4)
local gen = "http://prometheus-k8s-0:9090/graph?g0.expr=container_memory_working_set_bytes" ..
  "%7Bnamespace%3D%22shop%22%7D%20%2F%20container_spec_memory_limit_bytes%20%3E%200.9&g0.tab=1"

local labels_fmt = '{"alertname":"PodMemoryHigh","namespace":"shop","service":"cart",' ..
  '"pod":"cart-%s-%d","container":"server","node":"node-%d","severity":"critical",' ..
  '"job":"kubernetes-pods","instance":"10.0.%d.%d:8080","team":"storefront"}'
local ann = '{"summary":"memory above 90%% on cart-%s-%d","description":"' .. desc ..
  '","runbook_url":"https://runbooks.example/memory"}'

local function alert(key, i)
  local labels = string.format(labels_fmt, key, i, i % 5, i % 250, i)
  local annotations = string.format(ann, key, i)
  if mode == "amv2" then
    return '{"labels":' .. labels .. ',"annotations":' .. annotations ..
      ',"generatorURL":"' .. gen .. '"}'
  end
  return '{"status":"firing","labels":' .. labels .. ',"annotations":' .. annotations ..
    ',"startsAt":"2026-11-21T23:03:28.829306791Z","endsAt":"0001-01-01T00:00:00Z",' ..
    '"generatorURL":"' .. gen .. '","fingerprint":"' ..
    string.format("%04x%04x%08x", run % 65536, thread_id % 65536,
      (counter * 16 + i) % 4294967296) .. '"}'
end

function request()
  counter = counter + 1
  local key = run .. "x" .. thread_id .. "x" .. counter
  local a = {}
  for i = 1, 10 do a[i] = alert(key, i) end
  local body
  if mode == "amv2" then
    body = "[" .. table.concat(a, ",") .. "]"
    return wrk.format("POST", "/api/v2/alerts", {["Content-Type"] = "application/json"}, body)
  end
  body = '{"receiver":"quench","status":"firing","alerts":[' .. table.concat(a, ",") ..
    '],"groupLabels":{"alertname":"PodMemoryHigh"},"commonLabels":{"alertname":"PodMemoryHigh",' ..
    '"namespace":"shop","service":"cart"},"commonAnnotations":{},"externalURL":"http://am:9093",' ..
    '"version":"4","groupKey":"{}:{alertname=\\"PodMemoryHigh\\"}","truncatedAlerts":0}\n'
  return wrk.format("POST", "/webhook/alertmanager", {["Content-Type"] = "application/json"}, body)
end

function delay()
  return delay_ms
end

local non2xx = 0
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  -- wrk prints its own summary; add the machine-readable line the bench reads.
  io.write(string.format("BENCH req=%d dur_us=%d non2xx=%d err=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
