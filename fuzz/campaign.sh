#!/bin/bash
# A recorded campaign: runs each TARGET:MAX_LEN given until it has used
# CPU_SECONDS (default 1800) of CPU time (user + sys), in segments of wall
# time (at nice 19 the fuzzer may be starved), keeping its corpus in
# corpus/TARGET and crashes in artifacts/TARGET. One line per segment and
# per finished target goes to $LOG (default campaign.log).
#
#   cd fuzz && cargo +nightly fuzz build --features wasmi
#   ./campaign.sh gc_ops:1024 spectests:4096 &     # one lane per core
#
# Uses the binaries of the last `cargo fuzz build`.
set -u
cd "$(dirname "$0")"
budget=${CPU_SECONDS:-1800}
log=${LOG:-$PWD/campaign.log}
bin=./target/x86_64-unknown-linux-gnu/release
for spec in "$@"; do
  t=${spec%%:*}; len=${spec##*:}
  mkdir -p "corpus/$t" "artifacts/$t"
  cpu=0; execs=0; wall=0; seg=0
  while [ "$cpu" -lt "$budget" ]; do
    left=$((budget - cpu)); [ $left -lt 60 ] && left=60
    seg=$((seg + 1))
    out=$(mktemp); times=$(mktemp)
    start=$(date +%s)
    /usr/bin/time -f "%U %S" -o "$times" env LSAN_OPTIONS=suppressions=$PWD/lsan-suppressions.txt \
      nice -n 19 "$bin/$t" -artifact_prefix="artifacts/$t/" -max_total_time=$left -len_control=0 -max_len="$len" "corpus/$t" > "$out" 2>&1
    rc=$?
    end=$(date +%s); wall=$((wall + end - start))
    c=$(awk '{printf "%d", $1 + $2}' "$times"); cpu=$((cpu + c))
    n=$(grep -o "Done [0-9]* runs" "$out" | awk '{print $2}'); execs=$((execs + ${n:-0}))
    echo "$(date -u +%FT%H:%M) $t segment $seg: rc=$rc cpu=${c}s wall=$((end - start))s runs=${n:-?}" >> "$log"
    if [ $rc -ne 0 ]; then
      cp "$out" "artifacts/$t/crash-log-$seg.txt"
      echo "$(date -u +%FT%H:%M) $t CRASH (rc=$rc): artifacts/$t/crash-log-$seg.txt" >> "$log"
      break
    fi
    rm -f "$out" "$times"
  done
  echo "$(date -u +%FT%H:%M) $t done: max_len=$len cpu=${cpu}s wall=${wall}s executions=$execs" >> "$log"
done
