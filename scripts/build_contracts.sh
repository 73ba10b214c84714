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
TOOLS="${ROOT}/.tools/solc"
SOLC_PKG="${TOOLS}/node_modules/solc"
SOURCE_REL="stylus_contracts/evm/${CONTRACT}.sol"
OUT="${ROOT}/stylus_contracts/artifacts/${CONTRACT}.json"

mode=""
case "${1:-}" in
  "") ;;
  --check) mode="--check" ;;
  *) echo "usage: $0 [--check]" >&2; exit 64 ;;
esac

for tool in node npm; do
  command -v "${tool}" >/dev/null 2>&1 || { echo "build_contracts: ${tool} not found" >&2; exit 69; }
done

installed_version() {
  [[ -f "${SOLC_PKG}/package.json" ]] || return 0
  node -e 'process.stdout.write(require(process.argv[1]).version)' "${SOLC_PKG}/package.json"
}

if [[ "$(installed_version)" != "${SOLC_VERSION}" ]]; then
  echo "build_contracts: installing solc@${SOLC_VERSION} into ${TOOLS}" >&2
  mkdir -p "${TOOLS}"
  npm install --prefix "${TOOLS}" --save-exact --no-audit --no-fund --loglevel=error \
    "solc@${SOLC_VERSION}" >&2
fi

node "${ROOT}/stylus_contracts/evm/compile.js" \
  --solc "${SOLC_PKG}" \
  --source "${ROOT}/${SOURCE_REL}" \
  --contract "${CONTRACT}" \
  --rel "${SOURCE_REL}" \
  --out "${OUT}" \
  ${mode}
