#!/bin/sh
# Rebuilds every test guest in this directory: NAME.wat / NAME.c / NAME.rs
# -> NAME.wasm next to its source. The built .wasm files are committed, so the
# server's tests never need these tools; run this only after editing a source.
#
# Debian (bookworm) packages needed:
#   wabt                                      wat2wasm, for .wat
#   clang lld wasi-libc libclang-rt-dev-wasm32
#                                              clang --target=wasm32-wasi, for .c
#   rustc libstd-rust-dev-wasm32              rustc --target wasm32-wasi, for .rs
#   (apt-get install -y wabt clang lld wasi-libc libclang-rt-dev-wasm32 \
#        rustc libstd-rust-dev-wasm32)
#
# Usage: ./build.sh            rebuild all guests
#        ./build.sh NAME...    rebuild only these (base names or sources)
#
# Env overrides: WAT2WASM, CC, RUSTC (default /usr/bin/rustc when present,
# since a rustup rustc in PATH usually lacks the wasm32-wasi std).
set -eu

cd "$(dirname "$0")"

WAT2WASM=${WAT2WASM:-wat2wasm}
CC=${CC:-clang}
if [ -z "${RUSTC:-}" ]; then
    if [ -x /usr/bin/rustc ]; then RUSTC=/usr/bin/rustc; else RUSTC=rustc; fi
fi

build_one() {
    src=$1
    case "$src" in
    *.wat)
        out=${src%.wat}.wasm
        "$WAT2WASM" "$src" -o "$out"
        ;;
    *.c)
        # printf without %f/%g support (smaller); no guest prints floats.
        out=${src%.c}.wasm
        # reactor*.c are reactors: _initialize runs the constructors, the
        # exports are the entrypoints (snapshot tests, issue 12).
        model=
        case "$src" in reactor*) model=-mexec-model=reactor ;; esac
        "$CC" --target=wasm32-wasi -O2 -Wall -Wextra $model \
            -Wl,--strip-all "$src" -o "$out" \
            -lc-printscan-no-floating-point
        ;;
    *.rs)
        out=${src%.rs}.wasm
        "$RUSTC" --target wasm32-wasi --edition 2021 -O \
            -C panic=abort -C debuginfo=0 -C strip=symbols \
            "$src" -o "$out"
        ;;
    *)
        echo "build.sh: don't know how to build $src" >&2
        return 1
        ;;
    esac
    echo "built $out ($(wc -c <"$out") bytes)"
}

if [ $# -eq 0 ]; then
    for src in *.wat *.c *.rs; do
        [ -e "$src" ] || continue
        build_one "$src"
    done
else
    for name in "$@"; do
        name=${name%.wasm}
        case "$name" in
        *.wat|*.c|*.rs) build_one "$name" ;;
        *)
            found=
            for ext in wat c rs; do
                if [ -e "$name.$ext" ]; then build_one "$name.$ext"; found=1; fi
            done
            [ -n "$found" ] || { echo "build.sh: no source for $name" >&2; exit 1; }
            ;;
        esac
    done
fi
