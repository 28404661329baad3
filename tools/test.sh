#!/bin/sh
# The whole test suite: unit tests (cmocka) and integration tests (prove).
# Installs what is missing and builds first.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

"$top/tools/install-deps.sh"
exec make -C "$top" test
