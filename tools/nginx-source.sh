#!/bin/sh
# Fetches upstream nginx source (Debian's orig tarball of the packaged
# version) into $1 (default build/nginx-src), for static and sanitizer
# builds.  Adds a deb-src entry for Debian's own archive when missing.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$top/build/nginx-src}

if [ -x "$dest/configure" ]; then
    echo "$dest"
    exit 0
fi

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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# only the upstream tarball is needed: a missing Debian diff is no error
(cd "$work" && apt-get source --download-only -qq nginx >/dev/null 2>&1) || true
orig=$(ls "$work"/nginx_*.orig.tar.gz 2>/dev/null | head -n 1)
[ -n "$orig" ] || { echo "nginx source tarball not found" >&2; exit 1; }
mkdir -p "$dest"
tar -xzf "$orig" -C "$dest" --strip-components=1
echo "$dest"
