#!/usr/bin/python3
# Checks a fcfh_metrics answer against Prometheus' conventions and the
# documented metrics list: prom_check.py METRICS_FILE REPO_DIR
#
# Prints one line per check, "ok<TAB>what" or "not ok<TAB>what<TAB>why",
# for t/67-metrics.t to turn into TAP. The text is parsed with Debian's
# python3-prometheus-client (the reference parser of the exposition
# format); the conventions are those of prometheus.io's "Metric and
# label naming" and "Histograms and summaries" pages.
import math
import os
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

metrics_file, repo = sys.argv[1], sys.argv[2]
text = open(metrics_file, "rb").read().decode("utf-8", "strict")
results = []


def check(what, failures):
    """failures: a list of strings, empty when the check passes"""
    if failures:
        results.append("not ok\t%s\t%s" % (what, "; ".join(failures[:8])))
    else:
        results.append("ok\t%s" % what)


# --- the reference parser takes the whole text ---------------------------

try:
    families = list(text_string_to_metric_families(text))
    check("the prometheus_client parser takes the text", [])
except Exception as e:  # noqa: BLE001 - any refusal is the finding
    check("the prometheus_client parser takes the text", [repr(e)])
    print("\n".join(results))
    sys.exit(0)

# --- the raw text: HELP and TYPE before every family's samples -----------

helps, types, order = {}, {}, []
undeclared = []
HIST_SUFFIXES = ("_bucket", "_sum", "_count")

for line in text.split("\n"):
    if not line:
        continue
    m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)$", line)
    if m:
        (helps if m.group(1) == "HELP" else types)[m.group(2)] = m.group(3)
        if m.group(1) == "TYPE":
            order.append(m.group(2))
        continue
    if line.startswith("#"):
        continue
    name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
    family = name
    if name not in types:
        for suffix in HIST_SUFFIXES:
            base = name[: -len(suffix)]
            if name.endswith(suffix) and types.get(base) == "histogram":
                family = base
    if family not in types or family not in helps:
        undeclared.append(name)

check("every sample's family has # HELP and # TYPE before it",
      sorted(set(undeclared)))
check("every family has a help text",
      [f for f in order if not helps.get(f, "").strip()])

# --- names -----------------------------------------------------------------

bad = []
for f in order:
    t = types[f]
    if not re.fullmatch(r"fcfh_[a-z0-9]+(_[a-z0-9]+)*", f):
        bad.append("%s: not fcfh_ snake_case" % f)
    if t == "counter" and not f.endswith("_total"):
        bad.append("%s: a counter without _total" % f)
    if t != "counter" and f.endswith("_total"):
        bad.append("%s: a %s named _total" % (f, t))
    if t not in ("counter", "gauge", "histogram"):
        bad.append("%s: type %s" % (f, t))
    base = f[:-6] if f.endswith("_total") else f
    if "bytes" in base and not base.endswith("_bytes"):
        bad.append("%s: bytes not as the unit suffix" % f)
    if re.search(r"(seconds|duration|latency|_time$|_time_)", base) \
            and not base.endswith("_seconds"):
        bad.append("%s: a time not in _seconds" % f)
    if t == "histogram" and not re.search(r"_(seconds|bytes)$", f):
        bad.append("%s: a histogram without a unit" % f)
    if re.search(r"(milli|micro|kilo|mega|_ms$|_kb$)", f):
        bad.append("%s: not a base unit" % f)
check("names: fcfh_ snake_case, _total on counters only, base units as "
      "suffixes (_bytes, _seconds)", bad)

# --- label values: snake_case, no spaces, no capitals --------------------

bad = []
for fam in families:
    for s in fam.samples:
        for k, v in s.labels.items():
            if k == "le":
                continue
            if not re.fullmatch(r"[a-z0-9_.]+", v):
                bad.append('%s{%s="%s"}' % (s.name, k, v))
check("label values are snake_case: no spaces, no capitals", sorted(set(bad)))

bad = []
for fam in families:
    for s in fam.samples:
        for k in s.labels:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", k):
                bad.append("%s: label %s" % (s.name, k))
check("label names are snake_case", sorted(set(bad)))

# --- one family per quantity: no series twice -----------------------------

seen, dup = {}, []
for fam in families:
    for s in fam.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in seen:
            dup.append("%s%s" % key)
        seen[key] = 1
check("no series is emitted twice", dup)

# --- histograms -----------------------------------------------------------

bad = []
hist = [f for f in families if f.type == "histogram"]
for fam in hist:
    groups = {}
    for s in fam.samples:
        labels = tuple(sorted((k, v) for k, v in s.labels.items()
                              if k != "le"))
        g = groups.setdefault(labels, {"buckets": [], "sum": None,
                                       "count": None})
        if s.name.endswith("_bucket"):
            g["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_sum"):
            g["sum"] = s.value
        elif s.name.endswith("_count"):
            g["count"] = s.value
    if not groups:
        bad.append("%s: no samples" % fam.name)
    for labels, g in groups.items():
        b = g["buckets"]
        les = [le for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            bad.append("%s%s: bounds not increasing" % (fam.name, labels))
        if not b or not math.isinf(les[-1]):
            bad.append("%s%s: no +Inf bucket" % (fam.name, labels))
        vals = [v for _, v in b]
        if any(vals[i] > vals[i + 1] for i in range(len(vals) - 1)):
            bad.append("%s%s: buckets not cumulative" % (fam.name, labels))
        if g["count"] is None or g["sum"] is None:
            bad.append("%s%s: no _sum or _count" % (fam.name, labels))
        elif b and vals[-1] != g["count"]:
            bad.append("%s%s: +Inf %s != _count %s"
                       % (fam.name, labels, vals[-1], g["count"]))
        if g["sum"] is not None and g["sum"] < 0:
            bad.append("%s%s: negative _sum" % (fam.name, labels))
check("histograms: increasing bounds, cumulative buckets, +Inf = _count, "
      "a _sum", bad)
check("there is a histogram", [] if hist else ["none"])

# --- build info ------------------------------------------------------------

bi = [f for f in families if f.name == "fcfh_build_info"]
bad = []
if not bi or bi[0].type != "gauge" or len(bi[0].samples) != 1:
    bad.append("no fcfh_build_info gauge with one sample")
else:
    s = bi[0].samples[0]
    if s.value != 1:
        bad.append("value %s" % s.value)
    for k in ("version", "nginx_version"):
        if not re.fullmatch(r"\d+(\.\d+)+", s.labels.get(k, "")):
            bad.append("%s=%r" % (k, s.labels.get(k)))
check("fcfh_build_info{version,nginx_version} 1", bad)

# --- the documented list (docs/directives.md, fcfh_metrics) ---------------

doc = open(os.path.join(repo, "docs/directives.md"), encoding="utf-8").read()
m = re.search(r"^### fcfh_metrics\n(.*?)^### ", doc, re.S | re.M)
documented = {}
for row in re.finditer(r"^\| `(fcfh_\w+)` \| (\w+) \| ([^|]*) \|", m.group(1)
                       if m else "", re.M):
    labels = set(re.findall(r"`(\w+)`", row.group(3)))
    documented[row.group(1)] = (row.group(2), labels)
check("docs/directives.md lists the metrics in a table",
      [] if len(documented) >= 10 else ["%d rows" % len(documented)])

bad = []
for f in order:
    if f not in documented:
        bad.append("%s: not in the list" % f)
        continue
    dtype, dlabels = documented[f]
    if dtype != types[f]:
        bad.append("%s: documented %s, emitted %s" % (f, dtype, types[f]))
    emitted = set()
    fam = [x for x in families
           if x.name == f or x.name + "_total" == f]
    for x in fam:
        for s in x.samples:
            emitted |= set(k for k in s.labels if k != "le")
    if emitted != dlabels:
        bad.append("%s: documented labels %s, emitted %s"
                   % (f, sorted(dlabels), sorted(emitted)))
check("every family emitted is documented with its type and labels", bad)

# and the table of the module's source: what a scrape here cannot show
# (fcfh_cluster_directory_up is only on a cluster node)
src = open(os.path.join(repo, "ngx_fcfh_module/ngx_http_fcfh_metrics.c"),
           encoding="utf-8").read()
table = re.search(r"ngx_http_fcfh_families\[\] = \{(.*?)\n\};", src, re.S)
names = re.findall(r'\{ ngx_string\("(fcfh_\w+)"\)', table.group(1)) \
    if table else []
check("every family of ngx_http_fcfh_families[] is documented",
      [n for n in names if n not in documented] or ([] if names
                                                    else ["no table"]))
check("every documented family is in ngx_http_fcfh_families[]",
      [n for n in documented if n not in names])

print("\n".join(results))
