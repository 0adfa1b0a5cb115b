#!/usr/bin/env bash
# Times `relaxvqa extract` of one video on every kernel path this CPU runs
# (RELAXVQA_SIMD=avx2 and portable; the path the process chose is printed
# by `relaxvqa info`), runs interleaved, and prints each run and the median
# per path, for docs/performance.md.
#
#   scripts/bench_simd.sh BINARY VIDEO [RUNS] [THREADS]
#
# Whole-process wall time (model build included), synthetic weights.
set -euo pipefail
BIN=${1:?usage: bench_simd.sh BINARY VIDEO [RUNS] [THREADS]}
VIDEO=${2:?usage: bench_simd.sh BINARY VIDEO [RUNS] [THREADS]}
RUNS=${3:-3}
THREADS=${4:-$(nproc)}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
paths=(portable)
if grep -qw avx2 /proc/cpuinfo; then paths+=(avx2); fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; $(date -u +%F)"
for p in "${paths[@]}"; do
  echo "$p: $(RELAXVQA_SIMD=$p "$BIN" info "$VIDEO" | grep kernels | sed 's/^ *//')"
done
declare -A times
for r in $(seq "$RUNS"); do
  for p in "${paths[@]}"; do
    t0=$(date +%s.%N)
    RELAXVQA_SIMD=$p RELAXVQA_LOG=error "$BIN" --threads "$THREADS" extract "$VIDEO" --weights synthetic --quiet \
      -o "$OUT/$p.safetensors" >/dev/null
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    times[$p]="${times[$p]:-} $t"
    printf 'run %d %-8s %.2f s\n' "$r" "$p" "$t"
  done
done
for p in "${paths[@]}"; do
  med=$(tr ' ' '\n' <<<"${times[$p]}" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
  printf 'median %-8s %.2f s\n' "$p" "$med"
done
# (That every path gives the same values bit for bit is a test:
# crates/relaxvqa/tests/simd_paths.rs.)
