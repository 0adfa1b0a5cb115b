#!/usr/bin/env bash
# Times `relaxvqa extract` of one video on every kernel path this CPU runs
# (RELAXVQA_SIMD=portable, avx2, and avx512 where the CPU has AVX-512F),
# optionally beside an older binary (its own automatic choice), runs
# interleaved; prints each run and the median of each, for
# docs/performance.md. What each path means on this CPU, and what `auto`
# chose and why, is printed first (`relaxvqa info`).
#
#   scripts/bench_simd.sh BINARY VIDEO [RUNS] [THREADS] [OLD_BINARY]
#
# Whole-process wall time (model build included), synthetic weights.
set -euo pipefail
usage="usage: bench_simd.sh BINARY VIDEO [RUNS] [THREADS] [OLD_BINARY]"
BIN=${1:?$usage}
VIDEO=${2:?$usage}
RUNS=${3:-3}
THREADS=${4:-$(nproc)}
OLD=${5:-}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
paths=(portable)
if grep -qw avx2 /proc/cpuinfo; then paths+=(avx2); fi
if grep -qw avx512f /proc/cpuinfo; then paths+=(avx512); fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; $(date -u +%F)"
for p in auto "${paths[@]}"; do
  echo "$p:"
  RELAXVQA_SIMD=$p "$BIN" info "$VIDEO" | grep -E '^ *(kernels|products)' | sed 's/^ */  /'
done
runs=("${paths[@]}")
if [[ -n $OLD ]]; then runs=(old "${paths[@]}"); fi
declare -A times
for r in $(seq "$RUNS"); do
  for p in "${runs[@]}"; do
    if [[ $p == old ]]; then cmd=("$OLD"); env=(RELAXVQA_SIMD=auto); else cmd=("$BIN"); env=("RELAXVQA_SIMD=$p"); fi
    t0=$(date +%s.%N)
    env "${env[@]}" RELAXVQA_LOG=error "${cmd[@]}" --threads "$THREADS" extract "$VIDEO" --weights synthetic --quiet \
      -o "$OUT/$p.safetensors" >/dev/null
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    times[$p]="${times[$p]:-} $t"
    printf 'run %d %-8s %.2f s\n' "$r" "$p" "$t"
  done
done
for p in "${runs[@]}"; do
  med=$(tr ' ' '\n' <<<"${times[$p]}" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
  printf 'median %-8s %.2f s\n' "$p" "$med"
done
# (That every path meets the parity bars, and our kernels' two paths agree
# bit for bit, is a test: crates/relaxvqa/tests/integration/simd_paths.rs.)
