#!/usr/bin/python3
"""Check the answers a test received against docs/openapi.yaml.

    api_validate.py SPEC ANSWERS

ANSWERS has one JSON object per line, written by FcfhTest::api_record:
{kind, method, path, status, type, body}.  kind "api" is an answer of
fcfh_api (path: below its location), "status" one of fcfh_status, "event"
the data of a Server-Sent Event (method: the event's name).  Each answer
is matched to the spec's operation (the fcfh_api paths below /fcfh/api,
fcfh_status at /fcfh/status, as the spec's examples place them) and its
JSON body validated against the response's schema with python3-jsonschema
(Debian 12: 4.10, JSON Schema 2020-12 as OpenAPI 3.1 uses).  Prints what
does not validate; exit status 1 then.
"""

import json
import re
import sys

import yaml
from jsonschema import Draft202012Validator, RefResolver

PREFIX = {"api": "/fcfh/api/", "status": "/fcfh/status"}

# nginx's own answers before the module runs (a request line it refuses,
# access rules, auth_basic, limits): HTML error pages the spec does not
# describe.  The module's own answers are JSON, whatever their status.
NGINX_OWN = {400, 401, 403, 413, 414, 494}


def load(spec_file):
    with open(spec_file) as f:
        spec = yaml.safe_load(f)
    routes = []
    for path, item in spec.get("paths", {}).items():
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]*", re.escape(path)) + "$"
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        routes.append((re.compile(rx), literal, path, item))
    # the most literal path first: "devices/{guid}" before a catch-all
    routes.sort(key=lambda r: -r[1])
    return spec, routes


def validator(spec, schema):
    return Draft202012Validator(schema,
                                resolver=RefResolver.from_schema(spec))


def schema_of(spec, response):
    if "$ref" in response:
        name = response["$ref"].split("/")[-1]
        response = spec["components"]["responses"][name]
    content = response.get("content", {})
    for ctype, media in content.items():
        if ctype.startswith("application/json"):
            return media.get("schema", {}), ctype
    return None, next(iter(content), None)


def check(spec, routes, a):
    kind = a["kind"]
    body = a.get("body", "")

    if kind == "event":
        schema = {"$ref": "#/components/schemas/Event"}
        if a["method"] == "dropped":
            schema = {"$ref": "#/components/schemas/EventsDropped"}
        try:
            doc = json.loads(body)
        except ValueError as e:
            return ["event %s: not JSON (%s)" % (a["method"], e)]
        return ["event %s: %s at %s" % (a["method"], e.message,
                                        "/".join(map(str, e.path)))
                for e in validator(spec, schema).iter_errors(doc)]

    rel = re.sub(r"/+$", "", re.sub(r"^/+", "", a["path"]))
    path = PREFIX[kind] + rel if kind == "api" else PREFIX[kind]
    method = a["method"].lower()
    status = str(a["status"])
    where = "%s %s (%s) -> %s" % (a["method"], a["path"] or "/", kind,
                                  status)

    if a["status"] in NGINX_OWN and "json" not in a.get("type", ""):
        return []

    for rx, _, template, item in routes:
        if rx.match(path):
            break
    else:
        if kind == "api" and a["status"] == 404:
            # any other path below the location: "unknown API path"
            template, item = None, None
        else:
            return ["%s: no path of the spec matches %s" % (where, path)]

    if item is None:
        response = spec["components"]["responses"]["UnknownPath"]
    else:
        op = item.get(method)
        if op is None and method == "head":
            # HEAD is taken wherever GET is (the spec's conventions)
            op = item.get("get")
        if op is None:
            if a["status"] == 405:
                response = spec["components"]["responses"]["NotAllowed"]
            else:
                return ["%s: %s has no %s" % (where, template,
                                              method.upper())]
        else:
            responses = op.get("responses", {})
            response = responses.get(status, responses.get("default"))
            if response is None:
                return ["%s: status %s not in the spec of %s %s"
                        % (where, status, method.upper(), template)]

    if method == "head":
        return []

    schema, ctype = schema_of(spec, response)
    if schema is None:
        if ctype and a.get("type") and not a["type"].startswith(ctype):
            return ["%s: content type %s, the spec says %s"
                    % (where, a["type"], ctype)]
        return []

    if not a.get("type", "").startswith("application/json"):
        return ["%s: content type %r, not JSON" % (where, a.get("type"))]

    try:
        doc = json.loads(body)
    except ValueError as e:
        return ["%s: body is not JSON (%s): %.200s" % (where, e, body)]

    return ["%s: %s at /%s" % (where, e.message,
                               "/".join(map(str, e.path)))
            for e in validator(spec, schema).iter_errors(doc)]


def main():
    spec, routes = load(sys.argv[1])
    bad = []
    n = 0
    with open(sys.argv[2]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            n += 1
            bad.extend(check(spec, routes, json.loads(line)))
    # the same failure once
    seen = []
    for b in bad:
        if b not in seen:
            seen.append(b)
    for b in seen[:50]:
        print(b)
    if len(seen) > 50:
        print("... and %d more" % (len(seen) - 50))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
