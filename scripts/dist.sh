#!/usr/bin/env bash
# Builds what users install, into dist/ (release tooling and the install
# test call this exact script):
#  - dist/relaxvqa-VERSION-cp39-abi3-manylinux_2_28_x86_64.whl: `import
#    relaxvqa` (abi3, CPython >= 3.9) and the `relaxvqa` command;
#  - dist/relaxvqa-VERSION-x86_64-unknown-linux-gnu.tar.gz: the command,
#    the README and the licences.
# Both link relaxvqa's own static FFmpeg (ffmpeg/build.sh) and are linked by
# zig for glibc 2.28, so they need nothing but the C runtime (libc, libm,
# libpthread, libdl, librt, libgcc_s) of any Linux with glibc >= 2.28.
# Code is the release profile's (profile.dist: stripped): no target-cpu,
# the AVX2/AVX-512 kernels are chosen at run time.
#
# Needs what scripts/setup.sh installs; maturin and zig come from PyPI into
# a tools venv in the cache. Takes two release builds (416 s on 2 cores
# from a cold target, Zen 5, 2026-12-07).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=${RELAXVQA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/relaxvqa}
MATURIN_VERSION=1.16.0
ZIG_VERSION=0.13.0
TARGET=x86_64-unknown-linux-gnu
say() { echo "dist.sh: $*" >&2; }

bash ffmpeg/build.sh >/dev/null
TOOLS="$CACHE/tools-dist-$MATURIN_VERSION-$ZIG_VERSION"
if ! "$TOOLS/bin/maturin" --version >/dev/null 2>&1 || ! "$TOOLS/bin/python" -m ziglang version >/dev/null 2>&1; then
  say "installing maturin $MATURIN_VERSION and zig $ZIG_VERSION (PyPI) into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "maturin==$MATURIN_VERSION" "ziglang==$ZIG_VERSION"
fi
# maturin finds zig as `python3 -m ziglang` of the first python3 on PATH.
export PATH="$TOOLS/bin:$PATH"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
WORK=$(mktemp -d)
# The work folder, and what the wheel step stages in python/, go on any exit.
cleanup() { rm -rf "$WORK" "$ROOT/python/relaxvqa._native.data" "$ROOT/python/relaxvqa/licenses"; }
trap cleanup EXIT
zigbuild=(--profile dist --zig --compatibility manylinux_2_28 --target "$TARGET" --features static-ffmpeg)

say "the command (relaxvqa-cli, profile dist, zig for glibc 2.28)"
maturin build --quiet -m crates/cli/Cargo.toml --bindings bin "${zigbuild[@]}" -o "$WORK/bin-wheel"
python3 -m zipfile -e "$WORK"/bin-wheel/*.whl "$WORK/bin-wheel/x"
bin=$(find "$WORK/bin-wheel/x" -path '*.data/scripts/relaxvqa' -type f)
[ -n "$bin" ] || { say "the command's wheel holds no relaxvqa binary"; exit 1; }

# The licences and the exact sources of what is linked in.
licenses="$WORK/licenses"
mkdir -p "$licenses"
cp -L target/ffmpeg/share/licenses/* "$licenses/"
cp LICENSE-MIT LICENSE-APACHE "$licenses/"

say "the archive"
name="relaxvqa-$version-$TARGET"
mkdir -p "$WORK/$name" dist
install -m 755 "$bin" "$WORK/$name/relaxvqa"
cp README.md "$WORK/$name/"
cp -r "$licenses" "$WORK/$name/licenses"
rm -f "dist/$name.tar.gz"
tar -C "$WORK" -czf "dist/$name.tar.gz" "$name"

say "the wheel (relaxvqa._native and the command)"
# The command rides in the wheel's .data/scripts (installed into the
# environment's bin/, as ruff and uv carry theirs), the licences in the
# package. maturin takes `MODULE.data` beside the package when it exists
# (here only while this script runs: a source build carries no command).
staged=python/relaxvqa._native.data/scripts
rm -rf python/relaxvqa._native.data python/relaxvqa/licenses
mkdir -p "$staged"
install -m 755 "$bin" "$staged/relaxvqa"
cp -r "$licenses" python/relaxvqa/licenses
rm -f dist/relaxvqa-*.whl
maturin build --quiet -m python/Cargo.toml "${zigbuild[@]}" -o dist
ls -l dist/ >&2
