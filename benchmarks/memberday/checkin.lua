-- wrk script: POST /api/v1/memberday/check-ins, each thread walking its own slice of the member ids
-- (so the first pass is all first check-ins and later passes are repeat taps answered with 200).
-- Environment: HUFEN_BENCH_IDS (a file of member ids, one a line), HUFEN_BENCH_TOKEN, HUFEN_BENCH_THREADS,
-- HUFEN_BENCH_RUN (a prefix making this run's Idempotency-Keys its own).
ids = {}
for line in io.lines(os.getenv("HUFEN_BENCH_IDS")) do ids[#ids + 1] = line end
token = os.getenv("HUFEN_BENCH_TOKEN")
step = tonumber(os.getenv("HUFEN_BENCH_THREADS"))
run = os.getenv("HUFEN_BENCH_RUN") or "run"  -- keys unique per run: a --reuse run must not replay an earlier run's keys

threads = {}
counter = 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

n = 0
created, replayed, failed = 0, 0, 0

function request()
  local i = ((tid - 1) + n * step) % #ids + 1
  n = n + 1
  local body = '{"member_id": ' .. ids[i] .. ', "channel": "app"}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "bench-" .. run .. "-" .. tid .. "-" .. n,
  }
  return wrk.format("POST", "/api/v1/memberday/check-ins", headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 200 then
    replayed = replayed + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local c, r, f = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    r = r + t:get("replayed")
    f = f + t:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_s": %.3f, "requests_per_s": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "created_201": %d, "repeat_200": %d, "failed_status": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, c, r, f, e.connect, e.read, e.write, e.timeout))
end
