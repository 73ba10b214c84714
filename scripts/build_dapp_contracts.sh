#!/usr/bin/env bash
# Rebuilds the dApp EVM twins' artifacts (stylus_contracts/artifacts/<Name>.json) from
# stylus_contracts/evm/{KCStablecoin,PaymentRouter,LendingPool}.sol with the same pinned
# solcjs and settings as scripts/build_contracts.sh (optimizer 200 runs, evmVersion paris).
#
#   scripts/build_dapp_contracts.sh          install solc if needed, rebuild the artifacts
#   scripts/build_dapp_contracts.sh --check  rebuild in memory only; exit 1 if one is stale
set -euo pipefail

SOLC_VERSION="0.8.28"
CONTRACTS=(KCStablecoin PaymentRouter LendingPool)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

mode=""
case "${1:-}" in
  "") ;;
  --check) mode="--check" ;;
  *) echo "usage: $0 [--check]" >&2; exit 64 ;;
esac

command -v node >/dev/null 2>&1 || { echo "build_dapp_contracts: node not found" >&2; exit 69; }
# the pinned solcjs (scripts/install_solc.sh, run by `make tools`; quick when in place)
SOLC_PKG="$(SOLC_VERSION="${SOLC_VERSION}" bash "${ROOT}/scripts/install_solc.sh")" || exit 69

status=0
for contract in "${CONTRACTS[@]}"; do
  rel="stylus_contracts/evm/${contract}.sol"
  node "${ROOT}/stylus_contracts/evm/compile.js" \
    --solc "${SOLC_PKG}" \
    --source "${ROOT}/${rel}" \
    --contract "${contract}" \
    --rel "${rel}" \
    --out "${ROOT}/stylus_contracts/artifacts/${contract}.json" \
    ${mode} || status=$?
done
exit "${status}"
