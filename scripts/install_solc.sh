#!/usr/bin/env bash
# Install the pinned solcjs (npm `solc`) into the project-local .tools/solc/, idempotently.
#
#   bash scripts/install_solc.sh           # prints the path of the solc package
#   bash scripts/install_solc.sh --check   # never installs: exit 0 (and the path) or 1
#
# scripts/build_contracts.sh and scripts/build_dapp_contracts.sh compile with it. A second run
# finds the package in place and only prints its path. Env: SOLC_VERSION (default below),
# SOLC_PREFIX (default <repo>/.tools/solc). Exit 3 when node or npm is missing, 1 when the
# install fails.
set -euo pipefail

VERSION="${SOLC_VERSION:-0.8.28}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${SOLC_PREFIX:-$ROOT/.tools/solc}"
PKG="$PREFIX/node_modules/solc"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install_solc.sh: $tool not found (apt-get install nodejs npm)" >&2
        exit 3
    fi
done

installed_version() {
    [ -f "$PKG/package.json" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$PKG/package.json"
}

if [ "$(installed_version)" != "$VERSION" ] && [ "${1:-}" = "--check" ]; then
    echo "install_solc.sh: solc@$VERSION is not in $PREFIX" >&2
    exit 1
fi
if [ "$(installed_version)" != "$VERSION" ]; then
    echo "install_solc.sh: installing solc@$VERSION into $PREFIX" >&2
    mkdir -p "$PREFIX"
    npm install --prefix "$PREFIX" --save-exact --no-audit --no-fund --loglevel=error \
        "solc@$VERSION" >&2
    if [ "$(installed_version)" != "$VERSION" ]; then
        echo "install_solc.sh: $PKG does not report version $VERSION" >&2
        exit 1
    fi
fi
echo "$PKG"
