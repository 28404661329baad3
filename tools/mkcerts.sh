#!/bin/sh
# mkcerts.sh DIR [--force] — demo PKI for ngx_fcfh_module tests and the quick start.
#
# Makes, with the openssl CLI only:
#   ca.crt/ca.key                 demo CA (RSA 2048)
#   server.crt/server.key         CN=localhost, SAN DNS:localhost,IP:127.0.0.1, RSA 2048, serverAuth
#   server-ecdsa.crt/.key         same names, P-256
#   device1.crt/.key              CN=amt-device-1,O=Intel (RFC 2253 order), clientAuth, from the CA
#   device2.crt/.key              CN=amt-device-2,O=Intel, clientAuth, from the CA
#   rogue.crt/.key                self-signed CN=amt-device-1,O=Intel, not from the CA
#   devices.htpasswd              admin:P@ssw0rd (apr1, any GUID)
#                                 dev1:dev1-secret ($6$, GUID ...de001)
#                                 dev2:dev2-secret ($6$, GUID ...de002)
#                                 (bound GUIDs are reserved: out of the
#                                 simulator's default range ...0001 on)
#   token.key                     console token secret (fcfh_token_secret)
#   amt-accounts                  "* admin P@ssw0rd": the simulator's AMT
#                                 account, for every device
#                                 (fcfh_amt_credentials)
# Idempotent: does nothing when DIR/ca.crt exists, unless --force (but adds
# the two credential files when an older set lacks them). Keys and the
# credential files are mode 0600 (nginx reads them in the master, as root).
set -eu

usage() { echo "usage: $0 DIR [--force]" >&2; exit 2; }
DIR=; FORCE=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) [ -z "$DIR" ] || usage; DIR=$a ;;
    esac
done
[ -n "$DIR" ] || usage

htpasswd() {
    printf 'admin:%s\n' "$(openssl passwd -apr1 'P@ssw0rd')"
    printf 'dev1:%s:00000000-0000-4000-8000-0000000de001\n' "$(openssl passwd -6 'dev1-secret')"
    printf 'dev2:%s:00000000-0000-4000-8000-0000000de002\n' "$(openssl passwd -6 'dev2-secret')"
}

# token.key and amt-accounts, where missing
credentials() {
    if [ ! -f "$1/token.key" ]; then
        (umask 077 && openssl rand -hex 32 > "$1/token.key.new")
        mv -f "$1/token.key.new" "$1/token.key"
    fi
    if [ ! -f "$1/amt-accounts" ]; then
        (umask 077 && printf '* admin P@ssw0rd\n' > "$1/amt-accounts.new")
        mv -f "$1/amt-accounts.new" "$1/amt-accounts"
    fi
}

if [ -f "$DIR/ca.crt" ] && [ "$FORCE" = 0 ]; then
    # an older set bound dev1/dev2 to GUIDs the simulator uses
    if ! grep -q 0000000de001 "$DIR/devices.htpasswd" 2>/dev/null; then
        htpasswd > "$DIR/devices.htpasswd.new"
        chmod 600 "$DIR/devices.htpasswd.new"
        mv -f "$DIR/devices.htpasswd.new" "$DIR/devices.htpasswd"
    fi
    credentials "$DIR"
    exit 0
fi

mkdir -p "$DIR"
W=$(mktemp -d "$DIR/.mkcerts.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
cd "$W"

DAYS=3650
ossl() { openssl "$@" 2>/dev/null || { echo "mkcerts: openssl $1 failed" >&2; openssl "$@" >&2; exit 1; }; }

rsa() { ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }

# CA
rsa ca.key
ossl req -x509 -new -key ca.key -sha256 -days $DAYS -subj "/O=fcfh demo/CN=fcfh demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out ca.crt.new

# sign NAME SUBJ EXTFILE-CONTENT
sign() {
    ossl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    printf '%s\n' "$3" > "$1.ext"
    ossl x509 -req -in "$1.csr" -CA ca.crt.new -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
        -days $DAYS -sha256 -extfile "$1.ext" -out "$1.crt"
    rm -f "$1.csr" "$1.ext"
}

SRV_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
CLI_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

rsa server.key
sign server "/CN=localhost" "$SRV_EXT"

ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-ecdsa.key
sign server-ecdsa "/CN=localhost" "$(echo "$SRV_EXT" | sed 's/,keyEncipherment//')"

for i in 1 2; do
    rsa device$i.key
    sign device$i "/O=Intel/CN=amt-device-$i" "$CLI_EXT"
done

rsa rogue.key
ossl req -x509 -new -key rogue.key -sha256 -days $DAYS -subj "/O=Intel/CN=amt-device-1" \
    -addext "extendedKeyUsage=clientAuth" -out rogue.crt

htpasswd > devices.htpasswd

chmod 600 *.key devices.htpasswd     # nginx warns about world-readable credentials
chmod 644 *.crt
for f in ca.key server.crt server.key server-ecdsa.crt server-ecdsa.key \
         device1.crt device1.key device2.crt device2.key rogue.crt rogue.key devices.htpasswd; do
    mv -f "$f" "$DIR/$f"
done
rm -f "$DIR/token.key" "$DIR/amt-accounts"
credentials "$DIR"
mv -f ca.crt.new "$DIR/ca.crt"    # last: its presence marks a complete set
