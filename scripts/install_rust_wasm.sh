#!/usr/bin/env bash
# Install Debian's Rust toolchain for wasm32-unknown-unknown (rustc, wasm32 std, lld).
# Idempotent: does nothing when /usr/bin/rustc, the wasm32 std and rust-lld/wasm-ld are present.
#
#   bash scripts/install_rust_wasm.sh           install when missing
#   bash scripts/install_rust_wasm.sh --check   never install: exit 0 present, 1 missing
#
# Exit codes: 0 the toolchain is usable afterwards; 1 the install failed (or --check: missing);
#             77 cannot install on this machine (no apt-get, or not root and no sudo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

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
if [ "${1:-}" = "--check" ]; then
    command -v apt-get >/dev/null 2>&1 || exit 77
    echo "install_rust_wasm: /usr/bin/rustc with the wasm32 std and rust-lld not found" >&2
    exit 1
fi
status=0
apt_install rustc libstd-rust-dev-wasm32 lld || status=$?
[ "$status" = 0 ] || exit "$status"
if have_toolchain; then
    exit 0
fi
echo "install_rust_wasm: toolchain still incomplete after apt-get install" >&2
exit 1
