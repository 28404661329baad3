#!/bin/sh
# mkcerts-cluster.sh DIR [NODE...] — demo PKI for the mutual TLS between
# gateway nodes (fcfh_cluster_ssl_*, fcfh_cluster_relay).
#
# Makes, with the openssl CLI only, in DIR:
#   cluster-ca.crt/.key     a CA of its own: device certificates must never
#                           be able to act as a node
#   NODE.crt/.key           per node (default: node1 node2 node3), P-256,
#                           CN and SAN DNS = the node name (fcfh_cluster_node),
#                           serverAuth + clientAuth
# Idempotent per file: an existing CA or node certificate is kept.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 DIR [NODE...]" >&2; exit 2; }
DIR=$1; shift
[ $# -ge 1 ] || set -- node1 node2 node3
mkdir -p "$DIR"
cd "$DIR"

ossl() { openssl "$@" 2>/dev/null || { echo "mkcerts-cluster: openssl $1 failed" >&2; openssl "$@" >&2; exit 1; }; }
ec() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

if [ ! -f cluster-ca.crt ]; then
    ec cluster-ca.key
    ossl req -x509 -new -key cluster-ca.key -sha256 -days 3650 \
        -subj "/O=fcfh demo/CN=fcfh demo cluster CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out cluster-ca.crt.new
    chmod 600 cluster-ca.key
    mv -f cluster-ca.crt.new cluster-ca.crt
fi

for n in "$@"; do
    [ -f "$n.crt" ] && continue
    ec "$n.key"
    ossl req -new -key "$n.key" -subj "/O=fcfh demo/CN=$n" -out "$n.csr"
    printf '%s\n' "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth,clientAuth" \
        "subjectAltName=DNS:$n" > "$n.ext"
    ossl x509 -req -in "$n.csr" -CA cluster-ca.crt -CAkey cluster-ca.key \
        -set_serial "0x$(openssl rand -hex 8)" -days 3650 -sha256 \
        -extfile "$n.ext" -out "$n.crt.new"
    rm -f "$n.csr" "$n.ext"
    chmod 600 "$n.key"
    mv -f "$n.crt.new" "$n.crt"
done
