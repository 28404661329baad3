#!/usr/bin/python3
# Checks conf-examples/observability/ with Prometheus' own promtool and
# against the module's real metrics:
#   observability_check.py REPO_DIR METRICS_FILE WORK_DIR
#
# - prometheus.yml: "promtool check config" (which checks the rule files
#   it names too); fcfh-alerts.yml: "promtool check rules";
# - the alerts: "promtool test rules" on the cases of
#   t/observability/alert-cases.yml (each alert fires where it should and
#   every other stays quiet), every alert fires in some case, the alerts
#   issue 16 asks for are there;
# - grafana-fcfh.json: a dashboard Grafana can import (panels, grid,
#   datasource variable), its queries parse as PromQL (promtool, as
#   recording rules);
# - every metric, label and label value the rules, the cases and the
#   dashboard name is one the module emits (METRICS_FILE, a real scrape)
#   or, for what a scrape on one node cannot show, documented in
#   docs/directives.md.
#
# Prints "ok<TAB>what" or "not ok<TAB>what<TAB>why" lines, like
# prom_check.py.
import json
import os
import re
import subprocess
import sys

import yaml
from prometheus_client.parser import text_string_to_metric_families

repo, metrics_file, work = (os.path.abspath(a) for a in sys.argv[1:4])
obs = os.path.join(repo, "conf-examples/observability")
results = []


def check(what, failures):
    if failures:
        results.append("not ok\t%s\t%s" % (what, "; ".join(
            str(f).replace("\n", " | ") for f in failures[:8])))
    else:
        results.append("ok\t%s" % what)


def promtool(*args):
    p = subprocess.run(["promtool"] + list(args), capture_output=True,
                       text=True, cwd=work)
    return p.returncode, (p.stdout + p.stderr).strip()


# --- promtool on the files as shipped ---------------------------------------

rc, out = promtool("check", "config", os.path.join(obs, "prometheus.yml"))
check("promtool check config prometheus.yml", [] if rc == 0 else [out])

rules_file = os.path.join(obs, "fcfh-alerts.yml")
rc, out = promtool("check", "rules", rules_file)
check("promtool check rules fcfh-alerts.yml", [] if rc == 0 else [out])

rules = yaml.safe_load(open(rules_file))
alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
names = [a["alert"] for a in alerts]

want = ["FcfhClusterDirectoryDown", "FcfhHandshakeFailureRate",
        "FcfhTunnelsDropping", "FcfhZoneNearlyFull", "FcfhWebhookFailing"]
check("alerts: directory down, handshake failure rate, tunnels dropping, "
      "zone nearly full, webhook failing",
      [n for n in want if n not in names])

bad = []
for a in alerts:
    if a.get("labels", {}).get("severity") not in ("warning", "critical"):
        bad.append("%s: no severity" % a["alert"])
    for k in ("summary", "description"):
        if not a.get("annotations", {}).get(k):
            bad.append("%s: no %s" % (a["alert"], k))
check("every alert has a severity, a summary and a description", bad)

# --- promtool test rules on the cases ---------------------------------------

cases = yaml.safe_load(open(os.path.join(
    repo, "t/observability/alert-cases.yml")))["cases"]


def render(template, labels, value):
    """the annotation as Prometheus writes it: $labels.X and $value"""
    def one(m):
        inner = m.group(1).strip()
        lm = re.fullmatch(r"\$labels\.(\w+)", inner)
        if lm:
            return labels.get(lm.group(1), "")
        if re.fullmatch(r"\$value(\s*\|\s*\w+)?", inner):
            if value is None:
                raise ValueError("a case must give the value of %r"
                                 % template)
            return str(value)
        raise ValueError("template %r not understood" % inner)
    return re.sub(r"\{\{(.*?)\}\}", one, template)


tests, fired, bad = [], set(), []
for case in cases:
    art = []
    for a in alerts:
        exp = []
        for f in (case.get("firing") or {}).get(a["alert"], []):
            labels = dict(f["labels"])
            labels.update(a.get("labels", {}))
            try:
                ann = {k: render(v, labels, f.get("value"))
                       for k, v in a.get("annotations", {}).items()}
            except ValueError as e:
                bad.append("%s: %s" % (case["name"], e))
                ann = {}
            exp.append({"exp_labels": labels, "exp_annotations": ann})
            fired.add(a["alert"])
        art.append({"eval_time": case["at"], "alertname": a["alert"],
                    "exp_alerts": exp})
    for n in (case.get("firing") or {}):
        if n not in names:
            bad.append("%s: no alert %s" % (case["name"], n))
    tests.append({"name": case["name"], "interval": "1m",
                  "input_series": [{"series": s, "values": v}
                                   for s, v in case["series"].items()],
                  "alert_rule_test": art})

test_file = os.path.join(work, "fcfh-alerts.test.yml")
with open(test_file, "w") as fh:
    yaml.safe_dump({"rule_files": [rules_file], "evaluation_interval": "1m",
                    "tests": tests}, fh, sort_keys=False)
rc, out = promtool("test", "rules", test_file)
check("promtool test rules: %d cases, every alert checked in each"
      % len(cases), bad + ([] if rc == 0 else [out]))
check("every alert fires in some case", [n for n in names if n not in fired])

# --- the dashboard ----------------------------------------------------------

dash_file = os.path.join(obs, "grafana-fcfh.json")
try:
    dash = json.load(open(dash_file))
    check("grafana-fcfh.json is JSON", [])
except ValueError as e:
    dash = {"panels": []}
    check("grafana-fcfh.json is JSON", [str(e)])

bad = []
for k in ("title", "uid", "schemaVersion", "panels", "templating"):
    if k not in dash:
        bad.append("no %s" % k)
tvars = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
if tvars.get("datasource", {}).get("type") != "datasource" \
        or tvars["datasource"].get("query") != "prometheus":
    bad.append("no Prometheus datasource variable")
panels = []
for p in dash.get("panels", []):
    panels.append(p)
    panels.extend(p.get("panels", []))
ids = [p.get("id") for p in panels]
if len(set(ids)) != len(ids) or None in ids:
    bad.append("panel ids not unique")
cells = {}
for p in panels:
    g = p.get("gridPos", {})
    if not p.get("title") or not p.get("type"):
        bad.append("panel %s: no title or type" % p.get("id"))
    if any(not isinstance(g.get(k), int) for k in "xywh") \
            or g["x"] + g["w"] > 24:
        bad.append("panel %s: bad gridPos %s" % (p.get("id"), g))
        continue
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                bad.append("panels %s and %s overlap"
                           % (cells[(x, y)], p.get("id")))
            cells[(x, y)] = p.get("id")
    if p.get("type") == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        bad.append("panel %s: not on the datasource variable" % p.get("id"))
    if not p.get("targets") or any(not t.get("expr")
                                   for t in p["targets"]):
        bad.append("panel %s: a target without a query" % p.get("id"))
check("the dashboard: panels with titles, types, queries, a grid without "
      "overlaps, the datasource variable", sorted(set(bad)))

dash_exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
var_queries = []
for v in tvars.values():
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    if v.get("type") == "query" and q:
        var_queries.append(q)


def grafana_to_promql(e):
    e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    e = e.replace("$__range", "1h")
    return re.sub(r"\$\{?\w+\}?", ".*", e)


rec = {"groups": [{"name": "dashboard", "rules": [
    {"record": "dashboard:query%d" % i, "expr": grafana_to_promql(e)}
    for i, e in enumerate(dash_exprs)]}]}
rec_file = os.path.join(work, "dashboard-queries.yml")
with open(rec_file, "w") as fh:
    yaml.safe_dump(rec, fh)
rc, out = promtool("check", "rules", rec_file)
check("every dashboard query parses as PromQL (%d)" % len(dash_exprs),
      [] if rc == 0 and dash_exprs else [out or "no queries"])

# --- names: what the module emits or documents --------------------------------

live = {}     # sample name -> {label: set(values)}
for fam in text_string_to_metric_families(
        open(metrics_file, "rb").read().decode("utf-8")):
    for s in fam.samples:
        d = live.setdefault(s.name, {})
        for k, v in s.labels.items():
            d.setdefault(k, set()).add(v)

doc = open(os.path.join(repo, "docs/directives.md"), encoding="utf-8").read()
m = re.search(r"^### fcfh_metrics\n(.*?)^### ", doc, re.S | re.M)
documented = {}
conditional = set()   # families a scrape of one node may not have
for row in re.finditer(r"^\| `(fcfh_\w+)` \| (\w+) \| ([^|]*) \| ([^\n]*)",
                       m.group(1) if m else "", re.M):
    documented[row.group(1)] = (row.group(2),
                                set(re.findall(r"`(\w+)`", row.group(3))))
    if re.search(r"\bonly\b", row.group(4).split(":")[0]):
        conditional.add(row.group(1))


def known(name):
    """
    the labels of a sample name, from the scrape, or from the docs for a
    family the docs say a scrape shows only in some setups (a cluster)
    """
    if name in live:
        return live[name], True
    for suffix in ("", "_bucket", "_sum", "_count"):
        base = name[: len(name) - len(suffix)] if suffix else name
        if name.endswith(suffix) and base in conditional:
            labels = documented[base][1] | ({"le"} if suffix == "_bucket"
                                            else set())
            return {k: None for k in labels}, False
    return None, False


PROM = {"up"}                 # Prometheus' own series
OURS = {"instance", "job"}    # labels Prometheus adds


def strip_strings(e):
    return re.sub(r'"[^"]*"', '""', e)


def check_expr(where, e, bad):
    for name in set(re.findall(r"\b(fcfh_\w+)", strip_strings(e))):
        if known(name)[0] is None:
            bad.append("%s: %s is no metric of the module" % (where, name))
    for sel in re.finditer(r"\b(fcfh_\w+)\s*\{([^}]*)\}", e):
        labels, is_live = known(sel.group(1))
        if labels is None:
            continue
        for mm in re.finditer(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"',
                              sel.group(2)):
            k, op, v = mm.groups()
            if k in OURS:
                continue
            if k not in labels:
                bad.append("%s: %s has no label %s" % (where, sel.group(1),
                                                       k))
                continue
            if not is_live or k == "le":
                continue
            values = v.split("|") if op in ("=~", "!~") else [v]
            for x in values:
                if re.fullmatch(r"[a-z0-9_.]+", x) and x not in labels[k]:
                    bad.append('%s: %s{%s="%s"} is never emitted'
                               % (where, sel.group(1), k, x))
    # the labels an aggregation keeps exist on the metrics it reads
    metric_labels = set()
    for name in re.findall(r"\b(fcfh_\w+)", strip_strings(e)):
        labels = known(name)[0]
        if labels is not None:
            metric_labels |= set(labels)
    for by in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", e):
        for k in re.findall(r"\w+", by.group(1)):
            if k not in OURS and k not in metric_labels:
                bad.append("%s: aggregates by %s, a label of none of its "
                           "metrics" % (where, k))


bad = []
for a in alerts:
    check_expr("alert %s" % a["alert"], a["expr"], bad)
    for name in set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\s*[{\[]",
                               strip_strings(a["expr"]))):
        if not name.startswith("fcfh_") and name not in PROM \
                and name not in ("by", "without", "on", "ignoring"):
            bad.append("alert %s: %s is no known series" % (a["alert"],
                                                            name))
check("the alert rules name only metrics, labels and label values the "
      "module emits", bad)

bad = []
for case in cases:
    for s in case["series"]:
        if s.startswith("up{"):
            continue
        check_expr("case %r" % case["name"], s, bad)
check("the alert cases use the module's series", bad)

bad = []
for i, e in enumerate(dash_exprs + var_queries):
    check_expr("dashboard query %d" % i, e, bad)
check("the dashboard names only metrics, labels and label values the "
      "module emits", bad)

# the families a dashboard should show: every documented family in some
# panel (histograms by a series of theirs)
shown = " ".join(dash_exprs)
check("every documented metric is on the dashboard",
      [n for n in documented if not re.search(r"\b%s(_bucket|_sum|_count)?\b"
                                              % n, shown)])

print("\n".join(results))
