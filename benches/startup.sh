#!/bin/sh
# Start-to-exit time of a short program under `kiln run` and `wasmtime run`,
# each with a warm compiled-module cache, measured in the same run.
#
# The program is the `compile` workload's module (3,000 functions, 340 KB;
# its `run` calls each once), written by `kiln-benches --emit`. Each command
# gets a cache directory of its own (a fresh XDG_CACHE_HOME, which both use
# by default), is run once to fill it, then RUNS times, the two interleaved.
#
# Needs: the kiln CLI (built here with `cargo build --release -p kiln-cli`
# at the repository root) and `wasmtime` 48 (`benches/wasmtime-cli/bin/`,
# installed by `install-wasmtime-cli.sh`, or WASMTIME=/path/to/wasmtime).
#
# Usage: sh startup.sh [RUNS]      (default 20)
set -eu
cd "$(dirname "$0")"
runs=${1:-20}
root=$(cd .. && pwd)
wasmtime=${WASMTIME:-$PWD/wasmtime-cli/bin/wasmtime}
if [ ! -x "$wasmtime" ]; then
    echo "no wasmtime at $wasmtime: run sh install-wasmtime-cli.sh, or set WASMTIME" >&2
    exit 2
fi
(cd "$root" && cargo build --release -p kiln-cli >&2)
kiln=$root/target/release/kiln
CARGO_TARGET_DIR=$PWD/target cargo build --release >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./target/release/kiln-benches --emit "$work" --only compile >&2
wasm=$work/compile.wasm
mkdir -p "$work/kiln-cache" "$work/wasmtime-cache"

run_kiln() { XDG_CACHE_HOME=$work/kiln-cache "$kiln" run --invoke run "$wasm" 12345; }
run_wasmtime() { XDG_CACHE_HOME=$work/wasmtime-cache "$wasmtime" run --invoke run "$wasm" 12345; }

# One run each fills the caches (and checks that both give the same answer).
a=$(run_kiln); b=$(run_wasmtime)
if [ "$a" != "$b" ]; then
    echo "kiln printed $a, wasmtime $b" >&2
    exit 1
fi

now_ns() { date +%s%N; }
: > "$work/kiln.times"; : > "$work/wasmtime.times"
i=0
while [ $i -lt "$runs" ]; do
    t0=$(now_ns); run_kiln > /dev/null; t1=$(now_ns); echo $(( (t1 - t0) / 1000 )) >> "$work/kiln.times"
    t0=$(now_ns); run_wasmtime > /dev/null; t1=$(now_ns); echo $(( (t1 - t0) / 1000 )) >> "$work/wasmtime.times"
    i=$((i + 1))
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%d\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
k=$(median "$work/kiln.times"); w=$(median "$work/wasmtime.times")
echo "startup with a warm cache, median of $runs (compile.wasm, 340 KB, 3000 functions):"
echo "  cache entries: kiln $(find "$work/kiln-cache" -type f | wc -l), wasmtime $(find "$work/wasmtime-cache" -type f | wc -l)"
echo "  kiln run:     $((k / 1000)).$(( (k % 1000) / 100 )) ms"
echo "  wasmtime run: $((w / 1000)).$(( (w % 1000) / 100 )) ms   ($("$wasmtime" --version))"
awk -v k="$k" -v w="$w" 'BEGIN { printf "  wasmtime / kiln = %.2f (above 1: kiln starts faster)\n", w / k }'
