#!/usr/bin/env bash
# Resident memory of `relaxvqa serve` (release build, default flags,
# synthetic weights and head, --threads 2): idle, one legitimate 1920x1080
# 10 s job, and the hostile corpus of docs/security.md ("Limits") in flight
# at once (three of each bomb, both ten-hour clips; uploads past
# --max-uploads retried after their 503). Prints VmRSS idle and VmHWM after
# each part, for docs/security.md.
#   scripts/bench_service_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/target_dir.sh
cargo build -q --release -p relaxvqa-cli
cargo test -q --workspace --no-run
bin=$TARGET/release/relaxvqa
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
"$TARGET/debug/synthetic_head" head.safetensors
ff() { ffmpeg -nostdin -loglevel error -y "$@"; }
ff -f lavfi -i "testsrc2=size=1920x1080:rate=25" -vf "noise=alls=12:allf=t,format=yuv420p" -t 10 -c:v libx264 -crf 23 hd.mp4
python3 - <<'PY'
import struct, zlib
def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
def png(path, w, h, rows):
    z = zlib.compressobj(9); row = b"\0" * (1 + w * 8)
    idat = b"".join(z.compress(row) for _ in range(rows)) + z.flush()
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
png("bomb.png", 16000, 16000, 16000)
png("huge.png", 60000, 60000, 4)
open("huge.gif", "wb").write(b"GIF89a" + struct.pack("<HHBBB", 60000, 60000, 0, 0, 0) + b"\x2c" + struct.pack("<HHHHB", 0, 0, 60000, 60000, 0) + b"\x02\x02\x44\x01\x00\x3b")
PY
ff -f lavfi -i testsrc2=s=64x64:r=25 -frames:v 10 -c:v libx264 -preset ultrafast -f h264 small.h264
ff -f lavfi -i color=black:s=15360x8640:r=25 -frames:v 2 -c:v libx264 -preset ultrafast -f h264 big.h264
cat small.h264 big.h264 > switch.h264
ff -f lavfi -i testsrc=s=32x32:r=2 -t 1 -c:v libx264 -preset ultrafast one.mkv
ff -i one.mkv $(for _ in $(seq 1000); do printf -- '-map 0:v '; done) -c copy many.mkv
ff -f lavfi -i color=gray:s=32x32:r=2 -t 36000 -c:v libx264 -preset ultrafast -g 600 long.mp4
ff -i long.mp4 -c copy -f h264 long.h264

start() {
  rm -rf data
  RELAXVQA_LOG=error "$bin" --threads 2 serve --listen 127.0.0.1:0 --weights synthetic --model head.safetensors \
    --data-dir data > serve.out &
  pid=$!
  for _ in $(seq 300); do grep -q listening serve.out 2>/dev/null && break; sleep 0.2; done
  addr=$(sed 's/listening on //' serve.out)
  until curl -sf "$addr/readyz" >/dev/null; do sleep 0.5; done
  sleep 2
}
mem() { awk -v f="$1:" '$1 == f {printf "%.2f GiB", $2 / 1048576}' "/proc/$pid/status"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"

start
echo "idle: VmRSS $(mem VmRSS)"
t0=$SECONDS
id=$(curl -s -H 'Content-Type: video/mp4' --data-binary @hd.mp4 "$addr/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
while :; do
  st=$(curl -s "$addr/v1/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [[ $st == done || $st == failed ]] && break
  sleep 1
done
echo "one 1080p job: $st after $((SECONDS - t0)) s, VmHWM $(mem VmHWM)"
kill "$pid"; wait "$pid" || true

start
echo "idle: VmRSS $(mem VmRSS)"
post() {
  local code
  for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$addr/v1/jobs")
    [[ $code != 503 ]] && break
    sleep 0.3
  done
  echo "  $1: $code"
}
posts=()
for f in bomb.png huge.png huge.gif switch.h264 many.mkv; do
  for _ in 1 2 3; do post "$f" & posts+=($!); done
done
for f in long.mp4 long.h264; do post "$f" & posts+=($!); done
wait "${posts[@]}"
busy() { curl -s "$addr/metrics" | awk '$1 == "relaxvqa_running_jobs" || $1 == "relaxvqa_queue_depth" {n += $2} END {print n + 0}'; }
for _ in $(seq 300); do [[ $(busy) == 0 ]] && break; sleep 1; done
echo "hostile corpus: VmHWM $(mem VmHWM); $(curl -s "$addr/metrics" | grep -E '^relaxvqa_jobs_finished_total' | tr '\n' ' ')"
