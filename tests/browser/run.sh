#!/usr/bin/env bash
# The browser test of dni.js (tests/browser/dni.test.mjs): a page on localhost
# with the script tag, in headless Debian chromium driven by playwright-core.
#
# Installs what is missing (Debian's chromium; playwright-core by `npm ci`,
# pinned in package-lock.json) and builds nothing: it runs the binary at
# $SWITCHBOARD_BIN (default target/debug/switchboard; `cargo build -p switchboard`).
#
#   bash tests/browser/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export SWITCHBOARD_BIN="${SWITCHBOARD_BIN:-$root/target/debug/switchboard}"
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
cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test --test-reporter=spec dni.test.mjs
