#!/usr/bin/env bash
# Install Debian's `prometheus` package when no `prometheus` binary is on PATH.
# Idempotent: does nothing (exit 0) when prometheus is already installed.
# Needs root (or password-less sudo) and apt-get; runs `apt-get update` once, then installs.
# Exit codes: 0 prometheus usable afterwards; 1 the install failed;
#             77 cannot install on this machine (no apt-get, or not root and no sudo).
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
    echo "install_prometheus: already installed: $(prometheus --version 2>&1 | head -n 1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_prometheus: no apt-get on this machine; install Prometheus yourself" >&2
    exit 77
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_prometheus: must run as root (or with password-less sudo)" >&2
        exit 77
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if ! command -v prometheus >/dev/null 2>&1; then
    echo "install_prometheus: apt-get finished but no prometheus on PATH" >&2
    exit 1
fi
echo "install_prometheus: installed: $(prometheus --version 2>&1 | head -n 1)"
