#!/usr/bin/env bash
# The install test: what scripts/dist.sh wrote into dist/, installed where
# nothing else is. A minimal Debian 11 root (glibc 2.31, Python 3.9; no
# compiler, no FFmpeg libraries, no Rust) made with debootstrap and cached in
# ~/.cache/relaxvqa/roots; a fresh venv in it; the wheel from its file
# (numpy from the registry); then:
#  - auditwheel calls the wheel manylinux_2_28 or older; wheel <= 30 MB,
#    archive <= 20 MB;
#  - ldd, inside the root, finds every library of the extension and of both
#    binaries, and they are only the C runtime's;
#  - the wheel's `relaxvqa extract` of tests/data/videos/testsrc2_noise.mp4
#    is at parity with the reference (tools/compare_features.py);
#  - Python's relaxvqa.extract(bytes) gives the same vector, an HLS playlist
#    in bytes is refused with RefusedError, AV1 (MP4 and WebM), VP9 and HEVC
#    clips decode and give finite features;
#  - the archive's binary gives the same vector as the wheel's command.
# Needs root (debootstrap, chroot, mount), debootstrap, the ffmpeg tool (to
# make the clips) and Debian's archive and PyPI. .ci/run runs it after
# scripts/dist.sh.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
CACHE=${RELAXVQA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/relaxvqa}
fail() { echo "test_install.sh: FAIL: $*" >&2; exit 1; }
say() { echo "test_install.sh: $*" >&2; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot and mount)"
for tool in debootstrap chroot ffmpeg python3; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/setup.sh installs it)"
done
shopt -s nullglob
wheels=(dist/relaxvqa-*.whl)
archives=(dist/relaxvqa-*-x86_64-unknown-linux-gnu.tar.gz)
[ ${#wheels[@]} -eq 1 ] && [ ${#archives[@]} -eq 1 ] ||
  fail "expected one wheel and one archive in dist/ (run scripts/dist.sh): ${wheels[*]} ${archives[*]}"
wheel=${wheels[0]} archive=${archives[0]}

# Sizes and the wheel's platform tag.
wheel_mb=$(( $(stat -c %s "$wheel") / 1000000 ))
archive_mb=$(( $(stat -c %s "$archive") / 1000000 ))
say "wheel $(stat -c %s "$wheel") bytes, archive $(stat -c %s "$archive") bytes"
[ "$wheel_mb" -lt 30 ] || fail "the wheel is $wheel_mb MB (at most 30)"
[ "$archive_mb" -lt 20 ] || fail "the archive is $archive_mb MB (at most 20)"
AW="$CACHE/tools-auditwheel"
if ! "$AW/bin/auditwheel" --version >/dev/null 2>&1; then
  rm -rf "$AW" && python3 -m venv "$AW" && "$AW/bin/pip" install --quiet auditwheel
fi
shown=$("$AW/bin/auditwheel" show "$wheel")
echo "$shown" >&2
tag=$(echo "$shown" | tr -s '\n ' '  ' | grep -o 'consistent with the following platform tag: "manylinux_2_[0-9]*_x86_64"' |
  grep -o 'manylinux_2_[0-9]*' || true)
[ -n "$tag" ] || fail "auditwheel names no manylinux tag for the wheel"
[ "${tag#manylinux_2_}" -le 28 ] || fail "the wheel is $tag, newer than manylinux_2_28"
case "$(basename "$wheel")" in
  *manylinux_2_28_x86_64*|*manylinux_2_2[0-7]_x86_64*|*manylinux2014*) ;;
  *) fail "the wheel's file name carries no manylinux_2_28 (or older) tag: $(basename "$wheel")" ;;
esac

# The root: made once, kept read-only in spirit (the test works in a folder
# it removes after).
ROOTFS="$CACHE/roots/bullseye-minbase-python3"
if [ ! -f "$ROOTFS/.complete" ]; then
  say "making a Debian 11 root with debootstrap (once; a few minutes)"
  rm -rf "$ROOTFS.tmp"
  mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase --include=python3,python3-venv bullseye "$ROOTFS.tmp" http://deb.debian.org/debian >&2
  touch "$ROOTFS.tmp/.complete"
  rm -rf "$ROOTFS"
  mv "$ROOTFS.tmp" "$ROOTFS"
fi
for absent in /usr/bin/cc /usr/bin/gcc /usr/bin/cargo /usr/bin/ffmpeg; do
  [ ! -e "$ROOTFS$absent" ] || fail "the root has $absent"
done
if compgen -G "$ROOTFS/usr/lib/x86_64-linux-gnu/libav*" >/dev/null; then fail "the root has FFmpeg libraries"; fi

T=/relaxvqa-install-test
W="$ROOTFS$T"
cleanup() {
  umount "$ROOTFS/proc" 2>/dev/null || true
  umount "$ROOTFS/dev" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
cleanup
mkdir -p "$W/clips"
mount -t proc proc "$ROOTFS/proc"
mount --bind /dev "$ROOTFS/dev"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# The host's CA bundle: PyPI may be reached through this network's proxy.
mkdir -p "$ROOTFS/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
cp "$wheel" "$archive" "$W/"
cp tests/data/videos/testsrc2_noise.mp4 tests/data/reference/testsrc2_noise.safetensors tools/compare_features.py "$W/"
src="testsrc2=size=96x64:rate=24,noise=alls=10:allf=t"
make_clip() { ffmpeg -hide_banner -nostdin -v error -y -f lavfi -i "$src" -frames:v 12 -pix_fmt yuv420p "$@"; }
make_clip -c:v libaom-av1 -cpu-used 8 "$W/clips/av1.mp4"
make_clip -c:v libaom-av1 -cpu-used 8 "$W/clips/av1.webm"
make_clip -c:v libvpx-vp9 -deadline realtime "$W/clips/vp9.webm"
make_clip -c:v libx265 -x265-params log-level=error "$W/clips/hevc.mp4"
cat > "$W/check.py" <<'EOF'
"""Run inside the root by scripts/test_install.sh, with the venv's Python."""
import json, math, struct, sys
import numpy as np
import relaxvqa

def features(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        payload = f.read()
    e = header["video.features"]
    assert e["dtype"] == "F64", e
    a, b = e["data_offsets"]
    return np.frombuffer(payload[a:b], dtype="<f8")

cli = features(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    data = f.read()
ours = relaxvqa.extract(data, weights="synthetic", threads=2)
diff = float(np.max(np.abs(ours - cli)))
print(f"relaxvqa.extract(bytes) against the command's vector: {ours.shape[0]} values, max abs diff {diff}")
assert ours.shape == (relaxvqa.FEATURE_LEN,) and diff == 0.0

hls = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:0.5,\nfile:/etc/passwd\n#EXT-X-ENDLIST\n"
try:
    relaxvqa.extract(hls, weights="synthetic")
    raise SystemExit("an HLS playlist in bytes was not refused")
except relaxvqa.RefusedError as e:
    print(f"HLS playlist in bytes: RefusedError: {e}")

for clip in sys.argv[3:]:
    v = relaxvqa.extract(clip, weights="synthetic", threads=2)
    assert v.shape == (relaxvqa.FEATURE_LEN,) and bool(np.all(np.isfinite(v))), clip
    print(f"{clip}: decoded, {v.shape[0]} finite features")
print("check.py: all passed")
EOF

inroot() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }
say "inside the root: $(inroot /bin/sh -c '. /etc/os-release; echo "$PRETTY_NAME"'), $(inroot ldd --version | head -n 1)"
inroot python3 -m venv "$T/venv"
inroot "$T/venv/bin/pip" install --quiet "$T/$(basename "$wheel")"
V="$T/venv"
ext=$(inroot "$V/bin/python" -c 'import relaxvqa._native as n; print(n.__file__)')
inroot tar -C "$T" -xzf "$T/$(basename "$archive")"
archive_bin=$(cd "$W" && ls -d relaxvqa-*-x86_64-unknown-linux-gnu)/relaxvqa
allowed='^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|librt\.so\.1|libpthread\.so\.0|libgcc_s\.so\.1)$'
for f in "$ext" "$V/bin/relaxvqa" "$T/$archive_bin"; do
  libs=$(inroot ldd "$f")
  echo "ldd $f:" >&2
  echo "$libs" | sed 's/^/    /' >&2
  if echo "$libs" | grep -q "not found"; then fail "$f: a library is not found"; fi
  while read -r lib _; do
    [[ "$lib" =~ $allowed ]] || fail "$f needs $lib, which is not the C runtime's"
  done <<< "$libs"
done

say "the wheel's command: extract at parity"
inroot "$V/bin/relaxvqa" extract "$T/testsrc2_noise.mp4" --weights synthetic --threads 2 --dump all -o "$T/cli.safetensors"
inroot python3 "$T/compare_features.py" "$T/cli.safetensors" "$T/testsrc2_noise.safetensors"
say "the archive's binary: the same vector"
inroot "$T/$archive_bin" extract "$T/testsrc2_noise.mp4" --weights synthetic --threads 2 -o "$T/archive.safetensors"
inroot "$V/bin/python" - "$T/cli.safetensors" "$T/archive.safetensors" <<'EOF'
import json, struct, sys
def raw(p):
    with open(p, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n)); d = f.read()
    a, b = h["video.features"]["data_offsets"]
    return d[a:b]
same = raw(sys.argv[1]) == raw(sys.argv[2])
print(f"archive binary vs wheel command: features byte-identical: {same}")
sys.exit(0 if same else 1)
EOF
say "Python: bytes, a refused playlist, AV1/VP9/HEVC"
inroot "$V/bin/python" "$T/check.py" "$T/cli.safetensors" "$T/testsrc2_noise.mp4" \
  "$T/clips/av1.mp4" "$T/clips/av1.webm" "$T/clips/vp9.webm" "$T/clips/hevc.mp4"
say "all checks passed"
