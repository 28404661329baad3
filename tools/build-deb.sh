#!/bin/sh
# build-deb.sh [OUTDIR] — the binary Debian packages described in debian/
# (make deb): libnginx-mod-stream-fcfh (the module, for Debian's nginx) and
# fcfh-tools (simulator and test tools), with their -dbgsym packages, into
# OUTDIR (build/deb).
#
# dpkg-buildpackage runs in OUTDIR/src, a copy of the tree (tracked files
# and new ones git does not ignore), so the checkout itself is never
# written to.  In a git checkout the version gets a snapshot suffix,
# +git<commit time>.<commit>, so that each commit's packages upgrade the
# previous ones; debian/changelog's version must be the module's
# NGX_FCFH_VERSION.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
src=$out/src
log=$out/build.log

mkdir -p "$out"
rm -rf "$src"
rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.buildinfo "$out"/*.changes
mkdir -p "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # files deleted but not yet committed are skipped (--ignore-failed-read)
    (cd "$top" && git ls-files -z --cached --others --exclude-standard \
        | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) \
        | tar -xf - -C "$src"
    snap=+git$(TZ=UTC git -C "$top" log -1 --format=%cd \
                   --date=format-local:%Y%m%d%H%M%S)
    snap=$snap.$(git -C "$top" rev-parse --short=7 HEAD)
else
    tar -C "$top" --exclude=./build --exclude=./demo --exclude=./t/tmp \
        -cf - . | tar -xf - -C "$src"
    snap=
fi

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
code=$(sed -n 's/^#define NGX_FCFH_VERSION *"\(.*\)"$/\1/p' \
           "$src/ngx_fcfh_module/ngx_fcfh.h")
if [ "$version" != "$code" ]; then
    echo "build-deb: debian/changelog is at $version but ngx_fcfh.h's" \
         "NGX_FCFH_VERSION is $code: add a changelog entry" >&2
    exit 1
fi
if [ -n "$snap" ]; then
    sed -i "1s/($version)/($version$snap)/" "$src/debian/changelog"
fi

echo "building the Debian packages $version$snap (log: $log)"
if ! (cd "$src" && dpkg-buildpackage -b -uc -us -j"$(nproc)") \
        > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build-deb: dpkg-buildpackage failed, see $log" >&2
    exit 1
fi

ls "$out"/*.deb
