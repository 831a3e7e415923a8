#!/usr/bin/env bash
# Runs every test: unit, property, integration (real server on 127.0.0.1:0,
# real embedded store, Twilio-signed requests), the crash test, and each
# criterion bench once in test mode so benches cannot rot. Installs what it
# needs itself, so it works on a fresh machine with only the toolchains.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets

# deploy/: promtool on the Prometheus config and alert rules, the Grafana
# dashboards and the compose wiring checked as files, and the ScyllaDB store
# compiled (its conformance run needs a node: see docs/scylla.md).
bash deploy/check.sh

# The load tools against the demo: a few hundred simulated calls with every
# invariant checked, the export verified, and five seconds of each k6 script.
cargo build -p switchboard -p switchboard-load-tests
bash load-tests/smoke.sh

# The admin console's unit tests and type check (vitest, tsc --noEmit).
(cd admin-ui && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm test && npx tsc --noEmit)

# DNI and the admin console in a real browser: the demo's page with the
# dni.js tag, then the console served by the server, in headless chromium
# (installs chromium and playwright-core when missing; builds admin-ui/dist).
bash tests/browser/run.sh

# Every fuzz target for 20 s from its seeds, failing on any crash (nightly and
# cargo-fuzz; its own fuzz/target). The long run is in docs/fuzzing.md.
bash fuzz/run.sh 20
