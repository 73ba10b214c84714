#!/usr/bin/env bash
# Install anvil (Foundry's dev node) from npm into the project-local .tools/anvil/, idempotently.
#
#   bash scripts/install_anvil.sh          # prints the path of the anvil binary
#
# The npm package @foundry-rs/anvil-linux-amd64 carries the release binary. A second run finds
# the binary in place and only prints its path. Env: ANVIL_VERSION (default below),
# ANVIL_PREFIX (default <repo>/.tools/anvil). Exit 77 when the machine is not linux x86_64 (the
# package's only platform), 3 when npm is missing, 1 when the install fails.
set -euo pipefail

VERSION="${ANVIL_VERSION:-1.7.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${ANVIL_PREFIX:-$ROOT/.tools/anvil}"
PACKAGE="@foundry-rs/anvil-linux-amd64"
BIN="$PREFIX/node_modules/$PACKAGE/bin/anvil"

installed_version() {
    "$BIN" --version 2>/dev/null | head -n1 | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n1
}

if [ -x "$BIN" ] && [ "$(installed_version)" = "$VERSION" ]; then
    echo "$BIN"
    exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install_anvil.sh: $PACKAGE is for linux x86_64, this is $(uname -s)-$(uname -m)" >&2
    exit 77
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install_anvil.sh: npm not found (apt-get install npm)" >&2
    exit 3
fi
mkdir -p "$PREFIX"
echo "install_anvil.sh: installing $PACKAGE@$VERSION into $PREFIX" >&2
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "$PACKAGE@$VERSION" >&2
chmod +x "$BIN"
if [ "$(installed_version)" != "$VERSION" ]; then
    echo "install_anvil.sh: $BIN does not report version $VERSION" >&2
    exit 1
fi
echo "$BIN"
