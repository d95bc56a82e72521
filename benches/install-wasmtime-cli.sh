#!/bin/sh
# Builds the `wasmtime` 48 command line into benches/wasmtime-cli/bin (for
# startup.sh), from crates.io, with the features the comparison needs. The
# build takes a while (15-30 minutes on two cores); nothing is installed
# outside benches/.
set -eu
cd "$(dirname "$0")"
cargo install wasmtime-cli --version 48.0.8 --locked --no-default-features \
    --features run,cache,cranelift,gc,gc-drc,gc-null,parallel-compilation \
    --root "$PWD/wasmtime-cli" --target-dir "$PWD/target-wasmtime-cli"
