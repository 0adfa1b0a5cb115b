#!/usr/bin/env bash
# Benchmark of the whole `relaxvqa extract` command with synthetic weights on
# carphone_pristine.mp4 and on a generated 1280x720, 25 fps, 5 s clip: wall
# seconds, per-stage seconds (from --json) and peak memory (GNU time).
# Usage: scripts/bench_extract.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
source scripts/target_dir.sh
bin=${RELAXVQA_BIN:-$TARGET/release/relaxvqa}
[ -n "${RELAXVQA_BIN:-}" ] || cargo build --release -p relaxvqa-cli >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
clip="$work/testsrc2_720p25_5s.mp4"
ffmpeg -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=25" -vf "noise=alls=12:allf=t,format=yuv420p" \
  -t 5 -c:v libx264 -crf 23 "$clip"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for v in tests/data/videos/carphone_pristine.mp4 "$clip"; do
  /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB peak RSS" -o "$work/time" \
    "$bin" --threads "$threads" extract "$v" --weights synthetic -o "$work/out.safetensors" --json --quiet > "$work/summary.json"
  python3 - "$work/summary.json" "$(cat "$work/time")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); t = s["timings"]; tot = t["total"]
print(f'{s["video"].split("/")[-1]}: {s["width"]}x{s["height"]}, {s["frames"]} frames, {s["sampled_frames"]} sampled, {s["pairs"]} pairs')
print(f'  {tot:.2f} s per video, {tot / s["sampled_frames"]:.2f} s per sampled frame; {sys.argv[2]}')
print('  stage seconds (share of wall): ' + ', '.join(f'{k} {t[k]:.2f} ({100 * t[k] / tot:.0f}%)' for k in ("decode", "resize", "flow", "fragments", "resnet", "vit", "network_wait")))
PY
done
