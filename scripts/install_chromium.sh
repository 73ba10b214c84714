#!/usr/bin/env bash
# Install Debian's `chromium` package (the headless browser the page and report tests drive
# through Playwright, launched with executable_path=/usr/bin/chromium; `playwright install` is
# never run) when /usr/bin/chromium is missing. Idempotent: does nothing (exit 0) when present.
#
#   bash scripts/install_chromium.sh           install when missing
#   bash scripts/install_chromium.sh --check   never install: exit 0 present, 1 missing
#
# Exit codes: 0 chromium usable afterwards; 1 the install failed (or --check: missing);
#             77 cannot install on this machine (no apt-get, or not root and no sudo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

BIN=/usr/bin/chromium
if [ -x "$BIN" ]; then
    echo "install_chromium: already installed: $("$BIN" --version 2>/dev/null | head -n 1)"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    command -v apt-get >/dev/null 2>&1 || exit 77
    echo "install_chromium: no $BIN" >&2
    exit 1
fi
status=0
apt_install chromium fonts-dejavu-core || status=$?
[ "$status" = 0 ] || exit "$status"
if [ ! -x "$BIN" ]; then
    echo "install_chromium: apt-get finished but no $BIN" >&2
    exit 1
fi
echo "install_chromium: installed: $("$BIN" --version 2>/dev/null | head -n 1)"
