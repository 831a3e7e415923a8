#!/usr/bin/env bash
# Runs every test: unit, property, integration (real server on 127.0.0.1:0,
# real embedded store, Twilio-signed requests), the crash test, and each
# criterion bench once in test mode so benches cannot rot. Installs what it
# needs itself, so it works on a fresh machine with only the toolchains.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Twilio signature test uses the official library's RequestValidator as
# its oracle (it reports itself skipped without it).
if command -v python3 >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check twilio==9.13.0 ||
    echo "could not install the twilio python package: the signature oracle test will skip"
fi

# The HTTP/2 bidder test makes its TLS certificates with the openssl command
# (it reports itself skipped without it).
if ! command -v openssl >/dev/null; then
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends openssl >/dev/null; } ||
    echo "could not install openssl: the HTTP/2 bidder test will skip"
fi

# Formatting first: it is the quickest check (the fuzz crate is a workspace of its own).
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo fmt --all --check
(cd fuzz && cargo fmt --check)

cargo test --workspace --all-targets

# Lints: clippy with the lints declared in Cargo.toml, every warning an error.
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo clippy --workspace --all-targets -- -D warnings

# deploy/: promtool on the Prometheus config and alert rules, the Grafana
# dashboards and the compose wiring checked as files, and the ScyllaDB store
# compiled (its conformance run needs a node: see docs/scylla.md).
bash deploy/check.sh

# The load tools against the demo: a few hundred simulated calls with every
# invariant checked, the export verified, and five seconds of each k6 script.
cargo build -p switchboard -p switchboard-load-tests
bash load-tests/smoke.sh

# The admin console's unit tests (with the check that its generated API types
# are openapi-typescript's output for admin-ui/openapi.json), type check and
# eslint (typescript-eslint, react-hooks).
(cd admin-ui && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm test && npx tsc --noEmit && npm run lint)

# DNI and the admin console in a real browser: the demo's page with the
# dni.js tag, then the console served by the server, in headless chromium
# (installs chromium and playwright-core when missing; builds admin-ui/dist).
bash tests/browser/run.sh

# Every fuzz target for 10 s from its seeds, failing on any crash (nightly and
# cargo-fuzz; its own fuzz/target). The long run is in docs/fuzzing.md.
# On CI (.ci/run sets CI) the clone is thrown away after this run and
# its disk is small: the workspace's build is done with by now, so it makes
# room for the instrumented one (together they filled the disk once).
if [ -n "${CI:-}" ]; then cargo clean; fi
bash fuzz/run.sh 10
