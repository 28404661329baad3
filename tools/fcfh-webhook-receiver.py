#!/usr/bin/env python3
"""A webhook receiver for ngx_fcfh_module that verifies every delivery.

Python's standard library only.  The gateway signs each POST as the
Standard Webhooks specification has it (https://www.standardwebhooks.com/):

    webhook-id:         msg_<zone epoch>_<event seq>, the same on a retry
    webhook-timestamp:  Unix seconds of the attempt
    webhook-signature:  v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>

where key is the subscriber's secret "whsec_<base64>" decoded.  This
receiver checks, in order: the three headers are there; the timestamp is
within --tolerance seconds of its clock (a replay later is refused); one
"v1," signature of the header matches, compared in constant time, over
the exact bytes received.  Only then is the body parsed, and an id seen
before is acknowledged without being handled again (a retry whose answer
was lost).  It answers 204 to a verified delivery, 400 or 401 otherwise.

    FCFH_WEBHOOK_SECRET=whsec_... fcfh-webhook-receiver.py \\
        --listen 127.0.0.1:8443 --cert receiver.crt --key receiver.key

The secret comes from the environment or --secret-file, never from the
command line (other users see it in ps).  Each delivery is written as one
JSON line to stdout: {"verified": true, "id": ..., "event": {...}} or
{"verified": false, "why": ...}; --sni adds the TLS server name the
gateway asked for.  Put your own handling in handle_event().
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import time

PREFIX = "whsec_"
BODY_MAX = 65536


def handle_event(event):
    """What to do with a verified event: here, nothing more."""


def load_key(text):
    text = text.strip()
    if text.startswith(PREFIX):
        text = text[len(PREFIX):]
    key = base64.b64decode(text, validate=True)
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret is 24 to 64 bytes")
    return key


def sign(key, msg_id, timestamp, body):
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    mac = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(key, headers, body, tolerance, now=None):
    """None when the delivery is authentic and fresh, else why not."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not timestamp.isdigit():
        return "bad timestamp"
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return "timestamp out of tolerance"
    expected = sign(key, msg_id, timestamp, body)
    for candidate in signatures.split(" "):
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return None
    return "signature mismatch"


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def do_POST(self):
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > BODY_MAX:
            return self.answer(400, {"verified": False, "why": "bad length"})
        body = self.rfile.read(int(length))
        why = verify(self.server.key, self.headers, body,
                     self.server.tolerance)
        if why:
            return self.answer(401, {"verified": False, "why": why,
                                     "id": self.headers.get("webhook-id")})
        msg_id = self.headers["webhook-id"]
        try:
            event = json.loads(body)
        except ValueError:
            return self.answer(400, {"verified": False, "why": "not JSON"})
        record = {"verified": True, "id": msg_id, "event": event,
                  "host": self.headers.get("Host"),
                  "duplicate": msg_id in self.server.seen}
        if self.server.show_sni:
            record["sni"] = getattr(self.connection, "fcfh_sni", None)
        if msg_id not in self.server.seen:
            self.server.seen.add(msg_id)
            handle_event(event)
        self.answer(204, record)

    def answer(self, status, record):
        print(json.dumps(record, sort_keys=True), flush=True)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


class Server(http.server.HTTPServer):
    tls = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls:
            # the handshake, bounded: one slow client must not stop us
            sock.settimeout(10)
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, addr

    def handle_error(self, request, client_address):
        # a TLS handshake the gateway broke off (it did not trust us)
        sys.stderr.write("%s: %s\n" % (client_address[0], sys.exc_info()[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:8080",
                    help="address:port (default 127.0.0.1:8080)")
    ap.add_argument("--secret-file",
                    help="file with the whsec_ secret (default: the "
                         "FCFH_WEBHOOK_SECRET environment variable)")
    ap.add_argument("--cert", help="TLS certificate (PEM): serve https")
    ap.add_argument("--key", help="TLS private key (PEM)")
    ap.add_argument("--tolerance", type=int, default=300,
                    help="seconds a timestamp may be off (default 300)")
    ap.add_argument("--sni", action="store_true",
                    help="record the TLS server name in each line")
    args = ap.parse_args()

    if args.secret_file:
        with open(args.secret_file) as f:
            secret = f.read()
    else:
        secret = os.environ.get("FCFH_WEBHOOK_SECRET", "")
    try:
        key = load_key(secret)
    except ValueError as e:
        sys.exit("no usable secret: %s" % e)

    host, _, port = args.listen.rpartition(":")
    server = Server((host.strip("[]"), int(port)), Receiver)
    server.key = key
    server.tolerance = args.tolerance
    server.seen = set()
    server.show_sni = args.sni

    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)

        def note_sni(sock, name, _ctx):
            sock.fcfh_sni = name
        ctx.sni_callback = note_sni
        server.tls = ctx

    print(json.dumps({"listening": "%s:%d" % server.server_address[:2]}),
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
