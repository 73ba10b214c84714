#!/usr/bin/env bash
# Install Cartesi Rollups' compiled contracts (npm `@cartesi/rollups`, pinned) into the
# project-local .tools/cartesi/, idempotently, and (--extract) re-extract the artifacts
# checked in at stylus_contracts/cartesi/ (InputBox, Application, Authority, Inputs, DataAvailability).
#
#   bash scripts/install_cartesi.sh            # install if needed; print the package folder
#   bash scripts/install_cartesi.sh --check    # never installs: exit 0 (and the path) or 1
#   bash scripts/install_cartesi.sh --extract  # install if needed, re-write the checked-in
#                                              # artifact from the package (scripts/extract_cartesi.py)
#
# The package ships Foundry's build output (out/<Source>.sol/<Contract>.json: abi, bytecode,
# deployedBytecode, metadata; solc 0.8.30, viaIR, evmVersion prague). tests/test_cartesi_artifacts.py
# compares the checked-in artifacts with it. Env: CARTESI_ROLLUPS_VERSION (default below),
# CARTESI_PREFIX (default <repo>/.tools/cartesi). Exit 3 when node or npm is missing, 1 when
# the install fails.
set -euo pipefail

VERSION="${CARTESI_ROLLUPS_VERSION:-2.2.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${CARTESI_PREFIX:-$ROOT/.tools/cartesi}"
PKG="$PREFIX/node_modules/@cartesi/rollups"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install_cartesi.sh: $tool not found (apt-get install nodejs npm)" >&2
        exit 3
    fi
done

installed_version() {
    [ -f "$PKG/package.json" ] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$PKG/package.json"
}

if [ "$(installed_version)" != "$VERSION" ] && [ "${1:-}" = "--check" ]; then
    echo "install_cartesi.sh: @cartesi/rollups@$VERSION is not in $PREFIX" >&2
    exit 1
fi
if [ "$(installed_version)" != "$VERSION" ]; then
    echo "install_cartesi.sh: installing @cartesi/rollups@$VERSION into $PREFIX" >&2
    mkdir -p "$PREFIX"
    npm install --prefix "$PREFIX" --save-exact --no-audit --no-fund --loglevel=error \
        --ignore-scripts "@cartesi/rollups@$VERSION" >&2
    if [ "$(installed_version)" != "$VERSION" ]; then
        echo "install_cartesi.sh: $PKG does not report version $VERSION" >&2
        exit 1
    fi
fi
if [ "${1:-}" = "--extract" ]; then
    PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
    "$PYTHON" "$ROOT/scripts/extract_cartesi.py" --package "$PKG" >&2
fi
echo "$PKG"
