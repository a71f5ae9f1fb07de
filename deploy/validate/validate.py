#!/usr/bin/env python3
"""Checks the deployment files without a container engine.

- Grafana: provisioning files use only what Grafana expands ($VAR, ${VAR});
  the ClickHouse datasource is the official plugin with its password in
  secureJsonData; every dashboard follows Grafana's rules: known panel types,
  gridPos inside the 24-column grid and not overlapping, unique panel ids,
  datasource references that resolve to provisioned uids (and types),
  variables defined where used and used where defined.
- deploy/compose/compose.yaml against the compose-spec JSON schema
  (compose-spec.json here, from compose-spec/compose-spec, Apache-2.0).
- deploy/k8s/*.yaml against the Kubernetes JSON schemas (kubernetes-validate).
- Agreement: the compose file, the manifests and the local scripts use the
  same ports, AUTHPULSE_* names that exist, and config-file keys that exist
  (the reference in docs/operations.md, which a cargo test keeps equal to
  the CLI).

Run by deploy/local/test.sh; exits non-zero naming every problem.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


# Panel types Grafana 11/12 ships (core visualizations) plus "row".
PANEL_TYPES = {
    "alertlist", "annolist", "barchart", "bargauge", "candlestick", "canvas", "dashlist",
    "datagrid", "flamegraph", "gauge", "geomap", "heatmap", "histogram", "logs", "news",
    "nodeGraph", "piechart", "stat", "state-timeline", "status-history", "table", "text",
    "timeseries", "traces", "trend", "xychart", "row",
}
# Variables Grafana itself defines.
GRAFANA_GLOBALS = {
    "__interval", "__interval_ms", "__range", "__range_s", "__range_ms", "__rate_interval",
    "__from", "__to", "__dashboard", "__org", "__user", "__timezone", "__name",
    "timeFilter", "__all",
}
# Macros of grafana-clickhouse-datasource (pkg/macros/macros.go).
CLICKHOUSE_MACROS = {
    "__fromTime", "__toTime", "__fromTime_ms", "__toTime_ms", "__timeFilter", "__timeFilter_ms",
    "__dateFilter", "__dateTimeFilter", "__dt", "__timeInterval", "__timeInterval_ms",
    "__interval_s",
}
# Grafana's variable syntax: $name, ${name}, ${name:format}, [[name]].
VAR_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]+)?\}|\[\[(\w+)(?::\w+)?\]\]")
# What Grafana's provisioning expands: $VAR or ${VAR}, nothing else.
ENV_OK = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})")


def grafana():
    prov = REPO / "deploy/grafana/provisioning"
    uids = {}
    env_vars = set()
    for f in sorted(prov.rglob("*.yaml")):
        text = f.read_text()
        for line_no, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for m in re.finditer(r"\$", line):
                if not ENV_OK.match(line, m.start()):
                    problem(f"{f.relative_to(REPO)}:{line_no}", f"Grafana does not expand {line[m.start():].strip()!r} (only $VAR / ${{VAR}})")
            env_vars.update(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", line))
        doc = yaml.safe_load(text)
        if doc.get("apiVersion") != 1:
            problem(f, "apiVersion must be 1")
        for ds in doc.get("datasources", []):
            uids[ds["uid"]] = ds["type"]
            if ds["type"] == "grafana-clickhouse-datasource":
                jd = ds.get("jsonData", {})
                for key in ("host", "port", "protocol", "defaultDatabase", "username"):
                    if key not in jd:
                        problem(f, f"clickhouse datasource lacks jsonData.{key}")
                if "password" in jd or "password" not in ds.get("secureJsonData", {}):
                    problem(f, "the ClickHouse password belongs in secureJsonData.password")
                if jd.get("protocol") not in ("native", "http"):
                    problem(f, "protocol must be native or http")
        for p in doc.get("providers", []):
            if p.get("type") != "file" or "path" not in p.get("options", {}):
                problem(f, "dashboard provider must be type file with options.path")
    if not uids:
        problem(prov, "no datasources provisioned")

    dashboards = sorted((REPO / "deploy/grafana/dashboards").glob("*.json"))
    if len(dashboards) < 2:
        problem("deploy/grafana/dashboards", "expected the overview and the ingest-health dashboards")
    seen_uids = set()
    for f in dashboards:
        name = f.relative_to(REPO)
        d = json.loads(f.read_text())
        for key in ("uid", "title", "panels", "templating", "schemaVersion", "time"):
            if key not in d:
                problem(name, f"missing {key}")
        if d["uid"] in seen_uids:
            problem(name, f"duplicate dashboard uid {d['uid']}")
        seen_uids.add(d["uid"])
        defined = {}
        for v in d["templating"]["list"]:
            defined[v["name"]] = v
            check_ds(name, f"variable {v['name']}", v.get("datasource"), uids)
        used = set()
        ids = set()
        rects = []
        for p in d["panels"]:
            title = p.get("title", "?")
            where = f"{name} panel {title!r}"
            if not isinstance(p.get("type"), str) or p["type"] not in PANEL_TYPES:
                problem(where, f"unknown panel type {p.get('type')!r}")
            if p.get("id") in ids:
                problem(where, f"duplicate panel id {p.get('id')}")
            ids.add(p.get("id"))
            g = p.get("gridPos", {})
            if not all(isinstance(g.get(k), int) for k in "xywh"):
                problem(where, f"gridPos needs integer x, y, w, h: {g}")
                continue
            if g["x"] < 0 or g["y"] < 0 or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > 24:
                problem(where, f"gridPos {g} is outside the 24-column grid")
            for other_title, o in rects:
                if g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"] and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"]:
                    problem(where, f"overlaps panel {other_title!r}")
            rects.append((title, g))
            check_ds(name, where, p.get("datasource"), uids)
            texts = [title, p.get("description", "")]
            refs = set()
            for t in p.get("targets", []):
                check_ds(name, where, t.get("datasource", p.get("datasource")), uids)
                if t.get("refId") in refs:
                    problem(where, f"duplicate refId {t.get('refId')}")
                refs.add(t.get("refId"))
                ds_type = (t.get("datasource") or p.get("datasource") or {}).get("type")
                if ds_type == "grafana-clickhouse-datasource":
                    if not t.get("rawSql"):
                        problem(where, "ClickHouse target without rawSql")
                    if t.get("editorType") != "sql":
                        problem(where, "ClickHouse target must use the SQL editor (editorType sql)")
                    # The plugin's QueryType (src/types/sql.ts) and sqlutil's
                    # format (0 time series, 1 table).
                    fmt = {"timeSeries": 0, "table": 1, "logs": 2, "traces": 3}.get(t.get("queryType"))
                    if fmt is None or t.get("format") != fmt:
                        problem(where, f"queryType {t.get('queryType')!r} / format {t.get('format')!r} are not a pair the plugin knows")
                    texts.append(t.get("rawSql", ""))
                elif ds_type == "prometheus":
                    if not t.get("expr"):
                        problem(where, "Prometheus target without expr")
                    texts.append(t.get("expr", ""))
                    texts.append(t.get("legendFormat", ""))
            if not refs:
                problem(where, "no targets")
            for text in texts:
                for m in VAR_RE.finditer(text):
                    var = next(g for g in m.groups() if g)
                    if var in CLICKHOUSE_MACROS or var in GRAFANA_GLOBALS:
                        continue
                    if var not in defined:
                        problem(where, f"uses undefined variable ${var}")
                    used.add(var)
        for v in defined.values():
            q = v.get("query")
            q = q if isinstance(q, str) else (q or {}).get("query", "")
            for m in VAR_RE.finditer(q or ""):
                var = next(g for g in m.groups() if g)
                if var not in defined and var not in GRAFANA_GLOBALS:
                    problem(name, f"variable {v['name']} uses undefined ${var}")
                used.add(var)
        for var in defined:
            if var not in used:
                problem(name, f"variable {var} is defined but no panel uses it")
    return env_vars


def check_ds(dash, where, ds, uids):
    if ds is None:
        return
    if isinstance(ds, str):
        problem(f"{dash} {where}", f"datasource given by name {ds!r}: use {{type, uid}}")
        return
    uid = ds.get("uid")
    if uid not in uids:
        problem(f"{dash} {where}", f"datasource uid {uid!r} is not provisioned ({sorted(uids)})")
    elif ds.get("type") != uids[uid]:
        problem(f"{dash} {where}", f"datasource {uid} has type {uids[uid]}, not {ds.get('type')}")


def known_settings():
    """Config keys and env names from the generated reference."""
    doc = (REPO / "docs/operations.md").read_text()
    keys = set(re.findall(r"^\| `([a-z0-9_]+)` \| `AUTHPULSE_", doc, re.M))
    if len(keys) < 15:
        problem("docs/operations.md", "configuration reference not found")
    return keys, {f"AUTHPULSE_{k.upper()}" for k in keys} | {"AUTHPULSE_CONFIG"}


def compose(keys, env_names, grafana_env):
    f = REPO / "deploy/compose/compose.yaml"
    doc = yaml.safe_load(f.read_text())
    schema = json.loads((REPO / "deploy/validate/compose-spec.json").read_text())
    for e in sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str):
        problem("compose.yaml", f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
    services = doc["services"]
    for name in ("kafka", "clickhouse", "grafana", "ingest", "api", "collector", "migrate"):
        if name not in services:
            problem("compose.yaml", f"no service {name}")
    if not services.get("kafka", {}).get("image", "").startswith("apache/kafka:"):
        problem("compose.yaml", "kafka must run the apache/kafka image (KRaft)")
    for name, s in services.items():
        for k in (s.get("environment") or {}):
            if k.startswith("AUTHPULSE_") and k not in env_names:
                problem(f"compose.yaml service {name}", f"unknown setting {k}")
    g = services.get("grafana", {})
    missing = grafana_env - set(g.get("environment", {}))
    if missing:
        problem("compose.yaml grafana", f"does not set {sorted(missing)} the provisioning reads")
    if "grafana-clickhouse-datasource" not in json.dumps(g.get("environment", {})):
        problem("compose.yaml grafana", "does not install grafana-clickhouse-datasource")
    toml = tomllib.loads((REPO / "deploy/compose/authpulse.toml").read_text())
    check_toml("deploy/compose/authpulse.toml", toml, keys)
    return services, toml


def check_toml(where, toml, keys):
    for k in toml:
        if k not in keys:
            problem(where, f"unknown config key {k}")


def port_of(addr):
    return int(str(addr).rsplit(":", 1)[1])


def k8s(keys, env_names, grafana_env):
    docs = []
    for f in sorted((REPO / "deploy/k8s").glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d is None:
                continue
            docs.append(d)
            try:
                kubernetes_validate.validate(d, "1.33", strict=True)
            except kubernetes_validate.ValidationError as e:
                problem(f"{f.relative_to(REPO)} {d.get('kind')}/{d['metadata']['name']}", f"{'/'.join(map(str, e.path))}: {e.message}")
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    toml = tomllib.loads(by[("ConfigMap", "authpulse-config")]["data"]["authpulse.toml"])
    check_toml("deploy/k8s ConfigMap authpulse-config", toml, keys)
    for d in docs:
        spec = d.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            for e in c.get("env", []):
                if e["name"].startswith("AUTHPULSE_") and e["name"] not in env_names:
                    problem(f"deploy/k8s {d['metadata']['name']}", f"unknown setting {e['name']}")
    g = by[("Deployment", "authpulse-grafana")]["spec"]["template"]["spec"]["containers"][0]
    have = {e["name"] for e in g.get("env", [])}
    secret = by[("Secret", "authpulse-grafana")]["stringData"]
    missing = grafana_env - have - set(secret)
    if missing:
        problem("deploy/k8s grafana", f"does not set {sorted(missing)} the provisioning reads")
    return by, toml


def agree(services, ctoml, by, ktoml):
    """Ports and listen addresses agree across compose, k8s and the scripts."""
    def container_port(name, port_name):
        c = by[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        return next(p["containerPort"] for p in c["ports"] if p["name"] == port_name), c

    for toml, where in ((ctoml, "compose"), (ktoml, "k8s")):
        if port_of(toml["api_listen"]) != 8080 or port_of(toml["metrics_listen"]) != 9464:
            problem(where, "api listens on 8080 and ingest metrics on 9464 (the documented ports)")
    api_port, _ = container_port("authpulse-api", "http")
    ingest_port, ingest = container_port("authpulse-ingest", "metrics")
    collect_port, collector = container_port("authpulse-collector", "http")
    if api_port != port_of(ktoml["api_listen"]):
        problem("k8s api", f"containerPort {api_port} != api_listen {ktoml['api_listen']}")
    if ingest_port != port_of(ktoml["metrics_listen"]):
        problem("k8s ingest", f"containerPort {ingest_port} != metrics_listen {ktoml['metrics_listen']}")
    if ingest["livenessProbe"]["httpGet"]["path"] != "/healthz" or ingest["readinessProbe"]["httpGet"]["path"] != "/readyz":
        problem("k8s ingest", "probes must be /healthz and /readyz")
    kc = {e["name"]: e.get("value") for e in collector["env"]}
    cc = services["collector"]["environment"]
    if port_of(kc["AUTHPULSE_COLLECTOR_LISTEN"]) != collect_port or port_of(cc["AUTHPULSE_COLLECTOR_LISTEN"]) != 8090:
        problem("collector", "listens on 8090 in compose and k8s (AUTHPULSE_COLLECTOR_LISTEN)")
    if "8080:8080" not in services["api"].get("ports", []) or "8090:8090" not in services["collector"].get("ports", []):
        problem("compose.yaml", "publishes api 8080 and collector 8090")
    if services["ingest"].get("expose") != [str(port_of(ctoml["metrics_listen"]))]:
        problem("compose.yaml ingest", "exposes the metrics port of authpulse.toml")
    prom = yaml.safe_load((REPO / "deploy/compose/prometheus.yml").read_text())
    ports = {c["job_name"]: c for c in prom["scrape_configs"]}
    if ports["authpulse-ingest"]["dns_sd_configs"][0]["port"] != port_of(ctoml["metrics_listen"]):
        problem("prometheus.yml", "scrapes ingest on its metrics port")
    if ports["authpulse-api"]["static_configs"][0]["targets"] != [f"api:{port_of(ctoml['api_listen'])}"]:
        problem("prometheus.yml", "scrapes the API on its port")
    for (a, b) in ((ctoml, ktoml),):
        for key in ("database", "topics", "dlq_topic", "group"):
            if a.get(key) != b.get(key):
                problem("compose vs k8s", f"{key}: {a.get(key)!r} vs {b.get(key)!r}")
    # The image: multi-stage, runs as a non-root user, exposes the same ports.
    docker = (REPO / "deploy/docker/Dockerfile").read_text()
    if len(re.findall(r"^FROM ", docker, re.M)) < 2:
        problem("Dockerfile", "expected a multi-stage build")
    users = re.findall(r"^USER (\S+)", docker, re.M)
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problem("Dockerfile", "the runtime stage must run as a non-root USER")
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", docker, re.M) for p in line.split()}
    want = {port_of(ctoml["api_listen"]), port_of(ctoml["metrics_listen"]), 8090}
    if exposed != want:
        problem("Dockerfile", f"EXPOSE {sorted(exposed)} != the service ports {sorted(want)}")
    # The local scripts: same defaults (docs say 8080 and 9464).
    up = (REPO / "deploy/local/up.sh").read_text()
    if "127.0.0.1:8080" not in up or "METRICS_PORT:-9464" not in up:
        problem("deploy/local/up.sh", "default API 8080 / metrics 9464 as everywhere else")
    for env in set(re.findall(r"AUTHPULSE_[A-Z_]+", up)):
        if env not in ENV_NAMES:
            problem("deploy/local/up.sh", f"unknown setting {env}")


if __name__ == "__main__":
    grafana_env = grafana()
    KEYS, ENV_NAMES = known_settings()
    ENV_NAMES |= {"AUTHPULSE_REPO", "AUTHPULSE_CACHE", "AUTHPULSE_VENV", "AUTHPULSE_PYTHON"}  # lib.sh's own
    services, ctoml = compose(KEYS, ENV_NAMES, grafana_env)
    by, ktoml = k8s(KEYS, ENV_NAMES, grafana_env)
    agree(services, ctoml, by, ktoml)
    if problems:
        print("\n".join(problems))
        print(f"0 passed, {len(problems)} failed")
        sys.exit(1)
    print("deployment files valid: Grafana dashboards and provisioning, compose (compose-spec), "
          "Kubernetes manifests, ports/settings agree")
    print("4 passed, 0 failed")
