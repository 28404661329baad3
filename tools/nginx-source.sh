#!/bin/sh
# Unpacks upstream nginx source (Debian's orig tarball of the packaged
# version, which tools/install-deps.sh keeps in the cache directory $2,
# default $FCFH_CACHE or /var/cache/fcfh) into $1 (default
# build/nginx-src), for static, sanitizer and fuzz builds.  Downloads
# nothing: installing is install-deps.sh's alone.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$top/build/nginx-src}
cache=${2:-${FCFH_CACHE:-/var/cache/fcfh}}

if [ -x "$dest/configure" ]; then
    echo "$dest"
    exit 0
fi

orig=$(ls "$cache"/nginx_*.orig.tar.gz 2>/dev/null | sort -V | tail -n 1)

if [ -z "$orig" ]; then
    echo "nginx source tarball (nginx_*.orig.tar.gz) not found in $cache:" \
         "run tools/install-deps.sh (as root) first" >&2
    exit 1
fi

mkdir -p "$dest"
tar -xzf "$orig" -C "$dest" --strip-components=1
echo "$dest"
