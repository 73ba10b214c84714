#!/usr/bin/env bash
# Build the MVPIoTProcessor Stylus program (stylus_contracts/wasm/src) into
# stylus_contracts/wasm/mvp_iot_processor.wasm with Debian's rustc, deterministically.
#
#   scripts/build_stylus.sh            build (installs the toolchain when missing)
#   scripts/build_stylus.sh OUT.wasm   build into OUT.wasm instead (used by the rebuild test)
#
# /usr/bin/rustc is used explicitly: a rustup toolchain in ~/.cargo/bin would give other bytes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CRATE="$ROOT/stylus_contracts/wasm"
OUT="${1:-$CRATE/mvp_iot_processor.wasm}"
RUSTC=/usr/bin/rustc

bash "$ROOT/scripts/install_rust_wasm.sh"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# A fixed source path keeps the (remapped) paths in panic locations identical everywhere.
cp -r "$CRATE/src" "$WORK/src"

cd "$WORK"
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS SOURCE_DATE_EPOCH=0 \
"$RUSTC" --edition 2021 \
    --target wasm32-unknown-unknown \
    --crate-type cdylib \
    --crate-name mvp_iot_processor \
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
    -o "$WORK/out.wasm" \
    src/lib.rs

mkdir -p "$(dirname "$OUT")"
cp "$WORK/out.wasm" "$OUT"
echo "built $OUT ($(wc -c <"$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -d' ' -f1))"
