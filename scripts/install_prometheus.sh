#!/usr/bin/env bash
# Install Debian's `prometheus` package (prometheus and promtool) when no `prometheus` binary is
# on PATH. Idempotent: does nothing (exit 0) when prometheus is already installed.
#
#   bash scripts/install_prometheus.sh           install when missing
#   bash scripts/install_prometheus.sh --check   never install: exit 0 present, 1 missing
#
# Exit codes: 0 prometheus usable afterwards; 1 the install failed (or --check: missing);
#             77 cannot install on this machine (no apt-get, or not root and no sudo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

if command -v prometheus >/dev/null 2>&1; then
    echo "install_prometheus: already installed: $(prometheus --version 2>&1 | head -n 1)"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    command -v apt-get >/dev/null 2>&1 || exit 77
    echo "install_prometheus: no prometheus on PATH" >&2
    exit 1
fi
status=0
apt_install prometheus || status=$?
[ "$status" = 0 ] || exit "$status"
if ! command -v prometheus >/dev/null 2>&1; then
    echo "install_prometheus: apt-get finished but no prometheus on PATH" >&2
    exit 1
fi
echo "install_prometheus: installed: $(prometheus --version 2>&1 | head -n 1)"
