#!/bin/sh
# The npm packages the browser tests (t/57, t/58) load, installed into
# build/ from the npm registry -- third-party code never enters the repo:
#
#   build/browser  t/browser/package.json: puppeteer-core (drives Debian's
#                  /usr/bin/chromium), Intel's UI toolkit (its UMD bundle),
#                  xterm.js
#   build/peer     meshcentral 1.1.55, whose console scripts t/58 loads
#                  (t/43 runs its APF client from the same install)
#
# Idempotent and quiet when the pinned versions are there; each install
# runs under a lock (flock on .install.lock, as t/43 takes it), so tests
# running at once do not install twice. Exit 1, with npm's last lines,
# when an install fails. Called by tools/install-deps.sh and by the tests
# when something is missing.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${FCFH_BUILD:-$top/build}
MCVER=1.1.55

# every dependency of package.json $1 installed under $2 at its version
pinned() {
    node -e '
        const [spec, dir] = process.argv.slice(1);
        const deps = require(spec).dependencies;
        for (const n of Object.keys(deps)) {
            let v;
            try { v = require(dir + "/node_modules/" + n + "/package.json").version; }
            catch (e) { process.exit(1); }
            if (v !== deps[n]) process.exit(1);
        }' "$1" "$2" 2>/dev/null
}

mc_ok() {
    [ -f "$build/peer/node_modules/meshcentral/public/scripts/amt-redir-ws-0.1.0.js" ] &&
    node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
        "$build/peer/node_modules/meshcentral/package.json" "$MCVER" 2>/dev/null
}

command -v node >/dev/null 2>&1 || { echo "browser-deps: no node" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "browser-deps: no npm" >&2; exit 1; }

spec=$top/t/browser/package.json
mkdir -p "$build/browser" "$build/peer"

(
    flock 9
    if ! pinned "$spec" "$build/browser"; then
        echo "installing the browser test packages into $build/browser"
        cp "$spec" "$build/browser/package.json"
        if ! (cd "$build/browser" && npm install --no-audit --no-fund \
                  > npm.log 2>&1) || ! pinned "$spec" "$build/browser"; then
            echo "browser-deps: npm install in $build/browser failed:" >&2
            tail -5 "$build/browser/npm.log" >&2
            exit 1
        fi
    fi
) 9> "$build/browser/.install.lock"

(
    flock 9
    if ! mc_ok; then
        echo "installing meshcentral@$MCVER into $build/peer"
        if ! (cd "$build/peer" && npm install --no-audit --no-fund \
                  "meshcentral@$MCVER" > npm.log 2>&1) || ! mc_ok; then
            echo "browser-deps: npm install meshcentral@$MCVER failed:" >&2
            tail -5 "$build/peer/npm.log" >&2
            exit 1
        fi
    fi
) 9> "$build/peer/.install.lock"
