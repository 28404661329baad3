#!/bin/sh
# tls-audit.sh [OUTDIR] — testssl.sh against the two shipped TLS profiles
# (conf-examples/tls-modern.conf, tls-compat.conf), each on a loopback
# fcfh_tunnel listener.  The certificate is the operator's, not the
# profile's: the audit uses one shaped like a production certificate
# (RSA 2048, 397 days, a CRL distribution point) from the demo CA, which
# testssl is told to trust.
#
# Writes OUTDIR/<profile>.json (testssl's findings) and prints every
# finding above LOW.  Exit status 1 when the modern profile has one: that
# profile is meant to have none; the compat profile's are documented in
# docs/security.md.  Needs the Debian package testssl.sh (make deps).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/tls-audit}
work=$(mktemp -d /tmp/fcfh-tls-audit.XXXXXX)
nginx=${FCFH_NGINX:-/usr/sbin/nginx}

cleanup() {
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$out"
"$top/tools/mkcerts.sh" "$work/certs" >/dev/null
make -s -C "$top" module >/dev/null

c=$work/certs
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$c/audit.key" 2>/dev/null
openssl req -new -key "$c/audit.key" -subj "/CN=localhost" \
    -out "$c/audit.csr" 2>/dev/null
printf '%s\n' "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    "crlDistributionPoints=URI:http://crl.example.test/fcfh-demo.crl" \
    > "$c/audit.ext"
openssl x509 -req -in "$c/audit.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 397 -sha256 \
    -extfile "$c/audit.ext" -out "$c/audit.crt" 2>/dev/null

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
modern=$(port)
compat=$(port)

cat > "$work/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
load_module $top/build/ngx_fcfh_module.so;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
worker_processes 1;
error_log $work/error.log info;
pid $work/nginx.pid;
events { worker_connections 256; }
fcfh_zone 1m;
fcfh_relay_dir $work/relay;
stream {
    server {
        listen 127.0.0.1:$modern ssl;
        ssl_certificate     $work/certs/audit.crt;
        ssl_certificate_key $work/certs/audit.key;
        include $top/conf-examples/tls-modern.conf;
        fcfh_tunnel;
        fcfh_auth_file $work/certs/devices.htpasswd;
    }
    server {
        listen 127.0.0.1:$compat ssl;
        ssl_certificate     $work/certs/audit.crt;
        ssl_certificate_key $work/certs/audit.key;
        include $top/conf-examples/tls-compat.conf;
        fcfh_tunnel;
        fcfh_auth_file $work/certs/devices.htpasswd;
    }
}
EOF

"$nginx" -p "$work/" -c "$work/nginx.conf" -e "$work/error.log"

status=0

for profile in modern compat; do
    eval p=\$$profile
    rm -f "$out/$profile.json"
    echo "== testssl: $profile profile on 127.0.0.1:$p"
    testssl --quiet --color 0 --warnings off --sneaky --ip one \
        --add-ca "$work/certs/ca.crt" --jsonfile "$out/$profile.json" \
        "127.0.0.1:$p" > "$out/$profile.txt" 2>&1 || true

    # findings above LOW: MEDIUM, HIGH, CRITICAL
    /usr/bin/python3 - "$out/$profile.json" "$profile" <<'PY' || status=1
import json, sys
path, profile = sys.argv[1], sys.argv[2]
findings = json.load(open(path))
bad = [f for f in findings
       if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL")]
for f in bad:
    print("  %-8s %-28s %s" % (f["severity"], f["id"], f.get("finding", "")))
counts = {}
for f in findings:
    counts[f.get("severity")] = counts.get(f.get("severity"), 0) + 1
print("  severities: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))
sys.exit(1 if bad and profile == "modern" else 0)
PY
done

exit $status
