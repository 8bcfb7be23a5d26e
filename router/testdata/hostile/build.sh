#!/bin/sh
# Rebuilds the hostile test modules from their .wat sources. The invalid
# ones (they name globals they never declare) need --no-check.
set -e
cd "$(dirname "$0")"
wat2wasm --no-check -o evil_flag.wasm evil_flag.wat
wat2wasm --no-check -o evil_counter.wasm evil_counter.wat
for m in evil_fib evil_fill evil_fills200 evil_init; do
	wat2wasm -o "$m.wasm" "$m.wat"
done
