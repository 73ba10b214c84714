#!/usr/bin/env bash
# Rebuilds stylus_contracts/artifacts/MVPIoTProcessor.json from the EVM twin
# (stylus_contracts/evm/MVPIoTProcessor.sol) with a pinned solcjs: optimizer on (200 runs),
# evmVersion paris. The same source and compiler always give the same file.
#
#   scripts/build_contracts.sh          install solc if needed, rebuild the artifact
#   scripts/build_contracts.sh --check  rebuild in memory only; exit 1 if the artifact is stale
#
# Needs node and npm; solc comes from the npm registry into .tools/solc (git-ignored).
# The Stylus (Rust/WASM) source is not built here: see stylus_contracts/README.md.
set -euo pipefail

SOLC_VERSION="0.8.28"
CONTRACT="MVPIoTProcessor"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOURCE_REL="stylus_contracts/evm/${CONTRACT}.sol"
OUT="${ROOT}/stylus_contracts/artifacts/${CONTRACT}.json"

mode=""
case "${1:-}" in
  "") ;;
  --check) mode="--check" ;;
  *) echo "usage: $0 [--check]" >&2; exit 64 ;;
esac

command -v node >/dev/null 2>&1 || { echo "build_contracts: node not found" >&2; exit 69; }
# the pinned solcjs (scripts/install_solc.sh, run by `make tools`; quick when in place)
SOLC_PKG="$(SOLC_VERSION="${SOLC_VERSION}" bash "${ROOT}/scripts/install_solc.sh")" || exit 69

node "${ROOT}/stylus_contracts/evm/compile.js" \
  --solc "${SOLC_PKG}" \
  --source "${ROOT}/${SOURCE_REL}" \
  --contract "${CONTRACT}" \
  --rel "${SOURCE_REL}" \
  --out "${OUT}" \
  ${mode}
