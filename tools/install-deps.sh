#!/bin/sh
# Installs, on Debian 12, everything the build, the demo and the tests use.
# Idempotent; quiet when all is there already.
set -eu

pkgs="nginx libnginx-mod-stream nginx-dev build-essential dpkg-dev
      libssl-dev libpcre2-dev zlib1g-dev libcmocka-dev openssl curl
      perl libio-socket-ssl-perl libnet-ssleay-perl liburi-perl
      ncat amtterm proxychains4 python3 python3-requests python3-socks
      python3-prometheus-client
      procps psmisc iproute2 bc time clang-14 libclang-rt-14-dev
      libhiredis-dev redis-server keepalived"

# Node.js and npm (t/43-meshcentral-client.t: its WebSocket bridge, and
# npm to install MeshCentral's client): machines of this project's kind
# come with Node.js 20 and its own npm, which conflicts with Debian's npm
# package; elsewhere Debian's (18; the bridge works with it)
if ! command -v node >/dev/null 2>&1; then
    pkgs="$pkgs nodejs npm"
fi

missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # the packages' own services (nginx on port 80, redis, keepalived) are
    # not used: the tests start their own; keep them from starting
    guard=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        guard=1
    fi
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    if [ -n "$guard" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi

# Debian's nginx package starts a system-wide nginx on port 80 where an
# init system runs; the gateway never uses it.
exit 0
