#!/usr/bin/env bash
# Checks the deploy/ files without Docker:
#   1. promtool check config / check rules (installs Debian's prometheus
#      package for promtool if it is missing),
#   2. Grafana dashboards and provisioning (python: parse, required keys),
#   3. the compose file, nginx and Prometheus targets against each other
#      (python yaml; skipped, saying so, if python3-yaml is missing),
#   4. every metric the alerts and dashboards use exists in the code (or is
#      a switchboard_rtb_*/switchboard_dni_* metric of a later issue),
#   5. the ScyllaDB store (--features scylla): its unit tests and its TLS
#      tests on the wire (no ScyllaDB node needed; the conformance run
#      against a node is docs/scylla.md's).
# Usage: deploy/check.sh (from anywhere). Exits non-zero on the first failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
started=$SECONDS
step() { printf '\n== %s\n' "$*"; }

step "promtool"
if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool missing: installing Debian's prometheus package"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
    export DEBIAN_FRONTEND=noninteractive
    # The package would start a Prometheus server; policy-rc.d is not ours to
    # change, and without an init system nothing starts anyway.
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool --version | head -1
promtool check config "$here/prometheus/prometheus.yml"
promtool check rules "$here/prometheus/alerts.yml"

step "grafana, compose, metric names"
python3 - "$root" <<'PY'
import json, os, re, sys

root = sys.argv[1]
deploy = os.path.join(root, "deploy")
failures = []

def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)

# --- Grafana dashboards -------------------------------------------------------
dash_dir = os.path.join(deploy, "grafana", "dashboards")
dashboards = sorted(f for f in os.listdir(dash_dir) if f.endswith(".json"))
if not dashboards:
    fail("no dashboard in deploy/grafana/dashboards")
exprs = []
for name in dashboards:
    path = os.path.join(dash_dir, name)
    try:
        d = json.load(open(path))
    except ValueError as e:
        fail(f"{name}: not JSON: {e}")
        continue
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in d:
            fail(f"{name}: no {key!r}")
    ids = set()
    for p in d.get("panels", []):
        for key in ("id", "type", "title", "gridPos"):
            if key not in p:
                fail(f"{name}: panel {p.get('title')!r} has no {key!r}")
        if p.get("id") in ids:
            fail(f"{name}: duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        targets = p.get("targets") or []
        if not targets:
            fail(f"{name}: panel {p.get('title')!r} has no targets")
        for t in targets:
            if not t.get("expr"):
                fail(f"{name}: panel {p.get('title')!r} has a target without expr")
            exprs.append((f"{name}: {p.get('title')}", t.get("expr", "")))
            uid = (t.get("datasource") or p.get("datasource") or {}).get("uid")
            if uid != "prometheus":
                fail(f"{name}: panel {p.get('title')!r} uses datasource {uid!r}, not the provisioned 'prometheus'")
    print(f"ok: {name}: {len(d.get('panels', []))} panels")

# --- YAML files ---------------------------------------------------------------
try:
    import yaml
except ImportError:
    yaml = None
    print("SKIPPED: compose/provisioning checks (python3 yaml module missing: apt-get install python3-yaml)")

if yaml:
    for sub in ("datasources", "dashboards"):
        pdir = os.path.join(deploy, "grafana", "provisioning", sub)
        for f in sorted(os.listdir(pdir)):
            doc = yaml.safe_load(open(os.path.join(pdir, f)))
            if doc.get("apiVersion") != 1 or not doc.get("datasources" if sub == "datasources" else "providers"):
                fail(f"grafana provisioning {sub}/{f}: needs apiVersion: 1 and its list")
    ds = yaml.safe_load(open(os.path.join(deploy, "grafana", "provisioning", "datasources", "prometheus.yml")))
    if not any(d.get("uid") == "prometheus" and d.get("url") == "http://prometheus:9090" for d in ds["datasources"]):
        fail("the provisioned datasource must have uid 'prometheus' and url http://prometheus:9090")

    compose = yaml.safe_load(open(os.path.join(deploy, "docker-compose.yml")))
    services = compose.get("services", {})
    for need in ("scylla", "lb", "prometheus", "grafana"):
        if need not in services:
            fail(f"compose: no {need!r} service")
    nodes = [n for n, s in services.items() if s.get("command") == ["serve"]]
    if len(nodes) < 2:
        fail(f"compose: want two or more `serve` nodes, have {nodes}")
    env_files = set()
    for n, s in services.items():
        if "build" in s:
            b = s["build"]
            dockerfile = os.path.normpath(os.path.join(deploy, b["context"], b["dockerfile"]))
            if not os.path.isfile(dockerfile):
                fail(f"compose: {n}: no Dockerfile at {dockerfile}")
        ef = s.get("env_file")
        for e in ([ef] if isinstance(ef, str) else ef or []):
            env_files.add(e)
            if not os.path.isfile(os.path.join(deploy, e)):
                fail(f"compose: {n}: env_file {e} missing")
        for v in s.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                if not os.path.exists(os.path.join(deploy, src)):
                    fail(f"compose: {n}: mounts {src}, which does not exist")
            elif src not in (compose.get("volumes") or {}):
                fail(f"compose: {n}: volume {src} is not declared")
        for dep in (s.get("depends_on") or []):
            if dep not in services:
                fail(f"compose: {n} depends on unknown service {dep}")
    for e in env_files:
        env = dict(l.split("=", 1) for l in open(os.path.join(deploy, e)).read().splitlines() if l and not l.startswith("#"))
        store = env.get("SWITCHBOARD_STORE", "")
        m = re.match(r"scylla://([^/]+)/", store)
        if not m:
            fail(f"{e}: SWITCHBOARD_STORE must be a scylla:// URI in the cluster, is {store!r}")
        elif any(h.split(":")[0] not in services for h in m.group(1).split(",")):
            fail(f"{e}: SWITCHBOARD_STORE hosts {m.group(1)} are not compose services")
        if env.get("SWITCHBOARD_LISTEN", "").split(":")[0] != "0.0.0.0":
            fail(f"{e}: SWITCHBOARD_LISTEN must listen on 0.0.0.0 in a container")
        if len(env.get("SWITCHBOARD_CLUSTER_SECRET", "")) < 16:
            fail(f"{e}: SWITCHBOARD_CLUSTER_SECRET must be set (16+ characters) for the nodes to join one cluster")
    # The annotated configuration names every option the binary reads.
    main_rs = open(os.path.join(root, "api", "src", "main.rs")).read()
    example = open(os.path.join(deploy, "switchboard.example.env")).read()
    for var in sorted(set(re.findall(r'env = "(SWITCHBOARD_[A-Z_]+)"', main_rs))):
        if not re.search(rf"^#?{var}=", example, re.M):
            fail(f"switchboard.example.env: {var} (read by api/src/main.rs) is not documented")
    # Each node joins the cluster at its own service address, so caps hold across nodes.
    for n in nodes:
        url = (services[n].get("environment") or {}).get("SWITCHBOARD_CLUSTER_URL")
        if url != f"http://{n}:8080":
            fail(f"compose: {n}: SWITCHBOARD_CLUSTER_URL must be http://{n}:8080 (how its peers reach it), is {url!r}")

    nginx = open(os.path.join(deploy, "nginx", "nginx.conf")).read()
    if not re.search(r"location\s+/internal/\s*\{\s*return\s+404;", nginx):
        fail("nginx must not pass /internal/ (node-to-node requests) from the public entry point")
    upstream = set(re.findall(r"^\s*server\s+([\w.-]+):8080", nginx, re.M))
    if upstream != set(nodes):
        fail(f"nginx upstream {sorted(upstream)} != serve nodes {sorted(nodes)}")
    prom = yaml.safe_load(open(os.path.join(deploy, "prometheus", "prometheus.yml")))
    job = next((j for j in prom["scrape_configs"] if j["job_name"] == "switchboard"), None)
    targets = {t.split(":")[0] for sc in (job or {}).get("static_configs", []) for t in sc["targets"]}
    if targets != set(nodes):
        fail(f"prometheus targets {sorted(targets)} != serve nodes {sorted(nodes)}")
    if yaml:
        rules = yaml.safe_load(open(os.path.join(deploy, "prometheus", "alerts.yml")))
        for g in rules["groups"]:
            for r in g["rules"]:
                exprs.append((f"alert {r['alert']}", r["expr"]))
    if not failures:
        print(f"ok: compose ({len(services)} services, nodes {', '.join(nodes)}), nginx, prometheus targets")

# --- Metric names and labels -------------------------------------------------
# The names the binary declares, and the labels each is emitted with (every
# `CONST.inc_with/handle/record_with(&[("label", …)…])` in the sources: code
# emits through the table's typed handles).
consts = {}
for f in (("engine", "actors", "src", "metrics.rs"), ("api", "src", "server.rs"), ("api", "src", "telemetry.rs")):
    # `const NAME: &str = "…"`, or a row of the engine's `metrics!` table: `NAME: Kind = "…";`.
    consts.update(re.findall(r'\b([A-Z_]+): (?:&str|Counter|Gauge|Histogram) = "(switchboard_[a-z_]+)"', open(os.path.join(root, *f)).read()))
known = set(consts.values())
emitted = {name: set() for name in known}
for src in ("engine/actors/src", "api/src"):
    for dirpath, _, files in os.walk(os.path.join(root, src)):
        for f in files:
            text = open(os.path.join(dirpath, f)).read() if f.endswith(".rs") else ""
            for m in re.finditer(r"(?:[a-z_]+::)*\b([A-Z_]+)\s*\.\s*(?:inc_with|handle|record_with)\(\s*&\[(.*?)\]", text, re.S):
                if m.group(1) in consts:
                    emitted[consts[m.group(1)]] |= set(re.findall(r'\(\s*"([a-z_]+)"\s*,', m.group(2)))
for where, expr in exprs:
    metrics = {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\b(switchboard_[a-z_]+)", expr)}
    for metric in metrics - known:
        fail(f"{where}: unknown metric {metric} (not in engine/actors/src/metrics.rs)")
    grouped = {l.strip() for by in re.findall(r"\bby\s*\(([^)]*)\)", expr) for l in by.split(",") if l.strip()}
    have = {"instance", "job", "le"}.union(*(emitted.get(m, set()) for m in metrics))
    for label in grouped - have:
        fail(f"{where}: groups by {label!r}, a label {', '.join(sorted(metrics))} is not emitted with")
if not failures:
    print(f"ok: metric names and labels ({len(exprs)} expressions, {len(known)} metrics known)")

if failures:
    sys.exit(f"{len(failures)} problem(s) in deploy/")
PY

step "cargo test -p switchboard-store --features scylla --lib --test scylla_tls"
(cd "$root" && cargo test -q -p switchboard-store --features scylla --lib --test scylla_tls)
echo "ok: the ScyllaDB store compiles, its unit tests and TLS tests pass"

step "ScyllaDB conformance suite"
if [ -n "${SWITCHBOARD_TEST_SCYLLA:-}" ]; then
  (cd "$root" && cargo test -q -p switchboard-store --features scylla --test conformance -- --ignored)
else
  echo "SKIPPED: no ScyllaDB node (set SWITCHBOARD_TEST_SCYLLA=host:port to run the conformance suite against one)"
fi

printf '\ndeploy/check.sh: all checks passed in %ss\n' "$((SECONDS - started))"
