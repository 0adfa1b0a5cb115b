#!/usr/bin/env bash
# Peak memory of `relaxvqa extract` against video length (issue 4: memory must
# not grow with the length of the video). Generates 1920x1080 25 fps clips of
# the given lengths (seconds) and prints wall time and peak RSS (GNU time) of
# each extraction with synthetic weights.
# Usage: scripts/bench_memory.sh [SECONDS ...]   (default: 20 80)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RELAXVQA_BIN:-target/release/relaxvqa}
[ -n "${RELAXVQA_BIN:-}" ] || cargo build --release -p relaxvqa >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for secs in "${@:-20 80}"; do
  for s in $secs; do
    clip="$work/testsrc2_1080p25_${s}s.mp4"
    ffmpeg -loglevel error -f lavfi -i "testsrc2=size=1920x1080:rate=25" -vf "noise=alls=8:allf=t,format=yuv420p" \
      -t "$s" -c:v libx264 -preset ultrafast -crf 23 "$clip"
    /usr/bin/time -f "%e s wall, %U s user, %M KiB peak RSS" -o "$work/time" \
      "$bin" extract "$clip" --weights synthetic -o "$work/out.safetensors" --json --quiet > "$work/summary.json" 2>/dev/null
    python3 - "$work/summary.json" "$(cat "$work/time")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f'{s["video"].split("/")[-1]}: {s["frames"]} frames, {s["sampled_frames"]} sampled, {s["pairs"]} pairs; {sys.argv[2]}')
PY
  done
done
