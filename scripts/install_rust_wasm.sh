#!/usr/bin/env bash
# Install Debian's Rust toolchain for wasm32-unknown-unknown (rustc, wasm32 std, lld).
# Idempotent: does nothing when /usr/bin/rustc, the wasm32 std and rust-lld/wasm-ld are present.
# Exit 0 when the toolchain is usable afterwards, 1 otherwise (e.g. no apt-get on this machine).
set -euo pipefail

have_toolchain() {
    [ -x /usr/bin/rustc ] || return 1
    local sysroot
    sysroot="$(/usr/bin/rustc --print sysroot)"
    ls "$sysroot"/lib/rustlib/wasm32-unknown-unknown/lib/libcore-*.rlib >/dev/null 2>&1 || return 1
    [ -x /usr/bin/rust-lld ] || return 1
}

if have_toolchain; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_rust_wasm: no apt-get on this machine; cannot install Debian's rustc" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "install_rust_wasm: not root and no sudo" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends rustc libstd-rust-dev-wasm32 lld >/dev/null
if have_toolchain; then
    exit 0
fi
echo "install_rust_wasm: toolchain still incomplete after apt-get install" >&2
exit 1
