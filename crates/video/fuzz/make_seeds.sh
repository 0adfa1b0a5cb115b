#!/bin/sh
# Regenerates seeds/decode: tiny videos of the kinds the decoder meets
# (FFmpeg 5.1 CLI). Run from crates/video/fuzz. Keep the folder small.
set -e
out=seeds/decode
mkdir -p "$out"
ff() { ffmpeg -hide_banner -nostdin -v error -y "$@"; }
src="testsrc2=size=32x24:rate=10"
ff -f lavfi -i "$src" -frames:v 6 -c:v libx264 -pix_fmt yuv420p -movflags +faststart "$out/h264.mp4"
ff -f lavfi -i "$src" -frames:v 4 -c:v libx264 -pix_fmt yuv420p10le "$out/h264_10bit.mkv"
ff -f lavfi -i "$src" -frames:v 4 -c:v libx264 -metadata:s:v:0 rotate=90 "$out/rot90.mp4"
ff -f lavfi -i "$src" -frames:v 4 -c:v libx265 -x265-params log-level=none "$out/hevc.mp4"
ff -f lavfi -i "$src" -frames:v 4 -c:v mpeg4 "$out/mpeg4.avi"
ff -f lavfi -i "$src" -frames:v 4 -c:v mjpeg "$out/mjpeg.mov"
ff -f lavfi -i "$src" -frames:v 3 -c:v ffv1 -pix_fmt yuva420p "$out/ffv1_alpha.mkv"
ff -f lavfi -i "$src" -frames:v 3 -c:v libaom-av1 -cpu-used 8 "$out/av1.webm"
ff -f lavfi -i "$src" -frames:v 3 "$out/pal.gif"
ff -f lavfi -i "$src" -frames:v 2 -pix_fmt gray "$out/gray.y4m"
ff -f lavfi -i "$src" -frames:v 1 "$out/still.png"
# A size change inside an MPEG-TS stream, as in the size_change fixture.
tmp=$(mktemp -d)
ff -f lavfi -i "$src" -frames:v 3 -c:v libx264 "$tmp/a.ts"
ff -f lavfi -i "testsrc2=size=48x32:rate=10" -frames:v 3 -c:v libx264 "$tmp/b.ts"
printf "file '%s'\nfile '%s'\n" "$tmp/a.ts" "$tmp/b.ts" > "$tmp/list.txt"
ff -f concat -safe 0 -i "$tmp/list.txt" -c copy "$out/size_change.ts"
rm -r "$tmp"
# Raw video: a first byte of 0xF0 or more selects raw mode (decode_input.rs);
# 0xF0 is 16x16 yuv420p.
printf '\360' > "$out/raw_16x16_yuv420p.bin"
ffmpeg -hide_banner -nostdin -v error -f lavfi -i "testsrc2=size=16x16:rate=10" -frames:v 3 \
    -f rawvideo -pix_fmt yuv420p - >> "$out/raw_16x16_yuv420p.bin"
du -sh "$out"
