#!/usr/bin/env bash
# The browser tests, in headless Debian chromium driven by playwright-core:
# dni.js on a page on localhost (dni.test.mjs), then the admin console
# served by the server (console.test.mjs); both start the server and
# chromium through server.mjs.
#
# Installs what is missing (Debian's chromium; playwright-core by `npm ci`,
# pinned in package-lock.json) and builds the console when admin-ui/dist is
# missing or stale (`npm ci && npm run build` in admin-ui). It does not build the
# server: it runs the binary at $SWITCHBOARD_BIN (default
# target/debug/switchboard; `cargo build -p switchboard`), and the Reports
# test plays calls with the callsim next to it ($CALLSIM_BIN to override;
# `cargo build -p switchboard-load-tests`).
#
#   bash tests/browser/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export SWITCHBOARD_BIN="${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/switchboard}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$SWITCHBOARD_BIN" ]; then
  echo "run.sh: no $SWITCHBOARD_BIN: build it first (cargo build -p switchboard)" >&2
  exit 2
fi
if [ ! -x "$CHROMIUM" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "run.sh: installing Debian's chromium" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
# The console: $CONSOLE_DIR as given, or admin-ui/dist built when it is
# missing or older than its sources (a stale build would be tested otherwise).
if [ -z "${CONSOLE_DIR:-}" ]; then
  export CONSOLE_DIR="$root/admin-ui/dist"
  ui="$root/admin-ui"
  if [ ! -f "$CONSOLE_DIR/index.html" ] || [ -n "$(find "$ui/src" "$ui/index.html" "$ui/package-lock.json" \
      "$ui/vite.config.ts" -newer "$CONSOLE_DIR/index.html" | head -1)" ]; then
    echo "run.sh: building the console into $CONSOLE_DIR" >&2
    (cd "$ui" && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run build)
  fi
fi
cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# One file after the other: each starts its own server and browser.
node --test --test-concurrency=1 --test-reporter=spec dni.test.mjs
exec node --test --test-concurrency=1 --test-reporter=spec console.test.mjs
