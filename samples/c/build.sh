#!/bin/sh
# Rebuilds the prebuilt WASI modules in this folder from their C sources.
# They are committed so that a user with only Go installed can still try
# the C samples.
#
# Needs (Debian/Ubuntu packages): clang lld wasi-libc libclang-rt-dev-wasm32
#   sudo apt-get install clang lld wasi-libc libclang-rt-dev-wasm32
#
# Usage: ./build.sh        (override the compiler with CC=clang-19 ./build.sh)
set -eu

cd "$(dirname "$0")"

CC=${CC:-clang}
# -O2 keeps the modules small and fast; --strip-all drops debug info and
# the name section, which the host does not need.
CFLAGS="--target=wasm32-wasi -O2 -Wall -Wextra"
LDFLAGS="-Wl,--strip-all"

for name in hello env quotes_api; do
	echo "building $name.wasm"
	$CC $CFLAGS $LDFLAGS -o "$name.wasm" "$name.c"
done
