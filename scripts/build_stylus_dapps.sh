#!/usr/bin/env bash
# Build the dApp Stylus programs (stylus_contracts/wasm_dapps/<name>/lib.rs + support/) into
# stylus_contracts/wasm_dapps/<name>.wasm with Debian's rustc, deterministically, exactly as
# scripts/build_stylus.sh builds MVPIoTProcessor.
#
#   scripts/build_stylus_dapps.sh          build all (installs the toolchain when missing)
#   scripts/build_stylus_dapps.sh OUTDIR   build into OUTDIR/<name>.wasm (the rebuild test)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/stylus_contracts/wasm_dapps"
OUTDIR="${1:-$SRC}"
RUSTC=/usr/bin/rustc
PROGRAMS=(stablecoin router lending)

bash "$ROOT/scripts/install_rust_wasm.sh"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# A fixed source path keeps the (remapped) paths in panic locations identical everywhere.
cp -r "$SRC/support" "$WORK/support"
mkdir -p "$OUTDIR"
for name in "${PROGRAMS[@]}"; do
    cp -r "$SRC/$name" "$WORK/$name"
    (cd "$WORK" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS SOURCE_DATE_EPOCH=0 \
    "$RUSTC" --edition 2021 \
        --target wasm32-unknown-unknown \
        --crate-type cdylib \
        --crate-name "kc_$name" \
        -O \
        -C codegen-units=1 \
        -C panic=abort \
        -C debuginfo=0 \
        -C strip=symbols \
        -C target-cpu=mvp \
        -C linker=/usr/bin/rust-lld \
        -C link-arg=-zstack-size=32768 \
        -C link-arg=--strip-all \
        --remap-path-prefix "$WORK=/stylus" \
        -o "$WORK/$name.wasm" \
        "$name/lib.rs")
    cp "$WORK/$name.wasm" "$OUTDIR/$name.wasm"
    echo "built $OUTDIR/$name.wasm ($(wc -c <"$OUTDIR/$name.wasm") bytes, sha256 $(sha256sum "$OUTDIR/$name.wasm" | cut -d' ' -f1))"
done
