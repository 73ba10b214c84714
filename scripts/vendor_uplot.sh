#!/usr/bin/env bash
# Vendor the chart library of the live page and report.html: uPlot, pinned, from npm.
#
#   bash scripts/vendor_uplot.sh           fetch uplot@VERSION with `npm pack`, check the
#                                          tarball's integrity, write the three files below
#   bash scripts/vendor_uplot.sh --check   the same fetch, but only compare: exit 0 when the
#                                          checked-in files are the package's, 1 otherwise
#
# Writes utils/web/uPlot.iife.min.js, utils/web/uPlot.min.css and utils/web/uPlot.LICENSE (MIT)
# from the package's dist/ and LICENSE. They are checked in: nothing is fetched at run time.
# tests/test_web_assets.py compares the checked-in files with the sha256 sums below.
set -euo pipefail

VERSION=1.6.32
# `npm view uplot@1.6.32 dist.integrity`
INTEGRITY="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
# sha256 of each vendored file: package path | file in utils/web | sha256
FILES=(
    "package/dist/uPlot.iife.min.js|uPlot.iife.min.js|19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"
    "package/dist/uPlot.min.css|uPlot.min.css|df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04"
    "package/LICENSE|uPlot.LICENSE|8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/utils/web"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kcstress-uplot.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

field() { local IFS='|'; read -r -a parts <<<"$1"; echo "${parts[$2]}"; }

(cd "$WORK" && npm pack --silent "uplot@$VERSION" >/dev/null)
tarball="$WORK/uplot-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
    echo "vendor_uplot: uplot-$VERSION.tgz integrity $actual, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$WORK"

status=0
for entry in "${FILES[@]}"; do
    src="$WORK/$(field "$entry" 0)" name="$(field "$entry" 1)" sum="$(field "$entry" 2)"
    if [ "$(sha256sum "$src" | cut -d' ' -f1)" != "$sum" ]; then
        echo "vendor_uplot: $(field "$entry" 0) of the package is not the recorded $sum" >&2
        exit 1
    fi
    if [ "${1:-}" = "--check" ]; then
        if ! cmp -s "$src" "$DEST/$name"; then
            echo "vendor_uplot: utils/web/$name differs from uplot@$VERSION's" >&2
            status=1
        fi
    else
        install -m 0644 "$src" "$DEST/$name"
        echo "vendor_uplot: utils/web/$name from uplot@$VERSION"
    fi
done
exit "$status"
