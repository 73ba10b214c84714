#!/usr/bin/env bash
# Install ganache 7 (npm `ganache`) into the project-local .tools/ganache/, idempotently.
#
#   bash scripts/install_ganache.sh           # prints the path of ganache's cli.js
#   bash scripts/install_ganache.sh --check   # never installs: exit 0 (and the path) or 1
#
# tests/nodes.py runs `node <cli.js> --server.host 127.0.0.1 --miner.blockTime 1 ...` with the
# machine's node (ganache 7 runs on Node 14 and later). A second run finds the package at its
# pinned version and only prints the path. Env: GANACHE_VERSION (default below),
# GANACHE_PREFIX (default <repo>/.tools/ganache). Exit 77 when the machine is not linux x86_64
# (the only platform its tests were run on here), 3 when node or npm is missing, 1 when the
# install fails (or --check: not installed).
set -euo pipefail

VERSION="${GANACHE_VERSION:-7.9.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${GANACHE_PREFIX:-$ROOT/.tools/ganache}"
PKG="$PREFIX/node_modules/ganache"
CLI="$PKG/dist/node/cli.js"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install_ganache.sh: tested on linux x86_64 only, this is $(uname -s)-$(uname -m)" >&2
    exit 77
fi
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install_ganache.sh: $tool not found (apt-get install nodejs npm)" >&2
        exit 3
    fi
done

installed_version() {
    [ -f "$PKG/package.json" ] || return 0
    node -p 'require(process.argv[1]).version' "$PKG/package.json"
}

if [ "$(installed_version)" = "$VERSION" ] && [ -f "$CLI" ]; then
    echo "$CLI"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "install_ganache.sh: ganache@$VERSION is not in $PREFIX" >&2
    exit 1
fi
echo "install_ganache.sh: installing ganache@$VERSION into $PREFIX" >&2
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --save-exact --no-audit --no-fund --loglevel=error \
    "ganache@$VERSION" >&2
if [ "$(installed_version)" != "$VERSION" ] || [ ! -f "$CLI" ]; then
    echo "install_ganache.sh: $PKG does not hold ganache $VERSION ($CLI)" >&2
    exit 1
fi
echo "$CLI"
