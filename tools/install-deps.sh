#!/bin/sh
# Installs, on Debian 12, everything the build, the demo and the tests use.
# Idempotent; quiet when all is there already.
set -eu

pkgs="nginx libnginx-mod-stream nginx-dev build-essential dpkg-dev
      debhelper fakeroot
      libssl-dev libpcre2-dev zlib1g-dev libcmocka-dev openssl curl
      perl libio-socket-ssl-perl libnet-ssleay-perl liburi-perl
      ncat amtterm proxychains4 python3 python3-requests python3-socks
      python3-prometheus-client python3-jsonschema python3-yaml
      procps psmisc iproute2 bc time clang-14 libclang-rt-14-dev
      libhiredis-dev redis-server keepalived libwslay-dev libjwt-dev
      libjansson-dev chromium chromium-driver"

# promtool (t/67: conf-examples/observability/ checked and its alerts
# unit-tested by Prometheus' own tool) comes only with Debian's prometheus
# package (19 MB, JavaScript libraries for its web UI as dependencies);
# its server is not used and is kept from starting like the others below
pkgs="$pkgs prometheus"

# Node.js and npm (t/43-meshcentral-client.t: its WebSocket bridge, and
# npm to install MeshCentral's client; the browser tests' driver and
# packages): machines of this project's kind
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
    # the packages' own services (nginx on port 80, redis, keepalived,
    # prometheus on 9090) are not used: the tests start their own; keep
    # them from starting
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

# Upstream nginx source for the static, sanitizer and fuzz builds:
# Debian's orig tarball of the packaged nginx, from Debian's source
# archive (a deb-src entry is added when there is none), kept in the
# cache directory tools/nginx-source.sh unpacks it from.
cache=${FCFH_CACHE:-/var/cache/fcfh}

if ! ls "$cache"/nginx_*.orig.tar.gz >/dev/null 2>&1; then
    if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list \
            /etc/apt/sources.list.d/; then
        cat > /etc/apt/sources.list.d/fcfh-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq
    fi

    echo "downloading the nginx source tarball into $cache"
    mkdir -p "$cache"
    work=$(mktemp -d)
    # only the upstream tarball is needed: a missing Debian diff is no error
    (cd "$work" && apt-get source --download-only -qq nginx \
        >/dev/null 2>&1) || true
    orig=$(ls "$work"/nginx_*.orig.tar.gz 2>/dev/null | head -n 1)
    if [ -z "$orig" ]; then
        rm -rf "$work"
        echo "nginx source tarball not found in Debian's source archive" >&2
        exit 1
    fi
    mv "$orig" "$cache/"
    rm -rf "$work"
fi

# The OpenAPI linter for docs/openapi.yaml (t/66), from the npm registry,
# into build/redocly (never into the repository)
top=$(cd "$(dirname "$0")/.." && pwd)
redocly_version=2.77.0
redocly="$top/build/redocly"

if [ "$(cat "$redocly/.version" 2>/dev/null)" != "$redocly_version" ]; then
    echo "installing @redocly/cli $redocly_version into $redocly"
    mkdir -p "$redocly"
    [ -f "$redocly/package.json" ] || echo '{"private": true}' \
        > "$redocly/package.json"
    (cd "$redocly" && npm install --no-audit --no-fund --silent \
        "@redocly/cli@$redocly_version" > npm.log 2>&1) \
        || { tail -5 "$redocly/npm.log" >&2; exit 1; }
    echo "$redocly_version" > "$redocly/.version"
fi

# The browser tests' npm packages (puppeteer-core, Intel's UI toolkit,
# xterm.js, MeshCentral's console scripts) into build/, pinned: see
# tools/browser-deps.sh. Chromium itself is Debian's (above).
"$(dirname "$0")/browser-deps.sh"

# Debian's nginx package starts a system-wide nginx on port 80 where an
# init system runs; the gateway never uses it.
exit 0
