#!/usr/bin/env bash
# Builds relaxvqa's own FFmpeg: pinned sources checked by SHA-256
# (ffmpeg/sources.txt), only the components of ffmpeg/components.txt
# (--disable-everything first), static and PIC, with its assembly (nasm),
# LGPL (no --enable-gpl), no network, no devices, no encoders; dav1d (AV1)
# and zlib (PNG) built the same way and linked in. Everything is compiled
# with `zig cc` for glibc 2.28, so the wheel and the standalone binary that
# link it run on any Linux with glibc >= 2.28 (manylinux_2_28).
#
# The result lives in the user's cache, one folder per build recipe (a hash
# of this script, the component list and the sources), and target/ffmpeg
# links to it; cargo finds it there through pkg-config (.cargo/config.toml).
# A second run with the same recipe only renews the link.
#
# Needs: curl, xz, bzip2, make, nasm, meson, ninja, pkg-config, python3 with
# venv (zig comes from PyPI's `ziglang`). Prints the prefix it built.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
CACHE=${RELAXVQA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/relaxvqa}
ZIG_VERSION=0.13.0
GLIBC=2.28
JOBS=${JOBS:-$(nproc)}
say() { echo "ffmpeg/build.sh: $*" >&2; }

key=$( (cat "$HERE/build.sh" "$HERE/components.txt" "$HERE/sources.txt"; echo "zig $ZIG_VERSION glibc $GLIBC") | sha256sum | cut -c1-16)
PREFIX="$CACHE/ffmpeg-$key"
link() {
  mkdir -p "$ROOT/target"
  ln -sfn "$PREFIX" "$ROOT/target/ffmpeg"
  echo "$PREFIX"
}
if [ -f "$PREFIX/.complete" ]; then
  link
  exit 0
fi

for tool in curl make patch nasm meson ninja pkg-config python3 xz bzip2; do
  command -v "$tool" >/dev/null || { say "$tool not found (scripts/setup.sh installs what this needs)"; exit 1; }
done

# zig, pinned, from PyPI (the registry reachable everywhere we build).
TOOLS="$CACHE/tools-zig-$ZIG_VERSION"
if ! "$TOOLS/bin/python" -m ziglang version >/dev/null 2>&1; then
  say "installing zig $ZIG_VERSION (PyPI ziglang) into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION"
fi
WORK=$(mktemp -d "$CACHE/build-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
# The compiler every part is built with. zig's own UBSan traps stay off
# (FFmpeg relies on behaviour its C code documents).
# meson (1.0) asks the compiler's linker for its version and does not know
# zig's answer; zig's linker takes GNU ld's flags, so it is told that.
cat > "$WORK/bin/zigcc" <<EOF
#!/bin/sh
if [ "\$*" = "-Wl,--version" ]; then echo "GNU ld (relaxvqa's zig cc wrapper) 2.28"; exit 0; fi
exec "$TOOLS/bin/python" -m ziglang cc -target x86_64-linux-gnu.$GLIBC -fno-sanitize=undefined "\$@"
EOF
chmod +x "$WORK/bin/zigcc"
export PATH="$WORK/bin:$PATH"

# Sources: from the cache when their SHA-256 matches, else Debian's archive.
SRC="$CACHE/src"
mkdir -p "$SRC"
fetch() { # name file sha256
  local name=$1 file=$2 sha=$3
  if [ ! -f "$SRC/$file" ] || ! echo "$sha  $SRC/$file" | sha256sum -c --status; then
    say "fetching $file"
    curl -fsSL --retry 3 -o "$SRC/$file.part" "http://deb.debian.org/debian/pool/main/${name:0:1}/$name/$file"
    mv "$SRC/$file.part" "$SRC/$file"
  fi
  echo "$sha  $SRC/$file" | sha256sum -c --status || { say "$file: SHA-256 is not $sha; refusing it"; exit 1; }
  tar xf "$SRC/$file" -C "$WORK"
}
while read -r name file sha; do
  case "$name" in ''|'#'*) continue ;; esac
  fetch "$name" "$file" "$sha"
done < "$HERE/sources.txt"

STAGE="$PREFIX.tmp-$$"
LOG="$CACHE/ffmpeg-build.log"
: > "$LOG"
step() { # what, then the command: its output goes to $LOG
  local what=$1; shift
  say "$what"
  "$@" >> "$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; say "$what failed; the whole log: $LOG"; exit 1; }
}
rm -rf "$STAGE"
mkdir -p "$STAGE/share/licenses"
export PKG_CONFIG_LIBDIR="$STAGE/lib/pkgconfig"
unset PKG_CONFIG_PATH

step zlib sh -c 'cd "$1"/zlib-*/ && CC=zigcc CFLAGS="-O2 -fPIC" ./configure --static --prefix="$2" &&
  make -j"$3" install' - "$WORK" "$STAGE" "$JOBS"
sed -n '/^Copyright notice:/,$p' "$WORK"/zlib-*/README > "$STAGE/share/licenses/zlib.txt"

step "dav1d (with Debian's CVE-2024-1580 patch)" sh -c 'cd "$1"/dav1d-*/ &&
  patch -p1 < "$1/debian/patches/CVE-2024-1580.patch" &&
  CC=zigcc meson setup build --prefix="$2" --libdir=lib --buildtype=release --default-library=static \
    -Db_staticpic=true -Denable_tools=false -Denable_tests=false -Denable_examples=false &&
  ninja -C build -j"$3" install' - "$WORK" "$STAGE" "$JOBS"
cp "$WORK"/dav1d-*/COPYING "$STAGE/share/licenses/dav1d.txt"
rm -rf "$WORK/debian"

enables=()
while read -r kind names; do
  case "$kind" in ''|'#'*) continue ;; esac
  enables+=("--enable-$kind=${names// /,}")
done < "$HERE/components.txt"
cd "$WORK"/ffmpeg-*/
step "FFmpeg: configure" ./configure --prefix="$STAGE" \
  --cc=zigcc --ar=ar --ranlib=ranlib --nm=nm --pkg-config=pkg-config --pkg-config-flags=--static \
  --extra-cflags="-I$STAGE/include" --extra-ldflags="-L$STAGE/lib" \
  --enable-static --disable-shared --enable-pic --disable-debug --disable-doc --disable-programs \
  --disable-autodetect --disable-network --disable-avdevice --disable-swresample --disable-postproc \
  --enable-pthreads --enable-zlib --enable-libdav1d \
  --disable-everything "${enables[@]}"
# glibc 2.28 has sysctl() but zig ships no sys/sysctl.h (glibc 2.32 dropped
# it); FFmpeg uses it only for the BSDs' CPU count, so it is turned off.
sed -i 's/^#define HAVE_SYSCTL 1$/#define HAVE_SYSCTL 0/' config.h
step "FFmpeg: make (a few minutes)" make -j"$JOBS"
step "FFmpeg: install" make install
cd "$ROOT"
cp "$WORK"/ffmpeg-*/COPYING.LGPLv2.1 "$STAGE/share/licenses/ffmpeg.txt"
{
  echo "relaxvqa's FFmpeg (ffmpeg/build.sh, recipe $key), built from:"
  grep -v '^#' "$HERE/sources.txt" | sed 's/^/  /'
  echo "from http://deb.debian.org/debian/pool/main/ (Debian 12's source packages);"
  echo "dav1d with Debian's debian/patches/CVE-2024-1580.patch applied."
  echo "Compiled in, and nothing else:"
  grep -v '^#' "$HERE/components.txt" | sed 's/^/  /'
} > "$STAGE/share/licenses/SOURCES.txt"
# The .pc files name their own folder (pkg-config's pcfiledir), so the
# paths go through target/ffmpeg and a rebuilt FFmpeg is what links.
sed -i -e "s|^prefix=.*|prefix=\${pcfiledir}/../..|" -e "s|$STAGE|\${prefix}|g" "$STAGE"/lib/pkgconfig/*.pc
touch "$STAGE/.complete"
rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
say "built in $PREFIX"
link
